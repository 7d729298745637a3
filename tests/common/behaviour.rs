//! What a run did, judged by what it means for the admin rather than by its text: the
//! guests as `qm` would have them after the recorded commands, the backup job vzdump would
//! run, the ports the firewall forwards. Written from Proxmox's documented behaviour and
//! the answer's documented defaults, without the agent's code (a bug there must not move the
//! expectation with it), and used beside the golden files (`tests/fixtures.rs`) and for the
//! power-cut test's end state (`tests/engine.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// The words of a command line as a POSIX shell splits them (plain words, `'...'`, and
/// `\x` outside quotes: what the commands log's quoting writes).
pub fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = cur.take() {
                    out.push(w);
                }
            }
            '\'' => {
                let w = cur.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    w.push(q);
                }
            }
            '\\' => {
                let w = cur.get_or_insert_with(String::new);
                w.extend(chars.next());
            }
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(cur);
    out
}

/// One guest as qemu-server (or pve-container) would have it after the run.
#[derive(Debug, Default, Clone)]
pub struct Guest {
    /// A container, made by `pct` (its config in `/etc/pve/lxc`).
    pub ct: bool,
    /// `pct create`'s template, for a container made in this run.
    pub template: Option<String>,
    /// `key: value` of its config.
    pub conf: BTreeMap<String, String>,
    /// `qm create` made it in this run.
    pub created: bool,
    /// `qm start` started it in this run.
    pub started: bool,
}

/// The guests after a run: the configs the tree had (`/etc/pve/qemu-server/*.conf`), then
/// every `qm create`, `set`, `start` and `destroy` of the commands log applied in order,
/// as qemu-server's CLI applies them (`set` adds or replaces keys, `--delete` removes).
/// Also the storages `qm disk import` put a volume on.
pub struct Guests {
    pub vms: BTreeMap<u32, Guest>,
    pub imported_to: Vec<(u32, String)>,
}

pub fn guests(root: &Path, commands: &str) -> Guests {
    let mut vms = BTreeMap::new();
    for (dir, ct) in [("etc/pve/qemu-server", false), ("etc/pve/lxc", true)] {
        let Ok(rd) = fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".conf").and_then(|i| i.parse().ok()) else {
                continue;
            };
            let text = fs::read_to_string(e.path()).unwrap_or_default();
            let conf = text
                .lines()
                .take_while(|l| !l.starts_with('['))
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.to_string(), v.trim().to_string()))
                .collect();
            vms.insert(
                id,
                Guest {
                    ct,
                    conf,
                    ..Guest::default()
                },
            );
        }
    }
    let mut imported_to = Vec::new();
    for line in commands.lines() {
        let mut w = words(line);
        let ct = w.first().map(String::as_str) == Some("pct");
        if !(ct || w.first().map(String::as_str) == Some("qm")) || w.len() < 3 {
            continue;
        }
        // `pct create ID TEMPLATE --key value...`: the template is no option.
        let template = (ct && w[1] == "create" && w.len() > 3).then(|| w.remove(3));
        let Ok(id) = w[2].parse::<u32>() else {
            // `qm disk import ID FILE STORAGE`
            if w[1] == "disk" && w[2] == "import" && w.len() >= 6 {
                imported_to.push((w[3].parse().unwrap_or(0), w[5].clone()));
            }
            continue;
        };
        let opts = || {
            w[3..]
                .chunks(2)
                .filter_map(|p| Some((p[0].strip_prefix("--")?.to_string(), p.get(1)?.clone())))
                .collect::<Vec<_>>()
        };
        match w[1].as_str() {
            "create" => {
                vms.insert(
                    id,
                    Guest {
                        ct,
                        template,
                        conf: opts().into_iter().collect(),
                        created: true,
                        started: false,
                    },
                );
            }
            "set" => {
                let g = vms.entry(id).or_default();
                for (k, v) in opts() {
                    if k == "delete" {
                        for d in v.split(',') {
                            g.conf.remove(d);
                        }
                    } else {
                        g.conf.insert(k, v);
                    }
                }
            }
            "start" => vms.entry(id).or_default().started = true,
            "destroy" => {
                vms.remove(&id);
            }
            "importdisk" if w.len() >= 5 => imported_to.push((id, w[4].clone())),
            _ => {}
        }
    }
    Guests { vms, imported_to }
}

/// A PCI function of the machine's `/sys`.
pub struct Function {
    pub addr: String,
    pub class: u32,
    pub driver: Option<String>,
    pub group: Option<String>,
}

