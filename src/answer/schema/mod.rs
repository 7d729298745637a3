//! The answer file's schema: every table, every key, its type, range and default.
//!
//! Each `read_*` function reads one table and returns its typed form, or `None` when a
//! required value is missing or invalid (the error is already recorded). Spans of values
//! that cross-field rules point at are kept in [`Spans`].

//!
//! One file per table, named as the table and as its phase in `src/phases/`.

mod backup;
mod container;
mod haos;
mod hardening;
mod host;
mod installer;
mod network;
mod notify;
mod passthrough;
mod storage;
mod vm;

use std::ops::Range;

use toml::de::DeTable;

use super::reader::{Checker, Tbl};
use super::*;
pub use backup::KEEP;
use backup::read_backup;
use container::{CtCtx, read_containers};
use haos::read_haos;
use hardening::read_hardening;
use host::read_host;
use installer::read_installer;
use network::read_network;
use notify::read_notify;
use passthrough::read_passthrough;
pub use vm::guest_net;
use vm::{VmCtx, read_vms};

/// Spans of the values that cross-field rules report on.
#[derive(Default)]
pub struct Spans {
    pub global: Range<usize>,
    pub root_ssh_keys: Option<Range<usize>>,
    pub mailto: Option<Range<usize>>,
    pub root_password: Option<Range<usize>>,
    pub mgmt_cidr: Option<Range<usize>>,
    pub vm_bridge: Option<Range<usize>>,
    pub vm_cidr: Option<Range<usize>>,
    pub dhcp_range: Option<Range<usize>>,
    /// Index in the `allow` array and span of each entry that parsed.
    pub allow: Vec<(usize, Range<usize>)>,
    pub forwards: Vec<(Range<usize>, Range<usize>)>, // (port, to)
    pub ssh_password_login: Option<Range<usize>>,
    pub hardening: Option<Range<usize>>,
    pub haos_bridge: Option<Range<usize>>,
    pub haos_ip: Option<Range<usize>>,
    pub haos_version: Option<Range<usize>>,
    pub haos_storage: Option<Range<usize>>,
}

/// What was read, as far as it could be read.
pub struct Read {
    pub installer: Option<Installer>,
    pub agent: Agent,
    pub host: Option<HostCfg>,
    pub passthrough: Option<Passthrough>,
    pub network: Option<NetworkCfg>,
    pub hardening: Option<Hardening>,
    pub haos: Option<Haos>,
    pub vms: Vec<VmCfg>,
    pub containers: Vec<CtCfg>,
    pub notify: Option<Notify>,
    pub backup: Option<Backup>,
    pub storages: Vec<StorageDef>,
    pub sp: Spans,
}

impl Read {
    /// The typed answer, if everything it needs could be read.
    pub fn into_answer(self) -> Option<Answer> {
        Some(Answer {
            installer: self.installer?,
            agent: self.agent,
            host: self.host,
            passthrough: self.passthrough,
            network: self.network,
            hardening: self.hardening,
            haos: self.haos,
            vms: self.vms,
            containers: self.containers,
            notify: self.notify,
            backup: self.backup,
            storages: self.storages,
        })
    }
}

