//! The answer file's schema: every table, every key, its type, range and default.
//!
//! Each `read_*` function reads one table and returns its typed form, or `None` when a
//! required value is missing or invalid (the error is already recorded). Spans of values
//! that cross-field rules point at are kept in [`Spans`].

use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;

use toml::de::DeTable;

use super::net::{self, Cidr};
use super::reader::{Checker, Sp, Tbl};
use super::*;

pub const KEYBOARDS: &[&str] = &[
    "de", "de-ch", "dk", "en-gb", "en-us", "es", "fi", "fr", "fr-be", "fr-ca", "fr-ch", "hu", "is",
    "it", "jp", "lt", "mk", "nl", "no", "pl", "pt", "pt-br", "se", "si", "tr",
];
const ZONES: &str = include_str!("data/zones.txt");
const COUNTRIES: &str = include_str!("data/countries.txt");

/// Spans of the values that cross-field rules report on.
#[derive(Default)]
pub struct Spans {
    pub global: Range<usize>,
    pub root_ssh_keys: Option<Range<usize>>,
    pub root_password: Option<Range<usize>>,
    pub mgmt_cidr: Option<Range<usize>>,
    pub vm_bridge: Option<Range<usize>>,
    pub vm_cidr: Option<Range<usize>>,
    pub dhcp_range: Option<Range<usize>>,
    /// Index in the `allow` array and span of each entry that parsed.
    pub allow: Vec<(usize, Range<usize>)>,
    pub forwards: Vec<(Range<usize>, Range<usize>)>, // (port, to)
    pub ssh_password_login: Option<Range<usize>>,
    pub hardening: Option<Range<usize>>,
    pub haos_bridge: Option<Range<usize>>,
    pub haos_ip: Option<Range<usize>>,
    pub haos_version: Option<Range<usize>>,
    pub haos_storage: Option<Range<usize>>,
}

/// What was read, as far as it could be read.
pub struct Read {
    pub installer: Option<Installer>,
    pub agent: Agent,
    pub host: Option<HostCfg>,
    pub passthrough: Option<Passthrough>,
    pub network: Option<NetworkCfg>,
    pub hardening: Option<Hardening>,
    pub haos: Option<Haos>,
    pub sp: Spans,
}

impl Read {
    /// The typed answer, if everything it needs could be read.
    pub fn into_answer(self) -> Option<Answer> {
        Some(Answer {
            installer: self.installer?,
            agent: self.agent,
            host: self.host,
            passthrough: self.passthrough,
            network: self.network,
            hardening: self.hardening,
            haos: self.haos,
        })
    }
}

pub fn read(c: &mut Checker, doc: &DeTable) -> Read {
    let mut root = Tbl::new("", 0..0, doc);
    let mut sp = Spans::default();
    let mut disk_count = None;

    let installer = match root.table(c, "installer") {
        Some(mut t) => {
            let i = read_installer(c, &mut t, &mut sp, &mut disk_count);
            t.finish(c);
            i
        }
        None => {
            if !root.has("installer") {
                c.error(
                    &(0..0),
                    "installer.global",
                    "missing required table [installer.global]",
                );
            }
            None
        }
    };
    let agent = match root.table(c, "agent") {
        Some(mut t) => {
            let a = Agent {
                max_reboots: t
                    .int(c, "max-reboots", 1..=10, "max-reboots")
                    .map_or(3, |v| v.v as u32),
            };
            t.finish(c);
            a
        }
        None => Agent { max_reboots: 3 },
    };
    let host = root.table(c, "host").map(|mut t| {
        let h = read_host(c, &mut t);
        t.finish(c);
        h
    });
    let passthrough = root.table(c, "passthrough").and_then(|mut t| {
        let p = read_passthrough(c, &mut t);
        t.finish(c);
        p
    });
    let network = root.table(c, "network").and_then(|mut t| {
        let n = read_network(c, &mut t, &mut sp);
        t.finish(c);
        n
    });
    let hardening = root.table(c, "hardening").map(|mut t| {
        sp.hardening = Some(t.span.clone());
        let h = read_hardening(c, &mut t, &mut sp);
        t.finish(c);
        h
    });
    let haos = root.table(c, "haos").and_then(|mut t| {
        let h = read_haos(c, &mut t, &mut sp, network.as_ref(), installer.as_ref());
        t.finish(c);
        h
    });
    root.finish(c);
    Read {
        installer,
        agent,
        host,
        passthrough,
        network,
        hardening,
        haos,
        sp,
    }
}

