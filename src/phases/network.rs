//! The `network` phase (`[network]`): the NAT'd VM bridge with DHCP and DNS, port forwards,
//! and `/etc/hosts`, applied live with a rollback when the management gateway is lost.
//!
//! vmbr0 stays byte for byte as the installer wrote it; the VM bridge lives in a file of
//! its own under /etc/network/interfaces.d. NAT and forwards are one nftables table of our
//! own, loaded by a unit of our own: one mechanism, reloaded atomically (the file deletes
//! and recreates the table), so rules are never added twice, survive reboots, and do not
//! touch the iptables rules of the Proxmox firewall. dnsmasq runs as a unit of our own,
//! bound to the VM bridge only.

use std::net::Ipv4Addr;

use super::{Cx, Phase, owned_header};
use crate::answer::{Answer, Cidr, Ipv4Cidr, NetworkCfg, Proto, VmBridge};
use crate::error::{Error, Result};
use crate::host::Cmd;
use crate::overlay;

pub const INTERFACES: &str = "/etc/network/interfaces";
pub const SOURCE_LINE: &str = "source /etc/network/interfaces.d/*";
pub const BRIDGE_FILE: &str = "/etc/network/interfaces.d/pve-firstboot";
pub const FORWARD_SYSCTL: &str = "/etc/sysctl.d/70-pve-firstboot-ip-forward.conf";
pub const NFT_FILE: &str = "/etc/pve-firstboot/vm-network.nft";
pub const NFT_UNIT: &str = "pve-firstboot-nat.service";
pub const DNSMASQ_CONF: &str = "/etc/pve-firstboot/dnsmasq-vm-bridge.conf";
pub const DNSMASQ_UNIT: &str = "pve-firstboot-dnsmasq.service";
const HOSTS: &str = "/etc/hosts";
const ROUTES: &str = "/proc/net/route";
/// The nftables table everything of ours lives in.
pub const NFT_TABLE: &str = "pve_firstboot";

/// Whether the management gateway still answers: `Some(true/false)`, or `None` where it
/// cannot be checked (not a live host). A parameter, so tests can make it fail.
pub type GatewayCheck = fn(&Cx, &str) -> Result<Option<bool>>;

pub struct NetworkPhase {
    pub gateway_check: GatewayCheck,
}

impl Default for NetworkPhase {
    fn default() -> Self {
        NetworkPhase {
            gateway_check: ping_gateway,
        }
    }
}

/// The management side as the host has it: vmbr0's address (with its prefix), gateway
/// and bridge ports.
pub struct Mgmt {
    pub addr: Option<Ipv4Addr>,
    pub cidr: Option<Ipv4Cidr>,
    pub gateway: Option<String>,
    /// `bridge-ports` of vmbr0's stanza (the installer's NIC).
    pub ports: Vec<String>,
}

impl Phase for NetworkPhase {
    fn id(&self) -> &'static str {
        "network"
    }

    fn not_configured(&self, a: &Answer) -> Option<String> {
        a.network
            .is_none()
            .then(|| "no [network] table in the answer".into())
    }

    fn apply(&self, cx: &mut Cx) -> Result<()> {
        let cfg = cx.answer.network.clone().expect("configured");
        let mgmt = management(cx)?;
        hosts(cx, &mgmt)?;
        let Some(bridge) = cfg.vm_bridge.clone() else {
            return Ok(());
        };
        no_overlap_with_the_host(cx, &bridge, &mgmt)?;
        interfaces(cx, &bridge, &mgmt, self.gateway_check)?;
        let fwd_changed = cx.write(FORWARD_SYSCTL, &forward_sysctl(&bridge), 0o644)?;
        if fwd_changed || cx.resumed {
            cx.run(Cmd::new("sysctl").args(["-q", "-p", FORWARD_SYSCTL]))?;
        }
        nat(cx, &cfg, &bridge, &mgmt)?;
        dhcp(cx, &bridge)?;
        Ok(())
    }

    fn verify(&self, cx: &mut Cx) -> Result<()> {
        let cfg = cx.answer.network.clone().expect("configured");
        let Some(b) = cfg.vm_bridge else {
            return Ok(());
        };
        let out = cx
            .host
            .query(&Cmd::new("ip").args(["-4", "-o", "addr", "show", "dev", &b.name]))?;
        if out.recorded {
            cx.results
                .push(format!("{}: not checked (not a live host)", b.name));
            return Ok(());
        }
        if !out.stdout.contains(&format!("inet {}", b.cidr)) {
            return Err(Error::msg(format!(
                "{} does not have its address {}",
                b.name, b.cidr
            )));
        }
        cx.results.push(format!("{} is up with {}", b.name, b.cidr));
        Ok(())
    }
}

