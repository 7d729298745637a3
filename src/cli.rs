//! The command line: parsing (no parser crate: it would add to the 1 MiB hook for a
//! handful of flags) and one function per subcommand.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::answer::{self, Loaded};
use crate::engine::{Engine, Outcome, Report, RunMode};
use crate::host::Host;
use crate::state::{STATE_FILE, State};
use crate::{diff, status};

pub const USAGE: &str = "\
pve-firstboot: turn a fresh Proxmox VE install into a finished homeserver

usage:
  pve-firstboot validate [FILE] [--print]        check an answer file (the embedded example
                                                 when FILE is omitted); --print shows it with
                                                 every default filled in
  pve-firstboot plan [FILE] [--root DIR]         show, read-only, what each phase would change
  pve-firstboot apply [FILE] --root DIR          run every phase against the tree DIR
  pve-firstboot run [--answer FILE] [--force]    the systemd unit's entry: resume the phases
                                                 on this host (default answer
                                                 /etc/pve-firstboot/answer.toml)
  pve-firstboot status [--root DIR] [--json] [--wait]
  pve-firstboot reset [--root DIR]               forget a finished or failed run; the unit runs
                                                 the phases again at the next boot
  pve-firstboot pin FILE                         pin every image of the answer in FILE itself
                                                 (comments kept): HAOS \"stable\" as the current
                                                 release and its sha256 from GitHub's release,
                                                 cloud images' checksums from their publisher's
                                                 SHA512SUMS/SHA256SUMS
  pve-firstboot image --iso IN.iso --answer FILE [-o OUT.iso] [--force] [--no-pin]
                                                 a Proxmox VE installer ISO that installs from
                                                 the answer (pinned as `pin` does, unless
                                                 --no-pin) and runs the agent at first boot
                                                 (default OUT: IN-auto-from-iso.iso)
  pve-firstboot image --inspect ISO              what a customised ISO carries (no secrets)
  pve-firstboot hook --answer FILE -o OUT [--force] [--no-pin]
                                                 build the first-boot hook (at most 1 MiB): this
                                                 binary, xz-compressed, and the answer without
                                                 the root password
  pve-firstboot hand-over --hook PATH            run by the hook: install the agent, the answer
                                                 and pve-firstboot.service, start it, return
  pve-firstboot host-archive [--root DIR]        run by pve-firstboot-host-backup.timer: archive
                                                 the host's configuration ([backup] host-config)
                                                 to the backup storage, then prune the archives
  pve-firstboot probe [--root DIR] [--json]      what this machine has, as an answer names it:
                                                 disks and NICs with their udev properties, PCI
                                                 devices with names, IOMMU groups and the boot
                                                 VGA device, USB devices; and a starter answer
  pve-firstboot probe --check FILE [--root DIR]  what the answer would do on this machine: the
                                                 disks the install erases, the NIC it takes,
                                                 the devices passed through (exit 1 if any is
                                                 not found or unsafe)
  pve-firstboot COMMAND --help                   this text

exit status: 0 done/valid, 1 failed/invalid, 2 usage error, 3 not finished yet (status,
apply and run: a reboot is pending or the phases are still running)
";

pub const DEFAULT_ANSWER: &str = "/etc/pve-firstboot/answer.toml";

#[derive(Debug, Default, PartialEq)]
pub struct Args {
    pub command: String,
    pub file: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub hook: Option<PathBuf>,
    pub iso: Option<PathBuf>,
    pub inspect: Option<PathBuf>,
    pub root: Option<PathBuf>,
    pub json: bool,
    pub wait: bool,
    pub force: bool,
    pub print: bool,
    /// `image`, `hook`: embed the answer as written, without pinning its images.
    pub no_pin: bool,
}

