//! `[[storage]]`: storages for data and backups — NFS, SMB/CIFS, Proxmox Backup Server and
//! local data disks — added by the `storage` phase (`src/phases/storage.rs`); and the rule
//! that every storage `[haos]`, `[[vm]]` or `[backup]` names exists, in the answer or on
//! the fresh install, and holds what they put there.
//!
//! Types, options and formats are pve-storage's (`src/PVE/Storage/NFSPlugin.pm`,
//! `CIFSPlugin.pm`, `PBSPlugin.pm`, `DirPlugin.pm`, `LvmThinPlugin.pm`, `ZFSPoolPlugin.pm`:
//! `properties`, `options`, `plugindata`; the formats in `Plugin.pm`), the data-disk kinds
//! those of its disk API (`src/PVE/API2/Disks/{Directory,LVMThin,ZFS}.pm`).

use super::*;
use crate::answer::reader::{Checker, Sp, StorageUse, Tbl};

/// The types `[[storage]] type` takes: pve-storage's type names.
const TYPES: [&str; 6] = ["nfs", "cifs", "pbs", "dir", "lvmthin", "zfspool"];

/// The content types each type can hold, and its default (each plugin's `plugindata`:
/// `content => [{ allowed }, { default }]`).
fn content_of(kind: &str) -> (&'static [&'static str], &'static [&'static str]) {
    const FILES: &[&str] = &[
        "images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import",
    ];
    const DIR: &[&str] = &[
        "images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import", "none",
    ];
    const GUESTS: &[&str] = &["images", "rootdir"];
    match kind {
        // NFSPlugin.pm, CIFSPlugin.pm: default images.
        "nfs" | "cifs" => (FILES, &["images"]),
        // PBSPlugin.pm: backup (or none), default backup.
        "pbs" => (&["backup", "none"], &["backup"]),
        // DirPlugin.pm: default images and rootdir.
        "dir" => (DIR, GUESTS),
        // LvmThinPlugin.pm, ZFSPoolPlugin.pm: guest disks only.
        _ => (GUESTS, GUESTS),
    }
}

/// ZFS RAID levels of the disk API (`API2/Disks/ZFS.pm`, `raidlevel`; dRAID left out), and
/// the least number of disks each takes (its `$check_raid` rules).
const RAID: [(&str, usize); 6] = [
    ("single", 1),
    ("mirror", 2),
    ("raid10", 4),
    ("raidz", 3),
    ("raidz2", 4),
    ("raidz3", 5),
];

/// A storage ID (pve-common `PVE/JSONSchema.pm`, `parse_id` for `pve-storage-id`: at least
/// two characters, a letter first, then letters, digits, `-`, `_`, `.`, ending with a
/// letter or digit).
pub(super) fn storage_id_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

/// pve-storage `Plugin.pm` `verify_server` (`pve-storage-server`): an IP address or a DNS
/// name (pve-common `pve_verify_dns_name`: labels of letters, digits and inner hyphens).
fn server_ok(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
        || (!s.is_empty()
            && s.len() <= 253
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            }))
}

/// pve-storage `Plugin.pm` `verify_path` (`pve-storage-path`): absolute, without `;`, `(`
/// or `)`; ours also without white space or control characters (a mount point in fstab
/// syntax, a word on `pvesm`'s command line).
fn path_ok(s: &str) -> bool {
    s.starts_with('/')
        && s.len() > 1
        && !s
            .chars()
            .any(|c| ";()".contains(c) || c.is_whitespace() || c.is_control())
}

/// One word of printable text: mount options (`pve-storage-options`: `^\S+$`), a share,
/// a user or domain name.
fn word_ok(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| !c.is_whitespace() && !c.is_control())
}

/// A secret kept as one line of a file (a priv file, or pvesm's password prompt, which
/// reads one line): not empty, no control character or line separator, no space at either
/// end (it would not survive being read back).
pub(super) fn secret_line_ok(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|ch| ch.is_control() || ch == '\u{2028}' || ch == '\u{2029}')
        && s.trim() == s
}

