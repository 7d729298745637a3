//! The `haos` phase (`[haos]`): Home Assistant OS in a VM, from a pinned and verified image,
//! imported once, idempotent, and cleaned up after an interruption — but only what the
//! state recorded as ours.

use super::vm::{Extra, Image, Made, Vm};
use super::{Cx, Phase};
use crate::answer::{Answer, Haos, ImageSource};
use crate::error::{Error, Result};
use crate::fetch::Source;
use crate::host::Host;
use crate::pin::Publishers;
use crate::prefetch::Download;
use crate::state::State;

pub struct HaosPhase;

pub fn release_url(version: &str) -> String {
    format!(
        "https://github.com/home-assistant/operating-system/releases/download/{version}/haos_ova-{version}.qcow2.xz"
    )
}

/// The HAOS preset of the one way to make a VM: q35 with OVMF and no pre-enrolled keys
/// (HAOS boots unsigned), its disk from the release's qcow2 image.
fn vm<'a>(cx: &Cx, cfg: &'a Haos) -> Vm<'a> {
    Vm {
        vmid: cfg.vmid,
        name: "haos",
        prefix: String::new(),
        table: "haos".into(),
        storage: cfg.storage.as_deref(),
        cores: cfg.cores,
        memory: cfg.memory,
        mac: cfg.mac(cx.answer.installer.fqdn.as_deref()),
        bridge: &cfg.bridge,
        ostype: "l26",
        disk_size: cfg.disk_size.clone(),
        start: cfg.start,
        usb: &cfg.usb,
        // HAOS starts first: the home automation is up before the other guests.
        extra: Extra {
            startup_order: Some(1),
            tablet_off: true,
            ..Extra::default()
        },
    }
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
        vm(cx, &cfg).ensure(cx, &|cx| {
            Ok(Made {
                image: Some(image(cx, &cfg)?),
                ..Made::default()
            })
        })
    }

    fn verify(&self, cx: &mut Cx) -> Result<()> {
        let cfg = cx.answer.haos.clone().expect("configured");
        vm(cx, &cfg).verify(cx)
    }
}

/// The image, once the VM is really to be made: `stable` resolved, the source chosen.
fn image(cx: &mut Cx, cfg: &Haos) -> Result<Image> {
    if cfg.sha256.is_none() && !cfg.allow_unpinned {
        super::vm::refuse_unpinned(cx, "[haos]", &format!("Home Assistant OS {}", cfg.version))?;
    }
    let version = resolve_version(cx.host, &Publishers::from_env(), &cfg.version)?;
    cx.remember("version", &version)?;
    Ok(image_of(cfg, &version))
}

fn image_of(cfg: &Haos, version: &str) -> Image {
    Image {
        what: format!("Home Assistant OS {version}"),
        source: match &cfg.image {
            ImageSource::Release => Source::Url(release_url(version)),
            ImageSource::Url(u) => Source::Url(u.clone()),
            ImageSource::Path(p) => Source::File(p.clone()),
        },
        sum: cfg.sha256.clone(),
        xz: true,
        file: format!("haos_ova-{version}.qcow2"),
    }
}

/// The image to download in the background while the phases before this one run: known
/// only when the version is pinned (`stable` is resolved by the phase itself) and the
/// image is one the phase will take (pinned, or unpinned allowed), and needed only while
/// the VM is not made.
pub fn download(host: &Host, answer: &Answer, st: &State) -> Option<Download> {
    let cfg = answer.haos.as_ref()?;
    let pinned = cfg.sha256.is_some() || cfg.allow_unpinned;
    (pinned && cfg.version != "stable" && super::vm::to_be_made(host, st, "haos", "", cfg.vmid))
        .then(|| image_of(cfg, &cfg.version).download())
}

/// `stable` becomes the current release number (recorded in the state), read from the
/// publisher exactly as `pin` reads it on the workstation: bounded in time and size, as
/// JSON ([`crate::pin::haos_stable`]). A publisher that hangs, sends without end or sends
/// something else fails the phase with the reason; it never holds the first boot.
pub fn resolve_version(host: &Host, publishers: &Publishers, version: &str) -> Result<String> {
    if version != "stable" {
        return Ok(version.to_string());
    }
    if !host.is_live() {
        return Err(Error::msg(
            "version = \"stable\" is resolved on a live host only",
        ));
    }
    crate::pin::haos_stable(host, publishers)
}
