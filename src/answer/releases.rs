//! `[installer.*]` keys that only newer Proxmox installers know, with the first Proxmox VE
//! release whose ISO has such an installer. `validate` says what each key needs; `image`
//! refuses an answer that uses a key the ISO's installer would refuse ("unknown field":
//! proxmox-rs proxmox-installer-types/src/answer.rs denies unknown fields everywhere).
//!
//! Keys older than the oldest ISO `image` takes (Proxmox VE 8.4, `iso::MIN_RELEASE`) need
//! no entry: `fqdn` as a table (pve-installer a37e044, 8.4.3), `reboot-mode` (386c7f8,
//! 8.4.3), kebab-case keys (e126ee8, 8.4.0), upper- and lower-case RAID levels (a9e5f37,
//! 8.3), `root-password-hashed` (2ee718a, 8.2).

/// One key and the release that introduced it.
#[derive(Debug, PartialEq, Eq)]
pub struct NewerKey {
    /// Dotted path in our answer, `installer.` included.
    pub key: &'static str,
    /// Proxmox VE (major, minor): the ISO release whose installer first reads the key.
    pub since: (u32, u32),
}

/// Each from the pve-installer commit that added it and the first version bump after it.
pub const NEWER_KEYS: &[NewerKey] = &[
    // bb621a8 "auto: add support for pinning network interface names", then 9.1.0.
    NewerKey {
        key: "installer.network.interface-name-pinning",
        since: (9, 1),
    },
    // fe76a00 "install: stage subscription key for first-boot activation", then 9.2.0.
    NewerKey {
        key: "installer.global.subscription-key",
        since: (9, 2),
    },
    // 14b6a1d "post-hook: forward webhook auth token in callback body", then 9.2.0.
    NewerKey {
        key: "installer.post-installation-webhook.auth-token",
        since: (9, 2),
    },
];

/// The entry for `key` (a dotted path), if it is a newer key.
pub fn newer(key: &str) -> Option<&'static NewerKey> {
    NEWER_KEYS.iter().find(|k| k.key == key)
}

/// The newer keys used by an answer's `[installer.*]` tables (as values).
pub fn used(installer: &toml::Table) -> Vec<&'static NewerKey> {
    NEWER_KEYS
        .iter()
        .filter(|k| {
            let mut parts = k.key.split('.').skip(1).peekable();
            let mut t = installer;
            while let Some(p) = parts.next() {
                match (t.get(p), parts.peek()) {
                    (Some(_), None) => return true,
                    (Some(toml::Value::Table(sub)), Some(_)) => t = sub,
                    _ => return false,
                }
            }
            false
        })
        .collect()
}

/// `Err` naming every key of `answer_text` that the installer of Proxmox VE `release`
/// (`ver` as (major, minor)) does not know, and the release that introduced it.
pub fn check(answer_text: &str, release: &str, ver: (u32, u32)) -> Result<(), String> {
    let t: toml::Table = toml::from_str(answer_text).map_err(|e| e.message().to_string())?;
    let Some(toml::Value::Table(inst)) = t.get("installer") else {
        return Ok(());
    };
    let too_new: Vec<String> = used(inst)
        .into_iter()
        .filter(|k| k.since > ver)
        .map(|k| {
            format!(
                "{} needs Proxmox VE {}.{} or newer",
                k.key, k.since.0, k.since.1
            )
        })
        .collect();
    if too_new.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the installer of Proxmox VE {release} does not know every key of the answer and would stop: {}; \
         use a newer ISO or remove the key",
        too_new.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_newer_than_the_iso_is_refused_with_its_release() {
        let answer = "[installer.global]\nsubscription-key = \"pve4b-0123456789\"\n\
                      [installer.network]\nsource = \"from-dhcp\"\n\
                      interface-name-pinning = { enabled = false }\n";
        let (rel, ver) = crate::image::iso::release("RELEASE='8.4'\n").unwrap();
        let e = check(answer, &rel, ver).unwrap_err();
        assert!(
            e.contains("installer.global.subscription-key needs Proxmox VE 9.2 or newer"),
            "{e}"
        );
        assert!(
            e.contains("installer.network.interface-name-pinning needs Proxmox VE 9.1 or newer"),
            "{e}"
        );
        let e = check(answer, "9.1", (9, 1)).unwrap_err();
        assert!(!e.contains("pinning"), "{e}");
        assert!(check(answer, "9.2", (9, 2)).is_ok());
        assert!(check("[installer.global]\nfqdn = {}\n", "8.4", (8, 4)).is_ok());
    }
}
