//! The `hardening` phase (`[hardening]`): sshd, kernel settings, the Proxmox firewall,
//! fail2ban and unattended upgrades — hardened without breaking the hypervisor.
//!
//! What generic baselines get wrong on Proxmox (REFERENCE §7), and this phase therefore
//! never does: `PermitRootLogin no` (clustering needs root over ssh), `AllowTcpForwarding
//! no` (live migration tunnels through ssh), `ip_forward=0` or a stricter `rp_filter` (the
//! NAT bridge, pve-firewall), blacklisting `fuse` or `vfat` (pmxcfs, the ESPs), `UMASK 027`
//! (containers), `hidepid` on /proc (polkit). Password login goes off only when one of the
//! answer's keys is really in root's authorized_keys.

use super::{Cx, Phase, owned_header};
use crate::answer::{Answer, Hardening, SshKex, Unattended};
use crate::error::{Error, Result};
use crate::host::Cmd;
use crate::overlay;

pub const SSHD_DROPIN: &str = "/etc/ssh/sshd_config.d/pve-firstboot.conf";
pub const AUTHORIZED_KEYS: &str = "/root/.ssh/authorized_keys";
pub const CLUSTER_FW: &str = "/etc/pve/firewall/cluster.fw";
/// How long to wait for pmxcfs (pve-cluster) to mount /etc/pve.
const PMXCFS_WAIT_SECS: u64 = 120;

pub struct HardeningPhase;

impl Phase for HardeningPhase {
    fn id(&self) -> &'static str {
        "hardening"
    }

    fn not_configured(&self, a: &Answer) -> Option<String> {
        a.hardening
            .is_none()
            .then(|| "no [hardening] table in the answer".into())
    }

    fn apply(&self, cx: &mut Cx) -> Result<()> {
        let cfg = cx.answer.hardening.clone().expect("configured");
        let mut refused = Vec::new();
        if let Err(e) = sshd(cx, &cfg) {
            if e.is_crash() {
                return Err(e);
            }
            refused.push(e.to_string());
        }
        let s = cx.install(&overlay::SYSCTL_HARDENING)?;
        if s || cx.resumed {
            cx.run(Cmd::new("sysctl").args(["-q", "-p", overlay::SYSCTL_HARDENING.path]))?;
        }
        if cfg.fail2ban {
            fail2ban(cx)?;
        }
        unattended(cx, cfg.unattended_upgrades)?;
        if cfg.firewall {
            if let Err(e) = firewall(cx) {
                if e.is_crash() {
                    return Err(e);
                }
                refused.push(e.to_string());
            }
        }
        if refused.is_empty() {
            Ok(())
        } else {
            Err(Error::msg(refused.join("; ")))
        }
    }
}

/// An OpenSSH key's type and data, without its comment: how two copies are compared.
fn key_id(line: &str) -> Option<(String, String)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    // authorized_keys lines may start with options (`from="..." ssh-ed25519 AAAA...`).
    let i = words
        .iter()
        .position(|w| w.starts_with("ssh-") || w.starts_with("ecdsa-") || w.starts_with("sk-"))?;
    Some((words[i].to_string(), words.get(i + 1)?.to_string()))
}

/// Algorithms that the current ssh-audit (3.9) passes without failure, and that OpenSSH 9.2
/// (PVE 8, Debian 12) and 10.0 (PVE 9, Debian 13) both know: no NIST curves, no SHA-1, no
/// CBC, no chacha20-poly1305 (Terrapin).
const CIPHERS: &str =
    "aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr";
const MACS: &str =
    "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,umac-128-etm@openssh.com";
const HOSTKEYS: &str = "ssh-ed25519,ssh-ed25519-cert-v01@openssh.com,sk-ssh-ed25519@openssh.com,rsa-sha2-512,rsa-sha2-256";
/// Post-quantum hybrid key exchange that OpenSSH 9.2 (bookworm) knows.
const KEX_PQ_9_2: &str = "sntrup761x25519-sha512@openssh.com";
/// OpenSSH 9.9 added ML-KEM and the unsuffixed sntrup name; trixie has 10.0, which prefers
/// ML-KEM itself. Naming them on bookworm would make `sshd -t` fail.
const KEX_PQ_9_9: &str =
    "mlkem768x25519-sha256,sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com";
