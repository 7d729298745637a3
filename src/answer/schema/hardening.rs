//! `[hardening]`: sshd, the firewall, fail2ban and unattended upgrades.

use super::*;
use crate::answer::reader::{Checker, Sp, Tbl};

pub(super) fn read_hardening(c: &mut Checker, t: &mut Tbl, sp: &mut Spans) -> Hardening {
    let pw = t.bool(c, "ssh-password-login");
    if t.has("ssh-password-login") {
        sp.ssh_password_login = Some(t.key_span("ssh-password-login"));
    }
    let firewall = t.bool(c, "firewall").is_none_or(|b| b.v);
    let mut admin_subnets = Vec::new();
    for s in t.strings(c, "admin-subnets").unwrap_or_default() {
        match admin_subnet(&s.v) {
            Ok(n) if !admin_subnets.contains(&n) => admin_subnets.push(n),
            Ok(n) => c.error(
                &s.span,
                &t.key_path("admin-subnets"),
                format!("{n} is listed twice"),
            ),
            Err(e) => c.error(&s.span, &t.key_path("admin-subnets"), e),
        }
    }
    if !admin_subnets.is_empty() && !firewall {
        c.error(
            &t.key_span("admin-subnets"),
            &t.key_path("admin-subnets"),
            "is the Proxmox firewall's `management` ipset: it means something only with firewall = true",
        );
    }
    Hardening {
        admin_subnets,
        ssh_password_login: pw.is_some_and(|b| b.v),
        ssh_kex: match t.one_of(c, "ssh-kex", &["post-quantum-first", "post-quantum-only"]) {
            Some(Sp {
                v: "post-quantum-only",
                ..
            }) => SshKex::PostQuantumOnly,
            _ => SshKex::PostQuantumFirst,
        },
        firewall,
        fail2ban: t.bool(c, "fail2ban").is_none_or(|b| b.v),
        unattended_upgrades: match t.one_of(c, "unattended-upgrades", &["security", "off"]) {
            Some(Sp { v: "off", .. }) => Unattended::Off,
            _ => Unattended::Security,
        },
    }
}

/// An admin subnet as pve-firewall's `management` ipset takes it: `A.B.C.D/N` or an
/// address alone (IPv4 or IPv6), written as its network (`192.168.10.7/24` ->
/// `192.168.10.0/24`: the ipset holds networks).
fn admin_subnet(s: &str) -> Result<String, String> {
    let cidr = match Cidr::parse(s) {
        Ok(c) => c,
        Err(e) if s.contains('/') => return Err(e),
        Err(_) => match s.parse::<std::net::IpAddr>() {
            Ok(a) => Cidr {
                addr: a,
                prefix: if a.is_ipv4() { 32 } else { 128 },
            },
            Err(_) => {
                return Err(format!(
                    "\"{s}\" is not a subnet such as 192.168.10.0/24 or an address"
                ));
            }
        },
    };
    if cidr.prefix == 0 {
        return Err(format!(
            "{s}: a /0 would let the whole internet at the web UI and ssh"
        ));
    }
    Ok(match cidr.addr {
        std::net::IpAddr::V4(_) => cidr.v4().expect("v4").subnet(),
        std::net::IpAddr::V6(a) => {
            let mask = u128::MAX << (128 - u32::from(cidr.prefix));
            let net = std::net::Ipv6Addr::from(u128::from(a) & mask);
            format!("{net}/{}", cidr.prefix)
        }
    })
}
