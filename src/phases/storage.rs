//! The `storage` phase: the answer's `[[storage]]` tables made into storages of
//! `/etc/pve/storage.cfg`, as the web UI makes them.
//!
//! - NFS, SMB/CIFS and Proxmox Backup Server: `pvesm add TYPE ID --key value ...` (pve-storage
//!   `src/PVE/API2/Storage/Config.pm` `create`, the method behind Datacenter → Storage → Add),
//!   and `pvesm set ID ...` (`update`) to bring a changed answer to the host. pve-storage
//!   `create` activates an enabled storage before it writes the configuration (mounts the
//!   share, asks the backup server), so a NAS that does not answer makes `pvesm add` fail: the
//!   storage is then added with `--disable 1` (no activation), the phase fails naming it and
//!   pvesm's reason, and the next run (`reset` + `run`) removes and adds it again, which tries
//!   the server again.
//! - Secrets never on a command line: `--password` is given without a value, and pvesm reads
//!   it from stdin (pve-storage `src/PVE/CLI/pvesm.pm` `param_mapping`: the password is an
//!   interactive parameter; pve-common `PVE/JSONSchema.pm` `get_options` then calls
//!   `PVE::PTY::read_password`, which reads one line when stdin is not a terminal). The
//!   plugin's `on_add_hook`/`on_update_hook` keep it where pve-storage reads it:
//!   `/etc/pve/priv/storage/<ID>.pw`, as `password=<pw>` for CIFS (`CIFSPlugin.pm`
//!   `cifs_set_credentials`, read by `cifs_mount` as mount.cifs' credentials file) and as the
//!   bare line for PBS (`PBSPlugin.pm` `pbs_set_password`, read by `pbs_get_password`). A PBS
//!   encryption key goes into `/etc/pve/priv/storage/<ID>.enc` first and pvesm is given that
//!   path (its `encryption-key` parameter takes a file: `param_mapping`), from which
//!   `pbs_set_encryption_key` writes it back in place. Writing the files ourselves and leaving
//!   the password out would not do: `on_add_hook` deletes them when none is given
//!   (`cifs_delete_credentials`, `pbs_delete_password`). After pvesm the agent writes each
//!   file as the plugin does (0600, as pmxcfs shows `priv/`), which changes nothing on a live
//!   host and lets a second run see that the secret is already there.
//! - Data disks: Proxmox's disk API, as Node → Disks → Directory / LVM-Thin / ZFS does it
//!   (`pvesh create /nodes/NODE/disks/{directory,lvmthin,zfs} ... --add_storage 1`:
//!   pve-storage `src/PVE/API2/Disks/{Directory,LVMThin,ZFS}.pm`), after the disk is found by
//!   its stable name and checked: never one that is mounted, held (LVM, device mapper, md) or
//!   part of an imported ZFS pool — the installer's disks are all of these — and one that
//!   holds data (a partition table, a file system signature) only with `wipe = true`, wiped by
//!   `pvesh set /nodes/NODE/disks/wipedisk` (`API2/Disks.pm` `wipe_disk`, which itself
//!   refuses a mounted or held disk). The disk API refuses a used disk too
//!   (`PVE::Diskmanage::assert_disk_unused`).
//!
//! What the phase applied is noted in the state (the options, never a secret), so that under
//! `--root`, where pvesm and pvesh are only recorded and storage.cfg does not change, a second
//! run changes nothing, as on a host.

use crate::answer::{DiskKind, StorageDef, StorageKind};
use crate::error::{Error, Result};
use crate::host::{Cmd, Host};
use crate::phases::{Cx, Phase};
use crate::storage::{self, STORAGE_CFG};

pub const PRIV_DIR: &str = "/etc/pve/priv/storage";
/// What pmxcfs shows for every file under `priv/`.
const PRIV_MODE: u32 = 0o600;

pub struct StoragePhase;

