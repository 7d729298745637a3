//! The image tool: the first-boot hook, and the customised installer ISO.

pub mod hook;
pub mod iso;

use std::path::Path;

use crate::answer;
use crate::error::{Context, Error, Result};
use crate::host::{Cmd, Host};

/// Build the hook for an answer file's text: the answer as the host keeps it, and this
/// very binary, xz-compressed.
pub fn build_hook(answer_text: &str) -> Result<Vec<u8>> {
    let for_host = answer::for_host(answer_text)
        .map_err(|e| Error::msg(format!("preparing the answer: {e}")))?;
    let agent = std::fs::read("/proc/self/exe").ctx(|| "reading the agent's own binary")?;
    let agent_xz = xz(&agent)?;
    hook::build(env!("CARGO_PKG_VERSION"), &for_host, &agent_xz)
}

/// `xz -9e` through the xz command (every Debian/Ubuntu workstation and Proxmox host has
/// it; an xz encoder in the agent would add to the very size this saves).
fn xz(data: &[u8]) -> Result<Vec<u8>> {
    let dir = std::env::temp_dir().join(format!("pve-firstboot-xz.{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("agent");
    let res = (|| {
        std::fs::write(&file, data)?;
        // -T1: the same bytes every time; --check=crc32: what the kernel's and busybox's
        // xz decoders understand too.
        Host::live().run_ok(
            &Cmd::new("xz")
                .args(["-9e", "-T1", "--check=crc32", "-f"])
                .arg(file.to_string_lossy()),
        )?;
        std::fs::read(dir.join("agent.xz")).ctx(|| "reading the compressed agent")
    })();
    let _ = std::fs::remove_dir_all(&dir);
    res
}

/// Write `data` to `out` through a temp file and a rename, never over an existing file
/// unless `force`.
pub fn write_new(out: &Path, data: &[u8], mode: u32, force: bool) -> Result<()> {
    if out.exists() && !force {
        return Err(Error::msg(format!(
            "{} exists; use --force to replace it",
            out.display()
        )));
    }
    crate::host::atomic_write(out, data, mode).ctx(|| format!("writing {}", out.display()))
}
