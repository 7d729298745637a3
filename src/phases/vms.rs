//! The `vms` phase (`[[vm]]`): guests from a cloud image configured by cloud-init at their
//! first boot, and guests with an empty disk (a Windows or GPU VM) that get PCI devices the
//! passthrough phase binds — each made once through the one way to make a VM
//! (`src/phases/vm.rs`), with the same tag, adoption, record-before-create and cleanup as
//! HAOS. It runs after `haos` and before `verify`; HAOS starts first at boot, then these in
//! file order.

use std::net::Ipv4Addr;

use super::vm::{CloudInitDrive, Extra, Image, Made, Vm};
use super::{Cx, Phase, owned_header};
use crate::answer::{Answer, Bios, CloudInit, ImageSource, VmCfg};
use crate::error::{Error, Result};
use crate::fetch::Source;
use crate::host::{Cmd, Host};
use crate::pci::{self, PciDevice};
use crate::phases::passthrough::resolve;
use crate::prefetch::Download;
use crate::state::State;
use crate::storage;

pub struct VmsPhase;

/// What the guest phases need first: their bridge and static leases come from the network
/// phase.
pub(super) const GUEST_DEPS: &[&str] = &["network"];

impl Phase for VmsPhase {
    fn id(&self) -> &'static str {
        "vms"
    }

    fn depends_on(&self) -> &'static [&'static str] {
        GUEST_DEPS
    }

    fn not_configured(&self, a: &Answer) -> Option<String> {
        a.vms
            .is_empty()
            .then(|| "no [[vm]] tables in the answer".into())
    }

    fn apply(&self, cx: &mut Cx) -> Result<()> {
        each_vm(cx, |cx, i, cfg| {
            let pci = Pci::of(cx, cfg)?;
            vm(cx, i, cfg, &pci).ensure(cx, &|cx| match &cfg.cloud_init {
                Some(ci) => {
                    if ci.sum.is_none() && !ci.allow_unpinned {
                        let table = format!("[[vm]] {} ({})", i + 1, cfg.name);
                        super::vm::refuse_unpinned(cx, &table, "its cloud image")?;
                    }
                    Ok(Made {
                        cloud_init: Some(snippet(cx, cfg, ci)?),
                        image: Some(image(cfg, ci)?),
                        template: None,
                    })
                }
                None => Ok(Made::default()),
            })
        })
    }

    /// After the reboot: each VM's PCI devices on vfio-pci (then a VM to start is started),
    /// and the VM with its disk.
    fn verify(&self, cx: &mut Cx) -> Result<()> {
        each_vm(cx, |cx, i, cfg| {
            let pci = Pci::of(cx, cfg)?;
            for d in &pci.devices {
                cx.results.push(format!(
                    "VM {}: {} on {}",
                    cfg.vmid,
                    d.addr,
                    d.driver.as_deref().unwrap_or("no driver")
                ));
            }
            let vm = vm(cx, i, cfg, &pci);
            if let Some(why) = vm
                .extra
                .hold_start
                .as_ref()
                .or(vm.extra.never_start.as_ref())
            {
                return Err(Error::msg(format!("VM {}: {why}", cfg.vmid)));
            }
            vm.verify_and_start(cx)
        })
    }
}

/// Every `[[vm]]`, each on its own (see [`each`]).
fn each_vm(cx: &mut Cx, f: impl Fn(&mut Cx, usize, &VmCfg) -> Result<()>) -> Result<()> {
    let name = |i, v: &VmCfg| format!("vm[{i}] (VM {} {})", v.vmid, v.name);
    each(cx, |a| &a.vms, name, f)
}

/// Every guest of a list of the answer (`pick`), each on its own: one that fails does not
/// keep the others from being made; the phase fails naming (`name`) each that failed.
pub(super) fn each<T: Clone>(
    cx: &mut Cx,
    pick: fn(&Answer) -> &Vec<T>,
    name: impl Fn(usize, &T) -> String,
    f: impl Fn(&mut Cx, usize, &T) -> Result<()>,
) -> Result<()> {
    let list = pick(cx.answer).clone();
    let mut failed = Vec::new();
    for (i, g) in list.iter().enumerate() {
        if let Err(e) = f(cx, i, g) {
            failed.push(format!("{}: {e}", name(i, g)));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::msg(failed.join("; ")))
    }
}

/// A VM's PCI devices as the host has them, and its `hostpciN` values.
struct Pci {
    devices: Vec<PciDevice>,
    entries: Vec<String>,
    /// Devices sharing an IOMMU group with one of ours that are neither its functions nor
    /// bridges: `qm start` would take them from the host too.
    strangers: Vec<String>,
}

