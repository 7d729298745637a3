//! `pve-firstboot host-archive`: the host's configuration archived on the backup storage,
//! run by `pve-firstboot-host-archive.timer` on the backup job's schedule (`[backup]
//! host-config = true`), with the job's retention.
//!
//! What a restore needs (pve-docs `pmxcfs.adoc`, "Recovery": `/var/lib/pve-cluster/config.db`
//! with `/etc/hostname` and `/etc/hosts`), and what this agent and the admin set up around
//! it (network, boot and module settings, apt sources, ssh keys, our own files). The database
//! is copied consistently (`VACUUM INTO`, one read transaction: never a torn file, even while
//! pmxcfs writes), the rest by tar through the mounted `/etc/pve` and the host's files.
//!
//! Where it goes: `<storage path>/pve-host-config/`, a directory pve-storage does not list
//! (its backup listing reads `<path>/dump` and takes any `*.tar.gz` there for a guest
//! backup: pve-storage `Plugin.pm` `list_volumes`/`get_subdir_files`). The directory is ours
//! (0700; refused when something else is there), the archive is built in a private work
//! directory inside it (mkdtemp: an unguessable name) and moved to its name without
//! replacing anything and without following a link, so another client of an NFS or CIFS
//! share cannot redirect it. Nothing goes through a shell.

use crate::answer::{Answer, Backup};
use crate::error::{Error, Result};
use crate::host::{Cmd, Host};
use crate::storage;
use crate::tempdir::TempDir;

/// The database pmxcfs keeps `/etc/pve` in (pve-cluster `src/pmxcfs/cfs-utils.h`).
pub const CONFIG_DB: &str = "/var/lib/pve-cluster/config.db";
/// Where the database goes in the archive, and its place on the host.
const DB_IN_ARCHIVE: &str = "var/lib/pve-cluster/config.db";
/// The archives' directory on the storage.
pub const DIR_NAME: &str = "pve-host-config";
const PREFIX: &str = "pve-host-config-";

/// The host's files in the archive (besides the database), those that exist. A trailing
/// `*` takes every name in the directory that starts with what precedes it.
pub const PATHS: [&str; 19] = [
    "/etc/pve",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/network",
    "/etc/modules",
    "/etc/modprobe.d",
    "/etc/sysctl.d",
    "/etc/default/grub",
    "/etc/default/grub.d",
    "/etc/kernel/cmdline",
    "/etc/apt/sources.list",
    "/etc/apt/sources.list.d",
    "/etc/ssh/ssh_host_*",
    "/etc/ssh/sshd_config.d",
    "/root/.ssh",
    "/etc/pve-firstboot",
    "/etc/systemd/system/pve-firstboot*",
    "/etc/vzdump.conf",
    "/etc/fail2ban/jail.d",
];

/// What one run did.
pub struct Archived {
    /// The new archive, as a host path.
    pub archive: String,
    /// Older archives removed by the retention.
    pub pruned: Vec<String>,
}

/// The directory the archives of `b` go to: `<path of b.storage>/pve-host-config`.
pub fn dir_for(host: &Host, b: &Backup) -> Result<String> {
    let all = storage::read(host)?;
    let s = all.iter().find(|s| s.id == b.storage).ok_or_else(|| {
        Error::msg(format!(
            "no storage \"{}\" in {}",
            b.storage,
            storage::STORAGE_CFG
        ))
    })?;
    let path = s.path.as_ref().ok_or_else(|| {
        Error::msg(format!(
            "storage \"{}\" ({}) has no directory the host's archive can go to",
            s.id, s.kind
        ))
    })?;
    Ok(format!("{}/{DIR_NAME}", path.trim_end_matches('/')))
}

