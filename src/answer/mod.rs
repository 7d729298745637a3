//! The answer file: one TOML file that describes the whole homeserver.
//!
//! `[installer.*]` is Proxmox's own answer file nested one level down; every other table is
//! ours. Reading it yields either a typed [`Answer`] plus warnings, or a [`Report`] listing
//! every problem as `FILE:LINE:COLUMN: error: KEY.PATH: ...`.

pub mod diag;
pub mod net;
mod normalize;
mod reader;
pub mod releases;
mod rules;
mod schema;
mod toml10;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

pub use diag::{Diag, Report, Severity, Source};
pub use net::{Cidr, Ipv4Cidr};
pub use schema::{KEEP, is_placeholder_sum, parse_size_gib};

/// The example answer file, shipped as `examples/homeserver.toml` and used when no file is
/// given.
pub const EXAMPLE: &str = include_str!("../../examples/homeserver.toml");
pub const EXAMPLE_NAME: &str = "<embedded examples/homeserver.toml>";

/// Larger than any sensible answer file; refuses to parse megabytes of garbage.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// A value that must never be printed: passwords, password hashes, tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    /// The secret itself, for the one place that hands it to the system (stdin, never argv).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub installer: Installer,
    pub agent: Agent,
    pub host: Option<HostCfg>,
    pub passthrough: Option<Passthrough>,
    pub network: Option<NetworkCfg>,
    pub hardening: Option<Hardening>,
    pub haos: Option<Haos>,
    /// `[[vm]]`, in file order (which is their start order, after HAOS).
    pub vms: Vec<VmCfg>,
    /// `[[container]]`, in file order: they start after HAOS and the VMs.
    pub containers: Vec<CtCfg>,
    pub notify: Option<Notify>,
    pub backup: Option<Backup>,
    /// `[[storage]]`, in file order: what the `storage` phase adds to storage.cfg.
    pub storages: Vec<StorageDef>,
}

/// `[[storage]]`: one storage of `/etc/pve/storage.cfg`, added with `pvesm add` (network
/// storages) or Proxmox's disk API (data disks) by the `storage` phase. Types and options
/// are pve-storage's (`src/PVE/Storage/*Plugin.pm`).
#[derive(Debug, Clone)]
pub struct StorageDef {
    /// A `pve-storage-id` (pve-common `PVE/JSONSchema.pm`, `parse_id`).
    pub id: String,
    /// The content types, as the answer gives them or the plugin's default when it does
    /// not (each plugin's `plugindata`).
    pub content: Vec<String>,
    pub kind: StorageKind,
}

impl StorageDef {
    /// The storage's type in storage.cfg (`nfs: ID`, ...).
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            StorageKind::Nfs { .. } => "nfs",
            StorageKind::Cifs { .. } => "cifs",
            StorageKind::Pbs { .. } => "pbs",
            StorageKind::Disks { kind, .. } => kind.type_name(),
        }
    }

    /// Whether it holds `content` (`images`, `backup`, ...).
    pub fn holds(&self, content: &str) -> bool {
        self.content.iter().any(|c| c == content)
    }
}

