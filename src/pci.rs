//! PCI devices as the kernel shows them under `/sys/bus/pci/devices/*`, read through the
//! host boundary (so fixture trees with relative symlinks work like the real /sys).

use std::fmt;

use crate::error::{Context, Error, Result};
use crate::host::Host;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciDevice {
    /// `0000:01:00.0`
    pub addr: String,
    pub domain: u16,
    pub bus: u8,
    pub dev: u8,
    pub func: u8,
    pub vendor: u16,
    pub device: u16,
    /// 24-bit class code, e.g. 0x030000 for a VGA controller.
    pub class: u32,
    pub boot_vga: bool,
    pub driver: Option<String>,
    pub iommu_group: Option<String>,
}

impl PciDevice {
    pub fn is_display(&self) -> bool {
        self.class >> 16 == 0x03
    }
    /// The display of a server's management controller (BMC): a 2D framebuffer for the
    /// remote console, never a GPU worth passing to a guest. ASPEED (vendor 1a03, every
    /// AST BMC) and Matrox's G200 server variants (102b: 0522 G200e, 0524 G200 SE B,
    /// 0530 G200eV, 0532 G200eW, 0533 G200eH, 0534 G200eR, 0536 G200eW3, 0538 G200eH3),
    /// as the pci.ids database names them.
    pub fn is_bmc_display(&self) -> bool {
        self.is_display()
            && (self.vendor == 0x1a03
                || (self.vendor == 0x102b
                    && [
                        0x0522, 0x0524, 0x0530, 0x0532, 0x0533, 0x0534, 0x0536, 0x0538,
                    ]
                    .contains(&self.device)))
    }
    pub fn is_bridge(&self) -> bool {
        self.class >> 16 == 0x06
    }
    /// `0000:01:00`: the slot all functions of one card share.
    pub fn slot(&self) -> String {
        format!("{:04x}:{:02x}:{:02x}", self.domain, self.bus, self.dev)
    }
    pub fn id(&self) -> String {
        format!("{:04x}:{:04x}", self.vendor, self.device)
    }
}

impl fmt::Display for PciDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{}] class {:06x}, driver {}",
            self.addr,
            self.id(),
            self.class,
            self.driver.as_deref().unwrap_or("none")
        )
    }
}

fn parse_addr(a: &str) -> Option<(u16, u8, u8, u8)> {
    let (rest, func) = a.rsplit_once('.')?;
    let mut p = rest.split(':');
    let (d, b, v) = (p.next()?, p.next()?, p.next()?);
    Some((
        u16::from_str_radix(d, 16).ok()?,
        u8::from_str_radix(b, 16).ok()?,
        u8::from_str_radix(v, 16).ok()?,
        func.parse().ok()?,
    ))
}

fn hex_attr(host: &Host, path: &str) -> Result<u32> {
    let text = host
        .read_text(path)?
        .ok_or_else(|| Error::msg(format!("reading {path}: not found")))?;
    let t = text.trim();
    u32::from_str_radix(t.trim_start_matches("0x"), 16)
        .map_err(|_| Error::msg(format!("reading {path}: \"{t}\" is not a hex number")))
}

fn link_name(host: &Host, path: &str) -> Result<Option<String>> {
    Ok(host
        .read_link(path)?
        .and_then(|t| t.rsplit('/').next().map(str::to_string)))
}

/// Every PCI device, sorted by address.
pub fn scan(host: &Host) -> Result<Vec<PciDevice>> {
    let base = "/sys/bus/pci/devices";
    let mut out = Vec::new();
    for name in host.list_dir(base)? {
        let Some((domain, bus, dev, func)) = parse_addr(&name) else {
            continue;
        };
        let d = format!("{base}/{name}");
        let dev = PciDevice {
            vendor: hex_attr(host, &format!("{d}/vendor"))? as u16,
            device: hex_attr(host, &format!("{d}/device"))? as u16,
            class: hex_attr(host, &format!("{d}/class"))?,
            boot_vga: host
                .read_text(&format!("{d}/boot_vga"))?
                .is_some_and(|s| s.trim() == "1"),
            driver: link_name(host, &format!("{d}/driver"))?,
            iommu_group: link_name(host, &format!("{d}/iommu_group"))?,
            addr: name,
            domain,
            bus,
            dev,
            func,
        };
        out.push(dev);
    }
    out.sort_by(|a, b| a.addr.cmp(&b.addr));
    Ok(out)
}

/// What the host uses a device for, where it can tell: its network interfaces, each with
/// the bridge it is a port of (`/sys/bus/pci/devices/ADDR/net/IF`, `/sys/class/net/IF/
/// master`), and its driver. Names from sysfs are shown escaped (`{:?}`): they are the
/// kernel's, but a udev rule can name an interface.
pub fn used_as(host: &Host, d: &PciDevice) -> Result<String> {
    let mut parts = Vec::new();
    for ifname in host.list_dir(&format!("/sys/bus/pci/devices/{}/net", d.addr))? {
        match link_name(host, &format!("/sys/class/net/{ifname}/master"))? {
            Some(br) => parts.push(format!(
                "network interface {ifname:?}, a port of {br:?}{}",
                if br == "vmbr0" {
                    ": the host's management network"
                } else {
                    ""
                }
            )),
            None => parts.push(format!("network interface {ifname:?}")),
        }
    }
    if let Some(drv) = &d.driver {
        parts.push(format!("driver {drv}"));
    }
    Ok(if parts.is_empty() {
        "no driver".into()
    } else {
        parts.join(", ")
    })
}

/// The devices in an IOMMU group, by address.
pub fn group_members(host: &Host, group: &str) -> Result<Vec<String>> {
    host.list_dir(&format!("/sys/kernel/iommu_groups/{group}/devices"))
        .ctx(|| format!("reading IOMMU group {group}"))
}