impl Pci {
    /// Resolved with the passthrough phase's own rules, and refused unless every device is
    /// one the passthrough phase binds. Every function of a slot the VM takes whole goes
    /// as one entry (`0000:01:00`: qemu-server `src/PVE/QemuServer/PCI.pm` passes all
    /// functions of a `bus:dev` without `.func`); on q35 with `pcie=1`, and the first GPU
    /// as the primary display (`x-vga=1`).
    fn of(cx: &Cx, cfg: &VmCfg) -> Result<Pci> {
        if cfg.hostpci.is_empty() {
            return Ok(Pci {
                devices: Vec::new(),
                entries: Vec::new(),
                strangers: Vec::new(),
            });
        }
        let p = cx
            .answer
            .passthrough
            .as_ref()
            .ok_or_else(|| Error::msg("hostpci needs [passthrough]"))?;
        let all = pci::scan(cx.host)?;
        let bound = resolve(&p.devices, &all, p.take_boot_vga)?;
        let devices = resolve(&cfg.hostpci, &all, p.take_boot_vga)?;
        if let Some(d) = devices
            .iter()
            .find(|d| !bound.iter().any(|b| b.addr == d.addr))
        {
            return Err(Error::msg(format!(
                "hostpci takes {d}, which [passthrough] does not bind; add it to its devices"
            )));
        }
        let mut entries = Vec::new();
        let mut vga = false;
        let mut done: Vec<String> = Vec::new();
        for d in &devices {
            let slot = d.slot();
            if done.contains(&slot) {
                continue;
            }
            let whole = all
                .iter()
                .filter(|a| a.slot() == slot)
                .all(|a| devices.iter().any(|x| x.addr == a.addr));
            let members: Vec<&PciDevice> = if whole {
                done.push(slot.clone());
                devices.iter().filter(|x| x.slot() == slot).collect()
            } else {
                vec![d]
            };
            let mut e = format!("{},pcie=1", if whole { &slot } else { &d.addr });
            if !vga && members.iter().any(|m| m.is_display()) {
                vga = true;
                e.push_str(",x-vga=1");
            }
            entries.push(e);
        }
        // Every device's group, every member of it, before any start or onboot: qemu-server
        // binds the whole group to vfio-pci at `qm start` (`PCI.pm` `prepare_pci_device`,
        // pve-common `SysFSTools.pm`), which takes a NIC or disk controller in it from the
        // host, at every boot.
        let mut strangers = Vec::new();
        for d in &devices {
            for x in super::passthrough::group_strangers(cx, d, &all)? {
                if !strangers.contains(&x) && !devices.iter().any(|d| x.starts_with(&d.addr)) {
                    strangers.push(x);
                }
            }
        }
        Ok(Pci {
            devices,
            entries,
            strangers,
        })
    }

    /// Why the VM must never start: devices of the host in its devices' IOMMU groups.
    fn unsafe_group(&self, vmid: u32) -> Option<String> {
        (!self.strangers.is_empty()).then(|| {
            format!(
                "its PCI devices share an IOMMU group with {}, which starting it would take \
                 from the host; move the card to another slot (or use a board with ACS), then \
                 `qm set {vmid} --onboot 1` and start it yourself",
                self.strangers.join("; ")
            )
        })
    }

    /// Whether the VM can start now: every device on vfio-pci.
    fn not_ready(&self) -> Option<String> {
        let off: Vec<String> = self
            .devices
            .iter()
            .filter(|d| d.driver.as_deref() != Some("vfio-pci"))
            .map(|d| {
                format!(
                    "{} is on {}",
                    d.addr,
                    d.driver.as_deref().unwrap_or("no driver")
                )
            })
            .collect();
        (!off.is_empty()).then(|| {
            format!(
                "its PCI devices are not on vfio-pci yet ({}); the passthrough phase's reboot \
                 binds them",
                off.join(", ")
            )
        })
    }
}