#[derive(Debug, Clone)]
pub enum StorageKind {
    /// pve-storage `NFSPlugin.pm`.
    Nfs {
        server: String,
        export: String,
        /// The mount point; `None`: pve-storage's `/mnt/pve/<id>`.
        path: Option<String>,
        /// NFS mount options (`vers=4.2`), one word.
        options: Option<String>,
    },
    /// pve-storage `CIFSPlugin.pm`.
    Cifs {
        server: String,
        share: String,
        path: Option<String>,
        subdir: Option<String>,
        domain: Option<String>,
        username: Option<String>,
        /// Only ever in `/etc/pve/priv/storage/<id>.pw`.
        password: Option<Secret>,
        smbversion: Option<&'static str>,
        options: Option<String>,
    },
    /// pve-storage `PBSPlugin.pm`: a Proxmox Backup Server datastore.
    Pbs {
        server: String,
        datastore: String,
        /// `user@realm` or an API token `user@realm!name`.
        username: String,
        /// The password or the token's secret: only in `/etc/pve/priv/storage/<id>.pw`.
        password: Secret,
        fingerprint: Option<String>,
        namespace: Option<String>,
        port: Option<u16>,
        /// The client-side encryption key (JSON, as `proxmox-backup-client key create`
        /// writes it): only in `/etc/pve/priv/storage/<id>.enc`.
        encryption_key: Option<Secret>,
    },
    /// A data disk (or several, for ZFS) made into a storage, as the web UI's Node →
    /// Disks does (pve-storage `src/PVE/API2/Disks/{Directory,LVMThin,ZFS}.pm`).
    Disks {
        kind: DiskKind,
        /// `/dev/disk/by-id/...` paths.
        disks: Vec<String>,
        /// The disks may hold data, which is erased.
        wipe: bool,
        /// ZFS only: `single`, `mirror`, `raid10`, `raidz`, `raidz2`, `raidz3`.
        raid: Option<&'static str>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskKind {
    /// A directory storage on a new ext4 file system, mounted at `/mnt/pve/<id>`.
    Dir,
    /// An LVM-thin pool in a new volume group, both named `<id>`.
    LvmThin,
    /// A ZFS pool named `<id>`.
    ZfsPool,
}

impl DiskKind {
    pub fn type_name(self) -> &'static str {
        match self {
            DiskKind::Dir => "dir",
            DiskKind::LvmThin => "lvmthin",
            DiskKind::ZfsPool => "zfspool",
        }
    }
}

/// `[notify]`: where the agent says how it ended.
#[derive(Debug, Clone)]
pub struct Notify {
    /// The webhook URL. A secret: an ntfy topic or a token in it is all it takes to read
    /// or post the messages.
    pub webhook: Secret,
    pub format: NotifyFormat,
    /// `[notify.smtp]`: Proxmox's own notification system mails through this relay.
    pub smtp: Option<Smtp>,
}

/// `[notify.smtp]`: an `smtp` target of Proxmox's notification system (proxmox-rs:
/// `proxmox-notify/src/endpoints/smtp.rs`, `SmtpConfig` and `SmtpPrivateConfig`).
#[derive(Debug, Clone)]
pub struct Smtp {
    pub server: String,
    /// `None`: Proxmox's default for the mode (25, 465 for tls, 587 for starttls).
    pub port: Option<u16>,
    /// `tls`, `starttls` or `insecure` (proxmox-notify's `SmtpMode`, kebab-case).
    pub mode: &'static str,
    pub username: Option<String>,
    /// Only ever in `/etc/pve/priv/notifications.cfg`.
    pub password: Option<Secret>,
    pub from: String,
}

