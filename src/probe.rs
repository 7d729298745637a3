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
    /// What the install would destroy on it: its partitions, and a filesystem (or a ZFS,
    /// LVM or RAID member) on the whole disk.
    pub holds: Vec<Holding>,
}

/// A partition, or a filesystem on a whole disk, as /sys and udev's blkid data show it.
#[derive(Debug, Clone)]
pub struct Holding {
    /// `sdb1`, or the disk's own name for a filesystem on the whole disk.
    pub name: String,
    pub bytes: u64,
    /// udev's `ID_FS_TYPE` (`ext4`, `zfs_member`, `LVM2_member`, `ntfs`, ...).
    pub fs: Option<String>,
    /// `ID_FS_LABEL` (a ZFS member's is its pool), else the GPT partition's name.
    pub label: Option<String>,
}

impl Holding {
    /// `sdb1 1.8 TiB ext4 "media"`, or `sdb1 512.0 MiB, no filesystem known`.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {}", printable(&self.name, false), size(self.bytes));
        match &self.fs {
            Some(f) => s.push_str(&format!(" {}", printable(f, false))),
            None => s.push_str(", no filesystem known"),
        }
        if let Some(l) = &self.label {
            s.push_str(&format!(" {}", toml_str(l)));
        }
        s
    }
}

#[derive(Debug, Clone)]
pub struct Nic {
    pub name: String,
    pub mac: String,
    pub driver: Option<String>,
    pub link: String,
    pub udev: BTreeMap<String, String>,
    /// The kernel's interface index: with no default route, the installer's `from-dhcp`
    /// takes the NIC with the lowest.
    pub index: u32,
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
    /// The physical NIC the IPv4 default route leaves by (`/proc/net/route`; through a
    /// bridge, its port), if any.
    pub default_route: Option<String>,
    /// The host's CPU threads: the `processor` lines of `/proc/cpuinfo`, counted as
    /// pve-common's `PVE::ProcFSTools::read_cpuinfo` counts them (its `cpus`, the most
    /// vCPUs qemu-server lets a VM have); `None` without the file.
    pub cpu_threads: Option<u32>,
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
        let holds = holdings(host, &name, sectors * 512, &udev)?;
        out.push(Disk {
            holds,
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

/// A disk's partitions (`/sys/block/<disk>/<part>/partition`, in their number's order)
/// with what udev's blkid found on each, and a filesystem on the whole disk.
fn holdings(
    host: &Host,
    disk: &str,
    bytes: u64,
    udev: &BTreeMap<String, String>,
) -> Result<Vec<Holding>> {
    let of = |name: &str, bytes: u64, u: &BTreeMap<String, String>| Holding {
        name: name.to_string(),
        bytes,
        fs: u.get("ID_FS_TYPE").filter(|v| !v.is_empty()).cloned(),
        label: u
            .get("ID_FS_LABEL")
            .or_else(|| u.get("ID_PART_ENTRY_NAME"))
            .filter(|v| !v.is_empty())
            .cloned(),
    };
    let mut out = Vec::new();
    if udev.contains_key("ID_FS_TYPE") {
        out.push(of(disk, bytes, udev));
    }
    let base = format!("/sys/block/{disk}");
    let mut parts = Vec::new();
    for e in host.list_dir(&base)? {
        // Only a partition's directory has this file (`exists` first: on a real /sys,
        // reading below a plain file fails rather than finding nothing).
        let number = format!("{base}/{e}/partition");
        if !host.exists(&number) {
            continue;
        }
        if let Ok(n) = attr(host, &number)?.parse::<u32>() {
            parts.push((n, e));
        }
    }
    parts.sort();
    for (_, p) in parts {
        let sectors: u64 = attr(host, &format!("{base}/{p}/size"))?
            .parse()
            .unwrap_or(0);
        let u = udev_props(
            host,
            &format!("b{}", attr(host, &format!("{base}/{p}/dev"))?),
        )?;
        out.push(of(&p, sectors * 512, &u));
    }
    Ok(out)
}

/// The device of the IPv4 default route (`/proc/net/route`: destination and mask 0), and
/// through a bridge (`vmbr0` on an installed host) its first port.
fn default_route(host: &Host) -> Result<Option<String>> {
    let text = host.read_text("/proc/net/route")?.unwrap_or_default();
    let dev = text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 7 && f[1] == "00000000" && f[7] == "00000000").then(|| f[0].to_string())
    });
    let Some(dev) = dev else { return Ok(None) };
    let mut ports = host.list_dir(&format!("/sys/class/net/{dev}/brif"))?;
    ports.sort();
    Ok(Some(ports.into_iter().next().unwrap_or(dev)))
}

