//! The hand-over from Proxmox's first-boot hook to the agent's own unit, and what the unit
//! does when the agent has finished (or is reset).
//!
//! Proxmox runs its hook once and removes its marker only when the hook exits 0; a hook
//! that reboots, or fails, runs again on every boot. So the hook installs the agent, the
//! answer and our unit, starts the unit without waiting, and exits 0. From then on the
//! unit runs `pve-firstboot run` at every boot until the agent has finished.

use crate::answer;
use crate::engine::Outcome;
use crate::error::{Context, Error, Result};
use crate::host::{Cmd, Host};
use crate::image::hook;
use crate::state::{STATE_FILE, State};

pub const AGENT_PATH: &str = "/usr/local/sbin/pve-firstboot";
pub const ANSWER_PATH: &str = "/etc/pve-firstboot/answer.toml";
pub const UNIT_NAME: &str = "pve-firstboot.service";
pub const UNIT_PATH: &str = "/etc/systemd/system/pve-firstboot.service";
pub const UNIT: &str = include_str!("../systemd/pve-firstboot.service");
/// Exists once the agent has finished (done or failed); the unit's condition.
pub const FINISHED: &str = "/var/lib/pve-firstboot/finished";
const MOTD: &str = "/etc/motd";
const MOTD_BEGIN: &str = "---- pve-firstboot ----";
const MOTD_END: &str = "---- end of pve-firstboot ----";

/// `pve-firstboot hand-over --hook PATH`, run by the hook's stub.
pub fn hand_over(host: &Host, hook_path: &str) -> Result<()> {
    let data = host
        .read_capped(hook_path, crate::host::MAX_ANSWER_BYTES)?
        .ok_or_else(|| Error::msg(format!("reading {hook_path}: not found")))?;
    let text = hook::answer_of(&data).ctx(|| format!("reading {hook_path}"))?;
    if let Err(report) = answer::parse_installed("the hook's answer", text.as_bytes()) {
        return Err(Error::msg(format!(
            "the answer in the hook is invalid:\n{report}"
        )));
    }
    let me = std::fs::read("/proc/self/exe").ctx(|| "reading the agent's own binary")?;
    host.write(AGENT_PATH, &me, 0o755)?;
    host.write(ANSWER_PATH, text.as_bytes(), 0o600)?;
    host.write(UNIT_PATH, UNIT.as_bytes(), 0o644)?;
    if !host.exists(STATE_FILE) {
        let mut st = State::new();
        st.started = Some(crate::state::now_utc());
        st.save(host)?;
    }
    host.run_ok(&Cmd::new("systemctl").arg("daemon-reload"))?;
    host.run_ok(&Cmd::new("systemctl").args(["enable", UNIT_NAME]))?;
    // --no-block: the unit is ordered after the hook's own unit, which is still running.
    host.run_ok(&Cmd::new("systemctl").args(["start", "--no-block", UNIT_NAME]))?;
    log::info!("handed over to {UNIT_NAME}; the hook is done");
    Ok(())
}

/// After `run` has finished (done or failed): mark it so the unit stops starting, tell the
/// admin on the console and in /etc/motd, and disable the unit.
pub fn finish(host: &Host, outcome: Outcome, st: &State) -> Result<()> {
    let word = match outcome {
        Outcome::Done => "done",
        Outcome::Failed => "failed",
        _ => return Ok(()),
    };
    let failed: Vec<&str> = st
        .phases
        .iter()
        .filter(|p| p.status == crate::state::Status::Failed)
        .map(|p| p.id.as_str())
        .collect();
    let block = if failed.is_empty() {
        None
    } else {
        Some(format!(
            "{MOTD_BEGIN}\npve-firstboot FAILED in: {}.\n  pve-firstboot status            what happened\n  \
             journalctl -u pve-firstboot     the whole log\n  pve-firstboot reset             run it again at the next boot\n{MOTD_END}\n",
            failed.join(", ")
        ))
    };
    set_motd(host, block.as_deref())?;
    if let Some(b) = &block {
        log::error!("{}", b.lines().nth(1).unwrap_or_default());
    }
    if host.read_text(FINISHED)?.as_deref() != Some(&format!("{word}\n")) {
        host.write(FINISHED, format!("{word}\n").as_bytes(), 0o644)?;
        host.run_ok(&Cmd::new("systemctl").args(["disable", UNIT_NAME]))?;
    }
    Ok(())
}

/// `pve-firstboot reset`: forget the run, so the unit runs the phases again at next boot.
pub fn reset(host: &Host) -> Result<()> {
    host.remove(STATE_FILE)?;
    host.remove(FINISHED)?;
    set_motd(host, None)?;
    host.run_ok(&Cmd::new("systemctl").args(["enable", UNIT_NAME]))?;
    Ok(())
}

/// Put our block into /etc/motd, or take it out; the rest of the file stays as it is.
fn set_motd(host: &Host, block: Option<&str>) -> Result<()> {
    let old = host.read_text(MOTD)?.unwrap_or_default();
    let mut kept = String::new();
    let mut inside = false;
    for l in old.lines() {
        if l == MOTD_BEGIN {
            inside = true;
        } else if l == MOTD_END {
            inside = false;
        } else if !inside {
            kept.push_str(l);
            kept.push('\n');
        }
    }
    if let Some(b) = block {
        kept.push_str(b);
    }
    if kept != old {
        host.write(MOTD, &crate::host::encode_text(&kept), 0o644)?;
    }
    Ok(())
}
