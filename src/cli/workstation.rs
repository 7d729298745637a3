//! The workstation's commands: building the stick (`image`, `hook`) and pinning an
//! answer's images (`pin`). They never run on the host, so the agent in the hook is built
//! without them.

use std::path::Path;

use super::{Args, Command, check_answer};
use crate::answer::{self, Loaded};

pub const COMMANDS: &[Command] = &[
    Command {
        name: "pin",
        flags: &[],
        usage: "  pve-firstboot pin FILE                         pin every image of the answer in FILE itself
                                                 (comments kept): HAOS \"stable\" as the current
                                                 release and its sha256 from GitHub's release,
                                                 cloud images' checksums from their publisher's
                                                 SHA512SUMS/SHA256SUMS
",
    },
    Command {
        name: "image",
        flags: &["--iso", "--answer", "-o", "--output", "--force", "--inspect", "--no-pin"],
        usage: "  pve-firstboot image --iso IN.iso --answer FILE [-o OUT.iso] [--force] [--no-pin]
                                                 a Proxmox VE installer ISO that installs from
                                                 the answer (pinned as `pin` does, unless
                                                 --no-pin) and runs the agent at first boot
                                                 (default OUT: IN-auto-from-iso.iso)
  pve-firstboot image --inspect ISO              what a customised ISO carries (no secrets)
",
    },
    Command {
        name: "hook",
        flags: &["--answer", "-o", "--output", "--force", "--no-pin"],
        usage: "  pve-firstboot hook --answer FILE -o OUT [--force] [--no-pin]
                                                 build the first-boot hook (at most 1 MiB): the
                                                 agent (pve-firstboot-agent, beside this
                                                 binary), xz-compressed, and the answer without
                                                 the root password
",
    },
];

/// Run one of [`COMMANDS`] (parsed already).
pub fn run(args: &Args) -> i32 {
    match args.command.as_str() {
        "pin" => pin_cmd(args),
        "image" => image_cmd(args),
        "hook" => hook_cmd(args),
        _ => 2,
    }
}

/// Whether `cmd` is an executable file in a directory of `$PATH`.
fn on_path(cmd: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            std::fs::metadata(d.join(cmd))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
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
    // What needs no network first: the ISO and xorriso, so that a typo or a missing tool
    // is said before any publisher is asked.
    let iso_path = args.iso.as_deref().expect("checked by parse");
    if !iso_path.is_file() {
        eprintln!(
            "pve-firstboot: image: {}: no such ISO file (download the Proxmox VE installer ISO first)",
            iso_path.display()
        );
        return 1;
    }
    if !on_path("xorriso") {
        eprintln!(
            "pve-firstboot: image: xorriso is not installed (Debian/Ubuntu: apt install xorriso)"
        );
        return 1;
    }
    // Pinned, then the same checks as `validate`, before anything is touched.
    let Some((text, loaded)) = pinned_answer(file, args.no_pin, false, |l| println!("{l}")) else {
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
    let Some((text, _)) = pinned_answer(file, false, true, |l| println!("{l}")) else {
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
/// `pin_only`: for `pin` itself, which has no --no-pin to suggest.
fn pinned_answer(
    file: &Path,
    no_pin: bool,
    pin_only: bool,
    say: impl Fn(&str),
) -> Option<(String, Loaded)> {
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
                eprintln!(
                    "{name}: nothing was written. Without the publisher: type the image's \
                     checksum into the answer (`sha256` for [haos], `sha512` or `sha256` in \
                     [vm.cloud-init]){}, or set allow-unpinned = true to let the host download \
                     it unverified",
                    if pin_only {
                        ""
                    } else {
                        " and build with --no-pin"
                    }
                );
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
    let Some((text, _)) = pinned_answer(file, args.no_pin, false, |l| println!("{l}")) else {
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
