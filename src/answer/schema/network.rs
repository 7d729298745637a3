//! `[network]`: the VM bridge, its NAT, DHCP and port forwards.

use std::net::Ipv4Addr;

use super::*;
use crate::answer::net::Cidr;
use crate::answer::reader::{Checker, Sp, Tbl};

pub(super) fn bridge_name_ok(s: &str) -> bool {
    // Linux interface names are at most 15 bytes; Proxmox's GUI wants vmbrN for bridges.
    s.len() <= 15
        && s.starts_with("vmbr")
        && s.len() > 4
        && s[4..].bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn read_network(c: &mut Checker, t: &mut Tbl, sp: &mut Spans) -> Option<NetworkCfg> {
    let vm_bridge = t.table(c, "vm-bridge").and_then(|mut b| {
        sp.vm_bridge = Some(b.span.clone());
        let name = match b.string(c, "name") {
            Some(n) if !bridge_name_ok(&n.v) => {
                c.error(
                    &n.span,
                    &b.key_path("name"),
                    format!("\"{}\" is not a Proxmox bridge name; use vmbrN such as \"vmbr1\"", n.v),
                );
                None
            }
            Some(n) if n.v == "vmbr0" => {
                c.error(
                    &n.span,
                    &b.key_path("name"),
                    "vmbr0 is the management bridge the installer made; use another one such as \"vmbr1\"",
                );
                None
            }
            Some(n) => Some(n.v),
            None if b.has("name") => None,
            None => Some("vmbr1".to_string()),
        };
        let cidr = match b.req_string(c, "cidr", "the bridge's own address, e.g. \"10.0.100.1/24\"") {
            Some(s) => {
                sp.vm_cidr = Some(s.span.clone());
                match Cidr::parse(&s.v) {
                    Ok(ci) => match ci.v4() {
                        Some(v4) if v4.prefix >= 8 && v4.prefix <= 30 && v4.contains_host(v4.addr) => Some(v4),
                        Some(_) => {
                            c.error(
                                &s.span,
                                &b.key_path("cidr"),
                                "must be a host address in a /8 to /30 subnet, e.g. 10.0.100.1/24",
                            );
                            None
                        }
                        None => {
                            c.error(&s.span, &b.key_path("cidr"), "must be IPv4 (the VM network is NAT'd IPv4)");
                            None
                        }
                    },
                    Err(e) => {
                        c.error(&s.span, &b.key_path("cidr"), e);
                        None
                    }
                }
            }
            None => None,
        };
        let nat = b.bool(c, "nat").is_none_or(|v| v.v);
        let isolate = b.bool(c, "isolate").is_none_or(|v| v.v);
        let mut allow = Vec::new();
        for (i, a) in b.strings(c, "allow").unwrap_or_default().iter().enumerate() {
            match Allow::parse(&a.v) {
                Ok(x) => {
                    sp.allow.push((i, a.span.clone()));
                    allow.push(x);
                }
                Err(e) => c.error(&a.span, &format!("{}[{i}]", b.key_path("allow")), e),
            }
        }
        let range = b.strings(c, "dhcp-range").and_then(|r| {
            sp.dhcp_range = Some(b.key_span("dhcp-range"));
            if r.len() != 2 {
                c.error(
                    &b.key_span("dhcp-range"),
                    &b.key_path("dhcp-range"),
                    "must be [first, last], two IPv4 addresses",
                );
                return None;
            }
            let ip = |s: &Sp<String>, c: &mut Checker| -> Option<Ipv4Addr> {
                s.v.parse()
                    .map_err(|_| c.error(&s.span, &b.key_path("dhcp-range"), format!("\"{}\" is not an IPv4 address", s.v)))
                    .ok()
            };
            let (a, z) = (ip(&r[0], c), ip(&r[1], c));
            Some((a?, z?))
        });
        b.finish(c);
        Some(VmBridge {
            name: name?,
            cidr: cidr?,
            nat,
            dhcp_range: range,
            isolate,
            allow,
        })
    });
    let mut forwards = Vec::new();
    for mut f in t.tables(c, "port-forward") {
        let protocol = match f.one_of(c, "protocol", &["tcp", "udp"]) {
            Some(Sp { v: "udp", .. }) => Proto::Udp,
            _ => Proto::Tcp,
        };
        let port = if f.has("port") {
            f.int(c, "port", 1..=65535, "port")
        } else {
            f.raw("port");
            f.missing(c, "port", "the port on the management address, 1 to 65535");
            None
        };
        let to = f.req_string(c, "to", "the target as \"IP:PORT\" on the VM network");
        let to_parsed = to.as_ref().and_then(|s| {
            let parsed = s.v.rsplit_once(':').and_then(|(ip, p)| {
                Some((
                    ip.parse::<Ipv4Addr>().ok()?,
                    p.parse::<u16>().ok().filter(|p| *p > 0)?,
                ))
            });
            if parsed.is_none() {
                c.error(
                    &s.span,
                    &f.key_path("to"),
                    format!("\"{}\" is not IPV4:PORT such as \"10.0.100.10:8123\"", s.v),
                );
            }
            parsed
        });
        if let (Some(p), Some(to)) = (&port, &to) {
            sp.forwards.push((p.span.clone(), to.span.clone()));
        }
        f.finish(c);
        if let (Some(p), Some((ip, tp))) = (port, to_parsed) {
            forwards.push(PortForward {
                protocol,
                port: p.v as u16,
                to: ip,
                to_port: tp,
            });
        }
    }
    Some(NetworkCfg {
        vm_bridge,
        port_forwards: forwards,
    })
}
