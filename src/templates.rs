//! What a container is made from, brought onto a template storage as Proxmox brings it
//! there, so that `pct create` finds it as the web UI's Create CT would:
//!
//! - a Proxmox appliance template: `pveam update` (the signed appliance index, pve-manager
//!   `PVE/APLInfo.pm` `update`, which checks the index's GPG signature), the template's file
//!   name and SHA-512 from that index, `pveam download STORAGE TEMPLATE` (pve-manager
//!   `PVE/API2/Nodes.pm` `apl_download`: the file checked against the index's checksum
//!   while it arrives), and the file checked again here;
//! - an OCI image (PVE 9.1+): pulled as pve-storage's `oci-registry-pull` pulls one
//!   (`src/PVE/API2/Storage/Status.pm`: `skopeo copy docker://REFERENCE
//!   oci-archive:DIR/FILE.tmp...`, then renamed to `FILE`, named by
//!   `PVE::Storage::normalize_content_filename` and `.tar`), by its pinned digest: skopeo
//!   checks the manifest against it (a reference with a digest is verified by
//!   containers/image), and the file name carries it, so another digest is another file.
//!   `pct create` then sees an OCI archive (pve-container `src/PVE/LXC/Create.pm`,
//!   `archive_is_oci_format`) and makes an application container of it.

use crate::answer::CtSource;
use crate::error::{Error, Result};
use crate::host::{Cmd, Host};

/// Where `pveam update` keeps the appliance index, one file per source (pve-manager
/// `PVE/APLInfo.pm`: `$APL_INFO_DIRECTORY`, the sources of `get_apl_sources`).
pub const APL_INFO_DIR: &str = "/var/lib/pve-manager/apl-info";
const APL_SOURCES: [&str; 2] = ["download.proxmox.com", "releases.turnkeylinux.org"];
/// pve-container's OCI support (PVE 9.1, pve-container 6.0.15): `pct create` makes an
/// application container of an OCI archive only where this module has it.
pub const LXC_CREATE_PM: &str = "/usr/share/perl5/PVE/LXC/Create.pm";
pub const SKOPEO: &str = "/usr/bin/skopeo";

/// One container's template, to bring onto a template storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pull {
    /// The template storage and its template directory (`template/cache`).
    pub storage: String,
    pub dir: String,
    pub source: CtSource,
}

/// A template on its storage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pulled {
    /// `STORAGE:vztmpl/FILE`, as `pct create` takes it.
    pub volid: String,
    /// What it is, for the container's description and the messages.
    pub what: String,
    /// Its verified checksum: the SHA-512 of the appliance index, or the OCI digest (empty:
    /// not verified, for an image allowed unpinned).
    pub sum: String,
    /// Whether this pull brought it (it was not on the storage yet).
    pub fetched: bool,
    /// A note for the phase's results (the index not known here, ...).
    pub note: Option<String>,
}

/// One appliance of the index: the fields of a record that name and check its file.
#[derive(Debug, PartialEq, Eq)]
pub struct Appliance {
    pub package: String,
    pub version: String,
    /// The file name `pveam download` takes and writes.
    pub template: String,
    pub sha512: Option<String>,
}

/// The `lxc` appliances of an index file: Debian-control-like records separated by blank
/// lines (pve-manager `PVE/APLInfo.pm` `read_aplinfo_from_fh`, and `aplinfo/README.format`).
/// The template's file name is the last part of `Location` where it ends as a template
/// does, else `OS-PACKAGE_VERSION_ARCH.tar.gz` (without `OS-` when the package starts with
/// it), as `read_aplinfo_from_fh` names it.
pub fn parse_index(text: &str) -> Vec<Appliance> {
    let mut out = Vec::new();
    for rec in text.split("\n\n") {
        let field = |name: &str| {
            rec.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
                    .filter(|v| !v.is_empty())
            })
        };
        let (Some(package), Some(version), Some(os)) =
            (field("Package"), field("Version"), field("OS"))
        else {
            continue;
        };
        if field("Type").as_deref() != Some("lxc") {
            continue;
        }
        let from_location = field("Location").and_then(|l| {
            let last = l.rsplit('/').next()?.to_string();
            [".tar", ".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2"]
                .iter()
                .any(|e| last.ends_with(e))
                .then_some(last)
        });
        let template = from_location.unwrap_or_else(|| {
            let arch = field("Architecture").unwrap_or_else(|| "i386".into());
            let name = if package.starts_with(&format!("{os}-")) {
                package.clone()
            } else {
                format!("{os}-{package}")
            };
            format!("{name}_{version}_{arch}.tar.gz")
        });
        out.push(Appliance {
            package,
            version,
            template,
            sha512: field("sha512sum").map(|s| s.to_ascii_lowercase()),
        });
    }
    out
}