fn read_installer(
    c: &mut Checker,
    t: &mut Tbl,
    sp: &mut Spans,
    disk_count: &mut Option<(usize, Range<usize>)>,
) -> Option<Installer> {
    if let Some(v) = t.raw("first-boot") {
        c.error(
            &t.key_span("first-boot"),
            "installer.first-boot",
            "is managed by pve-firstboot (its hook runs the agent); remove this table",
        );
        let _ = v;
    }
    if let Some(mut w) = t.table(c, "post-installation-webhook") {
        if let Some(url) = w.req_string(c, "url", "the URL to post to") {
            if !(url.v.starts_with("https://") || url.v.starts_with("http://")) {
                c.error(
                    &url.span,
                    &w.key_path("url"),
                    "must be an http:// or https:// URL",
                );
            }
        }
        w.string(c, "cert-fingerprint");
        w.finish(c);
    }
    let network = match t.table(c, "network") {
        Some(mut n) => {
            let r = read_mgmt_network(c, &mut n, sp);
            n.finish(c);
            r
        }
        None => {
            c.warning(
                &t.span,
                "installer.network",
                "missing; the Proxmox installer requires it (source = \"from-dhcp\" or \"from-answer\") \
                 when this answer is built into an ISO",
            );
            Ok(None)
        }
    };
    let filesystem = match t.table(c, "disk-setup") {
        Some(mut d) => {
            let r = read_disk_setup(c, &mut d, disk_count);
            d.finish(c);
            r
        }
        None => {
            c.warning(
                &t.span,
                "installer.disk-setup",
                "missing; the Proxmox installer requires it when this answer is built into an ISO",
            );
            Some(String::new())
        }
    };
    let Some(mut g) = t.table(c, "global") else {
        if !t.has("global") {
            c.error(&t.span, "installer.global", "missing required table");
        }
        return None;
    };
    sp.global = g.span.clone();
    let global = read_global(c, &mut g, sp);
    g.finish(c);
    let mut inst = global?;
    inst.network = network.ok()?;
    inst.filesystem = filesystem?;
    Some(inst)
}

fn read_global(c: &mut Checker, g: &mut Tbl, sp: &mut Spans) -> Option<Installer> {
    let country = g.req_string(c, "country", "a two-letter country code such as \"de\"");
    if let Some(s) = &country {
        if !COUNTRIES.lines().any(|l| l == s.v) {
            c.error(
                &s.span,
                &g.key_path("country"),
                format!("\"{}\" is not an ISO 3166-1 country code; use two lowercase letters such as \"de\" or \"us\"", s.v),
            );
        }
    }
    let fqdn = read_fqdn(c, g);
    let keyboard = if g.has("keyboard") {
        g.one_of(c, "keyboard", KEYBOARDS)
    } else {
        g.missing(
            c,
            "keyboard",
            "a keyboard layout such as \"en-us\" or \"de\"",
        );
        g.raw("keyboard");
        None
    };
    let mailto = g.req_string(c, "mailto", "the admin's e-mail address");
    if let Some(m) = &mailto {
        if !net::is_email(&m.v) {
            c.error(
                &m.span,
                &g.key_path("mailto"),
                format!("\"{}\" is not an e-mail address (user@example.org)", m.v),
            );
        }
    }
    let timezone = g.req_string(
        c,
        "timezone",
        "a zone name such as \"Europe/Berlin\" or \"UTC\"",
    );
    if let Some(z) = &timezone {
        if !ZONES.lines().any(|l| l == z.v) {
            c.error(
                &z.span,
                &g.key_path("timezone"),
                format!("\"{}\" is not a time zone name; use an IANA name such as \"Europe/Berlin\" or \"UTC\"", z.v),
            );
        }
    }
    let pw = g.string(c, "root-password");
    let hashed = g.string(c, "root-password-hashed");
    match (&pw, &hashed) {
        (Some(p), Some(_)) => c.error(
            &p.span,
            &g.key_path("root-password"),
            "set either root-password or root-password-hashed, not both",
        ),
        (None, None) if !c.installed && !g.has("root-password") && !g.has("root-password-hashed") => c.error(
            &g.span,
            &g.key_path("root-password-hashed"),
            "missing; set root-password-hashed (a crypt(3) hash, e.g. from `mkpasswd -m yescrypt`) or root-password",
        ),
        _ => {}
    }
    if let Some(p) = &pw {
        sp.root_password = Some(p.span.clone());
        if p.v.chars().count() < 8 {
            c.error(
                &p.span,
                &g.key_path("root-password"),
                "must be at least 8 characters (the Proxmox installer refuses shorter ones)",
            );
        }
    }
    if let Some(h) = &hashed {
        // crypt(3) hashes start with $id$ (yescrypt $y$, SHA-512 $6$, ...); anything else
        // would be installed as a hash nobody can log in with.
        if !h.v.starts_with('$') || h.v.len() < 13 || h.v.chars().any(char::is_whitespace) {
            c.error(
                &h.span,
                &g.key_path("root-password-hashed"),
                "is not a crypt(3) hash such as \"$y$j9T$...\" (make one with `mkpasswd -m yescrypt`)",
            );
        }
    }
    let keys = g.strings(c, "root-ssh-keys").unwrap_or_default();
    if g.has("root-ssh-keys") {
        sp.root_ssh_keys = Some(g.key_span("root-ssh-keys"));
    }
    for (i, k) in keys.iter().enumerate() {
        if let Err(e) = check_ssh_key(&k.v) {
            c.error(&k.span, &format!("{}[{i}]", g.key_path("root-ssh-keys")), e);
        }
    }
    g.bool(c, "reboot-on-error");
    g.one_of(c, "reboot-mode", &["reboot", "power-off"]);
    Some(Installer {
        fqdn: fqdn?,
        country: country?.v,
        keyboard: keyboard?.v.to_string(),
        mailto: mailto?.v,
        timezone: timezone?.v,
        root_password: pw.map(|p| Secret::new(p.v)),
        root_password_hashed: hashed.map(|p| Secret::new(p.v)),
        root_ssh_keys: keys.into_iter().map(|k| k.v).collect(),
        network: None,
        filesystem: String::new(),
    })
}