pub fn read(c: &mut Checker, doc: &DeTable) -> Read {
    let mut root = Tbl::new("", 0..0, doc);
    let mut sp = Spans::default();
    let mut disk_count = None;

    let installer = match root.table(c, "installer") {
        Some(mut t) => {
            let i = read_installer(c, &mut t, &mut sp, &mut disk_count);
            t.finish(c);
            i
        }
        None => {
            if !root.has("installer") {
                c.error(
                    &(0..0),
                    "installer.global",
                    "missing required table [installer.global]",
                );
            }
            None
        }
    };
    let agent = match root.table(c, "agent") {
        Some(mut t) => {
            let a = Agent {
                max_reboots: t
                    .int(c, "max-reboots", 1..=10, "max-reboots")
                    .map_or(3, |v| v.v as u32),
                background_downloads: t.bool(c, "background-downloads").is_none_or(|v| v.v),
            };
            t.finish(c);
            a
        }
        None => Agent {
            max_reboots: 3,
            background_downloads: true,
        },
    };
    let host = root.table(c, "host").map(|mut t| {
        let h = read_host(c, &mut t);
        t.finish(c);
        h
    });
    let passthrough = root.table(c, "passthrough").and_then(|mut t| {
        let p = read_passthrough(c, &mut t);
        t.finish(c);
        p
    });
    let network = root.table(c, "network").and_then(|mut t| {
        let n = read_network(c, &mut t, &mut sp);
        t.finish(c);
        n
    });
    let hardening = root.table(c, "hardening").map(|mut t| {
        sp.hardening = Some(t.span.clone());
        let h = read_hardening(c, &mut t, &mut sp);
        t.finish(c);
        h
    });
    let haos = root.table(c, "haos").and_then(|mut t| {
        let h = read_haos(c, &mut t, &mut sp, network.as_ref(), installer.as_ref());
        t.finish(c);
        h
    });
    let root_keys = installer
        .as_ref()
        .map(|i| i.root_ssh_keys.clone())
        .unwrap_or_default();
    let vms = read_vms(
        c,
        &mut root,
        &VmCtx {
            network: network.as_ref(),
            installer: installer.as_ref(),
            passthrough: passthrough.as_ref(),
            haos: haos.as_ref(),
            root_keys: &root_keys,
        },
    );
    let containers = read_containers(
        c,
        &mut root,
        &CtCtx {
            network: network.as_ref(),
            installer: installer.as_ref(),
            haos: haos.as_ref(),
            vms: &vms,
            root_keys: &root_keys,
        },
    );
    let notify = root.table(c, "notify").and_then(|mut t| {
        let n = read_notify(c, &mut t);
        t.finish(c);
        n
    });
    let backup = root.table(c, "backup").and_then(|mut t| {
        let ours = haos.is_some() || !vms.is_empty() || !containers.is_empty();
        let b = read_backup(c, &mut t, ours);
        t.finish(c);
        b
    });
    let storages = storage::read_storages(c, &mut root, installer.as_ref());
    let uses = std::mem::take(&mut c.storage_uses);
    let host_config = backup.as_ref().is_some_and(|b| b.host_config);
    storage::check_uses(c, &uses, &storages, installer.as_ref(), host_config);
    // A table that is there but could not be read must never be dropped in silence (its
    // phase would simply not run): each reader records why, and this says so if one did not.
    for (key, read) in [
        ("passthrough", passthrough.is_some()),
        ("network", network.is_some()),
        ("haos", haos.is_some()),
        ("notify", notify.is_some()),
        ("backup", backup.is_some()),
    ] {
        let errors = c
            .diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        if !read && root.has(key) && errors == 0 {
            c.error(
                &root.key_span(key),
                key,
                "could not be read, and no more precise error was found (please report this answer)",
            );
        }
    }
    if let (Some(i), Some(Notify { smtp: Some(_), .. })) = (&installer, &notify) {
        // The smtp target mails installer.global.mailto: proxmox-notify's `mailto` takes
        // an EMAIL_SCHEMA value, at most 64 characters (proxmox-notify/src/schema.rs).
        if !notify::mail_ok(&i.mailto) {
            c.error(
                sp.mailto.as_ref().unwrap_or(&sp.global),
                "installer.global.mailto",
                "[notify.smtp] mails this address, and Proxmox's notification targets take at \
                 most 64 characters of local@domain",
            );
        }
    }
    root.finish(c);
    Read {
        installer,
        agent,
        host,
        passthrough,
        network,
        hardening,
        haos,
        vms,
        containers,
        notify,
        backup,
        storages,
        sp,
    }
}

/// `32G`, `40960M`, `1T`: what `qm resize` takes, in whole units.
pub fn parse_size_gib(s: &str) -> Option<f64> {
    let (num, unit) = s.split_at(s.find(|ch: char| !ch.is_ascii_digit()).unwrap_or(s.len()));
    let n: f64 = num.parse::<u64>().ok()? as f64;
    match unit {
        "K" => Some(n / (1024.0 * 1024.0)),
        "M" => Some(n / 1024.0),
        "G" => Some(n),
        "T" => Some(n * 1024.0),
        _ => None,
    }
}

/// A checksum that is a placeholder, not a checksum: one digit repeated (the all-zero
/// value examples carry). No real SHA-256 or SHA-512 looks like that.
pub fn is_placeholder_sum(s: &str) -> bool {
    s.len() > 1 && s.bytes().all(|b| b == s.as_bytes()[0])
}

/// What `validate` says about a placeholder checksum under `key`.
pub(crate) fn placeholder_message(key: &str) -> String {
    format!(
        "is a placeholder, not a {key}: remove the line, and `pve-firstboot image` pins the \
         publisher's checksum when it builds the stick (`pve-firstboot pin FILE` writes it \
         into the file)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert!(is_placeholder_sum(&"0".repeat(64)));
        assert!(is_placeholder_sum(&"f".repeat(128)));
        assert!(!is_placeholder_sum(&format!("1{}", "0".repeat(63))));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size_gib("32G"), Some(32.0));
        assert_eq!(parse_size_gib("1T"), Some(1024.0));
        assert_eq!(parse_size_gib("40960M"), Some(40.0));
        assert_eq!(parse_size_gib("2097152K"), Some(2.0));
        assert_eq!(parse_size_gib("32"), None);
        assert_eq!(parse_size_gib("G"), None);
        assert_eq!(parse_size_gib("3.5G"), None);
    }
}
