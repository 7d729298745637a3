//! The `backup` phase: Proxmox's own notification system mailing through `[notify.smtp]`,
//! a vzdump job for the guests (`[backup]`), and a systemd timer that archives the host's
//! configuration on the same schedule (`host-config = true`).
//!
//! One phase for both tables because they are one piece of Proxmox configuration: the
//! backup job reports through the notification system (`notification-mode`), and both
//! are written only into a mounted pmxcfs (`/etc/pve`). Nothing is written before every
//! check has passed (the storage, the node's files): a refused storage leaves the host as
//! it was.
//!
//! Files, each in the format Proxmox itself writes (section config: `TYPE: ID`, then one
//! `\tKEY VALUE` line per property, a blank line between sections; proxmox-rs
//! `proxmox-section-config/src/lib.rs`, `write_do` and `default_format_section_content`,
//! which write an array as one line per item):
//! - `/etc/pve/notifications.cfg`: `smtp: pve-firstboot`, and Proxmox's `default-matcher`
//!   routed to it instead of `mail-to-root` — what an admin does in the web UI (Datacenter →
//!   Notifications) to have every notification mailed once, through the relay. Proxmox
//!   supplies `mail-to-root` and `default-matcher` itself when the file does not name them
//!   (proxmox-rs `proxmox-notify/src/context/pve.rs`, `DEFAULT_CONFIG`, merged in
//!   `proxmox-notify/src/lib.rs` `Config::new`); every other section is kept as it is.
//!   No matcher of our own: section config keeps one entry per section *name*
//!   (`proxmox-section-config`, `SectionConfigData`, keyed by id), so the matcher called
//!   `pve-firstboot` that earlier versions wrote beside the target of that name replaced
//!   the target when Proxmox read the file. A second run removes that old matcher.
//! - `/etc/pve/priv/notifications.cfg`: `smtp: pve-firstboot` with its `password` only
//!   (`SmtpPrivateConfig`, "saved to a separate configuration file with stricter
//!   permissions (root:root 0600)": proxmox-notify `src/endpoints/smtp.rs`).
//! - `/etc/pve/jobs.cfg`: `vzdump: backup-pve-firstboot` (pve-manager `PVE/API2/Backup.pm`
//!   `create_job`; the scheduler makes the job's state file itself for a job it finds
//!   without one: `PVE/Jobs.pm` `synchronize_job_states_with_config`).

use crate::answer::{Backup, BackupGuests, Smtp, StorageKind};
use crate::error::{Error, Result};
use crate::host::Cmd;
use crate::phases::{Cx, Phase, owned_header};
use crate::storage;

pub const NOTIFICATIONS_CFG: &str = "/etc/pve/notifications.cfg";
pub const NOTIFICATIONS_PRIV: &str = "/etc/pve/priv/notifications.cfg";
pub const JOBS_CFG: &str = "/etc/pve/jobs.cfg";
/// Our smtp target's name (proxmox-notify `ENTITY_NAME_SCHEMA`: a safe ID of 2 to 32
/// characters). No other section of ours may have it: targets and matchers share one
/// namespace (proxmox-notify `api/mod.rs`, `ensure_unique`).
pub const TARGET: &str = "pve-firstboot";
/// Proxmox's built-in matcher and target (proxmox-notify `context/pve.rs`).
pub const DEFAULT_MATCHER: &str = "default-matcher";
pub const MAIL_TO_ROOT: &str = "mail-to-root";
/// The comment of a `default-matcher` section the agent wrote itself (the file had none):
/// such a section is removed again with `[notify.smtp]`, which brings Proxmox's built-in
/// one back.
const MATCHER_COMMENT: &str =
    "Route all notifications to the [notify.smtp] relay (written by pve-firstboot)";
/// The job's ID: `backup-` and a name, like the web UI's IDs (`backup-` and 13 characters
/// of a UUID: pve-manager `www/manager6/panel/BackupAdvancedOptions.js`).
pub const JOB_ID: &str = "backup-pve-firstboot";
/// The shell script earlier versions archived with; removed where found.
pub const HOST_BACKUP: &str = "/usr/local/sbin/pve-firstboot-host-backup";
/// The agent as the hook installs it: the timer's service runs `host-archive` with it.
const AGENT: &str = "/usr/local/sbin/pve-firstboot";
pub const HOST_SERVICE: &str = "/etc/systemd/system/pve-firstboot-host-backup.service";
pub const HOST_TIMER: &str = "/etc/systemd/system/pve-firstboot-host-backup.timer";
const TIMER_UNIT: &str = "pve-firstboot-host-backup.timer";
/// What pmxcfs shows for every file (root:www-data 0640), and for `priv/` (0600).
const PMXCFS_MODE: u32 = 0o640;
const PRIV_MODE: u32 = 0o600;

