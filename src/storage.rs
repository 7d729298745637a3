//! Proxmox's storages as the host has them (`/etc/pve/storage.cfg`): which can hold VM
//! disks, which one a VM gets by default, and what `qm` names a new disk on each.
//!
//! The agent never assumes a storage exists: the installer creates `local-lvm` only when
//! the thin pool would be larger than 4 GiB and `maxvz` is not 0, `local-zfs` on ZFS,
//! `local-btrfs` on btrfs (with `local` disabled), and otherwise `local` with `images`
//! (pve-installer: `Proxmox/Install/StorageConfig.pm`, chosen in `Proxmox/Install.pm`).

use crate::error::{Error, Result};
use crate::host::Host;

pub const STORAGE_CFG: &str = "/etc/pve/storage.cfg";

/// The installer's own storage for guests, per layout, in the order a VM default prefers
/// them (pve-installer: `Proxmox/Install/StorageConfig.pm`).
const INSTALLER_DEFAULTS: [&str; 4] = ["local-lvm", "local-zfs", "local-btrfs", "local"];

/// One section of storage.cfg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    pub id: String,
    pub kind: String,
    pub content: Vec<String>,
    pub disabled: bool,
    /// The directory of a file-based storage (`path`), where its `snippets/` live.
    pub path: Option<String>,
    /// Every `key value` line of the section as written (`content` and `disable` too),
    /// for the storage phase to compare an answer's `[[storage]]` with.
    pub opts: Vec<(String, String)>,
}

impl Storage {
    /// Whether it is enabled and holds `content` (`images`, `rootdir`, `vztmpl`, ...).
    pub fn holds(&self, content: &str) -> bool {
        !self.disabled && self.content.iter().any(|c| c == content)
    }

    /// The directory of a file storage's templates (pve-storage `Plugin.pm`,
    /// `$vtype_subdirs`: `vztmpl` is `template/cache`).
    pub fn template_dir(&self) -> Option<String> {
        let p = self.path.as_deref()?;
        Some(format!("{}/template/cache", p.trim_end_matches('/')))
    }

    /// Storages that keep each disk as a file under `images/<vmid>/` name it
    /// `<vmid>/vm-<vmid>-disk-<n>.<fmt>`; block storages `vm-<vmid>-disk-<n>`
    /// (pve-storage: `PVE/Storage/Plugin.pm` `get_next_vm_diskname` and `alloc_image`,
    /// overridden by `LvmThinPlugin.pm`, `LVMPlugin.pm`, `ZFSPoolPlugin.pm`, `RBDPlugin.pm`).
    /// The format of an imported disk is the storage's default, raw.
    pub fn disk_volume(&self, vmid: u32, n: u32) -> String {
        match self.kind.as_str() {
            "dir" | "btrfs" | "nfs" | "cifs" | "cephfs" | "glusterfs" => {
                format!("{}:{vmid}/vm-{vmid}-disk-{n}.raw", self.id)
            }
            _ => format!("{}:vm-{vmid}-disk-{n}", self.id),
        }
    }
}

/// The content a storage type has when its section names none (pve-storage: each plugin's
/// `plugindata`, second element of `content`, applied in `Plugin.pm` `parse_config`).
fn default_content(kind: &str) -> &'static [&'static str] {
    match kind {
        "pbs" | "cephfs" => &["backup"],
        "esxi" => &["import"],
        "iscsi" | "iscsidirect" | "lvm" | "rbd" | "zfs" | "nfs" | "cifs" => &["images"],
        _ => &["images", "rootdir"],
    }
}

