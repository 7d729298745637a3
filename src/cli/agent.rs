//! The host agent's commands: what runs on the Proxmox host (from the hook, the unit, the
//! admin's shell) and what checks an answer. The agent in the hook is built from these
//! alone (`super::agent_main`).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Args, Command, DEFAULT_ANSWER, host_for, load, load_as, with_host};
use crate::answer::{self, Loaded};
use crate::engine::{Engine, Outcome, Report, RunMode};
use crate::host::Host;
use crate::state::{STATE_FILE, State};
use crate::{diff, status};

pub const COMMANDS: &[Command] = &[
    Command {
        name: "validate",
        flags: &["--print"],
        usage: "  pve-firstboot validate [FILE] [--print]        check an answer file (the embedded example
                                                 when FILE is omitted); --print shows it with
                                                 every default filled in, secrets redacted
",
    },
    Command {
        name: "plan",
        flags: &["--root"],
        usage: "  pve-firstboot plan [FILE] [--root DIR]         show, read-only, what each phase would change
                                                 on this host or the tree DIR: file diffs,
                                                 commands, the reboot
",
    },
    Command {
        name: "apply",
        flags: &["--root"],
        usage: "  pve-firstboot apply [FILE] --root DIR          run every phase against the tree DIR
                                                 (commands recorded, not run)
",
    },
    Command {
        name: "run",
        flags: &["--answer", "--force", "--root"],
        usage: "  pve-firstboot run [--answer FILE] [--force] [--root DIR]
                                                 the systemd unit's entry: resume the phases
                                                 on this host (default answer
                                                 /etc/pve-firstboot/answer.toml); --force: on a
                                                 host without pveversion; --root: a tree
",
    },
    Command {
        name: "status",
        flags: &["--root", "--json", "--wait"],
        usage: "  pve-firstboot status [--root DIR] [--json] [--wait]
                                                 each phase's outcome and reason; --wait until
                                                 the run ends
",
    },
    Command {
        name: "reset",
        flags: &["--root"],
        usage: "  pve-firstboot reset [--root DIR]               forget a finished or failed run; the unit runs
                                                 the phases again at the next boot (or `run`)
",
    },
    Command {
        name: "hand-over",
        flags: &["--hook", "--root"],
        usage: "  pve-firstboot hand-over --hook PATH [--root DIR]
                                                 run by the hook: install the agent, the answer
                                                 and pve-firstboot.service, start it, return
",
    },
    Command {
        name: "host-archive",
        flags: &["--root"],
        usage: "  pve-firstboot host-archive [--root DIR]        run by pve-firstboot-host-backup.timer: archive
                                                 the host's configuration ([backup] host-config)
                                                 to the backup storage, then prune the archives
",
    },
    Command {
        name: "subscription-notice",
        flags: &["--root"],
        usage: "  pve-firstboot subscription-notice [--root DIR]
                                                 run by apt after dpkg ([host] subscription-notice
                                                 = \"hide\"): hide the web UI's subscription
                                                 notice again after an update brought it back
",
    },
    Command {
        name: "probe",
        flags: &["--root", "--json", "--check"],
        usage: "  pve-firstboot probe [--root DIR] [--json]      what this machine has, as an answer names it:
                                                 disks and NICs with their udev properties, PCI
                                                 devices with names, IOMMU groups and the boot
                                                 VGA device, USB devices; and a starter answer
  pve-firstboot probe --check FILE [--root DIR] [--json]
                                                 what the answer would do on this machine: the
                                                 disks the install erases and what they hold,
                                                 the NIC it takes, the devices passed through,
                                                 the guests' USB devices, each ssh key's
                                                 fingerprint; exit 1, each named, if anything
                                                 is not found or unsafe (a removable disk or
                                                 one with partitions or filesystems erased)
",
    },
];

/// Run one of [`COMMANDS`] (parsed already).
pub fn run(args: &Args) -> i32 {
    match args.command.as_str() {
        "validate" => validate(args),
        "plan" => plan(args),
        "apply" => apply(args),
        "run" => run_cmd(args),
        "status" => status_cmd(args),
        "reset" => with_host(args, |h| {
            crate::handover::reset(h)
                .map(|()| println!("reset: the phases run again at the next boot"))
        }),
        "hand-over" => with_host(args, |h| {
            crate::handover::hand_over(h, &args.hook.as_ref().expect("checked").to_string_lossy())
        }),
        "host-archive" => with_host(args, host_archive),
        "subscription-notice" => with_host(args, |h| {
            crate::phases::postinstall::reapply(h)
                .map(|done| done.into_iter().for_each(|d| println!("{d}")))
        }),
        "probe" => probe_cmd(args),
        _ => 2,
    }
}

