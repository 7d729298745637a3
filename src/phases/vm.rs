//! One way to make a guest, for every VM and container the agent creates (`[haos]` is a
//! preset of it; a `[[container]]` is one with [`Extra::lxc`], made by `pct` where a VM is
//! made by `qm`):
//! the storage checked before anything is fetched, the disk image fetched and verified
//! once, `qm create` with our tag, `qm disk import`, then made whole and started — and an
//! attempt cut off half-way cleaned up, but only what the state recorded as ours.
//!
//! The state (per phase, each key under the VM's `prefix`) records, in this order:
//! `image` (the temporary file) before the download, `creating` before `qm create`, with
//! `volumes-storage` and `volumes-before` (the VMID's volumes on the VM's storage before
//! any is made, on a live host), `volume` right after `qm disk import`, then `vm` when the
//! VM is complete (and the others go). A command cut off half-way (`qm disk import`, or a
//! `qm set` that allocates the EFI vars, the TPM state, a disk or the cloud-init drive) can
//! leave a volume that no config names yet; the volumes that appeared since
//! `volumes-before` are such ones, and nothing but our attempt makes volumes for a VMID that
//! had no VM. A VM whose `vm` is recorded is never made again: an admin who removed it
//! meant it.

use super::Cx;
use crate::error::{Error, Result};
use crate::fetch::{self, Source};
use crate::host::{Cmd, Host};
use crate::prefetch::Download;
use crate::state::State;
use crate::storage::{self, Storage};

/// The tag that marks a VM as made by the agent.
pub const TAG: &str = "pve-firstboot";
/// Where a downloaded image waits for `qm disk import`: the `local` directory, which
/// exists on every install (pve-storage `Plugin.pm` `parse_config` insists on it).
pub const TMP_DIR: &str = "/var/lib/vz/images/pve-firstboot";

/// What a guest is, as `qm create` takes it.
pub struct Vm<'a> {
    pub vmid: u32,
    /// The VM's name in Proxmox.
    pub name: &'a str,
    /// Prefix of this VM's keys in the phase's state ("" for a phase with one VM).
    pub prefix: String,
    /// The answer table that describes the VM, for messages (`haos`, `vm[0]`).
    pub table: String,
    pub storage: Option<&'a str>,
    pub cores: u32,
    /// MiB.
    pub memory: u32,
    pub mac: String,
    pub bridge: &'a str,
    pub ostype: &'a str,
    /// As `qm resize` and `pct resize` take it (`32G`).
    pub disk_size: String,
    pub start: bool,
    /// Host USB devices (`usbN: host=...`).
    pub usb: &'a [String],
    /// What this guest has beyond the common base (`Default`: nothing, the HAOS preset).
    pub extra: Extra,
}

/// Hardware and settings a guest may add to the common base. Every option below is
/// qemu-server's (`src/PVE/QemuServer.pm` `$confdesc` unless named otherwise).
#[derive(Default)]
pub struct Extra {
    /// SeaBIOS on Proxmox's default machine (i440fx) instead of OVMF on q35.
    pub seabios: bool,
    /// `efidisk0 ...,pre-enrolled-keys=1`: Secure Boot on with Microsoft's and the
    /// distributions' keys (`src/PVE/QemuServer/Drive.pm`, `%efitype_fmt`; needs
    /// `efitype=4m`).
    pub secure_boot_keys: bool,
    /// `tpmstate0 <storage>:1,version=v2.0` (`Drive.pm`, `%tpmversion_fmt`: v2.0 cannot
    /// be changed later, and Windows 11 requires it).
    pub tpm: bool,
    /// `cpu host`: every CPU feature the host has (Windows 11's CPU check, GPU drivers).
    pub cpu_host: bool,
    /// `balloon 0`: no ballooning (`balloon`: "disabled ... by setting the value to
    /// zero"). A VM with PCI devices has all its memory pinned for DMA, so a balloon could
    /// never give any back.
    pub balloon_off: bool,
    /// `vga`: `none` when a passed GPU is the primary display, `serial0` for a cloud
    /// image's serial console (both in `$vga_fmt`'s `type` enum; pve-docs
    /// `qm-cloud-init.adoc` uses `--serial0 socket --vga serial0`).
    pub vga: Option<&'static str>,
    /// No `serial0 socket` (Windows has no use for it).
    pub no_serial: bool,
    /// `hostpciN` values, as `host[,pcie=1][,x-vga=1]` (`src/PVE/QemuServer/PCI.pm`,
    /// `$hostpci_fmt`).
    pub hostpci: Vec<String>,
    /// `startup order=N`: the start order at boot (`startup`, the standard option
    /// `pve-startup-order`; lower first, and VMs without one start after all that
    /// have one: pve-docs `qm.adoc`, "Automatic Start and Shutdown").
    pub startup_order: Option<u32>,
    /// Boot media: an ISO volume as `ide2 <volume>,media=cdrom`, booted after the disk.
    pub iso: Option<String>,
    /// Why the VM must not start now although `start` is set (its PCI devices are not on
    /// vfio-pci yet: `verify` starts it after the reboot).
    pub hold_start: Option<String>,
    /// Why the VM must never be started by us nor at boot (a passed-through device shares
    /// its IOMMU group with a device the host uses: `qm start` would take the whole group
    /// from the host, qemu-server `PCI.pm` `prepare_pci_device`). It is made, left off,
    /// with `onboot 0`, and the reason is reported.
    pub never_start: Option<String>,
    /// `tablet 0`: no USB tablet device (qemu-server `$confdesc` `tablet`: only for
    /// absolute mouse positioning in VNC, and it costs context switches). HAOS has no
    /// desktop to point at.
    pub tablet_off: bool,
    /// A container, made by `pct` (`None`: a VM, made by `qm`).
    pub lxc: Option<Lxc>,
}

/// What a container has beyond the common base; every option is pve-container's
/// (`src/PVE/LXC/Config.pm`, `$confdesc`).
pub struct Lxc {
    /// `unprivileged 1`: root in the container is an unprivileged user on the host.
    pub unprivileged: bool,
    /// `features` (`$features_desc`): `nesting=1`, `keyctl=1`; `None`: none.
    pub features: Option<String>,
    /// MiB.
    pub swap: u32,
    /// `mpN`, in order: a host directory bound in, or a new volume on its storage (the
    /// container's own when `None`).
    pub mounts: Vec<crate::answer::CtMount>,
    /// `nameserver`: the VM bridge's dnsmasq, for a container on that bridge.
    pub nameserver: Option<String>,
    /// root's keys in the container (`ssh-public-keys`, which `pct` reads from a file).
    pub ssh_keys: Vec<String>,
}

