//! Never weaken a Proxmox default: the kernel settings a host ends up with, computed the
//! way systemd-sysctl applies `sysctl.d` (systemd: `src/sysctl/sysctl.c`, `sysctl.d(5)`):
//! files from /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d and /usr/lib/sysctl.d,
//! a name in an earlier directory masking the same name in a later one, all sorted by file
//! name and applied in that order, so a later assignment wins.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

const DIRS: [&str; 4] = [
    "etc/sysctl.d",
    "run/sysctl.d",
    "usr/local/lib/sysctl.d",
    "usr/lib/sysctl.d",
];

/// Every `*.conf` file systemd-sysctl would read, in the order it applies them.
fn conf_files(root: &Path, dirs: &[&str]) -> Vec<std::path::PathBuf> {
    let mut by_name: BTreeMap<String, std::path::PathBuf> = BTreeMap::new();
    for d in dirs {
        let Ok(rd) = fs::read_dir(root.join(d)) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".conf") {
                by_name.entry(name).or_insert(e.path());
            }
        }
    }
    by_name.into_values().collect()
}

/// `key = value` lines (a leading `-` only tells systemd to ignore a failure; `/` and `.`
/// separate the same path).
fn effective(files: &[std::path::PathBuf]) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for f in files {
        for l in fs::read_to_string(f).unwrap().lines() {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
                continue;
            }
            let Some((k, v)) = l.split_once('=') else {
                continue;
            };
            let k = k.trim().trim_start_matches('-').replace('/', ".");
            m.insert(k, v.trim().to_string());
        }
    }
    m
}

/// Keys whose value is a limit, where more is never a weakening.
fn lowered(proxmox: &BTreeMap<String, String>, host: &BTreeMap<String, String>) -> Vec<String> {
    proxmox
        .iter()
        .filter_map(|(k, pv)| {
            let p: i64 = pv.parse().ok()?;
            let h: i64 = host.get(k)?.parse().ok()?;
            (h < p).then(|| format!("{k} = {h}, Proxmox ships {p}"))
        })
        .collect()
}

#[test]
fn no_effective_limit_below_proxmox() {
    for tree in ["pve8", "pve9"] {
        let root = scratch(&format!("sysctl-{tree}"));
        copy_tree(&manifest().join("tests/roots").join(tree), &root);
        // What Proxmox's packages install (pve-container's inotify limits).
        let proxmox = effective(&conf_files(&root, &["usr/lib/sysctl.d"]));
        assert!(
            proxmox.contains_key("fs.inotify.max_user_instances"),
            "{tree}: the tree carries pve-container's file"
        );
        // Every phase that writes sysctl.d: host (tuning), network (forwarding),
        // hardening.
        for case in ["host-pve9", "network-pve8", "hardening-pve8"] {
            let out = Command::new(env!("CARGO_BIN_EXE_pve-firstboot"))
                .arg("apply")
                .arg(
                    manifest()
                        .join("tests/fixtures")
                        .join(case)
                        .join("answer.toml"),
                )
                .arg("--root")
                .arg(&root)
                .output()
                .unwrap();
            assert!(out.status.code().is_some(), "{case}: {out:?}");
        }
        let ours: Vec<String> = fs::read_dir(root.join("etc/sysctl.d"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            ours.iter().any(|n| n.contains("tuning"))
                && ours.iter().any(|n| n.contains("hardening")),
            "{tree}: the phases wrote their files: {ours:?}"
        );
        let host = effective(&conf_files(&root, &DIRS));
        assert_eq!(lowered(&proxmox, &host), Vec::<String>::new(), "{tree}");
        assert_eq!(host["fs.inotify.max_user_instances"], "65536", "{tree}");
        assert_eq!(
            host["vm.swappiness"], "10",
            "{tree}: our own setting applies"
        );
    }
}

/// The check itself catches a lowered limit (the tuning file as it once was).
#[test]
fn a_lower_limit_is_caught() {
    let root = scratch("sysctl-control");
    copy_tree(&manifest().join("tests/roots/pve9"), &root);
    fs::create_dir_all(root.join("etc/sysctl.d")).unwrap();
    fs::write(
        root.join("etc/sysctl.d/80-tuning.conf"),
        "fs.inotify.max_user_instances = 1024\n",
    )
    .unwrap();
    let proxmox = effective(&conf_files(&root, &["usr/lib/sysctl.d"]));
    let host = effective(&conf_files(&root, &DIRS));
    assert_eq!(lowered(&proxmox, &host).len(), 1);
}