/// How long `status --wait` waits at most: the unit's own start timeout
/// (`TimeoutStartSec=4h` in systemd/pve-firstboot.service).
const WAIT_LIMIT_SECS: u64 = 4 * 3600;

/// `host-archive`: the installed answer's `[backup]`, archived now.
fn host_archive(h: &Host) -> crate::error::Result<()> {
    let bytes = h
        .read(DEFAULT_ANSWER)?
        .ok_or_else(|| crate::error::Error::msg(format!("{DEFAULT_ANSWER} is missing")))?;
    let loaded = answer::parse_installed(DEFAULT_ANSWER, &bytes)
        .map_err(|r| crate::error::Error::msg(r.to_string().trim_end().to_string()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let done = crate::hostarchive::run(h, &loaded.answer, now)?;
    println!("archived: {}", done.archive);
    for p in &done.pruned {
        println!("pruned: {p}");
    }
    Ok(())
}

/// An answer to check or plan with: the installed copy on the host is accepted too.
fn load_checked(file: Option<&Path>) -> Option<Loaded> {
    load_as(file, None, true)
}

/// The answer a command reads: FILE; without it the embedded example where the binary
/// has one (`validate`, `plan` in the workstation's binary), else the installed answer,
/// under `--root DIR` when given (`apply --root DIR` always: an example answer would make
/// someone else's host of DIR).
fn answer_of(args: &Args) -> Option<Loaded> {
    if let Some(f) = &args.file {
        return load_checked(Some(f));
    }
    if let (Some(ex), false) = (args.example, args.command == "apply") {
        return load_as(None, Some(ex), true);
    }
    let installed = match &args.root {
        Some(r) => r.join(DEFAULT_ANSWER.trim_start_matches('/')),
        None => PathBuf::from(DEFAULT_ANSWER),
    };
    load_checked(Some(&installed))
}

fn probe_cmd(args: &Args) -> i32 {
    let host = match &args.root {
        Some(r) => Host::plan(Some(r)),
        None => Host::plan(None),
    };
    if let Some(file) = &args.file {
        let Some(l) = load_checked(Some(file)) else {
            return 1;
        };
        return match crate::probe::probe(&host) {
            Ok(p) => {
                let c = crate::probe::check(&p, &l.answer, &host);
                print!("{}", if args.json { c.json() } else { c.text() });
                i32::from(!c.ok())
            }
            Err(e) => {
                eprintln!("pve-firstboot: probe: {e}");
                1
            }
        };
    }
    match crate::probe::probe(&host) {
        Ok(p) if args.json => {
            print!("{}", crate::probe::json(&p));
            0
        }
        Ok(p) => {
            print!("{}", crate::probe::text(&p));
            println!("\nA starter answer for this machine:\n");
            print!("{}", crate::probe::starter(&p));
            0
        }
        Err(e) => {
            eprintln!("pve-firstboot: probe: {e}");
            1
        }
    }
}

fn validate(args: &Args) -> i32 {
    let Some(l) = answer_of(args) else {
        return 1;
    };
    if args.print {
        print!("{}", answer::normalized(&l.answer));
    } else {
        let name = args.file.as_ref().map_or_else(
            || args.example.map_or(DEFAULT_ANSWER, |(n, _)| n).to_string(),
            |p| p.display().to_string(),
        );
        let installed = args
            .file
            .as_deref()
            .and_then(|p| crate::host::read_capped(p, crate::host::MAX_ANSWER_BYTES).ok())
            .is_some_and(|b| answer::is_installed(&b));
        if installed {
            // Said, so nobody takes it for an answer an ISO can be made from.
            println!(
                "{name}: valid (the copy installed on the host: without its root password, \
                 it plans and runs here, but `image` and `hook` need the admin's answer)"
            );
        } else {
            println!("{name}: valid");
        }
        // Well-formed is not right: each key's fingerprint, to compare with `ssh-keygen -l`
        // on the machine that holds the private key.
        for (at, k) in crate::sshkey::of_answer(&l.answer) {
            println!("  {at}: {}", crate::sshkey::describe(&k));
        }
    }
    0
}

fn plan(args: &Args) -> i32 {
    let Some(l) = answer_of(args) else {
        return 1;
    };
    let host = Host::plan(args.root.as_deref());
    let engine = Engine::new(&host, &l.answer, RunMode::Converge);
    let report = match engine.run() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pve-firstboot: plan: {e}");
            return 1;
        }
    };
    let mut out = String::new();
    out.push_str(&format!(
        "plan for {} (read-only; nothing is changed)\n",
        host.root().display()
    ));
    let mut files = 0;
    let mut commands = 0;
    for p in &report.phases {
        out.push_str(&format!("\n== {} ==\n", p.id));
        match (p.status, &p.reason) {
            (crate::state::Status::Failed, Some(r)) => out.push_str(&format!("would FAIL: {r}\n")),
            (crate::state::Status::Skipped, Some(r)) => out.push_str(&format!("skipped: {r}\n")),
            (crate::state::Status::Pending, Some(r)) => out.push_str(&format!("{r}\n")),
            _ if p.ran && p.files.is_empty() && p.commands.is_empty() && p.changes.is_empty() => {
                out.push_str("no changes\n")
            }
            _ => {}
        }
        for f in &p.files {
            files += 1;
            // Proxmox's priv/ holds secrets (the smtp password): its changes are named,
            // never shown.
            if f.path.starts_with("/etc/pve/priv/") {
                out.push_str(&format!(
                    "--- {0}\n+++ {0}\n(holds secrets: contents not shown)\n",
                    f.path
                ));
                continue;
            }
            let old = f.old.as_deref().map(String::from_utf8_lossy);
            let new = f.new.as_deref().map(String::from_utf8_lossy);
            out.push_str(&diff::unified(&f.path, old.as_deref(), new.as_deref()));
        }
        for c in p.changes.iter().filter(|c| {
            !c.starts_with("created ") && !c.starts_with("updated ") && !c.starts_with("removed ")
        }) {
            out.push_str(&format!("would: {c}\n"));
        }
        for c in &p.commands {
            commands += 1;
            out.push_str(&format!("would run: {c}\n"));
        }
        for r in &p.results {
            out.push_str(&format!("found: {r}\n"));
        }
        if let Some(why) = &p.reboot {
            out.push_str(&format!("needs a reboot: {why}\n"));
        }
    }
    let failing = report
        .phases
        .iter()
        .filter(|p| p.status == crate::state::Status::Failed)
        .count();
    out.push_str(&format!(
        "\nsummary: {files} file change(s), {commands} command(s), reboot: {}, phases that would fail: {failing}\n",
        if report.outcome == Outcome::RebootRequested { "yes" } else { "no" }
    ));
    // Diffs quote the host's files and reasons quote servers: no control character of
    // theirs reaches the terminal raw.
    let out = crate::status::printable(&out, true);
    let _ = std::io::stdout().write_all(out.as_bytes());
    i32::from(failing > 0)
}

