//! `[[container]]` beyond the fixtures' golden files: `plan` shows the `pct` lines, the
//! summary on the console and in /etc/motd names each container and how to reach it, and the
//! run starts each container's template download in the background (the appliance template
//! always, an OCI image once skopeo is there), none for a container made already.

mod common;

use std::fs;

use common::*;
use pve_firstboot::answer::{self, CtSource};
use pve_firstboot::host::Host;
use pve_firstboot::phases::downloads;
use pve_firstboot::prefetch::Job;
use pve_firstboot::state::State;

const CASE: &str = "tests/fixtures/containers-and-postinstall";

/// The case's answer without the microcode (whose reboot would hold the summary back).
fn answer_text() -> String {
    fs::read_to_string(manifest().join(CASE).join("answer.toml"))
        .unwrap()
        .replace("microcode = true\n", "")
}

#[test]
fn plan_shows_the_pct_lines_and_the_summary_names_each_container() {
    let dir = scratch("containers-summary");
    let root = prepare(&manifest().join(CASE), "containers-summary");
    let answer = dir.join("answer.toml");
    fs::write(&answer, answer_text()).unwrap();
    let (a, r) = (answer.to_str().unwrap(), root.to_str().unwrap());

    let plan = agent(&["plan", a, "--root", r], "warn");
    let out = String::from_utf8_lossy(&plan.stdout);
    assert_eq!(plan.status.code(), Some(0), "{out}");
    for want in [
        "would run: pveam download local debian-13-standard_13.1-2_amd64.tar.zst\n",
        "would run: pct create 200 local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst ",
        "would run: pct create 201 local:vztmpl/nginx_1.29_sha256_",
    ] {
        assert!(out.contains(want), "{want:?} in\n{out}");
    }
    assert!(
        !root
            .join("var/lib/pve-firstboot/ct200-ssh-keys.pub")
            .exists(),
        "plan wrote"
    );

    let run = agent(&["run", "--answer", a, "--root", r], "warn");
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let motd = fs::read_to_string(root.join("etc/motd")).unwrap();
    for want in [
        "  containers   done\n",
        // On the VM bridge, behind the host's NAT: through the host.
        "CT 200 docker: ssh -J root@10.0.200.10 root@10.0.100.20\n",
        // An OCI image's application container, on vmbr0 by DHCP.
        "CT 201 nginx: `pct enter 201` on the host\n",
    ] {
        assert!(motd.contains(want), "{want:?} in\n{motd}");
    }
}

#[test]
fn templates_download_in_the_background_until_their_container_is_made() {
    let root = prepare(&manifest().join(CASE), "containers-prefetch");
    let host = Host::rooted(&root);
    let a = answer::parse("answer.toml", answer_text().as_bytes())
        .unwrap_or_else(|r| panic!("{r}"))
        .answer;
    let templates = |st: &State, run: &dyn Fn(&str) -> bool| -> Vec<(String, CtSource)> {
        downloads(&host, &a, st, run)
            .into_iter()
            .filter_map(|j| match j {
                Job::Template(p) => Some((p.storage, p.source)),
                Job::Image(_) => None,
            })
            .collect()
    };
    let mut st = State::default();
    let all = templates(&st, &|_| true);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all.iter().all(|(s, _)| s == "local"), "{all:?}");
    assert!(matches!(&all[0].1, CtSource::Template(t) if t == "debian-13-standard"));
    assert!(matches!(
        &all[1].1,
        CtSource::Oci {
            digest: Some(_),
            ..
        }
    ));
    assert!(templates(&st, &|id| id != "containers").is_empty());
    // Without skopeo the OCI image waits for the phase, which installs it.
    fs::remove_file(root.join("usr/bin/skopeo")).unwrap();
    assert_eq!(templates(&st, &|_| true).len(), 1);
    // A container made already needs no template.
    st.phase_mut("containers")
        .data
        .insert("ct200-vm".into(), "200".into());
    assert!(templates(&st, &|_| true).is_empty());
}

/// A container's volumes go on a storage that holds container volumes (`rootdir`): one that
/// holds only VM disks is refused by `validate`, before the host's `pct create` would fail
/// on it after the template's download; one made for containers alone is taken.
#[test]
fn a_containers_storage_must_hold_container_volumes() {
    let dir = scratch("containers-storage-content");
    for (content, accepted) in [
        ("images", false),
        ("rootdir", true),
        ("images\", \"rootdir", true),
    ] {
        let text = format!(
            "{}\n[[storage]]\nid = \"nas\"\ntype = \"nfs\"\nserver = \"192.168.1.10\"\n\
             export = \"/volume1/ct\"\ncontent = [\"{content}\"]\n",
            answer_text().replacen(
                "hostname = \"docker\"\n",
                "hostname = \"docker\"\nstorage = \"nas\"\n",
                1
            )
        );
        let f = dir.join("answer.toml");
        fs::write(&f, text).unwrap();
        let o = agent(&["validate", f.to_str().unwrap()], "warn");
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let refused = out.contains("error: container[0].storage:");
        assert_eq!(
            (o.status.success(), refused),
            (accepted, !accepted),
            "content {content}:\n{out}"
        );
        if !accepted {
            assert!(out.contains("not rootdir"), "{out}");
        }
    }
}
