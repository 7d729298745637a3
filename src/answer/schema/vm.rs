//! `[[vm]]`: guests from a cloud image (`[vm.cloud-init]`) or with an empty disk (a GPU or
//! Windows VM), each made once by the `vms` phase.

use std::net::Ipv4Addr;

use super::haos::{read_storage, read_usb};
use super::installer::check_ssh_key;
use super::storage::storage_id_ok;
use super::*;
use crate::answer::reader::{Checker, Sp, Tbl};

/// qemu-server `src/PVE/QemuServer.pm`, `ostype`: the enum of guest types.
const OSTYPES: &[&str] = &[
    "other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11", "l24",
    "l26", "solaris",
];

/// Where each value the cross-table rules judge sits.
struct At {
    vmid: Range<usize>,
    name: Range<usize>,
    bridge: Range<usize>,
    ip: Option<Range<usize>>,
    hostpci: Vec<Range<usize>>,
}

/// A VM name as qemu-server takes it (`name`, format `dns-name` of pve-common's
/// JSONSchema: labels of letters, digits and inner hyphens, joined by dots).
pub(super) fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// A Debian package name (Debian Policy 5.6.1): lower case letters, digits, `+ - .`, at
/// least two characters, starting with a letter or digit.
fn package_ok(s: &str) -> bool {
    s.len() >= 2
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

/// A Linux user name as Debian's adduser accepts it by default: a lower-case letter or
/// `_` first, then lower-case letters, digits, `_` and `-`, at most 32 bytes.
fn user_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && s != "root"
}

/// A volume on a Proxmox storage that holds an ISO: `STORAGE:iso/FILE.iso` (pve-storage
/// `src/PVE/Storage/Plugin.pm` `parse_volname`: `iso/<name>.iso` or `.img`).
fn iso_ok(s: &str) -> bool {
    let Some((store, vol)) = s.split_once(':') else {
        return false;
    };
    let Some(file) = vol.strip_prefix("iso/") else {
        return false;
    };
    storage_id_ok(store)
        && !file.is_empty()
        && !file.contains('/')
        && (file.ends_with(".iso") || file.ends_with(".img"))
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b))
}

/// A sha256 or sha512 key: hex of the file as it is downloaded.
fn read_sum(c: &mut Checker, t: &mut Tbl) -> Option<String> {
    let mut out = None;
    for (key, len) in [("sha256", 64), ("sha512", 128)] {
        if let Some(s) = t.string(c, key) {
            if s.v.len() != len || !s.v.bytes().all(|b| b.is_ascii_hexdigit()) {
                c.error(
                    &s.span,
                    &t.key_path(key),
                    format!("must be {len} hex digits (the {key} of the image file as downloaded)"),
                );
            } else if is_placeholder_sum(&s.v) {
                let name = if key == "sha512" {
                    "SHA-512"
                } else {
                    "SHA-256"
                };
                c.error(&s.span, &t.key_path(key), placeholder_message(name));
            } else if out.is_some() {
                c.error(&s.span, &t.key_path(key), "give sha256 or sha512, not both");
            } else {
                out = Some(s.v.to_ascii_lowercase());
            }
        }
    }
    out
}

