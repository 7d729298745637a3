//! Helpers shared by the integration tests: scratch trees, copies and snapshots.

#![allow(dead_code)]

pub mod behaviour;

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

/// A path a test makes or plants in the shared temp directory, removed when the guard is
/// dropped: when the test ends, and also when it fails (a panic drops it while
/// unwinding), so that `cargo test` leaves nothing behind there.
pub struct Cleanup(pub PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        match fs::symlink_metadata(&self.0) {
            Ok(m) if m.is_dir() => {
                let _ = fs::remove_dir_all(&self.0);
            }
            Ok(_) => {
                let _ = fs::remove_file(&self.0);
            }
            Err(_) => {}
        }
    }
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

/// Lines that occur twice in a file the agent wrote or changed (relative to `before`):
/// the agent must never add a line it already added.
pub fn duplicated_lines(root: &Path, before: &BTreeMap<String, Entry>) -> Vec<String> {
    let mut bad = Vec::new();
    for (path, e) in snapshot(root) {
        if before.get(&path) == Some(&e) {
            continue;
        }
        let Entry::File(data, _) = e else { continue };
        let text = String::from_utf8_lossy(&data);
        let mut seen = std::collections::HashSet::new();
        for l in text.lines().map(str::trim) {
            if l.starts_with('[') {
                // An INI section starts afresh: `enabled = true` belongs in every jail.
                seen.clear();
                continue;
            }
            if l.starts_with('#') || !l.chars().any(char::is_alphanumeric) {
                continue;
            }
            if !seen.insert(l) {
                bad.push(format!("{path}: {l}"));
            }
        }
    }
    bad
}

/// Lay out a fixture case's starting tree (`tests/fixtures/NAME`: its `base` trees, then
/// its `overlay/`) in a scratch directory.
pub fn prepare(case: &Path, name: &str) -> PathBuf {
    let base = fs::read_to_string(case.join("base")).unwrap();
    let root = scratch(&format!("fixture-{name}"));
    for b in base.split_whitespace() {
        copy_tree(&manifest().join("tests/roots").join(b), &root);
    }
    if case.join("overlay").is_dir() {
        copy_tree(&case.join("overlay"), &root);
    }
    root
}

/// After how many commands of the log each boot of `boot_machine` came (the test harness's
/// record; /proc is the kernel's, not the agent's).
pub fn booted_after(root: &Path) -> Vec<usize> {
    fs::read_to_string(root.join("proc/pvefb-test-boots"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect()
}

pub fn commands_log(root: &Path) -> String {
    fs::read_to_string(root.join("var/lib/pve-firstboot/commands.log")).unwrap_or_default()
}

pub fn bless() -> bool {
    std::env::var_os("BLESS").is_some()
}

/// The lines that differ between two texts, as a unified diff's body (`-` old, `+` new, a
/// few lines of context around each change, `@@ line N` before each hunk).
pub fn line_diff(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    // The longest common subsequence, from the end: lcs[i][j] for a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // Each line: ' ', '-' or '+', with the old line number.
    let mut ops: Vec<(char, usize, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', i, a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', i, a[i]));
            i += 1;
        } else {
            ops.push(('+', i, b[j]));
            j += 1;
        }
    }
    const CONTEXT: usize = 2;
    let near = |k: usize| {
        ops[k.saturating_sub(CONTEXT)..(k + CONTEXT + 1).min(ops.len())]
            .iter()
            .any(|o| o.0 != ' ')
    };
    let mut out = String::new();
    let mut last_shown: Option<usize> = None;
    for (k, (op, line_no, text)) in ops.iter().enumerate() {
        if !near(k) {
            continue;
        }
        if last_shown.is_none_or(|l| l + 1 != k) {
            out.push_str(&format!("@@ line {}\n", line_no + 1));
        }
        out.push_str(&format!("{op}{text}\n"));
        last_shown = Some(k);
    }
    if old.ends_with('\n') != new.ends_with('\n') && !old.is_empty() && !new.is_empty() {
        out.push_str("\\ the newline at the end of the file changed\n");
    }
    out
}