/// `/proc/cpuinfo` is some 1.5 KB a thread: 16 MiB is room for 8192 of them (the most
/// cores pve-container's schema allows a container).
const MAX_CPUINFO_BYTES: u64 = 16 << 20;

/// [`Probe::cpu_threads`]: lines `processor : N` (read_cpuinfo's
/// `m/^processor\s*:\s*\d+\s*$/i`).
fn cpu_threads(host: &Host) -> Result<Option<u32>> {
    let Some(b) = host.read_capped("/proc/cpuinfo", MAX_CPUINFO_BYTES)? else {
        return Ok(None);
    };
    let text = crate::host::decode_text(&b);
    let n = text
        .lines()
        .filter(|l| {
            let Some((k, v)) = l.split_once(':') else {
                return false;
            };
            let v = v.trim();
            k.trim_end().eq_ignore_ascii_case("processor")
                && !v.is_empty()
                && v.bytes().all(|c| c.is_ascii_digit())
        })
        .count();
    Ok(Some(n as u32))
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
            index: attr(host, &format!("{base}/ifindex"))?
                .parse()
                .unwrap_or(u32::MAX),
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
        default_route: default_route(host)?,
        cpu_threads: cpu_threads(host)?,
    })
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// A partition's size in the unit that reads best: MiB, GiB or TiB.
fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024f64.powi(4) {
        format!("{:.1} TiB", b / 1024f64.powi(4))
    } else if b >= 1024f64.powi(3) {
        gib(bytes)
    } else {
        format!("{:.1} MiB", b / 1024f64.powi(2))
    }
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
        if !d.holds.is_empty() {
            o.push_str(&format!(
                "           holds {}\n",
                d.holds
                    .iter()
                    .map(Holding::describe)
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    heading(
        &mut o,
        "NICs (what [installer.network] filter matches)",
        p.nics.is_empty(),
    );
    for n in &p.nics {
        o.push_str(&format!(
            "  {:<12} {}  driver {}, link {}{}\n{}",
            printable(&n.name, false),
            printable(&n.mac, false),
            printable(n.driver.as_deref().unwrap_or("none"), false),
            printable(&n.link, false),
            if p.default_route.as_ref() == Some(&n.name) {
                ", carries the default route"
            } else {
                ""
            },
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
    o.push_str(&format!(
        "CPU threads (the most cores a [haos] or [[vm]] may have): {}\n",
        p.cpu_threads
            .map_or("unknown (no /proc/cpuinfo)".to_string(), |n| n.to_string())
    ));
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

fn holds_json(h: &[Holding]) -> String {
    let parts: Vec<String> = h
        .iter()
        .map(|h| {
            format!(
                "{{\"name\": {}, \"bytes\": {}, \"type\": {}, \"label\": {}}}",
                js(&h.name),
                h.bytes,
                h.fs.as_deref().map_or("null".into(), js),
                h.label.as_deref().map_or("null".into(), js)
            )
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

pub fn json(p: &Probe) -> String {
    let disks: Vec<String> = p
        .disks
        .iter()
        .map(|d| {
            format!(
                "{{\"name\": {}, \"bytes\": {}, \"model\": {}, \"removable\": {}, \"rotational\": {}, \"holds\": {}, \"udev\": {}}}",
                js(&d.name),
                d.bytes,
                js(&d.model),
                d.removable,
                d.rotational,
                holds_json(&d.holds),
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
        "{{\n  \"iommu\": {},\n  \"default_route\": {},\n  \"cpu_threads\": {},\n  \"disks\": {},\n  \"nics\": {},\n  \"pci\": {},\n  \"usb\": {}\n}}\n",
        p.iommu,
        p.default_route.as_deref().map_or("null".into(), js),
        p.cpu_threads.map_or("null".into(), |n| n.to_string()),
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
    if let Some((n, how)) = dhcp_nic(p) {
        o.push_str(&format!(
            "# management NIC with from-dhcp: {} ({how})\n",
            printable(&n, false)
        ));
    }
    // The NIC with the default route (the one on the LAN), else the first with a link.
    let nic = p
        .nics
        .iter()
        .find(|n| p.default_route.as_ref() == Some(&n.name))
        .or_else(|| p.nics.iter().find(|n| n.link == "up"))
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

/// A device an answer passes through, as `probe --check` found it.
pub struct Passed {
    pub dev: PciDevice,
    pub name: Option<String>,
    /// Devices of its IOMMU group that are neither passed through nor bridges.
    pub strangers: Vec<String>,
}

/// A `usb = [...]` entry of the answer and the device it selects here, if plugged in.
pub struct UsbWanted {
    /// `[haos]` or `[[vm]] 101`.
    pub table: String,
    pub selector: String,
    pub found: Option<Usb>,
}

/// What `probe --check` found: everything the answer would do on this machine, and each
/// problem (something not found, or unsafe) by name. Printed as text or JSON.
pub struct Check {
    pub erased: Vec<Disk>,
    /// The management NIC and how the installer picks it.
    pub nic: Option<(String, String)>,
    pub passed: Vec<Passed>,
    pub usb: Vec<UsbWanted>,
    /// Each `[[storage]]` data disk and what the storage phase would do with it.
    pub storages: Vec<String>,
    /// Each ssh key of the answer: where it is, and its fingerprint and comment.
    pub keys: Vec<(String, String)>,
    pub problems: Vec<String>,
}

/// Whether a `usb = [...]` selector (`vendor:product`, `0x` prefixes allowed, or a port
/// path) names this device, as qemu-server's `host=` takes it.
pub fn usb_selects(selector: &str, u: &Usb) -> bool {
    let norm = |s: &str| s.trim().trim_start_matches("0x").to_ascii_lowercase();
    match (selector.split_once(':'), u.id.split_once(':')) {
        (Some((v, p)), Some((uv, up))) => norm(v) == norm(uv) && norm(p) == norm(up),
        (None, _) => selector == u.path,
        _ => false,
    }
}

/// The NIC a `from-dhcp` install takes, and why: pve-installer
/// `NetworkOptions::defaults_from` (proxmox-installer-common `options.rs`) takes the
/// interface of the default route its DHCP set up, else the NIC enumerated first.
pub fn dhcp_nic(p: &Probe) -> Option<(String, &'static str)> {
    if let Some(r) = p
        .default_route
        .as_ref()
        .filter(|r| p.nics.iter().any(|n| &n.name == *r))
    {
        return Some((r.clone(), "the NIC of the default route"));
    }
    p.nics.iter().min_by_key(|n| n.index).map(|n| {
        (
            n.name.clone(),
            "no default route here, so the NIC enumerated first; the installer takes the one \
             its DHCP lease comes on",
        )
    })
}

/// Why erasing this disk is unsafe, if it is: the install stick, or data on it.
fn erase_problem(d: &Disk) -> Option<String> {
    let name = printable(&d.name, false);
    if d.removable {
        Some(format!(
            "{name} would be erased: a removable disk ({}, {}): is it the install stick?",
            gib(d.bytes),
            model(d)
        ))
    } else if !d.holds.is_empty() {
        Some(format!(
            "{name} would be erased: it holds {}",
            d.holds
                .iter()
                .map(Holding::describe)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    } else {
        None
    }
}

fn model(d: &Disk) -> String {
    if d.model.is_empty() {
        "?".into()
    } else {
        printable(&d.model, false).into_owned()
    }
}

/// `probe --check`: what the answer would do on this machine, decided as the installer
/// decides it (pve-installer `proxmox-auto-installer/src/utils.rs`: `set_disks`,
/// `get_network_settings`), and the passthrough devices as the phase resolves them.
/// Unsafe (a problem, exit 1): a disk it would erase that is removable or holds
/// partitions or filesystems, a device it passes through that shares its IOMMU group with
/// the host's, a USB device for a guest that is not plugged in, a VM with more cores than
/// the host has CPU threads, and anything not found.
pub fn check(p: &Probe, a: &crate::answer::Answer, host: &Host) -> Check {
    let mut problems = Vec::new();
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
                    None => problems.push(format!("disk-list: no disk here is {}", toml_str(n))),
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
                problems.push("disk filter: matches no disk here (the install would stop)".into());
            }
        }
    }
    let erased: Vec<Disk> = erased
        .iter()
        .filter_map(|n| p.disks.iter().find(|d| d.name == *n).cloned())
        .collect();
    problems.extend(erased.iter().filter_map(erase_problem));

    let net = t.get("network").and_then(|v| v.as_table());
    let source = net.and_then(|n| n.get("source")).and_then(|v| v.as_str());
    let mut nic = None;
    if source == Some("from-answer") {
        if let Some(f) = net.and_then(|n| n.get("filter")).and_then(|v| v.as_table()) {
            match first_match(f, p.nics.iter().map(|n| (n.name.as_str(), &n.udev))) {
                Some(n) => nic = Some((n.to_string(), "its filter's first match".to_string())),
                None => problems
                    .push("network filter: matches no NIC here (the install would stop)".into()),
            }
        }
    } else if source == Some("from-dhcp") {
        nic = dhcp_nic(p).map(|(n, how)| (n, format!("from-dhcp: {how}")));
        if nic.is_none() {
            problems.push("network: no NIC here (the install would stop)".into());
        }
    }

    let mut passed = Vec::new();
    if let Some(pt) = &a.passthrough {
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
                        problems.push(format!(
                            "{} shares its IOMMU group with {}: passing it through would take \
                             them from the host",
                            d.addr,
                            strangers.join(", ")
                        ));
                    }
                    passed.push(Passed {
                        name: p
                            .pci
                            .iter()
                            .find(|x| x.dev.addr == d.addr)
                            .and_then(|x| x.name.clone()),
                        dev: d.clone(),
                        strangers,
                    });
                }
            }
            Err(e) => problems.push(format!("passthrough: {e}")),
        }
    }

    let mut usb = Vec::new();
    let wanted = a
        .haos
        .iter()
        .flat_map(|h| h.usb.iter().map(|u| ("[haos]".to_string(), u)))
        .chain(a.vms.iter().flat_map(|v| {
            v.usb
                .iter()
                .map(move |u| (format!("[[vm]] {} {}", v.vmid, v.name), u))
        }));
    for (table, sel) in wanted {
        let found = p.usb.iter().find(|u| usb_selects(sel, u)).cloned();
        if found.is_none() {
            problems.push(format!(
                "{table} usb {}: no such device is plugged in here (see `probe`'s USB devices)",
                toml_str(sel)
            ));
        }
        usb.push(UsbWanted {
            table,
            selector: sel.clone(),
            found,
        });
    }

    // More cores than the host has CPU threads: qemu-server refuses to start the VM
    // (qemu-server `src/PVE/QemuServer.pm`, `config_to_command`: `die "MAX $allowed_vcpus
    // vcpus allowed per VM on this node\n" if ($allowed_vcpus < $maxcpus)`, maxcpus being
    // sockets * cores, allowed_vcpus read_cpuinfo's `cpus`). Our guests have one socket.
    // Containers are not checked: pve-container gives a container `cores` CPUs of the
    // host's cpuset, all of them when it asks more (`src/PVE/LXC.pm`, `update_lxc_config`).
    if let Some(threads) = p.cpu_threads {
        let guests = a
            .haos
            .iter()
            .map(|h| (format!("[haos] (VM {})", h.vmid), h.cores))
            .chain(
                a.vms
                    .iter()
                    .map(|v| (format!("[[vm]] {} {}", v.vmid, v.name), v.cores)),
            );
        for (guest, cores) in guests {
            if cores > threads {
                problems.push(format!(
                    "{guest} cores = {cores}: this machine has {threads} CPU threads, and \
                     qemu-server refuses to start a VM with more (\"MAX {threads} vcpus allowed \
                     per VM on this node\")"
                ));
            }
        }
    }

    // [[storage]] data disks: here, not the install's, not in use, empty or to be wiped
    // (the storage phase's own checks, `phases::storage::find_disk`).
    let mut storages = Vec::new();
    for def in &a.storages {
        let crate::answer::StorageKind::Disks { disks, wipe, .. } = &def.kind else {
            continue;
        };
        for d in disks {
            let (line, unsafe_) = match crate::phases::storage::find_disk(host, d) {
                Ok(None) => ("not here".to_string(), true),
                Ok(Some(f)) if erased.iter().any(|e| e.name == f.name) => {
                    (format!("/dev/{}: the install takes it", f.name), true)
                }
                Ok(Some(f)) if !f.in_use.is_empty() => (
                    format!(
                        "/dev/{}: in use, never taken: {}",
                        f.name,
                        f.in_use.join("; ")
                    ),
                    true,
                ),
                Ok(Some(f)) if !f.data.is_empty() && !wipe => (
                    format!(
                        "/dev/{}: holds data ({}); `wipe = true` erases it",
                        f.name,
                        f.data.join(", ")
                    ),
                    true,
                ),
                Ok(Some(f)) if !f.data.is_empty() => (
                    format!(
                        "/dev/{}: ERASED (wipe = true): {}",
                        f.name,
                        f.data.join(", ")
                    ),
                    false,
                ),
                Ok(Some(f)) => (format!("/dev/{}: empty", f.name), false),
                Err(e) => (e.to_string(), true),
            };
            let text = format!("storage {} ({}): {d}: {line}", def.id, def.type_name());
            if unsafe_ {
                problems.push(text.clone());
            }
            storages.push(text);
        }
    }

    Check {
        erased,
        nic,
        passed,
        usb,
        storages,
        keys: crate::sshkey::of_answer(a),
        problems,
    }
}

impl Check {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report as `probe --check` prints it, its verdict last.
    pub fn text(&self) -> String {
        let mut o = String::new();
        for d in &self.erased {
            o.push_str(&format!(
                "ERASED by the install: {} ({}, {}){}\n",
                d.name,
                gib(d.bytes),
                model(d),
                if d.removable {
                    " — a removable disk: is it the install stick?"
                } else if !d.holds.is_empty() {
                    " — it holds:"
                } else {
                    ""
                }
            ));
            for h in &d.holds {
                o.push_str(&format!("  {}\n", h.describe()));
            }
        }
        if let Some((n, how)) = &self.nic {
            o.push_str(&format!("management NIC: {n} ({how})\n"));
        }
        for c in &self.passed {
            o.push_str(&format!(
                "passed through: {} [{}] {}{}\n",
                c.dev.addr,
                c.dev.id(),
                c.name.as_deref().unwrap_or_default(),
                if c.strangers.is_empty() {
                    String::new()
                } else {
                    format!(
                        " — shares its IOMMU group with {}: unsafe",
                        c.strangers.join(", ")
                    )
                }
            ));
        }
        for u in &self.usb {
            o.push_str(&format!(
                "usb for {} {}: {}\n",
                u.table,
                toml_str(&u.selector),
                match &u.found {
                    Some(f) => format!("{} {} at port {}", f.id, f.name, f.path),
                    None => "NOT PLUGGED IN here".into(),
                }
            ));
        }
        for st in &self.storages {
            o.push_str(&format!("{st}\n"));
        }
        for (at, k) in &self.keys {
            o.push_str(&format!("ssh key {at}: {}\n", crate::sshkey::describe(k)));
        }
        if self.ok() {
            o.push_str("verdict: safe: everything found, nothing unsafe\n");
        } else {
            o.push_str(&format!(
                "verdict: UNSAFE, {} problem(s):\n",
                self.problems.len()
            ));
            for pr in &self.problems {
                o.push_str(&format!("  - {pr}\n"));
            }
        }
        // It quotes /sys and pci.ids: nothing of theirs reaches the terminal raw.
        printable(&o, true).into_owned()
    }

    /// The same as one JSON object (`probe --check --json`).
    pub fn json(&self) -> String {
        let erased: Vec<String> = self
            .erased
            .iter()
            .map(|d| {
                format!(
                    "{{\"name\": {}, \"bytes\": {}, \"model\": {}, \"removable\": {}, \"holds\": {}}}",
                    js(&d.name),
                    d.bytes,
                    js(&d.model),
                    d.removable,
                    holds_json(&d.holds)
                )
            })
            .collect();
        let nic = self.nic.as_ref().map_or("null".into(), |(n, how)| {
            format!("{{\"name\": {}, \"how\": {}}}", js(n), js(how))
        });
        let passed: Vec<String> = self
            .passed
            .iter()
            .map(|c| {
                format!(
                    "{{\"address\": {}, \"id\": {}, \"name\": {}, \"shares_group_with\": {}}}",
                    js(&c.dev.addr),
                    js(&c.dev.id()),
                    c.name.as_deref().map_or("null".into(), js),
                    js_list(&c.strangers)
                )
            })
            .collect();
        let usb: Vec<String> = self
            .usb
            .iter()
            .map(|u| {
                format!(
                    "{{\"for\": {}, \"device\": {}, \"present\": {}, \"path\": {}, \"name\": {}}}",
                    js(&u.table),
                    js(&u.selector),
                    u.found.is_some(),
                    u.found.as_ref().map_or("null".into(), |f| js(&f.path)),
                    u.found.as_ref().map_or("null".into(), |f| js(&f.name))
                )
            })
            .collect();
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|(at, k)| {
                format!(
                    "{{\"key\": {}, \"fingerprint\": {}, \"comment\": {}}}",
                    js(at),
                    crate::sshkey::fingerprint(k)
                        .as_deref()
                        .map_or("null".into(), js),
                    js(&k.split_whitespace().skip(2).collect::<Vec<_>>().join(" "))
                )
            })
            .collect();
        let list = |v: &[String]| format!("[{}]", v.join(", "));
        format!(
            "{{\n  \"verdict\": {},\n  \"problems\": {},\n  \"erased\": {},\n  \"management_nic\": {},\n  \
             \"passed_through\": {},\n  \"usb\": {},\n  \"storages\": {},\n  \"ssh_keys\": {}\n}}\n",
            js(if self.ok() { "safe" } else { "unsafe" }),
            js_list(&self.problems),
            list(&erased),
            nic,
            list(&passed),
            list(&usb),
            js_list(&self.storages),
            list(&keys)
        )
    }
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
