//! The first-boot hook: one file of at most 1 MiB that Proxmox runs once at first boot.
//!
//! Layout: a short `/bin/sh` stub, then our answer (as the host keeps it), then the static
//! agent compressed with xz. The stub unpacks the agent with `tail -c +OFFSET | xz -dc`
//! (every Proxmox host has sh, tail and xz) and runs `pve-firstboot hand-over`, which does
//! the rest in Rust, through the host boundary, where it is tested. A glibc-static agent
//! is ~1.7 MB, so it must travel compressed: REFERENCE §10.

use crate::error::{Error, Result};

/// Proxmox's limit for the hook file (the ISO tool and the installer both check it).
pub const MAX_HOOK_BYTES: usize = 1_048_576;
pub const ANSWER_MARK: &str = "__PVE_FIRSTBOOT_ANSWER__";
pub const AGENT_MARK: &str = "__PVE_FIRSTBOOT_AGENT__";

/// The shell stub, `image/proxmox-first-boot.sh`, with its two blanks filled in. The offset
/// is zero-padded to 8 digits, so the stub's length does not depend on its value.
fn stub(version: &str, offset: usize) -> String {
    include_str!("../../image/proxmox-first-boot.sh")
        .replace("@VERSION@", version)
        .replace("@OFFSET@", &format!("{offset:08}"))
}

/// Assemble the hook. `Err` (with the sizes) when it would exceed Proxmox's 1 MiB.
pub fn build(version: &str, answer: &str, agent_xz: &[u8]) -> Result<Vec<u8>> {
    let middle = format!("{ANSWER_MARK}\n{answer}\n{AGENT_MARK}\n");
    // The stub's length does not depend on the offset's value (it is zero-padded).
    let head_len = stub(version, 0).len() + middle.len();
    let mut out = stub(version, head_len + 1).into_bytes();
    out.extend_from_slice(middle.as_bytes());
    debug_assert_eq!(out.len(), head_len);
    out.extend_from_slice(agent_xz);
    if out.len() > MAX_HOOK_BYTES {
        return Err(Error::msg(format!(
            "the hook would be {} bytes (stub and answer {head_len}, agent {}); Proxmox allows at most \
             {MAX_HOOK_BYTES}",
            out.len(),
            agent_xz.len()
        )));
    }
    Ok(out)
}

/// The answer carried by a hook.
///
/// It starts after the first answer mark (the stub before it holds none) and ends where the
/// stub's `tail -c +OFFSET` says the agent begins, less the agent mark. Searching for the
/// agent mark instead would stop early at a line of the answer that equals it, which a
/// multi-line TOML string can hold; the offset cannot be fooled by the answer's text.
pub fn answer_of(hook: &[u8]) -> Result<String> {
    let mark = format!("\n{ANSWER_MARK}\n");
    let start = hook
        .windows(mark.len())
        .position(|w| w == mark.as_bytes())
        .map(|p| p + mark.len())
        .ok_or_else(|| Error::msg("not a pve-firstboot hook: no answer in it"))?;
    let head = String::from_utf8_lossy(&hook[..start]);
    let agent_at = head
        .split("tail -c +")
        .nth(1)
        .and_then(|rest| rest.get(..8))
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| n.checked_sub(1))
        .ok_or_else(|| Error::msg("not a pve-firstboot hook: its stub names no agent offset"))?;
    let tail = format!("\n{AGENT_MARK}\n");
    let end = agent_at
        .checked_sub(tail.len())
        .filter(|&e| e >= start && hook.get(e..agent_at) == Some(tail.as_bytes()))
        .ok_or_else(|| Error::msg("not a pve-firstboot hook: no agent where its stub says"))?;
    String::from_utf8(hook[start..end].to_vec())
        .map_err(|_| Error::msg("the hook's answer is not UTF-8"))
}

/// The version of the agent a hook carries, from its first comment line.
pub fn version_of(hook: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&hook[..hook.len().min(200)]).into_owned();
    head.lines()
        .nth(1)?
        .strip_prefix("# pve-firstboot ")?
        .split_whitespace()
        .next()
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_round_trips() {
        let agent = b"\xfd7zXZ\x00binary\nstuff";
        let hook = build("1.2.3", "a = 1\n", agent).unwrap();
        assert!(hook.starts_with(b"#!/bin/sh\n"));
        assert_eq!(answer_of(&hook).unwrap(), "a = 1\n");
        assert_eq!(version_of(&hook).as_deref(), Some("1.2.3"));
        // The offset in the stub points exactly at the agent (tail -c +N is 1-based).
        let text = String::from_utf8_lossy(&hook);
        let n: usize = text.split("tail -c +").nth(1).unwrap()[..8]
            .parse()
            .unwrap();
        assert_eq!(&hook[n - 1..], agent);
    }

    /// Lines of the answer that equal either mark (inside a multi-line string) stay in it.
    #[test]
    fn answer_lines_equal_to_the_marks_stay_answer() {
        let answer = format!("a = \"\"\"\n{AGENT_MARK}\n{ANSWER_MARK}\n\"\"\"\r\nb = 1\r\n");
        let hook = build("1", &answer, b"xz").unwrap();
        assert_eq!(answer_of(&hook).unwrap(), answer);
        assert!(answer_of(&hook[..hook.len() - 3]).is_err());
    }

    #[test]
    fn refuses_more_than_a_mebibyte() {
        let e = build("1", "", &vec![0u8; MAX_HOOK_BYTES]).unwrap_err();
        assert!(
            e.to_string().contains("Proxmox allows at most 1048576"),
            "{e}"
        );
    }
}
