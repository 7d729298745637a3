//! The files the phases install verbatim. They live in the repository under `overlay/`, at
//! their path on the host, so that they are read, reviewed and diffed as the very files
//! that land there; the binary carries them and writes them through the host boundary like
//! any other file. `tests/overlay.rs` checks that every file under `overlay/` is listed in
//! [`ALL`] and that the phases install each one byte for byte.

/// One file of the overlay: its path on the host and its content.
pub struct File {
    pub path: &'static str,
    pub body: &'static str,
}

macro_rules! overlay_file {
    ($path:literal) => {
        File {
            path: $path,
            body: include_str!(concat!("../overlay", $path)),
        }
    };
}

// host phase
pub const JOURNALD: File = overlay_file!("/etc/systemd/journald.conf.d/pve-firstboot.conf");
pub const SYSCTL_TUNING: File = overlay_file!("/etc/sysctl.d/80-pve-firstboot-tuning.conf");
// network phase
pub const NAT_UNIT: File = overlay_file!("/etc/systemd/system/pve-firstboot-nat.service");
pub const DNSMASQ_UNIT: File = overlay_file!("/etc/systemd/system/pve-firstboot-dnsmasq.service");
// hardening phase
/// systemd-sysctl applies all sysctl.d files sorted by name, whatever their directory, so
/// the name must sort after Debian's /usr/lib/sysctl.d/protect-links.conf, which would
/// otherwise set fs.protected_fifos/regular back to 1 at boot ("pve-" > "protect-").
pub const SYSCTL_HARDENING: File = overlay_file!("/etc/sysctl.d/pve-firstboot-hardening.conf");
pub const FAIL2BAN_JAIL: File = overlay_file!("/etc/fail2ban/jail.d/pve-firstboot.local");
pub const FAIL2BAN_FILTER: File =
    overlay_file!("/etc/fail2ban/filter.d/pve-firstboot-proxmox.conf");
pub const UNATTENDED: File =
    overlay_file!("/etc/apt/apt.conf.d/52pve-firstboot-unattended-upgrades");

pub const ALL: &[&File] = &[
    &JOURNALD,
    &SYSCTL_TUNING,
    &NAT_UNIT,
    &DNSMASQ_UNIT,
    &SYSCTL_HARDENING,
    &FAIL2BAN_JAIL,
    &FAIL2BAN_FILTER,
    &UNATTENDED,
];