/// The classical fallback: curve25519 is in every OpenSSH since 6.5 (Windows 10's built-in
/// ssh is 8.1) and PuTTY since 0.68. ssh-audit warns about it (not quantum-safe), it does
/// not fail it.
const KEX_CLASSICAL: &str = "curve25519-sha256,curve25519-sha256@libssh.org";

/// The `KexAlgorithms` line for this host's OpenSSH, in order of preference.
fn kex(cx: &Cx, mode: SshKex) -> String {
    // An unreadable os-release falls back to the list both releases accept.
    let pq = match super::host::codename(cx).ok().as_deref() {
        Some("bookworm") | None => KEX_PQ_9_2,
        Some(_) => KEX_PQ_9_9,
    };
    match mode {
        SshKex::PostQuantumOnly => pq.to_string(),
        SshKex::PostQuantumFirst => format!("{pq},{KEX_CLASSICAL}"),
    }
}

/// The sshd drop-in. sshd keeps the first value it reads for a keyword, and Debian's
/// sshd_config includes `sshd_config.d/*.conf` at its top, so every line here wins over the
/// main file — which is why root's login must be stated in both directions: the installer
/// sets `PermitRootLogin yes` in sshd_config (pve-installer: `Proxmox/Install.pm`, "allow ssh
/// root login"), and a `prohibit-password` here would take root's password away even when
/// root has no key — a lock-out, since root is the only user of a fresh Proxmox host.
fn sshd_dropin(password_off: bool, kex: &str) -> String {
    let mut body = owned_header("hardening phase");
    if password_off {
        body.push_str(
            "# One of the answer's keys is in root's authorized_keys, so passwords can go.\n\
             # Root keeps its key login (never `no`: Proxmox clustering and migration use\n\
             # root over ssh between nodes).\n\
             PermitRootLogin prohibit-password\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n",
        );
    } else {
        body.push_str(
            "# Root keeps its password login, as the installer set it: either the answer\n\
             # asks for it, or none of its keys is installed for root.\n\
             PermitRootLogin yes\n\
             PasswordAuthentication yes\n",
        );
    }
    body.push_str(&format!(
        "MaxAuthTries 3\n\
         X11Forwarding no\n\
         AllowAgentForwarding no\n\
         Compression no\n\
         # Key fingerprints in the log, for fail2ban and for the admin.\n\
         LogLevel VERBOSE\n\
         ClientAliveInterval 300\n\
         ClientAliveCountMax 2\n\
         # Kept on: live migration tunnels through ssh.\n\
         AllowTcpForwarding yes\n\
         # Only algorithms without known weaknesses (checked with ssh-audit); post-quantum\n\
         # key exchange first ([hardening] ssh-kex).\n\
         KexAlgorithms {kex}\n\
         Ciphers {CIPHERS}\n\
         MACs {MACS}\n\
         HostKeyAlgorithms {HOSTKEYS}\n"
    ));
    body
}

fn sshd(cx: &mut Cx, cfg: &Hardening) -> Result<()> {
    // Keys really installed for root (on Proxmox a symlink into /etc/pve/priv, followed).
    let installed: Vec<(String, String)> = cx
        .read(AUTHORIZED_KEYS)?
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(key_id)
        .collect();
    let ours = cx
        .answer
        .installer
        .root_ssh_keys
        .iter()
        .filter_map(|k| key_id(k))
        .any(|k| installed.contains(&k));
    let password_off = !cfg.ssh_password_login && ours;
    let body = sshd_dropin(password_off, &kex(cx, cfg.ssh_kex));
    let old = cx.read(SSHD_DROPIN)?;
    let changed = cx.write(SSHD_DROPIN, &body, 0o644)?;
    if changed || cx.resumed {
        // sshd keeps running with its old settings if the new ones are broken; only a
        // checked configuration is reloaded, and a broken one is taken back.
        if let Err(e) = cx.host.run_ok(&Cmd::new("sshd").arg("-t")) {
            if e.is_crash() {
                return Err(e);
            }
            match old {
                Some(o) => cx.write(SSHD_DROPIN, &o, 0o644)?,
                None => cx.remove(SSHD_DROPIN)?,
            };
            return Err(e.context(
                "the new sshd settings do not pass `sshd -t`; restored the previous ones",
            ));
        }
        cx.run(Cmd::new("systemctl").args(["reload", "ssh.service"]))?;
    }
    if !cfg.ssh_password_login && !password_off {
        return Err(Error::msg(format!(
            "ssh password login stays ON: none of the answer's root-ssh-keys is in {AUTHORIZED_KEYS}, \
             and turning passwords off would lock you out"
        )));
    }
    Ok(())
}