/// `fqdn` is a string, or since Proxmox 8.4.3 `{ source = "from-dhcp", domain = "..." }`.
fn read_fqdn(c: &mut Checker, g: &mut Tbl) -> Option<Option<String>> {
    if !g.has("fqdn") {
        g.raw("fqdn");
        g.missing(
            c,
            "fqdn",
            "the host's fully qualified name such as \"atlas.home.arpa\"",
        );
        return None;
    }
    if let Some(s) = g
        .raw("fqdn")
        .filter(|v| matches!(v.get_ref(), toml::de::DeValue::String(_)))
    {
        let toml::de::DeValue::String(name) = s.get_ref() else {
            return None;
        };
        return match net::check_fqdn(name) {
            Ok(()) => Some(Some(name.to_ascii_lowercase())),
            Err(e) => {
                c.error(&s.span(), &g.key_path("fqdn"), e);
                None
            }
        };
    }
    let mut t = g.table(c, "fqdn")?;
    t.one_of(c, "source", &["from-dhcp"])?;
    if let Some(d) = t.string(c, "domain") {
        if !d.v.split('.').all(net::is_label) {
            c.error(
                &d.span,
                &t.key_path("domain"),
                format!("\"{}\" is not a domain name", d.v),
            );
        }
    }
    t.finish(c);
    Some(None)
}

/// An OpenSSH public key line: `type base64 [comment]`.
fn check_ssh_key(k: &str) -> Result<(), String> {
    const TYPES: &[&str] = &[
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ];
    let mut parts = k.split_whitespace();
    let (Some(kind), Some(body)) = (parts.next(), parts.next()) else {
        return Err("is not an OpenSSH public key (\"ssh-ed25519 AAAA... comment\")".into());
    };
    if !TYPES.contains(&kind) {
        return Err(format!(
            "key type \"{kind}\" is not supported; use one of: {}",
            TYPES.join(", ")
        ));
    }
    if body.len() < 16
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    {
        return Err("the key data is not base64 (paste the whole line of the .pub file)".into());
    }
    if k.contains('\n') {
        return Err("holds a line break; give one key per array entry".into());
    }
    Ok(())
}