fn link_name(p: &Path) -> Option<String> {
    fs::read_link(p)
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
}

/// Every PCI function under `root/sys/bus/pci/devices`.
pub fn functions(root: &Path) -> Vec<Function> {
    let dir = root.join("sys/bus/pci/devices");
    let Ok(rd) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<Function> = rd
        .flatten()
        .map(|e| {
            let d = e.path();
            let class = fs::read_to_string(d.join("class")).unwrap_or_default();
            Function {
                addr: e.file_name().to_string_lossy().into_owned(),
                class: u32::from_str_radix(class.trim().trim_start_matches("0x"), 16).unwrap_or(0),
                driver: link_name(&d.join("driver")),
                group: link_name(&d.join("iommu_group")),
            }
        })
        .collect();
    out.sort_by(|a, b| a.addr.cmp(&b.addr));
    out
}

/// The functions a `hostpciN` value passes: `0000:01:00` is every function of the slot,
/// `0000:01:00.1` one (qemu-server `PCI.pm`, `$hostpci_fmt`'s `host`).
pub fn passed<'f>(value: &str, all: &'f [Function]) -> Vec<&'f Function> {
    let host = value.split(',').next().unwrap_or("");
    let host = host.strip_prefix("host=").unwrap_or(host);
    all.iter()
        .filter(|f| {
            f.addr == host
                || f.addr
                    .strip_prefix(host)
                    .is_some_and(|r| r.starts_with('.'))
        })
        .collect()
}

/// The `hostpciN` values of a config, in order.
pub fn hostpci(conf: &BTreeMap<String, String>) -> Vec<&String> {
    (0..16)
        .filter_map(|i| conf.get(&format!("hostpci{i}")))
        .collect()
}

/// Devices outside the guest's functions that share an IOMMU group with one of them and
/// are no bridge (class 06): `qm start` would take them from the host.
pub fn strangers(mine: &[&Function], all: &[Function]) -> Vec<String> {
    let groups: BTreeSet<&String> = mine.iter().filter_map(|f| f.group.as_ref()).collect();
    all.iter()
        .filter(|f| f.group.as_ref().is_some_and(|g| groups.contains(g)))
        .filter(|f| f.class >> 16 != 0x06 && !mine.iter().any(|m| m.addr == f.addr))
        .map(|f| f.addr.clone())
        .collect()
}

/// A storage's content types and whether it is disabled, from `storage.cfg` with the
/// `pvesm set ID --content ...` commands of the run applied (the list is replaced). A
/// section without `content` has its type's default (pve-storage's plugins: directory-like
/// and pool storages `images,rootdir`, the rest `images`).
pub fn storages(root: &Path, commands: &str) -> BTreeMap<String, (BTreeSet<String>, bool)> {
    let text = fs::read_to_string(root.join("etc/pve/storage.cfg")).unwrap_or_default();
    let mut out: BTreeMap<String, (BTreeSet<String>, bool)> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            let (kind, id) = line.split_once(':').unwrap_or((line, ""));
            let default = match kind.trim() {
                "dir" | "lvmthin" | "zfspool" | "btrfs" => "images,rootdir",
                _ => "images",
            };
            let id = id.trim().to_string();
            out.insert(
                id.clone(),
                (default.split(',').map(String::from).collect(), false),
            );
            current = Some(id);
            continue;
        }
        let Some(s) = current.as_ref().and_then(|c| out.get_mut(c)) else {
            continue;
        };
        let mut kv = line.split_whitespace();
        match (kv.next(), kv.next()) {
            (Some("content"), Some(v)) => s.0 = v.split(',').map(String::from).collect(),
            (Some("disable"), v) => s.1 = v != Some("0"),
            _ => {}
        }
    }
    // pve-storage's defaults where a command names no content: NFSPlugin.pm and
    // CIFSPlugin.pm `images`, PBSPlugin.pm `backup`; the disk API's `add_storage`
    // (API2/Disks/Directory.pm, LVMThin.pm, ZFS.pm) its own list.
    let flag = |w: &[String], f: &str| {
        w.iter()
            .position(|x| x == f)
            .and_then(|i| w.get(i + 1).cloned())
    };
    for line in commands.lines() {
        let w = words(line);
        let list = |v: &str| v.split(',').map(String::from).collect::<BTreeSet<String>>();
        match w.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["pvesm", "set", id, rest @ ..] => {
                if let Some(s) = out.get_mut(*id) {
                    if let Some(c) = flag(&w, "--content") {
                        s.0 = list(&c);
                    }
                    if let Some(d) = flag(&w, "--disable") {
                        s.1 = d != "0";
                    }
                    if rest.contains(&"--delete")
                        && flag(&w, "--delete")
                            .is_some_and(|d| d.split(',').any(|x| x == "disable"))
                    {
                        s.1 = false;
                    }
                }
            }
            ["pvesm", "add", kind, id, ..] => {
                let default = match *kind {
                    "pbs" => "backup",
                    _ => "images",
                };
                let content = flag(&w, "--content").unwrap_or_else(|| default.to_string());
                let disabled = flag(&w, "--disable").is_some_and(|d| d != "0");
                out.insert(id.to_string(), (list(&content), disabled));
            }
            ["pvesm", "remove", id] => {
                out.remove(*id);
            }
            ["pvesh", "create", api, ..]
                if api.starts_with("/nodes/") && api.contains("/disks/") =>
            {
                if let (Some(id), Some("1")) =
                    (flag(&w, "--name"), flag(&w, "--add_storage").as_deref())
                {
                    let content = if api.ends_with("/directory") {
                        "rootdir,images,iso,backup,vztmpl,snippets"
                    } else {
                        "rootdir,images"
                    };
                    out.insert(id, (list(content), false));
                }
            }
            _ => {}
        }
    }
    out
}

