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
/// agetty shows every `*.issue` here above the console login (util-linux 2.35+: Debian 12
/// and 13 alike).
pub const ISSUE: &str = "/etc/issue.d/pve-firstboot.issue";
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
/// admin — on the console's login screen and in /etc/motd — how it ended and what to open,
/// and disable the unit.
pub fn finish(host: &Host, outcome: Outcome, st: &State, a: &answer::Answer) -> Result<()> {
    let word = match outcome {
        Outcome::Done => "done",
        Outcome::Failed => "failed",
        _ => return Ok(()),
    };
    let text = summary(host, word, st, a)?;
    set_motd(host, Some(&format!("{MOTD_BEGIN}\n{text}{MOTD_END}\n")))?;
    // agetty reads backslash sequences in issue files (`\4` is the address): ours are
    // plain text.
    host.write(ISSUE, text.replace('\\', "\\\\").as_bytes(), 0o644)?;
    if word == "failed" {
        log::error!("{}", text.lines().next().unwrap_or_default());
    }
    if let Some(n) = &a.notify {
        // Once per outcome: a later `run` of a finished agent does not send it again.
        if st.notified.is_none() {
            let mut how = notify(host, n, word, &text, a);
            if n.smtp.is_some() {
                how = format!(
                    "{how}; mail through Proxmox's notifications: {}",
                    mail(host, word, &text, a)
                );
            }
            let mut st = st.clone();
            st.notified = Some(how);
            st.save(host)?;
        }
    }
    if host.read_text(FINISHED)?.as_deref() != Some(&format!("{word}\n")) {
        host.write(FINISHED, format!("{word}\n").as_bytes(), 0o644)?;
        host.run_ok(&Cmd::new("systemctl").args(["disable", UNIT_NAME]))?;
    }
    Ok(())
}

/// A value for curl's config file (`-K`): quoted, with the escapes curl reads there.
fn curl_quote(s: &str) -> String {
    crate::status::quoted(s, false)
}

/// The curl config that POSTs the message: the URL, headers and body all go on curl's stdin
/// (`-K -`), never on its command line, where the webhook's secret would be visible.
pub fn notify_config(n: &answer::Notify, word: &str, text: &str, host_name: &str) -> String {
    let title = format!(
        "pve-firstboot {} on {host_name}",
        if word == "done" { "finished" } else { "FAILED" }
    );
    let mut cfg = format!("url = {}\n", curl_quote(n.webhook.expose()));
    match n.format {
        answer::NotifyFormat::Ntfy => {
            // ntfy's publishing headers: Title, Priority (default 3, high 4), Tags.
            cfg.push_str(&format!(
                "header = {}\n",
                curl_quote(&format!("Title: {title}"))
            ));
            let (prio, tag) = if word == "done" {
                ("3", "white_check_mark")
            } else {
                ("4", "warning")
            };
            cfg.push_str(&format!(
                "header = \"Priority: {prio}\"\nheader = \"Tags: {tag}\"\n"
            ));
            cfg.push_str(&format!("data-binary = {}\n", curl_quote(text)));
        }
        answer::NotifyFormat::Json => {
            let body = format!(
                "{{\"title\": {}, \"status\": {}, \"message\": {}}}",
                crate::status::js(&title),
                crate::status::js(word),
                crate::status::js(text)
            );
            cfg.push_str("header = \"Content-Type: application/json\"\n");
            cfg.push_str(&format!("data-binary = {}\n", curl_quote(&body)));
        }
    }
    cfg
}

/// Send the message: a few tries with backoff, and whatever happens the run's outcome
/// stands — a message that could not be sent is logged and shown by `status`.
fn notify(host: &Host, n: &answer::Notify, word: &str, text: &str, a: &answer::Answer) -> String {
    let name = a.installer.fqdn.as_deref().unwrap_or("this host");
    let cmd = Cmd::new("curl")
        .args([
            "-fsS",
            "--max-time",
            "30",
            "--retry",
            "4",
            "--retry-delay",
            "10",
            "--retry-all-errors",
            "--proto",
            "=https,http",
            "-o",
            "/dev/null",
            "-K",
            "-",
        ])
        .stdin(notify_config(n, word, text, name).into_bytes());
    send(host, &cmd, "sent", "curl", "notify")
}