fn print_report(report: &Report) {
    let mut out = String::new();
    for p in &report.phases {
        let mut line = format!("{}: {}", p.id, p.status.as_str());
        if !p.ran && p.status == crate::state::Status::Done {
            line.push_str(" (earlier)");
        }
        if let Some(r) = &p.reason {
            line.push_str(&format!(": {r}"));
        }
        out.push_str(&line);
        out.push('\n');
        for c in &p.changes {
            out.push_str(&format!("  changed: {c}\n"));
        }
        for c in &p.commands {
            out.push_str(&format!("  ran: {c}\n"));
        }
        for r in &p.results {
            out.push_str(&format!("  {r}\n"));
        }
    }
    if !report.changed() {
        out.push_str("no changes\n");
    }
    out.push_str(match report.outcome {
        Outcome::Done => "result: done\n",
        Outcome::Failed => "result: failed (see above; `pve-firstboot status` shows it again)\n",
        Outcome::RebootRequested => "result: reboot requested; the phases continue after it\n",
        Outcome::WaitingForReboot => "result: waiting for the reboot asked for earlier\n",
    });
    let out = crate::status::printable(&out, true);
    let _ = std::io::stdout().write_all(out.as_bytes());
}

fn execute(host: &Host, l: &Loaded, mode: RunMode) -> (i32, Option<Report>) {
    match Engine::new(host, &l.answer, mode).run() {
        Ok(report) => {
            print_report(&report);
            (report.outcome.exit_code(), Some(report))
        }
        Err(e) => {
            log::error!("{e}");
            (1, None)
        }
    }
}

fn apply(args: &Args) -> i32 {
    let Some(l) = answer_of(args) else {
        return 1;
    };
    let root = args.root.as_deref().expect("checked by parse");
    if !root.is_dir() {
        eprintln!("pve-firstboot: --root {}: not a directory", root.display());
        return 2;
    }
    execute(&Host::rooted(root), &l, RunMode::Converge).0
}