/// `[backup]`: a vzdump job in `/etc/pve/jobs.cfg`, and the host's configuration archived
/// on the same schedule.
#[derive(Debug, Clone)]
pub struct Backup {
    /// As written (Proxmox reads it), and parsed (the host-config timer's `OnCalendar=`).
    pub schedule: String,
    pub event: crate::calendar::Event,
    pub storage: String,
    pub guests: BackupGuests,
    /// `snapshot`, `suspend` or `stop`.
    pub mode: &'static str,
    /// vzdump's `compress`: `0` (none), `gzip`, `lzo`, `zstd`.
    pub compress: &'static str,
    /// `keep-*` options in prune-backups' order, each at least 1; empty: the storage's own.
    pub keep: Vec<(&'static str, u32)>,
    pub host_config: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupGuests {
    /// HAOS and every `[[vm]]`.
    Ours,
    All,
    List(Vec<u32>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyFormat {
    /// ntfy.sh and compatible: the text as the body, Title/Priority/Tags headers.
    Ntfy,
    /// `{"title": ..., "status": ..., "message": ...}`.
    Json,
}

#[derive(Debug, Clone)]
pub struct Installer {
    /// `None` when the installer takes the name from DHCP (`fqdn = { source = "from-dhcp" }`).
    pub fqdn: Option<String>,
    pub country: String,
    pub keyboard: String,
    pub mailto: String,
    pub timezone: String,
    pub root_password: Option<Secret>,
    pub root_password_hashed: Option<Secret>,
    pub root_ssh_keys: Vec<String>,
    /// `None` for `source = "from-dhcp"`.
    pub network: Option<MgmtNet>,
    pub filesystem: String,
    /// The `[installer.*]` tables as written (values, not text): what Proxmox's installer
    /// reads, and what `validate --print` shows with the installer's defaults filled in.
    pub tables: toml::Table,
}

impl Installer {
    /// The short host name (`atlas` of `atlas.home.arpa`), when the answer fixes it.
    pub fn hostname(&self) -> Option<&str> {
        self.fqdn.as_deref().and_then(|f| f.split('.').next())
    }
}

#[derive(Debug, Clone)]
pub struct MgmtNet {
    pub cidr: Cidr,
    pub gateway: IpAddr,
    pub dns: IpAddr,
}

#[derive(Debug, Clone)]
pub struct Agent {
    /// The most reboots the agent will ask for; a check that keeps failing cannot loop.
    pub max_reboots: u32,
    /// Start every VM image's download when `run` starts, while the host is being set up
    /// (`prefetch.rs`); off, each VM downloads its image when its turn comes, so that only
    /// one image at a time needs room in `/var/lib/vz`.
    pub background_downloads: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repositories {
    NoSubscription,
    Enterprise,
    Keep,
}

#[derive(Debug, Clone)]
pub struct HostCfg {
    pub repositories: Repositories,
    pub upgrade: bool,
    pub ntp_servers: Vec<String>,
    /// `subscription-notice = "hide"`: the web UI's "No valid subscription" dialog patched
    /// out of proxmox-widget-toolkit, again after each of its updates (an apt hook).
    pub hide_subscription_notice: bool,
    /// A host of its own, in no cluster: the HA services and corosync stopped and disabled.
    pub single_node: bool,
    /// The CPU vendor's microcode package, loaded early from the next boot on.
    pub microcode: bool,
}

/// One entry of `[passthrough] devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSel {
    /// Every function in a slot: `0000:01:00` or `01:00`.
    Slot { domain: u16, bus: u8, dev: u8 },
    /// One function: `01:00.0` or `0000:01:00.0`.
    Function {
        domain: u16,
        bus: u8,
        dev: u8,
        func: u8,
    },
    /// Every device with this vendor:device ID: `10de:2484`.
    Id { vendor: u16, device: u16 },
    /// Every display controller that is not the boot VGA device, with its whole slot.
    Gpu,
}

impl DeviceSel {
    pub fn parse(s: &str) -> Result<DeviceSel, String> {
        let bad = || {
            format!(
                "\"{s}\" is not a PCI device; use a slot (\"0000:01:00\" or \"01:00\"), a function \
                 (\"01:00.0\"), a vendor:device ID (\"10de:2484\") or \"gpu\""
            )
        };
        if s == "gpu" {
            return Ok(DeviceSel::Gpu);
        }
        let hex = |p: &str, len: usize| -> Option<u32> {
            (p.len() == len && p.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u32::from_str_radix(p, 16).ok())
                .flatten()
        };
        let (addr, func) = match s.split_once('.') {
            Some((a, f)) => (a, Some(f)),
            None => (s, None),
        };
        let parts: Vec<&str> = addr.split(':').collect();
        // `vvvv:dddd` has two 4-digit parts; a bus:device address has 2-digit ones.
        if func.is_none() && parts.len() == 2 && parts.iter().all(|p| p.len() == 4) {
            let (v, d) = (
                hex(parts[0], 4).ok_or_else(bad)?,
                hex(parts[1], 4).ok_or_else(bad)?,
            );
            return Ok(DeviceSel::Id {
                vendor: v as u16,
                device: d as u16,
            });
        }
        let (domain, bus, dev) = match parts.as_slice() {
            [d, b, v] => (hex(d, 4), hex(b, 2), hex(v, 2)),
            [b, v] => (Some(0), hex(b, 2), hex(v, 2)),
            _ => return Err(bad()),
        };
        let (Some(domain), Some(bus), Some(dev)) = (domain, bus, dev) else {
            return Err(bad());
        };
        if dev > 0x1f {
            return Err(format!("\"{s}\": the device number must be 00 to 1f"));
        }
        let (domain, bus, dev) = (domain as u16, bus as u8, dev as u8);
        match func {
            None => Ok(DeviceSel::Slot { domain, bus, dev }),
            Some(f) => match f.parse::<u8>() {
                Ok(func) if f.len() == 1 && func <= 7 => Ok(DeviceSel::Function {
                    domain,
                    bus,
                    dev,
                    func,
                }),
                _ => Err(format!("\"{s}\": the function number must be 0 to 7")),
            },
        }
    }
}

impl fmt::Display for DeviceSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSel::Slot { domain, bus, dev } => write!(f, "{domain:04x}:{bus:02x}:{dev:02x}"),
            DeviceSel::Function {
                domain,
                bus,
                dev,
                func,
            } => write!(f, "{domain:04x}:{bus:02x}:{dev:02x}.{func}"),
            DeviceSel::Id { vendor, device } => write!(f, "{vendor:04x}:{device:04x}"),
            DeviceSel::Gpu => f.write_str("gpu"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Passthrough {
    pub devices: Vec<DeviceSel>,
    pub iommu_pt: bool,
    pub disable_vga: bool,
    pub kernel_args: Vec<String>,
    pub blacklist_drivers: Vec<String>,
    pub ignore_msrs: bool,
    /// Opt-in for a single-GPU host: the boot VGA device may be passed through.
    pub take_boot_vga: bool,
}

#[derive(Debug, Clone)]
pub struct VmBridge {
    pub name: String,
    pub cidr: Ipv4Cidr,
    pub nat: bool,
    pub dhcp_range: Option<(Ipv4Addr, Ipv4Addr)>,
    /// Guests reach the internet, not the management LAN or the host (default on).
    pub isolate: bool,
    /// Single destinations on the management LAN that guests may reach all the same.
    pub allow: Vec<Allow>,
}

/// One `allow` entry: `10.0.200.50:1883/tcp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allow {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub proto: Proto,
}

impl Allow {
    pub fn parse(s: &str) -> Result<Allow, String> {
        let bad = || format!("\"{s}\" is not IPV4:PORT/PROTO such as \"10.0.200.50:1883/tcp\"");
        let (addr, proto) = s.split_once('/').ok_or_else(bad)?;
        let proto = match proto {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            _ => return Err(bad()),
        };
        let (ip, port) = addr.rsplit_once(':').ok_or_else(bad)?;
        Ok(Allow {
            ip: ip.parse().map_err(|_| bad())?,
            port: port.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?,
            proto,
        })
    }
}

impl fmt::Display for Allow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.ip, self.port, self.proto)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

#[derive(Debug, Clone)]
pub struct PortForward {
    pub protocol: Proto,
    pub port: u16,
    pub to: Ipv4Addr,
    pub to_port: u16,
}

#[derive(Debug, Clone)]
pub struct NetworkCfg {
    pub vm_bridge: Option<VmBridge>,
    pub port_forwards: Vec<PortForward>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unattended {
    Security,
    Off,
}

#[derive(Debug, Clone)]
pub struct Hardening {
    /// Subnets besides the host's own that may reach the web UI and ssh through the
    /// Proxmox firewall (its `management` ipset), as networks.
    pub admin_subnets: Vec<String>,
    pub ssh_password_login: bool,
    pub ssh_kex: SshKex,
    pub firewall: bool,
    pub fail2ban: bool,
    pub unattended_upgrades: Unattended,
}

/// Which ssh key exchanges sshd offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshKex {
    /// Post-quantum hybrids first, then curve25519: every OpenSSH since 6.5 (Windows 10's
    /// built-in 8.1 included) and PuTTY since 0.68 can connect.
    PostQuantumFirst,
    /// Post-quantum hybrids only: OpenSSH 8.5 / PuTTY 0.78 or newer.
    PostQuantumOnly,
}

impl SshKex {
    pub fn as_str(self) -> &'static str {
        match self {
            SshKex::PostQuantumFirst => "post-quantum-first",
            SshKex::PostQuantumOnly => "post-quantum-only",
        }
    }
}

/// Where the HAOS image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// The GitHub release asset of `version`.
    Release,
    Url(String),
    Path(String),
}

#[derive(Debug, Clone)]
pub struct Haos {
    pub vmid: u32,
    /// A pinned version such as `16.3`, or `stable` (only with `allow-unpinned`).
    pub version: String,
    pub sha256: Option<String>,
    pub image: ImageSource,
    pub allow_unpinned: bool,
    /// `None`: the host's own storage for VM disks, read from storage.cfg at apply time.
    pub storage: Option<String>,
    pub bridge: String,
    pub ip: Option<Ipv4Addr>,
    pub cores: u32,
    /// MiB.
    pub memory: u32,
    /// As Proxmox takes it, e.g. `32G`.
    pub disk_size: String,
    pub start: bool,
    /// Host USB devices passed to the VM (`vendor:product` or a port path).
    pub usb: Vec<String>,
}

impl Haos {
    pub fn mac(&self, fqdn: Option<&str>) -> String {
        derived_mac(fqdn, self.vmid)
    }
}

/// The firmware a `[[vm]]` boots with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bios {
    /// UEFI, with machine q35: what PCI passthrough and Windows 11 need.
    Ovmf,
    /// Legacy BIOS, Proxmox's own default machine (i440fx).
    Seabios,
}