fn fail2ban(cx: &mut Cx) -> Result<()> {
    // python3-systemd: the journal backend (Proxmox has no rsyslog, so no auth.log).
    cx.ensure_package(&["fail2ban", "python3-systemd"], "/usr/bin/fail2ban-server")?;
    let a = cx.install(&overlay::FAIL2BAN_JAIL)?;
    let b = cx.install(&overlay::FAIL2BAN_FILTER)?;
    if a || b || cx.resumed {
        cx.run(Cmd::new("systemctl").args(["enable", "fail2ban.service"]))?;
        cx.run(Cmd::new("systemctl").args(["restart", "fail2ban.service"]))?;
    }
    Ok(())
}

fn unattended(cx: &mut Cx, mode: Unattended) -> Result<()> {
    if mode == Unattended::Off {
        cx.remove(overlay::UNATTENDED.path)?;
        return Ok(());
    }
    cx.ensure_package(&["unattended-upgrades"], "/usr/bin/unattended-upgrade")?;
    cx.install(&overlay::UNATTENDED)?;
    Ok(())
}

/// Whether pmxcfs has /etc/pve mounted (otherwise it is a bare directory that pmxcfs
/// would hide, and writing there would be lost).
fn pmxcfs_mounted(cx: &Cx) -> Result<bool> {
    Ok(cx
        .read("/proc/mounts")?
        .unwrap_or_default()
        .lines()
        .any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 2 && f[1] == "/etc/pve" && f[2].starts_with("fuse")
        }))
}

/// Wait for pmxcfs to mount /etc/pve (at most [`PMXCFS_WAIT_SECS`] on a live host); an
/// error naming `what` needs it when it does not.
pub(crate) fn wait_for_pmxcfs(cx: &Cx, what: &str) -> Result<()> {
    let mut waited = 0;
    while !pmxcfs_mounted(cx)? {
        if !cx.host.is_live() || waited >= PMXCFS_WAIT_SECS {
            return Err(Error::msg(format!(
                "{what} in /etc/pve, and pmxcfs (pve-cluster) has not mounted it{}",
                if cx.host.is_live() {
                    format!(" within {PMXCFS_WAIT_SECS} s")
                } else {
                    String::new()
                }
            )));
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
        waited += 2;
    }
    Ok(())
}

/// The node's name in Proxmox (its short host name): the answer's, else `/etc/hostname`'s
/// (a DHCP install). `what` says what needs it, for the error.
pub(crate) fn node_name(cx: &Cx, what: &str) -> Result<String> {
    match cx.answer.installer.hostname() {
        Some(h) => Ok(h.to_string()),
        None => cx
            .read("/etc/hostname")?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::msg(format!("reading /etc/hostname: empty; cannot name {what}"))),
    }
}

