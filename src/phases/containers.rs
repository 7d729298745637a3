//! The `containers` phase (`[[container]]`): LXC containers from a Proxmox appliance template
//! or an OCI image, each made once by `pct create` through the one way to make a guest
//! (`src/phases/vm.rs`: the same tag, adoption, record-before-create, clean-up of a half-made
//! one, and `pct set` for a changed answer). The template comes onto a template storage as
//! Proxmox brings it there (`src/templates.rs`), downloaded in the background from the start
//! of the run. It runs after `vms`; at boot containers start after HAOS and the VMs, in file
//! order.

use super::vm::{Extra, Lxc, Made, Vm};
use super::vms::each;
use super::{Cx, Phase};
use crate::answer::{Answer, CtCfg, CtSource};
use crate::error::{Error, Result};
use crate::host::Host;
use crate::state::State;
use crate::storage;
use crate::templates::{self, Pull, Pulled};

pub struct ContainersPhase;

impl Phase for ContainersPhase {
    fn id(&self) -> &'static str {
        "containers"
    }

    fn depends_on(&self) -> &'static [&'static str] {
        super::vms::GUEST_DEPS
    }

    fn not_configured(&self, a: &Answer) -> Option<String> {
        a.containers
            .is_empty()
            .then(|| "no [[container]] tables in the answer".into())
    }

    fn apply(&self, cx: &mut Cx) -> Result<()> {
        each_ct(cx, |cx, i, cfg| {
            ct(cx, i, cfg).ensure(cx, &|cx| {
                let (volid, what) = template(cx, i, cfg)?;
                Ok(Made {
                    template: Some((volid, what)),
                    ..Made::default()
                })
            })
        })
    }

    /// After the reboot: each container with its root file system, and started when it is
    /// to start.
    fn verify(&self, cx: &mut Cx) -> Result<()> {
        each_ct(cx, |cx, i, cfg| ct(cx, i, cfg).verify_and_start(cx))
    }
}

fn each_ct(cx: &mut Cx, f: impl Fn(&mut Cx, usize, &CtCfg) -> Result<()>) -> Result<()> {
    let name = |i, c: &CtCfg| format!("container[{i}] (CT {} {})", c.vmid, c.hostname);
    each(cx, |a| &a.containers, name, f)
}

/// The `[[container]]` preset of the one way to make a guest.
fn ct<'a>(cx: &Cx, i: usize, cfg: &'a CtCfg) -> Vm<'a> {
    let vb = cx
        .answer
        .network
        .as_ref()
        .and_then(|n| n.vm_bridge.as_ref())
        .filter(|b| b.name == cfg.bridge);
    let features: Vec<&str> = [("nesting=1", cfg.nesting), ("keyctl=1", cfg.keyctl)]
        .into_iter()
        .filter_map(|(f, on)| on.then_some(f))
        .collect();
    Vm {
        vmid: cfg.vmid,
        name: &cfg.hostname,
        prefix: format!("ct{}-", cfg.vmid),
        table: format!("container[{i}]"),
        storage: cfg.storage.as_deref(),
        cores: cfg.cores,
        memory: cfg.memory,
        mac: cfg.mac(cx.answer.installer.fqdn.as_deref()),
        bridge: &cfg.bridge,
        ostype: "",
        disk_size: format!("{}G", cfg.disk_gib),
        start: cfg.start,
        usb: &[],
        extra: Extra {
            // HAOS is 1, the [[vm]]s follow, then the containers in file order.
            startup_order: Some(2 + (cx.answer.vms.len() + i) as u32),
            lxc: Some(Lxc {
                unprivileged: cfg.unprivileged,
                features: (!features.is_empty()).then(|| features.join(",")),
                swap: cfg.swap,
                mounts: cfg.mounts.clone(),
                // dnsmasq on the VM bridge answers DNS there; pct would copy the host's
                // resolv.conf, whose LAN server an isolated guest cannot reach.
                nameserver: vb.map(|b| b.cidr.addr.to_string()),
                ssh_keys: cfg.ssh_keys.clone(),
            }),
            ..Extra::default()
        },
    }
}