pub struct BackupPhase;

impl Phase for BackupPhase {
    fn id(&self) -> &'static str {
        "backup"
    }

    fn not_configured(&self, a: &crate::answer::Answer) -> Option<String> {
        let smtp = a.notify.as_ref().is_some_and(|n| n.smtp.is_some());
        (a.backup.is_none() && !smtp)
            .then(|| "no [backup] and no [notify.smtp] in the answer".into())
    }

    fn apply(&self, cx: &mut Cx) -> Result<()> {
        crate::phases::hardening::wait_for_pmxcfs(
            cx,
            "backup jobs and notification targets are configured",
        )?;
        let smtp = cx.answer.notify.as_ref().and_then(|n| n.smtp.clone());
        let backup = cx.answer.backup.clone();
        // Every check first: nothing is written when one fails.
        let found = match &backup {
            Some(b) => Some(check_storage(cx, b)?),
            None => None,
        };
        // A table taken out of the answer takes its sections with it (the other one still
        // runs this phase; with neither, the phase does not run and they stay).
        match &smtp {
            Some(s) => notifications(cx, s)?,
            None => {
                let old = cx.read(NOTIFICATIONS_CFG)?.unwrap_or_default();
                let text = with_section(&old, "matcher", TARGET, None);
                let new = routed(&with_section(&text, "smtp", TARGET, None), false);
                if new != old {
                    cx.write(NOTIFICATIONS_CFG, &new, PMXCFS_MODE)?;
                }
                edit(cx, NOTIFICATIONS_PRIV, &[("smtp", None)], PRIV_MODE)?;
            }
        }
        match (&backup, found) {
            (Some(b), Some(found)) => {
                job(cx, b, found.waiting.is_none())?;
                if let Some(why) = &found.waiting {
                    cx.results.push(format!(
                        "backup job {JOB_ID} written disabled: {why}; the next run (`pve-firstboot \
                         reset && pve-firstboot run`) enables it once the storage answers"
                    ));
                }
                host_config(cx, found.dir.as_deref(), Some(b))?;
            }
            _ => {
                edit_id(cx, JOBS_CFG, "vzdump", JOB_ID, None, PMXCFS_MODE)?;
                host_config(cx, None, None)?;
            }
        }
        Ok(())
    }

    fn verify(&self, cx: &mut Cx) -> Result<()> {
        if cx.answer.backup.is_some() {
            let jobs = cx.read(JOBS_CFG)?.unwrap_or_default();
            if !sections(&jobs)
                .iter()
                .any(|s| s.kind == "vzdump" && s.id == JOB_ID)
            {
                return Err(Error::msg(format!("{JOBS_CFG} has no job {JOB_ID}")));
            }
            cx.results
                .push(format!("backup job {JOB_ID} in {JOBS_CFG}"));
        }
        if cx.answer.backup.as_ref().is_some_and(|b| b.host_config) {
            if !cx.host.exists(HOST_TIMER) {
                return Err(Error::msg(format!("{HOST_TIMER} is missing")));
            }
            cx.results
                .push(format!("host configuration archived by {TIMER_UNIT}"));
        }
        if cx.answer.notify.as_ref().is_some_and(|n| n.smtp.is_some()) {
            let cfg = cx.read(NOTIFICATIONS_CFG)?.unwrap_or_default();
            let secs = sections(&cfg);
            // As Proxmox reads the file: one section per name, so ours must be alone with
            // its name, and the default matcher must route to it.
            let named: Vec<&Section> = secs.iter().filter(|s| s.id == TARGET).collect();
            if named.len() != 1 || named[0].kind != "smtp" {
                return Err(Error::msg(format!(
                    "{NOTIFICATIONS_CFG}: the smtp target {TARGET} is missing or shares its name with another section"
                )));
            }
            let routes = secs
                .iter()
                .find(|s| s.kind == "matcher" && s.id == DEFAULT_MATCHER)
                .is_some_and(|s| matcher_targets(&s.text).iter().any(|t| t == TARGET));
            if !routes {
                return Err(Error::msg(format!(
                    "{NOTIFICATIONS_CFG}: {DEFAULT_MATCHER} does not route to {TARGET}"
                )));
            }
            cx.results.push(format!(
                "smtp target {TARGET} in {NOTIFICATIONS_CFG}, {DEFAULT_MATCHER} routed to it"
            ));
        }
        Ok(())
    }
}