/// `Err(())` when the table is there but broken, `Ok(None)` for `from-dhcp`.
fn read_mgmt_network(c: &mut Checker, n: &mut Tbl, sp: &mut Spans) -> Result<Option<MgmtNet>, ()> {
    let source = if n.has("source") {
        n.one_of(c, "source", &["from-dhcp", "from-answer"])
            .ok_or(())?
            .v
    } else {
        n.raw("source");
        "from-dhcp"
    };
    let cidr = n.string(c, "cidr");
    let dns = n.string(c, "dns");
    let gateway = n.string(c, "gateway");
    let filter = n.string_map(c, "filter");
    if source == "from-dhcp" {
        for k in ["cidr", "dns", "gateway", "filter"] {
            if n.has(k) {
                c.error(
                    &n.key_span(k),
                    &n.key_path(k),
                    "is not allowed with source = \"from-dhcp\" (use source = \"from-answer\" for a static address)",
                );
            }
        }
        return Ok(None);
    }
    for (k, v) in [
        ("cidr", cidr.is_some()),
        ("dns", dns.is_some()),
        ("gateway", gateway.is_some()),
    ] {
        if !v && !n.has(k) {
            n.missing(c, k, "required with source = \"from-answer\"");
        }
    }
    if filter.is_none() && !n.has("filter") {
        n.missing(
            c,
            "filter",
            "required with source = \"from-answer\": a udev property glob choosing the NIC, e.g. filter.ID_NET_NAME_MAC = \"*\"",
        );
    }
    if let Some(f) = &filter {
        if f.is_empty() {
            c.error(
                &n.key_span("filter"),
                &n.key_path("filter"),
                "needs at least one udev property",
            );
        }
    }
    let cidr = cidr.and_then(|s| {
        sp.mgmt_cidr = Some(s.span.clone());
        Cidr::parse(&s.v)
            .map_err(|e| c.error(&s.span, &n.key_path("cidr"), e))
            .ok()
    });
    let mut ip = |v: Option<Sp<String>>, key: &str| -> Option<IpAddr> {
        let v = v?;
        v.v.parse()
            .map_err(|_| {
                c.error(
                    &v.span,
                    &n.key_path(key),
                    format!("\"{}\" is not an IP address", v.v),
                )
            })
            .ok()
    };
    let dns = ip(dns, "dns");
    let gateway_span = n.key_span("gateway");
    let gateway = ip(gateway, "gateway");
    let (Some(cidr), Some(dns), Some(gateway)) = (cidr, dns, gateway) else {
        return Err(());
    };
    if let (Some(c4), IpAddr::V4(g4)) = (cidr.v4(), gateway) {
        if !c4.contains_host(g4) || g4 == c4.addr {
            c.error(
                &gateway_span,
                &n.key_path("gateway"),
                format!(
                    "{g4} is not a host in the management subnet {}",
                    c4.subnet()
                ),
            );
        }
    }
    Ok(Some(MgmtNet { cidr, gateway, dns }))
}