/// `[vm.cloud-init]`: a VM made from a cloud image and configured at its first boot.
#[derive(Debug, Clone)]
pub struct CloudInit {
    /// A URL or a path on the host (never [`ImageSource::Release`]).
    pub image: ImageSource,
    /// SHA-256 (64 hex digits) or SHA-512 (128) of the file as downloaded.
    pub sum: Option<String>,
    pub allow_unpinned: bool,
    /// `None`: the image's own default user (`debian` on Debian's images), as Proxmox
    /// does when `ciuser` is not set.
    pub user: Option<String>,
    pub ssh_keys: Vec<String>,
    pub packages: Vec<String>,
}

/// One `[[vm]]` table.
#[derive(Debug, Clone)]
pub struct VmCfg {
    pub vmid: u32,
    pub name: String,
    pub ostype: String,
    pub bios: Bios,
    pub cores: u32,
    /// MiB.
    pub memory: u32,
    pub disk_size: String,
    pub storage: Option<String>,
    pub bridge: String,
    pub ip: Option<Ipv4Addr>,
    pub start: bool,
    /// Boot media on a Proxmox storage (`local:iso/Win11_24H2.iso`).
    pub iso: Option<String>,
    /// PCI devices for the guest, selectors as in `[passthrough].devices`.
    pub hostpci: Vec<DeviceSel>,
    pub usb: Vec<String>,
    pub cloud_init: Option<CloudInit>,
}