/// The appliance an answer's `template` names: its file name, or its package name (the
/// newest version the index has).
pub fn find<'a>(apps: &'a [Appliance], name: &str) -> Option<&'a Appliance> {
    if name.contains('_') {
        return apps.iter().find(|a| a.template == name);
    }
    apps.iter()
        .filter(|a| a.package == name)
        .max_by(|a, b| crate::phases::host::version_cmp(&a.version, &b.version))
}

/// Every appliance of the host's index, of both sources.
fn index(host: &Host) -> Result<Vec<Appliance>> {
    let mut out = Vec::new();
    for src in APL_SOURCES {
        if let Some(b) = host.read_capped(&format!("{APL_INFO_DIR}/{src}"), 16 << 20)? {
            out.extend(parse_index(&crate::host::decode_text(&b)));
        }
    }
    Ok(out)
}

/// A file name as pve-storage makes one of a name it is given
/// (`PVE::Storage::normalize_content_filename`: the part after the last `/` or `\`, every
/// character but letters, digits, `_`, `.` and `-` made `_`).
pub fn normalize_content_filename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    last.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The longest archive file name an image may get: pct takes a template volume
/// (`STORAGE:vztmpl/FILE`) of at most 255 characters (pve-container `API2/LXC.pm`
/// `create_vm`, `ostemplate`'s `maxLength`), and the temporary name adds 18 to a file name of
/// at most 255 bytes; room is left for the storage's ID.
pub const MAX_ARCHIVE_NAME: usize = 200;

/// The archive file an OCI image is pulled into (see [`oci_names`]).
pub fn oci_archive(reference: &str, digest: Option<&str>) -> String {
    oci_names(reference, digest).1
}

/// What skopeo pulls and the archive's file name: by digest, the reference's name with the
/// digest in place of the tag (containers/image takes no reference with both); unpinned,
/// the reference as it is.
fn oci_names(reference: &str, digest: Option<&str>) -> (String, String) {
    match digest {
        Some(d) => {
            let name = reference.rsplit_once(':').map_or(reference, |(n, _)| n);
            (
                format!("{name}@{d}"),
                format!(
                    "{}.tar",
                    normalize_content_filename(&format!("{reference}@{d}"))
                ),
            )
        }
        None => (
            reference.to_string(),
            format!("{}.tar", normalize_content_filename(reference)),
        ),
    }
}

impl Pull {
    /// What identifies it among the run's background jobs.
    pub fn key(&self) -> String {
        match &self.source {
            CtSource::Template(t) => format!("pveam:{}:{t}", self.storage),
            CtSource::Oci { reference, digest } => format!(
                "oci:{}:{reference}@{}",
                self.storage,
                digest.as_deref().unwrap_or("")
            ),
        }
    }

    /// Bring it onto the storage unless it is there, and check it. Commands are recorded
    /// under `--root` and in `plan`, where the index the tree has (if any) is read.
    pub fn run(&self, host: &Host) -> Result<Pulled> {
        match &self.source {
            CtSource::Template(name) => self.appliance(host, name),
            CtSource::Oci { reference, digest } => self.oci(host, reference, digest.as_deref()),
        }
    }

    fn appliance(&self, host: &Host, name: &str) -> Result<Pulled> {
        let there = |a: &Appliance| host.exists(&format!("{}/{}", self.dir, a.template));
        let mut apps = index(host)?;
        if !find(&apps, name).is_some_and(there) {
            // The index as Proxmox has it now: a fresh host may have none yet (the daily
            // pve-daily-update.service fetches it). `pveam update` says a failure on stderr
            // and exits 0; what the index then has is what counts.
            host.run(&Cmd::new("pveam").arg("update"))?;
            apps = index(host)?;
        }
        let Some(app) = find(&apps, name) else {
            if !host.is_live() {
                // `plan` and `--root`: pveam only recorded, and the tree has no such index.
                return Ok(Pulled {
                    volid: format!("{}:vztmpl/{name}", self.storage),
                    what: format!("template {name}"),
                    note: Some(format!(
                        "template {name}: not in the appliance index here; on the host \
                         `pveam update` fetches it"
                    )),
                    ..Pulled::default()
                });
            }
            let mut similar: Vec<&str> = apps.iter().map(|a| a.package.as_str()).collect();
            similar.dedup();
            return Err(Error::msg(format!(
                "template \"{name}\" is not in Proxmox's appliance index (`pveam available` \
                 lists it); its packages: {}",
                similar.join(", ")
            )));
        };
        let path = format!("{}/{}", self.dir, app.template);
        let fetched = !host.exists(&path);
        if fetched {
            host.run_ok(&Cmd::new("pveam").args(["download", &self.storage, &app.template]))?;
            // pveam exits 0 whatever its download task did (src/pvetask.rs `newest`): the
            // file tells, and the task's log says why it is not there.
            if host.is_live() && !host.exists(&path) {
                let why = match crate::pvetask::newest(host, "download", &app.template)? {
                    Some(Err(e)) => e.to_string(),
                    _ => "pveam said nothing of why".to_string(),
                };
                return Err(Error::msg(format!(
                    "`pveam download {} {}` did not bring the template to {path}: {why}",
                    self.storage, app.template
                )));
            }
        }
        let sum = match (&app.sha512, host.is_live()) {
            (Some(want), true) => {
                let got = crate::fetch::file_sum(host, &path, want)?;
                if &got != want {
                    return Err(Error::msg(format!(
                        "{path} has SHA-512 {got}, and Proxmox's appliance index says {want}: \
                         it is not the template; remove it (`pveam remove \
                         {}:vztmpl/{}`) and run again",
                        self.storage, app.template
                    )));
                }
                got
            }
            (Some(want), false) => want.clone(),
            // An index without SHA-512: pveam checked the file with what the index has.
            (None, _) => String::new(),
        };
        Ok(Pulled {
            volid: format!("{}:vztmpl/{}", self.storage, app.template),
            what: format!("template {}", app.template),
            sum,
            fetched,
            note: None,
        })
    }

