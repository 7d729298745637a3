//! `[passthrough]`: the devices for guests, and the kernel arguments and drivers for it.

use super::*;
use crate::answer::reader::{Checker, Tbl};

/// Characters a kernel argument may not hold. The arguments land unquoted in GRUB's
/// `linux` line (Debian's 10_linux pastes GRUB_CMDLINE_LINUX in), where `;` `|` `&` end the
/// command, `#` starts a comment, `{` `}` `<` `>` are GRUB syntax, `$` expands, and quotes and
/// backslashes change how the rest is read; and in /etc/kernel/cmdline, one line of words.
pub const KERNEL_ARG_FORBIDDEN: &str = ";#{}|&<>$\\`'\"";

/// One word of printable ASCII without [`KERNEL_ARG_FORBIDDEN`]; `Err` says why not.
pub fn kernel_arg_ok(a: &str) -> Result<(), String> {
    if a.is_empty() {
        return Err("it is empty".into());
    }
    if let Some(b) = a.bytes().find(|b| !b.is_ascii_graphic()) {
        return Err(if b == b' ' || b == b'\t' {
            "one argument per entry, without spaces".into()
        } else if b.is_ascii_control() {
            format!("control character 0x{b:02x}")
        } else {
            "only printable ASCII is allowed".into()
        });
    }
    if let Some(ch) = a.chars().find(|ch| KERNEL_ARG_FORBIDDEN.contains(*ch)) {
        return Err(format!(
            "'{ch}' is not allowed (none of {})",
            KERNEL_ARG_FORBIDDEN
                .chars()
                .map(String::from)
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    Ok(())
}

/// Well-known drivers of devices a host cannot do without, and what they drive: the
/// passthrough phase checks the devices it finds in /sys as well, this catches the usual
/// names before anything is installed. GPU drivers such as nouveau or amdgpu are not here:
/// blacklisting them is the usual way to keep a guest's GPU from the host, and the phase
/// refuses them when they drive the boot VGA device.
pub fn host_driver(module: &str) -> Option<&'static str> {
    const BMC_VGA: &[&str] = &["ast", "mgag200"];
    const NIC: &[&str] = &[
        "e1000",
        "e1000e",
        "igb",
        "igc",
        "ixgbe",
        "i40e",
        "ice",
        "r8169",
        "r8125",
        "tg3",
        "bnx2",
        "bnx2x",
        "bnxt_en",
        "mlx4_core",
        "mlx4_en",
        "mlx5_core",
        "atlantic",
        "alx",
        "atl1c",
        "sky2",
        "forcedeth",
        "be2net",
        "sfc",
        "cxgb4",
        "qede",
        "virtio_net",
        "vmxnet3",
        "ixgbevf",
        "iavf",
    ];
    const STORAGE: &[&str] = &[
        "nvme",
        "nvme_core",
        "ahci",
        "libahci",
        "ata_piix",
        "ata_generic",
        "megaraid_sas",
        "mpt3sas",
        "mptsas",
        "mptspi",
        "hpsa",
        "smartpqi",
        "aacraid",
        "isci",
        "virtio_blk",
        "virtio_scsi",
        "sd_mod",
        "dm_mod",
        "virtio_pci",
    ];
    let m = module.replace('-', "_");
    let is = |l: &[&str]| l.contains(&m.as_str());
    if is(BMC_VGA) {
        Some("a server's on-board (BMC) VGA device, usually the host's console")
    } else if is(NIC) {
        Some("network controllers")
    } else if is(STORAGE) {
        Some("storage controllers or disks")
    } else {
        None
    }
}

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
    let take_boot_vga = match t.bool(c, "take-boot-vga") {
        Some(b) if b.v => {
            c.warning(
                &b.span,
                &t.key_path("take-boot-vga"),
                "the boot VGA device goes to a guest: from the first boot on, the host's own \
                 console is dark (no screen, no local login); the web UI and ssh are the only way \
                 in, so the network had better work",
            );
            true
        }
        _ => false,
    };
    let kernel_args = t.strings(c, "kernel-args").unwrap_or_default();
    for (i, a) in kernel_args.iter().enumerate() {
        if let Err(why) = kernel_arg_ok(&a.v) {
            c.error(
                &a.span,
                &format!("{}[{i}]", t.key_path("kernel-args")),
                format!("{:?} is not a single kernel argument: {why}", a.v),
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
        } else if let Some(what) = host_driver(&m.v) {
            c.error(
                &m.span,
                &path,
                format!(
                    "\"{}\" drives {what}, which the host needs; a blacklist stops it for every such \
                     device, not only the one passed through (vfio-pci claims passed devices first \
                     without it)",
                    m.v
                ),
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
        take_boot_vga,
    })
}
