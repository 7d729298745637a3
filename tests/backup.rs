//! `[backup]` and `[notify.smtp]` beyond their golden files (`tests/fixtures/backup-*`):
//! the host-config archive's pruning run by the real `sh`, `awk` and `date` against the
//! rules Proxmox prunes backups by; every schedule's timer form read by the real
//! `systemd-analyze calendar`; and the smtp password kept out of everything but the priv
//! file (0600).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;
use pve_firstboot::phases::backup::host_backup_script;

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn prune(keep: &[(&str, u32)], files: &[&str]) -> Vec<String> {
    let dir = scratch(&format!("prune-{}", keep.len()));
    let d = dir.join("dump");
    fs::create_dir_all(&d).unwrap();
    for f in files {
        fs::write(d.join(f), b"x").unwrap();
    }
    let script = dir.join("host-backup");
    fs::write(&script, host_backup_script("/nonexistent", keep)).unwrap();
    let o = Command::new("sh")
        .arg(&script)
        .arg("prune")
        .arg(&d)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    names(&d)
}

fn archive(t: &str) -> String {
    format!("pve-host-config-{t}-atlas.tar.gz")
}

/// keep-last 2 keeps the two newest; keep-daily 3 then keeps the newest archive of each of
/// three more days, skipping the day keep-last already covers (pve-storage
/// `src/PVE/Storage.pm`, `$prune_mark`: a period already kept is not counted again).
#[test]
fn pruning_follows_proxmox_rules() {
    let mut files: Vec<String> = (1..=10)
        .map(|d| archive(&format!("2026_11_{d:02}-03_00_00")))
        .collect();
    files.push(archive("2026_11_10-12_00_00"));
    files.push(archive("2026_11_10-18_00_00"));
    let foreign = "vzdump-qemu-100-2026_11_01-03_00_00.vma.zst";
    files.push(foreign.to_string());
    files.push(archive("2026_11_11-03_00_00") + ".tmp");
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let left = prune(&[("keep-last", 2), ("keep-daily", 3)], &refs);
    let mut want = vec![
        archive("2026_11_07-03_00_00"),
        archive("2026_11_08-03_00_00"),
        archive("2026_11_09-03_00_00"),
        archive("2026_11_10-12_00_00"),
        archive("2026_11_10-18_00_00"),
        archive("2026_11_11-03_00_00") + ".tmp",
        foreign.to_string(),
    ];
    want.sort();
    assert_eq!(left, want);

    // keep-weekly by ISO week: 2026-11-01 is a Sunday (week 44), 11-02..11-08 week 45,
    // 11-09.. week 46; the newest of each of the two newest weeks stays.
    let left = prune(&[("keep-weekly", 2)], &refs);
    let mut want = vec![
        archive("2026_11_08-03_00_00"),
        archive("2026_11_10-18_00_00"),
        archive("2026_11_11-03_00_00") + ".tmp",
        foreign.to_string(),
    ];
    want.sort();
    assert_eq!(left, want);

    // No keep-* option: the storage's own retention for the job, every archive kept.
    let mut all: Vec<String> = files.clone();
    all.sort();
    assert_eq!(prune(&[], &refs), all);
}