/// Run a sending command and say what became of it, logged as `what` (a failure as a
/// warning): never an error, the run's outcome stands.
fn send(host: &Host, cmd: &Cmd, sent: &str, tool: &str, what: &str) -> String {
    let how = match host.run(cmd) {
        Ok(o) if o.recorded => "recorded, not sent (not a live host)".to_string(),
        Ok(o) if o.success() => format!("{sent} at {}", crate::state::now_utc()),
        Ok(o) => format!("failed: {tool}: {}", o.stderr.trim()),
        Err(e) => format!("failed: {e}"),
    };
    if how.starts_with("failed") {
        log::warn!("{what}: {how}");
    } else {
        log::info!("{what}: {how}");
    }
    how
}

/// What hands root's mail to Proxmox's notification system: the `.forward` that
/// proxmox-mail-forward's package installs (pve-manager `debian/control` depends on it).
pub const ROOT_FORWARD: &str = "/root/.forward";

/// With `[notify.smtp]`, the message also goes through Proxmox's own notification system,
/// and so through the smtp target the `backup` phase set up: a local mail to root, which
/// root's `.forward` pipes into proxmox-mail-forward, which makes it a notification
/// (proxmox-rs `proxmox-notify/src/lib.rs`, `Notification::new_forwarded_mail`: its
/// subject the title, type `system-mail`) that every matcher sees, `default-matcher` (routed to our target)
/// included. The body goes on sendmail's stdin; nothing secret is on its command line.
fn mail(host: &Host, word: &str, text: &str, a: &answer::Answer) -> String {
    let target = host
        .read_text(crate::phases::backup::NOTIFICATIONS_CFG)
        .ok()
        .flatten()
        .unwrap_or_default();
    if !target.contains(&format!("smtp: {}\n", crate::phases::backup::TARGET)) {
        return "not sent: the smtp target is not in /etc/pve/notifications.cfg (see the backup phase)".into();
    }
    let forward = host
        .read_text(ROOT_FORWARD)
        .ok()
        .flatten()
        .unwrap_or_default();
    if !forward.contains("proxmox-mail-forward") {
        return format!(
            "not sent: {ROOT_FORWARD} does not hand root's mail to proxmox-mail-forward"
        );
    }
    let name = a.installer.fqdn.as_deref().unwrap_or("this host");
    let subject = format!(
        "pve-firstboot {} on {name}",
        if word == "done" { "finished" } else { "FAILED" }
    );
    let msg = format!(
        "To: root\nSubject: {subject}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{text}"
    );
    // postfix's sendmail: -i, a line of "." does not end the message.
    let cmd = Cmd::new("/usr/sbin/sendmail")
        .args(["-i", "root"])
        .stdin(msg.into_bytes());
    send(
        host,
        &cmd,
        "handed to sendmail",
        "sendmail",
        "notify by mail",
    )
}

