//! The state file: what the agent has done, kept on disk so that a power cut at any moment
//! is survived. Human-readable TOML with a format version; every save goes through
//! [`Host::write`](crate::host::Host::write), i.e. temp file + fsync + rename + fsync of the
//! directory, and the engine saves before it asks for any reboot.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Context, Error, Result};
use crate::host::Host;

pub const STATE_FILE: &str = "/var/lib/pve-firstboot/state.toml";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
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

    fn parse(s: &str) -> Option<Status> {
        [
            Status::Pending,
            Status::Running,
            Status::Done,
            Status::Failed,
            Status::Skipped,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PhaseState {
    pub id: String,
    pub status: Status,
    pub attempts: u32,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub boot_id: String,
    /// Why it failed, or why it was skipped.
    pub reason: Option<String>,
    /// What the last run changed, one line each.
    pub changes: Vec<String>,
    /// Findings worth showing in `status` (verification results, one line per device).
    pub results: Vec<String>,
    /// The phase's own durable notes (e.g. volumes it created), kept across runs.
    pub data: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    pub version: u32,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub reboots: u32,
    /// The boot in which the last reboot was asked for: any other boot ID means it happened.
    pub reboot_requested_in: Option<String>,
    /// Phases whose changes wait for that reboot.
    pub reboot_for: Vec<String>,
    pub phases: Vec<PhaseState>,
    /// How sending `[notify]`'s message went (`sent ...` or `failed: ...`).
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
        let st = decode(&text).ctx(|| format!("reading {STATE_FILE}"))?;
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
        let body = encode(self);
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

// The file's TOML, written and read here rather than through serde: the agent then carries
// no serde (de)serializer for it (part of what keeps the hook under 800 KB), and the reader
// is the spanned TOML parser the answer goes through anyway. Keys as before (kebab-case);
// an empty or absent value is left out.

fn encode(st: &State) -> String {
    use crate::status::toml_str as q;
    let mut o = format!("version = {}\n", st.version);
    let opt = |o: &mut String, k: &str, v: &Option<String>| {
        if let Some(v) = v {
            o.push_str(&format!("{k} = {}\n", q(v)));
        }
    };
    let list = |o: &mut String, k: &str, v: &[String]| {
        if !v.is_empty() {
            let items: Vec<String> = v.iter().map(|s| q(s)).collect();
            o.push_str(&format!("{k} = [{}]\n", items.join(", ")));
        }
    };
    opt(&mut o, "started", &st.started);
    opt(&mut o, "finished", &st.finished);
    o.push_str(&format!("reboots = {}\n", st.reboots));
    opt(&mut o, "reboot-requested-in", &st.reboot_requested_in);
    list(&mut o, "reboot-for", &st.reboot_for);
    opt(&mut o, "notified", &st.notified);
    for p in &st.phases {
        o.push_str(&format!(
            "\n[[phases]]\nid = {}\nstatus = {}\nattempts = {}\n",
            q(&p.id),
            q(p.status.as_str()),
            p.attempts
        ));
        opt(&mut o, "started", &p.started);
        opt(&mut o, "finished", &p.finished);
        if !p.boot_id.is_empty() {
            o.push_str(&format!("boot-id = {}\n", q(&p.boot_id)));
        }
        opt(&mut o, "reason", &p.reason);
        list(&mut o, "changes", &p.changes);
        list(&mut o, "results", &p.results);
        if !p.data.is_empty() {
            o.push_str("\n[phases.data]\n");
            for (k, v) in &p.data {
                o.push_str(&format!("{} = {}\n", q(k), q(v)));
            }
        }
    }
    o
}

fn decode(text: &str) -> Result<State> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).map_err(|e| Error::msg(e.message().to_string()))?;
    fn get<'a>(t: &'a DeTable<'a>, k: &str) -> Option<&'a DeValue<'a>> {
        t.iter()
            .find(|(key, _)| key.get_ref() == k)
            .map(|(_, v)| v.get_ref())
    }
    fn string(t: &DeTable, k: &str) -> Result<Option<String>> {
        match get(t, k) {
            None => Ok(None),
            Some(DeValue::String(s)) => Ok(Some(s.to_string())),
            Some(_) => Err(Error::msg(format!("{k}: not a string"))),
        }
    }
    fn number(t: &DeTable, k: &str) -> Result<u32> {
        match get(t, k) {
            None => Ok(0),
            Some(DeValue::Integer(i)) => {
                u32::from_str_radix(&i.as_str().replace('_', ""), i.radix())
                    .map_err(|_| Error::msg(format!("{k}: not a count")))
            }
            Some(_) => Err(Error::msg(format!("{k}: not an integer"))),
        }
    }
    fn strings(t: &DeTable, k: &str) -> Result<Vec<String>> {
        match get(t, k) {
            None => Ok(Vec::new()),
            Some(DeValue::Array(a)) => a
                .iter()
                .map(|v| match v.get_ref() {
                    DeValue::String(s) => Ok(s.to_string()),
                    _ => Err(Error::msg(format!("{k}: not a list of strings"))),
                })
                .collect(),
            Some(_) => Err(Error::msg(format!("{k}: not a list"))),
        }
    }
    let t = doc.get_ref();
    let mut st = State {
        version: number(t, "version")?,
        started: string(t, "started")?,
        finished: string(t, "finished")?,
        reboots: number(t, "reboots")?,
        reboot_requested_in: string(t, "reboot-requested-in")?,
        reboot_for: strings(t, "reboot-for")?,
        phases: Vec::new(),
        notified: string(t, "notified")?,
    };
    let phases = match get(t, "phases") {
        None => &[][..],
        Some(DeValue::Array(a)) => &a[..],
        Some(_) => return Err(Error::msg("phases: not a list of tables")),
    };
    for p in phases {
        let DeValue::Table(p) = p.get_ref() else {
            return Err(Error::msg("phases: not a list of tables"));
        };
        let status = string(p, "status")?.unwrap_or_default();
        let mut data = BTreeMap::new();
        match get(p, "data") {
            None => {}
            Some(DeValue::Table(d)) => {
                for (k, v) in d.iter() {
                    let DeValue::String(v) = v.get_ref() else {
                        return Err(Error::msg(format!("data.{}: not a string", k.get_ref())));
                    };
                    data.insert(k.get_ref().to_string(), v.to_string());
                }
            }
            Some(_) => return Err(Error::msg("phases.data: not a table")),
        }
        st.phases.push(PhaseState {
            id: string(p, "id")?.ok_or_else(|| Error::msg("a phase without id"))?,
            status: Status::parse(&status)
                .ok_or_else(|| Error::msg(format!("unknown phase status {status:?}")))?,
            attempts: number(p, "attempts")?,
            started: string(p, "started")?,
            finished: string(p, "finished")?,
            boot_id: string(p, "boot-id")?.unwrap_or_default(),
            reason: string(p, "reason")?,
            changes: strings(p, "changes")?,
            results: strings(p, "results")?,
            data,
        });
    }
    Ok(st)
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
        s.started = Some("2026-11-27T06:00:00Z".into());
        s.reboot_for = vec!["passthrough".into()];
        s.notified = Some("failed: \"quoted\"\nand a line".into());
        let p = s.phase_mut("host");
        p.status = Status::Done;
        p.attempts = 2;
        p.boot_id = "0f6a".into();
        p.reason = Some("a \\ backslash\tand a tab".into());
        p.changes.push("wrote /etc/x".into());
        p.results.push("kernel log: \u{1b}[31m".into());
        p.data.insert("volume".into(), "local:vm-100-disk-0".into());
        p.data.insert("odd key = \"x\"".into(), "v".into());
        s.phase_mut("vms").status = Status::Failed;
        let text = encode(&s);
        assert_eq!(decode(&text).unwrap(), s, "{text}");
    }

    /// What the serde-based writer of earlier versions wrote reads back the same.
    #[test]
    fn reads_what_earlier_versions_wrote() {
        let text = "version = 1\nstarted = \"2026-11-27T06:00:00Z\"\nreboots = 0\n\n\
                    [[phases]]\nid = \"vms\"\nstatus = \"running\"\nattempts = 1\n\
                    boot-id = \"b\"\n\n[phases.data]\nvm101-creating = \"101\"\n";
        let st = decode(text).unwrap();
        assert_eq!(st.phases[0].status, Status::Running);
        assert_eq!(st.phases[0].data["vm101-creating"], "101");
        assert!(decode("version = 1\n[[phases]]\nid = \"x\"\nstatus = \"later\"\n").is_err());
    }
}
