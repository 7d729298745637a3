//! `[backup]` and `[notify.smtp]` beyond their golden files (`tests/fixtures/backup-*`):
//! `host-archive` run on a tree with the real sqlite3 and tar (its pruning is unit-tested
//! in `src/hostarchive.rs` against the rules Proxmox prunes backups by); every schedule's
//! timer form read by the real
//! `systemd-analyze calendar`; and the smtp password kept out of everything but the priv
//! file (0600).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Each schedule Proxmox documents, as the timer writes it, is read by systemd as the
/// moments pve-docs (`calendar-events`) gives for it: `systemd-analyze calendar` prints its
/// normalized form, which must be the one written beside it here, and a next elapse.
/// systemd-analyze is part of systemd, on every machine this suite runs on: without it the
/// test fails rather than pass unchecked.
#[test]
fn timer_schedules_are_read_by_systemd() {
    let version = Command::new("systemd-analyze").arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "systemd-analyze (systemd) is needed to check the timer's schedules: {version:?}"
    );
    for (s, moments) in [
        ("sun 03:00", "Sun *-*-* 03:00:00"),
        ("mon..fri", "Mon..Fri *-*-* 00:00:00"),
        ("sat,sun", "Sat,Sun *-*-* 00:00:00"),
        ("12:05", "*-*-* 12:05:00"),
        ("*/5", "*-*-* *:00,05,10,15,20,25,30,35,40,45,50,55:00"),
        ("mon..wed 30/10", "Mon..Wed *-*-* *:30,40,50:00"),
        (
            "mon..fri 8..17,22:0/15",
            "Mon..Fri *-*-* 08,09,10,11,12,13,14,15,16,17,22:00,15,30,45:00",
        ),
        ("fri 12..13:5/20", "Fri *-*-* 12,13:05,25,45:00"),
        ("12/2:5", "*-*-* 12,14,16,18,20,22:05:00"),
        ("*-05", "*-*-05 00:00:00"),
        // The first Saturday of every month.
        ("Sat *-1..7 15:00", "Sat *-*-01,02,03,04,05,06,07 15:00:00"),
        // A weekday range across the week's end.
        ("sat..mon 1:00", "Mon,Sat,Sun *-*-* 01:00:00"),
        ("daily", "*-*-* 00:00:00"),
        ("weekly", "Mon *-*-* 00:00:00"),
        ("monthly", "*-*-01 00:00:00"),
        ("quarterly", "*-01,04,07,10-01 00:00:00"),
        ("02:30 UTC", "*-*-* 02:30:00 UTC"),
        ("2030-10-21", "2030-10-21 00:00:00"),
    ] {
        let ev = pve_firstboot::calendar::parse(s).unwrap();
        let o = Command::new("systemd-analyze")
            .args(["calendar", &ev.systemd()])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success()
                && out.contains(&format!("Normalized form: {moments}\n"))
                && out.contains("Next elapse:"),
            "{s} -> {}: systemd reads other moments than {moments}:\n{out}{}",
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
    let (root, outs) = every_command_at_trace("backup-secrets", &text);
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
/// A host tree for `host-archive --root`: a pmxcfs database made by the real sqlite3, the
/// installed answer with `[backup] host-config`, a storage `local` whose path has a space
/// and shell syntax in it (a path is data, never code), and a few of the host's files.
fn archive_root(name: &str, keep: &str) -> std::path::PathBuf {
    let root = scratch(name);
    let store = "/srv/back up/$(touch pwned)";
    for d in [
        "etc/pve",
        "etc/network",
        "etc/pve-firstboot",
        "var/lib/pve-cluster",
        "root/.ssh",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::create_dir_all(root.join(store.trim_start_matches('/'))).unwrap();
    fs::write(root.join("etc/hostname"), "atlas\n").unwrap();
    fs::write(
        root.join("etc/hosts"),
        "127.0.0.1 localhost\n10.0.0.2 atlas.home.arpa atlas\n",
    )
    .unwrap();
    fs::write(root.join("etc/network/interfaces"), "auto lo\n").unwrap();
    // One of pmxcfs's status files, which the archive leaves out.
    fs::write(root.join("etc/pve/.members"), "{}\n").unwrap();
    fs::write(
        root.join("root/.ssh/authorized_keys"),
        "ssh-ed25519 AAAA admin\n",
    )
    .unwrap();
    fs::write(
        root.join("etc/pve/storage.cfg"),
        format!("dir: local\n\tpath {store}\n\tcontent iso,vztmpl,backup\n"),
    )
    .unwrap();
    let db = root.join("var/lib/pve-cluster/config.db");
    let o = Command::new("sqlite3")
        .arg(&db)
        .arg("CREATE TABLE tree (inode INTEGER PRIMARY KEY, name TEXT, data BLOB); INSERT INTO tree VALUES (0, 'storage.cfg', 'dir: local');")
        .output()
        .expect("sqlite3 (Debian's sqlite3, which pve-cluster depends on)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let answer =
        fs::read_to_string(manifest().join("tests/answers/ok/backup-defaults.toml")).unwrap();
    let answer = answer.replace(
        "[backup]\n",
        &format!("[backup]\nhost-config = true\n{keep}"),
    );
    fs::write(
        root.join("etc/pve-firstboot/answer.toml"),
        format!("{}\n{answer}", pve_firstboot::answer::INSTALLED_HEADER),
    )
    .unwrap();
    root
}

/// `pve-firstboot host-archive`: one 0600 archive in `<storage>/pve-host-config` (not in
/// `dump/`, which Proxmox lists as guest backups) holding a consistent copy of config.db
/// and the files a restore needs; the storage path's shell syntax stays data; a second run
/// with keep-last 1 prunes the first; no work directory is left.
#[test]
fn host_archive_archives_the_database_and_prunes() {
    let root = archive_root("host-archive", "keep-last = 1\n");
    let run = || {
        let o = agent(&["host-archive", "--root", root.to_str().unwrap()], "warn");
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let out = run();
    assert!(!root.join("pwned").exists() && !std::path::Path::new("pwned").exists());
    let dir = root.join("srv/back up/$(touch pwned)/pve-host-config");
    let first = names(&dir);
    assert_eq!(first.len(), 1, "{first:?} ({out})");
    assert!(first[0].starts_with("pve-host-config-") && first[0].ends_with("-atlas.tar.gz"));
    assert!(!root.join("srv/back up/$(touch pwned)/dump").exists());
    let path = dir.join(&first[0]);
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let list = Command::new("tar").arg("-tzf").arg(&path).output().unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    for want in [
        "var/lib/pve-cluster/config.db",
        "etc/hostname",
        "etc/hosts",
        "etc/network/interfaces",
        "etc/pve/storage.cfg",
        "etc/pve-firstboot/answer.toml",
        "root/.ssh/authorized_keys",
    ] {
        assert!(listed.lines().any(|l| l == want), "{want} not in {listed}");
    }
    assert!(!listed.contains("etc/pve/.members"), "{listed}");
    // The database in the archive is a database, with the row.
    let x = scratch("host-archive-x");
    let o = Command::new("tar")
        .arg("-xzf")
        .arg(&path)
        .arg("-C")
        .arg(&x)
        .output()
        .unwrap();
    assert!(o.status.success());
    let q = Command::new("sqlite3")
        .arg(x.join("var/lib/pve-cluster/config.db"))
        .arg("SELECT name FROM tree")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&q.stdout).trim(), "storage.cfg");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = run();
    let second = names(&dir);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(second, first);
    assert!(out.contains("pruned: "), "{out}");
}

/// A symlink planted where the archives' directory goes (another client of the share) is
/// refused, and nothing is written through it.
#[test]
fn host_archive_refuses_a_planted_symlink() {
    let root = archive_root("host-archive-link", "");
    let victim = root.join("victim");
    fs::create_dir_all(&victim).unwrap();
    std::os::unix::fs::symlink(
        "/victim",
        root.join("srv/back up/$(touch pwned)/pve-host-config"),
    )
    .unwrap();
    let o = agent(&["host-archive", "--root", root.to_str().unwrap()], "warn");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a directory"));
    assert!(names(&victim).is_empty());
}