/// The backup storage as the phase finds it: the archives' directory (`host-config`), and
/// why the job must wait, disabled, for a storage of the answer that is not there yet.
struct Found {
    dir: Option<String>,
    waiting: Option<String>,
}

/// The storage must be there, enabled, and hold `backup` content; with `host-config` it
/// must also be a directory the archives can go to (`<path>/pve-host-config`, see
/// `src/hostarchive.rs`). A `[[storage]]` of the answer that is missing or disabled (its
/// server did not answer when the storage phase added it) is not refused: the job is
/// written disabled, so that the host is never left without it, and the next run enables
/// it once the storage answers.
fn check_storage(cx: &Cx, b: &Backup) -> Result<Found> {
    let all = storage::read(cx.host)?;
    if let Some(def) = cx.answer.storages.iter().find(|d| d.id == b.storage) {
        let on_host = all.iter().find(|s| s.id == b.storage);
        // Under --root pvesm is only recorded: what the storage phase applied stands for
        // storage.cfg.
        let applied = !cx.host.is_live()
            && cx
                .recall_of("storage", &format!("applied:{}", def.id))
                .is_some();
        let waiting = match on_host {
            _ if applied => None,
            Some(s) if s.disabled => Some(format!(
                "storage \"{}\" is disabled in {} (its server did not answer when the storage phase added it, or an admin disabled it)",
                s.id,
                storage::STORAGE_CFG
            )),
            Some(_) => None,
            None => Some(format!(
                "storage \"{}\" is not in {} yet (see the storage phase)",
                def.id,
                storage::STORAGE_CFG
            )),
        };
        if waiting.is_some() || applied {
            let path = match &def.kind {
                StorageKind::Nfs { path, .. } | StorageKind::Cifs { path, .. } => Some(
                    path.clone()
                        .unwrap_or_else(|| format!("/mnt/pve/{}", def.id)),
                ),
                StorageKind::Disks {
                    kind: crate::answer::DiskKind::Dir,
                    ..
                } => Some(format!("/mnt/pve/{}", def.id)),
                _ => None,
            };
            let dir = match (b.host_config, path) {
                (false, _) => None,
                (true, Some(p)) => Some(format!(
                    "{}/{}",
                    p.trim_end_matches('/'),
                    crate::hostarchive::DIR_NAME
                )),
                (true, None) => {
                    return Err(Error::msg(format!(
                        "backup.host-config: storage \"{}\" ({}) is not a directory the host's archive can be written to; use a directory storage such as \"local\"",
                        def.id,
                        def.type_name()
                    )));
                }
            };
            return Ok(Found { dir, waiting });
        }
    }
    let names = || {
        let v: Vec<&str> = all
            .iter()
            .filter(|s| !s.disabled && s.content.iter().any(|c| c == "backup"))
            .map(|s| s.id.as_str())
            .collect();
        if v.is_empty() {
            "none enabled".to_string()
        } else {
            v.join(", ")
        }
    };
    let Some(s) = all.iter().find(|s| s.id == b.storage) else {
        return Err(Error::msg(format!(
            "backup.storage: the host has no storage \"{}\" in {}; storages with backup content: {}",
            b.storage,
            storage::STORAGE_CFG,
            names()
        )));
    };
    if s.disabled || !s.content.iter().any(|c| c == "backup") {
        return Err(Error::msg(format!(
            "backup.storage: storage \"{}\" {}; storages with backup content: {}",
            s.id,
            if s.disabled {
                "is disabled".to_string()
            } else {
                format!("holds no backups (content {})", s.content.join(","))
            },
            names()
        )));
    }
    if !b.host_config {
        return Ok(Found {
            dir: None,
            waiting: None,
        });
    }
    match &s.path {
        Some(_) => Ok(Found {
            dir: Some(crate::hostarchive::dir_for(cx.host, b)?),
            waiting: None,
        }),
        None => Err(Error::msg(format!(
            "backup.host-config: storage \"{}\" ({}) is not a directory the host's archive can be written to; use a directory storage such as \"local\"",
            s.id, s.kind
        ))),
    }
}

