//! Proxmox's task log: the outcome of an API call that ran as a worker task.
//!
//! `pvesh create/set` on a method that forks a worker (the disk API's `lvmthin`, `directory`,
//! `zfs`, `wipedisk`) runs the task in the foreground, prints its UPID and exits 0 whatever
//! the task's outcome: pve-manager `PVE/CLI/pvesh.pm` `call_api_method` prints the method's
//! return value, and has no `$upid_exit` as qemu-server's `qm` does (`PVE/CLI/qm.pm`). Seen
//! with Proxmox's own pvesh in the test boots: a failed `lvmthincreate` ("TASK ERROR: command
//! '/usr/bin/file -L -s /dev/vdb' failed") exited 0. So the outcome is read where Proxmox
//! itself reads it (pve-common `src/PVE/UPID.pm` `decode` and `read_status`): the last line of
//! `/var/log/pve/tasks/<last hex digit of the start time>/<UPID>`, `TASK OK`, `TASK WARNINGS: N`
//! or `TASK ERROR: <message>`.

use crate::error::{Error, Result};
use crate::host::Host;

/// Where Proxmox keeps the task logs (pve-common `UPID.pm` `$pvetaskdir`).
const TASK_DIR: &str = "/var/log/pve/tasks";

/// The task log of `upid`, if it is a well-formed UPID as pve-common's `decode` takes it:
/// `UPID:NODE:PID:PSTART:STARTTIME:TYPE:ID:USER:` (hex PID and STARTTIME of 8 digits, PSTART
/// of 8 or 9; TYPE, ID and USER without `:`, `/` or white space).
pub fn log_path(upid: &str) -> Option<String> {
    let f: Vec<&str> = upid.split(':').collect();
    let hex =
        |s: &str, n: &[usize]| n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
    let word = |s: &str| !s.bytes().any(|b| b == b'/' || b.is_ascii_whitespace());
    let node_ok = !f.get(1)?.is_empty()
        && f[1].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !f[1].starts_with('-')
        && !f[1].ends_with('-');
    let ok = f.len() == 9
        && f[0] == "UPID"
        && node_ok
        && hex(f[2], &[8])
        && hex(f[3], &[8, 9])
        && hex(f[4], &[8])
        && !f[5].is_empty()
        && word(f[5])
        && word(f[6])
        && !f[7].is_empty()
        && word(f[7])
        && f[8].is_empty();
    ok.then(|| format!("{TASK_DIR}/{}/{upid}", &f[4][7..]))
}

/// The outcome of the task whose UPID `stdout` (a pvesh call's output) names: Ok for `TASK OK`
/// and `TASK WARNINGS: N` (pve-common `status_is_error`), else the task's own message.
pub fn outcome(host: &Host, stdout: &str) -> Result<()> {
    let Some(upid) = stdout.split_whitespace().find(|w| w.starts_with("UPID:")) else {
        return Err(Error::msg(format!(
            "it printed no task ID (UPID), so its outcome is unknown; it printed: {}",
            stdout.trim()
        )));
    };
    let path = log_path(upid).ok_or_else(|| Error::msg(format!("not a task ID: {upid}")))?;
    status(host, upid, &path)
}

/// The task log's last line, judged.
fn status(host: &Host, upid: &str, path: &str) -> Result<()> {
    let log = host
        .read_text(path)?
        .ok_or_else(|| Error::msg(format!("task {upid}: no log at {path}")))?;
    let last = log
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    match verdict(last) {
        Ok(()) => Ok(()),
        Err(why) => Err(Error::msg(format!(
            "task {upid} failed: {why} (its log: {path})"
        ))),
    }
}

/// The outcome of the newest task of type `kind` on `id`, for a command that runs its task in
/// the foreground but prints neither its UPID nor its failure in its exit status: `pveam
/// download` (pve-manager `PVE/CLI/pveam.pm` maps it onto `apl_download`, a worker, with no
/// output handler and no `$upid_exit`: seen in the test boots, a download that failed exited
/// 0 and printed nothing). `None` when the host has no such task.
pub fn newest(host: &Host, kind: &str, id: &str) -> Result<Option<Result<()>>> {
    let mut best: Option<(String, String)> = None;
    for digit in "0123456789ABCDEF".chars() {
        for name in host.list_dir(&format!("{TASK_DIR}/{digit}"))? {
            let f: Vec<&str> = name.split(':').collect();
            let Some(path) = log_path(&name) else {
                continue;
            };
            if f[5] != kind || f[6] != id || best.as_ref().is_some_and(|(t, _)| t.as_str() >= f[4])
            {
                continue;
            }
            best = Some((f[4].to_string(), path));
        }
    }
    Ok(best.map(|(_, path)| {
        let upid = path.rsplit('/').next().unwrap_or_default().to_string();
        status(host, &upid, &path)
    }))
}