/// Parse storage.cfg: `TYPE: ID` starts a section, indented `key value` lines follow
/// (pve-common: `PVE/SectionConfig.pm` `parse_config`; flags such as `disable` have no
/// value). Unknown keys are kept out of the way; only what the agent needs is read.
pub fn parse(text: &str) -> Vec<Storage> {
    let mut out: Vec<Storage> = Vec::new();
    let mut content: Option<Vec<String>> = None;
    let finish = |out: &mut Vec<Storage>, content: &mut Option<Vec<String>>| {
        if let Some(s) = out.last_mut() {
            s.content = content.take().unwrap_or_else(|| {
                default_content(&s.kind)
                    .iter()
                    .map(|c| c.to_string())
                    .collect()
            });
        }
    };
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            if let Some((kind, id)) = trimmed.split_once(':') {
                finish(&mut out, &mut content);
                out.push(Storage {
                    id: id.trim().to_string(),
                    kind: kind.trim().to_string(),
                    content: Vec::new(),
                    disabled: false,
                    path: None,
                    opts: Vec::new(),
                });
            }
            continue;
        }
        let Some(s) = out.last_mut() else { continue };
        let (key, value) = trimmed
            .split_once(char::is_whitespace)
            .map_or((trimmed, ""), |(k, v)| (k, v.trim()));
        s.opts.push((key.to_string(), value.to_string()));
        match key {
            "content" => {
                content = Some(
                    value
                        .split(',')
                        .map(|c| c.trim().to_string())
                        .filter(|c| !c.is_empty())
                        .collect(),
                )
            }
            // `disable` alone is the flag set; `disable 0` also occurs in hand-made files.
            "disable" => s.disabled = value != "0",
            "path" => s.path = Some(value.to_string()),
            _ => {}
        }
    }
    finish(&mut out, &mut content);
    // pve-storage `Plugin.pm` `parse_config`: a missing or foreign `local` is replaced by
    // the directory /var/lib/vz with every content type.
    if !out.iter().any(|s| s.id == "local" && s.kind == "dir") {
        out.retain(|s| s.id != "local");
        out.insert(
            0,
            Storage {
                id: "local".into(),
                kind: "dir".into(),
                content: ["images", "rootdir", "iso", "vztmpl", "backup", "snippets"]
                    .map(String::from)
                    .to_vec(),
                disabled: false,
                path: Some("/var/lib/vz".into()),
                opts: Vec::new(),
            },
        );
    }
    out
}

/// The host's storages, read through the host boundary.
pub fn read(host: &Host) -> Result<Vec<Storage>> {
    let text = host.read_text(STORAGE_CFG)?.ok_or_else(|| {
        Error::msg(format!(
            "reading {STORAGE_CFG}: not found (is pmxcfs, pve-cluster, running?)"
        ))
    })?;
    Ok(parse(&text))
}

/// The storage a VM disk goes to: the answer's, if the host has it and it can hold
/// images; otherwise the installer's own storage for guests; otherwise the first that can.
/// `what` names the answer key in errors (e.g. `haos.storage`).
pub fn choose(storages: &[Storage], wanted: Option<&str>, what: &str) -> Result<Storage> {
    choose_for(storages, wanted, what, "images")
}