/// What a container's template is to be: its storage (one that holds templates) and its
/// source.
fn pull_of(host: &Host, cfg: &CtCfg) -> Result<Pull> {
    let st = storage::templates(&storage::read(host)?)?;
    Ok(Pull {
        dir: st.template_dir().unwrap_or_default(),
        storage: st.id,
        source: cfg.source.clone(),
    })
}

/// The container's template on its storage (`STORAGE:vztmpl/FILE`) and what it is: taken
/// from its background download when the run started one, else brought there now. An OCI
/// image needs PVE 9.1's pve-container, skopeo, and a digest (or `allow-unpinned`).
fn template(cx: &mut Cx, i: usize, cfg: &CtCfg) -> Result<(String, String)> {
    let pull = pull_of(cx.host, cfg)?;
    if let CtSource::Oci { reference, digest } = &cfg.source {
        if digest.is_none() && !cfg.allow_unpinned {
            let table = format!("[[container]] {} ({})", i + 1, cfg.hostname);
            super::vm::refuse_unpinned(cx, &table, &format!("the OCI image {reference}"))?;
        }
        if let Some(pm) = cx.host.read_capped(templates::LXC_CREATE_PM, 1 << 20)? {
            if !String::from_utf8_lossy(&pm).contains("restore_oci_archive") {
                return Err(Error::msg(format!(
                    "this host's pve-container cannot make a container of an OCI image (it \
                     came with Proxmox VE 9.1, pve-container 6.0.15); upgrade it first \
                     ([host] upgrade = true), or use a template for {}",
                    cfg.hostname
                )));
            }
        }
        // pve-manager recommends skopeo (pve-storage's oci-registry-pull runs it); a host
        // installed without recommends lacks it.
        cx.ensure_package(&["skopeo"], templates::SKOPEO)?;
    }
    let background = cx.downloads.and_then(|d| d.take_template(&pull));
    let got = match background {
        Some(Ok(got)) => got,
        Some(Err(e)) => {
            log::warn!("{}: {e}; trying again", pull.key());
            pull.run(cx.host)?
        }
        None => pull.run(cx.host)?,
    };
    note(cx, cfg.vmid, &pull, &got);
    Ok((got.volid, got.what))
}

fn note(cx: &mut Cx, vmid: u32, pull: &Pull, got: &Pulled) {
    if got.fetched {
        cx.changes.push(format!(
            "{} downloaded to storage {}",
            got.what, pull.storage
        ));
    }
    if let Some(n) = &got.note {
        cx.results.push(format!("CT {vmid}: {n}"));
        return;
    }
    let check = match (&pull.source, got.sum.is_empty()) {
        (CtSource::Template(_), false) => format!("SHA-512 {} (the appliance index's)", got.sum),
        (CtSource::Oci { .. }, false) => format!("digest {}", got.sum),
        (CtSource::Template(_), true) => "checked by pveam".to_string(),
        (CtSource::Oci { .. }, true) => "NOT verified (allow-unpinned)".to_string(),
    };
    cx.results.push(format!(
        "CT {vmid}: {} on {}: {check}",
        got.what, pull.storage
    ));
}

/// The templates to bring in the background, of the containers not made yet: a template
/// always (the appliance index pins it), an OCI image when it is pinned or allowed unpinned
/// and skopeo is there already (installing it is the phase's, apt being busy with the host
/// phase meanwhile).
pub fn downloads(host: &Host, answer: &Answer, st: &State) -> Vec<Pull> {
    answer
        .containers
        .iter()
        .filter(|c| {
            let prefix = format!("ct{}-", c.vmid);
            let ready = match &c.source {
                CtSource::Template(_) => true,
                CtSource::Oci { digest, .. } => {
                    (digest.is_some() || c.allow_unpinned) && host.exists(templates::SKOPEO)
                }
            };
            ready && super::vm::to_be_made(host, st, "containers", &prefix, c.vmid)
        })
        .filter_map(|c| pull_of(host, c).ok())
        .collect()
}