/// A section of a section-config file, its text kept as it was.
pub struct Section {
    pub kind: String,
    pub id: String,
    pub text: String,
}

/// Split a section-config file into its sections (a line `TYPE: ID` starts one; the
/// indented lines after it are its properties). Lines before the first section (comments)
/// are kept with an empty kind.
pub fn sections(text: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for line in text.lines() {
        let header = (!line.starts_with([' ', '\t']) && !line.trim().is_empty())
            .then(|| line.split_once(':'))
            .flatten()
            .filter(|(k, _)| !k.starts_with('#'));
        match header {
            Some((k, id)) => out.push(Section {
                kind: k.trim().to_string(),
                id: id.trim().to_string(),
                text: format!("{line}\n"),
            }),
            None if line.trim().is_empty() => {}
            None => match out.last_mut() {
                Some(s) => {
                    s.text.push_str(line);
                    s.text.push('\n');
                }
                None => out.push(Section {
                    kind: String::new(),
                    id: String::new(),
                    text: format!("{line}\n"),
                }),
            },
        }
    }
    out
}

/// `text` with the section `kind: id` set to `new` (`None`: removed), every other section
/// kept in its place; a new section goes last. Sections are separated by a blank line.
pub fn with_section(text: &str, kind: &str, id: &str, new: Option<&str>) -> String {
    let mut secs = sections(text);
    let pos = secs.iter().position(|s| s.kind == kind && s.id == id);
    match (pos, new) {
        (Some(i), Some(n)) => secs[i].text = n.to_string(),
        (Some(i), None) => {
            secs.remove(i);
        }
        (None, Some(n)) => secs.push(Section {
            kind: kind.into(),
            id: id.into(),
            text: n.to_string(),
        }),
        (None, None) => {}
    }
    secs.iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Set (or, with `None`, remove) our sections named [`TARGET`] in a section-config file;
/// the file is written only when its text changes (an admin's priv/ is left alone).
fn edit(cx: &mut Cx, path: &str, secs: &[(&str, Option<&str>)], mode: u32) -> Result<()> {
    let old = cx.read(path)?;
    let text = old.clone().unwrap_or_default();
    let new = secs.iter().fold(text.clone(), |t, (kind, body)| {
        with_section(&t, kind, TARGET, *body)
    });
    if new != text {
        cx.write(path, &new, mode)?;
    }
    Ok(())
}

fn edit_id(
    cx: &mut Cx,
    path: &str,
    kind: &str,
    id: &str,
    body: Option<&str>,
    mode: u32,
) -> Result<()> {
    let text = cx.read(path)?.unwrap_or_default();
    let new = with_section(&text, kind, id, body);
    if new != text {
        cx.write(path, &new, mode)?;
    }
    Ok(())
}

/// One section as proxmox-section-config writes it: the header, then the properties in
/// the order given (proxmox-notify serializes through serde_json's sorted map, so we give
/// them sorted).
fn section(kind: &str, id: &str, props: &[(&str, String)]) -> String {
    let mut s = format!("{kind}: {id}\n");
    for (k, v) in props {
        s.push_str(&format!("\t{k} {v}\n"));
    }
    s
}

fn notifications(cx: &mut Cx, m: &Smtp) -> Result<()> {
    // SmtpConfig (proxmox-notify src/endpoints/smtp.rs): kebab-case keys; `port` left out
    // means Proxmox's default for the mode; `mailto` the address Proxmox's own mails go to.
    let mut props = vec![
        (
            "comment",
            "Written by pve-firstboot ([notify.smtp] of its answer)".to_string(),
        ),
        ("from-address", m.from.clone()),
        ("mailto", cx.answer.installer.mailto.clone()),
        ("mode", m.mode.to_string()),
    ];
    if let Some(p) = m.port {
        props.push(("port", p.to_string()));
    }
    props.push(("server", m.server.clone()));
    if let Some(u) = &m.username {
        props.push(("username", u.clone()));
    }
    let target = section("smtp", TARGET, &props);
    let old = cx.read(NOTIFICATIONS_CFG)?.unwrap_or_default();
    // The matcher of the same name that earlier versions wrote goes first: Proxmox read it
    // in place of the target.
    let text = with_section(&old, "matcher", TARGET, None);
    let new = routed(&with_section(&text, "smtp", TARGET, Some(&target)), true);
    if new != old {
        cx.write(NOTIFICATIONS_CFG, &new, PMXCFS_MODE)?;
    }
    // The password: only in priv/, 0600 (what pmxcfs shows for priv/ anyway).
    let private = m
        .password
        .as_ref()
        .map(|p| section("smtp", TARGET, &[("password", p.expose().to_string())]));
    edit(
        cx,
        NOTIFICATIONS_PRIV,
        &[("smtp", private.as_deref())],
        PRIV_MODE,
    )
}

/// The targets a matcher section routes to (its `target` lines; proxmox-section-config
/// writes an array as one line per item and reads either indentation).
fn matcher_targets(section: &str) -> Vec<String> {
    section
        .lines()
        .skip(1)
        .filter_map(|l| l.trim_start().strip_prefix("target"))
        .filter(|v| v.starts_with([' ', '\t']))
        .map(|v| v.trim().to_string())
        .collect()
}

/// `text` with Proxmox's `default-matcher` routed to our smtp target (`to_smtp`) or back to
/// Proxmox's `mail-to-root`: one mail per notification, through the relay when there is one
/// (the UI's way: the matcher's target list changed, not a second matcher beside it, which
/// would mail every notification twice, the relay's and root's address being the same).
/// - The file has no `default-matcher` (Proxmox supplies its own, to `mail-to-root`):
///   routing to the relay writes one, marked as ours; routing back removes a marked one,
///   so Proxmox's built-in returns.
/// - The admin's own `default-matcher` keeps its comment, mode and rules; only
///   `mail-to-root` and our target are swapped in its target list (any other target of
///   theirs stays). Without either, ours is added.
fn routed(text: &str, to_smtp: bool) -> String {
    let secs = sections(text);
    let Some(m) = secs
        .iter()
        .find(|s| s.kind == "matcher" && s.id == DEFAULT_MATCHER)
    else {
        if !to_smtp {
            return text.to_string();
        }
        // `mode all` as in Proxmox's own default-matcher (`context/pve.rs`); it decides
        // nothing here: a matcher without match rules takes every notification in either
        // mode (proxmox-notify `matcher.rs`, `MatcherConfig::matches`: `no_matchers`).
        let ours = section(
            "matcher",
            DEFAULT_MATCHER,
            &[
                ("comment", MATCHER_COMMENT.to_string()),
                ("mode", "all".into()),
                ("target", TARGET.into()),
            ],
        );
        return with_section(text, "matcher", DEFAULT_MATCHER, Some(&ours));
    };
    if !to_smtp
        && m.text
            .lines()
            .any(|l| l.trim_start() == format!("comment {MATCHER_COMMENT}"))
    {
        return with_section(text, "matcher", DEFAULT_MATCHER, None);
    }
    let (from, to) = if to_smtp {
        (MAIL_TO_ROOT, TARGET)
    } else {
        (TARGET, MAIL_TO_ROOT)
    };
    let targets = matcher_targets(&m.text);
    let mut lines: Vec<String> = Vec::new();
    let mut placed = targets.iter().any(|t| t == to);
    for l in m.text.lines() {
        let is = |name: &str| {
            l.trim_start()
                .strip_prefix("target")
                .is_some_and(|v| v.starts_with([' ', '\t']) && v.trim() == name)
        };
        if is(from) {
            if !placed {
                lines.push(l.replacen(from, to, 1));
                placed = true;
            }
            continue;
        }
        lines.push(l.to_string());
    }
    if !placed && to_smtp {
        lines.push(format!("\ttarget {TARGET}"));
    }
    let body = lines.join("\n") + "\n";
    with_section(text, "matcher", DEFAULT_MATCHER, Some(&body))
}

/// The VMIDs `guests` stands for (`None`: every guest, vzdump's `all`).
fn vmids(cx: &Cx, b: &Backup) -> Option<Vec<u32>> {
    match &b.guests {
        BackupGuests::All => None,
        BackupGuests::List(l) => Some(l.clone()),
        BackupGuests::Ours => Some(
            cx.answer
                .haos
                .iter()
                .map(|h| h.vmid)
                .chain(cx.answer.vms.iter().map(|v| v.vmid))
                .chain(cx.answer.containers.iter().map(|c| c.vmid))
                .collect(),
        ),
    }
}

/// The retention as vzdump's `prune-backups` property string (`keep-daily=7,keep-weekly=4`;
/// pve-docs `vzdump.adoc`), its keys in the alphabetical order of the format's listing in
/// pve-docs `generated/vzdump.conf.5-opts.adoc` (a property string's order carries no
/// meaning).
pub fn prune_backups(b: &Backup) -> Option<String> {
    let mut keep: Vec<String> = b.keep.iter().map(|(k, v)| format!("{k}={v}")).collect();
    keep.sort();
    (!keep.is_empty()).then(|| keep.join(","))
}

fn job(cx: &mut Cx, b: &Backup, enabled: bool) -> Result<()> {
    // The properties the web UI's backup job dialog sends (pve-manager
    // `PVE/API2/Backup.pm` `create_job`, `PVE/VZDump.pm` options). A section's lines are
    // read as a set of keys, so their order carries no meaning: ours puts `schedule`
    // first, then the rest alphabetically (pve-common's SectionConfig writer, which the web
    // UI goes through, is not in the sources read here: an edit there may reorder them). `notification-mode notification-system`: the
    // job reports through Proxmox's notification system (pve-docs
    // generated/vzdump.conf.5-opts.adoc), so `[notify.smtp]` mails its outcome.
    let mut props = vec![
        ("schedule", b.schedule.clone()),
        (
            "comment",
            "Written by pve-firstboot ([backup] of its answer)".to_string(),
        ),
    ];
    let ids = vmids(cx, b);
    if ids.is_none() {
        props.push(("all", "1".into()));
    }
    props.push(("compress", b.compress.to_string()));
    // Disabled while its storage is not there yet (`check_storage`).
    props.push(("enabled", if enabled { "1" } else { "0" }.into()));
    props.push(("mode", b.mode.to_string()));
    props.push(("notes-template", "{{guestname}}".into()));
    props.push(("notification-mode", "notification-system".into()));
    if let Some(p) = prune_backups(b) {
        props.push(("prune-backups", p));
    }
    props.push(("storage", b.storage.clone()));
    if let Some(ids) = ids {
        let list: Vec<String> = ids.iter().map(u32::to_string).collect();
        props.push(("vmid", list.join(",")));
    }
    let new_job = section("vzdump", JOB_ID, &props);
    edit_id(cx, JOBS_CFG, "vzdump", JOB_ID, Some(&new_job), PMXCFS_MODE)
}

fn host_config(cx: &mut Cx, dir: Option<&str>, b: Option<&Backup>) -> Result<()> {
    let (Some(_), Some(b)) = (dir, b) else {
        // host-config off: a timer of ours from an earlier answer goes.
        if cx.host.exists(HOST_TIMER) {
            cx.run(Cmd::new("systemctl").args(["disable", "--now", TIMER_UNIT]))?;
            cx.remove(HOST_TIMER)?;
            cx.remove(HOST_SERVICE)?;
            cx.remove(HOST_BACKUP)?;
            cx.run(Cmd::new("systemctl").arg("daemon-reload"))?;
        }
        return Ok(());
    };
    // Earlier versions ran a generated shell script (a storage path with shell syntax in
    // it ran as root, a planted symlink redirected its temp file); the agent archives
    // itself now (`pve-firstboot host-archive`, src/hostarchive.rs).
    let script = cx.remove(HOST_BACKUP)?;
    let service = cx.write(
        HOST_SERVICE,
        &format!(
            "{}[Unit]\n\
             Description=Archive the host's configuration (pve-firstboot [backup] host-config)\n\
             After=pve-cluster.service\n\
             \n\
             [Service]\n\
             Type=oneshot\n\
             ExecStart={AGENT} host-archive\n",
            owned_header("backup phase")
        ),
        0o644,
    )?;
    // The job's schedule as systemd reads it (src/calendar.rs); not Persistent, as the
    // job's `repeat-missed` defaults to 0 (pve-manager PVE/API2/Backup.pm).
    let timer = cx.write(
        HOST_TIMER,
        &format!(
            "{}# The schedule of the backup job {JOB_ID}: {}\n\
             [Unit]\n\
             Description=Archive the host's configuration on the backup job's schedule\n\
             \n\
             [Timer]\n\
             OnCalendar={}\n\
             \n\
             [Install]\n\
             WantedBy=timers.target\n",
            owned_header("backup phase"),
            b.schedule,
            b.event.systemd()
        ),
        0o644,
    )?;
    if script || service || timer || cx.resumed {
        cx.run(Cmd::new("systemctl").arg("daemon-reload"))?;
        cx.run(Cmd::new("systemctl").args(["enable", "--now", TIMER_UNIT]))?;
    }
    Ok(())
}
