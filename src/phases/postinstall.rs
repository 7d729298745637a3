//! The community's post-install set, as parts of the `host` phase (`[host]`): the "No valid
//! subscription" dialog hidden (`subscription-notice`), the HA services and corosync off on
//! a host of its own (`single-node`), and the CPU's microcode (`microcode`).
//!
//! Each is what the admins' post-install scripts do by hand, made reversible and idempotent:
//! the notice's patch is one marked insertion that is taken out again, the services are
//! enabled again when `single-node = false` follows, and nothing of it ever runs on a host
//! that is in a cluster.

use super::host::{apt_retry, split_stanzas};
use super::{Cx, owned_header};
use crate::error::Result;
use crate::host::{Cmd, Host};

/// The web UI's shared library, from proxmox-widget-toolkit.
pub const PROXMOXLIB: &str = "/usr/share/javascript/proxmox-widget-toolkit/proxmoxlib.js";
/// The apt hook that hides the notice again after dpkg replaced the library.
pub const APT_HOOK: &str = "/etc/apt/apt.conf.d/80pve-firstboot-subscription-notice";

/// The comparison in `Proxmox.Utils.checked_command` (proxmox-widget-toolkit `src/Utils.js`)
/// that opens the dialog when the node's subscription status is not `active`: the line the
/// community's post-install script edits (it removes the `!`). Found in PVE 7, 8 and 9.
const CHECK: &str = ".data.status.toLowerCase() !== 'active'";
/// What we put right after it: the condition can no longer hold, and the marker says whose
/// change it is, so that it is taken out exactly (`show`).
const OFF: &str = " && false /* pve-firstboot: [host] subscription-notice = \"hide\" */";

/// The library, with the dialog hidden.
#[derive(Debug, PartialEq, Eq)]
pub enum Hidden {
    /// Hidden now: the new text.
    Now(String),
    Already,
    /// The check is not where it was (a proxmox-widget-toolkit that changed it): left as it is.
    NotFound,
}

pub fn hide_in(js: &str) -> Hidden {
    if js.contains(&format!("{CHECK}{OFF}")) {
        return Hidden::Already;
    }
    let at = js
        .find("checked_command")
        .and_then(|from| Some(from + js[from..].find(CHECK)? + CHECK.len()));
    match at {
        Some(at) => Hidden::Now(format!("{}{OFF}{}", &js[..at], &js[at..])),
        None => Hidden::NotFound,
    }
}

/// The library as the package had it: our insertion taken out; `None` when it has none.
pub fn show_in(js: &str) -> Option<String> {
    js.contains(OFF).then(|| js.replace(OFF, ""))
}

/// apt runs this after every dpkg run (apt.conf(5), `DPkg::Post-Invoke`): an update of
/// proxmox-widget-toolkit brings the dialog back, and the agent hides it again. It never
/// fails apt: without the agent, or if the agent fails, the hook does nothing.
fn hook_text() -> String {
    let header: String = owned_header("host phase: [host] subscription-notice = \"hide\"")
        .lines()
        .map(|l| format!("//{}\n", l.trim_start_matches('#')))
        .collect();
    format!(
        "{header}DPkg::Post-Invoke {{ \"if [ -x {agent} ]; then {agent} subscription-notice || true; fi\"; }};\n",
        agent = crate::handover::AGENT_PATH
    )
}

/// `[host] subscription-notice`: `hide` patches the library and installs the hook; `show`
/// (the default) takes both out again where we put them.
pub fn subscription_notice(cx: &mut Cx, hide: bool) -> Result<()> {
    let js = cx.read(PROXMOXLIB)?;
    let mode = cx.host.file_mode(PROXMOXLIB)?.unwrap_or(0o644);
    if !hide {
        if cx
            .read(APT_HOOK)?
            .is_some_and(|h| h.contains("pve-firstboot"))
        {
            cx.remove(APT_HOOK)?;
        }
        if let Some(orig) = js.as_deref().and_then(show_in) {
            cx.write(PROXMOXLIB, &orig, mode)?;
        }
        return Ok(());
    }
    cx.write(APT_HOOK, &hook_text(), 0o644)?;
    match js.as_deref().map(hide_in) {
        None => cx.results.push(format!(
            "subscription notice: {PROXMOXLIB} is not there (proxmox-widget-toolkit not \
             installed?); the apt hook hides it once it is"
        )),
        Some(Hidden::Now(new)) => {
            cx.write(PROXMOXLIB, &new, mode)?;
        }
        Some(Hidden::Already) => {}
        Some(Hidden::NotFound) => cx.results.push(not_found()),
    }
    Ok(())
}

