//! The `haos` phase (`[haos]`): Home Assistant OS in a VM, from a pinned and verified image,
//! imported once, idempotent, and cleaned up after an interruption — but only what the
//! state recorded as ours.

use super::{Cx, Phase};
use crate::answer::{Answer, Haos, ImageSource};
use crate::error::{Error, Result};
use crate::fetch::{self, Source};
use crate::host::Cmd;
use crate::storage::{self, Storage};

/// The tag that marks a VM as made by the agent.
pub const TAG: &str = "pve-firstboot";
/// Where the decompressed image waits for `qm disk import`: the `local` directory storage.
pub const TMP_DIR: &str = "/var/lib/vz/images/pve-firstboot";

pub struct HaosPhase;

fn conf_path(vmid: u32) -> String {
    format!("/etc/pve/qemu-server/{vmid}.conf")
}

fn release_url(version: &str) -> String {
    format!(
        "https://github.com/home-assistant/operating-system/releases/download/{version}/haos_ova-{version}.qcow2.xz"
    )
}

impl Phase for HaosPhase {
    fn id(&self) -> &'static str {
        "haos"
    }

    fn depends_on(&self) -> &'static [&'static str] {
        // Its bridge and static lease come from the network phase.
        &["network"]
    }

    fn not_configured(&self, a: &Answer) -> Option<String> {
        a.haos
            .is_none()
            .then(|| "no [haos] table in the answer".into())
    }

    fn apply(&self, cx: &mut Cx) -> Result<()> {
        let cfg = cx.answer.haos.clone().expect("configured");
        let vmid = cfg.vmid.to_string();
        if cx.recall("vm") == Some(vmid.as_str()) {
            // Made by an earlier run. Never made again: an admin who removed it meant it.
            cx.results
                .push(format!("VM {vmid} was made by pve-firstboot earlier"));
            return ensure_started(cx, &cfg);
        }
        // After a cleanup the VM is gone (on a live host; under --root, qm is only
        // recorded and its config stays in the tree).
        if !cleanup_half_made(cx, &cfg)? {
            if let Some(conf) = cx.read(&conf_path(cfg.vmid))? {
                return adopt_or_refuse(cx, &cfg, &conf);
            }
        }
        create(cx, &cfg)
    }

    fn verify(&self, cx: &mut Cx) -> Result<()> {
        let cfg = cx.answer.haos.clone().expect("configured");
        if !cx.host.is_live() {
            // qm was only recorded: its config files are whatever the tree had.
            cx.results
                .push(format!("VM {}: not checked (not a live host)", cfg.vmid));
            return Ok(());
        }
        let Some(conf) = cx.read(&conf_path(cfg.vmid))? else {
            return Err(Error::msg(format!("VM {} does not exist", cfg.vmid)));
        };
        let scsi0 = conf_value(&conf, "scsi0")
            .ok_or_else(|| Error::msg(format!("VM {} has no scsi0 disk", cfg.vmid)))?;
        cx.results.push(format!("VM {}: scsi0 {scsi0}", cfg.vmid));
        Ok(())
    }
}

/// A key of a Proxmox VM config (`key: value` lines before the first snapshot section).
fn conf_value<'a>(conf: &'a str, key: &str) -> Option<&'a str> {
    conf.lines()
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(str::trim)
}

fn is_ours(conf: &str) -> bool {
    conf_value(conf, "tags").is_some_and(|t| t.split([';', ',', ' ']).any(|x| x == TAG))
}

