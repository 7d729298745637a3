//! Rules that span several tables: what no single key can be checked for alone.

use super::reader::Checker;
use super::schema::Read;

pub fn check(c: &mut Checker, r: &Read) {
    let sp = &r.sp;
    let mgmt4 = r
        .installer
        .as_ref()
        .and_then(|i| i.network.as_ref())
        .and_then(|n| n.cidr.v4());

    if let Some(p) = &sp.root_password {
        c.warning(
            p,
            "installer.global.root-password",
            "a plain-text password will sit readable on the ISO and USB stick; prefer root-password-hashed",
        );
    }

    let bridge = r.network.as_ref().and_then(|n| n.vm_bridge.as_ref());
    if let Some(b) = bridge {
        let at = sp.vm_cidr.clone().unwrap_or_default();
        if let Some(m) = mgmt4 {
            if b.cidr.overlaps(&m) {
                c.error(
                    &at,
                    "network.vm-bridge.cidr",
                    format!(
                        "{} overlaps the management subnet {}; pick a separate range such as 10.0.100.1/24",
                        b.cidr.subnet(),
                        m.subnet()
                    ),
                );
            }
        }
        for (a, (i, at)) in b.allow.iter().zip(&sp.allow) {
            let key = &format!("network.vm-bridge.allow[{i}]");
            match mgmt4 {
                Some(m) if !m.contains_host(a.ip) => c.error(
                    at,
                    key,
                    format!("{} is not on the management LAN {}; allow opens single destinations there", a.ip, m.subnet()),
                ),
                None if r.installer.as_ref().is_some_and(|i| i.network.is_none()) => c.warning(
                    at,
                    key,
                    "the management subnet comes from DHCP, so whether this address is on it is checked on the host",
                ),
                _ => {}
            }
            if !b.isolate {
                c.warning(
                    at,
                    key,
                    "has no effect with isolate = false (guests reach the LAN anyway)",
                );
            }
        }
        if let Some((first, last)) = b.dhcp_range {
            let at = sp.dhcp_range.clone().unwrap_or_default();
            for ip in [first, last] {
                if !b.cidr.contains_host(ip) {
                    c.error(
                        &at,
                        "network.vm-bridge.dhcp-range",
                        format!(
                            "{ip} is not a host address in the VM subnet {}",
                            b.cidr.subnet()
                        ),
                    );
                }
            }
            if u32::from(first) > u32::from(last) {
                c.error(
                    &at,
                    "network.vm-bridge.dhcp-range",
                    format!("starts at {first} but ends before it, at {last}"),
                );
            } else if (u32::from(first)..=u32::from(last)).contains(&u32::from(b.cidr.addr)) {
                c.error(
                    &at,
                    "network.vm-bridge.dhcp-range",
                    format!("includes the bridge's own address {}", b.cidr.addr),
                );
            }
        }
    }

    if let Some(n) = &r.network {
        let mut seen: Vec<(super::Proto, u16)> = Vec::new();
        for (i, (f, (port_at, to_at))) in n.port_forwards.iter().zip(&sp.forwards).enumerate() {
            let key = format!("network.port-forward[{i}]");
            match bridge {
                None => c.error(
                    to_at,
                    &format!("{key}.to"),
                    "port forwards go to the VM bridge; add a [network.vm-bridge] table",
                ),
                Some(b) if !b.cidr.contains_host(f.to) || f.to == b.cidr.addr => c.error(
                    to_at,
                    &format!("{key}.to"),
                    format!(
                        "{} is not a guest address in the VM subnet {}",
                        f.to,
                        b.cidr.subnet()
                    ),
                ),
                _ => {}
            }
            if seen.contains(&(f.protocol, f.port)) {
                c.error(
                    port_at,
                    &format!("{key}.port"),
                    format!(
                        "{}/{} is already forwarded by an earlier entry",
                        f.port, f.protocol
                    ),
                );
            }
            seen.push((f.protocol, f.port));
            if let Some(what) = proxmox_port(f.protocol, f.port) {
                c.error(
                    port_at,
                    &format!("{key}.port"),
                    format!(
                        "{}/{} is Proxmox's own ({what}) on the management address; a forward there \
                         would take it away",
                        f.port, f.protocol
                    ),
                );
            }
        }
        if !n.port_forwards.is_empty()
            && r.installer.as_ref().is_some_and(|i| i.network.is_some())
            && mgmt4.is_none()
        {
            c.error(
                &sp.mgmt_cidr.clone().unwrap_or_default(),
                "installer.network.cidr",
                "port forwards need an IPv4 management address",
            );
        }
    }

    if let Some(h) = &r.haos {
        super::schema::guest_net(
            c,
            "haos",
            (&h.bridge, &sp.haos_bridge.clone().unwrap_or_default()),
            h.ip.zip(sp.haos_ip.as_ref()),
            bridge,
        );
    }

    if let Some(hd) = &r.hardening {
        if !hd.ssh_password_login {
            let keys = r.installer.as_ref().map_or(0, |i| i.root_ssh_keys.len());
            if keys == 0 && r.installer.is_some() {
                let at = sp
                    .ssh_password_login
                    .clone()
                    .or_else(|| sp.hardening.clone())
                    .unwrap_or_default();
                c.error(
                    &at,
                    "hardening.ssh-password-login",
                    "turning password login off needs at least one key in installer.global.root-ssh-keys, \
                     or the host locks you out; add a key or set ssh-password-login = true",
                );
            }
        }
    }
}

/// What Proxmox itself serves on the management address, which a port forward (a DNAT on
/// that address) would take away: the ports pve-firewall opens for its `management` ipset
/// and for corosync (pve-firewall: `src/PVE/Firewall.pm`, the PVEFW-HOST-IN chain).
fn proxmox_port(proto: super::Proto, port: u16) -> Option<&'static str> {
    use super::Proto::{Tcp, Udp};
    const PORTS: [(super::Proto, u16, u16, &str); 6] = [
        (Tcp, 22, 22, "ssh"),
        (Tcp, 8006, 8006, "the web UI"),
        (Tcp, 3128, 3128, "the SPICE proxy"),
        (Tcp, 5900, 5999, "VNC consoles"),
        (Tcp, 60000, 60050, "live migration"),
        (Udp, 5404, 5405, "corosync"),
    ];
    PORTS
        .iter()
        .find(|(p, lo, hi, _)| *p == proto && (*lo..=*hi).contains(&port))
        .map(|(.., what)| *what)
}