fn not_found() -> String {
    format!(
        "subscription notice: the subscription check is not where it was in {PROXMOXLIB} \
         (proxmox-widget-toolkit changed it); the library is left as it is"
    )
}

/// `pve-firstboot subscription-notice`, the apt hook's entry: the dialog hidden again if an
/// update brought it back. Returns what it did, in one line; nothing when there was nothing
/// to do (apt shows the hook's output after every dpkg run).
pub fn reapply(host: &Host) -> Result<Option<String>> {
    let Some(js) = host.read_text(PROXMOXLIB)? else {
        return Ok(None);
    };
    Ok(match hide_in(&js) {
        Hidden::Now(new) => {
            let mode = host.file_mode(PROXMOXLIB)?.unwrap_or(0o644);
            host.write(PROXMOXLIB, &crate::host::encode_text(&new), mode)?;
            Some("pve-firstboot: the subscription notice is hidden again".into())
        }
        Hidden::Already => None,
        Hidden::NotFound => Some(not_found()),
    })
}

/// What a host of its own has no use for (pve-ha-manager's two services; corosync, which
/// `pve-cluster.service` still pulls in by `Wants=` once a cluster is made). In the order
/// they stop: the local resource manager before the cluster resource manager.
const HA_UNITS: [&str; 3] = [
    "pve-ha-lrm.service",
    "pve-ha-crm.service",
    "corosync.service",
];
/// pmxcfs has it once the host is in a cluster (`pvecm create` or `add`).
const COROSYNC_CONF: &str = "/etc/pve/corosync.conf";

/// `[host] single-node`: the HA services and corosync stopped and disabled (what the
/// community's post-install script offers for a single node), never on a host in a cluster;
/// `false` enables them again where this phase disabled them.
pub fn single_node(cx: &mut Cx, want: bool) -> Result<()> {
    let units: Vec<&str> = HA_UNITS
        .into_iter()
        .filter(|u| {
            ["/usr/lib/systemd/system", "/lib/systemd/system"]
                .iter()
                .any(|d| cx.host.exists(&format!("{d}/{u}")))
        })
        .collect();
    if !want {
        if cx.recall("single-node").is_some() {
            now(
                cx,
                "enable",
                &units,
                "enabled {} again ([host] single-node = false)",
            )?;
            cx.forget("single-node")?;
        }
        return Ok(());
    }
    if cx.host.exists(COROSYNC_CONF) {
        cx.results.push(format!(
            "single-node: this host is in a cluster ({COROSYNC_CONF}); the HA services and \
             corosync are left as they are"
        ));
        return Ok(());
    }
    let on: Vec<&str> = units
        .iter()
        .copied()
        .filter(|u| running_or_enabled(cx, u))
        .collect();
    now(
        cx,
        "disable",
        &on,
        "stopped and disabled {} ([host] single-node)",
    )?;
    if cx.recall("single-node").is_none() {
        cx.remember("single-node", "disabled")?;
    }
    Ok(())
}

/// `systemctl enable|disable --now UNITS`, when there are any; `what` says it, `{}` the units.
fn now(cx: &mut Cx, verb: &str, units: &[&str], what: &str) -> Result<()> {
    if units.is_empty() {
        return Ok(());
    }
    cx.run(
        Cmd::new("systemctl")
            .args([verb, "--now"])
            .args(units.iter().copied()),
    )?;
    cx.changes.push(what.replacen("{}", &units.join(" "), 1));
    Ok(())
}

/// Whether a unit is enabled or running. Where systemctl is only recorded (`--root`), that
/// is not known: taken as on until this phase has disabled it once.
fn running_or_enabled(cx: &Cx, unit: &str) -> bool {
    let ask = |verb: &str| cx.host.query(&Cmd::new("systemctl").args([verb, unit]));
    match (ask("is-enabled"), ask("is-active")) {
        (Ok(e), _) if e.recorded => cx.recall("single-node").is_none(),
        (Ok(e), Ok(a)) => e.stdout.trim() == "enabled" || a.stdout.trim() == "active",
        _ => false,
    }
}

/// The microcode package for the CPU's vendor (`vendor_id` of /proc/cpuinfo), both in
/// Debian's `non-free-firmware` component.
fn microcode_package(cpuinfo: &str) -> Option<&'static str> {
    let vendor = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("vendor_id")?.split_once(':'))
        .map(|(_, v)| v.trim())?;
    match vendor {
        "GenuineIntel" => Some("intel-microcode"),
        "AuthenticAMD" => Some("amd64-microcode"),
        _ => None,
    }
}