/// A VM with our VMID exists although the state does not say we made it.
fn adopt_or_refuse(cx: &mut Cx, cfg: &Haos, conf: &str) -> Result<()> {
    if !is_ours(conf) {
        return Err(Error::msg(format!(
            "VM {} exists and is not ours (no \"{TAG}\" tag); it is left untouched. \
             Choose another [haos] vmid or remove that VM",
            cfg.vmid
        )));
    }
    if conf_value(conf, "scsi0").is_none() {
        return Err(Error::msg(format!(
            "VM {} carries our tag but has no disk, and the state does not know it; \
             remove it (`qm destroy {}`) and run again",
            cfg.vmid, cfg.vmid
        )));
    }
    cx.results
        .push(format!("VM {} exists with our tag and its disk", cfg.vmid));
    // Whether it runs is the admin's business now, as for any VM we made.
    cx.remember("started", "1")?;
    cx.remember("vm", &cfg.vmid.to_string())
}

/// An attempt that died half-way left a VM and volumes the state recorded: remove exactly
/// those, and the temporary image. Returns whether there was such a VM.
fn cleanup_half_made(cx: &mut Cx, cfg: &Haos) -> Result<bool> {
    let Some(vmid) = cx.recall("creating").map(String::from) else {
        if let Some(tmp) = cx.recall("image").map(String::from) {
            cx.remove(&tmp)?;
            cx.forget("image")?;
        }
        return Ok(false);
    };
    log::warn!("haos: an earlier attempt stopped half-way; removing what it made");
    if let Some(conf) = cx.read(&conf_path(cfg.vmid))? {
        if is_ours(&conf) {
            cx.run(Cmd::new("qm").args(["destroy", &vmid, "--purge", "1"]))?;
            cx.changes.push(format!("removed the half-made VM {vmid}"));
        }
    }
    if let Some(vol) = cx.recall("volume").map(String::from) {
        // Gone with the VM when it was attached; otherwise free it. Its absence is fine.
        let _ = cx.host.run(&Cmd::new("pvesm").args(["free", &vol]))?;
        cx.forget("volume")?;
    }
    if let Some(tmp) = cx.recall("image").map(String::from) {
        cx.remove(&tmp)?;
        cx.forget("image")?;
    }
    cx.forget("creating")?;
    Ok(true)
}

/// `stable` becomes the current release number (recorded in the state).
fn resolve_version(cx: &mut Cx, cfg: &Haos) -> Result<String> {
    if cfg.version != "stable" {
        return Ok(cfg.version.clone());
    }
    let out = cx.host.query(&Cmd::new("curl").args([
        "-fsSL",
        "--connect-timeout",
        "20",
        "https://version.home-assistant.io/stable.json",
    ]))?;
    if out.recorded {
        return Err(Error::msg(
            "version = \"stable\" is resolved on a live host only",
        ));
    }
    // {"hassos": {"ova": "16.3", ...}, ...}: a few bytes of JSON, read without a parser.
    let after = out.stdout.split("\"ova\"").nth(1).unwrap_or("");
    let v: String = after
        .trim_start_matches([' ', ':', '"'])
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    if v.is_empty() {
        return Err(Error::msg(
            "version.home-assistant.io/stable.json has no hassos.ova version",
        ));
    }
    Ok(v)
}