/// A section-config file (`TYPE: ID`, then indented `key value` lines) as
/// `(type, id) -> [(key, value)]`, a key repeated as often as it is written (an array:
/// proxmox-section-config writes one line per item).
pub fn sections(text: &str) -> BTreeMap<(String, String), Vec<(String, String)>> {
    let mut out = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            let (t, id) = line.split_once(':').unwrap_or((line, ""));
            let key = (t.trim().to_string(), id.trim().to_string());
            out.insert(key.clone(), Vec::new());
            current = Some(key);
        } else if let Some(k) = &current {
            let l = line.trim();
            let (key, value) = l.split_once([' ', '\t']).unwrap_or((l, ""));
            out.get_mut(k)
                .unwrap()
                .push((key.to_string(), value.trim().to_string()));
        }
    }
    out
}

/// Every value of `key` in a section.
pub fn values<'s>(section: &'s [(String, String)], key: &str) -> Vec<&'s str> {
    section
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The answer's guests as its documentation describes them: `[haos]` (VMID 100 unless
/// given), each `[[vm]]` and each `[[container]]`, each with whether it is to start
/// (`start`, default true).
pub fn answer_guests(answer: &toml::Table) -> BTreeMap<u32, bool> {
    let mut out = BTreeMap::new();
    let start = |t: &toml::Table| t.get("start").and_then(|v| v.as_bool()).unwrap_or(true);
    let vmid = |t: &toml::Table, default: i64| {
        t.get("vmid")
            .and_then(|v| v.as_integer())
            .unwrap_or(default) as u32
    };
    if let Some(h) = answer.get("haos").and_then(|v| v.as_table()) {
        out.insert(vmid(h, 100), start(h));
    }
    for key in ["vm", "container"] {
        for v in answer
            .get(key)
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_table())
        {
            out.insert(vmid(v, 0), start(v));
        }
    }
    out
}