/// Debian's `non-free-firmware` component (where the microcode packages are, since Debian
/// 12) in every enabled Debian repository that lacks it: a `.list` line or a deb822 stanza
/// with `main` in its components. Proxmox's repositories have no `main` and stay as they are.
pub fn non_free_firmware(cx: &mut Cx) -> Result<()> {
    let mut files = vec!["/etc/apt/sources.list".to_string()];
    for name in cx.host.list_dir("/etc/apt/sources.list.d")? {
        if name.ends_with(".list") || name.ends_with(".sources") {
            files.push(format!("/etc/apt/sources.list.d/{name}"));
        }
    }
    for f in files {
        let Some(text) = cx.read(&f)? else { continue };
        let new: String = if f.ends_with(".sources") {
            split_stanzas(&text)
                .iter()
                .map(|s| with_firmware_deb822(s))
                .collect()
        } else {
            text.split_inclusive('\n').map(with_firmware_line).collect()
        };
        if new != text {
            let mode = cx.host.file_mode(&f)?.unwrap_or(0o644);
            cx.write(&f, &new, mode)?;
        }
    }
    Ok(())
}

/// Whether a list of components is a Debian archive's without the firmware component.
fn lacks_firmware<'w>(words: impl Iterator<Item = &'w str>) -> bool {
    let words: Vec<&str> = words.collect();
    words.contains(&"main") && !words.contains(&"non-free-firmware")
}

/// One line of a `.list` file: `deb [options] URI SUITE COMPONENT...`.
fn with_firmware_line(line: &str) -> String {
    let (body, comment) = line.split_once('#').unwrap_or((line, ""));
    let words = body.split_whitespace();
    if !body.trim_start().starts_with("deb ") || !lacks_firmware(words.skip(1)) {
        return line.to_string();
    }
    let end = body.trim_end().len();
    let rest = if comment.is_empty() {
        body[end..].to_string()
    } else {
        format!("{}#{comment}", &body[end..])
    };
    format!("{} non-free-firmware{rest}", &body[..end])
}