impl Phase for StoragePhase {
    fn id(&self) -> &'static str {
        "storage"
    }

    fn not_configured(&self, a: &crate::answer::Answer) -> Option<String> {
        a.storages
            .is_empty()
            .then(|| "no [[storage]] tables in the answer".into())
    }

    fn apply(&self, cx: &mut Cx) -> Result<()> {
        crate::phases::hardening::wait_for_pmxcfs(cx, "storages are added")?;
        let have = storage::read(cx.host)?;
        let mut failed = Vec::new();
        for def in cx.answer.storages.clone() {
            if let Err(e) = one(cx, &def, &have) {
                failed.push(format!("storage {}: {e}", def.id));
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::msg(failed.join("; ")))
        }
    }

    fn verify(&self, cx: &mut Cx) -> Result<()> {
        if !cx.host.is_live() {
            cx.results
                .push("storages: not checked (not a live host)".to_string());
            return Ok(());
        }
        let have = storage::read(cx.host)?;
        let mut bad = Vec::new();
        for def in &cx.answer.storages {
            match have.iter().find(|s| s.id == def.id) {
                Some(s) if !s.disabled => cx.results.push(format!(
                    "storage {} ({}) in {STORAGE_CFG}, enabled",
                    def.id,
                    def.type_name()
                )),
                Some(_) => bad.push(format!(
                    "storage {} is disabled (it did not answer)",
                    def.id
                )),
                None => bad.push(format!("storage {} is not in {STORAGE_CFG}", def.id)),
            }
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(Error::msg(bad.join("; ")))
        }
    }
}

/// The host's storages as the phases after this one see them: storage.cfg, and under
/// `--root` (where pvesm and pvesh are only recorded) also each `[[storage]]` this phase
/// noted as made, as pve-storage would have it (the answer's content; the mount point of a
/// file storage). On a host storage.cfg alone is the truth.
pub fn seen(cx: &Cx) -> Result<Vec<storage::Storage>> {
    let mut all = storage::read(cx.host)?;
    if cx.host.is_live() {
        return Ok(all);
    }
    for def in &cx.answer.storages {
        if all.iter().any(|s| s.id == def.id) || cx.recall_of("storage", &note(&def.id)).is_none() {
            continue;
        }
        let path = match &def.kind {
            StorageKind::Nfs { path, .. } | StorageKind::Cifs { path, .. } => Some(
                path.clone()
                    .unwrap_or_else(|| format!("/mnt/pve/{}", def.id)),
            ),
            StorageKind::Disks {
                kind: DiskKind::Dir,
                ..
            } => Some(format!("/mnt/pve/{}", def.id)),
            _ => None,
        };
        all.push(storage::Storage {
            id: def.id.clone(),
            kind: def.type_name().to_string(),
            content: def.content.clone(),
            disabled: false,
            path,
            opts: Vec::new(),
        });
    }
    Ok(all)
}

/// The state's note of what was applied to a storage.
fn note(id: &str) -> String {
    format!("applied:{id}")
}

/// The storages this phase added disabled because their server did not answer, one ID per
/// line. A file beside the state rather than a note in it: `reset` forgets the state (as it
/// keeps the host phase's `upgraded`, it keeps this), and `reset` + `run` is what the summary
/// tells the admin to do once the server answers; a disabled storage not listed here is an
/// admin's choice and stays as it is.
pub const ADDED_DISABLED: &str = "/var/lib/pve-firstboot/storages-added-disabled";

fn added_disabled(cx: &Cx) -> Result<Vec<String>> {
    Ok(cx
        .read(ADDED_DISABLED)?
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

fn note_added_disabled(cx: &mut Cx, id: &str, disabled: bool) -> Result<()> {
    let mut ids = added_disabled(cx)?;
    let had = ids.iter().any(|i| i == id);
    if had == disabled {
        return Ok(());
    }
    ids.retain(|i| i != id);
    if disabled {
        ids.push(id.to_string());
    }
    if ids.is_empty() {
        cx.host.remove(ADDED_DISABLED)?;
    } else {
        let text: String = ids.iter().map(|i| format!("{i}\n")).collect();
        cx.host.write(ADDED_DISABLED, text.as_bytes(), 0o644)?;
    }
    Ok(())
}

/// Options of pve-storage's `options` that are `fixed`: set when the storage is added, never
/// changed by `update` (NFSPlugin.pm, CIFSPlugin.pm, PBSPlugin.pm `options`).
fn fixed(kind: &str) -> &'static [&'static str] {
    match kind {
        "nfs" => &["server", "export", "path"],
        "cifs" => &["server", "share", "path"],
        "pbs" => &["server", "datastore"],
        _ => &[],
    }
}

/// Optional options the answer may leave out again: then `pvesm set --delete` them.
fn optional(kind: &str) -> &'static [&'static str] {
    match kind {
        "nfs" => &["options"],
        "cifs" => &["subdir", "domain", "username", "smbversion", "options"],
        "pbs" => &["fingerprint", "namespace", "port"],
        _ => &[],
    }
}