/// What is wrong with the guests a run left, by what each must be for its admin:
/// - a VM shows a display unless a GPU it was given is its primary one (`vga none` with
///   an `x-vga=1` entry whose device is a display, and only then);
/// - a VM is started only with every passed device on vfio-pci and none of the host's in
///   its IOMMU groups; a VM made in this run that may start and is to start is started,
///   one not to start is not;
/// - a VM started in this run starts at boot (`onboot 1`); one made in this run and not
///   started, or one that must never start, does not;
/// - every disk a VM made in this run got (and every import) is on a storage that holds
///   VM disks (content `images`, not disabled).
pub fn guest_faults(root: &Path, answer: &toml::Table, commands: &str) -> Vec<String> {
    let g = guests(root, commands);
    let all = functions(root);
    let st = storages(root, commands);
    let wanted = answer_guests(answer);
    let holds = |s: &str, c: &str| {
        st.get(s)
            .is_some_and(|(content, disabled)| !disabled && content.contains(c))
    };
    let holds_images = |s: &str| holds(s, "images");
    let mut bad = Vec::new();
    for (id, vm) in &g.vms {
        if !vm.created && !vm.started && !wanted.contains_key(id) {
            continue;
        }
        let entries = hostpci(&vm.conf);
        let mine: Vec<&Function> = entries.iter().flat_map(|e| passed(e, &all)).collect();
        let primary_gpu = entries.iter().any(|e| {
            e.contains("x-vga=1") && passed(e, &all).iter().any(|f| f.class >> 16 == 0x03)
        });
        let vga_none = vm
            .conf
            .get("vga")
            .is_some_and(|v| v.split(',').next() == Some("none"));
        if vga_none != primary_gpu && !vm.ct {
            bad.push(format!(
                "VM {id}: vga {:?} with hostpci {entries:?}: {}",
                vm.conf.get("vga"),
                if primary_gpu {
                    "its primary GPU would have a second, emulated display"
                } else {
                    "no display at all (no GPU of its own is the primary one)"
                }
            ));
        }
        let off: Vec<&str> = mine
            .iter()
            .filter(|f| f.driver.as_deref() != Some("vfio-pci"))
            .map(|f| f.addr.as_str())
            .collect();
        let host_devices = strangers(&mine, &all);
        let may_start = off.is_empty() && host_devices.is_empty();
        if vm.started && !may_start {
            bad.push(format!(
                "VM {id} started with {off:?} not on vfio-pci or the host's {host_devices:?} in its groups"
            ));
        }
        if vm.created && may_start && wanted.get(id) == Some(&true) && !vm.started {
            bad.push(format!("VM {id}: made, to start, able to, and not started"));
        }
        if vm.created && wanted.get(id) == Some(&false) && vm.started {
            bad.push(format!(
                "VM {id}: started although the answer says start = false"
            ));
        }
        let onboot = vm.conf.get("onboot").map(String::as_str) == Some("1");
        if vm.started && !onboot {
            bad.push(format!(
                "VM {id}: started, but not started at boot (onboot {:?})",
                vm.conf.get("onboot")
            ));
        }
        if (!host_devices.is_empty() || (vm.created && !vm.started)) && onboot {
            bad.push(format!("VM {id}: onboot 1 but it must not start (host devices {host_devices:?}, started {})", vm.started));
        }
        if vm.created {
            // A VM's disks hold `images`, a container's volumes `rootdir` (a bind mount of
            // a host directory is on no storage).
            let (content, prefixes): (&str, &[&str]) = if vm.ct {
                ("rootdir", &["rootfs", "mp"])
            } else {
                (
                    "images",
                    &["efidisk", "tpmstate", "scsi", "virtio", "sata", "ide"],
                )
            };
            for (k, v) in &vm.conf {
                let disk = prefixes.iter().any(|p| {
                    k.strip_prefix(p)
                        .is_some_and(|n| n.is_empty() || n.parse::<u8>().is_ok())
                });
                if !disk || v.contains("media=cdrom") || v.starts_with('/') {
                    continue;
                }
                if let Some((store, _)) = v.split_once(':').filter(|(s, _)| *s != "none") {
                    if !holds(store, content) {
                        bad.push(format!(
                            "guest {id}: {k} {v} is on {store}, which holds no {content}"
                        ));
                    }
                }
            }
        }
    }
    for (id, store) in &g.imported_to {
        if !holds_images(store) {
            bad.push(format!(
                "VM {id}: disk imported to {store}, which holds no VM disks"
            ));
        }
    }
    bad
}

/// What is wrong with the backup job: with `[backup]` in the answer and the job written,
/// it backs up exactly the guests `guests` names (default "ours": HAOS and every `[[vm]]`;
/// "all": every guest; a list: those), on the answer's storage, which must hold backups.
pub fn backup_faults(root: &Path, answer: &toml::Table, commands: &str) -> Vec<String> {
    let jobs = fs::read_to_string(root.join("etc/pve/jobs.cfg")).unwrap_or_default();
    let secs = sections(&jobs);
    let ours = secs.get(&("vzdump".into(), "backup-pve-firstboot".into()));
    let Some(b) = answer.get("backup").and_then(|v| v.as_table()) else {
        return match ours {
            Some(_) => vec!["jobs.cfg has our job, and the answer has no [backup]".into()],
            None => Vec::new(),
        };
    };
    let Some(job) = ours else {
        return Vec::new();
    };
    let mut bad = Vec::new();
    let want_all = b.get("guests").and_then(|v| v.as_str()) == Some("all");
    let want: BTreeSet<u32> = match b.get("guests") {
        Some(toml::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_integer())
            .map(|v| v as u32)
            .collect(),
        Some(toml::Value::String(s)) if s == "all" => BTreeSet::new(),
        _ => answer_guests(answer).into_keys().collect(),
    };
    let have: BTreeSet<u32> = values(job, "vmid")
        .iter()
        .flat_map(|v| v.split(','))
        .filter_map(|i| i.trim().parse().ok())
        .collect();
    let all = values(job, "all") == ["1"];
    if all != want_all || have != want {
        bad.push(format!(
            "the backup job takes {} instead of {}",
            if all {
                "every guest".to_string()
            } else {
                format!("{have:?}")
            },
            if want_all {
                "every guest".to_string()
            } else {
                format!("{want:?}")
            }
        ));
    }
    let storage = b.get("storage").and_then(|v| v.as_str()).unwrap_or("");
    if values(job, "storage") != [storage] {
        bad.push(format!(
            "the backup job's storage is {:?}, not {storage}",
            values(job, "storage")
        ));
    }
    // A job whose storage is missing or disabled (a NAS that did not answer) is written
    // disabled, and enabled exactly when the storage is there and takes backups.
    let enabled = values(job, "enabled") != ["0"];
    match storages(root, commands).get(storage) {
        Some((content, false)) if content.contains("backup") && enabled => {}
        Some((_, true)) | None if !enabled => {}
        other => bad.push(format!(
            "the backup job (enabled: {enabled}) goes to {storage}, which {} ({other:?})",
            if enabled {
                "cannot take backups"
            } else {
                "is there and enabled"
            }
        )),
    }
    bad
}