/// The routes /proc/net/route shows directly on `iface` (no gateway): the subnets it is on,
/// however it got its address (DHCP included, which /etc/network/interfaces does not show).
fn connected_subnets(cx: &Cx, iface: &str) -> Result<Vec<Ipv4Cidr>> {
    let text = cx.read(ROUTES)?.unwrap_or_default();
    // Iface Destination Gateway Flags RefCnt Use Metric Mask ...; each address is its four
    // bytes in network order printed as a host-order (little-endian on amd64) hex number.
    let hex = |s: &str| {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|v| u32::from_be_bytes(v.to_le_bytes()))
    };
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dest, gw, mask) = (hex(f.get(1)?)?, hex(f.get(2)?)?, hex(f.get(7)?)?);
            (f[0] == iface && gw == 0 && mask != 0).then(|| Ipv4Cidr {
                addr: Ipv4Addr::from(dest),
                prefix: mask.count_ones() as u8,
            })
        })
        .collect())
}

/// A VM bridge on the management network's subnet would take its addresses from the LAN
/// the host is on and cut guests (or the host) off. Validate catches it for a static
/// address in the answer; here it is checked against what the host really has: vmbr0's
/// address in /etc/network/interfaces and its routes (from DHCP too).
fn no_overlap_with_the_host(cx: &Cx, b: &VmBridge, mgmt: &Mgmt) -> Result<()> {
    let mut seen: Vec<(Ipv4Cidr, &str)> = connected_subnets(cx, "vmbr0")?
        .into_iter()
        .map(|c| (c, "a route of vmbr0 in /proc/net/route"))
        .collect();
    if let Some(m) = &mgmt.cidr {
        seen.push((*m, "vmbr0's address"));
    }
    match seen.iter().find(|(c, _)| c.overlaps(&b.cidr)) {
        Some((c, whence)) => Err(Error::msg(format!(
            "[network.vm-bridge] cidr {}: overlaps the management network {} ({whence}); \
             guests would be cut off. Choose a subnet the LAN does not use",
            b.cidr,
            c.subnet()
        ))),
        None => Ok(()),
    }
}

/// The management address and gateway: vmbr0's stanza in /etc/network/interfaces (what the
/// installer really configured), else the answer's.
fn management(cx: &Cx) -> Result<Mgmt> {
    Ok(management_of(
        &cx.read(INTERFACES)?.unwrap_or_default(),
        cx.answer,
    ))
}

/// The management side from the text of /etc/network/interfaces (vmbr0's stanza), else
/// the answer's.
pub fn management_of(text: &str, answer: &Answer) -> Mgmt {
    let mut addr = None;
    let mut cidr = None;
    let mut gateway = None;
    let mut ports = Vec::new();
    let mut in_vmbr0 = false;
    for l in text.lines() {
        let t = l.trim();
        if t.starts_with("iface ") || t.starts_with("auto ") || t.starts_with("source") {
            in_vmbr0 = t.starts_with("iface vmbr0 ");
            continue;
        }
        if in_vmbr0 {
            if let Some(a) = t.strip_prefix("address ") {
                addr = a.split('/').next().and_then(|a| a.trim().parse().ok());
                cidr = Cidr::parse(a.trim()).ok().and_then(|c| c.v4());
            } else if let Some(g) = t.strip_prefix("gateway ") {
                gateway = Some(g.trim().to_string());
            } else if let Some(p) = t.strip_prefix("bridge-ports ") {
                ports = p
                    .split_whitespace()
                    .filter(|p| *p != "none")
                    .map(String::from)
                    .collect();
            }
        }
    }
    if let Some(n) = &answer.installer.network {
        if addr.is_none() {
            addr = n.cidr.v4().map(|c| c.addr);
            cidr = n.cidr.v4();
        }
        if gateway.is_none() {
            gateway = Some(n.gateway.to_string());
        }
    }
    Mgmt {
        addr,
        cidr,
        gateway,
        ports,
    }
}