/// What `validate` says about a secret [`secret_line_ok`] refuses.
pub(super) const SECRET_LINE: &str = "empty, with a control character or line separator, or with space at either end (the priv file's line would not hold it)";

/// A Proxmox Backup Server user (`user@realm`) or API token (`user@realm!name`): proxmox-rs
/// `pbs-api-types` `Userid`/`Authid` (names without white space, `:` or `/`; realm and
/// token name of letters, digits, `.`, `-`, `_`).
fn pbs_user_ok(s: &str) -> bool {
    let (user, token) = match s.split_once('!') {
        Some((u, t)) => (u, Some(t)),
        None => (s, None),
    };
    let name_ok = |t: &str| {
        !t.is_empty()
            && t.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    let Some((name, realm)) = user.rsplit_once('@') else {
        return false;
    };
    !name.is_empty()
        && name
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !":/@".contains(c))
        && name_ok(realm)
        && token.is_none_or(name_ok)
}

/// pve-common `fingerprint-sha256`: 32 hex bytes joined by `:`.
fn fingerprint_ok(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 32
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub(super) fn read_storages(
    c: &mut Checker,
    root: &mut Tbl,
    installer: Option<&Installer>,
) -> Vec<StorageDef> {
    let mut out: Vec<(StorageDef, Range<usize>)> = Vec::new();
    for mut t in root.tables(c, "storage") {
        let read = read_one(c, &mut t);
        let path = t.path.clone();
        let disks_at = if t.has("disks") {
            t.key_span("disks")
        } else {
            t.span.clone()
        };
        t.finish(c);
        let Some((def, at)) = read else { continue };
        if let Some(why) = taken_by_install(c, &def, installer) {
            // ZFS and btrfs installs take every disk the filter matches; ext4 and xfs the
            // first (pve-installer `proxmox-auto-installer/src/utils.rs`, as `probe --check`
            // decides it), which only the machine knows.
            let fs = installer.map_or("", |i| i.filesystem.as_str());
            if fs.starts_with("zfs") || fs.starts_with("btrfs") {
                c.error(&disks_at, &format!("{path}.disks"), why);
                continue;
            }
            c.warning(
                &disks_at,
                &format!("{path}.disks"),
                format!("{why}, if it is the first disk that matches (`pve-firstboot probe --check` says)"),
            );
        }
        if ["local", "local-lvm", "local-zfs", "local-btrfs"].contains(&def.id.as_str()) {
            // pve-installer `Proxmox/Install/StorageConfig.pm` names these itself.
            c.error(
                &at,
                &format!("{path}.id"),
                format!(
                    "\"{}\" is a storage the installer makes; choose another ID",
                    def.id
                ),
            );
            continue;
        }
        if out.iter().any(|(d, _)| d.id.eq_ignore_ascii_case(&def.id)) {
            // pve-storage keeps one section per ID (case-insensitively: `parse_id` IDs are
            // looked up as written, but two that differ in case would confuse every admin).
            c.error(
                &at,
                &format!("{path}.id"),
                format!("\"{}\" is defined twice", def.id),
            );
            continue;
        }
        if let Some((other, _)) = out.iter().find(|(d, _)| shares_disk(d, &def)) {
            c.error(
                &at,
                &format!("{path}.disks"),
                format!(
                    "a disk of storage \"{}\" is also one of \"{}\"'s",
                    def.id, other.id
                ),
            );
            continue;
        }
        out.push((def, at));
    }
    out.into_iter().map(|(d, _)| d).collect()
}

/// A data disk whose serial the installer's `filter.ID_SERIAL` glob matches: the install may
/// erase it. The by-id name is `<ID_BUS>-<ID_SERIAL>` (udev), and no bus name has a `-`.
fn taken_by_install(
    c: &Checker,
    def: &StorageDef,
    installer: Option<&Installer>,
) -> Option<String> {
    installer?;
    let glob = c.install_serial_glob.as_deref()?;
    let StorageKind::Disks { disks, .. } = &def.kind else {
        return None;
    };
    disks.iter().find_map(|d| {
        let serial = d.trim_start_matches("/dev/disk/by-id/").split_once('-')?.1;
        crate::probe::glob_matches(glob, serial).then(|| {
            format!(
                "{d}: the install's filter.ID_SERIAL = {glob:?} matches this disk, and the install \
                 erases the disks it takes"
            )
        })
    })
}

fn shares_disk(a: &StorageDef, b: &StorageDef) -> bool {
    match (&a.kind, &b.kind) {
        (StorageKind::Disks { disks: x, .. }, StorageKind::Disks { disks: y, .. }) => {
            x.iter().any(|d| y.contains(d))
        }
        _ => false,
    }
}

/// A string key checked by `ok`; `what` says what it must be.
fn checked(
    c: &mut Checker,
    t: &mut Tbl,
    all_ok: &mut bool,
    (key, required): (&'static str, Option<&str>),
    ok: fn(&str) -> bool,
    what: &str,
) -> Option<String> {
    let v = match required {
        Some(r) => t.req_string(c, key, r),
        None => t.string(c, key),
    };
    match v {
        Some(v) if ok(&v.v) => Some(v.v),
        Some(v) => {
            c.error(
                &v.span,
                &t.key_path(key),
                format!("{:?} is not {what}", v.v),
            );
            *all_ok = false;
            None
        }
        None => {
            *all_ok &= required.is_none();
            None
        }
    }
}

fn read_one(c: &mut Checker, t: &mut Tbl) -> Option<(StorageDef, Range<usize>)> {
    let id = t.req_string(c, "id", "the storage's ID in Proxmox, such as \"nas\"");
    let kind = t.req_string(
        c,
        "type",
        "nfs, cifs, pbs, or dir, lvmthin, zfspool on data disks",
    );
    let id = id.and_then(|i| {
        if storage_id_ok(&i.v) {
            Some(i)
        } else {
            c.error(
                &i.span,
                &t.key_path("id"),
                format!(
                    "\"{}\" is not a Proxmox storage ID (at least two characters: a letter, then \
                     letters, digits, -, _ or ., ending with a letter or digit)",
                    i.v
                ),
            );
            None
        }
    });
    let kind = kind.and_then(|k| match TYPES.iter().find(|x| **x == k.v) {
        Some(x) => Some(*x),
        None => {
            c.error(
                &k.span,
                &t.key_path("type"),
                format!(
                    "\"{}\" is not allowed; use one of: {}",
                    k.v,
                    TYPES.join(", ")
                ),
            );
            None
        }
    })?;
    let content = read_content(c, t, kind);
    let mut ok = true;
    const SERVER: &str = "a host name or IP address (pve-storage `pve-storage-server`)";
    const PATH: &str =
        "an absolute path without spaces, `;`, `(` or `)` (pve-storage `pve-storage-path`)";
    const WORD: &str = "one word without spaces or control characters";
    let storage_kind = match kind {
        "nfs" => {
            let server = checked(
                c,
                t,
                &mut ok,
                ("server", Some("the NFS server")),
                server_ok,
                SERVER,
            );
            let export = checked(
                c,
                t,
                &mut ok,
                (
                    "export",
                    Some("the exported directory, such as \"/volume1/proxmox\""),
                ),
                path_ok,
                PATH,
            );
            let path = checked(c, t, &mut ok, ("path", None), path_ok, PATH);
            let options = checked(c, t, &mut ok, ("options", None), word_ok, WORD);
            StorageKind::Nfs {
                server: server.unwrap_or_default(),
                export: export.unwrap_or_default(),
                path,
                options,
            }
        }
        "cifs" => {
            let server = checked(
                c,
                t,
                &mut ok,
                ("server", Some("the SMB server")),
                server_ok,
                SERVER,
            );
            let share = checked(
                c,
                t,
                &mut ok,
                ("share", Some("the share's name, such as \"proxmox\"")),
                |s| word_ok(s) && !s.contains(['/', '\\']),
                "a share name (one word, without / or \\)",
            );
            let path = checked(c, t, &mut ok, ("path", None), path_ok, PATH);
            let subdir = checked(c, t, &mut ok, ("subdir", None), path_ok, PATH);
            // CIFSPlugin.pm `domain`: at most 256 characters.
            let domain = checked(
                c,
                t,
                &mut ok,
                ("domain", None),
                |s| word_ok(s) && s.len() <= 256,
                "a domain (one word, at most 256 characters)",
            );
            let username = checked(c, t, &mut ok, ("username", None), word_ok, WORD);
            let password = t.string(c, "password");
            // CIFSPlugin.pm `smbversion`.
            let smbversion = t
                .one_of(
                    c,
                    "smbversion",
                    &["default", "2.0", "2.1", "3", "3.0", "3.11"],
                )
                .map(|s| s.v);
            let options = checked(c, t, &mut ok, ("options", None), word_ok, WORD);
            let password = secret(c, t, password, &mut ok);
            if let (Some(_), None) = (&password, &username) {
                // CIFSPlugin.pm `on_add_hook`: "ignoring password parameter, no user set".
                c.error(
                    &t.key_span("password"),
                    &t.key_path("password"),
                    "a password without a username: pve-storage ignores it; add `username`",
                );
                ok = false;
            }
            if let (Some(_), None) = (&username, &password) {
                c.error(
                    &t.key_span("username"),
                    &t.key_path("username"),
                    "a username without a password: the share could not be mounted; add \
                     `password`, or leave both out for a guest share",
                );
                ok = false;
            }
            StorageKind::Cifs {
                server: server.unwrap_or_default(),
                share: share.unwrap_or_default(),
                path,
                subdir,
                domain,
                username,
                password,
                smbversion,
                options,
            }
        }
        "pbs" => {
            let server = checked(
                c,
                t,
                &mut ok,
                ("server", Some("the Proxmox Backup Server")),
                server_ok,
                SERVER,
            );
            let datastore = checked(
                c,
                t,
                &mut ok,
                ("datastore", Some("the datastore's name on the server")),
                word_ok,
                WORD,
            );
            let username = checked(
                c,
                t,
                &mut ok,
                (
                    "username",
                    Some("a user such as \"backup@pbs\", or an API token \"backup@pbs!pve\""),
                ),
                pbs_user_ok,
                "a Proxmox Backup Server user (user@realm) or API token (user@realm!name)",
            );
            let password = t.req_string(
                c,
                "password",
                "the user's password or the API token's secret",
            );
            let password = secret(c, t, password, &mut ok);
            let fingerprint = checked(
                c,
                t,
                &mut ok,
                ("fingerprint", None),
                fingerprint_ok,
                "a SHA-256 fingerprint (32 hex bytes joined by `:`, as the server's dashboard shows it)",
            );
            let namespace = checked(c, t, &mut ok, ("namespace", None), word_ok, WORD);
            let port = t.int(c, "port", 1..=65535, "port").map(|p| p.v as u16);
            let key = t.string(c, "encryption-key");
            let encryption_key = key.and_then(|k| {
                // PBSPlugin.pm `on_add_hook`: the key must be JSON with a `data` member.
                let parsed = crate::json::parse(&k.v).ok();
                if parsed.as_ref().and_then(|j| j.get("data")).is_none() {
                    c.error(
                        &k.span,
                        &t.key_path("encryption-key"),
                        "not an encryption key: the JSON that `proxmox-backup-client key create \
                         --kdf none` writes (with a \"data\" member)",
                    );
                    ok = false;
                    return None;
                }
                Some(Secret::new(k.v.trim().to_string()))
            });
            if fingerprint.is_none() && ok {
                c.warning(
                    &t.span,
                    &t.key_path("fingerprint"),
                    "without a fingerprint the server's certificate must be trusted by the host \
                     (a self-signed one, as the server makes at installation, is refused)",
                );
            }
            StorageKind::Pbs {
                server: server.unwrap_or_default(),
                datastore: datastore.unwrap_or_default(),
                username: username.unwrap_or_default(),
                password: password.unwrap_or_else(|| {
                    ok = false;
                    Secret::new(String::new())
                }),
                fingerprint,
                namespace,
                port,
                encryption_key,
            }
        }
        disk_kind => read_disks(c, t, disk_kind, &mut ok),
    };
    let def = StorageDef {
        id: id.as_ref()?.v.clone(),
        content: content?,
        kind: storage_kind,
    };
    ok.then_some((def, id?.span))
}

fn secret(c: &mut Checker, t: &Tbl, v: Option<Sp<String>>, ok: &mut bool) -> Option<Secret> {
    let v = v?;
    if !secret_line_ok(&v.v) {
        c.error(&v.span, &t.key_path("password"), SECRET_LINE);
        *ok = false;
        return None;
    }
    Some(Secret::new(v.v))
}

fn read_content(c: &mut Checker, t: &mut Tbl, kind: &str) -> Option<Vec<String>> {
    let (allowed, default) = content_of(kind);
    let Some(list) = t.strings(c, "content") else {
        if t.has("content") {
            return None;
        }
        return Some(default.iter().map(|s| s.to_string()).collect());
    };
    let key = t.key_path("content");
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for (i, v) in list.iter().enumerate() {
        if !allowed.contains(&v.v.as_str()) {
            c.error(
                &v.span,
                &format!("{key}[{i}]"),
                format!(
                    "a {kind} storage cannot hold \"{}\" (pve-storage: {})",
                    v.v,
                    allowed.join(", ")
                ),
            );
            ok = false;
        } else if out.contains(&v.v) {
            c.error(
                &v.span,
                &format!("{key}[{i}]"),
                format!("\"{}\" is listed twice", v.v),
            );
            ok = false;
        } else {
            out.push(v.v.clone());
        }
    }
    if list.is_empty() {
        c.error(
            &t.key_span("content"),
            &key,
            "an empty list; leave it out for the default",
        );
        ok = false;
    }
    // pve-storage `Plugin.pm` `decode_value`: "unable to combine 'none' with other content
    // types".
    if out.len() > 1 && out.iter().any(|c| c == "none") {
        c.error(
            &t.key_span("content"),
            &key,
            "\"none\" cannot be combined with other content types",
        );
        ok = false;
    }
    ok.then_some(out)
}

fn read_disks(c: &mut Checker, t: &mut Tbl, kind: &str, ok: &mut bool) -> StorageKind {
    let key = t.key_path("disks");
    let disks = t.strings(c, "disks");
    if !t.has("disks") {
        t.missing(
            c,
            "disks",
            "the data disks by stable name, such as \"/dev/disk/by-id/ata-WDC_WD40EFRX_WD-1234\" (see `pve-firstboot probe`)",
        );
        *ok = false;
    }
    let mut out: Vec<String> = Vec::new();
    for (i, d) in disks.iter().flatten().enumerate() {
        let name = d.v.strip_prefix("/dev/disk/by-id/").unwrap_or("");
        // A by-id name: udev's link names are one path component of printable ASCII.
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_graphic() && c != '/') {
            c.error(
                &d.span,
                &format!("{key}[{i}]"),
                format!(
                    "{:?} is not a stable disk name: use its /dev/disk/by-id/... path, as \
                     `pve-firstboot probe` shows it (sdX names change between boots)",
                    d.v
                ),
            );
            *ok = false;
        } else if name.contains("-part") {
            c.error(
                &d.span,
                &format!("{key}[{i}]"),
                "a partition: name the whole disk, which the storage takes",
            );
            *ok = false;
        } else if out.contains(&d.v) {
            c.error(&d.span, &format!("{key}[{i}]"), "listed twice");
            *ok = false;
        } else {
            out.push(d.v.clone());
        }
    }
    let n = disks.as_ref().map_or(0, Vec::len);
    if disks.is_some() && n == 0 {
        c.error(&t.key_span("disks"), &key, "an empty list names no disk");
        *ok = false;
    }
    let wipe = t.bool(c, "wipe").is_some_and(|w| w.v);
    let raid = if kind == "zfspool" {
        let names: Vec<&'static str> = RAID.iter().map(|(r, _)| *r).collect();
        let r = t.one_of(c, "raid", &names);
        let r = match r {
            Some(r) => Some(r),
            None if t.has("raid") => {
                *ok = false;
                None
            }
            None => Some(Sp {
                v: if n == 1 { "single" } else { "mirror" },
                span: t.span.clone(),
            }),
        };
        if let Some(r) = &r {
            let least = RAID.iter().find(|(x, _)| *x == r.v).map_or(1, |(_, l)| *l);
            let fits = match r.v {
                "single" => n == 1,
                "raid10" => n >= least && n % 2 == 0,
                _ => n >= least,
            };
            if n > 0 && !fits {
                c.error(
                    &r.span,
                    &t.key_path("raid"),
                    format!(
                        "{} takes {} disks, and {n} are listed",
                        r.v,
                        match r.v {
                            "single" => "exactly 1".to_string(),
                            "raid10" => format!("an even number of at least {least}"),
                            _ => format!("at least {least}"),
                        }
                    ),
                );
                *ok = false;
            }
        }
        r.map(|r| r.v)
    } else {
        if n > 1 {
            c.error(
                &t.key_span("disks"),
                &key,
                format!("a {kind} storage takes one disk (ZFS pools take several)"),
            );
            *ok = false;
        }
        None
    };
    StorageKind::Disks {
        kind: match kind {
            "dir" => DiskKind::Dir,
            "lvmthin" => DiskKind::LvmThin,
            _ => DiskKind::ZfsPool,
        },
        disks: out,
        wipe,
        raid,
    }
}

/// The storages a fresh install of `filesystem` has, with their content (pve-installer
/// `Proxmox/Install/StorageConfig.pm`): `local` (a directory; disabled on btrfs) and the
/// storage for guests — `local-lvm` (ext4/xfs with a thin pool), `local-zfs`, `local-btrfs`.
fn installer_storage(filesystem: &str, id: &str) -> Option<&'static [&'static str]> {
    let zfs = filesystem.starts_with("zfs");
    let btrfs = filesystem.starts_with("btrfs");
    match id {
        // `local` on a btrfs install is disabled: it holds nothing usable.
        "local" if btrfs => Some(&[]),
        // ext4/xfs: images only where no thin pool was made (judged on the host).
        "local" => Some(&["iso", "vztmpl", "backup", "import", "images"]),
        "local-lvm" if !zfs && !btrfs => Some(&["images", "rootdir"]),
        "local-zfs" if zfs => Some(&["images", "rootdir"]),
        "local-btrfs" if btrfs => Some(&[
            "images", "rootdir", "iso", "vztmpl", "backup", "snippets", "import",
        ]),
        _ => None,
    }
}

