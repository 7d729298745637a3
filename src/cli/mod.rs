//! The command line: shared parsing (no parser crate: it would add to the 1 MiB hook for a
//! handful of flags), the host agent's commands (`agent.rs`) and the workstation's
//! (`workstation.rs`), each with its own usage. The hook carries an agent built from
//! [`agent_main`] alone (`src/bin/pve-firstboot-agent.rs`), so that the linker leaves the
//! workstation's code (the ISO tool, pinning) out of it.

pub mod agent;
pub mod workstation;

use std::path::{Path, PathBuf};

use crate::answer::{self, Loaded};
use crate::host::Host;

/// One subcommand: its name, the flags it takes, and its usage (synopsis, then what it
/// does, as `COMMAND --help` prints it).
pub struct Command {
    pub name: &'static str,
    pub flags: &'static [&'static str],
    pub usage: &'static str,
}

const TITLE: &str = "pve-firstboot: turn a fresh Proxmox VE install into a finished homeserver\n";
const EXIT: &str = "\
exit status: 0 done/valid, 1 failed/invalid, 2 usage error, 3 not finished yet (status,
apply and run: a reboot is pending or the phases are still running)
";

/// The usage text of a set of commands.
pub fn usage(cmds: &[&[Command]]) -> String {
    let mut out = format!("{TITLE}\nusage:\n");
    for c in cmds.iter().flat_map(|c| c.iter()) {
        out.push_str(c.usage);
    }
    out.push_str("  pve-firstboot COMMAND --help                   that command's usage\n\n");
    out.push_str(EXIT);
    out
}

/// Log lines to stderr (see `crate::logging`).
pub fn init_logging() {
    crate::logging::init();
}

/// The arguments after the program's name, as text.
pub fn argv() -> Vec<String> {
    // Output into a pipe that closes early (`| head`) ends the process quietly, as it does a
    // C program; Rust's runtime ignores SIGPIPE and `println!` would panic on the write.
    // SAFETY: setting a signal's disposition to its default is async-signal-safe, and no
    // other thread exists yet.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        )
    };
    std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// Every command of the full binary, the agent's first.
pub const ALL: [&[Command]; 2] = [agent::COMMANDS, workstation::COMMANDS];

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
    /// `COMMAND --help`: print that command's usage.
    pub help: bool,
    /// The answer `validate` and `plan` read without FILE: the embedded example (name,
    /// text) in the workstation's binary; `None` in the agent, which reads the installed
    /// answer instead (and so carries no example: 10 KB less in the hook).
    pub example: Option<(&'static str, &'static str)>,
}

/// Parse argv (without the program name) against `cmds`. `Err` is a usage message.
pub fn parse(argv: &[String], cmds: &[&[Command]]) -> Result<Args, String> {
    let mut it = argv.iter();
    let command = it.next().ok_or("no command given")?.clone();
    let allowed: &[&str] = match command.as_str() {
        "-h" | "--help" | "help" | "-V" | "--version" => &[],
        name => match cmds.iter().flat_map(|c| c.iter()).find(|c| c.name == name) {
            Some(c) => c.flags,
            // Named here, not looked up in workstation::COMMANDS: the agent would carry
            // that table (and its usage text) for this one message.
            None if ["pin", "image", "hook"].contains(&name) => {
                return Err(format!(
                    "\"{name}\" runs on the workstation: this is the host's agent (use the \
                     pve-firstboot binary built there)"
                ));
            }
            None => return Err(format!("unknown command \"{name}\"")),
        },
    };
    let mut a = Args {
        command,
        ..Args::default()
    };
    // `COMMAND --help` anywhere on the line: that command's usage, whatever else is there.
    if argv.iter().skip(1).any(|a| a == "--help" || a == "-h") {
        a.help = true;
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

/// An answer to make an install from (`image`, `hook`, `run`): the root password is
/// required.
pub(crate) fn load(file: Option<&Path>) -> Option<Loaded> {
    load_as(file, None, false)
}

/// Read and check an answer file, printing its diagnostics. `None` after errors.
/// The installed copy (no root password, see `answer::for_host`) passes only with
/// `installed_ok`: `validate`, `plan`, `apply` and `probe --check` read it; `image` and
/// `hook`, which make an install from the answer, need the password.
pub(crate) fn load_as(
    file: Option<&Path>,
    example: Option<(&str, &str)>,
    installed_ok: bool,
) -> Option<Loaded> {
    let (name, bytes) = read_answer(file, example)?;
    check_answer(&name, &bytes, installed_ok)
}

/// An answer file's name and bytes (the embedded example without one), bounded like every
/// read of one.
pub(crate) fn read_answer(
    file: Option<&Path>,
    example: Option<(&str, &str)>,
) -> Option<(String, Vec<u8>)> {
    let file = match (file, example) {
        (None, Some((name, text))) => return Some((name.to_string(), text.as_bytes().to_vec())),
        (None, None) => Some(Path::new(DEFAULT_ANSWER)),
        (f, _) => f,
    };
    Some(match file {
        None => unreachable!("a file or the example"),
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
pub(crate) fn check_answer(name: &str, bytes: &[u8], installed_ok: bool) -> Option<Loaded> {
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

/// The full binary (the workstation's): every command.
pub fn main(argv: &[String]) -> i32 {
    dispatch(argv, &ALL, Some((answer::EXAMPLE_NAME, answer::EXAMPLE)))
}

/// The agent in the hook and on the host: the host's commands only.
pub fn agent_main(argv: &[String]) -> i32 {
    dispatch(argv, &[agent::COMMANDS], None)
}

fn dispatch(
    argv: &[String],
    cmds: &[&[Command]],
    example: Option<(&'static str, &'static str)>,
) -> i32 {
    let args = match parse(argv, cmds) {
        Ok(a) => Args { example, ..a },
        Err(e) => {
            eprintln!("pve-firstboot: {e}\n\n{}", usage(cmds));
            return 2;
        }
    };
    // A root that is not there is one clear error, not a cascade of phase errors (`plan`)
    // or a report of an empty machine (`probe`, `status`).
    if let Some(r) = args.root.as_ref().filter(|r| !r.is_dir()) {
        eprintln!("pve-firstboot: --root {}: not a directory", r.display());
        return 2;
    }
    if args.help {
        let c = cmds
            .iter()
            .flat_map(|c| c.iter())
            .find(|c| c.name == args.command)
            .expect("parsed");
        print!("usage:\n{}\n{EXIT}", c.usage);
        return 0;
    }
    match args.command.as_str() {
        "-h" | "--help" | "help" => {
            print!("{}", usage(cmds));
            0
        }
        "-V" | "--version" => {
            println!("pve-firstboot {}", env!("CARGO_PKG_VERSION"));
            0
        }
        c if agent::COMMANDS.iter().any(|x| x.name == c) => agent::run(&args),
        _ if cmds.len() > 1 => workstation::run(&args),
        _ => 2,
    }
}

pub(crate) fn host_for(args: &Args) -> Host {
    match &args.root {
        Some(r) => Host::rooted(r),
        None => Host::live(),
    }
}

pub(crate) fn with_host(args: &Args, f: impl FnOnce(&Host) -> crate::error::Result<()>) -> i32 {
    match f(&host_for(args)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("pve-firstboot: {}: {e}", args.command);
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Args, String> {
        parse(
            &s.split_whitespace().map(String::from).collect::<Vec<_>>(),
            &ALL,
        )
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