/// What is wrong with Proxmox's notifications (proxmox-notify, as its `matcher.rs` and
/// `context/pve.rs` define them): every target a matcher names exists (`mail-to-root` is
/// Proxmox's own); and with `[notify.smtp]`, once our target is written, it is the only
/// section of its name, an smtp target with the answer's relay and sender, Proxmox's
/// `default-matcher` (the file's, else the built-in one, which routes to `mail-to-root`)
/// routes to it instead of `mail-to-root` (one mail per notification, through the relay),
/// and the password is in `priv/` (0600) exactly when the answer gives one. A matcher
/// without match rules takes every notification whatever its `mode`, so the mode is not
/// judged.
pub fn notify_faults(root: &Path, answer: &toml::Table) -> Vec<String> {
    let cfg = fs::read_to_string(root.join("etc/pve/notifications.cfg")).unwrap_or_default();
    let secs = sections(&cfg);
    let mut bad = Vec::new();
    for ((kind, id), sec) in &secs {
        for t in values(sec, "target")
            .into_iter()
            .filter(|t| *t != "mail-to-root")
        {
            if !secs.keys().any(|(k, i)| k != "matcher" && i == t) {
                bad.push(format!(
                    "matcher {id} ({kind}) routes to {t}, which does not exist"
                ));
            }
        }
    }
    let Some(smtp) = answer
        .get("notify")
        .and_then(|n| n.get("smtp"))
        .and_then(|s| s.as_table())
    else {
        return bad;
    };
    let ours: Vec<_> = secs
        .iter()
        .filter(|((_, id), _)| id == "pve-firstboot")
        .collect();
    if ours.is_empty() {
        return bad;
    }
    let text = |k: &str| smtp.get(k).and_then(|v| v.as_str()).unwrap_or("");
    match ours.as_slice() {
        [((kind, _), sec)] if kind == "smtp" => {
            if values(sec, "server") != [text("server")]
                || values(sec, "from-address") != [text("from")]
            {
                bad.push(format!(
                    "the smtp target is not the answer's relay: {sec:?}"
                ));
            }
        }
        _ => bad.push(format!(
            "{} sections named pve-firstboot: Proxmox keeps one",
            ours.len()
        )),
    }
    let routes = secs
        .get(&("matcher".into(), "default-matcher".into()))
        .map_or(vec!["mail-to-root"], |m| values(m, "target"));
    if !routes.contains(&"pve-firstboot") || routes.contains(&"mail-to-root") {
        bad.push(format!(
            "default-matcher routes to {routes:?}: not once, through the relay"
        ));
    }
    let private = root.join("etc/pve/priv/notifications.cfg");
    let secret = sections(&fs::read_to_string(&private).unwrap_or_default())
        .get(&("smtp".into(), "pve-firstboot".into()))
        .map(|s| values(s, "password").join(" "));
    let want = smtp.get("password").and_then(|v| v.as_str());
    if secret.as_deref() != want {
        bad.push(format!(
            "priv/notifications.cfg has {} the password of the answer",
            if secret.is_some() {
                "another than"
            } else {
                "no section for"
            }
        ));
    }
    if want.is_some() {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&private).map_or(0, |m| m.permissions().mode() & 0o777);
        if mode != 0o600 {
            bad.push(format!("priv/notifications.cfg is {mode:o}, not 0600"));
        }
    }
    bad
}