/// Parse argv (without the program name). `Err` is a usage message.
pub fn parse(argv: &[String]) -> Result<Args, String> {
    let mut it = argv.iter();
    let command = it.next().ok_or("no command given")?.clone();
    let allowed: &[&str] = match command.as_str() {
        "validate" => &["--print"],
        "plan" => &["--root"],
        "apply" => &["--root"],
        "run" => &["--answer", "--force", "--root"],
        "status" => &["--root", "--json", "--wait"],
        "reset" => &["--root"],
        "pin" => &[],
        "hook" => &["--answer", "-o", "--output", "--force", "--no-pin"],
        "image" => &[
            "--iso",
            "--answer",
            "-o",
            "--output",
            "--force",
            "--inspect",
            "--no-pin",
        ],
        "hand-over" => &["--hook", "--root"],
        "host-archive" => &["--root"],
        "probe" => &["--root", "--json", "--check"],
        "-h" | "--help" | "help" | "-V" | "--version" => &[],
        other => return Err(format!("unknown command \"{other}\"")),
    };
    let mut a = Args {
        command,
        ..Args::default()
    };
    // `COMMAND --help` anywhere on the line: the help, whatever else is there.
    if argv.iter().skip(1).any(|a| a == "--help" || a == "-h") {
        a.command = "--help".into();
        return Ok(a);
    }
    while let Some(arg) = it.next() {
        if arg.starts_with("--") || arg == "-o" {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f, Some(v.to_string())),
                None => (arg.as_str(), None),
            };
            if !allowed.contains(&flag) {
                return Err(format!("{} does not take {flag}", a.command));
            }
            let mut value = || -> Result<PathBuf, String> {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag {
                "--root" => a.root = Some(value()?),
                "--answer" | "--check" => a.file = Some(value()?),
                "-o" | "--output" => a.output = Some(value()?),
                "--hook" => a.hook = Some(value()?),
                "--iso" => a.iso = Some(value()?),
                "--inspect" => a.inspect = Some(value()?),
                "--json" => a.json = true,
                "--wait" => a.wait = true,
                "--force" => a.force = true,
                "--print" => a.print = true,
                "--no-pin" => a.no_pin = true,
                _ => unreachable!("checked against the allowed flags"),
            }
        } else if matches!(a.command.as_str(), "validate" | "plan" | "apply" | "pin")
            && a.file.is_none()
        {
            a.file = Some(PathBuf::from(arg));
        } else {
            return Err(format!("unexpected argument \"{arg}\""));
        }
    }
    if a.command == "apply" && a.root.is_none() {
        return Err(
            "apply needs --root DIR (on the host itself, the unit runs `pve-firstboot run`)".into(),
        );
    }
    // Required flags, checked here so that a forgotten one is a usage error (exit 2),
    // never a failure later on.
    let need = |what: bool, msg: &str| if what { Ok(()) } else { Err(msg.to_string()) };
    match a.command.as_str() {
        "hand-over" => need(a.hook.is_some(), "hand-over needs --hook PATH")?,
        "pin" => need(a.file.is_some(), "pin needs FILE")?,
        "hook" => {
            need(a.file.is_some(), "hook needs --answer FILE")?;
            need(a.output.is_some(), "hook needs -o OUT")?;
        }
        "image" if a.inspect.is_some() => need(
            a.iso.is_none() && a.file.is_none() && a.output.is_none() && !a.force && !a.no_pin,
            "image --inspect ISO takes no other flag",
        )?,
        "image" => {
            need(
                a.iso.is_some(),
                "image needs --iso IN.iso (or --inspect ISO)",
            )?;
            need(a.file.is_some(), "image needs --answer FILE")?;
        }
        _ => {}
    }
    Ok(a)
}

/// Read and check an answer file, printing its diagnostics. `None` after errors.
/// The installed copy (no root password, see `answer::for_host`) passes only with
/// `installed_ok`: `validate`, `plan`, `apply` and `probe --check` read it; `image` and
/// `hook`, which make an install from the answer, need the password.
fn load_as(file: Option<&Path>, installed_ok: bool) -> Option<Loaded> {
    let (name, bytes) = read_answer(file)?;
    check_answer(&name, &bytes, installed_ok)
}