fn read_disk_setup(
    c: &mut Checker,
    d: &mut Tbl,
    disk_count: &mut Option<(usize, Range<usize>)>,
) -> Option<String> {
    let fs = if d.has("filesystem") {
        d.one_of(c, "filesystem", &["ext4", "xfs", "zfs", "btrfs"])
    } else {
        d.raw("filesystem");
        d.missing(c, "filesystem", "one of ext4, xfs, zfs, btrfs");
        None
    };
    let disks = d.strings(c, "disk-list");
    let filter = d.string_map(c, "filter");
    d.one_of(c, "filter-match", &["any", "all"]);
    match (&disks, &filter) {
        (Some(_), Some(_)) => c.error(
            &d.key_span("filter"),
            &d.key_path("filter"),
            "use either disk-list or filter, not both",
        ),
        (None, None) if !d.has("disk-list") && !d.has("filter") => d.missing(
            c,
            "disk-list",
            "choose the disks with disk-list = [\"sda\"] or a filter.<UDEV_PROPERTY> glob",
        ),
        _ => {}
    }
    if let Some(list) = &disks {
        if list.is_empty() {
            c.error(
                &d.key_span("disk-list"),
                &d.key_path("disk-list"),
                "needs at least one disk",
            );
        }
        for (i, s) in list.iter().enumerate() {
            if s.v.is_empty() || s.v.contains('/') || s.v.chars().any(char::is_whitespace) {
                c.error(
                    &s.span,
                    &format!("{}[{i}]", d.key_path("disk-list")),
                    format!(
                        "\"{}\" is not a disk name such as \"sda\" or \"nvme0n1\"",
                        s.v
                    ),
                );
            }
        }
        *disk_count = Some((list.len(), d.key_span("disk-list")));
    }
    const ZFS_RAID: &[&str] = &["raid0", "raid1", "raid10", "raidz-1", "raidz-2", "raidz-3"];
    const BTRFS_RAID: &[&str] = &["raid0", "raid1", "raid10"];
    let fs_name = fs.as_ref().map(|f| f.v);
    // One options table per filesystem; the others are errors.
    for (sub, owner) in [("zfs", "zfs"), ("lvm", "ext4/xfs"), ("btrfs", "btrfs")] {
        let Some(mut t) = d.table(c, sub) else {
            continue;
        };
        let fits = match fs_name {
            Some(f) => owner.split('/').any(|o| o == f),
            None => true,
        };
        if !fits {
            c.error(
                &t.span,
                &t.path,
                format!(
                    "options for {owner}, but filesystem = \"{}\"",
                    fs_name.unwrap_or_default()
                ),
            );
        }
        match sub {
            "zfs" => {
                let raid = t.one_of(c, "raid", ZFS_RAID);
                check_raid_disks(c, &t, raid.as_ref(), disk_count);
                t.int(c, "ashift", 9..=16, "ashift");
                t.int(c, "arc-max", 64..=1 << 30, "arc-max (MiB)");
                t.one_of(c, "checksum", &["on", "fletcher4", "sha256"]);
                t.one_of(
                    c,
                    "compress",
                    &["on", "off", "lzjb", "lz4", "zle", "gzip", "zstd"],
                );
                t.int(c, "copies", 1..=3, "copies");
                t.number(c, "hdsize");
            }
            "lvm" => {
                for k in ["hdsize", "swapsize", "maxroot", "maxvz", "minfree"] {
                    t.number(c, k);
                }
            }
            _ => {
                let raid = t.one_of(c, "raid", BTRFS_RAID);
                check_raid_disks(c, &t, raid.as_ref(), disk_count);
                t.number(c, "hdsize");
                t.one_of(c, "compress", &["on", "off", "zlib", "lzo", "zstd"]);
            }
        }
        t.finish(c);
    }
    if let Some(f) = &fs {
        match f.v {
            "zfs" | "btrfs" if !d.has(f.v) => c.error(
                &d.span,
                &format!("{}.{}.raid", d.path, f.v),
                format!("missing; filesystem = \"{}\" needs a RAID level", f.v),
            ),
            "ext4" | "xfs" => {
                if let Some((n, span)) = disk_count {
                    if *n > 1 {
                        c.error(
                            span,
                            &d.key_path("disk-list"),
                            format!("{} takes a single disk; use zfs or btrfs for several", f.v),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    fs.map(|f| f.v.to_string())
}

fn check_raid_disks(
    c: &mut Checker,
    t: &Tbl,
    raid: Option<&Sp<&str>>,
    disks: &Option<(usize, Range<usize>)>,
) {
    let (Some(raid), Some((n, _))) = (raid, disks) else {
        return;
    };
    let min = match raid.v {
        "raid0" => 1,
        "raid1" => 2,
        "raidz-1" => 3,
        "raid10" | "raidz-2" => 4,
        _ => 5,
    };
    if *n < min {
        c.error(
            &raid.span,
            &t.key_path("raid"),
            format!("{} needs at least {min} disks, disk-list has {n}", raid.v),
        );
    }
}

fn read_host(c: &mut Checker, t: &mut Tbl) -> HostCfg {
    let repositories = match t.one_of(
        c,
        "repositories",
        &["no-subscription", "enterprise", "keep"],
    ) {
        Some(Sp {
            v: "enterprise", ..
        }) => Repositories::Enterprise,
        Some(Sp { v: "keep", .. }) => Repositories::Keep,
        _ => Repositories::NoSubscription,
    };
    let upgrade = t.bool(c, "upgrade").is_some_and(|b| b.v);
    let ntp = t.strings(c, "ntp-servers").unwrap_or_default();
    for (i, s) in ntp.iter().enumerate() {
        if !net::is_host(&s.v) {
            c.error(
                &s.span,
                &format!("{}[{i}]", t.key_path("ntp-servers")),
                format!("\"{}\" is not a host name or IP address", s.v),
            );
        }
    }
    HostCfg {
        repositories,
        upgrade,
        ntp_servers: ntp.into_iter().map(|s| s.v).collect(),
    }
}

fn read_passthrough(c: &mut Checker, t: &mut Tbl) -> Option<Passthrough> {
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

fn bridge_name_ok(s: &str) -> bool {
    // Linux interface names are at most 15 bytes; Proxmox's GUI wants vmbrN for bridges.
    s.len() <= 15
        && s.starts_with("vmbr")
        && s.len() > 4
        && s[4..].bytes().all(|b| b.is_ascii_digit())
}

fn read_network(c: &mut Checker, t: &mut Tbl, sp: &mut Spans) -> Option<NetworkCfg> {
    let vm_bridge = t.table(c, "vm-bridge").and_then(|mut b| {
        sp.vm_bridge = Some(b.span.clone());
        let name = match b.string(c, "name") {
            Some(n) if !bridge_name_ok(&n.v) => {
                c.error(
                    &n.span,
                    &b.key_path("name"),
                    format!("\"{}\" is not a Proxmox bridge name; use vmbrN such as \"vmbr1\"", n.v),
                );
                None
            }
            Some(n) if n.v == "vmbr0" => {
                c.error(
                    &n.span,
                    &b.key_path("name"),
                    "vmbr0 is the management bridge the installer made; use another one such as \"vmbr1\"",
                );
                None
            }
            Some(n) => Some(n.v),
            None if b.has("name") => None,
            None => Some("vmbr1".to_string()),
        };
        let cidr = match b.req_string(c, "cidr", "the bridge's own address, e.g. \"10.0.100.1/24\"") {
            Some(s) => {
                sp.vm_cidr = Some(s.span.clone());
                match Cidr::parse(&s.v) {
                    Ok(ci) => match ci.v4() {
                        Some(v4) if v4.prefix >= 8 && v4.prefix <= 30 && v4.contains_host(v4.addr) => Some(v4),
                        Some(_) => {
                            c.error(
                                &s.span,
                                &b.key_path("cidr"),
                                "must be a host address in a /8 to /30 subnet, e.g. 10.0.100.1/24",
                            );
                            None
                        }
                        None => {
                            c.error(&s.span, &b.key_path("cidr"), "must be IPv4 (the VM network is NAT'd IPv4)");
                            None
                        }
                    },
                    Err(e) => {
                        c.error(&s.span, &b.key_path("cidr"), e);
                        None
                    }
                }
            }
            None => None,
        };
        let nat = b.bool(c, "nat").is_none_or(|v| v.v);
        let isolate = b.bool(c, "isolate").is_none_or(|v| v.v);
        let mut allow = Vec::new();
        for (i, a) in b.strings(c, "allow").unwrap_or_default().iter().enumerate() {
            match Allow::parse(&a.v) {
                Ok(x) => {
                    sp.allow.push((i, a.span.clone()));
                    allow.push(x);
                }
                Err(e) => c.error(&a.span, &format!("{}[{i}]", b.key_path("allow")), e),
            }
        }
        let range = b.strings(c, "dhcp-range").and_then(|r| {
            sp.dhcp_range = Some(b.key_span("dhcp-range"));
            if r.len() != 2 {
                c.error(
                    &b.key_span("dhcp-range"),
                    &b.key_path("dhcp-range"),
                    "must be [first, last], two IPv4 addresses",
                );
                return None;
            }
            let ip = |s: &Sp<String>, c: &mut Checker| -> Option<Ipv4Addr> {
                s.v.parse()
                    .map_err(|_| c.error(&s.span, &b.key_path("dhcp-range"), format!("\"{}\" is not an IPv4 address", s.v)))
                    .ok()
            };
            let (a, z) = (ip(&r[0], c), ip(&r[1], c));
            Some((a?, z?))
        });
        b.finish(c);
        Some(VmBridge {
            name: name?,
            cidr: cidr?,
            nat,
            dhcp_range: range,
            isolate,
            allow,
        })
    });
    let mut forwards = Vec::new();
    for mut f in t.tables(c, "port-forward") {
        let protocol = match f.one_of(c, "protocol", &["tcp", "udp"]) {
            Some(Sp { v: "udp", .. }) => Proto::Udp,
            _ => Proto::Tcp,
        };
        let port = if f.has("port") {
            f.int(c, "port", 1..=65535, "port")
        } else {
            f.raw("port");
            f.missing(c, "port", "the port on the management address, 1 to 65535");
            None
        };
        let to = f.req_string(c, "to", "the target as \"IP:PORT\" on the VM network");
        let to_parsed = to.as_ref().and_then(|s| {
            let parsed = s.v.rsplit_once(':').and_then(|(ip, p)| {
                Some((
                    ip.parse::<Ipv4Addr>().ok()?,
                    p.parse::<u16>().ok().filter(|p| *p > 0)?,
                ))
            });
            if parsed.is_none() {
                c.error(
                    &s.span,
                    &f.key_path("to"),
                    format!("\"{}\" is not IPV4:PORT such as \"10.0.100.10:8123\"", s.v),
                );
            }
            parsed
        });
        if let (Some(p), Some(to)) = (&port, &to) {
            sp.forwards.push((p.span.clone(), to.span.clone()));
        }
        f.finish(c);
        if let (Some(p), Some((ip, tp))) = (port, to_parsed) {
            forwards.push(PortForward {
                protocol,
                port: p.v as u16,
                to: ip,
                to_port: tp,
            });
        }
    }
    Some(NetworkCfg {
        vm_bridge,
        port_forwards: forwards,
    })
}

fn read_hardening(c: &mut Checker, t: &mut Tbl, sp: &mut Spans) -> Hardening {
    let pw = t.bool(c, "ssh-password-login");
    if t.has("ssh-password-login") {
        sp.ssh_password_login = Some(t.key_span("ssh-password-login"));
    }
    Hardening {
        ssh_password_login: pw.is_some_and(|b| b.v),
        ssh_kex: match t.one_of(c, "ssh-kex", &["post-quantum-first", "post-quantum-only"]) {
            Some(Sp {
                v: "post-quantum-only",
                ..
            }) => SshKex::PostQuantumOnly,
            _ => SshKex::PostQuantumFirst,
        },
        firewall: t.bool(c, "firewall").is_none_or(|b| b.v),
        fail2ban: t.bool(c, "fail2ban").is_none_or(|b| b.v),
        unattended_upgrades: match t.one_of(c, "unattended-upgrades", &["security", "off"]) {
            Some(Sp { v: "off", .. }) => Unattended::Off,
            _ => Unattended::Security,
        },
    }
}

/// `32G`, `40960M`, `1T`: what `qm resize` takes, in whole units.
pub fn parse_size_gib(s: &str) -> Option<f64> {
    let (num, unit) = s.split_at(s.find(|ch: char| !ch.is_ascii_digit()).unwrap_or(s.len()));
    let n: f64 = num.parse::<u64>().ok()? as f64;
    match unit {
        "K" => Some(n / (1024.0 * 1024.0)),
        "M" => Some(n / 1024.0),
        "G" => Some(n),
        "T" => Some(n * 1024.0),
        _ => None,
    }
}

fn read_haos(
    c: &mut Checker,
    t: &mut Tbl,
    sp: &mut Spans,
    network: Option<&NetworkCfg>,
    installer: Option<&Installer>,
) -> Option<Haos> {
    let vmid = t
        .int(c, "vmid", 100..=999_999_999, "vmid")
        .map_or(100, |v| v.v as u32);
    let version = t.req_string(
        c,
        "version",
        "a pinned HAOS release such as \"16.3\", or \"stable\"",
    );
    let allow_unpinned = t.bool(c, "allow-unpinned").is_some_and(|b| b.v);
    let sha = t.string(c, "sha256");
    if let Some(v) = &version {
        sp.haos_version = Some(v.span.clone());
        let ok = v.v == "stable"
            || (!v.v.is_empty()
                && v.v
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                && v.v.split('.').count() <= 3);
        if !ok {
            c.error(
                &v.span,
                &t.key_path("version"),
                format!(
                    "\"{}\" is not a HAOS release number such as \"16.3\" (or \"stable\")",
                    v.v
                ),
            );
        } else if v.v == "stable" {
            if !allow_unpinned || sha.is_some() {
                c.error(
                    &v.span,
                    &t.key_path("version"),
                    "\"stable\" changes under you; pin a release with sha256, or set allow-unpinned = true and omit sha256",
                );
            } else {
                c.warning(
                    &v.span,
                    &t.key_path("version"),
                    "\"stable\" is not pinned: the image is not checked against a known checksum (the computed one is recorded in the state)",
                );
            }
        }
    }
    if let Some(s) = &sha {
        if s.v.len() != 64 || !s.v.bytes().all(|b| b.is_ascii_hexdigit()) {
            c.error(
                &s.span,
                &t.key_path("sha256"),
                "must be 64 hex digits (the SHA-256 of the .qcow2.xz file)",
            );
        }
    } else if !allow_unpinned && !t.has("sha256") {
        t.missing(
            c,
            "sha256",
            "the SHA-256 of haos_ova-<version>.qcow2.xz; HAOS publishes none, so pinning it is the only integrity check",
        );
    }
    let image = match t.string(c, "image") {
        None => ImageSource::Release,
        Some(i) if i.v.starts_with("https://") || i.v.starts_with("http://") => {
            ImageSource::Url(i.v)
        }
        Some(i) if i.v.starts_with('/') => ImageSource::Path(i.v),
        Some(i) => {
            c.error(
                &i.span,
                &t.key_path("image"),
                format!(
                    "\"{}\" must be an http(s):// URL or an absolute path on the host",
                    i.v
                ),
            );
            ImageSource::Release
        }
    };
    let default_storage = match installer.map(|i| i.filesystem.as_str()) {
        Some("zfs") => "local-zfs",
        Some("btrfs") => "local-btrfs",
        _ => "local-lvm",
    };
    let storage = match t.string(c, "storage") {
        Some(s) => {
            sp.haos_storage = Some(s.span.clone());
            let ok = !s.v.is_empty()
                && s.v.len() <= 64
                && s.v.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                && s.v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !ok {
                c.error(
                    &s.span,
                    &t.key_path("storage"),
                    format!("\"{}\" is not a Proxmox storage ID", s.v),
                );
            }
            s.v
        }
        None => default_storage.to_string(),
    };
    let default_bridge = network
        .and_then(|n| n.vm_bridge.as_ref())
        .map_or("vmbr0".to_string(), |b| b.name.clone());
    let bridge = match t.string(c, "bridge") {
        Some(b) => {
            sp.haos_bridge = Some(b.span.clone());
            b.v
        }
        None => default_bridge,
    };
    let ip = t.string(c, "ip").and_then(|s| {
        sp.haos_ip = Some(s.span.clone());
        s.v.parse::<Ipv4Addr>()
            .map_err(|_| {
                c.error(
                    &s.span,
                    &t.key_path("ip"),
                    format!("\"{}\" is not an IPv4 address", s.v),
                )
            })
            .ok()
    });
    let cores = t
        .int(c, "cores", 1..=128, "cores")
        .map_or(2, |v| v.v as u32);
    let memory = match t.int(c, "memory", 1024..=1_048_576, "memory (MiB)") {
        Some(m) => {
            if m.v < 2048 {
                c.warning(
                    &m.span,
                    &t.key_path("memory"),
                    "Home Assistant recommends at least 2048 MiB; add-ons may not start with less",
                );
            }
            m.v as u32
        }
        None => 4096,
    };
    let disk_size = match t.string(c, "disk-size") {
        Some(d) => {
            match parse_size_gib(&d.v) {
                Some(g) if g >= 32.0 => d.v,
                Some(_) => {
                    c.error(
                        &d.span,
                        &t.key_path("disk-size"),
                        format!(
                            "\"{}\" is smaller than the 32G HAOS image; disks can only grow",
                            d.v
                        ),
                    );
                    d.v
                }
                None => {
                    c.error(
                    &d.span,
                    &t.key_path("disk-size"),
                    format!("\"{}\" is not a size such as \"32G\" (a whole number with K, M, G or T)", d.v),
                );
                    d.v
                }
            }
        }
        None => "32G".to_string(),
    };
    let start = t.bool(c, "start").is_none_or(|b| b.v);
    Some(Haos {
        vmid,
        version: version?.v,
        sha256: sha.map(|s| s.v.to_ascii_lowercase()),
        image,
        allow_unpinned,
        storage,
        bridge,
        ip,
        cores,
        memory,
        disk_size,
        start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size_gib("32G"), Some(32.0));
        assert_eq!(parse_size_gib("1T"), Some(1024.0));
        assert_eq!(parse_size_gib("40960M"), Some(40.0));
        assert_eq!(parse_size_gib("32"), None);
        assert_eq!(parse_size_gib("G"), None);
        assert_eq!(parse_size_gib("3.5G"), None);
    }
}
