//! The `host` phase (`[host]`): package repositories, NTP, the journal, kernel tuning for a
//! virtualization host, and an optional full upgrade.

use super::{Cx, DISABLED, Phase, owned_header, postinstall};
use crate::answer::{Answer, HostCfg, Repositories};
use crate::error::{Error, Result};
use crate::host::Cmd;
use crate::overlay;

pub struct HostPhase;

const NO_SUB_LIST: &str = "/etc/apt/sources.list.d/pve-no-subscription.list";
const NO_SUB_SOURCES: &str = "/etc/apt/sources.list.d/proxmox.sources";
const CHRONY_CONF: &str = "/etc/chrony/chrony.conf";
const CHRONY_SOURCES: &str = "/etc/chrony/sources.d/pve-firstboot.sources";

impl Phase for HostPhase {
    fn id(&self) -> &'static str {
        "host"
    }

    fn not_configured(&self, a: &Answer) -> Option<String> {
        a.host
            .is_none()
            .then(|| "no [host] table in the answer".into())
    }

    fn apply(&self, cx: &mut Cx) -> Result<()> {
        let cfg = cx.answer.host.clone().expect("configured");
        repositories(cx, &cfg)?;
        if cfg.microcode {
            postinstall::non_free_firmware(cx)?;
        }
        ntp(cx, &cfg)?;
        journald(cx)?;
        tuning(cx)?;
        if cfg.upgrade {
            upgrade(cx)?;
        }
        if cfg.microcode {
            postinstall::microcode(cx)?;
        }
        postinstall::subscription_notice(cx, cfg.hide_subscription_notice)?;
        postinstall::single_node(cx, cfg.single_node)
    }

    /// After the reboot: the microcode revision the CPU runs.
    fn verify(&self, cx: &mut Cx) -> Result<()> {
        if cx.answer.host.as_ref().is_some_and(|h| h.microcode) {
            postinstall::microcode_revision(cx)?;
        }
        Ok(())
    }
}