/// Write a golden file from a run (`BLESS=1`), printing every line that changes on the
/// terminal (not into the test's captured output): a blessed change is one somebody saw.
/// `None` removes the file. Returns whether anything changed.
pub fn bless_file(path: &Path, new: Option<&[u8]>) -> bool {
    use std::io::Write;
    let old = fs::read(path).ok();
    if old.as_deref() == new {
        return false;
    }
    let shown = |b: &Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
    let diff = line_diff(
        &shown(&old.as_deref()).unwrap_or_default(),
        &shown(&new).unwrap_or_default(),
    );
    let what = match (&old, new) {
        (None, _) => "new",
        (_, None) => "removed",
        _ => "changed",
    };
    let _ = writeln!(
        std::io::stderr(),
        "BLESS: {} ({what}):\n{diff}",
        path.strip_prefix(manifest()).unwrap_or(path).display()
    );
    match new {
        Some(data) => {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, data).unwrap();
        }
        None => {
            let _ = fs::remove_file(path);
        }
    }
    true
}

/// Whether the next boot reads `/etc/kernel/cmdline` (systemd-boot) rather than GRUB's
/// settings, the way proxmox-kernel-helper's `zz-proxmox-boot` (`update_esp_func`) decides:
/// only ESPs managed by proxmox-boot-tool (`/etc/kernel/proxmox-boot-uuids`), booted through
/// UEFI (`/sys/firmware/efi`), and not initialised for GRUB — which pve-installer
/// (`Proxmox/Install.pm`, `prepare_proxmox_boot_esp`) does when Secure Boot is on.
pub fn boots_systemd_boot(root: &Path) -> bool {
    let managed = fs::read_to_string(root.join("etc/kernel/proxmox-boot-uuids"))
        .is_ok_and(|s| s.lines().any(|l| !l.trim().is_empty()));
    let efi = root.join("sys/firmware/efi").exists();
    let secure_boot = fs::read(
        root.join("sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"),
    )
    .is_ok_and(|v| v.get(4) == Some(&1));
    managed && efi && !secure_boot
}

