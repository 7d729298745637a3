//! The hardening phase against the real sshd, and against every way REFERENCE §7 says a
//! generic baseline breaks a Proxmox host.

mod common;

use std::fs;
use std::process::Command;

use common::*;

fn applied(case: &str, test: &str) -> std::path::PathBuf {
    apply_fixture(case, &format!("hardening-{test}")).0
}

/// A Proxmox host's sshd_config: Debian's own (openssh-server, on this machine) with the
/// one change the installer makes (pve-installer: `Proxmox/Install.pm`, "allow ssh root
/// login": every `PermitRootLogin` line, commented or not, becomes `PermitRootLogin yes`),
/// its `Include` pointed at the drop-in the phase wrote, and a host key for `sshd -t`.
fn proxmox_sshd_config(dir: &std::path::Path, dropin: &std::path::Path) -> std::path::PathBuf {
    let debian = fs::read_to_string("/etc/ssh/sshd_config")
        .expect("Debian's /etc/ssh/sshd_config (install openssh-server)");
    assert!(
        debian.contains("Include /etc/ssh/sshd_config.d/*.conf"),
        "Debian's sshd_config includes its drop-ins"
    );
    let mut conf = String::new();
    for l in debian.lines() {
        if l.starts_with("Include /etc/ssh/sshd_config.d/") {
            conf.push_str(&format!("Include {}\n", dropin.display()));
        } else if l.starts_with("PermitRootLogin") || l.starts_with("#PermitRootLogin") {
            conf.push_str("PermitRootLogin yes\n");
        } else {
            conf.push_str(l);
            conf.push('\n');
        }
    }
    let key = dir.join("host_ed25519");
    let kg = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen (install openssh-client)");
    assert!(kg.success());
    conf.push_str(&format!("HostKey {}\n", key.display()));
    let path = dir.join("sshd_config");
    fs::write(&path, conf).unwrap();
    path
}

/// What sshd would do for root connecting from the LAN: `sshd -T -C` evaluates the whole
/// configuration, Match blocks included, for that connection.
fn sshd_for_root(conf: &std::path::Path) -> String {
    // sshd -t/-T insist on the privilege separation directory.
    fs::create_dir_all("/run/sshd").ok();
    let t = Command::new("/usr/sbin/sshd")
        .arg("-t")
        .arg("-f")
        .arg(conf)
        .output()
        .expect("sshd (install openssh-server)");
    assert!(
        t.status.success(),
        "sshd -t: {}",
        String::from_utf8_lossy(&t.stderr)
    );
    let out = Command::new("/usr/sbin/sshd")
        .args([
            "-T",
            "-C",
            "user=root,host=laptop.home.arpa,addr=10.0.200.50",
            "-f",
        ])
        .arg(conf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value sshd -T prints for one keyword (whole-line match: `maxauthtries 3` must not
/// pass for `maxauthtries 30`).
fn setting<'a>(eff: &'a str, key: &str) -> &'a str {
    eff.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("sshd -T prints no {key}:\n{eff}"))
}

/// Root keeps a way in with whatever credential it really has, decided by sshd itself on a
/// Proxmox host's configuration: a key of the answer installed → key only; no such key, or
/// `ssh-password-login = true` → password too, as the installer left it.
#[test]
fn root_keeps_its_ssh_login() {
    for (case, test, root_login, password) in [
        // An answer key is in root's authorized_keys, passwords off.
        ("hardening-pve8", "sshd-key", "without-password", "no"),
        // No answer key installed: the phase refuses to turn passwords off.
        ("hardening-lockout", "sshd-lockout", "yes", "yes"),
        // The answer keeps passwords on.
        ("hardening-no-pmxcfs", "sshd-password", "yes", "yes"),
    ] {
        let root = applied(case, test);
        let dir = scratch(&format!("{test}-sshd"));
        let conf =
            proxmox_sshd_config(&dir, &root.join("etc/ssh/sshd_config.d/pve-firstboot.conf"));
        let eff = sshd_for_root(&conf);
        assert_eq!(setting(&eff, "permitrootlogin"), root_login, "{case}");
        assert_eq!(setting(&eff, "passwordauthentication"), password, "{case}");
        // Debian's own `KbdInteractiveAuthentication no` stays: passwords go through
        // PasswordAuthentication, and the phase never turns the other one on.
        assert_eq!(
            setting(&eff, "kbdinteractiveauthentication"),
            "no",
            "{case}"
        );
        assert_eq!(setting(&eff, "allowtcpforwarding"), "yes", "{case}");
        assert_eq!(setting(&eff, "maxauthtries"), "3", "{case}");
        let kex = setting(&eff, "kexalgorithms");
        assert!(
            kex.starts_with("sntrup761x25519-sha512@openssh.com"),
            "{case}: {kex}"
        );
        // The classical fallback for OpenSSH < 8.5 (Windows 10's 8.1) unless the answer is
        // strict.
        let strict = case == "hardening-no-pmxcfs";
        assert_eq!(
            kex.split(',').any(|k| k == "curve25519-sha256"),
            !strict,
            "{case}: {kex}"
        );
    }
}

