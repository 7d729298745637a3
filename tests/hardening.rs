//! The hardening phase against the real sshd, and against every way REFERENCE §7 says a
//! generic baseline breaks a Proxmox host.

mod common;

use std::fs;
use std::process::Command;

use common::*;

fn applied(case: &str, test: &str) -> std::path::PathBuf {
    apply_fixture(case, &format!("hardening-{test}")).0
}

/// `sshd -t` (Debian's openssh-server) on a configuration that includes the drop-in the
/// phase wrote, as Debian's sshd_config does.
#[test]
fn sshd_accepts_the_drop_in() {
    for (case, test) in [
        ("hardening-pve8", "sshd-pve8"),
        ("hardening-lockout", "sshd-lockout"),
    ] {
        let root = applied(case, test);
        let dir = scratch(&format!("{test}-sshd"));
        let key = dir.join("host_ed25519");
        let kg = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen (install openssh-client)");
        assert!(kg.success());
        let conf = dir.join("sshd_config");
        fs::write(
            &conf,
            format!(
                "Include {}\nHostKey {}\n",
                root.join("etc/ssh/sshd_config.d/pve-firstboot.conf")
                    .display(),
                key.display()
            ),
        )
        .unwrap();
        // sshd -t insists on its privilege separation directory.
        fs::create_dir_all("/run/sshd").ok();
        let out = Command::new("/usr/sbin/sshd")
            .arg("-t")
            .arg("-f")
            .arg(&conf)
            .output()
            .expect("sshd (install openssh-server)");
        assert!(
            out.status.success(),
            "{case}: sshd -t: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // What sshd will really use: -T prints the effective settings.
        let t = Command::new("/usr/sbin/sshd")
            .arg("-T")
            .arg("-f")
            .arg(&conf)
            .output()
            .unwrap();
        let eff = String::from_utf8_lossy(&t.stdout).to_string();
        assert!(eff.contains("permitrootlogin without-password"), "{eff}");
        assert!(eff.contains("allowtcpforwarding yes"), "{eff}");
        let pw_off = eff.contains("passwordauthentication no");
        assert_eq!(
            pw_off,
            case == "hardening-pve8",
            "{case}: password login off only with a key installed"
        );
    }
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
