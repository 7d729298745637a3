//! `[hardening]`: sshd, the firewall, fail2ban and unattended upgrades.

use super::*;
use crate::answer::reader::{Checker, Sp, Tbl};

pub(super) fn read_hardening(c: &mut Checker, t: &mut Tbl, sp: &mut Spans) -> Hardening {
    let pw = t.bool(c, "ssh-password-login");
    if t.has("ssh-password-login") {
        sp.ssh_password_login = Some(t.key_span("ssh-password-login"));
    }
    Hardening {
        ssh_password_login: pw.is_some_and(|b| b.v),
        ssh_kex: match t.one_of(c, "ssh-kex", &["post-quantum-first", "post-quantum-only"]) {
            Some(Sp {
                v: "post-quantum-only",
                ..
            }) => SshKex::PostQuantumOnly,
            _ => SshKex::PostQuantumFirst,
        },
        firewall: t.bool(c, "firewall").is_none_or(|b| b.v),
        fail2ban: t.bool(c, "fail2ban").is_none_or(|b| b.v),
        unattended_upgrades: match t.one_of(c, "unattended-upgrades", &["security", "off"]) {
            Some(Sp { v: "off", .. }) => Unattended::Off,
            _ => Unattended::Security,
        },
    }
}