/// The community's post-install set of `[host]`: the subscription dialog can no longer open
/// (and an apt hook keeps it so) exactly when `subscription-notice = "hide"`, the library
/// still readable by pveproxy; the HA services
/// and corosync disabled on a host of its own (default), never in a cluster; the microcode
/// package installed with `non-free-firmware` in every enabled Debian source, the initramfs
/// made again after it and a reboot last.
pub fn host_faults(root: &Path, answer: &toml::Table, commands: &str) -> Vec<String> {
    let Some(host) = answer.get("host").and_then(|h| h.as_table()) else {
        return Vec::new();
    };
    let mut bad = Vec::new();
    let hide = host.get("subscription-notice").and_then(|v| v.as_str()) == Some("hide");
    let lib =
        fs::read_to_string(root.join("usr/share/javascript/proxmox-widget-toolkit/proxmoxlib.js"));
    // pveproxy serves the library as www-data (pve-manager `PVE/Service/pveproxy.pm`
    // `setuid`): it must stay readable by others, as the package installs it.
    let lib_mode =
        fs::metadata(root.join("usr/share/javascript/proxmox-widget-toolkit/proxmoxlib.js"))
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777);
    if let Ok(m) = lib_mode {
        if m & 0o004 == 0 {
            bad.push(format!(
                "proxmoxlib.js is {m:04o}: pveproxy (www-data) cannot read it, the web UI does not load"
            ));
        }
    }
    if let Ok(lib) = &lib {
        // Whether the dialog's condition can still hold: the check not ANDed with false.
        let check = ".data.status.toLowerCase() !== 'active'";
        let opens = lib
            .split(check)
            .skip(1)
            .any(|after| !after.starts_with(" && false"));
        if opens == hide {
            bad.push(format!(
                "subscription notice: the dialog {} although the answer says {}",
                if opens { "still opens" } else { "never opens" },
                if hide { "hide" } else { "show" }
            ));
        }
        if !hide && lib.contains("pve-firstboot") {
            bad.push("proxmoxlib.js still carries our mark".into());
        }
    }
    let hook = root.join("etc/apt/apt.conf.d/80pve-firstboot-subscription-notice");
    if hook.exists() != hide {
        bad.push(format!(
            "the apt hook is {}there",
            if hide { "not " } else { "" }
        ));
    }
    let cluster = root.join("etc/pve/corosync.conf").exists();
    let units: Vec<&str> = [
        "pve-ha-lrm.service",
        "pve-ha-crm.service",
        "corosync.service",
    ]
    .into_iter()
    .filter(|u| {
        ["usr/lib/systemd/system", "lib/systemd/system"]
            .iter()
            .any(|d| root.join(d).join(u).exists())
    })
    .collect();
    let disabled: Vec<String> = commands
        .lines()
        .map(words)
        .filter(|w| w.len() > 2 && w[0] == "systemctl" && w[1] == "disable")
        .flatten()
        .collect();
    let single = host.get("single-node").and_then(|v| v.as_bool()) != Some(false);
    for u in &units {
        let off = disabled.iter().any(|w| w == u);
        if off != (single && !cluster) {
            bad.push(format!(
                "{u} {} (single-node {single}, in a cluster: {cluster})",
                if off { "disabled" } else { "left enabled" }
            ));
        }
    }
    if host.get("microcode").and_then(|v| v.as_bool()) == Some(true) {
        let cpu = fs::read_to_string(root.join("proc/cpuinfo")).unwrap_or_default();
        let pkg = if cpu.contains("GenuineIntel") {
            "intel-microcode"
        } else {
            "amd64-microcode"
        };
        let lines: Vec<&str> = commands.lines().collect();
        let at = |want: &dyn Fn(&str) -> bool| lines.iter().position(|l| want(l));
        let install = at(&|l| l.contains(" install ") && l.ends_with(pkg));
        let initramfs = at(&|l| l.starts_with("update-initramfs -u"));
        // The reboot the agent asks for, or a boot after the initramfs that the harness did
        // (a power cut: the CPU loads the microcode at any boot after).
        let reboot = at(&|l| l == "systemctl reboot").or_else(|| {
            super::booted_after(root)
                .into_iter()
                .find(|&b| initramfs.is_some_and(|i| b > i))
        });
        if !(install < initramfs && initramfs < reboot && install.is_some()) {
            bad.push(format!(
                "microcode: {pkg} installed at {install:?}, initramfs at {initramfs:?}, reboot at {reboot:?}"
            ));
        }
        for (f, text) in sources(root) {
            for l in text.lines().filter(|l| {
                (l.starts_with("deb ") || l.starts_with("Components:")) && l.contains(" main")
            }) {
                if !l.contains("non-free-firmware") && !text.contains("Enabled: no") {
                    bad.push(format!("{f}: without non-free-firmware: {l}"));
                }
            }
        }
    }
    bad
}