/// The two kinds of guest, by the tool that makes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// qemu-server's `qm`.
    Vm,
    /// pve-container's `pct`.
    Ct,
}

impl Kind {
    pub fn cli(self) -> &'static str {
        match self {
            Kind::Vm => "qm",
            Kind::Ct => "pct",
        }
    }
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Vm => "VM",
            Kind::Ct => "CT",
        }
    }
    /// Where pmxcfs keeps the guest's config (`/etc/pve/qemu-server`, `/etc/pve/lxc`: links
    /// to the node's directory).
    pub fn conf_path(self, vmid: u32) -> String {
        match self {
            Kind::Vm => format!("/etc/pve/qemu-server/{vmid}.conf"),
            Kind::Ct => format!("/etc/pve/lxc/{vmid}.conf"),
        }
    }
    /// The disk the guest is made with: a VM's first SCSI disk, a container's root.
    pub fn root_disk(self) -> &'static str {
        match self {
            Kind::Vm => "scsi0",
            Kind::Ct => "rootfs",
        }
    }
    /// The storage content its disks are: `images` for VMs, `rootdir` for containers
    /// (pve-storage `Plugin.pm`, `$valid_content_types` / each plugin's `plugindata`).
    pub fn content(self) -> &'static str {
        match self {
            Kind::Vm => "images",
            Kind::Ct => "rootdir",
        }
    }
}

/// `ide2 <storage>:cloudinit` (pve-docs `qm-cloud-init.adoc`), its network and user data.
pub struct CloudInitDrive {
    /// `ipconfig0`: `ip=dhcp`, or `ip=A.B.C.D/N,gw=G` (qemu-server
    /// `src/PVE/QemuServer/Network.pm` `$ipconfigdesc`, its `ip` and `gw` keys, read by
    /// `src/PVE/QemuServer/Cloudinit.pm`).
    pub ipconfig0: String,
    /// `nameserver` (`$confdesc_cloudinit`): the DNS server cloud-init configures.
    pub nameserver: Option<String>,
    /// `cicustom user=<storage>:snippets/<file>` (`$cicustom_fmt`): our user-data in place
    /// of the one Proxmox would generate.
    pub user_data: String,
}

/// The disk image a VM is made from, known once the phase decided to create the VM.
pub struct Image {
    /// What the VM holds, for its description and messages (`Home Assistant OS 16.3`).
    pub what: String,
    pub source: Source,
    /// SHA-256 or SHA-512, as the answer pins it.
    pub sum: Option<String>,
    /// The file is xz-compressed.
    pub xz: bool,
    /// The temporary file name under [`TMP_DIR`].
    pub file: String,
}

impl Image {
    /// Its download, as a background one is started (`prefetch.rs`).
    pub fn download(&self) -> Download {
        Download {
            dest: format!("{TMP_DIR}/{}", self.file),
            source: self.source.clone(),
            sum: self.sum.clone(),
            xz: self.xz,
        }
    }

    fn fetch_now(&self, cx: &Cx) -> Result<fetch::Fetched> {
        let d = self.download();
        fetch::fetch_disk_image(cx.host, &d.source, d.sum.as_deref(), &d.dest, d.xz)
    }
}

/// An image without a checksum, not allowed unpinned: an answer `pve-firstboot image` did
/// not pin (`--no-pin`, or a hook made by hand). A live host refuses it before it asks
/// anyone for anything; `plan` and `--root` say so and go on, to show the rest.
pub fn refuse_unpinned(cx: &mut Cx, table: &str, what: &str) -> Result<()> {
    let msg = format!(
        "{table}: {what} is not pinned (no checksum, and allow-unpinned is not set): \
         `pve-firstboot image` pins it from its publisher when it builds the hook, \
         `pve-firstboot pin FILE` writes it into the answer"
    );
    if cx.host.is_live() {
        return Err(Error::msg(msg));
    }
    cx.results
        .push(format!("{msg}; a live host refuses it before the download"));
    Ok(())
}

/// What a VM is made from, prepared only once the VM is really to be made (not for one
/// that exists or is refused).
#[derive(Default)]
pub struct Made {
    /// The disk image; `None`: an empty disk of the VM's disk size.
    pub image: Option<Image>,
    /// The cloud-init drive and what it tells the guest.
    pub cloud_init: Option<CloudInitDrive>,
    /// A container's template (`STORAGE:vztmpl/FILE`), on its storage already, and what it
    /// is (for the description).
    pub template: Option<(String, String)>,
}

/// Prepares a VM's [`Made`].
pub type MadeFn<'f> = &'f dyn Fn(&mut Cx) -> Result<Made>;

/// Whether a VM will be made (so its image is needed): the state of `phase` does not record
/// it as made (`vm` under `prefix`) and no VM with its VMID exists.
/// A VMID is one guest's, of either kind.
pub fn to_be_made(host: &Host, st: &State, phase: &str, prefix: &str, vmid: u32) -> bool {
    let made = st
        .phase(phase)
        .and_then(|p| p.data.get(&format!("{prefix}vm")))
        .is_some();
    !made
        && ![Kind::Vm, Kind::Ct]
            .iter()
            .any(|k| host.exists(&k.conf_path(vmid)))
}

/// A key of a Proxmox VM config (`key: value` lines before the first snapshot section).
pub fn conf_value<'c>(conf: &'c str, key: &str) -> Option<&'c str> {
    conf.lines()
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(str::trim)
}

pub fn is_ours(conf: &str) -> bool {
    conf_value(conf, "tags").is_some_and(|t| t.split([';', ',', ' ']).any(|x| x == TAG))
}

