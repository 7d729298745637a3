//! `[installer.*]`: Proxmox's own answer file, checked as its installer checks it.

use std::net::IpAddr;
use std::ops::Range;

use super::*;
use crate::answer::net::{self, Cidr};
use crate::answer::reader::{Checker, Sp, Tbl};

/// proxmox-rs proxmox-installer-types/src/answer.rs, KeyboardLayout (kebab-case), the same
/// as the keymaps of pve-installer country.pl that verify_locale_settings checks against.
pub const KEYBOARDS: &[&str] = &[
    "de", "de-ch", "dk", "en-gb", "en-us", "es", "fi", "fr", "fr-be", "fr-ca", "fr-ch", "hu", "is",
    "it", "jp", "lt", "mk", "nl", "no", "pl", "pt", "pt-br", "se", "si", "tr",
];
/// The zone names of tzdata's `zone.tab` (Debian's tzdata 2025b, as on the 9.x ISOs): the
/// only zones Proxmox's installer offers. pve-installer: country.pl, parse_zoneinfo (keeps
/// the third column of each zone.tab line), checked by proxmox-auto-installer/src/utils.rs,
/// verify_locale_settings, which also takes "UTC". Backward-compatible aliases
/// (`Etc/UTC`, `US/Eastern`, `Europe/Kiev`) are not in zone.tab and are refused there.
const ZONES: &str = include_str!("../data/zones.txt");
/// ISO 3166-1 alpha-2, lowercase: pve-installer country.pl reads iso-codes' iso_3166-1.json;
/// verify_locale_settings (proxmox-auto-installer/src/utils.rs) checks against it.
const COUNTRIES: &str = include_str!("../data/countries.txt");

/// The installer's own placeholder, refused as an address. proxmox-rs:
/// proxmox-installer-types/src/lib.rs, EMAIL_DEFAULT_PLACEHOLDER; pve-installer:
/// proxmox-installer-common/src/options.rs, email_validate.
const MAILTO_PLACEHOLDER: &str = "mail@example.invalid";

// The installer's three expressions below are matched by hand: the regex crate cost about
// 160 KiB of the agent (a sixth of the hook), for three fixed patterns. The unit tests
// check each matcher against Proxmox's own expression with the regex crate (a
// dev-dependency) over generated strings, and the conformance suite runs pve-installer's
// checks on every answer case (tests/proxmox).

/// `[a-zA-Z0-9]` of a domain label, and `-` inside one.
fn label_ok(l: &str) -> bool {
    let b = l.as_bytes();
    (1..=63).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// An address as pve-installer takes it (proxmox-installer-common/src/options.rs,
/// email_validate: the HTML living standard's "valid e-mail address"): a local part of
/// letters, digits and `.!#$%&'*+/=?^_`{|}~-`, `@`, then dot-separated labels of at most 63
/// letters, digits and inner hyphens. A domain without a dot (`root@localhost`) is fine.
fn mailto_ok(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(&c))
        && domain.split('.').all(label_ok)
}

/// A pinned interface name as pve-installer takes it (proxmox-installer-common/src/
/// options.rs, NetworkInterfacePinningOptions::verify, its `pve-iface` expression,
/// case-blind): a letter, then 1 to 20 letters, digits or `_`, optionally `:` or `.` and
/// digits. ASCII only, as Linux interface names are.
fn ifname_ok(s: &str) -> bool {
    let (name, suffix) = match s.find([':', '.']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let b = name.as_bytes();
    (2..=21).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && suffix.is_none_or(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()))
}