fn run_cmd(args: &Args) -> i32 {
    let file = args
        .file
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ANSWER));
    let host = match &args.root {
        Some(r) => Host::rooted(r),
        None => Host::live(),
    };
    if !args.force && !host.exists("/usr/bin/pveversion") {
        eprintln!(
            "pve-firstboot: this does not look like a Proxmox VE host (no /usr/bin/pveversion); \
             use --force to run anyway"
        );
        return 1;
    }
    // The installed answer has no root password (see answer::for_host); an answer given
    // with --answer is read as the admin wrote it.
    let loaded = if args.file.is_none() {
        match host.read_capped(DEFAULT_ANSWER, crate::host::MAX_ANSWER_BYTES) {
            Ok(Some(bytes)) => match answer::parse_installed(DEFAULT_ANSWER, &bytes) {
                Ok(l) => Some(l),
                Err(r) => {
                    eprint!("{r}");
                    None
                }
            },
            Ok(None) => {
                eprintln!("{DEFAULT_ANSWER}: error: cannot read the answer file: not found");
                None
            }
            Err(e) => {
                eprintln!("pve-firstboot: {e}");
                None
            }
        }
    } else {
        load(Some(&file))
    };
    let Some(l) = loaded else {
        return 1;
    };
    let (code, report) = execute(&host, &l, RunMode::Resume);
    if let Some(r) = report {
        if let Err(e) = crate::handover::finish(&host, r.outcome, &r.state, &l.answer) {
            log::error!("finishing: {e}");
            return 1;
        }
    }
    code
}

fn status_cmd(args: &Args) -> i32 {
    let host = host_for(args);
    let mut waited = 0;
    let mut progress = Progress::default();
    loop {
        let st = match State::load(&host) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("pve-firstboot: {e}");
                return 1;
            }
        };
        let (word, code) = status::overall(&st);
        if args.wait && word == "not-started" {
            // Nothing runs that could ever finish: say so rather than wait for ever.
            eprintln!(
                "pve-firstboot: nothing to wait for: the agent has not started (no progress in {STATE_FILE})"
            );
        } else if code == 3 && args.wait {
            if waited >= WAIT_LIMIT_SECS {
                eprintln!(
                    "pve-firstboot: still {word} after {} h; giving up waiting",
                    WAIT_LIMIT_SECS / 3600
                );
            } else {
                if !args.json {
                    progress.show(&host, &st, waited);
                }
                std::thread::sleep(std::time::Duration::from_secs(2));
                waited += 2;
                continue;
            }
        }
        if args.json {
            print!("{}", status::json(&st));
        } else if word == "not-started" {
            println!(
                "pve-firstboot: not started ({})",
                if host.exists(STATE_FILE) {
                    "no phase has run yet"
                } else {
                    "no state file yet"
                }
            );
        } else {
            print!("{}", status::human(&st));
        }
        return code;
    }
}

/// What `status --wait` says while it waits (on stderr, so that the final report on stdout
/// stays what `status` prints): the running phase when it changes, and every 10 s each
/// image being downloaded with its size and rate (the files under the download directory,
/// which grow as curl writes them).
#[derive(Default)]
struct Progress {
    phase: String,
    sizes: std::collections::BTreeMap<String, u64>,
    last: Option<u64>,
}

impl Progress {
    fn show(&mut self, host: &Host, st: &State, now: u64) {
        let running: Vec<String> = st
            .phases
            .iter()
            .filter(|p| p.status == crate::state::Status::Running)
            .map(|p| format!("{} (attempt {})", p.id, p.attempts))
            .collect();
        let phase = if running.is_empty() {
            status::overall(st).0.to_string()
        } else {
            format!("running: {}", running.join(", "))
        };
        if phase != self.phase {
            eprintln!("pve-firstboot: {}", status::printable(&phase, false));
            self.phase = phase;
        }
        if self.last.is_some_and(|l| now < l + 10) {
            return;
        }
        let dir = crate::phases::vm::TMP_DIR;
        for name in host.list_dir(dir).unwrap_or_default() {
            let size = host.file_size(&format!("{dir}/{name}")).unwrap_or(0);
            let rate = match (self.sizes.get(&name), self.last) {
                (Some(&before), Some(l)) if now > l && size >= before => {
                    format!(
                        ", {:.1} MiB/s",
                        (size - before) as f64 / (now - l) as f64 / 1048576.0
                    )
                }
                _ => String::new(),
            };
            eprintln!(
                "pve-firstboot: downloading {}: {:.0} MiB{rate}",
                status::printable(&name, false),
                size as f64 / 1048576.0
            );
            self.sizes.insert(name, size);
        }
        self.last = Some(now);
    }
}
