//! The `passthrough` phase (`[passthrough]`): IOMMU kernel arguments for GRUB or
//! systemd-boot, VFIO modules and binding, initramfs; and, after the reboot, verification
//! that every device is bound to vfio-pci in an IOMMU group of its own.

use std::collections::BTreeSet;

use super::{Cx, DISABLED, Phase, owned_header, with_line};
use crate::answer::{Answer, DeviceSel, Passthrough};
use crate::error::{Error, Result};
use crate::host::Cmd;
use crate::pci::{self, PciDevice};

pub struct PassthroughPhase;

pub const GRUB_DROPIN: &str = "/etc/default/grub.d/pve-firstboot.cfg";
pub const MODPROBE: &str = "/etc/modprobe.d/pve-firstboot-vfio.conf";
const KERNEL_CMDLINE: &str = "/etc/kernel/cmdline";
const PBT_UUIDS: &str = "/etc/kernel/proxmox-boot-uuids";
const MODULES: &str = "/etc/modules";
const VFIO_MODULES: [&str; 3] = ["vfio", "vfio_iommu_type1", "vfio_pci"];

impl Phase for PassthroughPhase {
    fn id(&self) -> &'static str {
        "passthrough"
    }

    fn not_configured(&self, a: &Answer) -> Option<String> {
        a.passthrough
            .is_none()
            .then(|| "no [passthrough] table in the answer".into())
    }

    fn apply(&self, cx: &mut Cx) -> Result<()> {
        let cfg = cx.answer.passthrough.clone().expect("configured");
        let all = pci::scan(cx.host)?;
        let devices = resolve(&cfg.devices, &all, cfg.take_boot_vga)?;
        let loader = Loader::detect(cx)?;
        cx.results.push(loader.describe().to_string());
        for d in &devices {
            cx.results.push(format!("{d}"));
        }
        blacklist_spares_the_host(&cfg.blacklist_drivers, &all, &devices)?;
        let args = wanted_args(cx, &cfg, &devices)?;
        let cmdline_changed = kernel_cmdline(cx, loader, &args)?;
        let modules_changed = vfio_config(cx, &cfg, &devices)?;
        // The initramfs first: proxmox-boot-tool's refresh copies it to the ESPs, so the
        // kernel booted from there gets the vfio modules too. (Its own post-update hook,
        // proxmox-kernel-helper's proxmox-boot-sync, would do the same; the explicit
        // refresh also covers a host where that hook is gone.)
        if modules_changed || cx.resumed {
            cx.run(Cmd::new("update-initramfs").args(["-u", "-k", "all"]))?;
        }
        let esps_stale = modules_changed && matches!(loader, Loader::ProxmoxBootTool { .. });
        if cmdline_changed || esps_stale || cx.resumed {
            cx.run(loader.refresh())?;
        }
        let running = running_cmdline(cx)?;
        let missing: Vec<&String> = args.iter().filter(|a| !running.contains(a)).collect();
        let unbound: Vec<&PciDevice> = devices
            .iter()
            .filter(|d| d.driver.as_deref() != Some("vfio-pci"))
            .collect();
        // kvm reads `ignore_msrs` when it loads: a change of it takes the reboot too.
        let msrs_pending = modules_changed
            && cfg.ignore_msrs
            && cx
                .read("/sys/module/kvm/parameters/ignore_msrs")?
                .is_none_or(|v| v.trim() != "Y");
        if !missing.is_empty() || !unbound.is_empty() || msrs_pending {
            let mut why = Vec::new();
            if msrs_pending {
                why.push("kvm's ignore_msrs takes effect when kvm loads".to_string());
            }
            if !missing.is_empty() {
                why.push(format!(
                    "the running kernel lacks {}",
                    missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
            if !unbound.is_empty() {
                why.push(format!(
                    "{} not yet bound to vfio-pci",
                    unbound
                        .iter()
                        .map(|d| d.addr.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            cx.need_reboot(why.join("; "));
        }
        Ok(())
    }

    fn verify(&self, cx: &mut Cx) -> Result<()> {
        let cfg = cx.answer.passthrough.clone().expect("configured");
        let all = pci::scan(cx.host)?;
        let devices = resolve(&cfg.devices, &all, cfg.take_boot_vga)?;
        let mut problems = Vec::new();
        let args = wanted_args(cx, &cfg, &devices)?;
        let running = running_cmdline(cx)?;
        let missing: Vec<String> = args.into_iter().filter(|a| !running.contains(a)).collect();
        if missing.is_empty() {
            cx.results
                .push(format!("kernel command line: {}", running.join(" ")));
        } else {
            problems.push(format!(
                "the kernel command line lacks {}",
                missing.join(" ")
            ));
        }
        if cx.host.list_dir("/sys/kernel/iommu_groups")?.is_empty() {
            problems.push(
                "/sys/kernel/iommu_groups is empty: the IOMMU is off (enable VT-d or AMD-Vi/IOMMU in the firmware)"
                    .into(),
            );
        }
        kernel_log(cx)?;
        for d in &devices {
            let driver = d.driver.as_deref().unwrap_or("none");
            let group = d.iommu_group.as_deref().unwrap_or("none");
            let strangers = group_strangers(cx, d, &all)?;
            if driver != "vfio-pci" {
                problems.push(format!("{} is bound to {driver}, not vfio-pci", d.addr));
            }
            if !strangers.is_empty() {
                problems.push(format!(
                    "{} shares IOMMU group {group} with {} — passing it through would be unsafe \
                     (try another slot, or a board with ACS)",
                    d.addr,
                    strangers.join(", ")
                ));
            }
            if d.boot_vga {
                cx.results.push(format!(
                    "{} is the boot VGA device, passed through (take-boot-vga): the host's \
                     console is dark; use the web UI or ssh",
                    d.addr
                ));
            }
            cx.results.push(format!(
                "{} [{}]: driver {driver}, IOMMU group {group}{}",
                d.addr,
                d.id(),
                if strangers.is_empty() {
                    " (isolated)".to_string()
                } else {
                    format!(" shared with {}", strangers.join(", "))
                }
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::msg(problems.join("; ")))
        }
    }
}

/// The devices the answer asks for: whole slots, single functions, IDs, or every GPU but
/// the boot VGA device (with its whole slot). The boot VGA device — the host's console —
/// and devices sharing an ID with one that stays on the host are refused.
/// Why `"gpu"` found nothing, in the words that help: a discrete GPU that is the boot VGA
/// device is named, and a BMC display is never offered as the way out.
fn gpu_missing(all: &[PciDevice]) -> String {
    let bmc: Vec<&PciDevice> = all.iter().filter(|d| d.is_bmc_display()).collect();
    let note = if bmc.is_empty() {
        String::new()
    } else {
        format!(
            " ({} is a BMC's remote-console display, not a GPU to pass through)",
            bmc.iter()
                .map(|d| d.addr.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    match all.iter().find(|d| d.boot_vga && !d.is_bmc_display()) {
        Some(vga) => format!(
            "\"gpu\": the only GPU, {} [{}], is the boot VGA device (the host's console), which \
             pve-firstboot takes only with take-boot-vga = true (the host's console then goes \
             dark){note}; or make the onboard or BMC display the boot device in the firmware \
             setup, or add a second GPU",
            vga.addr,
            vga.id()
        ),
        None => format!("\"gpu\": no GPU other than the boot VGA device{note}"),
    }
}

pub fn resolve(
    sels: &[DeviceSel],
    all: &[PciDevice],
    take_boot_vga: bool,
) -> Result<Vec<PciDevice>> {
    let mut picked: Vec<PciDevice> = Vec::new();
    let present = || {
        all.iter()
            .map(|d| format!("  {d}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for sel in sels {
        let hits: Vec<&PciDevice> = match sel {
            DeviceSel::Slot { domain, bus, dev } => all
                .iter()
                .filter(|d| (d.domain, d.bus, d.dev) == (*domain, *bus, *dev))
                .collect(),
            DeviceSel::Function {
                domain,
                bus,
                dev,
                func,
            } => all
                .iter()
                .filter(|d| (d.domain, d.bus, d.dev, d.func) == (*domain, *bus, *dev, *func))
                .collect(),
            DeviceSel::Id { vendor, device } => all
                .iter()
                .filter(|d| (d.vendor, d.device) == (*vendor, *device))
                .collect(),
            DeviceSel::Gpu => {
                // A real GPU: a display controller that is neither the host's console nor
                // a BMC's remote-console chip (and then every function of its card).
                let slots: BTreeSet<String> = all
                    .iter()
                    .filter(|d| {
                        d.is_display() && (take_boot_vga || !d.boot_vga) && !d.is_bmc_display()
                    })
                    .map(PciDevice::slot)
                    .collect();
                all.iter().filter(|d| slots.contains(&d.slot())).collect()
            }
        };
        if hits.is_empty() {
            let what = if *sel == DeviceSel::Gpu {
                gpu_missing(all)
            } else {
                format!("no PCI device matches \"{sel}\"")
            };
            return Err(Error::msg(format!("{what}; present:\n{}", present())));
        }
        for h in hits {
            if !picked.iter().any(|p| p.addr == h.addr) {
                picked.push(h.clone());
            }
        }
    }
    picked.sort_by(|a, b| a.addr.cmp(&b.addr));
    if let Some(vga) = picked.iter().find(|d| d.boot_vga && !take_boot_vga) {
        return Err(Error::msg(format!(
            "{vga} is the boot VGA device (the host's console); pve-firstboot never takes it \
             from the host. Pass another GPU (\"gpu\" picks any that is neither the console nor \
             a BMC display), make another display the boot device in the firmware setup, or — \
             a single-GPU host — set take-boot-vga = true and lose the host's console"
        )));
    }
    // `options vfio-pci ids=` claims every device with these IDs, so an identical card
    // that stays on the host would be taken too.
    for d in all
        .iter()
        .filter(|d| !picked.iter().any(|p| p.addr == d.addr))
    {
        if picked.iter().any(|p| p.id() == d.id()) {
            return Err(Error::msg(format!(
                "{d} has the same ID as a device to pass through, and vfio-pci ids={} would take \
                 it from the host too; pass both through or neither",
                d.id()
            )));
        }
    }
    Ok(picked)
}

/// `intel_iommu=on` on Intel CPUs (AMD's IOMMU is on by default), `iommu=pt` if asked,
/// then the answer's own arguments.
fn wanted_args(cx: &Cx, cfg: &Passthrough, devices: &[PciDevice]) -> Result<Vec<String>> {
    let cpuinfo = cx
        .read("/proc/cpuinfo")?
        .ok_or_else(|| Error::msg("reading /proc/cpuinfo: not found"))?;
    let intel = cpuinfo
        .lines()
        .any(|l| l.starts_with("vendor_id") && l.contains("GenuineIntel"));
    let mut args = Vec::new();
    if intel {
        args.push("intel_iommu=on".to_string());
    }
    if cfg.iommu_pt {
        args.push("iommu=pt".to_string());
    }
    if devices.iter().any(|d| d.boot_vga) {
        // The firmware's framebuffer (efifb/simpledrm, set up by sysfb) holds the boot GPU's
        // memory from early boot on; without it vfio-pci can take the card cleanly
        // (kernel-parameters: initcall_blacklist).
        args.push("initcall_blacklist=sysfb_init".to_string());
    }
    for a in &cfg.kernel_args {
        if !args.contains(a) {
            args.push(a.clone());
        }
    }
    Ok(args)
}

fn running_cmdline(cx: &Cx) -> Result<Vec<String>> {
    Ok(cx
        .read("/proc/cmdline")?
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect())
}

/// The EFI variable that says whether Secure Boot is on: 4 bytes of attributes, then the
/// value (UEFI spec, global variable GUID).
const SECURE_BOOT_VAR: &str =
    "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// Which command line the next boot reads, decided the way the installer and
/// proxmox-boot-tool decide it.
///
/// pve-installer `Proxmox/Install.pm`: ext4/xfs installs run `grub-install` and
/// `update-grub` themselves (no proxmox-boot-tool); ZFS and btrfs installs run
/// `proxmox-boot-tool init <esp>` per boot disk, with mode `grub` when Secure Boot is on, and
/// write `/etc/kernel/cmdline` (ZFS also `/etc/default/grub.d/zfs.cfg`) on *every* such
/// install. proxmox-kernel-helper `src/proxmox-boot/zz-proxmox-boot` (`update_esp_func`)
/// then decides per ESP: one holding `EFI/proxmox/grubx64.efi`, or any ESP when
/// `/sys/firmware/efi` is absent (legacy BIOS), boots GRUB and gets `update-grub` — whose
/// command line comes from `/etc/default/grub` and `grub.d`; only a UEFI boot of an ESP
/// without GRUB gets systemd-boot entries from `/etc/kernel/cmdline`. The ESPs are not
/// mounted, so the agent cannot see which mode each was initialised in: where
/// proxmox-boot-tool manages them it writes both, and `verify` after the reboot judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loader {
    /// GRUB installed by the installer itself (ext4, xfs): `update-grub`.
    Grub,
    /// proxmox-boot-tool manages the ESPs (ZFS, btrfs).
    ProxmoxBootTool { efi: bool, secure_boot: bool },
}

impl Loader {
    fn detect(cx: &Cx) -> Result<Loader> {
        let managed = cx
            .read(PBT_UUIDS)?
            .is_some_and(|s| s.lines().any(|l| !l.trim().is_empty()));
        if !managed {
            return Ok(Loader::Grub);
        }
        let efi = cx.host.exists("/sys/firmware/efi");
        let secure_boot = efi
            && cx
                .host
                .read(SECURE_BOOT_VAR)?
                .is_some_and(|v| v.get(4) == Some(&1));
        Ok(Loader::ProxmoxBootTool { efi, secure_boot })
    }

    /// What `plan` and `apply` say about the boot path, and why.
    fn describe(self) -> &'static str {
        match self {
            Loader::Grub => {
                "boot loader: GRUB (no /etc/kernel/proxmox-boot-uuids: installed by the installer \
                 itself); arguments in /etc/default/grub.d, then update-grub"
            }
            Loader::ProxmoxBootTool { efi: false, .. } => {
                "boot loader: GRUB through proxmox-boot-tool (legacy BIOS: every ESP boots GRUB, \
                 which reads /etc/default/grub.d); /etc/kernel/cmdline kept in step; then \
                 proxmox-boot-tool refresh"
            }
            Loader::ProxmoxBootTool {
                secure_boot: true, ..
            } => {
                "boot loader: GRUB through proxmox-boot-tool (UEFI with Secure Boot: the installer \
                 initialised the ESPs for GRUB, which reads /etc/default/grub.d); \
                 /etc/kernel/cmdline kept in step; then proxmox-boot-tool refresh"
            }
            Loader::ProxmoxBootTool { .. } => {
                "boot loader: systemd-boot through proxmox-boot-tool (UEFI without Secure Boot: \
                 entries from /etc/kernel/cmdline); /etc/default/grub.d kept in step for an ESP \
                 initialised for GRUB; then proxmox-boot-tool refresh"
            }
        }
    }

    fn refresh(self) -> Cmd {
        match self {
            Loader::Grub => Cmd::new("update-grub"),
            // It runs update-grub itself, with each GRUB ESP bind-mounted on /boot.
            Loader::ProxmoxBootTool { .. } => Cmd::new("proxmox-boot-tool").arg("refresh"),
        }
    }
}

/// Words of `GRUB_CMDLINE_LINUX*` in a GRUB defaults file (a shell fragment: only plain
/// assignments are understood, which is what the installer and admins write).
fn grub_words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for l in text.lines() {
        let l = l.trim();
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        if k != "GRUB_CMDLINE_LINUX" && k != "GRUB_CMDLINE_LINUX_DEFAULT" {
            continue;
        }
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
        out.extend(
            v.split_whitespace()
                .filter(|w| !w.starts_with('$'))
                .map(String::from),
        );
    }
    out
}

/// Put the arguments on every command line the next boot may read; returns whether a file
/// changed.
fn kernel_cmdline(cx: &mut Cx, loader: Loader, args: &[String]) -> Result<bool> {
    let grub = grub_dropin(cx, args)?;
    let kernel = match loader {
        Loader::Grub => false,
        Loader::ProxmoxBootTool { .. } => kernel_cmdline_file(cx, args)?,
    };
    Ok(grub || kernel)
}

/// `/etc/kernel/cmdline`: the systemd-boot entries' `options` line.
fn kernel_cmdline_file(cx: &mut Cx, args: &[String]) -> Result<bool> {
    let Some(line) = cx.read(KERNEL_CMDLINE)? else {
        // zz-proxmox-boot would fall back to /proc/cmdline; the installer always writes the
        // file on ZFS and btrfs, so a missing one is a host changed by hand.
        return Err(Error::msg(format!(
            "proxmox-boot-tool manages the ESPs but {KERNEL_CMDLINE} is missing; systemd-boot \
             entries would take /proc/cmdline. Write the root= line there first"
        )));
    };
    let mut words: Vec<String> = line.split_whitespace().map(String::from).collect();
    for a in args {
        if !words.contains(a) {
            words.push(a.clone());
        }
    }
    let new = format!("{}\n", words.join(" "));
    let mode = cx.host.file_mode(KERNEL_CMDLINE)?.unwrap_or(0o644);
    cx.write(KERNEL_CMDLINE, &new, mode)
}

/// Our GRUB drop-in with the arguments GRUB does not pass yet.
fn grub_dropin(cx: &mut Cx, args: &[String]) -> Result<bool> {
    // Everything GRUB already passes, from the main file and the other drop-ins.
    let mut have = grub_words(&cx.read("/etc/default/grub")?.unwrap_or_default());
    for name in cx.host.list_dir("/etc/default/grub.d")? {
        let path = format!("/etc/default/grub.d/{name}");
        if name.ends_with(".cfg") && path != GRUB_DROPIN {
            have.extend(grub_words(&cx.read(&path)?.unwrap_or_default()));
        }
    }
    let add: Vec<&str> = args
        .iter()
        .filter(|a| !have.contains(a))
        .map(String::as_str)
        .collect();
    if add.is_empty() {
        return cx.remove(GRUB_DROPIN);
    }
    let body = format!(
        "{}# IOMMU and passthrough arguments, added to what the other GRUB settings pass.\n\
         GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT {}\"\n",
        owned_header("passthrough phase"),
        add.join(" ")
    );
    cx.write(GRUB_DROPIN, &body, 0o644)
}

/// `/etc/modules` and our modprobe file; returns whether either changed.
fn vfio_config(cx: &mut Cx, cfg: &Passthrough, devices: &[PciDevice]) -> Result<bool> {
    let mut modules = cx.read(MODULES)?.unwrap_or_default();
    // vfio_virqfd was merged into vfio in kernel 6.2; loading it now only logs an error.
    if modules.lines().any(|l| l.trim() == "vfio_virqfd") {
        modules = modules
            .lines()
            .map(|l| {
                if l.trim() == "vfio_virqfd" {
                    format!("{DISABLED}{l}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
    }
    for m in VFIO_MODULES {
        modules = with_line(&modules, m);
    }
    let mode = cx.host.file_mode(MODULES)?.unwrap_or(0o644);
    let a = cx.write(MODULES, &modules, mode)?;

    // The host drivers to hold back: those bound now, those remembered from an earlier run
    // (after the reboot the devices are on vfio-pci and their drivers no longer show), and
    // those our file already names.
    let mut drivers: BTreeSet<String> = devices
        .iter()
        .filter_map(|d| d.driver.clone())
        .filter(|d| d != "vfio-pci")
        .collect();
    if let Some(r) = cx.recall("host-drivers") {
        drivers.extend(r.split(',').filter(|s| !s.is_empty()).map(String::from));
    }
    for l in cx.read(MODPROBE)?.unwrap_or_default().lines() {
        if let Some(d) = l
            .strip_prefix("softdep ")
            .and_then(|r| r.split_whitespace().next())
        {
            drivers.insert(d.to_string());
        }
    }
    let joined: Vec<&str> = drivers.iter().map(String::as_str).collect();
    if cx.recall("host-drivers") != Some(joined.join(",").as_str()) {
        cx.remember("host-drivers", &joined.join(","))?;
    }
    let ids: BTreeSet<String> = devices.iter().map(PciDevice::id).collect();
    let mut body = owned_header("passthrough phase");
    body.push_str("# Hand these devices to vfio-pci at boot.\n");
    body.push_str(&format!(
        "options vfio-pci ids={}{}\n",
        ids.into_iter().collect::<Vec<_>>().join(","),
        if cfg.disable_vga {
            " disable_vga=1"
        } else {
            ""
        }
    ));
    if !drivers.is_empty() {
        body.push_str("# Load vfio-pci before the host drivers, so it claims the devices first;\n");
        body.push_str(
            "# the drivers still serve every other device (a softdep, not a blacklist).\n",
        );
        for d in &drivers {
            body.push_str(&format!("softdep {d} pre: vfio-pci\n"));
        }
    }
    for d in &cfg.blacklist_drivers {
        body.push_str(&format!("blacklist {d}\n"));
    }
    if cfg.ignore_msrs {
        body.push_str("# Some guests (Windows, macOS) read MSRs KVM does not emulate.\n");
        body.push_str("options kvm ignore_msrs=1 report_ignored_msrs=0\n");
    }
    let b = cx.write(MODPROBE, &body, 0o644)?;
    Ok(a || b)
}

/// `blacklist-drivers` keeps a driver from loading at all, for every device it serves, not
/// only the ones passed through. So none may drive a device that stays with the host and
/// that the host cannot do without: its boot VGA device (the console, which this phase
/// otherwise never takes), a network controller (the host would be cut off after the
/// reboot this phase asks for) or a storage controller (it might not boot). Validate
/// refuses the well-known names; this catches the rest, from /sys.
fn blacklist_spares_the_host(
    blacklist: &[String],
    all: &[PciDevice],
    passed: &[PciDevice],
) -> Result<()> {
    // modprobe treats - and _ in module names alike.
    let norm = |s: &str| s.replace('-', "_");
    let mut problems = Vec::new();
    for d in all
        .iter()
        .filter(|d| !passed.iter().any(|p| p.addr == d.addr))
    {
        let Some(driver) = d.driver.as_deref() else {
            continue;
        };
        if !blacklist.iter().any(|b| norm(b) == norm(driver)) {
            continue;
        }
        let role = match d.class >> 16 {
            _ if d.boot_vga => "the boot VGA device (the host's console)",
            0x01 => "a storage controller",
            0x02 => "a network controller",
            _ => continue,
        };
        problems.push(format!(
            "blacklist-drivers: \"{driver}\" drives {} [{}], {role}, which stays on the host; \
             blacklisting it would take that device from the host too",
            d.addr,
            d.id()
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::msg(problems.join("; ")))
    }
}

/// Devices in `d`'s IOMMU group that are neither functions of its slot nor PCI bridges
/// (bridges stay with the host, as the kernel's vfio does: `vfio_bus_type`... leaves them;
/// qemu-server binds every other member, pve-common `SysFSTools.pm`).
pub(crate) fn group_strangers(cx: &Cx, d: &PciDevice, all: &[PciDevice]) -> Result<Vec<String>> {
    let Some(g) = &d.iommu_group else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for m in pci::group_members(cx.host, g)? {
        match all.iter().find(|x| x.addr == m) {
            Some(x) if x.slot() == d.slot() || x.is_bridge() => {}
            Some(x) => out.push(format!(
                "{} [{}] class {:06x} ({})",
                x.addr,
                x.id(),
                x.class,
                pci::used_as(cx.host, x)?
            )),
            None => out.push(m),
        }
    }
    Ok(out)
}

/// The kernel's own word on the IOMMU and interrupt remapping (a warning if remapping is
/// missing: passthrough works, but a guest could forge interrupts).
fn kernel_log(cx: &mut Cx) -> Result<()> {
    let out = cx.host.query(&Cmd::new("dmesg"))?;
    if out.recorded {
        cx.results
            .push("kernel log: not read (not a live host)".into());
        return Ok(());
    }
    let log = out.stdout;
    let iommu = log.lines().find(|l| {
        l.contains("DMAR: IOMMU enabled") || l.contains("AMD-Vi: ") || l.contains("IOMMU enabled")
    });
    cx.results.push(match iommu {
        Some(l) => format!("kernel log: {}", l.trim()),
        None => "kernel log: no DMAR/AMD-Vi line found".into(),
    });
    let remap = log
        .lines()
        .any(|l| l.contains("Enabled IRQ remapping") || l.contains("Interrupt remapping enabled"));
    if !remap {
        cx.results.push(
            "warning: interrupt remapping is not enabled; guests could forge interrupts".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(addr: &str, class: u32, device: u16) -> PciDevice {
        let n = |r: std::ops::Range<usize>| u8::from_str_radix(&addr[r], 16).unwrap();
        PciDevice {
            addr: addr.into(),
            domain: 0,
            bus: n(5..7),
            dev: n(8..10),
            func: n(11..12),
            vendor: 0x10de,
            device,
            class,
            boot_vga: false,
            driver: None,
            iommu_group: Some("1".into()),
        }
    }

    /// Each kind of selector takes exactly its devices: a function only itself, a slot
    /// every function of it, and nothing else on the bus.
    #[test]
    fn selectors_pick_exactly_their_devices() {
        let all = [
            dev("0000:00:02.0", 0x030000, 0x1),
            dev("0000:01:00.0", 0x030000, 0x2204),
            dev("0000:01:00.1", 0x040300, 0x1aef),
            dev("0000:02:00.0", 0x010802, 0x3),
        ];
        let addrs = |s: &str| -> Vec<String> {
            resolve(&[DeviceSel::parse(s).unwrap()], &all, false)
                .unwrap()
                .into_iter()
                .map(|d| d.addr)
                .collect()
        };
        assert_eq!(addrs("0000:01:00.1"), ["0000:01:00.1"]);
        assert_eq!(addrs("01:00.0"), ["0000:01:00.0"]);
        assert_eq!(addrs("0000:01:00"), ["0000:01:00.0", "0000:01:00.1"]);
        assert_eq!(addrs("10de:1aef"), ["0000:01:00.1"]);
        assert!(resolve(&[DeviceSel::parse("0000:03:00.0").unwrap()], &all, false).is_err());
    }

    #[test]
    fn grub_words_skip_expansions() {
        let t = "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX root=ZFS=rpool/ROOT/pve-1 boot=zfs\"\n";
        assert_eq!(
            grub_words(t),
            vec!["quiet", "root=ZFS=rpool/ROOT/pve-1", "boot=zfs"]
        );
    }
}