/// pve-common `UPID.pm` `read_status` and `status_is_error` on a task log's last line.
fn verdict(last: &str) -> std::result::Result<(), String> {
    if last == "TASK OK" {
        return Ok(());
    }
    if let Some(n) = last.strip_prefix("TASK WARNINGS: ") {
        if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(());
        }
    }
    match last.strip_prefix("TASK ERROR: ") {
        Some(msg) if !msg.is_empty() => Err(msg.to_string()),
        _ => Err(format!("unexpected status (last line: {last:?})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_task_of_a_kind_and_id_is_judged() {
        let tmp = crate::tempdir::TempDir::new("pvefb-pvetask").unwrap();
        let dir = tmp.path();
        let host = Host::rooted(dir);
        let put = |digit: &str, upid: &str, body: &str| {
            let p = dir.join(format!("var/log/pve/tasks/{digit}"));
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(p.join(upid), body).unwrap();
        };
        let t = |start: &str| {
            format!("UPID:pve:000005AE:0000A73C:{start}:download:tpl.tar.xz:root@pam:")
        };
        put(
            "1",
            &t("6B138831"),
            "downloading\nTASK ERROR: download failed: no space\n",
        );
        put(
            "2",
            &t("6B138832"),
            "downloading\nTASK ERROR: download failed: 404\n",
        );
        // Another template's task, newer: not this one's.
        put(
            "3",
            "UPID:pve:000005AE:0000A73C:6B138833:download:other.tar.xz:root@pam:",
            "TASK OK\n",
        );
        // Not a task log: ignored.
        put(
            "4",
            "UPID:pve:zz:download:tpl.tar.xz:root@pam:",
            "TASK OK\n",
        );
        let got = newest(&host, "download", "tpl.tar.xz").unwrap().unwrap();
        assert!(
            got.unwrap_err()
                .to_string()
                .contains("download failed: 404")
        );
        assert!(newest(&host, "download", "none.tar.xz").unwrap().is_none());
        put("5", &t("6B138835"), "TASK OK\n");
        assert!(
            newest(&host, "download", "tpl.tar.xz")
                .unwrap()
                .unwrap()
                .is_ok()
        );
    }

    const UPID: &str = "UPID:pve-test:000005AE:0000A73C:6B138832:lvmthincreate:fast:root@pam:";

    #[test]
    fn the_log_lies_under_the_start_times_last_digit() {
        assert_eq!(
            log_path(UPID).as_deref(),
            Some(
                "/var/log/pve/tasks/2/UPID:pve-test:000005AE:0000A73C:6B138832:lvmthincreate:fast:root@pam:"
            )
        );
        // A 9-digit PSTART (long uptimes) is fine; an empty ID too (pve-common allows it).
        assert!(log_path("UPID:n:00000001:123456789:6B138832:qmstart::root@pam:").is_some());
    }

    #[test]
    fn anything_else_names_no_file() {
        for bad in [
            "UPID:pve-test:000005AE:0000A73C:6B138832:lvmthincreate:fast:root@pam",
            "UPID:pve-test:000005AE:0000A73C:6B138832:lvmthincreate:../../etc:root@pam:",
            "UPID:pve-test:000005AE:0000A73C:6B1388:lvmthincreate:fast:root@pam:",
            "UPID:-bad:000005AE:0000A73C:6B138832:x:y:root@pam:",
            "UPID:pve test:000005AE:0000A73C:6B138832:x:y:root@pam:",
            "UPID:pve-test:000005AE:0000A73C:6B13883Z:x:y:root@pam:",
            "PID:pve-test:000005AE:0000A73C:6B138832:x:y:root@pam:",
            "UPID:pve-test:000005AE:0000A73C:6B138832::y:root@pam:",
        ] {
            assert_eq!(log_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn ok_and_warnings_pass_errors_carry_their_message() {
        assert_eq!(verdict("TASK OK"), Ok(()));
        assert_eq!(verdict("TASK WARNINGS: 2"), Ok(()));
        assert_eq!(
            verdict("TASK ERROR: command '/usr/bin/file -L -s /dev/vdb' failed"),
            Err("command '/usr/bin/file -L -s /dev/vdb' failed".into())
        );
        assert!(verdict("TASK WARNINGS: many").is_err());
        assert!(verdict("starting worker").is_err());
        assert!(verdict("").is_err());
    }
}