impl Vm<'_> {
    fn key(&self, k: &str) -> String {
        format!("{}{k}", self.prefix)
    }

    pub fn kind(&self) -> Kind {
        if self.extra.lxc.is_some() {
            Kind::Ct
        } else {
            Kind::Vm
        }
    }

    fn conf_path(&self) -> String {
        self.kind().conf_path(self.vmid)
    }

    /// `qm ARGS` or `pct ARGS`.
    fn cli<I: IntoIterator<Item = S>, S: Into<String>>(&self, args: I) -> Cmd {
        Cmd::new(self.kind().cli()).args(args)
    }

    /// The guest's config, of its own kind; a VMID the other kind holds is refused (pmxcfs
    /// keeps one config per VMID).
    fn existing_conf(&self, cx: &Cx) -> Result<Option<String>> {
        let other = match self.kind() {
            Kind::Vm => Kind::Ct,
            Kind::Ct => Kind::Vm,
        };
        if cx.host.exists(&other.conf_path(self.vmid)) {
            return Err(Error::msg(format!(
                "VMID {} is taken by a {} ({}); it is left untouched. Choose another {}.vmid",
                self.vmid,
                other.noun(),
                other.conf_path(self.vmid),
                self.table
            )));
        }
        cx.read(&self.conf_path())
    }

    /// Make the VM unless it exists: adopted when it carries our tag and its disk, refused
    /// when it is someone else's. `made` is asked for only when the VM is really made.
    pub fn ensure(&self, cx: &mut Cx, made: MadeFn) -> Result<()> {
        self.ensure_as_is(cx, made).map_err(|e| {
            match storage::thin_pool_hint(&e.to_string()).filter(|_| !e.is_crash()) {
                Some(hint) => Error::msg(format!("{e}; {hint}")),
                None => e,
            }
        })
    }

    fn ensure_as_is(&self, cx: &mut Cx, made: MadeFn) -> Result<()> {
        let vmid = self.vmid.to_string();
        let n = self.kind().noun();
        if cx.recall(&self.key("vm")) == Some(vmid.as_str()) {
            cx.results
                .push(format!("{n} {vmid} was made by pve-firstboot earlier"));
            self.attach_iso(cx)?;
            return self.ensure_started(cx);
        }
        // After a cleanup the VM is gone (on a live host; under --root, qm is only
        // recorded and its config stays in the tree).
        if !self.cleanup_half_made(cx)? {
            if let Some(conf) = self.existing_conf(cx)? {
                return self.adopt_or_refuse(cx, &conf);
            }
        }
        self.create(cx, made)
    }

    /// After the reboot: the VM exists and has its disk; whether each USB device is
    /// plugged in is reported (a stick added later is picked up when the VM starts).
    pub fn verify(&self, cx: &mut Cx) -> Result<()> {
        let n = self.kind().noun();
        for u in self.usb {
            let present = usb_present(cx, u)?;
            cx.results.push(format!(
                "VM {}: USB {u} {}",
                self.vmid,
                if present {
                    "is plugged in"
                } else {
                    "is not plugged in (the VM gets it once it is)"
                }
            ));
        }
        if !cx.host.is_live() {
            // qm was only recorded: its config files are whatever the tree had.
            cx.results
                .push(format!("{n} {}: not checked (not a live host)", self.vmid));
            return Ok(());
        }
        let Some(conf) = cx.read(&self.conf_path())? else {
            return Err(Error::msg(format!("{n} {} does not exist", self.vmid)));
        };
        let disk = self.kind().root_disk();
        let root = conf_value(&conf, disk)
            .ok_or_else(|| Error::msg(format!("{n} {} has no {disk} disk", self.vmid)))?;
        cx.results.push(format!("{n} {}: {disk} {root}", self.vmid));
        if self.extra.lxc.is_some() {
            for i in 0..256 {
                if let Some(v) = conf_value(&conf, &format!("mp{i}")) {
                    cx.results.push(format!("CT {}: mp{i} {v}", self.vmid));
                }
            }
        }
        // What the guest was given beyond its disk, as its config now says.
        for (i, _) in self.extra.hostpci.iter().enumerate() {
            let key = format!("hostpci{i}");
            let v = conf_value(&conf, &key).unwrap_or("missing");
            cx.results.push(format!("VM {}: {key} {v}", self.vmid));
        }
        for key in ["tpmstate0", "cicustom", "ipconfig0"] {
            if let Some(v) = conf_value(&conf, key) {
                cx.results.push(format!("VM {}: {key} {v}", self.vmid));
            }
        }
        Ok(())
    }

    /// After the reboot: [`Vm::verify`], then started if it is to start.
    pub fn verify_and_start(&self, cx: &mut Cx) -> Result<()> {
        self.verify(cx)?;
        self.ensure_started(cx)
    }

    /// A VM with our VMID exists although the state does not say we made it.
    fn adopt_or_refuse(&self, cx: &mut Cx, conf: &str) -> Result<()> {
        let (n, cli) = (self.kind().noun(), self.kind().cli());
        if !is_ours(conf) {
            return Err(Error::msg(format!(
                "{n} {} exists and is not ours (no \"{TAG}\" tag); it is left untouched. \
                 Choose another {}.vmid or remove that {n}",
                self.vmid, self.table
            )));
        }
        if conf_value(conf, self.kind().root_disk()).is_none() {
            return Err(Error::msg(format!(
                "{n} {} carries our tag but has no disk, and the state does not know it; \
                 remove it (`{cli} destroy {}`) and run again",
                self.vmid, self.vmid
            )));
        }
        cx.results.push(format!(
            "{n} {} exists with our tag and its disk",
            self.vmid
        ));
        // The answer may have changed since it was made (`reset` + `run` after an edit):
        // brought about with `qm set`, never a re-create.
        self.converge(cx, conf)?;
        self.attach_iso(cx)?;
        // Whether it runs is the admin's business now, as for any VM we made.
        cx.remember(&self.key("started"), "1")?;
        cx.remember(&self.key("vm"), &self.vmid.to_string())
    }

    /// Bring an existing VM of ours to the answer: cores, memory, `onboot`, USB and PCI
    /// devices by one `qm set` (options it no longer has by `--delete`), the disk by `qm
    /// resize` (grow only: a volume cannot shrink, qemu-server `API2/Qemu.pm` `resize_vm`
    /// refuses it). What the answer does not describe (a second disk, a CD the admin put in)
    /// is left as it is.
    fn converge(&self, cx: &mut Cx, conf: &str) -> Result<()> {
        let vmid = self.vmid.to_string();
        let n = self.kind().noun();
        let mut set: Vec<String> = Vec::new();
        let mut delete: Vec<String> = Vec::new();
        let mut changed: Vec<String> = Vec::new();
        let mut want = |key: &str, value: Option<String>, set: &mut Vec<String>| {
            let have = conf_value(conf, key);
            match (&value, have) {
                (Some(v), Some(h)) if h == v => {}
                (Some(v), _) => {
                    set.extend([format!("--{key}"), v.clone()]);
                    changed.push(format!("{key} {} -> {v}", have.unwrap_or("unset")));
                }
                (None, Some(h)) => {
                    delete.push(key.to_string());
                    changed.push(format!("{key} {h} removed"));
                }
                (None, None) => {}
            }
        };
        want("cores", Some(self.cores.to_string()), &mut set);
        want("memory", Some(self.memory.to_string()), &mut set);
        // onboot: as made (on only once started, never for a VM that must not start).
        let onboot = self.start && self.extra.never_start.is_none();
        let have_onboot = conf_value(conf, "onboot") == Some("1");
        if onboot != have_onboot {
            want("onboot", Some(u8::from(onboot).to_string()), &mut set);
        }
        // The disks to grow: the guest's own, and a container's volumes.
        let mut grow = vec![(self.kind().root_disk().to_string(), self.disk_size.clone())];
        match &self.extra.lxc {
            Some(l) => {
                want("swap", Some(l.swap.to_string()), &mut set);
                // A property string's order means nothing (the web UI writes
                // `keyctl=1,nesting=1`).
                let sorted = |f: &str| {
                    let mut v: Vec<&str> = f.split(',').collect();
                    v.sort_unstable();
                    v.join(",")
                };
                let have = conf_value(conf, "features").map(sorted);
                if have != l.features.as_deref().map(sorted) {
                    want("features", l.features.clone(), &mut set);
                }
                // Mount points by their path in the container: a missing one is added
                // (`pct set --mpN`, which allocates a new volume), a bound directory
                // changed, a volume grown; one the answer does not name is left as it is.
                let mps = |i: &usize| conf_value(conf, &format!("mp{i}"));
                let mut free = (0..256).filter(|i| mps(i).is_none());
                let store = conf_value(conf, "rootfs").and_then(|v| v.split(':').next());
                for m in &l.mounts {
                    let mp = format!("mp={}", m.path);
                    let at =
                        (0..256).find(|i| mps(i).is_some_and(|v| v.split(',').any(|o| o == mp)));
                    let value = mount_value(m, m.storage.as_deref().or(store).unwrap_or("local"));
                    match (at, &m.host) {
                        (Some(i), None) => {
                            grow.push((format!("mp{i}"), format!("{}G", m.size_gib)))
                        }
                        (Some(i), Some(_)) if same_options(mps(&i).unwrap_or(""), &value) => {}
                        (Some(i), Some(_)) => want(&format!("mp{i}"), Some(value), &mut set),
                        (None, _) => match free.next() {
                            Some(i) => want(&format!("mp{i}"), Some(value), &mut set),
                            None => cx
                                .results
                                .push(format!("CT {vmid}: no free mpN for {}", m.path)),
                        },
                    }
                }
            }
            None => {
                for i in 0..14 {
                    let v = self.usb.get(i).map(|u| format!("host={u}"));
                    want(&format!("usb{i}"), v, &mut set);
                }
                // PCI devices only for VMs that name some (HAOS has none and leaves an
                // admin's be).
                if !self.extra.hostpci.is_empty() || conf.lines().any(|l| l.starts_with("hostpci"))
                {
                    for i in 0..16 {
                        let v = self.extra.hostpci.get(i).cloned();
                        want(&format!("hostpci{i}"), v, &mut set);
                    }
                }
            }
        }
        if !set.is_empty() || !delete.is_empty() {
            let mut cmd = self.cli(["set", vmid.as_str()]).args(set);
            if !delete.is_empty() {
                cmd = cmd.args(["--delete".to_string(), delete.join(",")]);
            }
            cx.run(cmd)?;
            cx.changes.push(format!(
                "{n} {vmid}: {} (from the answer)",
                changed.join(", ")
            ));
        }
        // Each disk's `size=` against the answer, whole GiB as qm and pct take them.
        for (disk, size) in grow {
            let have = conf_value(conf, &disk)
                .and_then(|v| v.split(',').find_map(|o| o.strip_prefix("size=")))
                .and_then(crate::answer::parse_size_gib);
            match (have, crate::answer::parse_size_gib(&size)) {
                (Some(h), Some(w)) if w > h + f64::EPSILON => {
                    cx.run(self.cli(["resize", vmid.as_str(), disk.as_str(), size.as_str()]))?;
                    cx.changes
                        .push(format!("{n} {vmid}: {disk} grown to {size}"));
                }
                (Some(h), Some(w)) if w + f64::EPSILON < h => cx.results.push(format!(
                    "{n} {vmid}: {disk}: {size} is smaller than its disk ({h} GiB): a disk only \
                     grows, it is left as it is"
                )),
                _ => {}
            }
        }
        Ok(())
    }

    /// An attempt that died half-way left a VM and volumes the state recorded: remove
    /// exactly those, and the temporary image. Returns whether there was such a VM.
    fn cleanup_half_made(&self, cx: &mut Cx) -> Result<bool> {
        let Some(vmid) = cx.recall(&self.key("creating")).map(String::from) else {
            self.forget_image(cx)?;
            return Ok(false);
        };
        let n = self.kind().noun();
        log::warn!("{n} {vmid}: an earlier attempt stopped half-way; removing what it made");
        if let Some(conf) = cx.read(&self.conf_path())? {
            // pct writes a container's config with only `lock: create` before it makes its
            // volumes (pve-container `API2/LXC.pm` `create_vm`, `create_and_lock_config`):
            // after our record of the attempt, that one is ours too, and needs its lock gone.
            let locked = self.kind() == Kind::Ct && conf_value(&conf, "lock") == Some("create");
            if locked {
                cx.run(self.cli(["unlock", vmid.as_str()]))?;
            }
            if is_ours(&conf) || locked {
                cx.run(self.cli(["destroy", vmid.as_str(), "--purge", "1"]))?;
                cx.changes.push(format!("removed the half-made {n} {vmid}"));
            }
        }
        if let Some(vol) = cx.recall(&self.key("volume")).map(String::from) {
            // Gone with the VM when it was attached; otherwise free it. Its absence is fine.
            let _ = cx.host.run(&Cmd::new("pvesm").args(["free", &vol]))?;
            cx.forget(&self.key("volume"))?;
        }
        // A command cut off before the config named its volume: what is there now and was
        // not before is what the attempt made (nothing else makes volumes for a VMID that
        // had no VM).
        let sid = cx.recall(&self.key("volumes-storage")).map(String::from);
        let before = cx.recall(&self.key("volumes-before")).map(String::from);
        if let (Some(sid), Some(before)) = (sid, before) {
            if let Some(now) = self.volumes_on(cx, &sid)? {
                let before: Vec<&str> = before.split(' ').collect();
                for v in now.iter().filter(|v| !before.contains(&v.as_str())) {
                    cx.run(Cmd::new("pvesm").args(["free", v.as_str()]))?;
                    cx.changes
                        .push(format!("removed {v}, left by an interrupted attempt"));
                }
            }
        }
        self.forget_volumes(cx)?;
        self.forget_image(cx)?;
        cx.forget(&self.key("creating"))?;
        Ok(true)
    }

    fn forget_volumes(&self, cx: &mut Cx) -> Result<()> {
        cx.forget(&self.key("volumes-before"))?;
        cx.forget(&self.key("volumes-storage"))
    }

    /// The temporary image of an earlier attempt goes, unless this run is downloading it
    /// again in the background (into the same file, which it started afresh).
    fn forget_image(&self, cx: &mut Cx) -> Result<()> {
        if let Some(tmp) = cx.recall(&self.key("image")).map(String::from) {
            if !cx.downloads.is_some_and(|d| d.has(&tmp)) {
                remove_image(cx, &tmp)?;
            }
            cx.forget(&self.key("image"))?;
        }
        Ok(())
    }

    fn create(&self, cx: &mut Cx, made: MadeFn) -> Result<()> {
        let vmid = self.vmid.to_string();
        // Before anything is downloaded: a storage that cannot take the disk fails now.
        let kind = self.kind();
        let storage = storage::choose_for(
            &crate::phases::storage::seen(cx)?,
            self.storage,
            &format!("{}.storage", self.table),
            kind.content(),
        )?;
        cx.results.push(format!(
            "{} {vmid}: storage {} ({}){}",
            kind.noun(),
            storage.id,
            storage.kind,
            match (self.storage, kind) {
                (Some(_), _) => ", from the answer",
                (None, Kind::Vm) => ", the host's own for VM disks",
                (None, Kind::Ct) => ", the host's own for container volumes",
            }
        ));
        let Made {
            image: img,
            cloud_init,
            template,
        } = made(cx)?;
        let tmp = match &img {
            Some(img) => Some(self.fetch(cx, img)?),
            None => None,
        };
        let what = match (&template, &img) {
            (Some((_, what)), _) => what.clone(),
            (None, Some(i)) => i.what.clone(),
            (None, None) => self.name.to_string(),
        };
        // The VMID's volumes before any is made (read before `creating` is noted: a failed
        // read only warns, and the attempt goes on without this record).
        let before = self.volumes_on(cx, &storage.id)?;
        // From here on the VM is ours: noted before it exists, so an interruption is
        // cleaned up.
        cx.remember(&self.key("creating"), &vmid)?;
        if let Some(before) = before {
            cx.remember(&self.key("volumes-storage"), &storage.id)?;
            cx.remember(&self.key("volumes-before"), &before.join(" "))?;
        }
        match &self.extra.lxc {
            Some(l) => {
                let (template, _) =
                    template.ok_or_else(|| Error::msg("a container is made from a template"))?;
                let cmd = self.pct_create(cx, l, &template, &storage, &what)?;
                cx.run(cmd)?;
                cx.changes.push(format!("created CT {vmid} ({what})"));
            }
            None => self.make_vm(cx, &what, &storage, tmp.as_deref(), cloud_init.as_ref())?,
        }
        // Complete: from now on the VM is the admin's, and never made again.
        cx.remember(&self.key("vm"), &vmid)?;
        self.forget_volumes(cx)?;
        cx.forget(&self.key("creating"))?;
        cx.forget(&self.key("image"))?;
        self.ensure_started(cx)
    }

    /// `qm create`, then its disks: the image imported (or a new empty disk), EFI vars, TPM
    /// state, CD or cloud-init drive; the boot order; the disk grown to its size.
    fn make_vm(
        &self,
        cx: &mut Cx,
        what: &str,
        storage: &Storage,
        tmp: Option<&str>,
        cloud_init: Option<&CloudInitDrive>,
    ) -> Result<()> {
        let vmid = self.vmid.to_string();
        cx.run(self.create_cmd(what))?;
        cx.changes.push(format!("created VM {vmid} ({what})"));
        let x = &self.extra;
        let mut set = Cmd::new("qm").args(["set", vmid.as_str()]);
        if !x.seabios {
            set = set.args([
                "--efidisk0".to_string(),
                format!(
                    "{}:0,efitype=4m,pre-enrolled-keys={}",
                    storage.id,
                    u8::from(x.secure_boot_keys)
                ),
            ]);
        }
        let mut boot = "order=scsi0".to_string();
        // `iothread=1`: the disk gets its own I/O thread, as the web UI creates disks on
        // `virtio-scsi-single` (qemu-server `Drive.pm`, `iothread`: valid with
        // virtio-scsi-single, one controller per disk).
        match tmp {
            Some(tmp) => {
                let vol = self.import(cx, storage, tmp)?;
                cx.remember(&self.key("volume"), &vol)?;
                set = set.args([
                    "--scsi0".to_string(),
                    format!("{vol},iothread=1,ssd=1,discard=on"),
                ]);
            }
            // `STORAGE:SIZE_IN_GiB` allocates a new volume (`src/PVE/QemuServer/Drive.pm`).
            None => {
                set = set.args([
                    "--scsi0".to_string(),
                    format!(
                        "{}:{},iothread=1,ssd=1,discard=on",
                        storage.id,
                        gib(&self.disk_size)
                    ),
                ])
            }
        }
        if x.tpm {
            set = set.args([
                "--tpmstate0".to_string(),
                format!("{}:1,version=v2.0", storage.id),
            ]);
        }
        if let Some(iso) = &x.iso {
            // qemu-server's create_disks dies on a volume that does not exist ("volume ...
            // does not exist") and frees the disks it just allocated: an ISO not uploaded
            // yet gets an empty drive, filled in by a later run (`attach_iso`).
            let drive = if iso_present(cx, iso)? {
                iso.clone()
            } else {
                cx.results.push(iso_missing(self.vmid, iso));
                "none".into()
            };
            set = set.args(["--ide2".to_string(), format!("{drive},media=cdrom")]);
            boot.push_str(";ide2");
        }
        if let Some(ci) = cloud_init {
            set = set.args([
                "--ide2".to_string(),
                format!("{}:cloudinit", storage.id),
                "--ipconfig0".into(),
                ci.ipconfig0.clone(),
                "--cicustom".into(),
                format!("user={}", ci.user_data),
            ]);
            if let Some(ns) = &ci.nameserver {
                set = set.args(["--nameserver", ns]);
            }
        }
        cx.run(set)?;
        // The boot order in a `qm set` of its own, after the drives exist: qemu-server's
        // `update_vm_api` reads the boot order once and then handles the options in Perl
        // hash order, appending a new CD-ROM to the order it read, so `--boot` beside the
        // drives can end as `order=net0;ide2` (`qm create` without `--boot` gives
        // `order=net0`), without the disk.
        cx.run(Cmd::new("qm").args(["set", &vmid, "--boot", &boot]))?;
        if let Some(tmp) = tmp {
            cx.run(Cmd::new("qm").args(["resize", &vmid, "scsi0", &self.disk_size]))?;
            remove_image(cx, tmp)?;
        }
        Ok(())
    }

    /// The image, fetched and verified into its temporary file (recorded before): taken
    /// from its background download when the run started one, else fetched now.
    fn fetch(&self, cx: &mut Cx, img: &Image) -> Result<String> {
        let tmp = format!("{TMP_DIR}/{}", img.file);
        cx.remember(&self.key("image"), &tmp)?;
        let background = cx.downloads.and_then(|d| d.take(&img.download()));
        let got = match background {
            Some(Ok(got)) => got,
            Some(Err(e)) => {
                // Perhaps the network went away while the host was being set up: one more
                // try, now that nothing else changes it.
                log::warn!("{}: {e}; downloading it again", img.what);
                img.fetch_now(cx)?
            }
            None => img.fetch_now(cx)?,
        };
        if !got.sum.is_empty() {
            let algo = if got.sum.len() == 128 {
                "sha512"
            } else {
                "sha256"
            };
            cx.remember(&self.key(algo), &got.sum)?;
            cx.results
                .push(format!("image {}: {algo} {}", img.what, got.sum));
        }
        Ok(tmp)
    }

    /// `qm create` with everything but the disks.
    fn create_cmd(&self, what: &str) -> Cmd {
        let x = &self.extra;
        let mut a: Vec<String> = vec![
            "create".into(),
            self.vmid.to_string(),
            "--name".into(),
            self.name.into(),
            "--description".into(),
            format!("{what}, made by pve-firstboot"),
            "--tags".into(),
            TAG.into(),
        ];
        if !x.seabios {
            a.extend(["--machine", "q35", "--bios", "ovmf"].map(String::from));
        }
        a.extend(
            [
                // The web UI's default controller (one per disk, so each disk can have
                // its own I/O thread).
                "--scsihw",
                "virtio-scsi-single",
                "--agent",
                "enabled=1",
                "--ostype",
                self.ostype,
            ]
            .map(String::from),
        );
        a.extend([
            "--cores".into(),
            self.cores.to_string(),
            "--memory".into(),
            self.memory.to_string(),
            "--net0".into(),
            format!("virtio={},bridge={}", self.mac, self.bridge),
        ]);
        if !x.no_serial {
            a.extend(["--serial0", "socket"].map(String::from));
        }
        if let Some(vga) = x.vga {
            a.extend(["--vga".into(), vga.into()]);
        }
        // Without a model qemu-server gives `kvm64` (`CPUConfig.pm`, the default of
        // `cputype`), on which HAOS is reported to hang at boot; x86-64-v2-AES is the model
        // the web UI proposes for new VMs (one of `CPUConfig.pm`'s builtin models).
        a.extend([
            "--cpu".into(),
            if x.cpu_host { "host" } else { "x86-64-v2-AES" }.to_string(),
        ]);
        if x.tablet_off {
            a.extend(["--tablet", "0"].map(String::from));
        }
        if x.balloon_off {
            a.extend(["--balloon", "0"].map(String::from));
        }
        for (i, h) in x.hostpci.iter().enumerate() {
            a.extend([format!("--hostpci{i}"), h.clone()]);
        }
        if let Some(n) = x.startup_order {
            a.extend(["--startup".into(), format!("order={n}")]);
        }
        // `onboot 1` only once the VM has started (`ensure_started`): one owner of the first
        // start. With it set at the making, a VM held until the reboot would be started by
        // Proxmox's `pve-guests.service` (`startall`) and by our unit at the same time, and
        // one that must never start (`never_start`) would start at every boot.
        a.extend(["--onboot", "0"].map(String::from));
        for (i, u) in self.usb.iter().enumerate() {
            a.extend([format!("--usb{i}"), format!("host={u}")]);
        }
        Cmd::new("qm").args(a)
    }

    /// `pct create` with everything, as the web UI's Create CT sends it (pve-container
    /// `src/PVE/API2/LXC.pm` `create_vm`): the template, the root file system as a new
    /// volume (`STORAGE:SIZE_IN_GiB`), the mount points, the network with our MAC (ip=dhcp:
    /// the static lease is dnsmasq's, as for a VM), root's keys from a file (`pct`'s
    /// `param_mapping` reads `ssh-public-keys` from one), `onboot 0` until its first start.
    fn pct_create(
        &self,
        cx: &mut Cx,
        l: &Lxc,
        template: &str,
        storage: &Storage,
        what: &str,
    ) -> Result<Cmd> {
        let mut a: Vec<String> = vec![
            "create".into(),
            self.vmid.to_string(),
            template.into(),
            "--hostname".into(),
            self.name.into(),
            "--description".into(),
            format!("{what}, made by pve-firstboot"),
            "--tags".into(),
            TAG.into(),
            "--unprivileged".into(),
            u8::from(l.unprivileged).to_string(),
        ];
        if let Some(f) = &l.features {
            a.extend(["--features".into(), f.clone()]);
        }
        a.extend([
            "--cores".into(),
            self.cores.to_string(),
            "--memory".into(),
            self.memory.to_string(),
            "--swap".into(),
            l.swap.to_string(),
            "--rootfs".into(),
            format!("{}:{}", storage.id, gib(&self.disk_size)),
        ]);
        let seen = crate::phases::storage::seen(cx)?;
        for (i, m) in l.mounts.iter().enumerate() {
            let store = match (&m.host, &m.storage) {
                (None, Some(want)) => {
                    let what = format!("{}.mount[{i}].storage", self.table);
                    storage::choose_for(&seen, Some(want), &what, "rootdir")?.id
                }
                _ => storage.id.clone(),
            };
            if let Some(h) = &m.host {
                // pct binds it as it is; a directory that is not there fails the start.
                if !cx.host.exists(h) {
                    return Err(Error::msg(format!(
                        "{}.mount[{i}].host: {h} is not there; make the directory (or the \
                         storage it is on) first",
                        self.table
                    )));
                }
            }
            a.extend([format!("--mp{i}"), mount_value(m, &store)]);
        }
        a.extend([
            "--net0".into(),
            format!(
                "name=eth0,bridge={},hwaddr={},ip=dhcp",
                self.bridge, self.mac
            ),
        ]);
        if let Some(ns) = &l.nameserver {
            a.extend(["--nameserver".into(), ns.clone()]);
        }
        if !l.ssh_keys.is_empty() {
            let file = format!("/var/lib/pve-firstboot/ct{}-ssh-keys.pub", self.vmid);
            let keys: String = l.ssh_keys.iter().map(|k| format!("{k}\n")).collect();
            cx.write(&file, &keys, 0o600)?;
            a.extend(["--ssh-public-keys".into(), file]);
        }
        if let Some(n) = self.extra.startup_order {
            a.extend(["--startup".into(), format!("order={n}")]);
        }
        // `onboot 1` once it has started, as for a VM (`ensure_started`).
        a.extend(["--onboot", "0"].map(String::from));
        Ok(Cmd::new("pct").args(a))
    }

    /// This VM's volumes on a storage, on a live host (`None` elsewhere, or when `pvesm`
    /// cannot list them): `pvesm list STORAGE --vmid VMID` prints a header, then one
    /// volume per line, its ID first (pve-storage `PVE/CLI/pvesm.pm`, `$print_content`).
    fn volumes_on(&self, cx: &Cx, storage: &str) -> Result<Option<Vec<String>>> {
        let out = cx.host.query(&Cmd::new("pvesm").args([
            "list".to_string(),
            storage.to_string(),
            "--vmid".into(),
            self.vmid.to_string(),
        ]))?;
        if out.recorded {
            return Ok(None);
        }
        if !out.success() {
            // Only the clean-up of an interrupted import needs the list: without it the
            // import goes on, as it did before the list was read.
            log::warn!(
                "`pvesm list {storage} --vmid {}` failed ({}); an interrupted import could \
                 leave its volume behind",
                self.vmid,
                out.stderr.trim()
            );
            return Ok(None);
        }
        Ok(Some(
            out.stdout
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next())
                .map(String::from)
                .collect(),
        ))
    }

    /// `qm disk import`, or `qm importdisk` on hosts older than PVE 7.2; returns the volume
    /// `qm` says it made.
    fn import(&self, cx: &mut Cx, storage: &Storage, tmp: &str) -> Result<String> {
        let vmid = self.vmid.to_string();
        let id = storage.id.as_str();
        let mut out = cx
            .host
            .run(&Cmd::new("qm").args(["disk", "import", &vmid, tmp, id]))?;
        if !out.success() && out.stderr.contains("unknown command") {
            out = cx
                .host
                .run(&Cmd::new("qm").args(["importdisk", &vmid, tmp, id]))?;
        }
        if !out.success() {
            return Err(Error::msg(format!(
                "`qm disk import {vmid} {tmp} {id}` failed: {}",
                out.stderr.trim()
            )));
        }
        if out.recorded {
            // Under --root qm only is recorded: the name the first disk of a new VM gets
            // there.
            return Ok(storage.disk_volume(self.vmid, 0));
        }
        parse_imported(&format!("{}\n{}", out.stdout, out.stderr)).ok_or_else(|| {
            Error::msg(format!(
                "`qm disk import` did not say which volume it made (output: {})",
                out.stdout.trim()
            ))
        })
    }

    /// `qm start` once, when `start` is set, unless the start is held (see
    /// [`Extra::hold_start`]).
    pub fn ensure_started(&self, cx: &mut Cx) -> Result<()> {
        let n = self.kind().noun();
        if let Some(why) = &self.extra.never_start {
            cx.results.push(format!(
                "{n} {}: made, but never started and not started at boot: {why}",
                self.vmid
            ));
            return Ok(());
        }
        if !self.start || cx.recall(&self.key("started")).is_some() {
            return Ok(());
        }
        if let Some(why) = &self.extra.hold_start {
            cx.results
                .push(format!("{n} {}: not started yet: {why}", self.vmid));
            return Ok(());
        }
        let vmid = self.vmid.to_string();
        // Started already (by the admin, or by pve-guests.service at boot): that counts.
        // `qm status` and `pct status` both print `status: running`.
        let status = cx.host.query(&self.cli(["status", vmid.as_str()]))?;
        if status.success() && status.stdout.contains("status: running") {
            cx.results.push(format!("{n} {vmid}: running already"));
        } else {
            cx.run(self.cli(["start", vmid.as_str()]))?;
            cx.changes.push(format!("started {n} {vmid}"));
        }
        // Made with `onboot 0`: from its first start on, Proxmox starts it at boot.
        cx.run(self.cli(["set", vmid.as_str(), "--onboot", "1"]))?;
        cx.remember(&self.key("started"), "1")
    }

    /// A VM made earlier with an empty CD drive because its ISO was not uploaded: the ISO
    /// attached once it is there (`qm set`, never a re-create).
    pub fn attach_iso(&self, cx: &mut Cx) -> Result<()> {
        let Some(iso) = &self.extra.iso else {
            return Ok(());
        };
        // Attached once: what the admin does with the drive afterwards is theirs.
        if cx.recall(&self.key("iso-attached")) == Some(iso.as_str()) {
            return Ok(());
        }
        let Some(conf) = cx.read(&self.conf_path())? else {
            return Ok(());
        };
        if !conf_value(&conf, "ide2").is_some_and(|v| v.starts_with("none,")) {
            return Ok(());
        }
        if !iso_present(cx, iso)? {
            cx.results.push(iso_missing(self.vmid, iso));
            return Ok(());
        }
        let vmid = self.vmid.to_string();
        cx.run(Cmd::new("qm").args(["set", &vmid, "--ide2", &format!("{iso},media=cdrom")]))?;
        cx.changes.push(format!("VM {vmid}: {iso} attached"));
        cx.remember(&self.key("iso-attached"), iso)
    }
}