/// One deb822 stanza (sources.list(5)): its `Components:` field, unless `Enabled: no`.
fn with_firmware_deb822(stanza: &str) -> String {
    let field = |l: &str, name: &str| {
        l.split_once(':')
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    if stanza
        .lines()
        .any(|l| field(l, "Enabled").is_some_and(|v| v.eq_ignore_ascii_case("no")))
    {
        return stanza.to_string();
    }
    stanza
        .split_inclusive('\n')
        .map(|l| match field(l, "Components") {
            Some(v) if lacks_firmware(v.split_whitespace()) => {
                let body = l.trim_end();
                format!("{body} non-free-firmware{}", &l[body.len()..])
            }
            _ => l.to_string(),
        })
        .collect()
}

/// `[host] microcode`: the vendor's package installed (the sources first given
/// `non-free-firmware`: [`non_free_firmware`]), every initramfs made again so that the
/// kernel loads it early, and the reboot that takes it into use joined to the one planned
/// reboot. Noted with the boot it was installed in: after a power cut in that boot the
/// reboot is asked for again; once the host has booted anew, nothing is left to do.
pub fn microcode(cx: &mut Cx) -> Result<()> {
    let cpuinfo = cx.read("/proc/cpuinfo")?.unwrap_or_default();
    let Some(pkg) = microcode_package(&cpuinfo) else {
        cx.results
            .push("microcode: no package for this CPU's vendor (neither Intel nor AMD)".into());
        return Ok(());
    };
    let boot = cx.host.boot_id();
    if let Some(when) = cx.recall("microcode").map(String::from) {
        if when == boot {
            cx.need_reboot(format!(
                "{pkg} was installed; the CPU loads it at the next boot"
            ));
        }
        return Ok(());
    }
    if cx.host.exists(&format!("/usr/share/doc/{pkg}")) {
        cx.results.push(format!("microcode: {pkg} is installed"));
        return Ok(());
    }
    apt_retry(
        cx,
        &[&["update"], &["install", pkg]],
        &format!("installing {pkg}"),
    )?;
    cx.run(Cmd::new("update-initramfs").args(["-u", "-k", "all"]))?;
    cx.changes
        .push(format!("installed {pkg}; every initramfs made again"));
    cx.remember("microcode", &boot)?;
    cx.need_reboot(format!(
        "{pkg} was installed; the CPU loads it at the next boot"
    ));
    Ok(())
}

/// After the reboot: the revision the CPU runs, as the kernel reports it.
pub fn microcode_revision(cx: &mut Cx) -> Result<()> {
    let cpuinfo = cx.read("/proc/cpuinfo")?.unwrap_or_default();
    if let Some(rev) = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("microcode")?.split_once(':'))
    {
        cx.results
            .push(format!("microcode: revision {}", rev.1.trim()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The function as proxmox-widget-toolkit's Utils.js has it in PVE 8 and 9 (its
    /// condition broken over two lines), retyped in short.
    const LIB: &str = "Ext.define('Proxmox.Utils', {\n    checked_command: function(orig_cmd) {\n\
        \t\tsuccess: function(response, opts) {\n\t\t    let res = response.result;\n\
        \t\t    if (res === null || res === undefined || !res || res\n\
        \t\t\t.data.status.toLowerCase() !== 'active') {\n\
        \t\t\tExt.Msg.show({ title: gettext('No valid subscription'),\n";

    #[test]
    fn the_notice_is_hidden_once_kept_through_an_update_and_shown_again() {
        let Hidden::Now(hidden) = hide_in(LIB) else {
            panic!("not hidden")
        };
        assert!(
            hidden.contains("!== 'active' && false /* pve-firstboot"),
            "{hidden}"
        );
        assert_eq!(hidden.len(), LIB.len() + OFF.len());
        // Idempotent: hidden already.
        assert_eq!(hide_in(&hidden), Hidden::Already);
        // An update of the package puts its own file back: hidden again, the same way.
        assert_eq!(hide_in(LIB), Hidden::Now(hidden.clone()));
        // Shown again: the package's file, byte for byte.
        assert_eq!(show_in(&hidden).as_deref(), Some(LIB));
        assert_eq!(show_in(LIB), None);
        // A library without the check (a changed widget toolkit) is left alone.
        assert_eq!(hide_in("checked_command: function() {}"), Hidden::NotFound);
        assert_eq!(
            hide_in("res.data.status.toLowerCase() !== 'active'"),
            Hidden::NotFound
        );
    }

    #[test]
    fn the_hook_runs_the_agent_only_when_it_is_there_and_never_fails_apt() {
        let h = hook_text();
        assert!(h.starts_with("// Written by pve-firstboot"), "{h}");
        assert!(h.ends_with(
            "DPkg::Post-Invoke { \"if [ -x /usr/local/sbin/pve-firstboot ]; then \
             /usr/local/sbin/pve-firstboot subscription-notice || true; fi\"; };\n"
        ));
        assert!(!h.lines().any(|l| l.starts_with('#')), "{h}");
    }

    #[test]
    fn vendors() {
        assert_eq!(
            microcode_package("processor\t: 0\nvendor_id\t: GenuineIntel\n"),
            Some("intel-microcode")
        );
        assert_eq!(
            microcode_package("vendor_id\t: AuthenticAMD\n"),
            Some("amd64-microcode")
        );
        assert_eq!(microcode_package("vendor_id\t: HygonGenuine\n"), None);
        assert_eq!(microcode_package(""), None);
    }

    #[test]
    fn non_free_firmware_joins_debians_repositories_only() {
        assert_eq!(
            with_firmware_line("deb http://ftp.de.debian.org/debian bookworm main contrib\n"),
            "deb http://ftp.de.debian.org/debian bookworm main contrib non-free-firmware\n"
        );
        assert_eq!(
            with_firmware_line("deb [arch=amd64] http://x/debian bookworm main # mirror\n"),
            "deb [arch=amd64] http://x/debian bookworm main non-free-firmware # mirror\n"
        );
        for kept in [
            "deb http://deb.debian.org/debian bookworm main non-free-firmware\n",
            "deb http://download.proxmox.com/debian/pve bookworm pve-no-subscription\n",
            "# deb http://deb.debian.org/debian bookworm main\n",
            "deb-src http://deb.debian.org/debian bookworm main\n",
        ] {
            assert_eq!(with_firmware_line(kept), kept);
        }
        let s = "Types: deb\nURIs: http://deb.debian.org/debian/\nSuites: trixie\nComponents: main contrib\n\n";
        assert_eq!(
            with_firmware_deb822(s),
            s.replace("main contrib", "main contrib non-free-firmware")
        );
        for kept in [
            "Types: deb\nComponents: main non-free-firmware\n",
            "Types: deb\nComponents: pve-no-subscription\n",
            "Types: deb\nComponents: main\nEnabled: no\n",
        ] {
            assert_eq!(with_firmware_deb822(kept), kept);
        }
    }
}