fn firewall(cx: &mut Cx) -> Result<()> {
    wait_for_pmxcfs(cx, "the Proxmox firewall is configured")?;
    let node = node_name(cx, "the node's firewall file")?;
    let mut cluster = String::from(
        "# Written by pve-firstboot (hardening phase).\n\
         [OPTIONS]\n\
         enable: 1\n\
         policy_in: DROP\n\
         policy_out: ACCEPT\n",
    );
    // `[hardening] admin-subnets`: more sources for the `management` ipset, which
    // pve-firewall completes with the node's local network itself (`src/PVE/Firewall.pm`,
    // `compile`: `push @{ $cluster_conf->{ipset}->{management} }, { cidr => $localnet }`)
    // and accepts the web UI, ssh, SPICE, VNC and migration from.
    let subnets = &cx
        .answer
        .hardening
        .as_ref()
        .expect("configured")
        .admin_subnets;
    if !subnets.is_empty() {
        cluster.push_str(
            "\n[IPSET management] # [hardening] admin-subnets of pve-firstboot; pve-firewall adds the local network\n",
        );
        for n in subnets {
            cluster.push_str(&format!("{n}\n"));
        }
    }
    // pve-firewall (`src/PVE/Firewall.pm`, the PVEFW-HOST-IN chain) already accepts 8006,
    // 22, 3128, 5900:5999 and 60000:60050 (migration) from its `management` ipset, which it
    // fills with the local network of the node's address (`local_network`) — so no rule of
    // ours repeats them, and none needs the management subnet (a DHCP install has no fixed
    // one). Its DROP policy (`PVEFW-Drop`) accepts only fragmentation-needed and
    // time-exceeded ICMP: pings need a rule (the `Ping` macro, ICMP echo-request).
    let mut rules = String::from(
        "# Written by pve-firstboot (hardening phase). pve-firewall itself accepts the web UI\n\
         # (8006), ssh (22), the SPICE proxy (3128), VNC consoles (5900-5999) and migration\n\
         # (60000-60050) from its `management` ipset, the host's local network; nothing else\n\
         # comes in but what follows.\n\
         [OPTIONS]\n\
         enable: 1\n\
         \n\
         [RULES]\n\
         # The LAN may ping the host (vmbr0: the installer's management bridge).\n\
         IN Ping(ACCEPT) -i vmbr0 -log nolog\n",
    );
    if let Some(b) = cx
        .answer
        .network
        .as_ref()
        .and_then(|n| n.vm_bridge.as_ref())
    {
        rules.push_str(&format!(
            "# Guests on {name} may ping the bridge address.\n\
             IN Ping(ACCEPT) -i {name} -log nolog\n",
            name = b.name
        ));
        if b.dhcp_range.is_some() {
            rules.push_str(&format!(
                "# DHCP and DNS for the guests on {name} (dnsmasq of the network phase).\n\
                 IN ACCEPT -i {name} -p udp -dport 67 -log nolog\n\
                 IN DNS(ACCEPT) -i {name} -log nolog\n",
                name = b.name
            ));
        }
    }
    let a = cx.write(CLUSTER_FW, &cluster, 0o640)?;
    let b = cx.write(&format!("/etc/pve/nodes/{node}/host.fw"), &rules, 0o640)?;
    if a || b || cx.resumed {
        // The running daemon reads both files again on its next update, at most ten seconds
        // away (pve-firewall `src/PVE/Service/pve_firewall.pm`: `run` calls
        // `PVE::Firewall::update` every `$updatetime`), as it does after the web UI writes
        // them; only a stopped one needs starting. A restart would be worse, not just slower:
        // its `pve-firewall stop` removes every rule until the start has compiled them again.
        cx.run(Cmd::new("systemctl").args(["start", "pve-firewall.service"]))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_without_comments_or_options() {
        let a = key_id("ssh-ed25519 AAAAC3Nza ops@laptop").unwrap();
        let b = key_id("from=\"10.0.0.0/8\" ssh-ed25519 AAAAC3Nza root@other").unwrap();
        assert_eq!(a, b);
        assert!(key_id("garbage").is_none());
    }

    #[test]
    fn password_lines_follow_the_decision() {
        let off = sshd_dropin(true, KEX_PQ_9_2);
        assert!(off.contains("\nPermitRootLogin prohibit-password\n"));
        assert!(off.contains("\nPasswordAuthentication no\n"));
        let on = sshd_dropin(false, KEX_PQ_9_2);
        assert!(on.contains("\nPermitRootLogin yes\n"));
        assert!(on.contains("\nPasswordAuthentication yes\n"));
        assert!(!on.contains("prohibit-password\n"));
    }

    #[test]
    fn ml_kem_only_where_openssh_knows_it() {
        // OpenSSH 9.2 (bookworm) refuses a KexAlgorithms name it does not know.
        assert!(!KEX_PQ_9_2.contains("mlkem"));
        assert!(KEX_PQ_9_9.starts_with("mlkem768x25519-sha256,"));
        assert!(!KEX_CLASSICAL.contains("nistp") && !KEX_CLASSICAL.contains("sha1"));
    }
}