/// Whether an ISO volume (`STORAGE:iso/NAME`) is on its storage: a storage with a path
/// keeps ISOs in `PATH/template/iso/` (pve-storage `Plugin.pm`, `$vtype_subdirs`). One we
/// cannot see into (no path) is left to qm to judge.
fn iso_present(cx: &Cx, iso: &str) -> Result<bool> {
    let Some((store, name)) = iso.split_once(":iso/") else {
        return Ok(true);
    };
    let all = storage::read(cx.host)?;
    match all
        .iter()
        .find(|s| s.id == store)
        .and_then(|s| s.path.as_ref())
    {
        Some(p) => Ok(cx
            .host
            .exists(&format!("{}/template/iso/{name}", p.trim_end_matches('/')))),
        None => Ok(true),
    }
}

fn iso_missing(vmid: u32, iso: &str) -> String {
    let (store, name) = iso.split_once(":iso/").unwrap_or(("the storage", iso));
    format!(
        "VM {vmid}: {name} is not on {store} yet; its CD drive is empty. Upload it (web UI: \
         {store} → ISO Images → Upload), then `pve-firstboot reset && pve-firstboot run` \
         attaches it"
    )
}

/// A container's `mpN` (pve-container `Config.pm`, `$mp_desc`): a host directory bound in
/// (`/srv/media,mp=/media`), or a new volume (`STORAGE:SIZE_IN_GiB,mp=/data,backup=1`,
/// included in backups as the web UI's mount point dialog has it); `ro=1` for read-only.
pub fn mount_value(m: &crate::answer::CtMount, storage: &str) -> String {
    let mut v = match &m.host {
        Some(h) => format!("{h},mp={}", m.path),
        None => format!("{storage}:{},mp={},backup=1", m.size_gib, m.path),
    };
    if m.read_only {
        v.push_str(",ro=1");
    }
    v
}