    fn oci(&self, host: &Host, reference: &str, digest: Option<&str>) -> Result<Pulled> {
        let (from, file) = oci_names(reference, digest);
        let path = format!("{}/{file}", self.dir);
        let fetched = !host.exists(&path);
        if fetched {
            // Into a temporary name first, renamed once complete (as pve-storage does): a
            // pull cut off half-way never leaves a file that looks whole.
            let tmp = format!("{path}.tmp.pve-firstboot");
            host.run_ok(&Cmd::new("skopeo").args([
                "copy".to_string(),
                format!("docker://{from}"),
                format!("oci-archive:{tmp}"),
            ]))?;
            host.run_ok(&Cmd::new("mv").args(["-f", "-T", &tmp, &path]))?;
        }
        Ok(Pulled {
            volid: format!("{}:vztmpl/{file}", self.storage),
            what: format!("OCI image {reference}"),
            sum: digest.unwrap_or("").to_string(),
            fetched,
            note: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records in the index's format (pve-manager `aplinfo/README.format`), made up.
    const INDEX: &str = "Package: pve-web-news\nDescription: News\n  for the admin\n\n\
        Package: debian-13-standard\nVersion: 13.1-2\nType: lxc\nOS: debian-13\n\
        Section: system\nArchitecture: amd64\n\
        Location: system/debian-13-standard_13.1-2_amd64.tar.zst\n\
        sha512sum: ABCDEF\nInfopage: https://example.org\n\n\
        Package: debian-13-standard\nVersion: 13.0-1\nType: lxc\nOS: debian-13\n\
        Section: system\nArchitecture: amd64\n\
        Location: system/debian-13-standard_13.0-1_amd64.tar.zst\nInfopage: x\n\n\
        Package: nextcloud\nVersion: 18.0-1\nType: lxc\nOS: debian-12\n\
        Section: turnkeylinux\nArchitecture: amd64\nLocation: https://x/nextcloud.iso\nInfopage: x\n\n\
        Package: some-vm\nVersion: 1\nType: qemu\nOS: x\nInfopage: x\n";

    #[test]
    fn the_index_names_and_checks_templates_as_pveam_does() {
        let apps = parse_index(INDEX);
        assert_eq!(apps.len(), 3, "{apps:?}");
        let newest = find(&apps, "debian-13-standard").unwrap();
        assert_eq!(newest.template, "debian-13-standard_13.1-2_amd64.tar.zst");
        assert_eq!(newest.sha512.as_deref(), Some("abcdef"));
        let exact = find(&apps, "debian-13-standard_13.0-1_amd64.tar.zst").unwrap();
        assert_eq!(exact.version, "13.0-1");
        // A Location that is no template: named from the record.
        assert_eq!(
            find(&apps, "nextcloud").unwrap().template,
            "debian-12-nextcloud_18.0-1_amd64.tar.gz"
        );
        assert!(find(&apps, "some-vm").is_none());
        assert!(find(&apps, "debian-14-standard").is_none());
    }

    #[test]
    fn oci_archives_are_named_as_pve_storage_names_them_with_the_digest() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let (from, file) = oci_names("docker.io/library/nginx:1.29", Some(&d));
        assert_eq!(from, format!("docker.io/library/nginx@{d}"));
        assert_eq!(file, format!("nginx_1.29_sha256_{}.tar", "ab".repeat(32)));
        let (from, file) = oci_names("registry.example.org:5000/app:v1", None);
        assert_eq!(
            (from.as_str(), file.as_str()),
            ("registry.example.org:5000/app:v1", "app_v1.tar")
        );
        assert_eq!(normalize_content_filename("a\\b/c d:e"), "c_d_e");
    }
}