fn read_cloud_init(c: &mut Checker, t: &mut Tbl, root_keys: &[String]) -> Option<CloudInit> {
    let allow_unpinned = t.bool(c, "allow-unpinned").is_some_and(|b| b.v);
    let sum = read_sum(c, t);
    let url = t
        .peek_str("image")
        .is_some_and(|i| i.starts_with("https://") || i.starts_with("http://"));
    if sum.is_none() && !allow_unpinned && !t.has("sha256") && !t.has("sha512") {
        if url {
            // `image` reads the publisher's SHA512SUMS/SHA256SUMS next to it.
            c.warning(
                &t.key_span("image"),
                &t.key_path("sha512"),
                "not pinned yet: `pve-firstboot image` fills in the checksum from the \
                 publisher's SHA512SUMS or SHA256SUMS next to the image when it builds the hook \
                 (`pve-firstboot pin FILE` writes it into the file); a host given this answer unpinned refuses \
                 the download",
            );
        } else {
            t.missing(
                c,
                "sha512",
                "sha512 or sha256 of the image file on the host; or allow-unpinned = true",
            );
        }
    } else if sum.is_none() && allow_unpinned {
        c.warning(
            &t.key_span("allow-unpinned"),
            &t.key_path("allow-unpinned"),
            "the image is not checked against a known checksum (the computed SHA-256 is recorded in the state)",
        );
    }
    let image = match t.req_string(
        c,
        "image",
        "the cloud image: an https:// URL or a path on the host",
    ) {
        Some(i) => super::haos::image_source(c, t, &i, sum.is_some(), "sha256 or sha512"),
        None => None,
    };
    let user = t.string(c, "user").and_then(|u| {
        if user_ok(&u.v) {
            Some(u.v)
        } else {
            c.error(
                &u.span,
                &t.key_path("user"),
                format!(
                    "\"{}\" is not a user name for the guest: lower-case letters, digits, _ and -, a letter first, at most 32, not root",
                    u.v
                ),
            );
            None
        }
    });
    let ssh_keys = read_ssh_keys(c, t).unwrap_or_else(|| root_keys.to_vec());
    if ssh_keys.is_empty() {
        c.warning(
            &t.span,
            &t.key_path("ssh-keys"),
            "no ssh key for the guest (none here, none in installer.global.root-ssh-keys): only the console gets in",
        );
    }
    let packages = t.strings(c, "packages").unwrap_or_default();
    for (i, p) in packages.iter().enumerate() {
        if !package_ok(&p.v) {
            c.error(
                &p.span,
                &format!("{}[{i}]", t.key_path("packages")),
                format!("\"{}\" is not a Debian package name", p.v),
            );
        }
    }
    Some(CloudInit {
        image: image?,
        sum,
        allow_unpinned,
        user,
        ssh_keys,
        packages: packages.into_iter().map(|p| p.v).collect(),
    })
}

fn read_one(c: &mut Checker, t: &mut Tbl, ctx: &VmCtx) -> Option<(VmCfg, At)> {
    let vmid_v = read_vmid(c, t, "VM");
    let name = t.req_string(c, "name", "the VM's name, e.g. \"docker\"").and_then(|n| {
        if name_ok(&n.v) {
            Some(n.v)
        } else {
            c.error(
                &n.span,
                &t.key_path("name"),
                format!(
                    "\"{}\" is not a VM name for Proxmox (a DNS name: letters, digits and inner hyphens, dot-separated)",
                    n.v
                ),
            );
            None
        }
    });
    let ostype = t
        .one_of(c, "ostype", OSTYPES)
        .map_or("l26", |o| o.v)
        .to_string();
    let bios = match t.one_of(c, "bios", &["ovmf", "seabios"]) {
        Some(Sp { v: "seabios", span }) => {
            if matches!(ostype.as_str(), "win11") {
                c.error(
                    &span,
                    &t.key_path("bios"),
                    "Windows 11 needs UEFI with Secure Boot; use ovmf (the default)",
                );
            }
            Bios::Seabios
        }
        _ => Bios::Ovmf,
    };
    let cores = t
        .int(c, "cores", 1..=128, "cores")
        .map_or(2, |v| v.v as u32);
    let memory = t
        .int(c, "memory", 512..=4_194_304, "memory (MiB)")
        .map_or(2048, |v| v.v as u32);
    let disk_size = match t.string(c, "disk-size") {
        Some(d) if parse_size_gib(&d.v).is_none_or(|g| g < 1.0) => {
            c.error(
                &d.span,
                &t.key_path("disk-size"),
                format!("\"{}\" is not a size of at least 1G such as \"64G\" (a whole number with M, G or T)", d.v),
            );
            d.v
        }
        Some(d) => d.v,
        None => "32G".into(),
    };
    let storage = read_storage(c, t, ctx.installer, "images");
    let (bridge, bridge_at) = read_bridge(c, t, ctx.network);
    let (ip, ip_at) = read_ip(c, t);
    let start = t.bool(c, "start").is_none_or(|b| b.v);
    let iso = t.string(c, "iso").and_then(|i| {
        if iso_ok(&i.v) {
            Some(i.v)
        } else {
            c.error(
                &i.span,
                &t.key_path("iso"),
                format!(
                    "\"{}\" is not an ISO volume such as \"local:iso/Win11_24H2.iso\"",
                    i.v
                ),
            );
            None
        }
    });
    let mut hostpci = Vec::new();
    let mut hostpci_at = Vec::new();
    let list = t.strings(c, "hostpci").unwrap_or_default();
    for (i, d) in list.iter().enumerate() {
        let key = format!("{}[{i}]", t.key_path("hostpci"));
        match DeviceSel::parse(&d.v) {
            Ok(s) if hostpci.contains(&s) => {
                c.error(&d.span, &key, format!("\"{}\" is listed twice", d.v))
            }
            Ok(s) => {
                hostpci.push(s);
                hostpci_at.push(d.span.clone());
            }
            Err(e) => c.error(&d.span, &key, e),
        }
    }
    // qemu-server `src/PVE/QemuServer/PCI.pm`: $MAX_HOSTPCI_DEVICES = 16.
    if list.len() > 16 {
        c.error(
            &t.key_span("hostpci"),
            &t.key_path("hostpci"),
            format!(
                "{} devices; a VM takes at most 16 (hostpci0 to hostpci15)",
                list.len()
            ),
        );
    }
    let usb = read_usb(c, t);
    if let (Some(_), true) = (&iso, t.has("cloud-init")) {
        c.error(
            &t.key_span("iso"),
            &t.key_path("iso"),
            "a cloud-init VM boots its cloud image (and its cloud-init drive takes ide2); iso is for a VM with an empty disk",
        );
    }
    let cloud_init = match t.table(c, "cloud-init") {
        Some(mut ci) => {
            let r = read_cloud_init(c, &mut ci, ctx.root_keys);
            ci.finish(c);
            Some(r?)
        }
        None => None,
    };
    Some((
        VmCfg {
            vmid: vmid_v.as_ref()?.v as u32,
            name: name?,
            ostype,
            bios,
            cores,
            memory,
            disk_size,
            storage,
            bridge,
            ip,
            start,
            iso,
            hostpci,
            usb,
            cloud_init,
        },
        At {
            vmid: vmid_v?.span,
            name: t.key_span("name"),
            bridge: bridge_at,
            ip: ip_at,
            hostpci: hostpci_at,
        },
    ))
}