/// The storage's options as storage.cfg holds them (no secrets), in pvesm's argument order.
/// `path` is pve-storage's default where the answer has none (`check_config` of NFSPlugin.pm
/// and CIFSPlugin.pm: `/mnt/pve/<ID>`), so that it compares with the file.
fn wanted(def: &StorageDef) -> Vec<(&'static str, String)> {
    let mut v: Vec<(&'static str, String)> = Vec::new();
    let mut opt = |k: &'static str, x: &Option<String>| {
        if let Some(x) = x {
            v.push((k, x.clone()));
        }
    };
    let default_path = || Some(format!("/mnt/pve/{}", def.id));
    match &def.kind {
        StorageKind::Nfs {
            server,
            export,
            path,
            options,
        } => {
            opt("server", &Some(server.clone()));
            opt("export", &Some(export.clone()));
            opt("path", &path.clone().or_else(default_path));
            opt("options", options);
        }
        StorageKind::Cifs {
            server,
            share,
            path,
            subdir,
            domain,
            username,
            smbversion,
            options,
            ..
        } => {
            opt("server", &Some(server.clone()));
            opt("share", &Some(share.clone()));
            opt("path", &path.clone().or_else(default_path));
            opt("subdir", subdir);
            opt("domain", domain);
            opt("username", username);
            opt("smbversion", &smbversion.map(String::from));
            opt("options", options);
        }
        StorageKind::Pbs {
            server,
            datastore,
            username,
            fingerprint,
            namespace,
            port,
            ..
        } => {
            opt("server", &Some(server.clone()));
            opt("datastore", &Some(datastore.clone()));
            opt("username", &Some(username.clone()));
            opt("fingerprint", fingerprint);
            opt("namespace", namespace);
            opt("port", &port.map(|p| p.to_string()));
        }
        StorageKind::Disks { .. } => {}
    }
    v.push(("content", def.content.join(",")));
    v
}

/// A secret file of `priv/storage/`, with the content pve-storage writes into it.
struct PrivFile {
    path: String,
    content: String,
}

/// The password file the storage's plugin keeps, if the answer has a password.
fn password_file(def: &StorageDef) -> Option<PrivFile> {
    let (content, _) = match &def.kind {
        // CIFSPlugin.pm `cifs_set_credentials`: "password=$password\n".
        StorageKind::Cifs {
            password: Some(p), ..
        } => (format!("password={}\n", p.expose()), ()),
        // PBSPlugin.pm `pbs_set_password`: "$password\n".
        StorageKind::Pbs { password, .. } => (format!("{}\n", password.expose()), ()),
        _ => return None,
    };
    Some(PrivFile {
        path: format!("{PRIV_DIR}/{}.pw", def.id),
        content,
    })
}

/// The PBS encryption key's file (PBSPlugin.pm `pbs_encryption_key_file_name`).
fn key_file(def: &StorageDef) -> Option<PrivFile> {
    match &def.kind {
        StorageKind::Pbs {
            encryption_key: Some(k),
            ..
        } => Some(PrivFile {
            path: format!("{PRIV_DIR}/{}.enc", def.id),
            content: k.expose().trim().to_string(),
        }),
        _ => None,
    }
}

/// The password, one line on pvesm's stdin (see the module's comment).
fn password_stdin(def: &StorageDef) -> Option<Vec<u8>> {
    match &def.kind {
        StorageKind::Cifs {
            password: Some(p), ..
        } => Some(format!("{}\n", p.expose()).into_bytes()),
        StorageKind::Pbs { password, .. } => Some(format!("{}\n", password.expose()).into_bytes()),
        _ => None,
    }
}