/// An answer file's name and bytes (the embedded example without one), bounded like every
/// read of one.
fn read_answer(file: Option<&Path>) -> Option<(String, Vec<u8>)> {
    Some(match file {
        None => (
            answer::EXAMPLE_NAME.to_string(),
            answer::EXAMPLE.as_bytes().to_vec(),
        ),
        Some(p) => {
            let name = p.display().to_string();
            match crate::host::read_capped(p, crate::host::MAX_ANSWER_BYTES) {
                Ok(b) => (name, b),
                Err(e) => {
                    eprintln!("{name}: error: cannot read the answer file: {e}");
                    return None;
                }
            }
        }
    })
}

/// Check an answer's bytes, printing the diagnostics. `None` after errors.
fn check_answer(name: &str, bytes: &[u8], installed_ok: bool) -> Option<Loaded> {
    let parsed = if installed_ok && answer::is_installed(bytes) {
        answer::parse_installed(name, bytes)
    } else {
        answer::parse(name, bytes)
    };
    match parsed {
        Ok(l) => {
            eprint!("{}", l.warnings);
            Some(l)
        }
        Err(report) => {
            eprint!("{report}");
            eprintln!("{name}: {} error(s); nothing was written", report.errors);
            None
        }
    }
}

pub fn main(argv: &[String]) -> i32 {
    let args = match parse(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pve-firstboot: {e}\n\n{USAGE}");
            return 2;
        }
    };
    match args.command.as_str() {
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            0
        }
        "-V" | "--version" => {
            println!("pve-firstboot {}", env!("CARGO_PKG_VERSION"));
            0
        }
        "validate" => validate(&args),
        "plan" => plan(&args),
        "apply" => apply(&args),
        "run" => run(&args),
        "status" => status_cmd(&args),
        "reset" => with_host(&args, |h| {
            crate::handover::reset(h)
                .map(|()| println!("reset: the phases run again at the next boot"))
        }),
        "hand-over" => with_host(&args, |h| {
            crate::handover::hand_over(h, &args.hook.as_ref().expect("checked").to_string_lossy())
        }),
        "host-archive" => with_host(&args, host_archive),
        "hook" => hook_cmd(&args),
        "pin" => pin_cmd(&args),
        "image" => image_cmd(&args),
        "probe" => probe_cmd(&args),
        _ => 2,
    }
}

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

/// An answer to make an install from (`image`, `hook`): the root password is required.
fn load(file: Option<&Path>) -> Option<Loaded> {
    load_as(file, false)
}

/// An answer to check or plan with: the installed copy on the host is accepted too.
fn load_checked(file: Option<&Path>) -> Option<Loaded> {
    load_as(file, true)
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
                let (report, ok) = crate::probe::check(&p, &l.answer, &host);
                print!("{report}");
                i32::from(!ok)
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
    let Some(l) = load_checked(args.file.as_deref()) else {
        return 1;
    };
    if args.print {
        print!("{}", answer::normalized(&l.answer));
    } else {
        let name = args
            .file
            .as_ref()
            .map_or(answer::EXAMPLE_NAME.to_string(), |p| {
                p.display().to_string()
            });
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
    }
    0
}