/// [`choose`] for `content`: `images` (a VM's disks) or `rootdir` (a container's volumes;
/// the installer's storages for guests hold both).
pub fn choose_for(
    storages: &[Storage],
    wanted: Option<&str>,
    what: &str,
    content: &str,
) -> Result<Storage> {
    let noun = if content == "images" {
        "VM disks"
    } else {
        "container volumes"
    };
    let able: Vec<&Storage> = storages.iter().filter(|s| s.holds(content)).collect();
    let names = || {
        if able.is_empty() {
            "none".to_string()
        } else {
            able.iter()
                .map(|s| format!("{} ({})", s.id, s.kind))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    if let Some(w) = wanted {
        return match storages.iter().find(|s| s.id == w) {
            Some(s) if s.holds(content) => Ok(s.clone()),
            Some(s) if s.disabled => Err(Error::msg(format!(
                "{what} = \"{w}\": the storage is disabled in {STORAGE_CFG}; storages that can \
                 hold {noun}: {}",
                names()
            ))),
            Some(s) => Err(Error::msg(format!(
                "{what} = \"{w}\": the storage does not hold {noun} (content {}); storages \
                 that can: {}",
                s.content.join(","),
                names()
            ))),
            None => Err(Error::msg(format!(
                "{what} = \"{w}\": no such storage in {STORAGE_CFG}; storages that can hold \
                 {noun}: {}",
                names()
            ))),
        };
    }
    INSTALLER_DEFAULTS
        .iter()
        .find_map(|d| able.iter().find(|s| s.id == *d))
        .or_else(|| able.first())
        .map(|s| (*s).clone())
        .ok_or_else(|| {
            Error::msg(format!(
                "no storage in {STORAGE_CFG} can hold {noun} (content `{content}`); add one \
                 or enable {content} on one"
            ))
        })
}

/// A storage for templates (content `vztmpl`, a directory of files: pve-storage
/// `PVE::Storage::get_vztmpl_dir`, `template/cache/` under its path): `local`, as the web
/// UI offers it first, where it may; otherwise the first that may.
pub fn templates(storages: &[Storage]) -> Result<Storage> {
    let able = |s: &&Storage| s.holds("vztmpl") && s.path.is_some();
    storages
        .iter()
        .filter(able)
        .find(|s| s.id == "local")
        .or_else(|| storages.iter().find(able))
        .cloned()
        .ok_or_else(|| {
            Error::msg(format!(
                "no enabled directory storage in {STORAGE_CFG} holds container templates \
                 (content `vztmpl`); enable vztmpl on one (`local` has it on a fresh install)"
            ))
        })
}

/// Where cloud-init snippets go (content type `snippets`, kept under `<path>/snippets/`
/// on file-based storages: pve-storage `src/PVE/Storage/Plugin.pm`, `$vtype_subdirs`).
pub struct Snippets {
    pub storage: Storage,
    /// The content list to set with `pvesm set <id> --content ...` first, when the
    /// storage does not hold snippets yet.
    pub enable: Option<String>,
}

impl Snippets {
    pub fn dir(&self) -> String {
        format!(
            "{}/snippets",
            self.storage.path.as_deref().unwrap_or("/var/lib/vz")
        )
    }
}

/// A storage for snippets: an enabled file-based one that holds them; else `local` (or,
/// where the installer disabled it — btrfs — the first enabled file-based storage), with
/// `snippets` added to the content types it has.
pub fn snippets(storages: &[Storage]) -> Result<Snippets> {
    let usable = |s: &&Storage| !s.disabled && s.path.is_some();
    if let Some(s) = storages
        .iter()
        .filter(usable)
        .find(|s| s.content.iter().any(|c| c == "snippets"))
    {
        return Ok(Snippets {
            storage: s.clone(),
            enable: None,
        });
    }
    let s = storages
        .iter()
        .filter(usable)
        .find(|s| s.id == "local")
        .or_else(|| storages.iter().find(usable))
        .ok_or_else(|| {
            Error::msg(format!(
                "no enabled directory storage in {STORAGE_CFG} can hold cloud-init snippets"
            ))
        })?;
    let mut content = s.content.clone();
    content.push("snippets".into());
    Ok(Snippets {
        storage: s.clone(),
        enable: Some(content.join(",")),
    })
}

/// What to do when LVM refuses a thin pool whose metadata check failed: lvm2 activates a
/// pool only after `thin_check` passes, and after a power cut in the middle of writes it may
/// not ("Check of pool VG/POOL failed (status:64). Manual repair required!", lvm2's wording,
/// as our test guest printed it after a cut and as PVE hosts report it). Nothing the
/// agent can safely do for the admin (a repair rewrites the pool's metadata), so the
/// message says what to run. `None` for any other failure.
pub fn thin_pool_hint(msg: &str) -> Option<String> {
    if !msg.contains("Manual repair required") {
        return None;
    }
    let pool = msg
        .split("Check of pool ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .filter(|p| p.contains('/'))
        .unwrap_or("VG/POOL");
    Some(format!(
        "the LVM thin pool {pool} needs a repair (its metadata check failed, as it can after \
         a power cut during writes): with no guest on it running, run `lvconvert --repair \
         {pool}` (lvmthin(7), \"Metadata check and repair\"), then `pve-firstboot run` again"
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_thin_pool_that_needs_a_repair_is_named_with_the_command() {
        let e = "`pvesm free local-lvm:vm-100-disk-0` failed (exit 255): Check of pool \
                 pve/data failed (status:64). Manual repair required!";
        let h = super::thin_pool_hint(e).unwrap();
        assert!(h.contains("`lvconvert --repair pve/data`"), "{h}");
        assert!(super::thin_pool_hint("volume 'x' does not exist").is_none());
    }

    use super::*;

    // As pve-installer's StorageConfig.pm lays them out (retyped, not copied).
    const LVMTHIN: &str = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup,import\n\n\
                           lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n";
    const NO_THIN_POOL: &str =
        "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup,rootdir,images,import\n";
    const BTRFS: &str = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\tdisable\n\n\
                         btrfs: local-btrfs\n\tpath /var/lib/pve/local-btrfs\n\tcontent iso,vztmpl,backup,images,rootdir,import\n";
    const ZFS: &str = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup,import\n\n\
                       zfspool: local-zfs\n\tpool rpool/data\n\tsparse\n\tcontent images,rootdir\n";

    #[test]
    fn default_per_layout() {
        for (cfg, id, vol) in [
            (LVMTHIN, "local-lvm", "local-lvm:vm-100-disk-0"),
            (NO_THIN_POOL, "local", "local:100/vm-100-disk-0.raw"),
            (BTRFS, "local-btrfs", "local-btrfs:100/vm-100-disk-0.raw"),
            (ZFS, "local-zfs", "local-zfs:vm-100-disk-0"),
        ] {
            let s = choose(&parse(cfg), None, "haos.storage").unwrap();
            assert_eq!(s.id, id);
            assert_eq!(s.disk_volume(100, 0), vol);
        }
    }

    #[test]
    fn refusals_name_the_storages_that_can() {
        for (cfg, wanted, why, able) in [
            (
                LVMTHIN,
                "local",
                "does not hold VM disks",
                "local-lvm (lvmthin)",
            ),
            (NO_THIN_POOL, "local-lvm", "no such storage", "local (dir)"),
            (BTRFS, "local", "disabled", "local-btrfs (btrfs)"),
        ] {
            let e = choose(&parse(cfg), Some(wanted), "haos.storage")
                .unwrap_err()
                .to_string();
            assert!(e.contains(why) && e.contains(able), "{e}");
        }
    }

    #[test]
    fn a_disabled_storage_is_never_taken_even_with_images() {
        let cfg = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,images\n\tdisable\n\n\
                   lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent images\n\tdisable\n\n\
                   zfspool: tank\n\tpool tank\n\tcontent images\n";
        assert_eq!(
            choose(&parse(cfg), None, "haos.storage").unwrap().id,
            "tank"
        );
        let e = choose(&parse(cfg), Some("local-lvm"), "haos.storage")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("disabled") && e.contains("tank (zfspool)"),
            "{e}"
        );
    }

    #[test]
    fn templates_go_to_an_enabled_storage_only() {
        // btrfs: the installer disables `local`, whose content keeps vztmpl.
        assert_eq!(templates(&parse(BTRFS)).unwrap().id, "local-btrfs");
        assert_eq!(templates(&parse(LVMTHIN)).unwrap().id, "local");
        let e = templates(&parse(
            "dir: local\n\tpath /var/lib/vz\n\tcontent vztmpl\n\tdisable\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("no enabled directory storage"), "{e}");
    }

    #[test]
    fn missing_content_takes_the_type_default_and_local_is_always_there() {
        let s = parse("nfs: nas\n\tpath /mnt/pve/nas\n\tserver 10.0.0.5\n\texport /tank\n");
        assert_eq!(s[0].id, "local");
        assert!(s[0].holds("images"));
        let nas = s.iter().find(|x| x.id == "nas").unwrap();
        assert_eq!(nas.content, ["images"]);
        let pbs = parse("pbs: backup\n\tserver 10.0.0.6\n\tdatastore main\n");
        assert!(
            !pbs.iter()
                .find(|x| x.id == "backup")
                .unwrap()
                .holds("images")
        );
    }

    #[test]
    fn snippets_go_where_they_are_allowed_else_local_gets_them() {
        let s = snippets(&parse(LVMTHIN)).unwrap();
        assert_eq!(s.storage.id, "local");
        assert_eq!(
            s.enable.as_deref(),
            Some("iso,vztmpl,backup,import,snippets")
        );
        assert_eq!(s.dir(), "/var/lib/vz/snippets");
        // btrfs: local is disabled; the btrfs storage is a directory too.
        let s = snippets(&parse(BTRFS)).unwrap();
        assert_eq!(s.storage.id, "local-btrfs");
        assert_eq!(s.dir(), "/var/lib/pve/local-btrfs/snippets");
        let cfg = format!("{ZFS}\ndir: snip\n\tpath /srv/snip\n\tcontent snippets\n");
        let s = snippets(&parse(&cfg)).unwrap();
        assert_eq!((s.storage.id.as_str(), s.enable), ("snip", None));
        assert!(snippets(&parse("dir: local\n\tpath /var/lib/vz\n\tdisable\n")).is_err());
    }
}