/// Whether a secret file already holds what pve-storage would write (trimmed for the key:
/// pvesm adds a line break to the file it was given).
fn holds(cx: &Cx, f: &PrivFile) -> Result<bool> {
    Ok(cx
        .read(&f.path)?
        .is_some_and(|c| c == f.content || c.trim() == f.content.trim()))
}

fn one(cx: &mut Cx, def: &StorageDef, have: &[storage::Storage]) -> Result<()> {
    let kind = def.type_name();
    let on_host = have.iter().find(|s| s.id == def.id);
    if let Some(s) = on_host.filter(|s| s.kind != kind) {
        return Err(Error::msg(format!(
            "{STORAGE_CFG} already has a {} storage \"{}\", and the answer's is {kind}: the \
             agent leaves it alone; choose another id, or remove that storage",
            s.kind, s.id
        )));
    }
    // Under --root the file does not change (pvesm is recorded): what the phase applied last
    // stands for it. On a host, the file is the truth.
    let noted = (!cx.host.is_live())
        .then(|| cx.recall(&note(&def.id)).map(parse_note))
        .flatten();
    let current: Option<Vec<(String, String)>> = noted.or_else(|| on_host.map(|s| s.opts.clone()));
    if let StorageKind::Disks { .. } = def.kind {
        return disks(cx, def, current);
    }
    let disabled_by_us =
        on_host.is_some_and(|s| s.disabled) && added_disabled(cx)?.contains(&def.id);
    match current {
        None => add(cx, def),
        Some(_) if disabled_by_us => {
            // Added disabled when it did not answer: remove and add it again, which tries
            // the server again (pve-storage `create` activates it).
            cx.run(Cmd::new("pvesm").args(["remove", &def.id]))?;
            add(cx, def)
        }
        Some(cur) => update(cx, def, &cur),
    }
}

fn add(cx: &mut Cx, def: &StorageDef) -> Result<()> {
    let kind = def.type_name();
    let mut cmd = Cmd::new("pvesm").args(["add", kind, &def.id]);
    for (k, v) in wanted(def) {
        // `path` only as the answer gives it: pve-storage fills in its default.
        if k == "path" && v == format!("/mnt/pve/{}", def.id) {
            continue;
        }
        cmd = cmd.arg(format!("--{k}")).arg(v);
    }
    if let Some(k) = key_file(def) {
        cx.write(&k.path, &k.content, PRIV_MODE)?;
        cmd = cmd.args(["--encryption-key", &k.path]);
    }
    if let Some(pw) = password_stdin(def) {
        cmd = cmd.arg("--password").stdin(pw);
    }
    let out = cx.host.run(&cmd)?;
    if !out.success() {
        let why = out
            .stderr
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("no message")
            .to_string();
        // Kept, disabled: the web UI shows it, the backup job can name it, and the next
        // run tries again. The failed `create` ran the plugin's `on_delete_hook`, which
        // removes the key file pvesm is to read again (PBSPlugin.pm).
        if let Some(k) = key_file(def) {
            cx.write(&k.path, &k.content, PRIV_MODE)?;
        }
        let disabled = cmd.arg("--disable").arg("1");
        cx.run(disabled)?;
        note_added_disabled(cx, &def.id, true)?;
        secrets_written(cx, def)?;
        cx.changes.push(format!(
            "added {kind} storage {} disabled: it did not answer",
            def.id
        ));
        return Err(Error::msg(format!(
            "`pvesm add {kind} {}` failed: {why}; added disabled, and the backup job that \
             names it stays disabled: when the server answers, run `pve-firstboot reset && \
             pve-firstboot run` (or enable it under Datacenter → Storage)",
            def.id
        )));
    }
    note_added_disabled(cx, &def.id, false)?;
    secrets_written(cx, def)?;
    cx.changes
        .push(format!("added {kind} storage {} (pvesm add)", def.id));
    cx.remember(&note(&def.id), &render_note(&wanted(def)))
}

/// The secret files as pve-storage's hooks write them, 0600 (see the module's comment); a
/// key file already holding the key keeps its text (pvesm added a line break) and gets the
/// mode only.
fn secrets_written(cx: &mut Cx, def: &StorageDef) -> Result<()> {
    if let Some(f) = password_file(def) {
        cx.write(&f.path, &f.content, PRIV_MODE)?;
    }
    if let Some(k) = key_file(def) {
        if let Some(now) = cx.read(&k.path)?.filter(|c| c.trim() == k.content) {
            cx.write(&k.path, &now, PRIV_MODE)?;
        }
    }
    Ok(())
}

