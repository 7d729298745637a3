//! An OpenSSH public key's fingerprint as `ssh-keygen -l` prints it (`SHA256:` and the
//! unpadded base64 of the SHA-256 of the key blob), so that an admin can tell a
//! well-formed but wrong key from the right one before the stick is made.

use sha2::{Digest, Sha256};

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(B64[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
    }
    out
}

/// `SHA256:...` of a public key line (`TYPE BASE64 [COMMENT]`), `None` if it has no blob.
pub fn fingerprint(key: &str) -> Option<String> {
    let blob = decode(key.split_whitespace().nth(1)?)?;
    Some(format!("SHA256:{}", encode(&Sha256::digest(&blob))))
}

/// `ssh-keygen -l`'s line without the bit count: the fingerprint, then the comment.
pub fn describe(key: &str) -> String {
    let comment: Vec<&str> = key.split_whitespace().skip(2).collect();
    match fingerprint(key) {
        Some(f) if comment.is_empty() => format!("{f} (no comment)"),
        Some(f) => format!("{f} {}", comment.join(" ")),
        None => "not a key".into(),
    }
}

/// Every ssh key of an answer, each with where it is (`installer.global.root-ssh-keys[0]`,
/// `vm 101 cloud-init.ssh-keys[0]`), for `validate` and `probe --check` to show with its
/// fingerprint.
pub fn of_answer(a: &crate::answer::Answer) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = a
        .installer
        .root_ssh_keys
        .iter()
        .enumerate()
        .map(|(i, k)| (format!("installer.global.root-ssh-keys[{i}]"), k.clone()))
        .collect();
    for v in &a.vms {
        for (i, k) in v
            .cloud_init
            .iter()
            .flat_map(|c| c.ssh_keys.iter())
            .enumerate()
        {
            out.push((format!("vm {} cloud-init.ssh-keys[{i}]", v.vmid), k.clone()));
        }
    }
    for c in &a.containers {
        for (i, k) in c.ssh_keys.iter().enumerate() {
            out.push((format!("container {} ssh-keys[{i}]", c.vmid), k.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same fingerprint the real ssh-keygen prints for a freshly made key.
    #[test]
    fn as_ssh_keygen_prints_it() {
        let dir = std::env::temp_dir().join(format!("pvefb-sshkey-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let k = dir.join("k");
        let made = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "admin@laptop", "-f"])
            .arg(&k)
            .status();
        if !made.is_ok_and(|s| s.success()) {
            let _ = std::fs::remove_dir_all(&dir);
            panic!("ssh-keygen (openssh-client) is needed for this test");
        }
        let pubkey = std::fs::read_to_string(dir.join("k.pub")).unwrap();
        let l = std::process::Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(dir.join("k.pub"))
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let theirs = String::from_utf8_lossy(&l.stdout);
        let want = theirs.split_whitespace().nth(1).unwrap();
        assert_eq!(fingerprint(&pubkey).as_deref(), Some(want));
        assert!(describe(&pubkey).ends_with(" admin@laptop"));
        assert_eq!(fingerprint("ssh-ed25519 !!!"), None);
        assert_eq!(encode(b"f"), "Zg");
        assert_eq!(decode("Zm9vYg==").unwrap(), b"foob");
    }
}