fn plan(args: &Args) -> i32 {
    let Some(l) = load_checked(args.file.as_deref()) else {
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

fn host_for(args: &Args) -> Host {
    match &args.root {
        Some(r) => Host::rooted(r),
        None => Host::live(),
    }
}

fn with_host(args: &Args, f: impl FnOnce(&Host) -> crate::error::Result<()>) -> i32 {
    match f(&host_for(args)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("pve-firstboot: {}: {e}", args.command);
            1
        }
    }
}

/// Exit 130 (as a shell reports Ctrl-C) when a caught signal stopped the work.
fn interrupted_or(code: i32) -> i32 {
    if crate::tempdir::interrupted() {
        eprintln!("pve-firstboot: interrupted; work files removed");
        130
    } else {
        code
    }
}

fn image_cmd(args: &Args) -> i32 {
    use crate::image::iso;
    // Ctrl-C stops the work at its next step, and the work directory (the answer with the
    // root password in it) is removed on the way out.
    crate::tempdir::catch_interrupts();
    if let Some(i) = &args.inspect {
        return match iso::inspect(i) {
            Ok(s) => {
                print!("{s}");
                0
            }
            Err(e) => {
                eprintln!("pve-firstboot: image: {e}");
                1
            }
        };
    }
    let file = args.file.as_deref().expect("checked by parse");
    // Pinned, then the same checks as `validate`, before anything is touched.
    let Some((text, loaded)) = pinned_answer(file, args.no_pin, |l| println!("{l}")) else {
        return 1;
    };
    let opts = iso::Options {
        iso: args.iso.as_deref().expect("checked by parse"),
        answer_text: &text,
        hook: None,
        out: args.output.as_deref(),
        force: args.force,
    };
    match iso::customise(&opts) {
        Ok(out) => {
            println!("{}: ready; write it to a USB stick with:", out.display());
            println!(
                "  dd if={} of=/dev/sdX bs=4M conv=fsync status=progress",
                out.display()
            );
            // Named as the plain root password is warned about: the stick is a secret.
            println!(
                "secrets on it: {}",
                iso::carried_secrets(
                    iso::proxmox_answer(&text).ok().as_deref(),
                    answer::for_host(&text).ok().as_deref()
                )
            );
            println!("{}", erase_warning(&loaded.answer));
            0
        }
        Err(e) => {
            eprintln!("pve-firstboot: image: {e}");
            interrupted_or(1)
        }
    }
}

/// What the stick does to any machine that boots it: the installer starts without asking
/// and erases the disks the answer selects. Said last, where the admin reads it.
fn erase_warning(a: &answer::Answer) -> String {
    let ds = a
        .installer
        .tables
        .get("disk-setup")
        .and_then(|v| v.as_table());
    let which = match ds {
        Some(d) if d.get("disk-list").is_some() => format!(
            "disk-list {}",
            d.get("disk-list")
                .map(|v| v.to_string())
                .unwrap_or_default()
        ),
        Some(d) => format!(
            "every disk matching {}",
            d.get("filter").map(|v| v.to_string()).unwrap_or_default()
        ),
        None => "the disks of [installer.disk-setup]".into(),
    };
    format!(
        "WARNING: this stick installs without asking. Any machine that boots it loses {which} \
         ({}). Run `pve-firstboot probe --check ANSWER` on the target first to see which disks \
         those are there, and keep the stick away from other machines.",
        a.installer.filesystem
    )
}

/// An answer file as text, bounded like every read of one.
fn read_text(file: &Path) -> crate::error::Result<String> {
    let b = crate::host::read_capped(file, crate::host::MAX_ANSWER_BYTES)?;
    String::from_utf8(b)
        .map_err(|_| crate::error::Error::msg(format!("{}: not UTF-8", file.display())))
}

/// `pin FILE`: the answer's images pinned in the file itself, which is rewritten (0600,
/// atomically) only when something was pinned and the result validates. In place rather
/// than on stdout: the answer holds the root password, which a shell redirection would
/// put in a file anyone may read.
fn pin_cmd(args: &Args) -> i32 {
    let file = args.file.as_deref().expect("checked by parse");
    let before = read_text(file).ok();
    let Some((text, _)) = pinned_answer(file, false, |l| println!("{l}")) else {
        return 1;
    };
    if before.as_deref() == Some(text.as_str()) {
        println!("{}: nothing to pin; left as it was", file.display());
        return 0;
    }
    match crate::host::atomic_write(file, text.as_bytes(), 0o600) {
        Ok(()) => {
            println!("{}: written (0600), comments kept", file.display());
            0
        }
        Err(e) => {
            eprintln!("pve-firstboot: pin: writing {}: {e}", file.display());
            1
        }
    }
}

/// The answer an install is made from (`image`, `hook`, `pin`): read, its images pinned
/// (unless `no_pin`; each pinned value reported through `say`), checked as `validate`
/// checks it, and refused if an image is still unpinned (a host would refuse it at first
/// boot). `None` after errors, which are printed; nothing is written then.
fn pinned_answer(file: &Path, no_pin: bool, say: impl Fn(&str)) -> Option<(String, Loaded)> {
    let name = file.display().to_string();
    let text = match read_text(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{name}: error: cannot read the answer file: {e}");
            return None;
        }
    };
    let text = if no_pin {
        text
    } else {
        match crate::pin::pin(&name, &text) {
            Ok(o) => {
                for p in &o.pinned {
                    say(&format!("pinned {p}"));
                }
                for l in &o.left {
                    say(l);
                }
                o.text
            }
            Err(e) => {
                eprintln!("pve-firstboot: pin: {e}");
                eprintln!("{name}: nothing was written (--no-pin keeps the answer as written)");
                return None;
            }
        }
    };
    let loaded = check_answer(&name, text.as_bytes(), false)?;
    let open = crate::pin::unpinned(&loaded.answer);
    if !open.is_empty() {
        for o in &open {
            eprintln!("{name}: error: {o} is not pinned, and allow-unpinned is not set");
        }
        eprintln!(
            "{name}: a host would refuse {} at first boot; give the checksum, set allow-unpinned = true{}; nothing was written",
            if open.len() == 1 { "it" } else { "them" },
            if no_pin {
                ", or leave out --no-pin"
            } else {
                ""
            }
        );
        return None;
    }
    Some((text, loaded))
}