/// What the `[[vm]]` rules look at in the other tables.
pub(super) struct VmCtx<'a> {
    pub network: Option<&'a NetworkCfg>,
    pub installer: Option<&'a Installer>,
    pub passthrough: Option<&'a Passthrough>,
    pub haos: Option<&'a Haos>,
    pub root_keys: &'a [String],
}

/// Whether passthrough's selector `p` takes every device hostpci's `h` names, as far as
/// the answer alone tells: the same selector, or a function of a slot it takes whole.
fn covers(p: &DeviceSel, h: &DeviceSel) -> bool {
    if p == h {
        return true;
    }
    matches!((p, h), (DeviceSel::Slot { domain, bus, dev }, DeviceSel::Function { domain: d2, bus: b2, dev: v2, .. })
        if (domain, bus, dev) == (d2, b2, v2))
}

/// Whether two hostpci selectors may name the same device (selectors of different kinds,
/// `gpu` or an ID, can only be compared on the host: counted as sharing).
fn may_share(a: &DeviceSel, b: &DeviceSel) -> bool {
    let slot = |s: &DeviceSel| match s {
        DeviceSel::Slot { domain, bus, dev }
        | DeviceSel::Function {
            domain, bus, dev, ..
        } => Some((*domain, *bus, *dev)),
        _ => None,
    };
    match (a, b) {
        (DeviceSel::Function { func: f1, .. }, DeviceSel::Function { func: f2, .. }) => {
            slot(a) == slot(b) && f1 == f2
        }
        _ => match (slot(a), slot(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b || !matches!((a, b), (DeviceSel::Id { .. }, DeviceSel::Id { .. })),
        },
    }
}

pub(super) fn read_vms(c: &mut Checker, root: &mut Tbl, ctx: &VmCtx) -> Vec<VmCfg> {
    read_each(
        c,
        root,
        "vm",
        |c, t| read_one(c, t, ctx),
        |c, i, v, at, out| check(c, i, v, at, out, ctx),
    )
}

/// Every `[[key]]` table read by `read_one`, each then checked against those before it by
/// `check`; in file order.
pub(super) fn read_each<T, A>(
    c: &mut Checker,
    root: &mut Tbl,
    key: &'static str,
    read_one: impl Fn(&mut Checker, &mut Tbl) -> Option<(T, A)>,
    check: impl Fn(&mut Checker, usize, &T, &A, &[(T, A)]),
) -> Vec<T> {
    let mut out: Vec<(T, A)> = Vec::new();
    for (i, mut t) in root.tables(c, key).into_iter().enumerate() {
        let read = read_one(c, &mut t);
        t.finish(c);
        let Some((v, at)) = read else { continue };
        check(c, i, &v, &at, &out);
        out.push((v, at));
    }
    out.into_iter().map(|(v, _)| v).collect()
}

/// A guest's required `vmid` (pve-common's `pve-vmid`: 100 to 999999999); `noun` says whose.
pub(super) fn read_vmid(c: &mut Checker, t: &mut Tbl, noun: &str) -> Option<Sp<i64>> {
    if t.has("vmid") {
        return t.int(c, "vmid", 100..=999_999_999, "vmid");
    }
    t.raw("vmid");
    t.missing(c, "vmid", &format!("the {noun}'s ID, 100 to 999999999"));
    None
}

/// A guest's `bridge` and where it is said: the VM bridge by default, else vmbr0.
pub(super) fn read_bridge(
    c: &mut Checker,
    t: &mut Tbl,
    network: Option<&NetworkCfg>,
) -> (String, Range<usize>) {
    match t.string(c, "bridge") {
        Some(b) => (b.v, b.span),
        None => (
            network
                .and_then(|n| n.vm_bridge.as_ref())
                .map_or("vmbr0".to_string(), |b| b.name.clone()),
            t.span.clone(),
        ),
    }
}

/// `ssh-keys`, each an OpenSSH public key; `None` when the key is not there.
pub(super) fn read_ssh_keys(c: &mut Checker, t: &mut Tbl) -> Option<Vec<String>> {
    let keys = t.strings(c, "ssh-keys")?;
    for (i, k) in keys.iter().enumerate() {
        if let Err(e) = check_ssh_key(&k.v) {
            c.error(&k.span, &format!("{}[{i}]", t.key_path("ssh-keys")), e);
        }
    }
    Some(keys.into_iter().map(|k| k.v).collect())
}

/// The rules between one `[[vm]]` and the rest of the answer.
fn check(c: &mut Checker, i: usize, v: &VmCfg, at: &At, earlier: &[(VmCfg, At)], ctx: &VmCtx) {
    let key = |k: &str| format!("vm[{i}].{k}");
    if ctx.haos.is_some_and(|h| h.vmid == v.vmid) {
        c.error(
            &at.vmid,
            &key("vmid"),
            format!("{} is already the [haos] VM's", v.vmid),
        );
    }
    if let Some(j) = earlier.iter().position(|(e, _)| e.vmid == v.vmid) {
        c.error(
            &at.vmid,
            &key("vmid"),
            format!("{} is already vm[{j}]'s", v.vmid),
        );
    }
    // The name is also the guest's host name in dnsmasq (`dhcp-host=MAC,IP,NAME`) and
    // cloud-init: two guests may not share one, nor take HAOS's.
    if ctx.haos.is_some() && v.name.eq_ignore_ascii_case("haos") {
        c.error(&at.name, &key("name"), "\"haos\" is the [haos] VM's name");
    }
    if let Some(j) = earlier
        .iter()
        .position(|(e, _)| e.name.eq_ignore_ascii_case(&v.name))
    {
        c.error(
            &at.name,
            &key("name"),
            format!("\"{}\" is already vm[{j}]'s name", v.name),
        );
    }
    let bridge = ctx.network.and_then(|n| n.vm_bridge.as_ref());
    let ip = v.ip.zip(at.ip.as_ref());
    guest_net(c, &format!("vm[{i}]"), (&v.bridge, &at.bridge), ip, bridge);
    if let Some((ip, ip_at)) = ip {
        if ctx.haos.is_some_and(|h| h.ip == Some(ip)) {
            c.error(
                ip_at,
                &key("ip"),
                format!("{ip} is already the [haos] VM's"),
            );
        }
        if let Some(j) = earlier.iter().position(|(e, _)| e.ip == Some(ip)) {
            c.error(ip_at, &key("ip"), format!("{ip} is already vm[{j}]'s"));
        }
    }
    for (k, (h, h_at)) in v.hostpci.iter().zip(&at.hostpci).enumerate() {
        let hkey = format!("vm[{i}].hostpci[{k}]");
        match ctx.passthrough {
            None => c.error(
                h_at,
                &hkey,
                format!("\"{h}\": a VM gets only devices the host hands over; add a [passthrough] table with it in devices"),
            ),
            Some(p) if !p.devices.iter().any(|d| covers(d, h)) => c.error(
                h_at,
                &hkey,
                format!(
                    "\"{h}\" is not among the devices [passthrough] binds ({}); list it there too, written the same way",
                    p.devices.iter().map(|d| format!("\"{d}\"")).collect::<Vec<_>>().join(", ")
                ),
            ),
            _ => {}
        }
        if v.bios != Bios::Ovmf {
            c.error(
                h_at,
                &hkey,
                "PCI passthrough here needs a UEFI guest on q35 (pcie=1); remove bios = \"seabios\"",
            );
        }
        if v.start {
            for (j, (e, _)) in earlier.iter().enumerate() {
                if e.start && e.hostpci.iter().any(|o| may_share(o, h)) {
                    c.error(
                        h_at,
                        &hkey,
                        format!(
                            "\"{h}\" may be vm[{j}]'s too, and both start at boot; a device goes to one running VM: set start = false on one"
                        ),
                    );
                }
            }
        }
    }
}

/// An `ip` key: the guest's static lease; its value and where it sits.
pub(super) fn read_ip(c: &mut Checker, t: &mut Tbl) -> (Option<Ipv4Addr>, Option<Range<usize>>) {
    let Some(s) = t.string(c, "ip") else {
        return (None, None);
    };
    let ip = s.v.parse::<Ipv4Addr>().ok();
    if ip.is_none() {
        c.error(
            &s.span,
            &t.key_path("ip"),
            format!("\"{}\" is not an IPv4 address", s.v),
        );
    }
    (ip, Some(s.span))
}

/// A guest's bridge and static lease against the network: the bridge exists; the address
/// is a guest address of the VM subnet, outside dhcp-range (where dnsmasq could hand it to
/// another guest), on the VM bridge, which must serve DHCP. `table` is `haos` or `vm[N]`.
pub fn guest_net(
    c: &mut Checker,
    table: &str,
    (bridge, bridge_at): (&str, &Range<usize>),
    ip: Option<(Ipv4Addr, &Range<usize>)>,
    vb: Option<&VmBridge>,
) {
    let key = |k: &str| format!("{table}.{k}");
    let names: Vec<&str> = std::iter::once("vmbr0")
        .chain(vb.map(|b| b.name.as_str()))
        .collect();
    if !names.contains(&bridge) {
        c.error(
            bridge_at,
            &key("bridge"),
            format!(
                "bridge \"{bridge}\" does not exist; use one of: {}",
                names.join(", ")
            ),
        );
    }
    let Some((ip, at)) = ip else { return };
    let Some(b) = vb.filter(|b| b.name == bridge) else {
        c.error(
            at,
            &key("ip"),
            "a fixed address needs the VM on the NAT'd VM bridge (its DHCP server hands it out); \
             remove ip or set bridge to the vm-bridge name",
        );
        return;
    };
    if !b.cidr.contains_host(ip) || ip == b.cidr.addr {
        c.error(
            at,
            &key("ip"),
            format!(
                "{ip} is not a guest address in the VM subnet {}",
                b.cidr.subnet()
            ),
        );
    }
    match b.dhcp_range {
        None => c.error(
            at,
            &key("ip"),
            "is handed out as a static DHCP lease; set network.vm-bridge.dhcp-range too",
        ),
        Some((lo, hi)) if (u32::from(lo)..=u32::from(hi)).contains(&u32::from(ip)) => c.error(
            at,
            &key("ip"),
            format!(
                "{ip} is inside dhcp-range {lo} to {hi}, where dnsmasq may hand it to another \
                 guest; pick one outside it"
            ),
        ),
        _ => {}
    }
}