/// Without the phase, the same sshd gives root its password login: the baseline the
/// cases above are measured against (a positive control for the configuration builder).
#[test]
fn proxmox_sshd_baseline_allows_root_passwords() {
    let dir = scratch("sshd-baseline");
    let empty = dir.join("empty.conf");
    fs::write(&empty, "").unwrap();
    let eff = sshd_for_root(&proxmox_sshd_config(&dir, &empty));
    assert_eq!(setting(&eff, "permitrootlogin"), "yes");
    assert_eq!(setting(&eff, "passwordauthentication"), "yes");
}

/// REFERENCE §7, item by item: nothing the phase writes may break the hypervisor.
#[test]
fn nothing_breaks_the_hypervisor() {
    let root = applied("hardening-pve8", "ref7");
    let mut all = String::new();
    for e in walkdir::WalkDir::new(root.join("etc")) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let text = fs::read_to_string(e.path()).unwrap_or_default();
            if text.contains("pve-firstboot") {
                all.push_str(&text);
            }
        }
    }
    let active: Vec<&str> = all
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let has = |needle: &str| active.iter().any(|l| l.replace(' ', "").contains(needle));
    assert!(
        !has("net.ipv4.ip_forward=0"),
        "forwarding must stay on for the NAT bridge"
    );
    assert!(has("net.ipv4.ip_forward=1"));
    assert!(!has("rp_filter"), "pve-firewall sets rp_filter itself");
    assert!(
        !has("accept_ra"),
        "IPv6 router advertisements stay as they are"
    );
    assert!(!has("PermitRootLoginno"), "clustering needs root over ssh");
    assert!(
        !has("AllowTcpForwardingno"),
        "live migration tunnels through ssh"
    );
    assert!(!has("UMASK"), "a 027 umask breaks container creation");
    assert!(!has("hidepid"), "hidepid on /proc breaks polkit");
    for m in ["fuse", "vfat"] {
        assert!(
            !has(&format!("blacklist{m}")),
            "{m} is needed (pmxcfs, ESPs)"
        );
        assert!(!has(&format!("install{m}/bin/false")), "{m} is needed");
    }
}

/// fail2ban is restarted when either of its files changed, not only when both did: an
/// admin who removed the filter gets it back, and the running fail2ban reads it.
#[test]
fn fail2ban_restarts_when_one_of_its_files_changed() {
    let (root, out) = apply_fixture("hardening-pve8", "hardening-fail2ban-one-file");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let filter = root.join("etc/fail2ban/filter.d/pve-firstboot-proxmox.conf");
    assert!(filter.exists(), "the fixture turns fail2ban on");
    fs::remove_file(&filter).unwrap();
    fs::remove_file(root.join("var/lib/pve-firstboot/commands.log")).unwrap();
    let again = Command::new(env!("CARGO_BIN_EXE_pve-firstboot"))
        .arg("apply")
        .arg(manifest().join("tests/fixtures/hardening-pve8/answer.toml"))
        .arg("--root")
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(filter.exists());
    let log = commands_log(&root);
    assert!(
        log.lines()
            .any(|l| l == "systemctl restart fail2ban.service"),
        "the filter came back but fail2ban was not restarted:\n{log}"
    );
}

/// The firewall files written, pve-firewall is started, never restarted: the running daemon
/// reads cluster.fw and host.fw again within ten seconds (pve-firewall
/// `src/PVE/Service/pve_firewall.pm`, `$updatetime`), while a restart's `pve-firewall stop`
/// would remove every rule until the start has compiled them again.
#[test]
fn the_firewall_is_started_never_restarted() {
    let (root, out) = apply_fixture("hardening-admin-subnets", "hardening-firewall-start");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let log = commands_log(&root);
    assert!(
        log.contains("systemctl start pve-firewall.service\n"),
        "{log}"
    );
    assert!(!log.contains("restart pve-firewall"), "{log}");
}