fn update(cx: &mut Cx, def: &StorageDef, cur: &[(String, String)]) -> Result<()> {
    let kind = def.type_name();
    let get = |k: &str| cur.iter().find(|(c, _)| c == k).map(|(_, v)| v.as_str());
    let want = wanted(def);
    let mut set: Vec<(&str, String)> = Vec::new();
    for (k, v) in &want {
        let same = match *k {
            // A list: the order is not the meaning.
            "content" => get(k).is_some_and(|c| {
                let mut a: Vec<&str> = c.split(',').map(str::trim).collect();
                let mut b: Vec<&str> = v.split(',').collect();
                a.sort_unstable();
                b.sort_unstable();
                a == b
            }),
            _ => get(k) == Some(v.as_str()),
        };
        if same {
            continue;
        }
        if fixed(kind).contains(k) {
            return Err(Error::msg(format!(
                "its {k} is {:?} in {STORAGE_CFG} and {v:?} in the answer, and pve-storage \
                 cannot change a {kind} storage's {k}: remove the storage (`pvesm remove {}`) \
                 and run again, or change the answer back",
                get(k).unwrap_or(""),
                def.id
            )));
        }
        set.push((k, v.clone()));
    }
    let delete: Vec<&str> = optional(kind)
        .iter()
        .copied()
        .filter(|k| get(k).is_some() && !want.iter().any(|(w, _)| w == k))
        .collect();
    let mut cmd = Cmd::new("pvesm").args(["set", &def.id]);
    for (k, v) in &set {
        cmd = cmd.arg(format!("--{k}")).arg(v.clone());
    }
    if !delete.is_empty() {
        cmd = cmd.args(["--delete", &delete.join(",")]);
    }
    let mut what: Vec<String> = set.iter().map(|(k, _)| k.to_string()).collect();
    what.extend(delete.iter().map(|k| format!("{k} removed")));
    if let Some(k) = key_file(def) {
        if !holds(cx, &k)? {
            cx.write(&k.path, &k.content, PRIV_MODE)?;
            cmd = cmd.args(["--encryption-key", &k.path]);
            what.push("encryption key".into());
        }
    }
    if let Some(f) = password_file(def) {
        if !holds(cx, &f)? {
            cmd = cmd
                .arg("--password")
                .stdin(password_stdin(def).unwrap_or_default());
            what.push("password".into());
        }
    }
    if what.is_empty() {
        return secrets_written(cx, def);
    }
    cx.run(cmd)?;
    secrets_written(cx, def)?;
    cx.changes.push(format!(
        "updated {kind} storage {} (pvesm set: {})",
        def.id,
        what.join(", ")
    ));
    cx.remember(&note(&def.id), &render_note(&want))
}

fn render_note(opts: &[(&str, String)]) -> String {
    opts.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\t")
}

