//! `[installer.*]`: Proxmox's own answer file, checked as its installer checks it.

use std::net::IpAddr;
use std::ops::Range;

use super::*;
use crate::answer::net::{self, Cidr};
use crate::answer::reader::{Checker, Sp, Tbl};

pub const KEYBOARDS: &[&str] = &[
    "de", "de-ch", "dk", "en-gb", "en-us", "es", "fi", "fr", "fr-be", "fr-ca", "fr-ch", "hu", "is",
    "it", "jp", "lt", "mk", "nl", "no", "pl", "pt", "pt-br", "se", "si", "tr",
];
const ZONES: &str = include_str!("../data/zones.txt");
const COUNTRIES: &str = include_str!("../data/countries.txt");

pub(super) fn read_installer(
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

pub(super) fn read_global(c: &mut Checker, g: &mut Tbl, sp: &mut Spans) -> Option<Installer> {
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
pub(super) fn read_fqdn(c: &mut Checker, g: &mut Tbl) -> Option<Option<String>> {
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
pub(super) fn check_ssh_key(k: &str) -> Result<(), String> {
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
pub(super) fn read_mgmt_network(
    c: &mut Checker,
    n: &mut Tbl,
    sp: &mut Spans,
) -> Result<Option<MgmtNet>, ()> {
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

pub(super) fn read_disk_setup(
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

pub(super) fn check_raid_disks(
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