/// What booting does to a fixture tree, standing in for firmware, boot loader and kernel:
/// a new boot ID; the command line the boot loader now passes; and every
/// device whose ID is in our `options vfio-pci ids=` line bound to vfio-pci.
pub fn boot_machine(root: &Path, n: u32) {
    fs::create_dir_all(root.join("proc/sys/kernel/random")).unwrap();
    // When it booted, as the number of commands run before (`booted_after`): a power cut is
    // a boot too, and a boot after a new initramfs loads it as a reboot would.
    let ran = commands_log(root).lines().count();
    let mut boots = fs::read_to_string(root.join("proc/pvefb-test-boots")).unwrap_or_default();
    boots.push_str(&format!("boot {n} after {ran}\n"));
    fs::write(root.join("proc/pvefb-test-boots"), boots).unwrap();
    fs::write(
        root.join("proc/sys/kernel/random/boot_id"),
        format!("boot-{n}\n"),
    )
    .unwrap();
    let cmdline_path = root.join("proc/cmdline");
    let mut words: Vec<String> = fs::read_to_string(&cmdline_path)
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    if boots_systemd_boot(root) {
        let k = fs::read_to_string(root.join("etc/kernel/cmdline")).unwrap();
        words.retain(|w| w.starts_with("initrd="));
        words.extend(k.split_whitespace().map(String::from));
    } else if let Ok(g) = fs::read_to_string(root.join("etc/default/grub.d/pve-firstboot.cfg")) {
        for l in g
            .lines()
            .filter(|l| l.starts_with("GRUB_CMDLINE_LINUX_DEFAULT="))
        {
            for w in l
                .split('"')
                .nth(1)
                .unwrap_or("")
                .split_whitespace()
                .filter(|w| !w.starts_with('$'))
            {
                if !words.iter().any(|x| x == w) {
                    words.push(w.to_string());
                }
            }
        }
    }
    if !words.is_empty() {
        fs::write(&cmdline_path, format!("{}\n", words.join(" "))).unwrap();
    }
    let ids: Vec<String> = fs::read_to_string(root.join("etc/modprobe.d/pve-firstboot-vfio.conf"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("options vfio-pci ids="))
        .flat_map(|r| {
            r.split_whitespace()
                .next()
                .unwrap_or("")
                .split(',')
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    let devs = root.join("sys/bus/pci/devices");
    let Ok(rd) = fs::read_dir(&devs) else { return };
    for e in rd {
        let dev = fs::canonicalize(e.unwrap().path()).unwrap();
        let id = |f: &str| {
            fs::read_to_string(dev.join(f))
                .unwrap()
                .trim()
                .trim_start_matches("0x")
                .to_string()
        };
        if !ids.contains(&format!("{}:{}", id("vendor"), id("device"))) {
            continue;
        }
        let drivers = root.join("sys/bus/pci/drivers/vfio-pci");
        fs::create_dir_all(&drivers).unwrap();
        let link = dev.join("driver");
        let _ = fs::remove_file(&link);
        let depth = dev
            .strip_prefix(fs::canonicalize(root).unwrap())
            .unwrap()
            .components()
            .count()
            - 1;
        symlink(
            format!("{}bus/pci/drivers/vfio-pci", "../".repeat(depth - 1)),
            &link,
        )
        .unwrap();
    }
}

/// A fixture case (`tests/fixtures/CASE`) applied to the PVE 8 tree with its overlay, in
/// scratch directory `name`: the tree and what `apply` said.
pub fn apply_fixture(case: &str, name: &str) -> (PathBuf, std::process::Output) {
    let root = scratch(name);
    copy_tree(&manifest().join("tests/roots/pve8"), &root);
    let dir = manifest().join("tests/fixtures").join(case);
    if dir.join("overlay").is_dir() {
        copy_tree(&dir.join("overlay"), &root);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pve-firstboot"))
        .arg("apply")
        .arg(dir.join("answer.toml"))
        .arg("--root")
        .arg(&root)
        .output()
        .unwrap();
    (root, out)
}

/// The `[installer.*]` tables of a valid answer (a static management network on
/// 10.0.200.0/24, one ext4 disk, an answer key), with `password_line` for root's password.
pub fn installer_tables(password_line: &str) -> String {
    format!(
        r#"[installer.global]
keyboard = "de"
country = "de"
fqdn = "atlas.home.arpa"
mailto = "ops@home.arpa"
timezone = "Europe/Berlin"
{password_line}
root-ssh-keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0mZkGW7yVDdkXn0ejAtmE3Wh0LBj1w3cYkX0R3e1R ops@laptop"]

[installer.network]
source = "from-answer"
cidr = "10.0.200.10/24"
gateway = "10.0.200.1"
dns = "10.0.200.1"
filter.ID_NET_NAME_MAC = "*"

[installer.disk-setup]
filesystem = "ext4"
disk-list = ["sda"]
"#
    )
}

/// The agent with arguments and a log level, as a test runs it.
pub fn agent(args: &[&str], rust_log: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_pve-firstboot"))
        .args(args)
        .env("RUST_LOG", rust_log)
        .output()
        .unwrap()
}

/// An answer taken through every command at trace level on a fresh PVE 9 tree, each of
/// which must exit 0: `validate --print`, `plan`, `apply` twice, `status`, `status --json`.
/// Returns the tree and every command's output, in that order (for a search for secrets).
pub fn every_command_at_trace(
    name: &str,
    answer: &str,
) -> (std::path::PathBuf, Vec<std::process::Output>) {
    let dir = scratch(name);
    let f = dir.join("answer.toml");
    std::fs::write(&f, answer).unwrap();
    let root = dir.join("root");
    copy_tree(&manifest().join("tests/roots/pve9"), &root);
    let (a, r) = (f.to_str().unwrap(), root.to_str().unwrap());
    let mut outs = Vec::new();
    for args in [
        vec!["validate", "--print", a],
        vec!["plan", a, "--root", r],
        vec!["apply", a, "--root", r],
        vec!["apply", a, "--root", r],
        vec!["status", "--root", r],
        vec!["status", "--json", "--root", r],
    ] {
        let o = agent(&args, "trace");
        assert_eq!(
            o.status.code(),
            Some(0),
            "{args:?}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        outs.push(o);
    }
    (root, outs)
}

/// A checksum for tests that need a pinned `[haos]` (the SHA-256 of the synthetic image
/// several fixtures use).
pub const TEST_HAOS_SHA256: &str =
    "b908fdff6e6d911466ab8507108ef678dee121094b3f886ed7f0b40c184ff3dd";

/// examples/homeserver.toml as `pve-firstboot image` would embed it: `[haos]` pinned (the
/// example leaves sha256 to `image`).
pub fn pinned_example() -> String {
    let ex = std::fs::read_to_string(manifest().join("examples/homeserver.toml")).unwrap();
    let at = ex
        .find("\nversion = \"16.3\"")
        .expect("the example's [haos] version moved");
    let eol = at + 1 + ex[at + 1..].find('\n').unwrap();
    format!(
        "{}\nsha256 = \"{TEST_HAOS_SHA256}\"{}",
        &ex[..eol],
        &ex[eol..]
    )
}