/// A network storage's directory is only a mount point: while the share is not mounted
/// (the server is off, pvestatd has not activated it yet), an archive written there would
/// land on the host's own disk, where nobody looks for it and the storage's mount would
/// hide it. pve-storage mounts NFS and CIFS storages at their `path` (`NFSPlugin.pm`,
/// `CIFSPlugin.pm` `activate_storage`).
fn check_mounted(host: &Host, b: &Backup) -> Result<()> {
    let all = storage::read(host)?;
    let Some(s) = all
        .iter()
        .find(|s| s.id == b.storage && (s.kind == "nfs" || s.kind == "cifs"))
    else {
        return Ok(());
    };
    let path = s.path.clone().unwrap_or_default();
    let mounts = host.read_text("/proc/mounts")?.unwrap_or_default();
    let mounted = mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(path.trim_end_matches('/')));
    if mounted {
        Ok(())
    } else {
        Err(Error::msg(format!(
            "storage \"{}\" ({}) is not mounted at {path}: not archiving onto the host's own \
             disk; is the server on? (`pvesm status` mounts it)",
            s.id, s.kind
        )))
    }
}

/// Archive the host's configuration as the answer's `[backup]` says, then prune.
pub fn run(host: &Host, answer: &Answer, now: u64) -> Result<Archived> {
    let b = answer
        .backup
        .as_ref()
        .filter(|b| b.host_config)
        .ok_or_else(|| Error::msg("the answer has no [backup] with host-config = true"))?;
    let dir = dir_for(host, b)?;
    check_mounted(host, b)?;
    let real_dir = host.private_dir(&dir)?;
    let hostname = host
        .read_text("/etc/hostname")?
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or_else(|| "host".into());
    let name = format!("{PREFIX}{}-{hostname}.tar.gz", stamp(now));
    let work = TempDir::new_in(&real_dir, ".pve-host-config")?;

    // The archive file first, 0600 and new (O_EXCL, no symlink followed): tar writes into
    // it and keeps its mode.
    let (built, _) = work.create("archive.tar.gz", 0o600)?;
    // pmxcfs's own status files (`.members`, `.vmlist`, `.rrd`, `.clusterlog`, `.version`,
    // `.debug`: pve-cluster `src/pmxcfs/pmxcfs.c`, made from memory when read) are
    // not configuration and not in config.db; the restore never needs them.
    let mut tar = Cmd::new("tar").args([
        "--create".to_string(),
        "--gzip".into(),
        format!("--file={}", built.display()),
        "--anchored".into(),
        "--exclude=etc/pve/.*".into(),
    ]);
    // The database: a consistent copy through SQLite itself (the path in an SQL string
    // literal, `'` doubled), read-only; it goes into the archive at its own place.
    if host.exists(CONFIG_DB) {
        let db = host.resolve(CONFIG_DB, true)?;
        let copy = work.path().join("config.db");
        let sql = format!(
            "VACUUM INTO '{}'",
            copy.to_string_lossy().replace('\'', "''")
        );
        let o = host
            .run_in_tree(&Cmd::new("sqlite3").args([
                "-readonly".to_string(),
                db.to_string_lossy().into_owned(),
                sql,
            ]))
            .map_err(|e| Error::msg(format!("copying {CONFIG_DB}: {e}")))?;
        if !o.success() {
            return Err(Error::msg(format!(
                "copying {CONFIG_DB}: sqlite3: {}",
                o.stderr.trim()
            )));
        }
        tar = tar.args([
            format!("--directory={}", work.path().display()),
            format!("--transform=s,^config\\.db$,{DB_IN_ARCHIVE},"),
            "config.db".to_string(),
        ]);
    }
    let files = existing(host, &PATHS)?;
    if !files.is_empty() {
        tar = tar.arg(format!(
            "--directory={}",
            host.resolve("/", true)?.display()
        ));
        tar = tar.args(files.iter().map(|f| f.trim_start_matches('/').to_string()));
    }
    let out = host.run_in_tree(&tar)?;
    if !out.success() {
        return Err(Error::msg(format!("tar: {}", out.stderr.trim())));
    }
    let archive = format!("{dir}/{name}");
    host.rename_new(&built, &archive)?;
    drop(work);
    let pruned = prune(host, &dir, &b.keep)?;
    Ok(Archived { archive, pruned })
}

