//! The image tool: the first-boot hook, and the customised installer ISO.

pub mod hook;
pub mod iso;

use std::path::Path;

use crate::answer;
use crate::error::{Context, Error, Result};
use crate::host::{Cmd, Host};

/// The agent binary's name: built beside this one from the same sources
/// (src/bin/pve-firstboot-agent.rs), the host's commands only.
pub const AGENT_BIN: &str = "pve-firstboot-agent";

/// The agent the hook carries: `pve-firstboot-agent` beside this binary (`cargo build`
/// and `cargo install` make both), or this binary itself when it is that agent.
pub fn agent_binary() -> Result<Vec<u8>> {
    let me = std::env::current_exe().ctx(|| "finding this binary")?;
    let path = if me.file_name().is_some_and(|n| n == AGENT_BIN) {
        me
    } else {
        me.with_file_name(AGENT_BIN)
    };
    crate::host::read_capped(&path, 64 << 20).map_err(|e| {
        Error::msg(format!(
            "reading the agent {}: {e} (it is built beside pve-firstboot: `cargo build --release` \
             or `cargo install --path .` makes both)",
            path.display()
        ))
    })
}

/// Build the hook for an answer file's text: the answer as the host keeps it, and the
/// agent ([`agent_binary`]), xz-compressed.
pub fn build_hook(answer_text: &str) -> Result<Vec<u8>> {
    let for_host = answer::for_host(answer_text)
        .map_err(|e| Error::msg(format!("preparing the answer: {e}")))?;
    let agent = agent_binary()?;
    let agent_xz = xz(&agent)?;
    // A SIGTERM sent to us alone leaves xz running to its end: stop here, before any write.
    crate::tempdir::check_interrupted()?;
    hook::build(env!("CARGO_PKG_VERSION"), &for_host, &agent_xz)
}

/// `xz --x86 --lzma2=preset=9e,lc=4,pb=0` through the xz command (every Debian/Ubuntu workstation and
/// Proxmox host has it; an xz encoder in the agent would add to the very size this saves).
/// The data goes through pipes, never a file: a work file in a shared /tmp is one another
/// user could swap for their own between our write and xz's read (and then run as root in
/// the hook).
pub fn xz(data: &[u8]) -> Result<Vec<u8>> {
    use std::io::{Read, Write};
    use std::process::Stdio;
    // -T1: the same bytes every time; --check=crc32: what the kernel's and busybox's
    // xz decoders understand too. --x86: xz's branch/call/jump filter turns the agent's
    // relative call and jump targets into absolute ones, which repeat and compress better
    // (40 KB less of the 1 MiB hook); `xz -dc` reads the filter chain from the stream's
    // header, so the hook's stub unpacks it as before (every xz-utils 5 decoder has BCJ).
    // lc=4, pb=0: x86 code's next byte depends more on the byte before it (4 bits of
    // literal context instead of 3) than on the position (instructions are not aligned):
    // 2 KB less. Any LZMA2 decoder reads these from the header too (lc + lp <= 4).
    let cmd = Cmd::new("xz").args([
        "--x86",
        "--lzma2=preset=9e,lc=4,pb=0",
        "-T1",
        "--check=crc32",
        "-c",
    ]);
    let mut child = Host::live().spawn(&cmd, Stdio::piped(), Stdio::piped())?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let mut out = Vec::new();
    // Feed stdin from a thread: xz writes as it reads, and a full stdout pipe that nobody
    // drains would stop it reading.
    let (fed, read) = std::thread::scope(|s| {
        let feeder = s.spawn(move || stdin.write_all(data));
        let read = stdout.read_to_end(&mut out);
        (feeder.join().unwrap_or(Ok(())), read)
    });
    let status = child.wait().ctx(|| format!("waiting for `{cmd}`"))?;
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    if !status.success() {
        return Err(Error::msg(format!(
            "`{cmd}` failed ({status}): {}",
            err.trim()
        )));
    }
    fed.ctx(|| format!("feeding `{cmd}`"))?;
    read.ctx(|| format!("reading from `{cmd}`"))?;
    Ok(out)
}

/// Write `data` to `out` through a temp file and a rename, never over an existing file
/// unless `force`; 0600, since what we write (a hook) carries the answer's secrets. It
/// needs no execute bit here: the installer copies the hook into the new system and makes
/// it 0700 there (pve-installer `Proxmox/Install.pm`, `chmod -R 0700`).
pub fn write_new(out: &Path, data: &[u8], force: bool) -> Result<()> {
    if out.exists() && !force {
        return Err(Error::msg(format!(
            "{} exists; use --force to replace it",
            out.display()
        )));
    }
    crate::host::atomic_write(out, data, 0o600).ctx(|| format!("writing {}", out.display()))
}
