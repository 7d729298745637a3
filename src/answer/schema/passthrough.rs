//! `[passthrough]`: the devices for guests, and the kernel arguments and drivers for it.

use super::*;
use crate::answer::reader::{Checker, Tbl};

pub(super) fn read_passthrough(c: &mut Checker, t: &mut Tbl) -> Option<Passthrough> {
    let devices = match t.strings(c, "devices") {
        Some(d) if d.is_empty() => {
            c.error(
                &t.key_span("devices"),
                &t.key_path("devices"),
                "is empty; list at least one device or remove [passthrough]",
            );
            None
        }
        Some(d) => Some(d),
        None if !t.has("devices") => {
            t.missing(
                c,
                "devices",
                "the PCI devices to pass through, e.g. [\"0000:01:00\"] or [\"gpu\"]",
            );
            None
        }
        None => None,
    };
    let mut sel = Vec::new();
    for (i, d) in devices.iter().flatten().enumerate() {
        match DeviceSel::parse(&d.v) {
            Ok(s) if sel.contains(&s) => c.error(
                &d.span,
                &format!("{}[{i}]", t.key_path("devices")),
                format!("\"{}\" is listed twice", d.v),
            ),
            Ok(s) => sel.push(s),
            Err(e) => c.error(&d.span, &format!("{}[{i}]", t.key_path("devices")), e),
        }
    }
    let iommu_pt = t.bool(c, "iommu-pt").is_none_or(|b| b.v);
    let disable_vga = t.bool(c, "disable-vga").is_some_and(|b| b.v);
    let ignore_msrs = t.bool(c, "ignore-msrs").is_some_and(|b| b.v);
    let kernel_args = t.strings(c, "kernel-args").unwrap_or_default();
    for (i, a) in kernel_args.iter().enumerate() {
        // One argument each, no quoting: these land in GRUB_CMDLINE_LINUX and /etc/kernel/cmdline.
        if a.v.is_empty()
            || a.v
                .chars()
                .any(|ch| ch.is_whitespace() || "\"'\\$`".contains(ch))
        {
            c.error(
                &a.span,
                &format!("{}[{i}]", t.key_path("kernel-args")),
                format!(
                    "\"{}\" is not a single kernel argument (no spaces, quotes, $ or backslashes)",
                    a.v
                ),
            );
        }
    }
    let blacklist = t.strings(c, "blacklist-drivers").unwrap_or_default();
    for (i, m) in blacklist.iter().enumerate() {
        const NEVER: &[&str] = &[
            "fuse",
            "vfat",
            "vfio",
            "vfio_pci",
            "vfio-pci",
            "vfio_iommu_type1",
            "kvm",
            "kvm_intel",
            "kvm_amd",
        ];
        let path = format!("{}[{i}]", t.key_path("blacklist-drivers"));
        if m.v.is_empty()
            || !m
                .v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            c.error(
                &m.span,
                &path,
                format!("\"{}\" is not a kernel module name", m.v),
            );
        } else if NEVER.contains(&m.v.as_str()) {
            c.error(
                &m.span,
                &path,
                format!("\"{}\" is needed by Proxmox or by passthrough itself and may not be blacklisted", m.v),
            );
        }
    }
    Some(Passthrough {
        devices: devices.map(|_| sel)?,
        iommu_pt,
        disable_vga,
        kernel_args: kernel_args.into_iter().map(|a| a.v).collect(),
        blacklist_drivers: blacklist.into_iter().map(|a| a.v).collect(),
        ignore_msrs,
    })
}