impl VmCfg {
    pub fn mac(&self, fqdn: Option<&str>) -> String {
        derived_mac(fqdn, self.vmid)
    }
    /// Windows 10/11 (and their server releases): TPM 2.0 state, Secure Boot keys,
    /// `cpu host` (qemu-server `src/PVE/QemuServer.pm` `ostype`: win10, win11).
    pub fn is_modern_windows(&self) -> bool {
        matches!(self.ostype.as_str(), "win10" | "win11")
    }
}

/// Where a `[[container]]`'s root file system comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtSource {
    /// A Proxmox appliance template (`pveam available`): its file name, or its package name
    /// for the newest version the appliance index has.
    Template(String),
    /// An OCI image (PVE 9.1+): `REGISTRY/NAME:TAG`, and the manifest digest
    /// (`sha256:...`) it is pinned to.
    Oci {
        reference: String,
        digest: Option<String>,
    },
}

/// One mount point of a container (`mpN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtMount {
    /// Where it is in the container.
    pub path: String,
    /// A host directory bound into it, or `None` for a new volume of `size_gib`.
    pub host: Option<String>,
    /// The volume's storage (`None`: the container's own).
    pub storage: Option<String>,
    pub size_gib: u64,
    pub read_only: bool,
}

/// One `[[container]]` table: an LXC container made once by the `containers` phase.
#[derive(Debug, Clone)]
pub struct CtCfg {
    pub vmid: u32,
    pub hostname: String,
    pub source: CtSource,
    /// OCI only: no digest, downloaded as the tag stands.
    pub allow_unpinned: bool,
    pub unprivileged: bool,
    pub nesting: bool,
    pub keyctl: bool,
    pub cores: u32,
    /// MiB.
    pub memory: u32,
    /// MiB.
    pub swap: u32,
    /// Whole GiB, as `pct` allocates a new volume (`STORAGE:SIZE_IN_GiB`).
    pub disk_gib: u64,
    pub storage: Option<String>,
    pub bridge: String,
    pub ip: Option<Ipv4Addr>,
    /// root's keys in a template's container (none in an OCI application container).
    pub ssh_keys: Vec<String>,
    pub start: bool,
    pub mounts: Vec<CtMount>,
}

