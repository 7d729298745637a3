//! The state file: what the agent has done, kept on disk so that a power cut at any moment
//! is survived. Human-readable TOML with a format version; every save goes through
//! [`Host::write`](crate::host::Host::write), i.e. temp file + fsync + rename + fsync of the
//! directory, and the engine saves before it asks for any reboot.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};
use crate::host::Host;

pub const STATE_FILE: &str = "/var/lib/pve-firstboot/state.toml";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    #[default]
    Pending,
    Running,
    Done,
    Failed,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PhaseState {
    pub id: String,
    pub status: Status,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub boot_id: String,
    /// Why it failed, or why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the last run changed, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    /// Findings worth showing in `status` (verification results, one line per device).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<String>,
    /// The phase's own durable notes (e.g. volumes it created), kept across runs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct State {
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    #[serde(default)]
    pub reboots: u32,
    /// The boot in which the last reboot was asked for: any other boot ID means it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot_requested_in: Option<String>,
    /// Phases whose changes wait for that reboot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reboot_for: Vec<String>,
    #[serde(default)]
    pub phases: Vec<PhaseState>,
    /// How sending `[notify]`'s message went (`sent ...` or `failed: ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified: Option<String>,
}

impl State {
    pub fn new() -> Self {
        State {
            version: FORMAT_VERSION,
            ..State::default()
        }
    }

    /// Load the state, or a fresh one if there is none yet.
    pub fn load(host: &Host) -> Result<State> {
        let Some(text) = host.read_text(STATE_FILE)? else {
            return Ok(State::new());
        };
        let st: State = toml::from_str(&text)
            .map_err(|e| Error::msg(e.message().to_string()))
            .ctx(|| format!("reading {STATE_FILE}"))?;
        if st.version != FORMAT_VERSION {
            return Err(Error::msg(format!(
                "{STATE_FILE} has format version {}, this agent reads version {FORMAT_VERSION}",
                st.version
            )));
        }
        Ok(st)
    }

    /// Durably save (see the module comment).
    pub fn save(&self, host: &Host) -> Result<()> {
        let body = toml::to_string(self)
            .map_err(|e| Error::msg(e.to_string()))
            .ctx(|| format!("encoding {STATE_FILE}"))?;
        let text = format!(
            "# pve-firstboot state (format {FORMAT_VERSION}). Written by the agent; read it with\n\
             # `pve-firstboot status`. Remove it (or run `pve-firstboot reset`) to start over.\n{body}"
        );
        host.write(STATE_FILE, text.as_bytes(), 0o600)?;
        Ok(())
    }

    pub fn phase(&self, id: &str) -> Option<&PhaseState> {
        self.phases.iter().find(|p| p.id == id)
    }

    pub fn phase_mut(&mut self, id: &str) -> &mut PhaseState {
        if let Some(i) = self.phases.iter().position(|p| p.id == id) {
            return &mut self.phases[i];
        }
        self.phases.push(PhaseState {
            id: id.to_string(),
            ..PhaseState::default()
        });
        self.phases.last_mut().expect("just pushed")
    }
}

/// Now as RFC 3339 UTC (`2026-11-27T06:24:26Z`); std has no calendar, and this is all the
/// calendar the agent needs.
pub fn now_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

/// The seconds since the epoch of a time [`format_utc`] wrote (`YYYY-MM-DDTHH:MM:SSZ`).
pub fn parse_utc(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
    // Howard Hinnant's days-from-civil, the inverse of format_utc's.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

pub fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {

    #[test]
    fn utc_times_read_back() {
        for secs in [0, 1_700_000_000, 1_795_795_200, 4_102_444_799] {
            assert_eq!(parse_utc(&format_utc(secs)), Some(secs));
        }
        assert_eq!(parse_utc("2026-11-27 17:00:00"), None);
    }

    use super::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_795_760_666), "2026-11-27T06:24:26Z");
    }

    #[test]
    fn round_trip() {
        let mut s = State::new();
        s.reboots = 1;
        let p = s.phase_mut("host");
        p.status = Status::Done;
        p.changes.push("wrote /etc/x".into());
        p.data.insert("volume".into(), "local:vm-100-disk-0".into());
        let text = toml::to_string(&s).unwrap();
        let back: State = toml::from_str(&text).unwrap();
        assert_eq!(back, s);
    }
}