/// The `[[vm]]` preset of the one way to make a VM.
fn vm<'a>(cx: &Cx, i: usize, cfg: &'a VmCfg, pci: &Pci) -> Vm<'a> {
    let windows = cfg.is_modern_windows();
    let gpu = pci.entries.iter().any(|e| e.contains("x-vga=1"));
    Vm {
        vmid: cfg.vmid,
        name: &cfg.name,
        prefix: format!("vm{}-", cfg.vmid),
        table: format!("vm[{i}]"),
        storage: cfg.storage.as_deref(),
        cores: cfg.cores,
        memory: cfg.memory,
        mac: cfg.mac(cx.answer.installer.fqdn.as_deref()),
        bridge: &cfg.bridge,
        ostype: &cfg.ostype,
        disk_size: cfg.disk_size.clone(),
        start: cfg.start,
        usb: &cfg.usb,
        extra: Extra {
            seabios: cfg.bios == Bios::Seabios,
            secure_boot_keys: windows,
            tpm: windows,
            cpu_host: windows || !pci.entries.is_empty(),
            balloon_off: !pci.entries.is_empty(),
            vga: if gpu {
                Some("none")
            } else if cfg.cloud_init.is_some() {
                Some("serial0")
            } else {
                None
            },
            no_serial: cfg.ostype.starts_with('w'),
            hostpci: pci.entries.clone(),
            // HAOS is 1; the [[vm]]s follow in file order.
            startup_order: Some(2 + i as u32),
            iso: cfg.iso.clone(),
            hold_start: pci.not_ready(),
            never_start: pci.unsafe_group(cfg.vmid),
            tablet_off: false,
            lxc: None,
        },
    }
}

/// The cloud images to download in the background, of the VMs not made yet whose image the
/// phase will take (pinned, or unpinned allowed).
pub fn downloads(host: &Host, answer: &Answer, st: &State) -> Vec<Download> {
    answer
        .vms
        .iter()
        .filter_map(|cfg| {
            let ci = cfg.cloud_init.as_ref()?;
            let prefix = format!("vm{}-", cfg.vmid);
            ((ci.sum.is_some() || ci.allow_unpinned)
                && super::vm::to_be_made(host, st, "vms", &prefix, cfg.vmid))
            .then(|| image(cfg, ci).ok().map(|i| i.download()))?
        })
        .collect()
}

fn image(cfg: &VmCfg, ci: &CloudInit) -> Result<Image> {
    let (source, name) = match &ci.image {
        ImageSource::Url(u) => (Source::Url(u.clone()), u.as_str()),
        ImageSource::Path(p) => (Source::File(p.clone()), p.as_str()),
        // The answer never gives one (`image` is required in [vm.cloud-init]).
        ImageSource::Release => return Err(Error::msg("a cloud image needs a URL or a path")),
    };
    let xz = name.ends_with(".xz");
    let base = name.rsplit('/').next().unwrap_or("image");
    let base = base.strip_suffix(".xz").unwrap_or(base);
    // A file name of safe characters only, whatever the URL's last part holds (a query).
    let base: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(Image {
        what: format!("cloud image {base}"),
        source,
        sum: ci.sum.clone(),
        xz,
        file: format!("vm{}-{base}", cfg.vmid),
    })
}

/// The user-data snippet, on a storage that holds snippets (`local` gets the content
/// type when none has it), and the VM's cloud-init network settings.
fn snippet(cx: &mut Cx, cfg: &VmCfg, ci: &CloudInit) -> Result<CloudInitDrive> {
    let sn = storage::snippets(&storage::read(cx.host)?)?;
    let id = sn.storage.id.clone();
    if let Some(content) = &sn.enable {
        if cx.recall("snippets-enabled") != Some(id.as_str()) {
            // pve-storage `src/PVE/API2/Storage/Config.pm` `update` (`pvesm set`): the
            // content list is replaced, so it carries the types the storage had.
            cx.run(Cmd::new("pvesm").args(["set", &id, "--content", content]))?;
            cx.changes.push(format!(
                "enabled snippets on storage {id} (content {content}) for cloud-init user data"
            ));
            cx.remember("snippets-enabled", &id)?;
        }
    }
    let file = format!("pve-firstboot-{}-user.yaml", cfg.vmid);
    cx.write(&format!("{}/{file}", sn.dir()), &user_data(cfg, ci), 0o600)?;
    let vb = cx
        .answer
        .network
        .as_ref()
        .and_then(|n| n.vm_bridge.as_ref())
        .filter(|b| b.name == cfg.bridge);
    let (ipconfig0, nameserver) = match (cfg.ip, vb) {
        (Some(ip), Some(b)) => (
            format!("ip={ip}/{},gw={}", b.cidr.prefix, b.cidr.addr),
            Some(b.cidr.addr.to_string()),
        ),
        _ => ("ip=dhcp".to_string(), None),
    };
    Ok(CloudInitDrive {
        ipconfig0,
        nameserver,
        user_data: format!("{id}:snippets/{file}"),
    })
}