fn hook_cmd(args: &Args) -> i32 {
    crate::tempdir::catch_interrupts();
    let file = args.file.as_deref().expect("checked by parse");
    let Some((text, _)) = pinned_answer(file, args.no_pin, |l| println!("{l}")) else {
        return 1;
    };
    let out = args.output.as_deref().expect("checked by parse");
    let res = crate::image::build_hook(&text)
        .and_then(|hook| crate::image::write_new(out, &hook, args.force).map(|()| hook.len()));
    match res {
        Ok(n) => {
            println!(
                "{}: {n} bytes (Proxmox allows {})",
                out.display(),
                crate::image::hook::MAX_HOOK_BYTES
            );
            0
        }
        Err(e) => {
            eprintln!("pve-firstboot: hook: {e}");
            interrupted_or(1)
        }
    }
}

fn apply(args: &Args) -> i32 {
    let Some(l) = load_checked(args.file.as_deref()) else {
        return 1;
    };
    let root = args.root.as_deref().expect("checked by parse");
    if !root.is_dir() {
        eprintln!("pve-firstboot: --root {}: not a directory", root.display());
        return 2;
    }
    execute(&Host::rooted(root), &l, RunMode::Converge).0
}

fn run(args: &Args) -> i32 {
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

/// How long `status --wait` waits at most: the unit's own start timeout
/// (`TimeoutStartSec=4h` in systemd/pve-firstboot.service).
const WAIT_LIMIT_SECS: u64 = 4 * 3600;

fn status_cmd(args: &Args) -> i32 {
    let host = host_for(args);
    let mut waited = 0;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Args, String> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn parsing() {
        let a = p("plan x.toml --root /tmp/r").unwrap();
        assert_eq!(a.file, Some(PathBuf::from("x.toml")));
        assert_eq!(a.root, Some(PathBuf::from("/tmp/r")));
        assert!(p("apply x.toml").is_err());
        assert!(p("status --json --wait --root=/r").unwrap().wait);
        assert!(p("validate a b").is_err());
        assert!(p("frobnicate").is_err());
        assert!(p("status --print").is_err());
        assert!(p("plan --root").is_err());
        assert!(p("").is_err());
        for missing in [
            "hand-over",
            "hook",
            "hook --answer a.toml",
            "hook -o out",
            "image",
            "image --iso x.iso",
            "image --answer a.toml",
            "image --inspect x.iso --iso y.iso",
        ] {
            assert!(p(missing).is_err(), "{missing}");
        }
        assert!(p("image --inspect x.iso").is_ok());
    }
}