fn parse_note(s: &str) -> Vec<(String, String)> {
    s.split('\t')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A data disk the answer names, as the host has it.
pub(crate) struct FoundDisk {
    /// `/dev/disk/by-id/...`, as the answer names it.
    pub by_id: String,
    /// The kernel's name for this boot (`sdb`, `nvme1n1`).
    pub name: String,
    /// What is on it, when it holds data: a partition table, a file system, partitions.
    pub data: Vec<String>,
    /// Why it may never be taken: mounted, held, in an imported ZFS pool.
    pub in_use: Vec<String>,
}

/// The disk behind a by-id name: the link udev made under `/dev/disk/by-id` where there is
/// one, else the disk whose udev properties give that name (udev's
/// `60-persistent-storage.rules`: `disk/by-id/$env{ID_BUS}-$env{ID_SERIAL}`), which is what
/// a tree of `/sys` and `/run/udev/data` has.
pub(crate) fn find_disk(host: &Host, by_id: &str) -> Result<Option<FoundDisk>> {
    let want = by_id.trim_start_matches("/dev/disk/by-id/");
    let mut name = host
        .read_link(by_id)?
        .and_then(|l| l.rsplit('/').next().map(str::to_string));
    if name.is_none() {
        for n in host.list_dir("/sys/block")? {
            let props: std::collections::BTreeMap<String, String> =
                udev_of(host, &n)?.into_iter().collect();
            if crate::probe::by_id(&props).as_deref() == Some(want) {
                name = Some(n);
                break;
            }
        }
    }
    let Some(name) = name else { return Ok(None) };
    let props = udev_of(host, &name)?;
    let p = |k: &str| props.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let mut data = Vec::new();
    let mut in_use = Vec::new();
    if let Some(t) = p("ID_PART_TABLE_TYPE") {
        data.push(format!("a {t} partition table"));
    }
    if let Some(t) = p("ID_FS_TYPE") {
        data.push(format!("a {t} signature"));
    }
    let parts: Vec<String> = host
        .list_dir(&format!("/sys/block/{name}"))?
        .into_iter()
        .filter(|e| e.starts_with(&name) && e != &name)
        .collect();
    let mounts = host.read_text("/proc/mounts")?.unwrap_or_default();
    for dev in std::iter::once(&name).chain(&parts) {
        if mounts
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&format!("/dev/{dev}")))
        {
            in_use.push(format!("/dev/{dev} is mounted"));
        }
        let holders_dir = if dev == &name {
            format!("/sys/block/{name}/holders")
        } else {
            format!("/sys/block/{name}/{dev}/holders")
        };
        let holders = host.list_dir(&holders_dir)?;
        if !holders.is_empty() {
            in_use.push(format!(
                "/dev/{dev} is held by {} (LVM, device mapper or md)",
                holders.join(", ")
            ));
        }
        let pprops = if dev == &name {
            props.clone()
        } else {
            udev_of_part(host, &name, dev)?
        };
        let fs = pprops
            .iter()
            .find(|(k, _)| k == "ID_FS_TYPE")
            .map(|(_, v)| v.as_str());
        if dev != &name {
            data.push(match fs {
                Some(t) => format!("partition {dev} ({t})"),
                None => format!("partition {dev}"),
            });
        }
        let label = pprops
            .iter()
            .find(|(k, _)| k == "ID_FS_LABEL")
            .map(|(_, v)| v.as_str());
        if let (Some("zfs_member"), Some(pool)) = (fs, label) {
            if host.exists(&format!("/proc/spl/kstat/zfs/{pool}")) {
                in_use.push(format!(
                    "/dev/{dev} belongs to the imported ZFS pool {pool}"
                ));
            }
        }
    }
    Ok(Some(FoundDisk {
        by_id: by_id.to_string(),
        name,
        data,
        in_use,
    }))
}

fn udev_of(host: &Host, name: &str) -> Result<Vec<(String, String)>> {
    let dev = host
        .read_text(&format!("/sys/block/{name}/dev"))?
        .unwrap_or_default();
    udev_props(host, dev.trim())
}

fn udev_of_part(host: &Host, disk: &str, part: &str) -> Result<Vec<(String, String)>> {
    let dev = host
        .read_text(&format!("/sys/block/{disk}/{part}/dev"))?
        .unwrap_or_default();
    udev_props(host, dev.trim())
}

fn udev_props(host: &Host, majmin: &str) -> Result<Vec<(String, String)>> {
    if majmin.is_empty() {
        return Ok(Vec::new());
    }
    Ok(crate::probe::udev_props(host, &format!("b{majmin}"))?
        .into_iter()
        .collect())
}

/// The content the disk API's `add_storage` gives a new storage (`Directory.pm`,
/// `LVMThin.pm`, `ZFS.pm`).
fn api_content(kind: DiskKind) -> &'static str {
    match kind {
        DiskKind::Dir => "rootdir,images,iso,backup,vztmpl,snippets",
        DiskKind::LvmThin | DiskKind::ZfsPool => "rootdir,images",
    }
}