/// `<management IP> <fqdn> <hostname>` exactly once (pve-cluster refuses to start when the
/// name resolves only to loopback), and no `127.0.1.1 <hostname>` line shadowing it.
fn hosts(cx: &mut Cx, mgmt: &Mgmt) -> Result<()> {
    let (Some(addr), Some(fqdn)) = (mgmt.addr, cx.answer.installer.fqdn.clone()) else {
        cx.results
            .push("/etc/hosts: left alone (the management address or name is not fixed)".into());
        return Ok(());
    };
    let short = fqdn.split('.').next().unwrap_or(&fqdn).to_string();
    let want = format!("{addr} {fqdn} {short}");
    let old = cx.read(HOSTS)?.unwrap_or_default();
    let mut out = String::new();
    let mut placed = false;
    for l in old.lines() {
        let words: Vec<&str> = l.split_whitespace().collect();
        let names_us = words.iter().skip(1).any(|w| *w == fqdn || *w == short);
        let is_comment = l.trim_start().starts_with('#');
        if !is_comment && names_us {
            // Our line replaces the first line that names this host; later ones
            // (127.0.1.1, an old address) go.
            if !placed && words.first() != Some(&"127.0.1.1") {
                out.push_str(&want);
                out.push('\n');
                placed = true;
            }
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    if !placed {
        // After the IPv4 loopback line, where the installer puts it.
        let mut with = String::new();
        let mut done = false;
        for l in out.lines() {
            with.push_str(l);
            with.push('\n');
            if !done && l.starts_with("127.0.0.1") {
                with.push_str(&want);
                with.push('\n');
                done = true;
            }
        }
        if !done {
            with.push_str(&want);
            with.push('\n');
        }
        out = with;
    }
    let mode = cx.host.file_mode(HOSTS)?.unwrap_or(0o644);
    cx.write(HOSTS, &out, mode)?;
    Ok(())
}

fn bridge_stanza(b: &VmBridge) -> String {
    format!(
        "{}# The VM network: guests on {name} reach the outside through NAT on vmbr0\n\
         # (rules: {NFT_FILE}, loaded by {NFT_UNIT}).\n\
         auto {name}\niface {name} inet static\n\taddress {cidr}\n\tbridge-ports none\n\tbridge-stp off\n\tbridge-fd 0\n",
        owned_header("network phase"),
        name = b.name,
        cidr = b.cidr,
    )
}

/// The bridge file, the `source` line, and `ifreload -a` with the gateway check; on a lost
/// gateway the previous files come back.
fn interfaces(cx: &mut Cx, b: &VmBridge, mgmt: &Mgmt, check: GatewayCheck) -> Result<()> {
    let old_main = cx.read(INTERFACES)?;
    let old_bridge = cx.read(BRIDGE_FILE)?;
    let Some(main) = old_main.clone() else {
        return Err(Error::msg(format!(
            "reading {INTERFACES}: not found (Proxmox configures its network with ifupdown2 there)"
        )));
    };
    let has_source = main.lines().any(|l| {
        let t = l.trim();
        t == SOURCE_LINE
            || t == "source-directory /etc/network/interfaces.d"
            || t == "source /etc/network/interfaces.d/*.cfg"
    });
    let mut changed = false;
    if !has_source {
        let mut m = main.clone();
        if !m.is_empty() && !m.ends_with('\n') {
            m.push('\n');
        }
        m.push_str(&format!("\n{SOURCE_LINE}\n"));
        let mode = cx.host.file_mode(INTERFACES)?.unwrap_or(0o644);
        changed |= cx.write(INTERFACES, &m, mode)?;
    }
    changed |= cx.write(BRIDGE_FILE, &bridge_stanza(b), 0o644)?;
    if !(changed || cx.resumed) {
        return Ok(());
    }
    cx.run(Cmd::new("ifreload").arg("-a"))?;
    let Some(gw) = &mgmt.gateway else {
        cx.results
            .push("gateway check skipped: vmbr0 has no gateway".into());
        return Ok(());
    };
    match check(cx, gw)? {
        Some(true) => cx
            .results
            .push(format!("management gateway {gw} answers after ifreload")),
        None => cx.results.push(format!(
            "management gateway {gw}: not checked (not a live host)"
        )),
        Some(false) => {
            let mut restored = Vec::new();
            let mode = cx.host.file_mode(INTERFACES)?.unwrap_or(0o644);
            cx.write(INTERFACES, &main, mode)?;
            restored.push(INTERFACES);
            match old_bridge {
                Some(t) => {
                    cx.write(BRIDGE_FILE, &t, 0o644)?;
                }
                None => {
                    cx.remove(BRIDGE_FILE)?;
                }
            }
            restored.push(BRIDGE_FILE);
            cx.run(Cmd::new("ifreload").arg("-a"))?;
            return Err(Error::msg(format!(
                "the management gateway {gw} did not answer after `ifreload -a`; restored the previous {} \
                 and ran `ifreload -a` again",
                restored.join(" and ")
            )));
        }
    }
    Ok(())
}

fn forward_sysctl(b: &VmBridge) -> String {
    format!(
        "{}# The VM network on {} is routed and NAT'd: the host must forward IPv4. A sysctl.d\n\
         # file, not a post-up echo, which any later `sysctl --system` would undo.\n\
         net.ipv4.ip_forward = 1\n",
        owned_header("network phase"),
        b.name
    )
}

/// The nftables table: masquerade out of vmbr0, DNAT for the forwards, and the matching
/// forward rules.
pub fn nft_rules(cfg: &NetworkCfg, b: &VmBridge, mgmt: &Mgmt) -> String {
    let subnet = b.cidr.subnet();
    let mut pre = String::new();
    let mut fwd = String::new();
    for f in &cfg.port_forwards {
        let Some(addr) = mgmt.addr else { break };
        let p = match f.protocol {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        pre.push_str(&format!(
            "\t\tip daddr {addr} {p} dport {} dnat ip to {}:{}\n",
            f.port, f.to, f.to_port
        ));
        fwd.push_str(&format!(
            "\t\tip daddr {} {p} dport {} ct status dnat accept\n",
            f.to, f.to_port
        ));
    }
    let masq = if b.nat {
        format!("\t\tip saddr {subnet} oifname \"vmbr0\" masquerade\n")
    } else {
        String::new()
    };
    let (isolation, input) = isolation_rules(b, mgmt);
    format!(
        "#!/usr/sbin/nft -f\n\
         {}\
         # Loaded by {NFT_UNIT}. Declaring and deleting the table first makes every load\n\
         # replace it whole and atomically: rules are never added twice.\n\
         table inet {NFT_TABLE}\n\
         delete table inet {NFT_TABLE}\n\
         \n\
         table inet {NFT_TABLE} {{\n\
         \tchain raw-prerouting {{\n\
         \t\ttype filter hook prerouting priority raw; policy accept;\n\
         \t\t# With the Proxmox firewall on a guest NIC, its traffic crosses a fwbr bridge\n\
         \t\t# twice; a conntrack zone of its own keeps NAT working (REFERENCE §6).\n\
         \t\tiifname \"fwbr*\" ct zone set 1\n\
         \t}}\n\
         \n\
         \tchain prerouting {{\n\
         \t\ttype nat hook prerouting priority dstnat; policy accept;\n\
         {pre}\
         \t}}\n\
         \n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         {masq}\
         \t}}\n\
         \n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tct state established,related accept\n\
         {fwd}\
         {isolation}\
         \t\tiifname \"{name}\" oifname \"vmbr0\" ip saddr {subnet} accept\n\
         \t}}\n\
         {input}\
         }}\n",
        owned_header("network phase"),
        name = b.name,
    )
}

/// `isolate`: guests reach the internet, not the management LAN or the host. Returns the
/// forward rules and the input chain. The drops count, so a test can see them work.
fn isolation_rules(b: &VmBridge, mgmt: &Mgmt) -> (String, String) {
    if !b.isolate {
        return (String::new(), String::new());
    }
    let name = &b.name;
    // Not even the gateway itself (the router's admin UI): routing through it needs no
    // rule (the packets are for the internet), and DNS is the host's dnsmasq. An exception
    // is an `allow` entry, named in the answer.
    let mut fwd = format!(
        "\t\t# Isolation: guests may talk to each other and reach the destinations allowed\n\
         \t\t# below, and nothing else on the management LAN (the gateway included).\n\
         \t\tiifname \"{name}\" oifname \"{name}\" accept\n"
    );
    for a in &b.allow {
        fwd.push_str(&format!(
            "\t\tiifname \"{name}\" ip daddr {} {} dport {} accept\n",
            a.ip, a.proto, a.port
        ));
    }
    if let Some(m) = &mgmt.cidr {
        fwd.push_str(&format!(
            "\t\tiifname \"{name}\" ip daddr {} counter drop\n",
            m.subnet()
        ));
    }
    let input = format!(
        "\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority filter; policy accept;\n\
         \t\t# Isolation: from the VM network the host answers DHCP, DNS and ping on its\n\
         \t\t# bridge address, and replies to what it asked itself; nothing else.\n\
         \t\tiifname \"{name}\" ct state established,related accept\n\
         \t\tiifname \"{name}\" udp dport 67 accept\n\
         \t\tiifname \"{name}\" ip daddr {addr} udp dport 53 accept\n\
         \t\tiifname \"{name}\" ip daddr {addr} tcp dport 53 accept\n\
         \t\tiifname \"{name}\" ip daddr {addr} icmp type echo-request accept\n\
         \t\tiifname \"{name}\" counter drop\n\
         \t}}\n",
        addr = b.cidr.addr
    );
    (fwd, input)
}

fn nat(cx: &mut Cx, cfg: &NetworkCfg, b: &VmBridge, mgmt: &Mgmt) -> Result<()> {
    if !cfg.port_forwards.is_empty() && mgmt.addr.is_none() {
        return Err(Error::msg(
            "port forwards need the management IPv4 address, and vmbr0 has none in /etc/network/interfaces",
        ));
    }
    if b.isolate && !b.allow.is_empty() {
        if let Some(m) = &mgmt.cidr {
            if let Some(a) = b.allow.iter().find(|a| !m.contains_host(a.ip)) {
                return Err(Error::msg(format!(
                    "allow {a}: not on the management LAN {} that vmbr0 is on",
                    m.subnet()
                )));
            }
        }
    }
    let rules = cx.write(NFT_FILE, &nft_rules(cfg, b, mgmt), 0o644)?;
    let unit = cx.install(&overlay::NAT_UNIT)?;
    if unit || cx.resumed {
        cx.run(Cmd::new("systemctl").arg("daemon-reload"))?;
        cx.run(Cmd::new("systemctl").args(["enable", NFT_UNIT]))?;
    }
    if rules || unit || cx.resumed {
        cx.run(Cmd::new("systemctl").args(["restart", NFT_UNIT]))?;
    }
    Ok(())
}

pub fn dnsmasq_conf(answer: &Answer, b: &VmBridge) -> Option<String> {
    let (first, last) = b.dhcp_range?;
    let mask = Ipv4Addr::from(b.cidr.mask());
    let mut c = format!(
        "{}# DHCP and DNS for the VM network on {name} only: never on vmbr0 or the LAN.\n\
         interface={name}\n\
         bind-interfaces\n\
         # The host's own resolvers are the upstream.\n\
         dhcp-range={first},{last},{mask},12h\n\
         dhcp-option=option:router,{addr}\n\
         dhcp-option=option:dns-server,{addr}\n\
         dhcp-authoritative\n\
         dhcp-leasefile=/var/lib/misc/pve-firstboot-{name}.leases\n",
        owned_header("network phase"),
        name = b.name,
        addr = b.cidr.addr,
    );
    if let Some(h) = &answer.haos {
        if let (Some(ip), true) = (h.ip, h.bridge == b.name) {
            c.push_str(&format!(
                "# The Home Assistant OS VM: its MAC is derived from the answer, as the haos phase sets it.\n\
                 dhcp-host={},{ip},haos\n",
                h.mac(answer.installer.fqdn.as_deref())
            ));
        }
    }
    for (mac, ip, name) in super::vms::leases(answer, &b.name) {
        c.push_str(&format!(
            "# VM {name} of [[vm]]: its MAC is derived from the answer, as the vms phase sets it.\n\
             dhcp-host={mac},{ip},{name}\n"
        ));
    }
    Some(c)
}

fn dhcp(cx: &mut Cx, b: &VmBridge) -> Result<()> {
    let Some(conf) = dnsmasq_conf(cx.answer, b) else {
        // No DHCP asked for: take ours away if an earlier answer had it.
        if cx.host.exists(overlay::DNSMASQ_UNIT.path) {
            cx.run(Cmd::new("systemctl").args(["disable", "--now", DNSMASQ_UNIT]))?;
            cx.remove(overlay::DNSMASQ_UNIT.path)?;
            cx.remove(DNSMASQ_CONF)?;
        }
        return Ok(());
    };
    // dnsmasq-base: the program without Debian's system-wide instance.
    cx.ensure_package(&["dnsmasq-base"], "/usr/sbin/dnsmasq")?;
    // Debian's own dnsmasq.service (package dnsmasq) answers on every interface, vmbr0
    // included, and holds port 53 everywhere; Proxmox's docs disable it for SDN too.
    if cx
        .host
        .exists("/etc/systemd/system/multi-user.target.wants/dnsmasq.service")
    {
        cx.run(Cmd::new("systemctl").args(["disable", "--now", "dnsmasq.service"]))?;
        cx.changes
            .push("disabled Debian's dnsmasq.service (it answers on every interface)".into());
    }
    let c = cx.write(DNSMASQ_CONF, &conf, 0o644)?;
    let u = cx.install(&overlay::DNSMASQ_UNIT)?;
    if u || cx.resumed {
        cx.run(Cmd::new("systemctl").arg("daemon-reload"))?;
        cx.run(Cmd::new("systemctl").args(["enable", DNSMASQ_UNIT]))?;
    }
    if c || u || cx.resumed {
        cx.run(Cmd::new("systemctl").args(["restart", DNSMASQ_UNIT]))?;
    }
    Ok(())
}

/// What is wrong with the management bridge right now: its port not enslaved, its address
/// or its default route missing. Empty when it is whole; `None` when not a live host.
fn management_faults(cx: &Cx, m: &Mgmt) -> Result<Option<Vec<String>>> {
    let addr = cx
        .host
        .query(&Cmd::new("ip").args(["-4", "-o", "addr", "show", "dev", "vmbr0"]))?;
    if addr.recorded {
        return Ok(None);
    }
    let route = match &m.gateway {
        Some(_) => {
            cx.host
                .query(&Cmd::new("ip").args(["-4", "route", "show", "default"]))?
                .stdout
        }
        None => String::new(),
    };
    Ok(Some(faults_of(m, &addr.stdout, &route, |p| {
        cx.host.exists(&format!("/sys/class/net/vmbr0/brif/{p}"))
    })))
}

/// The faults, from what `ip -4 -o addr show dev vmbr0` and `ip -4 route show default`
/// print and whether each port is in the bridge (`/sys/class/net/vmbr0/brif/<port>`).
fn faults_of(m: &Mgmt, addr: &str, routes: &str, in_bridge: impl Fn(&str) -> bool) -> Vec<String> {
    let mut faults = Vec::new();
    for p in &m.ports {
        if !in_bridge(p) {
            faults.push(format!("bridge port {p} is not in vmbr0"));
        }
    }
    match &m.cidr {
        Some(c) if !addr.contains(&format!(" inet {c} ")) => {
            faults.push(format!("vmbr0 lacks its address {c}"))
        }
        None if !addr.contains(" inet ") => faults.push("vmbr0 has no IPv4 address".into()),
        _ => {}
    }
    if let Some(gw) = &m.gateway {
        if !routes
            .lines()
            .any(|l| l.contains(&format!("via {gw} ")) && l.contains("dev vmbr0"))
        {
            faults.push(format!("no default route via {gw} on vmbr0"));
        }
    }
    faults
}

/// After the reboot, before anything else is judged: the management network is the one
/// thing the agent may never leave broken. A vmbr0 without its port, address or default
/// route (a NIC renamed after `networking.service` ran, for one) is brought up again with
/// `ifreload -a`; a failure here says what is still missing.
pub fn ensure_management(cx: &mut Cx) -> Result<()> {
    if !cx.host.exists(INTERFACES) {
        return Ok(());
    }
    let m = management(cx)?;
    let Some(faults) = management_faults(cx, &m)? else {
        cx.results
            .push("management network: not checked (not a live host)".into());
        return Ok(());
    };
    if faults.is_empty() {
        cx.results
            .push("management network: vmbr0 has its port, address and gateway".into());
        return Ok(());
    }
    log::warn!(
        "management network broken after the boot ({}); ifreload -a",
        faults.join("; ")
    );
    let reload = cx.host.run(&Cmd::new("ifreload").arg("-a"))?;
    // Links take a moment to come up and the route to follow them.
    let mut left = faults.clone();
    for _ in 0..10 {
        std::thread::sleep(std::time::Duration::from_secs(2));
        left = management_faults(cx, &m)?.unwrap_or_default();
        if left.is_empty() {
            break;
        }
    }
    if left.is_empty() {
        cx.results.push(format!(
            "management network: was broken after the boot ({}); brought up again with ifreload -a",
            faults.join("; ")
        ));
        Ok(())
    } else {
        Err(Error::msg(format!(
            "the management network is broken after the boot: {}; `ifreload -a` did not mend it{} \
             — use the console, check /etc/network/interfaces and run `ifreload -a`",
            left.join("; "),
            if reload.success() {
                String::new()
            } else {
                format!(" ({})", reload.stderr.trim())
            }
        )))
    }
}

/// Ping the gateway out of vmbr0; if ICMP is filtered, an ARP entry that resolved will do.
fn ping_gateway(cx: &Cx, gw: &str) -> Result<Option<bool>> {
    let ping = cx
        .host
        .query(&Cmd::new("ping").args(["-c", "2", "-W", "2", "-I", "vmbr0", gw]))?;
    if ping.recorded {
        return Ok(None);
    }
    if ping.success() {
        return Ok(Some(true));
    }
    let neigh = cx
        .host
        .query(&Cmd::new("ip").args(["-4", "neigh", "show", gw, "dev", "vmbr0"]))?;
    Ok(Some(neigh.stdout.contains("lladdr")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mgmt() -> Mgmt {
        Mgmt {
            addr: Some(Ipv4Addr::new(10, 0, 2, 15)),
            cidr: Cidr::parse("10.0.2.15/24").ok().and_then(|c| c.v4()),
            gateway: Some("10.0.2.2".into()),
            ports: vec!["enp0s2".into()],
        }
    }

    // As iproute2 prints them (`ip -4 -o addr show dev vmbr0`, `ip -4 route show default`).
    const ADDR: &str = "5: vmbr0    inet 10.0.2.15/24 scope global vmbr0\\       valid_lft forever preferred_lft forever\n";
    const ROUTE: &str = "default via 10.0.2.2 dev vmbr0 proto kernel onlink \n";

    /// Under isolation, the first forward rule that matches a guest's packet to the
    /// gateway (the router's admin UI on 80/443) is the subnet's drop; an `allow` entry
    /// opens exactly its port. The rules are read in order as nftables evaluates them.
    #[test]
    fn isolation_keeps_guests_off_the_routers_admin_ui() {
        let allow = crate::answer::Allow::parse("10.0.2.2:1883/tcp").unwrap();
        let b = VmBridge {
            name: "vmbr1".into(),
            cidr: Cidr::parse("10.0.100.1/24")
                .ok()
                .and_then(|c| c.v4())
                .unwrap(),
            nat: true,
            dhcp_range: None,
            isolate: true,
            allow: vec![allow],
        };
        let (fwd, _) = isolation_rules(&b, &mgmt());
        // The verdict of the first rule for packets from vmbr1 that names this address
        // (or its subnet) and, if it names one, this port.
        let verdict = |daddr: &str, port: u16| -> Option<&str> {
            fwd.lines().map(str::trim).find_map(|r| {
                let hits = r.starts_with("iifname \"vmbr1\"")
                    && !r.contains("oifname")
                    && (r.contains(&format!("ip daddr {daddr} "))
                        || r.contains("ip daddr 10.0.2.0/24 "))
                    && (!r.contains("dport") || r.contains(&format!("dport {port} ")));
                hits.then(|| r.rsplit(' ').next().unwrap())
            })
        };
        assert_eq!(verdict("10.0.2.2", 80), Some("drop"), "{fwd}");
        assert_eq!(verdict("10.0.2.2", 443), Some("drop"), "{fwd}");
        assert_eq!(verdict("10.0.2.2", 1883), Some("accept"), "{fwd}");
        assert_eq!(verdict("10.0.2.30", 22), Some("drop"), "{fwd}");
    }

    /// How `verify` learns vmbr0's port: /etc/network/interfaces as the installer writes it
    /// (ifupdown2 spells it `bridge-ports`), vmbr0's own stanza only (a VM bridge's
    /// `bridge-ports none` after it is not the management port); a vmbr0 without that port
    /// is then a fault, one with it is whole.
    #[test]
    fn the_management_port_is_read_from_vmbr0s_stanza() {
        let a = crate::answer::parse(
            "minimal.toml",
            include_bytes!("../../tests/answers/ok/minimal.toml"),
        )
        .unwrap_or_else(|r| panic!("{r}"))
        .answer;
        let text = "auto lo\niface lo inet loopback\n\niface eno1 inet manual\n\n\
                    auto vmbr0\niface vmbr0 inet static\n\taddress 10.0.2.15/24\n\
                    \tgateway 10.0.2.2\n\tbridge-ports eno1\n\tbridge-stp off\n\tbridge-fd 0\n\n\
                    auto vmbr1\niface vmbr1 inet static\n\taddress 10.0.100.1/24\n\
                    \tbridge-ports none\n\nsource /etc/network/interfaces.d/*\n";
        let m = management_of(text, &a);
        assert_eq!(m.ports, ["eno1"]);
        assert_eq!(m.addr, Some(Ipv4Addr::new(10, 0, 2, 15)));
        assert_eq!(m.gateway.as_deref(), Some("10.0.2.2"));
        assert!(faults_of(&m, ADDR, ROUTE, |p| p == "eno1").is_empty());
        assert_eq!(
            faults_of(&m, ADDR, ROUTE, |p| p != "eno1"),
            ["bridge port eno1 is not in vmbr0"]
        );
        let m = management_of(&text.replace("ports eno1", "ports bond0 eno2"), &a);
        assert_eq!(m.ports, ["bond0", "eno2"]);
    }

    #[test]
    fn a_whole_management_bridge_has_no_faults() {
        assert!(faults_of(&mgmt(), ADDR, ROUTE, |_| true).is_empty());
    }

    #[test]
    fn each_missing_part_is_named() {
        // The trixie boot that ran networking.service before udev renamed the NIC: the
        // bridge came up without its port; the address and route may still be there.
        let f = faults_of(&mgmt(), ADDR, ROUTE, |_| false);
        assert_eq!(f, ["bridge port enp0s2 is not in vmbr0"]);
        let f = faults_of(&mgmt(), "", "", |_| true);
        assert_eq!(
            f,
            [
                "vmbr0 lacks its address 10.0.2.15/24",
                "no default route via 10.0.2.2 on vmbr0"
            ]
        );
        // A default route on another device does not count; nor does a longer address.
        let f = faults_of(
            &mgmt(),
            "5: vmbr0    inet 10.0.2.150/24 scope global vmbr0\n",
            "default via 10.0.2.2 dev enp0s2\n",
            |_| true,
        );
        assert_eq!(f.len(), 2, "{f:?}");
    }
}