#[test]
fn the_script_is_valid_sh() {
    let dir = scratch("host-backup-sh");
    let script = dir.join("s");
    fs::write(
        &script,
        host_backup_script("/var/lib/vz/dump", &[("keep-daily", 7)]),
    )
    .unwrap();
    let o = Command::new("sh").arg("-n").arg(&script).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Each schedule Proxmox documents, as the timer writes it, is what systemd reads as the
/// same moments (`systemd-analyze calendar` normalizes it; its next elapse must exist).
#[test]
fn timer_schedules_are_read_by_systemd() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze not installed: skipped");
        return;
    }
    for s in [
        "sun 03:00",
        "mon..fri",
        "sat,sun",
        "12:05",
        "*/5",
        "mon..wed 30/10",
        "mon..fri 8..17,22:0/15",
        "fri 12..13:5/20",
        "12/2:5",
        "*-05",
        "Sat *-1..7 15:00",
        "sat..mon 1:00",
        "daily",
        "weekly",
        "monthly",
        "quarterly",
        "02:30 UTC",
        "2030-10-21",
    ] {
        let ev = pve_firstboot::calendar::parse(s).unwrap();
        let o = Command::new("systemd-analyze")
            .args(["calendar", &ev.systemd()])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success() && out.contains("Next elapse:"),
            "{s} -> {}: {out}{}",
            ev.systemd(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

const SMTP_PASSWORD: &str = "Velvet-Otter-Compass-5512";

/// The smtp password is in the priv file (0600) and the answer the admin wrote, and in
/// nothing else: not in any output at trace level, the state, the commands log, the
/// printed answer, notifications.cfg or jobs.cfg.
#[test]
fn the_smtp_password_stays_in_the_priv_file() {
    let text = format!(
        "{}\n[notify]\nwebhook = \"https://ntfy.example.org/t\"\n\n[notify.smtp]\n\
         server = \"smtp.example.org\"\nmode = \"starttls\"\nusername = \"atlas@example.org\"\n\
         password = \"{SMTP_PASSWORD}\"\nfrom = \"atlas@example.org\"\n\n[backup]\n\
         schedule = \"daily\"\nstorage = \"local\"\nguests = \"all\"\nhost-config = true\n",
        installer_tables(
            "root-password-hashed = \"$y$j9T$Vn1nEMcCCNN3iqCLHgj9y/$0Gl8f5G5G2L3R3b0gkUe8OZjr3lPIFA5ZBNUjw9G1e7\""
        )
    );
    let dir = scratch("backup-secrets");
    let f = dir.join("answer.toml");
    fs::write(&f, &text).unwrap();
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
    let privf = root.join("etc/pve/priv/notifications.cfg");
    // The positive control: the search finds it where it must be.
    let p = fs::read_to_string(&privf).unwrap();
    assert!(p.contains(&format!("\tpassword {SMTP_PASSWORD}\n")), "{p}");
    assert_eq!(
        fs::metadata(&privf).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let mut hay = String::new();
    for o in &outs {
        hay.push_str(&String::from_utf8_lossy(&o.stdout));
        hay.push_str(&String::from_utf8_lossy(&o.stderr));
    }
    for e in walkdir::WalkDir::new(&root).into_iter().flatten() {
        if e.file_type().is_file() && e.path() != privf {
            hay.push_str(&String::from_utf8_lossy(&fs::read(e.path()).unwrap()));
        }
    }
    assert!(hay.contains("pve-firstboot: debug: "), "no debug lines");
    assert!(!hay.contains(SMTP_PASSWORD), "the smtp password leaked");
    assert!(!hay.contains(&SMTP_PASSWORD[..10]), "part of it leaked");
    // The second apply changed nothing.
    let second = String::from_utf8_lossy(&outs[3].stdout);
    assert!(second.contains("backup: done"), "{second}");
    assert!(!second.contains("changed:"), "{second}");
}

/// The archive itself, by the script as written (only the list of paths pointed at a
/// scratch tree, so that the test reads none of this machine's keys): a `tar.gz` named by
/// its time and host, 0600, holding the files, no `.tmp` left; a second run a second later
/// with keep-last 1 leaves only the newer archive.
#[test]
fn the_script_archives_and_prunes() {
    let dir = scratch("host-backup-run");
    let src = dir.join("src");
    fs::create_dir_all(src.join("etc/network")).unwrap();
    fs::write(src.join("etc/network/interfaces"), "auto lo\n").unwrap();
    fs::write(src.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    let dump = dir.join("dump");
    let text = host_backup_script(dump.to_str().unwrap(), &[("keep-last", 1)]);
    let list = pve_firstboot::phases::backup::HOST_PATHS.join(" ");
    assert!(text.contains(&format!("for p in {list}; do")));
    let mine = format!(
        "{0}/etc/network {0}/etc/hosts {0}/etc/absent",
        src.display()
    );
    let script = dir.join("s");
    fs::write(&script, text.replace(&list, &mine)).unwrap();
    let run = || {
        let o = Command::new("sh")
            .arg(&script)
            .env("TZ", "UTC")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run();
    let first = names(&dump);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].starts_with("pve-host-config-") && first[0].ends_with(".tar.gz"));
    let path = dump.join(&first[0]);
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let list = Command::new("tar").arg("-tzf").arg(&path).output().unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(listed.contains("etc/network/interfaces"), "{listed}");
    assert!(listed.contains("etc/hosts"), "{listed}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    run();
    let second = names(&dump);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(second, first);
}
