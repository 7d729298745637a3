//! `[backup]`: a vzdump job for the guests, and the host's own configuration archived on
//! the same schedule (the `backup` phase, `src/phases/backup.rs`).

use super::storage::storage_id_ok;
use super::*;
use crate::answer::reader::{Checker, Sp, StorageUse, Tbl};
use crate::calendar;
use toml::de::DeValue;

/// prune-backups' options (pve-docs `vzdump.adoc`, "Backup Retention"; the order
/// `generated/vzdump.conf.5-opts.adoc` lists them in is alphabetical, ours is the docs').
pub const KEEP: [&str; 6] = [
    "keep-last",
    "keep-hourly",
    "keep-daily",
    "keep-weekly",
    "keep-monthly",
    "keep-yearly",
];

pub(super) fn read_backup(c: &mut Checker, t: &mut Tbl, ours: bool) -> Option<Backup> {
    // Every key is read before any verdict, so that each gets its own error line.
    let schedule = t.req_string(
        c,
        "schedule",
        "when the job runs, a Proxmox calendar event such as \"sun 03:00\"",
    );
    let event = schedule.as_ref().and_then(|s| match calendar::parse(&s.v) {
        Ok(e) => Some(e),
        Err(why) => {
            c.error(
                &s.span,
                &t.key_path("schedule"),
                format!(
                    "\"{}\" is not a calendar event: {why} (see pve-docs calendar-events: \
                     \"[WEEKDAY] [[YEARS-]MONTHS-DAYS] [HOURS:MINUTES[:SECONDS]]\")",
                    s.v
                ),
            );
            None
        }
    });
    let storage = t.req_string(
        c,
        "storage",
        "the storage the backups go to; it must hold content `backup`, such as \"local\"",
    );
    let storage = storage.and_then(|s| {
        if storage_id_ok(&s.v) {
            c.storage_uses.push(StorageUse {
                key: t.key_path("storage"),
                id: s.v.clone(),
                span: s.span.clone(),
                content: "backup",
            });
            Some(s.v)
        } else {
            c.error(
                &s.span,
                &t.key_path("storage"),
                format!("\"{}\" is not a Proxmox storage ID", s.v),
            );
            None
        }
    });
    let guests = read_guests(c, t, ours);
    // vzdump's `mode` and `compress` (pve-docs generated/vzdump.conf.5-opts.adoc): the
    // web UI's defaults, snapshot and zstd. `none` is written as vzdump's `0`.
    let mode = t
        .one_of(c, "mode", &["snapshot", "suspend", "stop"])
        .map_or("snapshot", |s| s.v);
    let compress = match t.one_of(c, "compress", &["zstd", "gzip", "lzo", "none"]) {
        Some(Sp { v: "none", .. }) => "0",
        Some(s) => s.v,
        None => "zstd",
    };
    // Each keep-* counts backups (pve-docs vzdump.adoc, "keep-last <N>"). 0 would count as
    // not set (pve-storage src/PVE/Storage.pm, prune_mark_backup_group: only options
    // `> 0` count), so 1 is the least that means anything; the upper bound is ours.
    let mut keep = Vec::new();
    for k in KEEP {
        if let Some(v) = t.int(c, k, 1..=10_000, k) {
            keep.push((k, v.v as u32));
        }
    }
    let host_config = t.bool(c, "host-config").is_some_and(|b| b.v);
    Some(Backup {
        // Written to jobs.cfg as Proxmox would keep it (trimmed, see calendar::parse).
        schedule: crate::calendar::trim(&schedule?.v).to_string(),
        event: event?,
        storage: storage?,
        guests: guests?,
        mode,
        compress,
        keep,
        host_config,
    })
}

/// `ours`: the answer has guests of its own (HAOS, a `[[vm]]`, a `[[container]]`).
fn read_guests(c: &mut Checker, t: &mut Tbl, ours: bool) -> Option<BackupGuests> {
    let key = t.key_path("guests");
    let Some(v) = t.raw("guests") else {
        return Some(BackupGuests::Ours).filter(|_| ours_ok(c, t, ours));
    };
    match v.get_ref() {
        DeValue::String(s) => match s.as_ref() {
            "ours" => Some(BackupGuests::Ours).filter(|_| ours_ok(c, t, ours)),
            "all" => Some(BackupGuests::All),
            other => {
                c.error(
                    &v.span(),
                    &key,
                    format!("\"{other}\" is not allowed; use \"ours\", \"all\" or a list of VMIDs"),
                );
                None
            }
        },
        DeValue::Array(a) => {
            let mut ids = Vec::new();
            let mut ok = true;
            for (i, e) in a.iter().enumerate() {
                let n = match e.get_ref() {
                    DeValue::Integer(n) => {
                        i64::from_str_radix(&n.as_str().replace('_', ""), n.radix()).ok()
                    }
                    _ => None,
                };
                // VMIDs: pve-common's `pve-vmid`, 100 to 999999999 (as `[[vm]] vmid`).
                match n.filter(|n| (100..=999_999_999).contains(n)) {
                    Some(n) if ids.contains(&(n as u32)) => {
                        c.error(
                            &e.span(),
                            &format!("{key}[{i}]"),
                            format!("{n} is listed twice"),
                        );
                        ok = false;
                    }
                    Some(n) => ids.push(n as u32),
                    None => {
                        c.error(
                            &e.span(),
                            &format!("{key}[{i}]"),
                            "expected a VMID, an integer from 100 to 999999999",
                        );
                        ok = false;
                    }
                }
            }
            if a.is_empty() {
                c.error(&v.span(), &key, "an empty list backs nothing up");
                ok = false;
            }
            ok.then_some(BackupGuests::List(ids))
        }
        other => {
            c.error(
                &v.span(),
                &key,
                format!(
                    "expected \"ours\", \"all\" or an array of VMIDs, found {}",
                    reader::type_name(other)
                ),
            );
            None
        }
    }
}

fn ours_ok(c: &mut Checker, t: &Tbl, ours: bool) -> bool {
    if !ours {
        let span = if t.has("guests") {
            t.key_span("guests")
        } else {
            t.span.clone()
        };
        c.error(
            &span,
            &t.key_path("guests"),
            "\"ours\" (the default) is HAOS, every [[vm]] and every [[container]], and the \
             answer has none of them; name the VMIDs or use \"all\"",
        );
        return false;
    }
    true
}