/// Every storage `[haos]`, `[[vm]]` and `[backup]` name: one of the answer's `[[storage]]`
/// holding that content, or one the fresh install has and that can hold it. On the copy
/// installed on the host an unknown name is a warning only: the admin may have added that
/// storage since, and the phase checks `/etc/pve/storage.cfg` before it writes anything.
pub(super) fn check_uses(
    c: &mut Checker,
    uses: &[StorageUse],
    storages: &[StorageDef],
    installer: Option<&Installer>,
    host_config: bool,
) {
    for u in uses {
        if let Some(d) = storages.iter().find(|d| d.id == u.id) {
            // `[backup] host-config` writes its archives into the storage's directory
            // (src/hostarchive.rs): a storage of files, which pbs, lvmthin and zfspool are not.
            let files = matches!(d.type_name(), "nfs" | "cifs" | "dir");
            if u.key == "backup.storage" && host_config && !files {
                c.error(
                    &u.span,
                    &u.key,
                    format!(
                        "with host-config = true the host's archive is written into the storage's \
                         directory, and the {} storage \"{}\" has none; use an nfs, cifs or dir \
                         storage, or \"local\"",
                        d.type_name(),
                        d.id
                    ),
                );
            }
            if !d.holds(u.content) {
                c.error(
                    &u.span,
                    &u.key,
                    format!(
                        "the [[storage]] \"{}\" ({}) holds {}, not {}; add \"{}\" to its `content`{}",
                        d.id,
                        d.type_name(),
                        d.content.join(", "),
                        u.content,
                        u.content,
                        if content_of(d.type_name()).0.contains(&u.content) {
                            String::new()
                        } else {
                            format!(
                                " — a {} storage cannot hold it (pve-storage), use another",
                                d.type_name()
                            )
                        }
                    ),
                );
            }
            continue;
        }
        let Some(fs) = installer.map(|i| i.filesystem.as_str()) else {
            continue;
        };
        match installer_storage(fs, &u.id) {
            Some(content) if content.contains(&u.content) => {}
            Some(_) => c.error(
                &u.span,
                &u.key,
                format!(
                    "\"{}\" of a {fs} install holds no {}{}; name a [[storage]] that does",
                    u.id,
                    u.content,
                    if fs.starts_with("btrfs") && u.id == "local" {
                        " (the installer disables it)"
                    } else {
                        ""
                    }
                ),
            ),
            None => {
                let msg = format!(
                    "no storage \"{}\": a fresh {fs} install has {}, and the answer's [[storage]] {}",
                    u.id,
                    fresh_names(fs),
                    if storages.is_empty() {
                        "tables define none".to_string()
                    } else {
                        format!(
                            "tables define {}",
                            storages
                                .iter()
                                .map(|d| format!("\"{}\"", d.id))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                );
                if c.installed {
                    c.warning(
                        &u.span,
                        &u.key,
                        format!("{msg}; the phase checks the host's /etc/pve/storage.cfg"),
                    );
                } else {
                    c.error(&u.span, &u.key, msg);
                }
            }
        }
    }
}

fn fresh_names(fs: &str) -> &'static str {
    if fs.starts_with("zfs") {
        "\"local\" and \"local-zfs\""
    } else if fs.starts_with("btrfs") {
        "\"local-btrfs\" (\"local\" disabled)"
    } else {
        "\"local\" and \"local-lvm\""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_as_pve_common_parses_them() {
        for ok in ["nas", "pbs-1", "a.b_c", "ab"] {
            assert!(storage_id_ok(ok), "{ok}");
        }
        for bad in ["a", "1nas", "nas-", "na s", "", "nas/x"] {
            assert!(!storage_id_ok(bad), "{bad}");
        }
    }

    #[test]
    fn pbs_users_and_tokens() {
        for ok in ["backup@pbs", "root@pam", "backup@pbs!pve-1"] {
            assert!(pbs_user_ok(ok), "{ok}");
        }
        for bad in [
            "backup",
            "@pbs",
            "backup@",
            "back up@pbs",
            "backup@pbs!",
            "a/b@pbs",
        ] {
            assert!(!pbs_user_ok(bad), "{bad}");
        }
    }

    #[test]
    fn servers_paths_fingerprints() {
        assert!(server_ok("192.168.1.10") && server_ok("nas.home.arpa") && server_ok("::1"));
        assert!(!server_ok("nas_1") && !server_ok("-nas") && !server_ok(""));
        assert!(path_ok("/volume1/pve") && !path_ok("volume1") && !path_ok("/a;b"));
        assert!(!path_ok("/a b") && !path_ok("/"));
        let fp = vec!["AB"; 32].join(":");
        assert!(fingerprint_ok(&fp) && !fingerprint_ok(&fp[3..]));
    }
}