/// Debian release of the host: `bookworm` is Proxmox VE 8, `trixie` Proxmox VE 9.
pub fn codename(cx: &Cx) -> Result<String> {
    let text = cx
        .read("/etc/os-release")?
        .ok_or_else(|| Error::msg("reading /etc/os-release: not found"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string())
        .ok_or_else(|| Error::msg("reading /etc/os-release: no VERSION_CODENAME"))
}

fn repositories(cx: &mut Cx, cfg: &HostCfg) -> Result<()> {
    if cfg.repositories != Repositories::NoSubscription {
        // `enterprise` keeps the installer's repositories; `keep` touches nothing at all.
        return Ok(());
    }
    let release = codename(cx)?;
    match release.as_str() {
        "bookworm" => repos_list(cx, &release),
        "trixie" => repos_deb822(cx, &release),
        other => Err(Error::msg(format!(
            "Debian release \"{other}\" is neither bookworm (Proxmox VE 8) nor trixie (Proxmox VE 9); \
             set [host] repositories = \"keep\" to leave apt alone"
        ))),
    }
}

/// One-line-style `.list` files (PVE 8): comment out the enterprise lines, add the
/// no-subscription line unless an active one exists anywhere.
fn repos_list(cx: &mut Cx, release: &str) -> Result<()> {
    let mut files = vec!["/etc/apt/sources.list".to_string()];
    for name in cx.host.list_dir("/etc/apt/sources.list.d")? {
        if name.ends_with(".list") {
            files.push(format!("/etc/apt/sources.list.d/{name}"));
        }
    }
    let mut have_no_sub = false;
    for f in &files {
        let Some(text) = cx.read(f)? else { continue };
        let mut changed = false;
        let mut out = String::new();
        for line in text.lines() {
            let active = line.trim_start().starts_with("deb ");
            if active && line.contains("enterprise.proxmox.com") {
                out.push_str(DISABLED);
                changed = true;
            } else if active && line.contains("pve-no-subscription") {
                have_no_sub = true;
            }
            out.push_str(line);
            out.push('\n');
        }
        if changed {
            let mode = cx.host.file_mode(f)?.unwrap_or(0o644);
            cx.write(f, &out, mode)?;
        }
    }
    if !have_no_sub {
        let body = format!(
            "{}deb http://download.proxmox.com/debian/pve {release} pve-no-subscription\n",
            owned_header("host phase: [host] repositories = \"no-subscription\"")
        );
        cx.write(NO_SUB_LIST, &body, 0o644)?;
    }
    Ok(())
}

/// deb822 `.sources` files (PVE 9): `Enabled: no` in the enterprise stanzas, and the
/// no-subscription repository in `proxmox.sources`, as Proxmox documents it.
fn repos_deb822(cx: &mut Cx, release: &str) -> Result<()> {
    let mut have_no_sub = false;
    for name in cx.host.list_dir("/etc/apt/sources.list.d")? {
        if !name.ends_with(".sources") {
            continue;
        }
        let f = format!("/etc/apt/sources.list.d/{name}");
        let Some(text) = cx.read(&f)? else { continue };
        let mut out = String::new();
        for stanza in split_stanzas(&text) {
            let enabled = !stanza
                .lines()
                .any(|l| l.to_ascii_lowercase().replace(' ', "") == "enabled:no");
            let enterprise = stanza.contains("enterprise.proxmox.com");
            if enabled && stanza.contains("pve-no-subscription") {
                have_no_sub = true;
            }
            if enabled && enterprise {
                // Replace an `Enabled: yes` line, or add one; keep the blank lines after.
                let body = stanza.trim_end();
                let trail = &stanza[body.len()..];
                let kept: Vec<&str> = body
                    .lines()
                    .filter(|l| !l.to_ascii_lowercase().starts_with("enabled:"))
                    .collect();
                out.push_str(&kept.join("\n"));
                out.push_str("\nEnabled: no");
                out.push_str(if trail.is_empty() { "\n" } else { trail });
            } else {
                out.push_str(&stanza);
            }
        }
        if out != text {
            let mode = cx.host.file_mode(&f)?.unwrap_or(0o644);
            cx.write(&f, &out, mode)?;
        }
    }
    if !have_no_sub {
        let body = format!(
            "{}Types: deb\nURIs: http://download.proxmox.com/debian/pve\nSuites: {release}\n\
             Components: pve-no-subscription\nSigned-By: /usr/share/keyrings/proxmox-archive-keyring.gpg\n",
            owned_header("host phase: [host] repositories = \"no-subscription\"")
        );
        let existing = cx.read(NO_SUB_SOURCES)?.unwrap_or_default();
        let new = if existing.trim().is_empty() {
            body
        } else {
            format!("{}\n{body}", existing.trim_end())
        };
        cx.write(NO_SUB_SOURCES, &new, 0o644)?;
    }
    Ok(())
}

/// deb822 stanzas, each with its trailing blank line(s), so joining them gives the file back.
pub(super) fn split_stanzas(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_blank = false;
    for line in text.split_inclusive('\n') {
        let blank = line.trim().is_empty();
        if !blank && in_blank {
            out.push(std::mem::take(&mut cur));
        }
        in_blank = blank;
        cur.push_str(line);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// chrony: the answer's servers as a drop-in source file; the default pool in the main
/// file is commented out so the answer's servers are the only ones.
fn ntp(cx: &mut Cx, cfg: &HostCfg) -> Result<()> {
    if cfg.ntp_servers.is_empty() {
        return Ok(());
    }
    let mut body = owned_header("host phase: [host] ntp-servers");
    for s in &cfg.ntp_servers {
        body.push_str(&format!("server {s} iburst\n"));
    }
    let sources_changed = cx.write(CHRONY_SOURCES, &body, 0o644)?;
    let mut conf_changed = false;
    if let Some(conf) = cx.read(CHRONY_CONF)? {
        let mut out = String::new();
        let mut has_sourcedir = false;
        for line in conf.lines() {
            let t = line.trim_start();
            if t.starts_with("pool ") || t.starts_with("server ") {
                out.push_str(DISABLED);
            }
            if t.starts_with("sourcedir /etc/chrony/sources.d") {
                has_sourcedir = true;
            }
            out.push_str(line);
            out.push('\n');
        }
        if !has_sourcedir {
            // Debian's chrony.conf reads sources.d; an edited one may not.
            out.push_str("# added by pve-firstboot: read the sources of /etc/chrony/sources.d\n");
            out.push_str("sourcedir /etc/chrony/sources.d\n");
        }
        let mode = cx.host.file_mode(CHRONY_CONF)?.unwrap_or(0o644);
        conf_changed = cx.write(CHRONY_CONF, &out, mode)?;
    }
    if conf_changed || cx.resumed {
        cx.run(Cmd::new("systemctl").args(["restart", "chrony.service"]))?;
    } else if sources_changed {
        cx.run(Cmd::new("chronyc").args(["reload", "sources"]))?;
    }
    Ok(())
}

/// A persistent journal with a cap: logs survive the reboot the agent asks for (so a
/// failure before it can be read after it), without filling a small boot disk.
fn journald(cx: &mut Cx) -> Result<()> {
    if cx.install(&overlay::JOURNALD)? || cx.resumed {
        cx.run(Cmd::new("systemctl").args(["restart", "systemd-journald.service"]))?;
    }
    Ok(())
}

/// Kernel settings for a virtualization host, each with its reason.
fn tuning(cx: &mut Cx) -> Result<()> {
    if cx.install(&overlay::SYSCTL_TUNING)? || cx.resumed {
        cx.run(Cmd::new("sysctl").args(["-q", "-p", overlay::SYSCTL_TUNING.path]))?;
    }
    Ok(())
}

/// When the host's one full upgrade ran (kept by `reset`).
pub const UPGRADED: &str = "/var/lib/pve-firstboot/upgraded";

/// `apt-get update` and a non-interactive full upgrade, once; retried with backoff. A
/// newer kernel than the running one is a reason for the single planned reboot.
fn upgrade(cx: &mut Cx) -> Result<()> {
    if cx.recall("upgraded").is_some() {
        return Ok(());
    }
    // Once per host: `reset` forgets the run's state, not that the host was upgraded (a
    // second full upgrade could bring a kernel and a reboot nobody asked for). Removing
    // the file asks for it again.
    if let Some(when) = cx.read(UPGRADED)? {
        cx.results.push(format!(
            "full upgrade done once already ({}); remove {UPGRADED} to have it run again",
            when.trim()
        ));
        return Ok(());
    }
    apt_retry(
        cx,
        &[&["update"], &["full-upgrade"]],
        "upgrading packages (apt-get full-upgrade, 3 attempts)",
    )?;
    cx.changes
        .push("upgraded all packages (apt-get full-upgrade)".into());
    let now = crate::state::now_utc();
    cx.remember("upgraded", &now)?;
    cx.write(UPGRADED, &format!("{now}\n"), 0o644)?;
    let running = cx
        .read("/proc/sys/kernel/osrelease")?
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let newest = cx
        .host
        .list_dir("/lib/modules")?
        .into_iter()
        .max_by(|a, b| version_cmp(a, b));
    if let Some(newest) = newest {
        if !running.is_empty() && newest != running && version_cmp(&newest, &running).is_gt() {
            cx.need_reboot(format!(
                "kernel {newest} was installed; {running} is running"
            ));
        }
    }
    Ok(())
}

/// apt-get steps (`update`, then `full-upgrade` or `install PKG`), non-interactive and
/// keeping existing config files, tried 3 times with backoff: the network of a host at its
/// first boot may still be settling. `what` says what failed.
pub(super) fn apt_retry(cx: &mut Cx, steps: &[&[&str]], what: &str) -> Result<()> {
    let apt = |args: &[&str]| {
        Cmd::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args([
                "-q",
                "-y",
                "-o",
                "Dpkg::Options::=--force-confdef",
                "-o",
                "Dpkg::Options::=--force-confold",
            ])
            .args(args.iter().copied())
    };
    let mut last = None;
    for (attempt, wait) in [0u64, 10, 30].into_iter().enumerate() {
        if wait > 0 && cx.host.is_live() {
            log::warn!("apt failed, retrying in {wait} s (attempt {})", attempt + 1);
            std::thread::sleep(std::time::Duration::from_secs(wait));
        }
        let res = steps
            .iter()
            .try_for_each(|s| cx.host.run_ok(&apt(s)).map(drop));
        match res {
            Ok(()) => return Ok(()),
            Err(e) if e.is_crash() => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("three attempts").context(what))
}

/// Compare kernel release strings such as `6.8.12-4-pve` by their numeric runs.
pub(crate) fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let nums = |s: &str| -> Vec<u64> {
        s.split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.parse().ok())
            .collect()
    };
    nums(a).cmp(&nums(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_round_trip() {
        let t = "Types: deb\nURIs: a\n\nTypes: deb\nURIs: b\n";
        assert_eq!(split_stanzas(t).concat(), t);
        assert_eq!(split_stanzas(t).len(), 2);
    }

    #[test]
    fn kernel_versions() {
        assert!(version_cmp("6.8.12-4-pve", "6.8.12-10-pve").is_lt());
        assert!(version_cmp("6.11.0-1-pve", "6.8.12-4-pve").is_gt());
    }
}