/// Whether two property strings say the same: the same first value and the same options,
/// in any order (pve-common prints them in its own order).
fn same_options(a: &str, b: &str) -> bool {
    let parts = |s: &str| {
        let mut v: Vec<String> = s.split(',').map(String::from).collect();
        v[1..].sort();
        v
    };
    parts(a) == parts(b)
}

/// Whole GiB, rounded up, of a size such as `qm resize` takes (`64G`, `1T`, `40960M`).
/// A temporary image removed, listed among the changes but kept out of `plan`'s diffs:
/// `Cx::remove` would read all of its gigabytes to show them.
fn remove_image(cx: &mut Cx, tmp: &str) -> Result<()> {
    if cx.host.remove(tmp)? {
        cx.changes.push(format!("removed {tmp}"));
    }
    Ok(())
}

fn gib(size: &str) -> u64 {
    crate::answer::parse_size_gib(size).map_or(32, |g| g.ceil() as u64)
}

/// Whether a host USB device is there: a port path as `/sys/bus/usb/devices/<path>`, an ID
/// as any device whose `idVendor`/`idProduct` match.
fn usb_present(cx: &Cx, u: &str) -> Result<bool> {
    const DEVICES: &str = "/sys/bus/usb/devices";
    let Some((v, p)) = u.split_once(':') else {
        return Ok(cx.host.exists(&format!("{DEVICES}/{u}")));
    };
    let norm = |s: &str| s.trim().trim_start_matches("0x").to_ascii_lowercase();
    for d in cx.host.list_dir(DEVICES)? {
        let id = |f: &str| cx.read(&format!("{DEVICES}/{d}/{f}"));
        if let (Some(dv), Some(dp)) = (id("idVendor")?, id("idProduct")?) {
            if norm(&dv) == norm(v) && norm(&dp) == norm(p) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// `unused0: successfully imported disk 'local-lvm:vm-100-disk-0'` (qemu-server
/// `PVE/CLI/qm.pm` importdisk prints `<drive>: successfully imported disk '<volid>'`; older
/// releases worded it `Successfully imported disk as 'unused0:<volid>'`).
pub fn parse_imported(output: &str) -> Option<String> {
    let lower = output.to_ascii_lowercase();
    let at = lower.find("successfully imported disk")?;
    let rest = &output[at..];
    let start = rest.find('\'')? + 1;
    let end = start + rest[start..].find('\'')?;
    let vol = &rest[start..end];
    // Some versions put the config key in front: 'unused0:local-lvm:vm-100-disk-0'.
    let vol = match vol.split_once(':') {
        Some((k, v)) if k.starts_with("unused") && v.contains(':') => v,
        _ => vol,
    };
    Some(vol.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_volume_names() {
        assert_eq!(
            parse_imported("unused0: successfully imported disk 'local-lvm:vm-100-disk-0'\n")
                .as_deref(),
            Some("local-lvm:vm-100-disk-0")
        );
        assert_eq!(
            parse_imported("Successfully imported disk as 'unused0:local-zfs:vm-100-disk-0'")
                .as_deref(),
            Some("local-zfs:vm-100-disk-0")
        );
        assert_eq!(parse_imported("transferred 1.0 GiB\n"), None);
    }

    /// The image an earlier attempt left (`forget_image`): removed when nothing writes it
    /// any more, kept while this run's background download (restarted after the power cut)
    /// writes into that very file; forgotten by the state either way.
    #[test]
    fn an_image_a_background_download_writes_is_kept() {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/test-scratch/vm-background-image");
        let _ = std::fs::remove_dir_all(&root);
        let host = Host::rooted(&root);
        let answer = crate::answer::parse(
            "minimal.toml",
            include_bytes!("../../tests/answers/ok/minimal.toml"),
        )
        .unwrap_or_else(|r| panic!("{r}"))
        .answer;
        let vm = Vm {
            vmid: 999,
            name: "unit-test",
            prefix: "vm999-".into(),
            table: "vm[0]".into(),
            storage: None,
            cores: 1,
            memory: 512,
            mac: "02:00:00:00:09:99".into(),
            bridge: "vmbr0",
            ostype: "l26",
            disk_size: "32G".into(),
            start: false,
            usb: &[],
            extra: Extra::default(),
        };
        // A name no real host has: the pretended download's end removes it on this machine.
        let tmp = format!("{TMP_DIR}/vm999-pve-firstboot-unit-test.qcow2");
        for (downloading, kept) in [(true, true), (false, false)] {
            host.write(&tmp, b"half an image", 0o600).unwrap();
            let mut st = State::new();
            st.phase_mut("vms")
                .data
                .insert("vm999-image".into(), tmp.clone());
            let dests = [tmp.as_str()];
            let downloads = crate::prefetch::Downloads::pretend(&dests[..usize::from(downloading)]);
            let mut cx = Cx::new(&host, &answer, &mut st, "vms", true, false);
            cx.downloads = Some(&downloads);
            vm.forget_image(&mut cx).unwrap();
            assert_eq!(host.exists(&tmp), kept, "downloading: {downloading}");
            assert_eq!(cx.recall("vm999-image"), None);
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn tags() {
        assert!(is_ours("name: haos\ntags: home;pve-firstboot\nscsi0: x\n"));
        assert!(!is_ours("name: haos\ntags: pve-firstboot-not\n"));
        assert!(!is_ours("name: other\n[snap]\ntags: pve-firstboot\n"));
    }
}