fn create(cx: &mut Cx, cfg: &Haos) -> Result<()> {
    let vmid = cfg.vmid.to_string();
    // Before anything is downloaded: a storage that cannot take the disk fails now.
    let storage = storage::choose(
        &storage::read(cx.host)?,
        cfg.storage.as_deref(),
        "haos.storage",
    )?;
    cx.results.push(format!(
        "storage: {} ({}){}",
        storage.id,
        storage.kind,
        if cfg.storage.is_some() {
            ", from the answer"
        } else {
            ", the host's own for VM disks"
        }
    ));
    let version = resolve_version(cx, cfg)?;
    cx.remember("version", &version)?;
    let src = match &cfg.image {
        ImageSource::Release => Source::Url(release_url(&version)),
        ImageSource::Url(u) => Source::Url(u.clone()),
        ImageSource::Path(p) => Source::File(p.clone()),
    };
    let tmp = format!("{TMP_DIR}/haos_ova-{version}.qcow2");
    cx.remember("image", &tmp)?;
    let got = fetch::fetch_image(cx.host, &src, cfg.sha256.as_deref(), &tmp)?;
    if !got.sha256.is_empty() {
        cx.remember("sha256", &got.sha256)?;
        cx.results
            .push(format!("image {version}: sha256 {}", got.sha256));
    }
    // From here on the VM is ours: noted before it exists, so an interruption is cleaned up.
    cx.remember("creating", &vmid)?;
    let mac = cfg.mac(cx.answer.installer.fqdn.as_deref());
    cx.run(Cmd::new("qm").args([
        "create".to_string(),
        vmid.clone(),
        "--name".into(),
        "haos".into(),
        "--description".into(),
        format!("Home Assistant OS {version}, made by pve-firstboot"),
        "--tags".into(),
        TAG.into(),
        "--machine".into(),
        "q35".into(),
        "--bios".into(),
        "ovmf".into(),
        "--scsihw".into(),
        "virtio-scsi-pci".into(),
        "--agent".into(),
        "enabled=1".into(),
        "--ostype".into(),
        "l26".into(),
        "--cores".into(),
        cfg.cores.to_string(),
        "--memory".into(),
        cfg.memory.to_string(),
        "--net0".into(),
        format!("virtio={mac},bridge={}", cfg.bridge),
        "--serial0".into(),
        "socket".into(),
        "--onboot".into(),
        if cfg.start { "1" } else { "0" }.into(),
    ]))?;
    cx.changes
        .push(format!("created VM {vmid} (Home Assistant OS {version})"));
    let vol = import(cx, cfg, &storage, &tmp)?;
    cx.remember("volume", &vol)?;
    cx.run(Cmd::new("qm").args([
        "set".to_string(),
        vmid.clone(),
        "--efidisk0".into(),
        format!("{}:0,efitype=4m,pre-enrolled-keys=0", storage.id),
        "--scsi0".into(),
        format!("{vol},ssd=1,discard=on"),
        "--boot".into(),
        "order=scsi0".into(),
    ]))?;
    cx.run(Cmd::new("qm").args(["resize", &vmid, "scsi0", &cfg.disk_size]))?;
    cx.remove(&tmp)?;
    // Complete: from now on the VM is the admin's, and never made again.
    cx.remember("vm", &vmid)?;
    cx.forget("creating")?;
    cx.forget("image")?;
    ensure_started(cx, cfg)
}

/// `qm disk import`, or `qm importdisk` on hosts older than PVE 7.2; returns the volume
/// `qm` says it made.
fn import(cx: &mut Cx, cfg: &Haos, storage: &Storage, tmp: &str) -> Result<String> {
    let vmid = cfg.vmid.to_string();
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
        // Under --root qm only is recorded: the name the first disk of a new VM gets there.
        return Ok(storage.disk_volume(cfg.vmid, 0));
    }
    parse_imported(&format!("{}\n{}", out.stdout, out.stderr)).ok_or_else(|| {
        Error::msg(format!(
            "`qm disk import` did not say which volume it made (output: {})",
            out.stdout.trim()
        ))
    })
}

/// `unused0: successfully imported disk 'local-lvm:vm-100-disk-0'` (and older wordings).
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

fn ensure_started(cx: &mut Cx, cfg: &Haos) -> Result<()> {
    if !cfg.start || cx.recall("started").is_some() {
        return Ok(());
    }
    cx.run(Cmd::new("qm").args(["start", &cfg.vmid.to_string()]))?;
    cx.changes.push(format!("started VM {}", cfg.vmid));
    cx.remember("started", "1")
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

    #[test]
    fn tags() {
        assert!(is_ours("name: haos\ntags: home;pve-firstboot\nscsi0: x\n"));
        assert!(!is_ours("name: haos\ntags: pve-firstboot-not\n"));
        assert!(!is_ours("name: other\n[snap]\ntags: pve-firstboot\n"));
    }
}
