//! `[[storage]]` beyond its golden files (`tests/fixtures/storage-*`): the storage secrets
//! (an SMB password, a Proxmox Backup Server token secret and encryption key) kept out of
//! everything but the files pve-storage keeps them in, `/etc/pve/priv/storage/` (0600).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::*;

const SMB_PASSWORD: &str = "Amber-Heron-Lantern-7731";
const PBS_SECRET: &str = "5f1c2a9e-token-Quartz-Maple";
const KEY_DATA: &str = "S2V5LUNvYmFsdC1XaWxsb3ctNDQw";

/// Each secret is in its priv file (0600) and in nothing else: not in any output at trace
/// level, the state, the commands log (which records the size of what went to pvesm's
/// stdin), the printed answer or storage.cfg; a second apply changes nothing.
#[test]
fn storage_secrets_stay_in_their_priv_files() {
    let fp = vec!["a4"; 32].join(":");
    let text = format!(
        "{}\n[[storage]]\nid = \"smb\"\ntype = \"cifs\"\nserver = \"nas.home.arpa\"\n\
         share = \"proxmox\"\nusername = \"pve\"\npassword = \"{SMB_PASSWORD}\"\n\n\
         [[storage]]\nid = \"offsite\"\ntype = \"pbs\"\nserver = \"pbs.home.arpa\"\n\
         datastore = \"store1\"\nusername = \"backup@pbs!pve\"\npassword = \"{PBS_SECRET}\"\n\
         fingerprint = \"{fp}\"\nencryption-key = '{{\"kdf\": null, \"data\": \"{KEY_DATA}\"}}'\n",
        installer_tables(
            "root-password-hashed = \"$y$j9T$Vn1nEMcCCNN3iqCLHgj9y/$0Gl8f5G5G2L3R3b0gkUe8OZjr3lPIFA5ZBNUjw9G1e7\""
        )
    );
    let (root, outs) = every_command_at_trace("storage-secrets", &text);
    let privs = [
        ("smb.pw", format!("password={SMB_PASSWORD}\n")),
        ("offsite.pw", format!("{PBS_SECRET}\n")),
        (
            "offsite.enc",
            format!("{{\"kdf\": null, \"data\": \"{KEY_DATA}\"}}"),
        ),
    ];
    let dirp = root.join("etc/pve/priv/storage");
    // The positive control: each is where it must be, as pve-storage writes it, 0600.
    for (name, want) in &privs {
        let p = dirp.join(name);
        assert_eq!(&fs::read_to_string(&p).unwrap(), want, "{name}");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600,
            "{name}"
        );
    }
    let mut hay = String::new();
    for o in &outs {
        hay.push_str(&String::from_utf8_lossy(&o.stdout));
        hay.push_str(&String::from_utf8_lossy(&o.stderr));
    }
    for e in walkdir::WalkDir::new(&root).into_iter().flatten() {
        if e.file_type().is_file() && !e.path().starts_with(&dirp) {
            hay.push_str(&String::from_utf8_lossy(&fs::read(e.path()).unwrap()));
        }
    }
    assert!(hay.contains("pve-firstboot: debug: "), "no debug lines");
    assert!(
        hay.contains("bytes on stdin"),
        "pvesm got no password on stdin"
    );
    for s in [SMB_PASSWORD, PBS_SECRET, KEY_DATA] {
        assert!(!hay.contains(s), "{s} leaked");
        assert!(!hay.contains(&s[..10]), "part of {s} leaked");
    }
    // `plan` shows the pvesm lines, the password going to stdin, and names the secret files
    // without their content.
    let plan = String::from_utf8_lossy(&outs[1].stdout);
    for want in [
        "would run: pvesm add cifs smb --server nas.home.arpa --share proxmox --username pve --content images --password # 25 bytes on stdin, not recorded",
        "would run: pvesm add pbs offsite --server pbs.home.arpa --datastore store1 --username 'backup@pbs!pve' --fingerprint ",
        "--content backup --encryption-key /etc/pve/priv/storage/offsite.enc --password # 28 bytes on stdin, not recorded",
        "--- /etc/pve/priv/storage/smb.pw",
    ] {
        assert!(plan.contains(want), "plan lacks {want:?}:\n{plan}");
    }
    let second = String::from_utf8_lossy(&outs[3].stdout);
    assert!(second.contains("storage: done"), "{second}");
    assert!(!second.contains("changed:"), "{second}");
}