/// How the run ended, phase by phase, and where the homeserver's pages are.
pub fn summary(host: &Host, word: &str, st: &State, a: &answer::Answer) -> Result<String> {
    use crate::state::{Status, parse_utc};
    // A failed run has no `finished` in the state: it ended now.
    let now = crate::state::now_utc();
    let took = match (
        st.started.as_deref().and_then(parse_utc),
        parse_utc(st.finished.as_deref().unwrap_or(&now)),
    ) {
        (Some(s), Some(f)) if f >= s => format!(" in {} min", (f - s).div_ceil(60)),
        _ => String::new(),
    };
    let mut o = format!(
        "pve-firstboot {}{took}, {} reboot(s)\n",
        if word == "done" { "finished" } else { "FAILED" },
        st.reboots
    );
    for p in &st.phases {
        let why = match (&p.status, &p.reason) {
            (Status::Done, _) => String::new(),
            (_, Some(r)) => {
                // The first line, shortened: `status` has the whole reason.
                let r: String = r.lines().next().unwrap_or("").chars().take(100).collect();
                format!(": {r}")
            }
            _ => String::new(),
        };
        o.push_str(&format!("  {:<12} {}{why}\n", p.id, p.status.as_str()));
    }
    // A backup job written disabled because its [[storage]] did not answer (the backup
    // phase is done all the same): said here, where the admin looks first.
    if let Some(b) = &a.backup {
        let jobs = host
            .read_text(crate::phases::backup::JOBS_CFG)?
            .unwrap_or_default();
        let disabled = crate::phases::backup::sections(&jobs).iter().any(|s| {
            s.kind == "vzdump"
                && s.id == crate::phases::backup::JOB_ID
                && s.text.lines().any(|l| l.trim() == "enabled 0")
        });
        if disabled {
            o.push_str(&format!(
                "  backup job DISABLED until storage {} answers; then `pve-firstboot reset && \
                 pve-firstboot run`\n",
                b.storage
            ));
        }
    }
    let interfaces = host
        .read_text("/etc/network/interfaces")?
        .unwrap_or_default();
    let mgmt = crate::phases::network::management_of(&interfaces, a);
    if let Some(ip) = mgmt.addr {
        o.push_str(&format!(
            "Proxmox VE:      https://{ip}:8006 (user root, realm PAM)\n"
        ));
        if let Some(h) = &a.haos {
            let fwd = a.network.as_ref().and_then(|n| {
                n.port_forwards
                    .iter()
                    .find(|f| Some(f.to) == h.ip && f.to_port == 8123)
            });
            match (fwd, h.ip) {
                (Some(f), _) => o.push_str(&format!(
                    "Home Assistant:  http://{ip}:{} (forwarded to VM {})\n",
                    f.port, h.vmid
                )),
                (None, Some(vm_ip)) => o.push_str(&format!(
                    "Home Assistant:  http://{vm_ip}:8123 (VM {}, on the VM network)\n",
                    h.vmid
                )),
                (None, None) => o.push_str(&format!(
                    "Home Assistant:  VM {}, port 8123 at the address its DHCP gives it\n",
                    h.vmid
                )),
            }
        }
        for v in &a.vms {
            // A guest on the VM bridge is behind the host's NAT: the LAN reaches it through
            // the host (`ssh -J`), not directly.
            let via = if v.bridge == "vmbr0" {
                String::new()
            } else {
                format!("-J root@{ip} ")
            };
            let at = match (v.ip, &v.cloud_init) {
                (Some(vm_ip), Some(ci)) => match &ci.user {
                    Some(u) => format!("ssh {via}{u}@{vm_ip}"),
                    None => format!(
                        "ssh {via}USER@{vm_ip}, USER the image's own (debian on Debian's images)"
                    ),
                },
                (Some(vm_ip), None) => format!("{vm_ip} (its console in the web UI)"),
                (None, _) => "its console in the web UI".to_string(),
            };
            o.push_str(&format!("VM {} {}: {at}\n", v.vmid, v.name));
        }
        for c in &a.containers {
            // As for a VM: behind the host's NAT on the VM bridge; an OCI image's
            // application container has no ssh server, `pct enter` gets in on the host.
            let via = if c.bridge == "vmbr0" {
                String::new()
            } else {
                format!("-J root@{ip} ")
            };
            let oci = matches!(c.source, answer::CtSource::Oci { .. });
            let at = match (c.ip, oci) {
                (Some(ct_ip), false) => format!("ssh {via}root@{ct_ip}"),
                (Some(ct_ip), true) => format!("{ct_ip}, `pct enter {}` on the host", c.vmid),
                (None, false) => format!(
                    "ssh {via}root@<its DHCP address>, or `pct enter {}` on the host",
                    c.vmid
                ),
                (None, true) => format!("`pct enter {}` on the host", c.vmid),
            };
            o.push_str(&format!("CT {} {}: {at}\n", c.vmid, c.hostname));
        }
    }
    o.push_str(
        "More: pve-firstboot status; journalctl -u pve-firstboot; pve-firstboot reset runs it again\n",
    );
    Ok(o)
}

/// `pve-firstboot reset`: forget the run, so the unit runs the phases again at next boot.
pub fn reset(host: &Host) -> Result<()> {
    host.remove(STATE_FILE)?;
    host.remove(FINISHED)?;
    set_motd(host, None)?;
    host.remove(ISSUE)?;
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