/// The paths of `list` that exist on the host (a trailing `*` expanded), in order.
fn existing(host: &Host, list: &[&str]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for p in list {
        match p.strip_suffix('*') {
            Some(stem) => {
                let (dir, start) = stem.rsplit_once('/').unwrap_or(("", stem));
                let mut names: Vec<String> = host
                    .list_dir(dir)?
                    .into_iter()
                    .filter(|n| n.starts_with(start))
                    .collect();
                names.sort();
                out.extend(names.into_iter().map(|n| format!("{dir}/{n}")));
            }
            None if host.exists(p) => out.push(p.to_string()),
            None => {}
        }
    }
    Ok(out)
}

/// `YYYY_MM_DD-HH_MM_SS` in UTC, as vzdump names its files (in UTC here, so that the
/// retention's days and weeks do not depend on the host's time zone).
fn stamp(secs: u64) -> String {
    let t = crate::state::format_utc(secs);
    format!(
        "{}_{}_{}-{}_{}_{}",
        &t[0..4],
        &t[5..7],
        &t[8..10],
        &t[11..13],
        &t[14..16],
        &t[17..19]
    )
}

/// The time in an archive's name, if it is one of ours.
fn time_of(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(PREFIX)?.strip_suffix(".tar.gz")?;
    let s = rest.get(0..19)?;
    if rest.as_bytes().get(19) != Some(&b'-') {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        s.get(0..4)?,
        s.get(5..7)?,
        s.get(8..10)?,
        s.get(11..13)?,
        s.get(14..16)?,
        s.get(17..19)?
    );
    (s.as_bytes()[4] == b'_' && s.as_bytes()[10] == b'-')
        .then(|| crate::state::parse_utc(&iso))
        .flatten()
}

/// Remove the archives the retention does not keep; returns their host paths.
fn prune(host: &Host, dir: &str, keep: &[(&str, u32)]) -> Result<Vec<String>> {
    let mut archives: Vec<(u64, String)> = host
        .list_dir(dir)?
        .into_iter()
        .filter_map(|n| time_of(&n).map(|t| (t, n)))
        .collect();
    let kept = kept(&archives.iter().map(|(t, _)| *t).collect::<Vec<_>>(), keep);
    let mut removed = Vec::new();
    archives.sort();
    for (t, n) in archives {
        if !kept.contains(&t) {
            let p = format!("{dir}/{n}");
            host.remove(&p)?;
            removed.push(p);
        }
    }
    Ok(removed)
}

/// The times the retention keeps, by the rules Proxmox prunes backups with (pve-storage
/// `src/PVE/Storage.pm`, `prune_mark_backup_group` with `$prune_mark`): newest first; for
/// keep-last, then -hourly, -daily, -weekly (ISO week), -monthly, -yearly, the newest
/// archive of each period not kept yet by an earlier option, as many periods as the option
/// says. No keep-* at all keeps everything.
pub fn kept(times: &[u64], keep: &[(&str, u32)]) -> Vec<u64> {
    if keep.iter().all(|(_, n)| *n == 0) {
        return times.to_vec();
    }
    let mut sorted = times.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    // None: not decided yet; Some(true) keep; Some(false) remove.
    let mut mark: Vec<Option<bool>> = vec![None; sorted.len()];
    // The options in the order Proxmox applies them (the answer's order, pve-docs').
    for opt in crate::answer::KEEP {
        let Some(&(_, count)) = keep.iter().find(|(k, _)| *k == opt) else {
            continue;
        };
        if count == 0 {
            continue;
        }
        let id = |t: u64| period(opt, t);
        let already: Vec<String> = sorted
            .iter()
            .zip(&mark)
            .filter(|(_, m)| **m == Some(true))
            .map(|(t, _)| id(*t))
            .collect();
        let mut newly: Vec<String> = Vec::new();
        for (i, t) in sorted.iter().enumerate() {
            if mark[i].is_some() {
                continue;
            }
            let p = id(*t);
            if already.contains(&p) {
                continue;
            }
            if newly.contains(&p) {
                mark[i] = Some(false);
            } else {
                if newly.len() >= count as usize {
                    break;
                }
                newly.push(p);
                mark[i] = Some(true);
            }
        }
    }
    sorted
        .into_iter()
        .zip(mark)
        .filter(|(_, m)| *m == Some(true))
        .map(|(t, _)| t)
        .collect()
}