/// A backup job written disabled because its storage is not there (`storage-nas-disabled`:
/// the NAS storage disabled in storage.cfg) is said in the summary on the console and in
/// /etc/motd, where the admin looks first, though the backup phase is done.
#[test]
fn a_disabled_backup_job_is_in_the_summary() {
    let root = scratch("storage-summary").join("root");
    copy_tree(&manifest().join("tests/roots/pve9"), &root);
    let case = manifest().join("tests/fixtures/storage-nas-disabled");
    copy_tree(&case.join("overlay"), &root);
    let answer = case.join("answer.toml");
    let run = agent(
        &[
            "run",
            "--answer",
            answer.to_str().unwrap(),
            "--root",
            root.to_str().unwrap(),
        ],
        "warn",
    );
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let motd = fs::read_to_string(root.join("etc/motd")).unwrap();
    for want in [
        "  backup       done\n",
        "  backup job DISABLED until storage nas answers; then `pve-firstboot reset && pve-firstboot run`\n",
    ] {
        assert!(motd.contains(want), "{want:?} in\n{motd}");
    }
}

/// What the summary tells the admin once the NAS answers — `pve-firstboot reset && pve-firstboot
/// run` — tries the storage again: `reset` forgets the state, not the list of storages the
/// phase added disabled (`storage-nas-retried`), so the storage is removed and added again
/// (pve-storage's `create` activates it) and leaves the list; one an admin disabled, listed
/// nowhere (`storage-nas-disabled`), is left as it is.
#[test]
fn reset_and_run_try_a_storage_added_disabled_again() {
    let (root, out) = apply_fixture("storage-nas-retried", "storage-retried");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let log = commands_log(&root);
    let remove = log.find("pvesm remove nas\n").expect(&log);
    let add = log.find("pvesm add nfs nas ").expect(&log);
    assert!(remove < add, "removed after adding:\n{log}");
    assert!(
        !root
            .join("var/lib/pve-firstboot/storages-added-disabled")
            .exists(),
        "nas is still listed as added disabled"
    );
    let (root, out) = apply_fixture("storage-nas-disabled", "storage-admin-disabled");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let log = commands_log(&root);
    assert!(
        !log.contains("pvesm remove") && !log.contains("pvesm add"),
        "{log}"
    );
}

/// The commands log of a fixture case applied once to its tree, with what `apply` printed
/// and its exit status.
fn applied(case: &str, name: &str) -> (String, String, Option<i32>) {
    let dir = manifest().join("tests/fixtures").join(case);
    let root = prepare(&dir, name);
    let (a, r) = (dir.join("answer.toml"), root.to_str().unwrap().to_string());
    let o = agent(&["apply", a.to_str().unwrap(), "--root", &r], "warn");
    (
        commands_log(&root),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        o.status.code(),
    )
}

/// A data disk in use (`storage-disk-refused`: the install's own disk, held by LVM) is never
/// wiped or taken, `wipe = true` or not: the phase fails naming it, and no disk API call
/// of any kind is made for its storage.
#[test]
fn a_disk_in_use_is_never_wiped_even_with_wipe_true() {
    let (commands, out, code) = applied("storage-disk-refused", "storage-in-use");
    assert_ne!(code, Some(0), "{out}");
    for l in commands.lines() {
        let w = common::behaviour::words(l);
        assert!(
            !(w.first().is_some_and(|p| p == "pvesh") && l.contains("/disks/")),
            "a disk API call on a run that must take no disk: {l}"
        );
    }
    assert!(
        out.contains("(/dev/sda) is in use and never taken"),
        "the in-use disk is not named:\n{out}"
    );
}

/// A changed answer that would change a fixed option (`storage-changed-later`: storage
/// `old` moved to another NFS server) is refused with what to do, and never handed to
/// `pvesm set`, which pve-storage refuses for `fixed` options (NFSPlugin.pm,
/// CIFSPlugin.pm, PBSPlugin.pm `options`); the other storages' changes are made.
#[test]
fn a_fixed_option_is_never_changed_by_pvesm_set() {
    let (commands, out, code) = applied("storage-changed-later", "storage-fixed");
    assert_ne!(code, Some(0), "{out}");
    for l in commands.lines() {
        let w = common::behaviour::words(l);
        if w.len() > 2 && w[0] == "pvesm" && w[1] == "set" {
            assert!(w[2] != "old", "{l}");
            for fixed in ["--server", "--export", "--path", "--share", "--datastore"] {
                assert!(!w.iter().any(|x| x == fixed), "a fixed option set: {l}");
            }
        }
    }
    assert!(
        out.contains("pve-storage cannot change a nfs storage's server")
            && out.contains("`pvesm remove old`"),
        "the refusal does not say what to do:\n{out}"
    );
    assert!(
        commands.contains("pvesm set nas --content iso,backup"),
        "{commands}"
    );
}