impl CtCfg {
    pub fn mac(&self, fqdn: Option<&str>) -> String {
        derived_mac(fqdn, self.vmid)
    }
}

/// A VM's MAC address, derived from the answer so that the network phase's static
/// DHCP lease and the VM's `net0` agree without sharing state: a locally administered
/// unicast address (02:...) hashed from the FQDN and the VMID.
pub fn derived_mac(fqdn: Option<&str>, vmid: u32) -> String {
    // FNV-1a: stable across releases and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in fqdn
        .unwrap_or("")
        .bytes()
        .chain([0])
        .chain(vmid.to_string().bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    format!(
        "02:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
        b[0], b[1], b[2], b[3], b[4]
    )
}

/// A parsed answer with the warnings found while reading it.
pub struct Loaded {
    pub answer: Answer,
    pub warnings: Report,
}

/// Read an answer from bytes; `name` is how diagnostics name the file.
pub fn parse(name: &str, bytes: &[u8]) -> Result<Loaded, Report> {
    parse_as(name, bytes, false)
}

/// The first line of the copy [`for_host`] makes: how `validate`, `plan` and `probe --check`
/// recognise the installed answer, whose root password is missing on purpose.
pub const INSTALLED_HEADER: &str =
    "# The answer pve-firstboot works from, installed by its first-boot hook.";

/// Whether `bytes` are the installed copy of an answer (they start with
/// [`INSTALLED_HEADER`]). Only the password check depends on it: the image and the hook
/// read every answer as the admin's and refuse one without a password.
pub fn is_installed(bytes: &[u8]) -> bool {
    let b = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    b.starts_with(INSTALLED_HEADER.as_bytes())
}

/// Read the copy of the answer installed on the host (`/etc/pve-firstboot/answer.toml`),
/// which has no root password (see [`for_host`]).
pub fn parse_installed(name: &str, bytes: &[u8]) -> Result<Loaded, Report> {
    parse_as(name, bytes, true)
}

/// The answer as the host keeps it: everything but the root password, which only the
/// installer needs and which must not sit on the host in a second place.
///
/// The admin's own text is kept, comments and layout included, with just the password
/// lines cut out: it is the file they edit to change a setting later. Where the password
/// does not sit on lines of its own (an inline table, say), the answer is written out anew
/// from its values instead.
pub fn for_host(text: &str) -> Result<String, String> {
    // A byte-order mark (some Windows editors write one) is allowed only at the very start
    // of a TOML file; the comment put before the text below would move it into the middle.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut t: toml::Table = toml::from_str(text).map_err(|e| e.message().to_string())?;
    if let Some(toml::Value::Table(i)) = t.get_mut("installer") {
        if let Some(toml::Value::Table(g)) = i.get_mut("global") {
            g.remove("root-password");
            g.remove("root-password-hashed");
        }
    }
    // The cut text is used only if it reads back as exactly the answer without the
    // password: a cut that took anything else, or left a secret, falls back.
    let body = match cut_secret_lines(text) {
        Some(cut) if toml::from_str::<toml::Table>(&cut).is_ok_and(|c| c == t) => cut,
        _ => toml::to_string(&t).map_err(|e| e.to_string())?,
    };
    Ok(format!(
        "{INSTALLED_HEADER}\n\
         # The root password was left out on purpose: the installer has used it.\n{body}"
    ))
}

/// `text` without the lines that hold `installer.global.root-password(-hashed)`, or None
/// when such a key shares its lines with anything but its dotted path and a comment.
fn cut_secret_lines(text: &str) -> Option<String> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    fn table_of<'t, 'i>(
        t: &'t toml::de::DeTable<'i>,
        key: &str,
    ) -> Option<&'t toml::de::DeTable<'i>> {
        t.iter()
            .find(|(k, _)| k.get_ref() == key)
            .and_then(|(_, v)| match v.get_ref() {
                toml::de::DeValue::Table(t) => Some(t),
                _ => None,
            })
    }
    let global = table_of(table_of(doc.get_ref(), "installer")?, "global")?;
    let mut cuts = Vec::new();
    for (k, v) in global.iter() {
        if !matches!(
            k.get_ref().as_ref(),
            "root-password" | "root-password-hashed"
        ) {
            continue;
        }
        let start = text[..k.span().start].rfind('\n').map_or(0, |i| i + 1);
        let end = text[v.span().end..]
            .find('\n')
            .map_or(text.len(), |i| v.span().end + i + 1);
        let before = &text[start..k.span().start];
        let after = text[v.span().end..end].trim_start();
        let path_only = before
            .trim_start()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ' | '\t'));
        if !path_only || !(after.is_empty() || after.starts_with('#')) {
            return None;
        }
        cuts.push(start..end);
    }
    cuts.sort_by_key(|r| std::cmp::Reverse(r.start));
    let mut out = text.to_string();
    for r in cuts {
        out.replace_range(r, "");
    }
    Some(out)
}