/// The period an option counts in, as a comparable text (UTC).
fn period(opt: &str, t: u64) -> String {
    let s = crate::state::format_utc(t);
    match opt {
        "keep-hourly" => s[0..13].to_string(),
        "keep-daily" => s[0..10].to_string(),
        "keep-weekly" => iso_week(t),
        "keep-monthly" => s[0..7].to_string(),
        "keep-yearly" => s[0..4].to_string(),
        _ => t.to_string(),
    }
}

/// `YYYY/WW` of the ISO week (`%G/%V`): the week's Thursday decides its year.
fn iso_week(t: u64) -> String {
    let days = (t / 86_400) as i64;
    // 1970-01-01 was a Thursday: Monday is 0.
    let weekday = (days + 3).rem_euclid(7);
    let thursday = days - weekday + 3;
    let year = &crate::state::format_utc((thursday * 86_400) as u64)[0..4];
    let jan1 = crate::state::parse_utc(&format!("{year}-01-01T00:00:00Z")).unwrap_or(0) / 86_400;
    format!("{year}/{:02}", (thursday - jan1 as i64) / 7 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> u64 {
        crate::state::parse_utc(s).unwrap()
    }

    #[test]
    fn names_carry_their_time() {
        let now = t("2026-11-10T12:34:56Z");
        let name = format!("{PREFIX}{}-atlas.tar.gz", stamp(now));
        assert_eq!(name, "pve-host-config-2026_11_10-12_34_56-atlas.tar.gz");
        assert_eq!(time_of(&name), Some(now));
        for other in [
            "vzdump-qemu-100-2026_11_01-03_00_00.vma.zst",
            "pve-host-config-2026_11_10-12_34_56-atlas.tar.gz.tmp",
            "pve-host-config-2026-11-10-12_34_56-atlas.tar.gz",
            "pve-host-config-2026_11_10-12_34_56.tar.gz",
        ] {
            assert_eq!(time_of(other), None, "{other}");
        }
    }

    #[test]
    fn iso_weeks() {
        // 2026-11-01 is a Sunday (week 44); 2021-01-03 a Sunday in 2020's week 53;
        // 2024-12-30 a Monday in 2025's week 1.
        assert_eq!(iso_week(t("2026-11-01T03:00:00Z")), "2026/44");
        assert_eq!(iso_week(t("2026-11-02T03:00:00Z")), "2026/45");
        assert_eq!(iso_week(t("2021-01-03T12:00:00Z")), "2020/53");
        assert_eq!(iso_week(t("2024-12-30T00:00:00Z")), "2025/01");
    }

    /// keep-last 2, then keep-daily 3 counting only days keep-last left (pve-storage
    /// `$prune_mark`: a period already kept is not counted again); keep-weekly by ISO week;
    /// nothing pruned without keep-*.
    #[test]
    fn retention_follows_proxmox_rules() {
        let mut times: Vec<u64> = (1..=10)
            .map(|d| t(&format!("2026-11-{d:02}T03:00:00Z")))
            .collect();
        times.push(t("2026-11-10T12:00:00Z"));
        times.push(t("2026-11-10T18:00:00Z"));
        let mut got = kept(&times, &[("keep-last", 2), ("keep-daily", 3)]);
        got.sort();
        let want: Vec<u64> = [
            "2026-11-07T03:00:00Z",
            "2026-11-08T03:00:00Z",
            "2026-11-09T03:00:00Z",
            "2026-11-10T12:00:00Z",
            "2026-11-10T18:00:00Z",
        ]
        .iter()
        .map(|s| t(s))
        .collect();
        assert_eq!(got, want);
        let mut got = kept(&times, &[("keep-weekly", 2)]);
        got.sort();
        assert_eq!(
            got,
            vec![t("2026-11-08T03:00:00Z"), t("2026-11-10T18:00:00Z")]
        );
        assert_eq!(kept(&times, &[]).len(), times.len());
        assert_eq!(
            kept(&times, &[("keep-last", 1)]),
            vec![t("2026-11-10T18:00:00Z")]
        );
    }
}