/// A subscription key's form (proxmox-rs: proxmox-installer-types/src/answer.rs,
/// SUBSCRIPTION_KEY_REGEX): `pve` and digits, `pbs` or `pmg`; one of `cbsp`; `-`; ten
/// lower-case hex digits.
fn subscription_key_ok(s: &str) -> bool {
    let rest = if let Some(r) = s.strip_prefix("pve") {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        &r[digits..]
    } else if let Some(r) = s.strip_prefix("pbs").or_else(|| s.strip_prefix("pmg")) {
        r
    } else {
        return false;
    };
    let b = rest.as_bytes();
    b.len() == 12
        && b"cbsp".contains(&b[0])
        && b[1] == b'-'
        && b[2..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// A `filter` value as the installer compiles it: `glob::Pattern::new` (glob 0.3) in
/// pve-installer: proxmox-auto-installer/src/utils.rs, get_single_udev_index (NICs) and
/// get_matched_udev_indexes (disks). An invalid pattern fails the install there ("invalid
/// glob in disk selection"). The rules, from glob's Pattern::new: `*` and `?` anywhere;
/// three or more `*` in a row never; `**` only as a whole `/`-separated part; `[` opens a
/// class that needs a closing `]` with at least one character between (`[]]` and `[!]]`
/// hold a `]`).
pub fn check_glob(p: &str) -> Result<(), String> {
    let c: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '*' => {
                let start = i;
                while c.get(i) == Some(&'*') {
                    i += 1;
                }
                match i - start {
                    1 => {}
                    2 => {
                        let alone_before = start == 0 || c[start - 1] == '/';
                        let alone_after = i == c.len() || c[i] == '/';
                        if !(alone_before && alone_after) {
                            return Err(format!(
                                "\"{p}\" is not a valid glob: `**` must be a whole path part (use `*`)"
                            ));
                        }
                    }
                    _ => {
                        return Err(format!(
                            "\"{p}\" is not a valid glob: three or more `*` in a row (use `*`)"
                        ));
                    }
                }
            }
            '[' => {
                // `[!...]` needs one more character before its `]` can close it.
                let (min_len, close_from) = if c.get(i + 1) == Some(&'!') {
                    (4, 3)
                } else {
                    (3, 2)
                };
                let close = (i + min_len <= c.len())
                    .then(|| c[i + close_from..].iter().position(|&x| x == ']'))
                    .flatten();
                match close {
                    Some(j) => i += close_from + j + 1,
                    None => {
                        return Err(format!(
                            "\"{p}\" is not a valid glob: `[` opens a character class that is never closed (match a literal `[` with `[[]`)"
                        ));
                    }
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Says which release a key of newer installers needs (see `answer::releases`), when the
/// answer uses it.
fn note_release(c: &mut Checker, t: &Tbl, key: &str) {
    let path = t.key_path(key);
    if let Some(k) = crate::answer::releases::newer(&path).filter(|_| t.has(key)) {
        c.warning(
            &t.key_span(key),
            &path,
            format!(
                "needs a Proxmox VE {}.{} or newer ISO (older installers stop on this key; `image` checks)",
                k.since.0, k.since.1
            ),
        );
    }
}

/// A udev `filter` table: at least one property, each value a valid glob.
fn check_filter(c: &mut Checker, t: &Tbl, filter: &[(Sp<String>, Sp<String>)]) {
    for (k, v) in filter {
        if let Err(e) = check_glob(&v.v) {
            c.error(&v.span, &format!("{}.{}", t.key_path("filter"), k.v), e);
        }
    }
}

pub(super) fn read_installer(
    c: &mut Checker,
    t: &mut Tbl,
    sp: &mut Spans,
    disk_count: &mut Option<(usize, Range<usize>)>,
) -> Option<Installer> {
    if let Some(v) = t.raw("first-boot") {
        c.error(
            &t.key_span("first-boot"),
            "installer.first-boot",
            "is managed by pve-firstboot (its hook runs the agent); remove this table",
        );
        let _ = v;
    }
    if let Some(mut w) = t.table(c, "post-installation-webhook") {
        if let Some(url) = w.req_string(c, "url", "the URL to post to") {
            if !(url.v.starts_with("https://") || url.v.starts_with("http://")) {
                c.error(
                    &url.span,
                    &w.key_path("url"),
                    "must be an http:// or https:// URL",
                );
            }
        }
        w.string(c, "cert-fingerprint");
        // Since pve-installer 9.2 (post-hook: forward webhook auth token); proxmox-rs
        // proxmox-installer-types/src/answer.rs, PostNotificationHookInfo::auth_token.
        w.string(c, "auth-token");
        note_release(c, &w, "auth-token");
        w.finish(c);
    }
    let network = match t.table(c, "network") {
        Some(mut n) => {
            let r = read_mgmt_network(c, &mut n, sp);
            n.finish(c);
            r
        }
        // Required, with no default: proxmox-rs proxmox-installer-types/src/answer.rs,
        // AutoInstallerConfig::network.
        None => {
            if !t.has("network") {
                c.error(
                    &t.span,
                    "installer.network",
                    "missing required table; the Proxmox installer has no default (add \
                     [installer.network] with source = \"from-dhcp\" or \"from-answer\")",
                );
            }
            Err(())
        }
    };
    let filesystem = match t.table(c, "disk-setup") {
        Some(mut d) => {
            let r = read_disk_setup(c, &mut d, disk_count);
            d.finish(c);
            r
        }
        // Required, with no default: AutoInstallerConfig::disks (proxmox-installer-types).
        None => {
            if !t.has("disk-setup") {
                c.error(
                    &t.span,
                    "installer.disk-setup",
                    "missing required table; the Proxmox installer has no default (add \
                     [installer.disk-setup] with filesystem and disk-list or filter)",
                );
            }
            None
        }
    };
    let Some(mut g) = t.table(c, "global") else {
        if !t.has("global") {
            c.error(&t.span, "installer.global", "missing required table");
        }
        return None;
    };
    sp.global = g.span.clone();
    let global = read_global(c, &mut g, sp);
    g.finish(c);
    let mut inst = global?;
    inst.network = network.ok()?;
    inst.filesystem = filesystem?;
    Some(inst)
}

pub(super) fn read_global(c: &mut Checker, g: &mut Tbl, sp: &mut Spans) -> Option<Installer> {
    let country = g.req_string(c, "country", "a two-letter country code such as \"de\"");
    if let Some(s) = &country {
        if !COUNTRIES.lines().any(|l| l == s.v) {
            c.error(
                &s.span,
                &g.key_path("country"),
                format!("\"{}\" is not an ISO 3166-1 country code; use two lowercase letters such as \"de\" or \"us\"", s.v),
            );
        }
    }
    let fqdn = read_fqdn(c, g);
    let keyboard = if g.has("keyboard") {
        g.one_of(c, "keyboard", KEYBOARDS)
    } else {
        g.missing(
            c,
            "keyboard",
            "a keyboard layout such as \"en-us\" or \"de\"",
        );
        g.raw("keyboard");
        None
    };
    let mailto = g.req_string(c, "mailto", "the admin's e-mail address");
    if let Some(m) = &mailto {
        sp.mailto = Some(m.span.clone());
        // pve-installer: proxmox-installer-common/src/options.rs, email_validate.
        if !mailto_ok(&m.v) {
            c.error(
                &m.span,
                &g.key_path("mailto"),
                format!(
                    "\"{}\" is not an e-mail address (user@example.org); the Proxmox installer refuses it",
                    m.v
                ),
            );
        } else if m.v == MAILTO_PLACEHOLDER {
            c.error(
                &m.span,
                &g.key_path("mailto"),
                format!("\"{MAILTO_PLACEHOLDER}\" is the installer's placeholder, which it refuses; give a real address"),
            );
        }
    }
    let timezone = g.req_string(
        c,
        "timezone",
        "a zone name such as \"Europe/Berlin\" or \"UTC\"",
    );
    if let Some(z) = &timezone {
        if z.v != "UTC" && !ZONES.lines().any(|l| l == z.v) {
            c.error(
                &z.span,
                &g.key_path("timezone"),
                format!(
                    "\"{}\" is not a zone the Proxmox installer knows; use a name from tzdata's zone.tab \
                     such as \"Europe/Berlin\" or \"America/New_York\", or \"UTC\" (aliases such as \
                     \"Etc/UTC\", \"US/Eastern\" or \"Europe/Kiev\" are refused)",
                    z.v
                ),
            );
        }
    }
    let pw = g.string(c, "root-password");
    let hashed = g.string(c, "root-password-hashed");
    match (&pw, &hashed) {
        (Some(p), Some(_)) => c.error(
            &p.span,
            &g.key_path("root-password"),
            "set either root-password or root-password-hashed, not both",
        ),
        (None, None) if !c.installed && !g.has("root-password") && !g.has("root-password-hashed") => c.error(
            &g.span,
            &g.key_path("root-password-hashed"),
            "missing; set root-password-hashed (a crypt(3) hash, e.g. from `mkpasswd -m yescrypt`) or root-password",
        ),
        _ => {}
    }
    if let Some(p) = &pw {
        sp.root_password = Some(p.span.clone());
        // Proxmox counts bytes, not characters: pve-installer
        // proxmox-auto-installer/src/utils.rs, verify_email_and_root_password_settings
        // (`password.len() < ROOT_PASSWORD_MIN_LENGTH`, 8 in proxmox-installer-common).
        if p.v.len() < 8 {
            c.error(
                &p.span,
                &g.key_path("root-password"),
                "must be at least 8 bytes long (the Proxmox installer refuses shorter ones)",
            );
        }
    }
    if let Some(h) = &hashed {
        // crypt(3) hashes start with $id$ (yescrypt $y$, SHA-512 $6$, ...); anything else
        // would be installed as a hash nobody can log in with.
        if !h.v.starts_with('$') || h.v.len() < 13 || h.v.chars().any(char::is_whitespace) {
            c.error(
                &h.span,
                &g.key_path("root-password-hashed"),
                "is not a crypt(3) hash such as \"$y$j9T$...\" (make one with `mkpasswd -m yescrypt`); \
                 the installer would set it as is, and nobody could log in as root",
            );
        }
    }
    let keys = g.strings(c, "root-ssh-keys").unwrap_or_default();
    if g.has("root-ssh-keys") {
        sp.root_ssh_keys = Some(g.key_span("root-ssh-keys"));
    }
    for (i, k) in keys.iter().enumerate() {
        // Stricter than Proxmox, which installs any line: a broken key locks root out once
        // the hardening phase turns password login off.
        if let Err(e) = check_ssh_key(&k.v) {
            c.error(
                &k.span,
                &format!("{}[{i}]", g.key_path("root-ssh-keys")),
                format!("{e}; root could not log in with it"),
            );
        }
    }
    g.bool(c, "reboot-on-error");
    g.one_of(c, "reboot-mode", &["reboot", "power-off"]);
    // Since pve-installer 9.2 (install: stage subscription key for first-boot activation);
    // proxmox-rs proxmox-installer-types/src/answer.rs, GlobalOptions::subscription_key.
    // The installer takes any string and fails only when activating it at first boot;
    // we check it against the crate's SUBSCRIPTION_KEY_REGEX (with its 11..32 length) now.
    note_release(c, g, "subscription-key");
    if let Some(k) = g.string(c, "subscription-key") {
        if !(11..=32).contains(&k.v.len()) || !subscription_key_ok(&k.v) {
            c.error(
                &k.span,
                &g.key_path("subscription-key"),
                "is not a Proxmox subscription key such as \"pve4b-0123456789\" (checked now \
                 rather than failing to activate at first boot)",
            );
        }
    }
    Some(Installer {
        fqdn: fqdn?,
        country: country?.v,
        keyboard: keyboard?.v.to_string(),
        mailto: mailto?.v,
        timezone: timezone?.v,
        root_password: pw.map(|p| Secret::new(p.v)),
        root_password_hashed: hashed.map(|p| Secret::new(p.v)),
        root_ssh_keys: keys.into_iter().map(|k| k.v).collect(),
        network: None,
        filesystem: String::new(),
        tables: toml::Table::new(),
    })
}

/// `fqdn` is a string, or since Proxmox 8.4.3 `{ source = "from-dhcp", domain = "..." }`.
pub(super) fn read_fqdn(c: &mut Checker, g: &mut Tbl) -> Option<Option<String>> {
    if !g.has("fqdn") {
        g.raw("fqdn");
        g.missing(
            c,
            "fqdn",
            "the host's fully qualified name such as \"atlas.home.arpa\"",
        );
        return None;
    }
    if let Some(s) = g
        .raw("fqdn")
        .filter(|v| matches!(v.get_ref(), toml::de::DeValue::String(_)))
    {
        let toml::de::DeValue::String(name) = s.get_ref() else {
            return None;
        };
        return match net::check_fqdn(name) {
            Ok(()) => Some(Some(name.to_ascii_lowercase())),
            Err(e) => {
                c.error(&s.span(), &g.key_path("fqdn"), e);
                None
            }
        };
    }
    // The table form: proxmox-rs proxmox-installer-types/src/answer.rs, FqdnFromDhcpConfig:
    // `source` defaults to "from-dhcp" (its only value), `domain` is optional and an empty
    // one counts as unset (deserialize_non_empty_string_maybe).
    if let Some(v) = g
        .raw("fqdn")
        .filter(|v| !matches!(v.get_ref(), toml::de::DeValue::Table(_)))
    {
        c.error(
            &v.span(),
            &g.key_path("fqdn"),
            format!(
                "expected a name such as \"atlas.home.arpa\" or a table {{ source = \"from-dhcp\" }}, found {}",
                crate::answer::reader::type_name(v.get_ref())
            ),
        );
        return None;
    }
    let mut t = g.table(c, "fqdn")?;
    let source_ok = !t.has("source") || t.one_of(c, "source", &["from-dhcp"]).is_some();
    t.raw("source");
    if let Some(d) = t.string(c, "domain") {
        // Stricter than Proxmox, which takes any string and, when hostname.domain is not a
        // valid name, silently installs as pve.example.invalid (pve-installer:
        // proxmox-installer-common/src/options.rs, NetworkOptions::construct_fqdn).
        if !d.v.is_empty() && !d.v.split('.').all(net::is_label) {
            c.error(
                &d.span,
                &t.key_path("domain"),
                format!(
                    "\"{}\" is not a domain name (the installer would silently fall back to pve.example.invalid)",
                    d.v
                ),
            );
        }
    }
    t.finish(c);
    source_ok.then_some(None)
}

/// An OpenSSH public key line: `type base64 [comment]`.
pub(super) fn check_ssh_key(k: &str) -> Result<(), String> {
    const TYPES: &[&str] = &[
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ];
    let mut parts = k.split_whitespace();
    let (Some(kind), Some(body)) = (parts.next(), parts.next()) else {
        return Err("is not an OpenSSH public key (\"ssh-ed25519 AAAA... comment\")".into());
    };
    if !TYPES.contains(&kind) {
        return Err(format!(
            "key type \"{kind}\" is not supported; use one of: {}",
            TYPES.join(", ")
        ));
    }
    if body.len() < 16
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    {
        return Err("the key data is not base64 (paste the whole line of the .pub file)".into());
    }
    if k.contains('\n') {
        return Err("holds a line break; give one key per array entry".into());
    }
    // A key goes into authorized_keys and, for a [[vm]], into cloud-init's YAML user data,
    // whose loader refuses a non-character such as U+FFFF outright: the VM would boot
    // without its user, keys and guest agent, and say nothing. A control character (an
    // escape sequence in the comment) reaches every terminal that lists the keys. Neither
    // is in a line ssh-keygen writes.
    if let Some(c) = k.chars().find(|&c| c.is_control() || is_noncharacter(c)) {
        return Err(format!(
            "has the {} U+{:04X} in it, which no OpenSSH public key has (cloud-init's YAML \
             would refuse it; paste the line of the .pub file)",
            if c.is_control() {
                "control character"
            } else {
                "non-character"
            },
            c as u32
        ));
    }
    Ok(())
}

/// Unicode's non-characters: U+FDD0..U+FDEF and the last two code points of every plane
/// (U+FFFE, U+FFFF, U+1FFFE, ...). YAML loaders refuse U+FFFE and U+FFFF; none of them
/// belongs in a key.
fn is_noncharacter(c: char) -> bool {
    let c = c as u32;
    (0xFDD0..=0xFDEF).contains(&c) || c & 0xFFFE == 0xFFFE
}

/// `Err(())` when the table is there but broken, `Ok(None)` for `from-dhcp`.
pub(super) fn read_mgmt_network(
    c: &mut Checker,
    n: &mut Tbl,
    sp: &mut Spans,
) -> Result<Option<MgmtNet>, ()> {
    // `source` is the tag of proxmox-rs proxmox-installer-types/src/answer.rs, NetworkConfig
    // (`#[serde(tag = "source")]`): required, no default ("missing field `source`").
    let source = if n.has("source") {
        n.one_of(c, "source", &["from-dhcp", "from-answer"])
    } else {
        n.missing(
            c,
            "source",
            "\"from-dhcp\" or \"from-answer\"; the Proxmox installer has no default",
        );
        n.raw("source");
        None
    };
    let cidr = n.string(c, "cidr");
    let dns = n.string(c, "dns");
    let gateway = n.string(c, "gateway");
    let filter = n.string_map(c, "filter");
    read_pinning(c, n);
    let source = source.ok_or(())?.v;
    if source == "from-dhcp" {
        for k in ["cidr", "dns", "gateway", "filter"] {
            if n.has(k) {
                c.error(
                    &n.key_span(k),
                    &n.key_path(k),
                    "is not allowed with source = \"from-dhcp\" (use source = \"from-answer\" for a static address)",
                );
            }
        }
        return Ok(None);
    }
    for (k, v) in [
        ("cidr", cidr.is_some()),
        ("dns", dns.is_some()),
        ("gateway", gateway.is_some()),
    ] {
        if !v && !n.has(k) {
            n.missing(c, k, "required with source = \"from-answer\"");
        }
    }
    if filter.is_none() && !n.has("filter") {
        n.missing(
            c,
            "filter",
            "required with source = \"from-answer\": a udev property glob choosing the NIC, e.g. filter.ID_NET_NAME_MAC = \"*\"",
        );
    }
    if let Some(f) = &filter {
        // An empty filter fails the install: "no filter defined" in pve-installer
        // proxmox-auto-installer/src/utils.rs, get_single_udev_index.
        if f.is_empty() {
            c.error(
                &n.key_span("filter"),
                &n.key_path("filter"),
                "needs at least one udev property (the Proxmox installer stops on an empty filter)",
            );
        }
        check_filter(c, n, f);
    }
    let cidr = cidr.and_then(|s| {
        sp.mgmt_cidr = Some(s.span.clone());
        // Stricter than Proxmox, whose Cidr (proxmox-rs proxmox-network-types
        // ip_address.rs, Ipv4Cidr::from_str) reads a bare address as /32: a host alone in
        // its subnet has no gateway it can reach.
        let bare = !s.v.contains('/') && s.v.parse::<IpAddr>().is_ok();
        Cidr::parse(&s.v)
            .map_err(|e| {
                let e = if bare {
                    format!("\"{}\" has no prefix; write it as ADDRESS/PREFIX such as {}/24 (the installer would take /32, leaving no route to the gateway)", s.v, s.v)
                } else {
                    e
                };
                c.error(&s.span, &n.key_path("cidr"), e)
            })
            .ok()
    });
    let mut ip = |v: Option<Sp<String>>, key: &str| -> Option<IpAddr> {
        let v = v?;
        v.v.parse()
            .map_err(|_| {
                c.error(
                    &v.span,
                    &n.key_path(key),
                    format!("\"{}\" is not an IP address", v.v),
                )
            })
            .ok()
    };
    let dns = ip(dns, "dns");
    let gateway_span = n.key_span("gateway");
    let gateway = ip(gateway, "gateway");
    let (Some(cidr), Some(dns), Some(gateway)) = (cidr, dns, gateway) else {
        return Err(());
    };
    if let (Some(c4), IpAddr::V4(g4)) = (cidr.v4(), gateway) {
        if !c4.contains_host(g4) || g4 == c4.addr {
            c.error(
                &gateway_span,
                &n.key_path("gateway"),
                // Stricter than Proxmox's installer, which takes any gateway: outside the
                // subnet the host has no route to it and comes up unreachable.
                format!(
                    "{g4} is not a host in the management subnet {}, so the host would have no route to it",
                    c4.subnet()
                ),
            );
        }
    }
    Ok(Some(MgmtNet { cidr, gateway, dns }))
}

/// `interface-name-pinning = { enabled = true, mapping = { "MAC" = "name" } }`, with either
/// source. Since pve-installer 9.1 (auto: add support for pinning network interface names);
/// proxmox-rs proxmox-installer-types/src/answer.rs, NetworkInterfacePinningOptionsAnswer
/// (`enabled` required). The names are checked only when enabled, as in pve-installer
/// proxmox-installer-common/src/options.rs, NetworkInterfacePinningOptions::verify:
/// 2 to 15 bytes (MIN_IFNAME_LEN, MAX_IFNAME_LEN in its lib.rs), its `pve-iface`
/// expression, and no name given to two addresses.
fn read_pinning(c: &mut Checker, n: &mut Tbl) {
    note_release(c, n, "interface-name-pinning");
    let Some(mut p) = n.table(c, "interface-name-pinning") else {
        return;
    };
    let enabled = if p.has("enabled") {
        p.bool(c, "enabled").map(|b| b.v)
    } else {
        p.raw("enabled");
        p.missing(c, "enabled", "true or false");
        None
    };
    let mapping = p.string_map(c, "mapping").unwrap_or_default();
    if enabled == Some(true) {
        let mut seen: Vec<(String, &str)> = Vec::new();
        for (mac, name) in &mapping {
            let key = format!("{}.{}", p.key_path("mapping"), mac.v);
            let mac_lc = mac.v.to_lowercase();
            if !(2..=15).contains(&name.v.len()) {
                c.error(
                    &name.span,
                    &key,
                    format!("\"{}\" must be 2 to 15 bytes long", name.v),
                );
            } else if !ifname_ok(&name.v) {
                c.error(
                    &name.span,
                    &key,
                    format!(
                        "\"{}\" is not an interface name: a letter, then letters, digits and underscores",
                        name.v
                    ),
                );
            } else if let Some((other, _)) = seen
                .iter()
                .find(|(m, n)| *n == name.v.as_str() && *m != mac_lc)
            {
                c.error(
                    &name.span,
                    &key,
                    format!("\"{}\" is already the name of {other}", name.v),
                );
            }
            seen.push((mac_lc, &name.v));
        }
    }
    p.finish(c);
}

/// ZFS RAID levels as proxmox-rs proxmox-installer-types/src/answer.rs, ZfsRaidLevel reads
/// them: the upper-case names and their lower-case aliases, nothing in between.
const ZFS_RAID: &[&str] = &[
    "raid0", "raid1", "raid10", "raidz-1", "raidz-2", "raidz-3", "RAID0", "RAID1", "RAID10",
    "RAIDZ-1", "RAIDZ-2", "RAIDZ-3",
];
/// BtrfsRaidLevel in the same file.
const BTRFS_RAID: &[&str] = &["raid0", "raid1", "raid10", "RAID0", "RAID1", "RAID10"];

pub(super) fn read_disk_setup(
    c: &mut Checker,
    d: &mut Tbl,
    disk_count: &mut Option<(usize, Range<usize>)>,
) -> Option<String> {
    let fs = if d.has("filesystem") {
        d.one_of(c, "filesystem", &["ext4", "xfs", "zfs", "btrfs"])
    } else {
        d.raw("filesystem");
        d.missing(c, "filesystem", "one of ext4, xfs, zfs, btrfs");
        None
    };
    let disks = d.strings(c, "disk-list");
    let filter = d.string_map(c, "filter");
    c.install_serial_glob = filter
        .iter()
        .flatten()
        .find(|(k, _)| k.v == "ID_SERIAL")
        .map(|(_, v)| v.v.clone());
    d.one_of(c, "filter-match", &["any", "all"]);
    // Both default to empty; exactly one must be non-empty (proxmox-installer-types
    // answer.rs, DiskSetup::disk_selection: "Need either 'disk-list' or 'filter' set",
    // "Cannot use both"). `disk-list = []` beside a filter is fine there, and so here.
    let list_used = disks.as_ref().is_some_and(|l| !l.is_empty());
    let filter_used = filter.as_ref().is_some_and(|f| !f.is_empty());
    if list_used && filter_used {
        c.error(
            &d.key_span("filter"),
            &d.key_path("filter"),
            "use either disk-list or filter, not both",
        );
    } else if !list_used
        && !filter_used
        // A key of the wrong type has had its error already.
        && disks.is_some() == d.has("disk-list")
        && filter.is_some() == d.has("filter")
    {
        let what = "choose the disks with disk-list = [\"sda\"] or a filter.<UDEV_PROPERTY> glob; \
                    the Proxmox installer needs one of them non-empty";
        if d.has("disk-list") || d.has("filter") {
            let k = if d.has("disk-list") {
                "disk-list"
            } else {
                "filter"
            };
            c.error(&d.key_span(k), &d.key_path(k), format!("is empty; {what}"));
        } else {
            d.missing(c, "disk-list", what);
        }
    }
    if let Some(f) = &filter {
        check_filter(c, d, f);
    }
    if let Some(list) = &disks {
        check_disk_list(c, d, list);
        if list_used {
            *disk_count = Some((list.len(), d.key_span("disk-list")));
        }
    }
    let fs_name = fs.as_ref().map(|f| f.v);
    let mut raid_given = false;
    // One options table per filesystem; the others are errors (DiskSetup::filesystem_details:
    // "make sure only 'zfs' options are set" and the like).
    for (sub, owner) in [("zfs", "zfs"), ("lvm", "ext4/xfs"), ("btrfs", "btrfs")] {
        let Some(mut t) = d.table(c, sub) else {
            continue;
        };
        let fits = match fs_name {
            Some(f) => owner.split('/').any(|o| o == f),
            None => true,
        };
        if !fits {
            c.error(
                &t.span,
                &t.path,
                format!(
                    "options for {owner}, but filesystem = \"{}\"",
                    fs_name.unwrap_or_default()
                ),
            );
        }
        match sub {
            "zfs" => {
                raid_given |= fits && t.has("raid");
                let raid = t.one_of(c, "raid", ZFS_RAID);
                check_raid_disks(c, &t, raid.as_ref(), disk_count);
                // Stricter than Proxmox, whose answer types take any u32 here; these are the
                // ranges of its own API schema (ZfsOptions in proxmox-installer-types), and
                // what `zpool create` / the ZFS module accept.
                t.int(
                    c,
                    "ashift",
                    9..=16,
                    "ashift (as ZFS and Proxmox's API schema allow)",
                );
                t.int(
                    c,
                    "arc-max",
                    64..=1 << 30,
                    "arc-max (MiB, ZFS's own minimum 64)",
                );
                t.one_of(c, "checksum", &["on", "fletcher4", "sha256"]);
                t.one_of(
                    c,
                    "compress",
                    &["on", "off", "lzjb", "lz4", "zle", "gzip", "zstd"],
                );
                t.int(c, "copies", 1..=3, "copies (as ZFS allows)");
                t.number(c, "hdsize");
            }
            "lvm" => {
                let hdsize = t.number(c, "hdsize");
                let swapsize = t.number(c, "swapsize");
                for k in ["maxroot", "maxvz", "minfree"] {
                    t.number(c, k);
                }
                // pve-installer: proxmox-auto-installer/src/utils.rs, verify_disks_settings
                // calls check_swapsize (proxmox-installer-common/src/disk_checks.rs).
                if let (Some(h), Some(s)) = (hdsize, swapsize) {
                    if s.v > h.v / 2.0 {
                        c.error(
                            &s.span,
                            &t.key_path("swapsize"),
                            format!(
                                "{} GiB is more than hdsize / 2 = {} GiB; the Proxmox installer refuses it",
                                s.v,
                                h.v / 2.0
                            ),
                        );
                    }
                }
            }
            _ => {
                raid_given |= fits && t.has("raid");
                let raid = t.one_of(c, "raid", BTRFS_RAID);
                check_raid_disks(c, &t, raid.as_ref(), disk_count);
                t.number(c, "hdsize");
                t.one_of(c, "compress", &["on", "off", "zlib", "lzo", "zstd"]);
            }
        }
        t.finish(c);
    }
    if let Some(f) = &fs {
        match f.v {
            // No default RAID level: DiskSetup::filesystem_details bails on a missing table
            // and on a table without `raid` alike ("ZFS raid level 'zfs.raid' must be set").
            "zfs" | "btrfs" if !raid_given => {
                let at = if d.has(f.v) {
                    d.key_span(f.v)
                } else {
                    d.span.clone()
                };
                c.error(
                    &at,
                    &format!("{}.{}.raid", d.path, f.v),
                    format!(
                        "missing; filesystem = \"{}\" needs a RAID level (the Proxmox installer has no default)",
                        f.v
                    ),
                )
            }
            "ext4" | "xfs" => {
                if let Some((n, span)) = disk_count {
                    if *n > 1 {
                        c.error(
                            span,
                            &d.key_path("disk-list"),
                            format!("{} takes a single disk; use zfs or btrfs for several", f.v),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    fs.map(|f| f.v.to_string())
}

/// `disk-list`: Proxmox picks each disk whose device path ends with the entry
/// (pve-installer: proxmox-auto-installer/src/utils.rs, set_single_disk and
/// set_selected_disks, `path.ends_with(disk_name)`), so `sda` and `/dev/sda` both work, and
/// refuses an entry given twice (verify_disks_settings). Stricter: an entry that cannot end
/// a /dev/NAME path (empty: it would match every disk; a by-id path or a space: none), and
/// `sda` beside `/dev/sda`, which the installer takes as two disks but installs on one.
fn check_disk_list(c: &mut Checker, d: &Tbl, list: &[Sp<String>]) {
    let mut seen: Vec<&str> = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let key = format!("{}[{i}]", d.key_path("disk-list"));
        let name = s.v.strip_prefix("/dev/").unwrap_or(&s.v);
        if name.is_empty() || name.contains('/') || name.chars().any(char::is_whitespace) {
            c.error(
                &s.span,
                &key,
                format!(
                    "\"{}\" is not a disk name such as \"sda\", \"nvme0n1\" or \"/dev/sda\" (the installer \
                     matches the end of /dev/NAME paths; by-id paths never match)",
                    s.v
                ),
            );
            continue;
        }
        if seen.contains(&name) {
            let why = if list.iter().filter(|o| o.v == s.v).count() > 1 {
                "the Proxmox installer refuses a disk listed twice"
            } else {
                "the same disk as an earlier entry (the installer would count it twice but install on it once)"
            };
            c.error(&s.span, &key, format!("\"{}\" is listed twice; {why}", s.v));
        }
        seen.push(name);
    }
}

/// The fewest disks each RAID level takes: pve-installer
/// proxmox-installer-common/src/options.rs, RaidLevel::get_min_disks, checked against
/// `disk-list` in proxmox-auto-installer/src/utils.rs, verify_disks_settings.
pub(super) fn check_raid_disks(
    c: &mut Checker,
    t: &Tbl,
    raid: Option<&Sp<&str>>,
    disks: &Option<(usize, Range<usize>)>,
) {
    let (Some(raid), Some((n, _))) = (raid, disks) else {
        return;
    };
    let min = match raid.v.to_ascii_lowercase().as_str() {
        "raid0" => 1,
        "raid1" => 2,
        "raidz-1" => 3,
        "raid10" | "raidz-2" => 4,
        _ => 5,
    };
    if *n < min {
        c.error(
            &raid.span,
            &t.key_path("raid"),
            format!("{} needs at least {min} disks, disk-list has {n}", raid.v),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each rule of glob's Pattern::new, both sides.
    #[test]
    fn globs_as_the_installer_compiles_them() {
        for ok in [
            "*", "eno*", "e?o1", "**", "a/**", "**/b", "a/**/b", "[ab]", "[!a]x", "[]]", "[!]]",
            "]", "x[a-]", "",
        ] {
            assert!(check_glob(ok).is_ok(), "{ok}");
        }
        for bad in [
            "[", "eno[", "[]", "[!]", "[a", "***", "a**", "**b", "a/**b", "[!a",
        ] {
            assert!(check_glob(bad).is_err(), "{bad}");
        }
    }

    /// Proxmox's expressions, as the regex crate (what pve-installer and proxmox-rs use)
    /// runs them: the hand-written matchers must agree with them on every string.
    fn proxmox(expr: &str, case_blind: bool) -> regex::Regex {
        regex::RegexBuilder::new(expr)
            .case_insensitive(case_blind)
            .unicode(false)
            .build()
            .unwrap()
    }

    /// Every string of up to `len` characters over `alphabet`, and some longer ones.
    fn strings(alphabet: &[&str], len: usize, extra: &[&str]) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..len {
            last = last
                .iter()
                .flat_map(|p| alphabet.iter().map(move |a| format!("{p}{a}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        all.extend(extra.iter().map(|s| s.to_string()));
        all
    }

    #[test]
    fn interface_names_and_subscription_keys_as_the_installer_matches_them() {
        let re = proxmox(r"^[a-z][a-z0-9_]{1,20}([:\.]\d+)?$", true);
        let long = "e".repeat(21);
        let longer = "e".repeat(22);
        let extra = [
            long.as_str(),
            longer.as_str(),
            "nic0.100",
            "mgmt:1",
            "eth0.",
            "é0",
            "e\u{212a}",
        ];
        for s in strings(&["a", "Z", "0", "_", ".", ":", "-", "7"], 4, &extra) {
            assert_eq!(ifname_ok(&s), re.is_match(&s), "{s:?}");
        }
        let re = proxmox(r"^(?:pve[0-9]+|pbs|pmg)[cbsp]-[0-9a-f]{10}$", false);
        for s in [
            "pve4b-0123456789",
            "pve16p-abcdef0123",
            "pbsc-0123456789",
            "pmgs-0123456789",
            "pveb-0123456789",
            "pve4b-0123456789a",
            "PVE4B-0123456789",
            "pmgx-0123456789",
            "pve4b-012345678g",
            "pve4b_0123456789",
            "pve4b-ABCDEF0123",
            "pbs-0123456789",
            "pve4-0123456789",
            "",
        ] {
            assert_eq!(subscription_key_ok(s), re.is_match(s), "{s:?}");
        }
        for s in strings(&["p", "v", "e", "4", "b", "-", "0", "a"], 5, &[]) {
            assert_eq!(subscription_key_ok(&s), re.is_match(&s), "{s:?}");
        }
    }

    #[test]
    fn mailto_as_the_installer_matches_it() {
        let re = proxmox(
            r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$",
            false,
        );
        let l63 = format!("a@{}", "b".repeat(63));
        let l64 = format!("a@{}", "b".repeat(64));
        let extra = [
            "root@localhost",
            "ops@home.arpa",
            "a.b+c@x-y.example",
            "ops home.arpa",
            "a@-x",
            "a@x.",
            "a@@x",
            "a@x..y",
            "a@x-.y",
            "é@x",
            l63.as_str(),
            l64.as_str(),
        ];
        for s in strings(&["a", "@", ".", "-", "+", " ", "0"], 5, &extra) {
            assert_eq!(mailto_ok(&s), re.is_match(&s), "{s:?}");
        }
    }
}