fn parse_as(name: &str, bytes: &[u8], installed: bool) -> Result<Loaded, Report> {
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(Report::file_error(
            name,
            1,
            1,
            &format!(
                "the file is {} bytes; an answer file may be at most {MAX_ANSWER_BYTES} bytes",
                bytes.len()
            ),
        ));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or("");
            let (line, col) = Source { name, text: valid }.line_col(valid.len());
            return Err(Report::file_error(
                name,
                line,
                col,
                "the file is not valid UTF-8 (TOML files must be UTF-8 text)",
            ));
        }
    };
    let src = Source { name, text };
    let doc = match toml::de::DeTable::parse(text) {
        Ok(d) => d,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let msg = e.message().trim().replace('\n', " ");
            // The parser says only "duplicate key"; name the key, as an editor would need.
            let diag = match key_at(text, &span).filter(|_| msg == "duplicate key") {
                Some(key) => Diag::error(
                    &span,
                    key.as_str(),
                    "TOML syntax: duplicate key; this key (or table) is already set above, and TOML allows each once",
                ),
                None => Diag::error(&span, "", format!("TOML syntax: {msg}")),
            };
            return Err(Report::new(&src, vec![diag]));
        }
    };
    let mut c = reader::Checker {
        installed,
        ..reader::Checker::default()
    };
    let read = schema::read(&mut c, doc.get_ref());
    rules::check(&mut c, &read);
    let refused = read.installer.is_none();
    let mut diags = c.diags;
    diags.extend(toml10::check(text, doc.get_ref()));
    // Never refuse in silence: a reader that gave up without recording why is a bug, but
    // the admin still gets a line that names where to look.
    if refused && !diags.iter().any(|d| d.severity == Severity::Error) {
        diags.push(Diag::error(
            &(0..0),
            "installer.global",
            "could not be read, and no more precise error was found (please report this answer)",
        ));
    }
    let report = Report::new(&src, diags);
    match read.into_answer() {
        Some(mut answer) if !report.has_errors() => {
            // The same text as plain values (it parsed above; an integer outside i64
            // is an error of the schema's).
            if let Some(mut t) = reader::plain_table(doc.get_ref()) {
                if let Some(toml::Value::Table(i)) = t.remove("installer") {
                    answer.installer.tables = i;
                }
            }
            Ok(Loaded {
                answer,
                warnings: report,
            })
        }
        _ => Err(report),
    }
}

/// The dotted path of the key whose text is at `span`, read from the source around it: a
/// table header names itself, a `key = value` line is put under the last header above it.
/// Used for syntax errors, where the parser gives a span but no path.
fn key_at(text: &str, span: &std::ops::Range<usize>) -> Option<String> {
    let line_start = text.get(..span.start)?.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let line = text[line_start..line_end].trim();
    let header = |l: &str| -> Option<String> {
        let l = l.strip_prefix('[')?;
        let l = l.strip_prefix('[').unwrap_or(l);
        let end = l.find(']')?;
        Some(
            l[..end]
                .split('.')
                .map(str::trim)
                .collect::<Vec<_>>()
                .join("."),
        )
    };
    if line.starts_with('[') {
        return header(line);
    }
    let key: String = text
        .get(line_start..span.end.max(span.start))?
        .split('=')
        .next()?
        .split('.')
        .map(|p| p.trim().trim_matches(|c| c == '"' || c == '\''))
        .collect::<Vec<_>>()
        .join(".");
    let key = if key.is_empty() {
        text.get(span.clone())?.trim().to_string()
    } else {
        key
    };
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .and_then(header);
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key,
    })
}

