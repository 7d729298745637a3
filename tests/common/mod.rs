//! Helpers shared by the integration tests: scratch trees, copies and snapshots.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

pub fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty directory under target/ for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = manifest().join("target/test-scratch").join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// Copy a tree, keeping symlinks as symlinks (the /sys fixtures are made of them).
pub fn copy_tree(src: &Path, dst: &Path) {
    for e in walkdir::WalkDir::new(src).min_depth(1) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(src).unwrap();
        let to = dst.join(rel);
        let ft = e.file_type();
        if ft.is_symlink() {
            let _ = fs::remove_file(&to);
            symlink(fs::read_link(e.path()).unwrap(), &to).unwrap();
        } else if ft.is_dir() {
            fs::create_dir_all(&to).unwrap();
        } else {
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::copy(e.path(), &to).unwrap();
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    File(Vec<u8>, u32),
    Link(String),
}

/// Every file and symlink under `root` except the agent's own bookkeeping
/// (`var/lib/pve-firstboot`: state, lock, commands log), which legitimately differs
/// between an interrupted and an uninterrupted run.
pub fn snapshot(root: &Path) -> BTreeMap<String, Entry> {
    let mut m = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel.starts_with("var/lib/pve-firstboot") {
            continue;
        }
        let ft = e.file_type();
        if ft.is_symlink() {
            m.insert(
                rel,
                Entry::Link(
                    fs::read_link(e.path())
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                ),
            );
        } else if ft.is_file() {
            let mode = e.metadata().unwrap().permissions().mode() & 0o7777;
            m.insert(rel, Entry::File(fs::read(e.path()).unwrap(), mode));
        }
    }
    m
}

/// Files (relative paths) in which some meaningful line occurs twice: the agent must
/// never add a line it already added.
pub fn duplicated_lines(root: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    for (path, e) in snapshot(root) {
        let Entry::File(data, _) = e else { continue };
        let text = String::from_utf8_lossy(&data);
        let mut seen = std::collections::HashSet::new();
        for l in text.lines().map(str::trim) {
            if l.is_empty() || l.starts_with('#') || l.starts_with('[') {
                continue;
            }
            if !seen.insert(l) {
                bad.push(format!("{path}: {l}"));
            }
        }
    }
    bad
}

pub fn commands_log(root: &Path) -> String {
    fs::read_to_string(root.join("var/lib/pve-firstboot/commands.log")).unwrap_or_default()
}

pub fn bless() -> bool {
    std::env::var_os("BLESS").is_some()
}