fn disks(cx: &mut Cx, def: &StorageDef, current: Option<Vec<(String, String)>>) -> Result<()> {
    let StorageKind::Disks {
        kind,
        disks,
        wipe,
        raid,
    } = &def.kind
    else {
        return Ok(());
    };
    let content = def.content.join(",");
    if let Some(cur) = current {
        // Made already: only the content can follow the answer (the pool, volume group and
        // mount point are the storage's fixed options).
        let now = cur
            .iter()
            .find(|(k, _)| k == "content")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| api_content(*kind).to_string());
        return set_content(cx, def, &now, &content);
    }
    let node = crate::phases::hardening::node_name(cx, "the node for Proxmox's disk API")?;
    let mut found = Vec::new();
    let mut refused = Vec::new();
    for d in disks {
        match find_disk(cx.host, d)? {
            None => refused.push(format!("{d}: no such disk (see `pve-firstboot probe`)")),
            Some(f) if !f.in_use.is_empty() => refused.push(format!(
                "{d} (/dev/{}) is in use and never taken: {}",
                f.name,
                f.in_use.join("; ")
            )),
            Some(f) if !f.data.is_empty() && !wipe => refused.push(format!(
                "{d} (/dev/{}) holds data ({}); `wipe = true` erases it",
                f.name,
                f.data.join(", ")
            )),
            Some(f) => found.push(f),
        }
    }
    if !refused.is_empty() {
        return Err(Error::msg(format!(
            "nothing was done: {}",
            refused.join("; ")
        )));
    }
    for f in found.iter().filter(|f| !f.data.is_empty()) {
        disk_api(
            cx,
            Cmd::new("pvesh").args([
                "set",
                &format!("/nodes/{node}/disks/wipedisk"),
                "--disk",
                &format!("/dev/{}", f.name),
            ]),
        )?;
        cx.changes
            .push(format!("wiped {} ({})", f.by_id, f.data.join(", ")));
    }
    let devs: Vec<String> = found.iter().map(|f| format!("/dev/{}", f.name)).collect();
    // The node by its name, not `localhost`: the disk API gives the storage `nodes <node>`
    // as it was called (`create_or_update` in `API2/Storage/Config.pm`), and a storage
    // restricted to a node called `localhost` is enabled on none.
    let api = format!("/nodes/{node}/disks");
    let cmd = match kind {
        DiskKind::Dir => Cmd::new("pvesh").args([
            "create",
            &format!("{api}/directory"),
            "--name",
            &def.id,
            "--device",
            &devs[0],
            "--filesystem",
            "ext4",
            "--add_storage",
            "1",
        ]),
        DiskKind::LvmThin => Cmd::new("pvesh").args([
            "create",
            &format!("{api}/lvmthin"),
            "--name",
            &def.id,
            "--device",
            &devs[0],
            "--add_storage",
            "1",
        ]),
        DiskKind::ZfsPool => Cmd::new("pvesh").args([
            "create",
            &format!("{api}/zfs"),
            "--name",
            &def.id,
            "--raidlevel",
            raid.unwrap_or("single"),
            "--devices",
            &devs.join(","),
            "--add_storage",
            "1",
        ]),
    };
    disk_api(cx, cmd)?;
    cx.changes.push(format!(
        "made {} storage {} on {}",
        kind.type_name(),
        def.id,
        disks.join(", ")
    ));
    cx.remember(&note(&def.id), &format!("content={}", api_content(*kind)))?;
    set_content(cx, def, api_content(*kind), &content)
}

/// A call of Proxmox's disk API through `pvesh`, and the outcome of the task it ran: pvesh
/// itself exits 0 when the task fails (see [`crate::pvetask`]).
fn disk_api(cx: &mut Cx, cmd: Cmd) -> Result<()> {
    let line = cmd.to_string();
    let out = cx.run(cmd)?;
    if out.recorded {
        return Ok(());
    }
    crate::pvetask::outcome(cx.host, &out.stdout).map_err(|e| Error::msg(format!("`{line}`: {e}")))
}

fn set_content(cx: &mut Cx, def: &StorageDef, now: &str, want: &str) -> Result<()> {
    let mut a: Vec<&str> = now.split(',').map(str::trim).collect();
    let mut b: Vec<&str> = want.split(',').collect();
    a.sort_unstable();
    b.sort_unstable();
    if a == b {
        return Ok(());
    }
    cx.run(Cmd::new("pvesm").args(["set", &def.id, "--content", want]))?;
    cx.changes.push(format!(
        "updated {} storage {} (pvesm set: content)",
        def.type_name(),
        def.id
    ));
    cx.remember(&note(&def.id), &format!("content={want}"))
}