/// The TOML 1.1-only constructs in `text` (one message each), for checking what we write
/// for Proxmox's TOML 1.0 parser. Text that does not parse at all yields one message.
pub fn toml_1_1_syntax(text: &str) -> Vec<String> {
    match toml::de::DeTable::parse(text) {
        Ok(doc) => toml10::check(text, doc.get_ref())
            .into_iter()
            .map(|d| format!("{}: {}", d.key, d.message))
            .collect(),
        Err(e) => vec![e.message().to_string()],
    }
}

pub use normalize::{REDACTED, normalized};

#[cfg(test)]
mod tests {
    use super::*;

    /// The installed answer: the password gone, the rest as the admin wrote it where the
    /// password had lines of its own, and always the same values.
    #[test]
    fn for_host_cuts_only_the_password() {
        let secret = "s3cr3t-Pa55";
        let kept = |text: &str| {
            let out = for_host(text).unwrap();
            assert!(!out.contains(secret), "{out}");
            let mut want: toml::Table = toml::from_str(text).unwrap();
            let g = want["installer"]["global"].as_table_mut().unwrap();
            g.remove("root-password");
            g.remove("root-password-hashed");
            assert_eq!(toml::from_str::<toml::Table>(&out).unwrap(), want, "{out}");
            out
        };
        let out = kept(&format!(
            "# my homeserver\n[installer.global]\nkeyboard = \"de\" # German\n\
             root-password = \"{secret}\"   # used once\nroot-password-hashed = '{secret}'\n\
             \n[host]\nupgrade = false # later\n"
        ));
        assert!(out.ends_with(
            "# my homeserver\n[installer.global]\nkeyboard = \"de\" # German\n\n[host]\nupgrade = false # later\n"
        ), "{out}");
        // A dotted key on a line of its own is cut just as well.
        let out = kept(&format!(
            "installer.global.root-password = \"{secret}\"\ninstaller.global.keyboard = \"de\" # kept\n"
        ));
        assert!(
            out.ends_with("installer.global.keyboard = \"de\" # kept\n"),
            "{out}"
        );
        // A multi-line string on lines of its own: all its lines are cut.
        let out = kept(&format!(
            "[installer.global]\nroot-password = \"\"\"\n{secret}\"\"\"\nkeyboard = \"de\"\n"
        ));
        assert!(
            out.ends_with("\n[installer.global]\nkeyboard = \"de\"\n"),
            "{out}"
        );
        // An inline table: written anew from the values.
        kept(&format!(
            "[installer]\nglobal = {{ keyboard = \"de\", root-password = \"{secret}\" }}\n"
        ));
    }

    #[test]
    fn device_selectors() {
        assert_eq!(
            DeviceSel::parse("0000:01:00").unwrap(),
            DeviceSel::Slot {
                domain: 0,
                bus: 1,
                dev: 0
            }
        );
        assert_eq!(DeviceSel::parse("01:00").unwrap().to_string(), "0000:01:00");
        assert_eq!(
            DeviceSel::parse("01:00.1").unwrap().to_string(),
            "0000:01:00.1"
        );
        assert_eq!(
            DeviceSel::parse("10de:2484").unwrap().to_string(),
            "10de:2484"
        );
        assert_eq!(DeviceSel::parse("gpu").unwrap(), DeviceSel::Gpu);
        for bad in [
            "", "1:0", "01:20", "01:00.8", "0000:01", "zz:00", "01:00.01", "10de:248",
        ] {
            assert!(DeviceSel::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn example_is_valid() {
        let l = parse(EXAMPLE_NAME, EXAMPLE.as_bytes()).unwrap_or_else(|r| panic!("{r}"));
        assert!(l.answer.haos.is_some());
    }

    #[test]
    fn mac_is_stable_and_local() {
        let l = parse(EXAMPLE_NAME, EXAMPLE.as_bytes()).unwrap_or_else(|r| panic!("{r}"));
        let h = l.answer.haos.unwrap();
        let mac = h.mac(Some("atlas.home.arpa"));
        assert!(mac.starts_with("02:"));
        assert_eq!(mac, h.mac(Some("atlas.home.arpa")));
        assert_ne!(mac, h.mac(Some("other.home.arpa")));
    }
}