/// A YAML double-quoted scalar (the JSON escapes, which YAML shares).
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// cloud-init user data: the host name, the user (or the image's default user) with the
/// keys, and the packages — `qemu-guest-agent` always, since the VM has `agent enabled=1`.
pub fn user_data(cfg: &VmCfg, ci: &CloudInit) -> String {
    let keys = |indent: &str| {
        ci.ssh_keys
            .iter()
            .map(|k| format!("{indent}- {}\n", quoted(k)))
            .collect::<String>()
    };
    let mut y = format!(
        "#cloud-config\n{}hostname: {}\nmanage_etc_hosts: true\n",
        owned_header(&format!(
            "vms phase: VM {}'s cloud-init user data",
            cfg.vmid
        )),
        cfg.name
    );
    match &ci.user {
        Some(u) => y.push_str(&format!(
            "users:\n  - name: {u}\n    groups: [sudo]\n    shell: /bin/bash\n    \
             sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n    lock_passwd: true\n    \
             ssh_authorized_keys:\n{}",
            keys("      ")
        )),
        // The image's default user (`debian` on Debian's images) gets the keys.
        None => y.push_str(&format!("ssh_authorized_keys:\n{}", keys("  "))),
    }
    y.push_str("package_update: true\npackages:\n  - qemu-guest-agent\n");
    for p in &ci.packages {
        y.push_str(&format!("  - {p}\n"));
    }
    y.push_str("runcmd:\n  - [systemctl, start, qemu-guest-agent]\n");
    y
}

/// The static DHCP leases of the `[[vm]]`s and `[[container]]`s on `bridge`, for the
/// network phase's dnsmasq.
pub fn leases(answer: &Answer, bridge: &str) -> Vec<(String, Ipv4Addr, String)> {
    let fqdn = answer.installer.fqdn.as_deref();
    let vms = answer
        .vms
        .iter()
        .map(|v| (v.bridge.as_str(), v.mac(fqdn), v.ip, v.name.clone()));
    let cts = answer
        .containers
        .iter()
        .map(|c| (c.bridge.as_str(), c.mac(fqdn), c.ip, c.hostname.clone()));
    vms.chain(cts)
        .filter(|(b, ..)| *b == bridge)
        .filter_map(|(_, mac, ip, name)| Some((mac, ip?, name)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(user: Option<&str>) -> (VmCfg, CloudInit) {
        let ci = CloudInit {
            image: ImageSource::Url("https://example.org/debian.qcow2".into()),
            sum: None,
            allow_unpinned: true,
            user: user.map(String::from),
            ssh_keys: vec!["ssh-ed25519 AAAA k\"ey\\".into()],
            packages: vec!["docker.io".into()],
        };
        let v = VmCfg {
            vmid: 101,
            name: "docker".into(),
            ostype: "l26".into(),
            bios: Bios::Ovmf,
            cores: 2,
            memory: 2048,
            disk_size: "32G".into(),
            storage: None,
            bridge: "vmbr1".into(),
            ip: None,
            start: true,
            iso: None,
            hostpci: Vec::new(),
            usb: Vec::new(),
            cloud_init: Some(ci.clone()),
        };
        (v, ci)
    }

    #[test]
    fn user_data_gives_the_keys_to_the_named_or_the_default_user() {
        let (v, ci) = cfg(Some("admin"));
        let y = user_data(&v, &ci);
        assert!(y.starts_with("#cloud-config\n"), "{y}");
        assert!(y.contains("users:\n  - name: admin\n"), "{y}");
        // Quoted the YAML (and JSON) way: a quote or backslash cannot end the string.
        assert!(
            y.contains("      - \"ssh-ed25519 AAAA k\\\"ey\\\\\"\n"),
            "{y}"
        );
        assert!(y.contains("  - qemu-guest-agent\n  - docker.io\n"), "{y}");
        let (v, ci) = cfg(None);
        let y = user_data(&v, &ci);
        assert!(!y.contains("users:"), "{y}");
        assert!(
            y.contains("\nssh_authorized_keys:\n  - \"ssh-ed25519"),
            "{y}"
        );
    }

    #[test]
    fn the_image_file_is_named_per_vm_and_xz_is_seen() {
        let (v, mut ci) = cfg(None);
        let i = image(&v, &ci).unwrap();
        assert_eq!((i.file.as_str(), i.xz), ("vm101-debian.qcow2", false));
        ci.image = ImageSource::Path("/srv/x/debian.raw.xz".into());
        let i = image(&v, &ci).unwrap();
        assert_eq!((i.file.as_str(), i.xz), ("vm101-debian.raw", true));
        ci.image = ImageSource::Url("https://x/img?a=b&c%20d".into());
        assert_eq!(image(&v, &ci).unwrap().file, "vm101-img_a_b_c_20d");
    }
}
