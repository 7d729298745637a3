//! `pve-firstboot probe`: what this machine has, in the terms an answer file uses — disks
//! and NICs with the udev properties the installer's filters match, PCI displays, audio and
//! USB controllers by name with their IOMMU groups and the boot VGA device, USB devices —
//! and a starter answer for it. Read-only, through the host boundary (so `--root` reads a
//! fixture tree), and never a command: udev's database is read as files.
//!
//! What the installer itself sees: pve-installer `proxmox-auto-install-assistant`
//! (`get_disks`, `get_nics`: `/sys/block` without ram, loop, md, dm-, fd and sr devices,
//! and only `DEVTYPE=disk`; every link but `lo`; each with `udevadm info`'s `E:` properties).

use std::collections::BTreeMap;

use crate::error::Result;
use crate::host::Host;
use crate::pci::{self, PciDevice};
use crate::status::{js, js_list, printable, toml_str};

/// Block devices the installer never offers (its `unwanted_block_devs`).
const UNWANTED_BLOCK: [&str; 6] = ["ram", "loop", "md", "dm-", "fd", "sr"];
/// Where pciutils and hwdata keep the PCI ID database.
const PCI_IDS: [&str; 2] = ["/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids"];

#[derive(Debug, Clone)]
pub struct Disk {
    pub name: String,
    pub bytes: u64,
    pub model: String,
    pub removable: bool,
    pub rotational: bool,
    pub udev: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Nic {
    pub name: String,
    pub mac: String,
    pub driver: Option<String>,
    pub link: String,
    pub udev: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Usb {
    /// The port path (`1-2.3`), as `usb = [...]` takes it.
    pub path: String,
    /// `vendor:product`.
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Pci {
    pub dev: PciDevice,
    pub name: Option<String>,
    /// Other devices in its IOMMU group (bridges included).
    pub group_peers: Vec<String>,
    /// Those of them that are neither functions of its slot nor bridges: passing it
    /// through would take them from the host (`qm start` binds the whole group).
    pub strangers: Vec<String>,
}

pub struct Probe {
    pub disks: Vec<Disk>,
    pub nics: Vec<Nic>,
    pub pci: Vec<Pci>,
    pub usb: Vec<Usb>,
    pub iommu: bool,
}

/// `E:KEY=VALUE` lines of a udev database entry (`/run/udev/data/<id>`); the database
/// format of systemd's `udevadm info --query all` output without the space.
pub(crate) fn udev_props(host: &Host, id: &str) -> Result<BTreeMap<String, String>> {
    let text = host
        .read_text(&format!("/run/udev/data/{id}"))?
        .unwrap_or_default();
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix("E:"))
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

fn attr(host: &Host, path: &str) -> Result<String> {
    Ok(host.read_text(path)?.unwrap_or_default().trim().to_string())
}

fn disks(host: &Host) -> Result<Vec<Disk>> {
    let mut out = Vec::new();
    let mut names = host.list_dir("/sys/block")?;
    names.sort();
    for name in names {
        if UNWANTED_BLOCK.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let base = format!("/sys/block/{name}");
        let udev = udev_props(host, &format!("b{}", attr(host, &format!("{base}/dev"))?))?;
        if udev.get("DEVTYPE").is_some_and(|t| t != "disk")
            || udev.contains_key("ID_CDROM")
            || udev.get("ID_FS_TYPE").is_some_and(|t| t == "iso9660")
        {
            continue;
        }
        let sectors: u64 = attr(host, &format!("{base}/size"))?.parse().unwrap_or(0);
        out.push(Disk {
            bytes: sectors * 512,
            model: attr(host, &format!("{base}/device/model"))?,
            removable: attr(host, &format!("{base}/removable"))? == "1",
            rotational: attr(host, &format!("{base}/queue/rotational"))? == "1",
            udev,
            name,
        });
    }
    Ok(out)
}

fn nics(host: &Host) -> Result<Vec<Nic>> {
    let mut out = Vec::new();
    let mut names = host.list_dir("/sys/class/net")?;
    names.sort();
    for name in names {
        let base = format!("/sys/class/net/{name}");
        // Physical NICs only: bridges, bonds, taps and lo have no `device`.
        if name == "lo" || !host.exists(&format!("{base}/device")) {
            continue;
        }
        let udev = udev_props(
            host,
            &format!("n{}", attr(host, &format!("{base}/ifindex"))?),
        )?;
        out.push(Nic {
            mac: attr(host, &format!("{base}/address"))?,
            driver: host
                .read_link(&format!("{base}/device/driver"))?
                .and_then(|t| t.rsplit('/').next().map(String::from)),
            link: attr(host, &format!("{base}/operstate"))?,
            udev,
            name,
        });
    }
    Ok(out)
}

fn usb(host: &Host) -> Result<Vec<Usb>> {
    let base = "/sys/bus/usb/devices";
    let mut out = Vec::new();
    let mut names = host.list_dir(base)?;
    names.sort();
    for name in names {
        // Devices are `bus-port(.port)*`; `usbN` are root hubs, `x-y:c.i` interfaces.
        if name.starts_with("usb") || name.contains(':') {
            continue;
        }
        let d = format!("{base}/{name}");
        let (v, p) = (
            attr(host, &format!("{d}/idVendor"))?,
            attr(host, &format!("{d}/idProduct"))?,
        );
        if v.is_empty() {
            continue;
        }
        let name_of = [
            attr(host, &format!("{d}/manufacturer"))?,
            attr(host, &format!("{d}/product"))?,
        ]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
        out.push(Usb {
            id: format!("{v}:{p}"),
            name: name_of,
            path: name,
        });
    }
    Ok(out)
}

/// Names of the given vendor:device IDs from pci.ids (`vvvv  Vendor`, then
/// `\tdddd  Device` lines under it).
fn pci_names(host: &Host, devs: &[PciDevice]) -> Result<BTreeMap<(u16, u16), String>> {
    let mut text = None;
    for p in PCI_IDS {
        if let Some(t) = host.read_text(p)? {
            text = Some(t);
            break;
        }
    }
    let mut out = BTreeMap::new();
    let Some(text) = text else { return Ok(out) };
    let mut vendor: Option<(u16, String)> = None;
    for l in text.lines() {
        if l.starts_with('C') && l.as_bytes().get(1) == Some(&b' ') {
            break; // the device classes follow the vendors
        }
        if l.starts_with('#') || l.is_empty() || l.starts_with("\t\t") {
            continue;
        }
        let (tab, rest) = match l.strip_prefix('\t') {
            Some(r) => (true, r),
            None => (false, l),
        };
        let Some((id, name)) = rest.split_once("  ") else {
            continue;
        };
        let Ok(id) = u16::from_str_radix(id, 16) else {
            continue;
        };
        if !tab {
            vendor = devs
                .iter()
                .any(|d| d.vendor == id)
                .then(|| (id, name.to_string()));
        } else if let Some((v, vname)) = &vendor {
            if devs.iter().any(|d| d.vendor == *v && d.device == id) {
                out.insert((*v, id), format!("{vname} {name}"));
            }
        }
    }
    Ok(out)
}

pub fn probe(host: &Host) -> Result<Probe> {
    let all = pci::scan(host)?;
    let names = pci_names(host, &all)?;
    let mut pci_out = Vec::new();
    for d in &all {
        // Displays, audio, USB controllers, NICs and storage: what one passes through.
        if !matches!(d.class >> 16, 0x01 | 0x02 | 0x03 | 0x04 | 0x0c) {
            continue;
        }
        let group_peers = match &d.iommu_group {
            Some(g) => pci::group_members(host, g)?
                .into_iter()
                .filter(|m| *m != d.addr)
                .collect(),
            None => Vec::new(),
        };
        let strangers = group_peers
            .iter()
            .filter(|m| {
                all.iter()
                    .find(|x| x.addr == **m)
                    .is_none_or(|x| x.slot() != d.slot() && !x.is_bridge())
            })
            .cloned()
            .collect();
        pci_out.push(Pci {
            name: names.get(&(d.vendor, d.device)).cloned(),
            dev: d.clone(),
            group_peers,
            strangers,
        });
    }
    Ok(Probe {
        disks: disks(host)?,
        nics: nics(host)?,
        pci: pci_out,
        usb: usb(host)?,
        iommu: !host.list_dir("/sys/kernel/iommu_groups")?.is_empty(),
    })
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// The udev properties an answer's filters usually match, in the order worth trying.
const FILTER_KEYS: [&str; 6] = [
    "ID_SERIAL",
    "ID_MODEL",
    "ID_WWN",
    "ID_NET_NAME_MAC",
    "ID_NET_NAME_PATH",
    "ID_VENDOR_FROM_DATABASE",
];

fn filter_props(udev: &BTreeMap<String, String>) -> String {
    FILTER_KEYS
        .iter()
        .filter_map(|k| udev.get(*k).map(|v| format!("{k}={}", printable(v, false))))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The filter properties on a line of their own, or nothing where udev knows none; then
/// the disk's stable name, as a `[[storage]] disks` entry takes it.
fn props_line(udev: &BTreeMap<String, String>) -> String {
    let p = filter_props(udev);
    let mut out = if p.is_empty() {
        String::new()
    } else {
        format!("           {p}\n")
    };
    if let Some(id) = by_id(udev) {
        out.push_str(&format!(
            "           /dev/disk/by-id/{}   (a [[storage]] disks entry)\n",
            printable(&id, false)
        ));
    }
    out
}

/// The name udev gives a disk under `/dev/disk/by-id/`: `<ID_BUS>-<ID_SERIAL>` (systemd's
/// `60-persistent-storage.rules`), where udev knows both.
pub(crate) fn by_id(udev: &BTreeMap<String, String>) -> Option<String> {
    match (udev.get("ID_BUS"), udev.get("ID_SERIAL")) {
        (Some(b), Some(s)) if !b.is_empty() && !s.is_empty() => Some(format!("{b}-{s}")),
        _ => None,
    }
}

pub fn text(p: &Probe) -> String {
    let heading = |o: &mut String, title: &str, empty: bool| {
        o.push_str(title);
        o.push_str(if empty { ":\n  none\n" } else { ":\n" });
    };
    let mut o = String::new();
    heading(
        &mut o,
        "Disks (what [installer.disk-setup] disk-list and filter match)",
        p.disks.is_empty(),
    );
    for d in &p.disks {
        o.push_str(&format!(
            "  {:<8} {:>10}  {}{}{}\n{}",
            printable(&d.name, false),
            gib(d.bytes),
            if d.model.is_empty() {
                "?".into()
            } else {
                printable(&d.model, false)
            },
            if d.rotational { ", rotational" } else { "" },
            if d.removable { ", removable" } else { "" },
            props_line(&d.udev)
        ));
    }
    heading(
        &mut o,
        "NICs (what [installer.network] filter matches)",
        p.nics.is_empty(),
    );
    for n in &p.nics {
        o.push_str(&format!(
            "  {:<12} {}  driver {}, link {}\n{}",
            printable(&n.name, false),
            printable(&n.mac, false),
            printable(n.driver.as_deref().unwrap_or("none"), false),
            printable(&n.link, false),
            props_line(&n.udev)
        ));
    }
    o.push_str(&format!(
        "PCI devices ([passthrough] devices){}:\n",
        if p.iommu {
            ""
        } else {
            " — the IOMMU is off (enable VT-d or AMD-Vi in the firmware)"
        }
    ));
    for c in &p.pci {
        let d = &c.dev;
        let mut notes = Vec::new();
        if d.boot_vga {
            notes.push("boot VGA (the host's console)".to_string());
        }
        if d.is_bmc_display() {
            notes.push("BMC display".to_string());
        }
        notes.push(match &d.iommu_group {
            Some(g) if c.group_peers.is_empty() => {
                format!("IOMMU group {} alone", printable(g, false))
            }
            Some(g) => format!(
                "IOMMU group {} with {}",
                printable(g, false),
                printable(&c.group_peers.join(", "), false)
            ),
            None => "no IOMMU group".to_string(),
        });
        o.push_str(&format!(
            "  {} [{}] {}\n           class {:06x}, driver {}; {}\n",
            printable(&d.addr, false),
            d.id(),
            printable(c.name.as_deref().unwrap_or("(not in pci.ids)"), false),
            d.class,
            printable(d.driver.as_deref().unwrap_or("none"), false),
            notes.join("; ")
        ));
    }
    heading(&mut o, "USB devices ([haos] usb)", p.usb.is_empty());
    for u in &p.usb {
        o.push_str(&format!(
            "  {:<8} {}  {}\n",
            printable(&u.path, false),
            printable(&u.id, false),
            printable(&u.name, false)
        ));
    }
    o
}

fn js_map(m: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{}: {}", js(k), js(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

pub fn json(p: &Probe) -> String {
    let disks: Vec<String> = p
        .disks
        .iter()
        .map(|d| {
            format!(
                "{{\"name\": {}, \"bytes\": {}, \"model\": {}, \"removable\": {}, \"rotational\": {}, \"udev\": {}}}",
                js(&d.name),
                d.bytes,
                js(&d.model),
                d.removable,
                d.rotational,
                js_map(&d.udev)
            )
        })
        .collect();
    let nics: Vec<String> = p
        .nics
        .iter()
        .map(|n| {
            format!(
                "{{\"name\": {}, \"mac\": {}, \"driver\": {}, \"link\": {}, \"udev\": {}}}",
                js(&n.name),
                js(&n.mac),
                n.driver.as_deref().map_or("null".into(), js),
                js(&n.link),
                js_map(&n.udev)
            )
        })
        .collect();
    let pci: Vec<String> = p
        .pci
        .iter()
        .map(|c| {
            let d = &c.dev;
            format!(
                "{{\"address\": {}, \"id\": {}, \"name\": {}, \"class\": {}, \"driver\": {}, \
                 \"boot_vga\": {}, \"bmc_display\": {}, \"iommu_group\": {}, \"group_peers\": {}}}",
                js(&d.addr),
                js(&d.id()),
                c.name.as_deref().map_or("null".into(), js),
                js(&format!("{:06x}", d.class)),
                d.driver.as_deref().map_or("null".into(), js),
                d.boot_vga,
                d.is_bmc_display(),
                d.iommu_group.as_deref().map_or("null".into(), js),
                js_list(&c.group_peers)
            )
        })
        .collect();
    let usb: Vec<String> = p
        .usb
        .iter()
        .map(|u| {
            format!(
                "{{\"path\": {}, \"id\": {}, \"name\": {}}}",
                js(&u.path),
                js(&u.id),
                js(&u.name)
            )
        })
        .collect();
    let list = |v: &[String]| {
        if v.is_empty() {
            "[]".to_string()
        } else {
            format!("[\n    {}\n  ]", v.join(",\n    "))
        }
    };
    format!(
        "{{\n  \"iommu\": {},\n  \"disks\": {},\n  \"nics\": {},\n  \"pci\": {},\n  \"usb\": {}\n}}\n",
        p.iommu,
        list(&disks),
        list(&nics),
        list(&pci),
        list(&usb)
    )
}

/// A starter answer for this machine: its first fixed disk by serial, its first NIC with a
/// link by its MAC-based name, and the real GPUs for passthrough; the rest is the
/// admin's to fill in (marked `CHANGE`).
pub fn starter(p: &Probe) -> String {
    let mut o = String::from(
        "# A starting point written by `pve-firstboot probe` for this machine: fill in every\n\
         # CHANGE, then `pve-firstboot validate` it.\n\
         [installer.global]\n\
         keyboard = \"en-us\"                 # CHANGE\n\
         country = \"us\"                     # CHANGE\n\
         fqdn = \"pve.home.arpa\"             # CHANGE\n\
         mailto = \"admin@home.arpa\"         # CHANGE\n\
         timezone = \"Europe/Berlin\"         # CHANGE\n\
         root-password-hashed = \"CHANGE: mkpasswd --method=yescrypt\"\n\
         \n\
         [installer.network]\n\
         source = \"from-dhcp\"\n",
    );
    let nic = p
        .nics
        .iter()
        .find(|n| n.link == "up")
        .or_else(|| p.nics.first());
    if let (Some(n), Some(v)) = (nic, nic.and_then(|n| n.udev.get("ID_NET_NAME_MAC"))) {
        o.push_str(&format!(
            "# or a static address on {} ({}):\n\
             # source = \"from-answer\"\n\
             # cidr = \"192.168.1.10/24\"\n\
             # gateway = \"192.168.1.1\"\n\
             # dns = \"192.168.1.1\"\n\
             # filter.ID_NET_NAME_MAC = {}\n",
            printable(&n.name, false),
            printable(&n.mac, false),
            toml_str(v)
        ));
    }
    o.push_str("\n[installer.disk-setup]\nfilesystem = \"ext4\"\n");
    let disk = p.disks.iter().find(|d| !d.removable);
    match disk {
        Some(d) => match d.udev.get("ID_SERIAL") {
            Some(s) => o.push_str(&format!(
                "filter.ID_SERIAL = {}    # {} {} — ERASED by the install\n",
                toml_str(s),
                printable(&d.name, false),
                gib(d.bytes)
            )),
            None => o.push_str(&format!(
                "disk-list = [{}]    # {} — ERASED by the install\n",
                toml_str(&d.name),
                gib(d.bytes)
            )),
        },
        None => o.push_str("disk-list = [\"CHANGE\"]\n"),
    }
    let candidates = p
        .pci
        .iter()
        .filter(|c| c.dev.is_display() && !c.dev.boot_vga && !c.dev.is_bmc_display());
    // Never one whose IOMMU group holds a device of the host's (a NIC, a disk controller).
    let mut unsafe_slots = std::collections::BTreeMap::new();
    for c in candidates.clone().filter(|c| !c.strangers.is_empty()) {
        unsafe_slots.insert(c.dev.slot(), c.strangers.join(", "));
    }
    let gpus: Vec<String> = candidates
        .map(|c| c.dev.slot())
        .filter(|s| !unsafe_slots.contains_key(s))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for (slot, with) in &unsafe_slots {
        o.push_str(&format!(
            "\n# Not proposed for passthrough: {slot} shares its IOMMU group with {with} \
             (unsafe: starting its VM would take them from the host)\n"
        ));
    }
    if !gpus.is_empty() {
        o.push_str(&format!(
            "\n[passthrough]\ndevices = [{}]\n",
            gpus.iter()
                .map(|g| toml_str(g))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !p.usb.is_empty() {
        o.push_str("\n# USB devices a guest could have ([haos] usb = [...]):\n");
        for u in &p.usb {
            o.push_str(&format!(
                "#   {}    {}\n",
                toml_str(&u.id),
                printable(&u.name, false)
            ));
        }
    }
    o
}

/// `glob::Pattern::matches` (glob 0.3, default options), as the installer matches its
/// filters (pve-installer: `proxmox-auto-installer/src/utils.rs`): `*` any run of
/// characters (`/` included: no literal separator is required), `?` one character,
/// `[abc]`, `[a-z]` and `[!...]` classes; case-sensitive. The pattern is one `validate`
/// accepted (`schema::installer::check_glob`), so classes are closed.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob_at(&p, &t)
}

fn glob_at(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') => {
            let rest = &p[p.iter().take_while(|c| **c == '*').count()..];
            (0..=t.len()).any(|i| glob_at(rest, &t[i..]))
        }
        Some('?') => !t.is_empty() && glob_at(&p[1..], &t[1..]),
        Some('[') => {
            let Some(&c) = t.first() else { return false };
            let negate = p.get(1) == Some(&'!');
            let start = if negate { 2 } else { 1 };
            // The first character of a class may be `]` itself.
            let Some(len) = p[start + 1..].iter().position(|x| *x == ']') else {
                return false;
            };
            let class = &p[start..start + 1 + len];
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob_at(&p[start + 2 + len..], &t[1..])
        }
        Some(&c) => t.first() == Some(&c) && glob_at(&p[1..], &t[1..]),
    }
}

/// The installer's `get_single_udev_index`: the first device (in name order) with any
/// filter key whose value matches its glob.
fn first_match<'a>(
    filter: &toml::Table,
    devs: impl Iterator<Item = (&'a str, &'a BTreeMap<String, String>)>,
) -> Option<&'a str> {
    let pats: Vec<(&str, &str)> = filter
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
        .collect();
    devs.into_iter()
        .find(|(_, props)| {
            pats.iter()
                .any(|(k, g)| props.get(*k).is_some_and(|v| glob_matches(g, v)))
        })
        .map(|(n, _)| n)
}

/// The installer's `get_matched_udev_indexes`: with `all`, a device matches unless a key
/// it has fails its glob (a key it lacks does not count against it, as there); with
/// `any`, when one key matches.
fn all_matches<'a>(
    filter: &toml::Table,
    all: bool,
    devs: impl Iterator<Item = (&'a str, &'a BTreeMap<String, String>)>,
) -> Vec<&'a str> {
    let pats: Vec<(&str, &str)> = filter
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
        .collect();
    devs.filter(|(_, props)| {
        let (mut once, mut every) = (false, true);
        for (k, g) in &pats {
            if let Some(v) = props.get(*k) {
                if glob_matches(g, v) {
                    once = true;
                } else {
                    every = false;
                }
            }
        }
        if all { every } else { once }
    })
    .map(|(n, _)| n)
    .collect()
}

/// `probe --check`: what the answer would do on this machine, decided as the installer
/// decides it (pve-installer `proxmox-auto-installer/src/utils.rs`: `set_disks`,
/// `get_network_settings`), and the passthrough devices as the phase resolves them.
/// Returns the report and whether everything was found.
pub fn check(p: &Probe, a: &crate::answer::Answer, host: &Host) -> (String, bool) {
    let mut o = String::new();
    let mut ok = true;
    let t = &a.installer.tables;
    let disk_setup = t.get("disk-setup").and_then(|v| v.as_table());
    let fs = a.installer.filesystem.as_str();
    let single = fs == "ext4" || fs == "xfs";
    let disks = || p.disks.iter().map(|d| (d.name.as_str(), &d.udev));
    let mut erased: Vec<&str> = Vec::new();
    if let Some(ds) = disk_setup {
        if let Some(list) = ds.get("disk-list").and_then(|v| v.as_array()) {
            // The installer takes the disk whose path ends with the name (`/dev/sda`
            // and `sda` alike); ext4/xfs only the first of the list.
            let names: Vec<&str> = list.iter().filter_map(|v| v.as_str()).collect();
            for n in names.iter().take(if single { 1 } else { names.len() }) {
                match p
                    .disks
                    .iter()
                    .find(|d| format!("/dev/{}", d.name).ends_with(n))
                {
                    Some(d) => erased.push(&d.name),
                    None => {
                        ok = false;
                        o.push_str(&format!("disk-list: no disk here is {}\n", toml_str(n)));
                    }
                }
            }
        } else if let Some(f) = ds.get("filter").and_then(|v| v.as_table()) {
            if single {
                erased.extend(first_match(f, disks()));
            } else {
                let all = ds.get("filter-match").and_then(|v| v.as_str()) == Some("all");
                erased.extend(all_matches(f, all, disks()));
            }
            if erased.is_empty() {
                ok = false;
                o.push_str("disk filter: matches no disk here (the install would stop)\n");
            }
        }
    }
    for name in &erased {
        let d = p
            .disks
            .iter()
            .find(|d| d.name == *name)
            .expect("found above");
        o.push_str(&format!(
            "ERASED by the install: {} ({}, {}){}\n",
            printable(&d.name, false),
            gib(d.bytes),
            if d.model.is_empty() {
                "?".into()
            } else {
                printable(&d.model, false)
            },
            if d.removable {
                " — a removable disk: is it the install stick?"
            } else {
                ""
            }
        ));
    }
    let net = t.get("network").and_then(|v| v.as_table());
    if let Some(f) = net
        .filter(|n| n.get("source").and_then(|v| v.as_str()) == Some("from-answer"))
        .and_then(|n| n.get("filter"))
        .and_then(|v| v.as_table())
    {
        match first_match(f, p.nics.iter().map(|n| (n.name.as_str(), &n.udev))) {
            Some(n) => o.push_str(&format!("management NIC: {}\n", printable(n, false))),
            None => {
                ok = false;
                o.push_str("network filter: matches no NIC here (the install would stop)\n");
            }
        }
    }
    if let Some(pt) = &a.passthrough {
        let all: Vec<PciDevice> = p.pci.iter().map(|c| c.dev.clone()).collect();
        match pci::scan(host).and_then(|every| {
            crate::phases::passthrough::resolve(&pt.devices, &every, pt.take_boot_vga)
                .map(|r| (r, every))
        }) {
            Ok((devs, every)) => {
                for d in &devs {
                    let strangers: Vec<String> = every
                        .iter()
                        .filter(|x| {
                            x.iommu_group.is_some()
                                && x.iommu_group == d.iommu_group
                                && !x.is_bridge()
                                && !devs.iter().any(|y| y.addr == x.addr)
                        })
                        .map(|x| x.addr.clone())
                        .collect();
                    if !strangers.is_empty() {
                        ok = false;
                    }
                    o.push_str(&format!(
                        "passed through: {} [{}] {}{}\n",
                        d.addr,
                        d.id(),
                        all.iter()
                            .position(|x| x.addr == d.addr)
                            .and_then(|i| p.pci[i].name.clone())
                            .unwrap_or_default(),
                        if strangers.is_empty() {
                            String::new()
                        } else {
                            format!(
                                " — shares its IOMMU group with {}: unsafe",
                                strangers.join(", ")
                            )
                        }
                    ));
                }
            }
            Err(e) => {
                ok = false;
                o.push_str(&format!("passthrough: {e}\n"));
            }
        }
    }
    // [[storage]] data disks: here, not the install's, not in use, empty or to be wiped
    // (the storage phase's own checks, `phases::storage::find_disk`).
    for def in &a.storages {
        let crate::answer::StorageKind::Disks { disks, wipe, .. } = &def.kind else {
            continue;
        };
        for d in disks {
            let line = match crate::phases::storage::find_disk(host, d) {
                Ok(None) => {
                    ok = false;
                    "not here".to_string()
                }
                Ok(Some(f)) if erased.contains(&f.name.as_str()) => {
                    ok = false;
                    format!("/dev/{}: the install takes it", f.name)
                }
                Ok(Some(f)) if !f.in_use.is_empty() => {
                    ok = false;
                    format!(
                        "/dev/{}: in use, never taken: {}",
                        f.name,
                        f.in_use.join("; ")
                    )
                }
                Ok(Some(f)) if !f.data.is_empty() && !wipe => {
                    ok = false;
                    format!(
                        "/dev/{}: holds data ({}); `wipe = true` erases it",
                        f.name,
                        f.data.join(", ")
                    )
                }
                Ok(Some(f)) if !f.data.is_empty() => {
                    format!(
                        "/dev/{}: ERASED (wipe = true): {}",
                        f.name,
                        f.data.join(", ")
                    )
                }
                Ok(Some(f)) => format!("/dev/{}: empty", f.name),
                Err(e) => {
                    ok = false;
                    e.to_string()
                }
            };
            o.push_str(&format!(
                "storage {} ({}): {d}: {line}\n",
                def.id,
                def.type_name()
            ));
        }
    }
    // The rest quotes /sys and pci.ids too: nothing of theirs reaches the terminal raw.
    (printable(&o, true).into_owned(), ok)
}

#[cfg(test)]
mod tests {
    use super::glob_matches as m;

    #[test]
    fn globs_match_as_the_installer_matches_them() {
        assert!(m("Samsung*", "Samsung_SSD_980_PRO_500GB"));
        assert!(m("*980*", "Samsung_SSD_980_PRO_500GB"));
        assert!(m("en?b42e99123456", "enxb42e99123456"));
        assert!(m("nvme[01]n1", "nvme1n1"));
        assert!(m("nvme[!0]n1", "nvme1n1") && !m("nvme[!1]n1", "nvme1n1"));
        assert!(m("sd[a-c]", "sdb") && !m("sd[a-c]", "sdd"));
        assert!(m("[]]x", "]x"));
        assert!(m("a*b", "a/x/b"), "no literal separator is required");
        assert!(!m("samsung*", "Samsung_SSD"), "case-sensitive");
        assert!(!m("nvme0n1", "nvme0n1p1"), "the whole value");
        assert!(m("*", ""));
    }
}