/// The apt sources of the tree: sources.list and every `.list`/`.sources` file.
fn sources(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let dir = root.join("etc/apt/sources.list.d");
    let mut files = vec![root.join("etc/apt/sources.list")];
    files.extend(
        fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path()),
    );
    for f in files {
        if let Ok(t) = fs::read_to_string(&f) {
            out.push((f.display().to_string(), t));
        }
    }
    out
}

/// What is wrong with the containers a run made, by what each `[[container]]` says:
/// - made from a template on a storage that holds templates, there before `pct create`
///   (downloaded by `pveam download` or pulled by `skopeo copy` of the pinned digest, and
///   moved into place, earlier in the run, or on the storage already);
/// - unprivileged unless `unprivileged = false`; `nesting=1` as the web UI sets it (for an
///   unprivileged container) unless the answer says; `keyctl=1` only when asked;
/// - on the answer's bridge (default: the VM bridge, else vmbr0) by DHCP, given the VM
///   bridge's dnsmasq as DNS server on the VM bridge only;
/// - every mount point at its path, a host directory bound as it is, read-only as said;
/// - root's keys (the answer's, else the installer's) handed over only for a template.
pub fn container_faults(root: &Path, answer: &toml::Table, commands: &str) -> Vec<String> {
    let g = guests(root, commands);
    let st = storages(root, commands);
    let lines: Vec<&str> = commands.lines().collect();
    let bridge_default = answer
        .get("network")
        .and_then(|n| n.get("vm-bridge"))
        .map(|b| b.get("name").and_then(|n| n.as_str()).unwrap_or("vmbr1"))
        .unwrap_or("vmbr0");
    // The VM bridge's name and address (`[network.vm-bridge]`, name default vmbr1).
    let vm_bridge: Option<(&str, &str)> = answer
        .get("network")
        .and_then(|n| n.get("vm-bridge"))
        .map(|b| {
            (
                b.get("name").and_then(|n| n.as_str()).unwrap_or("vmbr1"),
                b.get("cidr")
                    .and_then(|c| c.as_str())
                    .and_then(|c| c.split('/').next())
                    .unwrap_or(""),
            )
        });
    let root_keys: Vec<&str> = answer
        .get("installer")
        .and_then(|i| i.get("global"))
        .and_then(|g| g.get("root-ssh-keys"))
        .and_then(|k| k.as_array())
        .into_iter()
        .flatten()
        .filter_map(|k| k.as_str())
        .collect();
    let mut bad = Vec::new();
    let cts = answer.get("container").and_then(|c| c.as_array());
    for c in cts.into_iter().flatten().filter_map(|c| c.as_table()) {
        let id = c.get("vmid").and_then(|v| v.as_integer()).unwrap_or(0) as u32;
        let Some(ct) = g.vms.get(&id).filter(|v| v.created) else {
            continue;
        };
        let flag = |k: &str| c.get(k).and_then(|v| v.as_bool());
        let mut fault = |m: String| bad.push(format!("CT {id}: {m}"));
        if !ct.ct {
            fault("made by qm, not pct".into());
            continue;
        }
        let created_at = lines
            .iter()
            .position(|l| l.starts_with(&format!("pct create {id} ")))
            .unwrap_or(0);
        let template = ct.template.clone().unwrap_or_default();
        let (store, file) = template
            .split_once(":vztmpl/")
            .unwrap_or(("", template.as_str()));
        if !st
            .get(store)
            .is_some_and(|(content, disabled)| !disabled && content.contains("vztmpl"))
        {
            fault(format!(
                "template {template} on a storage that holds no templates"
            ));
        }
        let brought = lines[..created_at].iter().any(|l| {
            let w = words(l);
            (w.len() == 4 && w[..3] == ["pveam", "download", store] && w[3] == file)
                || (w.first().is_some_and(|x| x == "mv")
                    && w.last().is_some_and(|d| d.ends_with(&format!("/{file}"))))
        });
        let there = root.join("var/lib/vz/template/cache").join(file).exists();
        if !brought && !there {
            fault(format!(
                "{template} neither on its storage nor brought there before pct create"
            ));
        }
        if let Some(d) = c.get("digest").and_then(|d| d.as_str()) {
            let pulled = lines[..created_at]
                .iter()
                .any(|l| l.starts_with("skopeo copy docker://") && l.contains(&format!("@{d} ")));
            if !pulled && !there {
                fault(format!("the image is not pulled by its digest {d}"));
            }
        }
        let conf = |k: &str| ct.conf.get(k).map(String::as_str);
        let unprivileged = flag("unprivileged") != Some(false);
        if conf("unprivileged") != Some(if unprivileged { "1" } else { "0" }) {
            fault(format!(
                "unprivileged {:?}, the answer {unprivileged}",
                conf("unprivileged")
            ));
        }
        let features: Vec<&str> = conf("features").unwrap_or("").split(',').collect();
        let nesting = flag("nesting").unwrap_or(unprivileged);
        if features.contains(&"nesting=1") != nesting
            || features.contains(&"keyctl=1") != (flag("keyctl") == Some(true))
        {
            fault(format!(
                "features {:?} (nesting {nesting}, keyctl {:?})",
                conf("features"),
                flag("keyctl")
            ));
        }
        let bridge = c
            .get("bridge")
            .and_then(|b| b.as_str())
            .unwrap_or(bridge_default);
        let net0: Vec<&str> = conf("net0").unwrap_or("").split(',').collect();
        if !net0.contains(&format!("bridge={bridge}").as_str()) || !net0.contains(&"ip=dhcp") {
            fault(format!("net0 {net0:?}, not DHCP on {bridge}"));
        }
        // DNS: dnsmasq on the VM bridge answers the guests there, at the bridge's address;
        // a container elsewhere keeps the host's resolver (pct copies resolv.conf), the VM
        // bridge being out of its reach.
        let ns_want = vm_bridge
            .filter(|(name, _)| *name == bridge)
            .map(|(_, addr)| addr);
        if conf("nameserver") != ns_want {
            fault(format!(
                "nameserver {:?} on {bridge}, the answer means {ns_want:?}",
                conf("nameserver")
            ));
        }
        let mps: Vec<&String> = (0..256)
            .filter_map(|i| ct.conf.get(&format!("mp{i}")))
            .collect();
        for m in c
            .get("mount")
            .and_then(|m| m.as_array())
            .into_iter()
            .flatten()
        {
            let path = m.get("path").and_then(|p| p.as_str()).unwrap_or("");
            let Some(v) = mps
                .iter()
                .find(|v| v.split(',').any(|o| o == format!("mp={path}")))
            else {
                fault(format!("no mount point at {path}"));
                continue;
            };
            let opts: Vec<&str> = v.split(',').collect();
            let ro = m.get("read-only").and_then(|r| r.as_bool()) == Some(true);
            if opts.contains(&"ro=1") != ro {
                fault(format!("{path}: {v}, read-only {ro}"));
            }
            if let Some(h) = m.get("host").and_then(|h| h.as_str()) {
                if opts[0] != h {
                    fault(format!("{path}: {v} does not bind {h}"));
                }
            }
        }
        let keys: Vec<&str> = match c.get("ssh-keys").and_then(|k| k.as_array()) {
            Some(k) => k.iter().filter_map(|k| k.as_str()).collect(),
            None if c.contains_key("oci") => Vec::new(),
            None => root_keys.clone(),
        };
        match conf("ssh-public-keys") {
            Some(f) => {
                let text =
                    fs::read_to_string(root.join(f.trim_start_matches('/'))).unwrap_or_default();
                if keys.is_empty() || keys.iter().any(|k| !text.lines().any(|l| l == *k)) {
                    fault(format!("root's keys in {f} are not the answer's {keys:?}"));
                }
            }
            None if !keys.is_empty() => fault("root's keys not handed to pct".into()),
            None => {}
        }
    }
    bad
}

/// Every fault of [`guest_faults`], [`container_faults`], [`backup_faults`],
/// [`notify_faults`] and [`host_faults`].
pub fn faults(root: &Path, answer_text: &str, commands: &str) -> Vec<String> {
    let answer: toml::Table = answer_text.parse().expect("the answer is TOML");
    let mut bad = guest_faults(root, &answer, commands);
    bad.extend(container_faults(root, &answer, commands));
    bad.extend(host_faults(root, &answer, commands));
    bad.extend(backup_faults(root, &answer, commands));
    bad.extend(notify_faults(root, &answer));
    bad
}
