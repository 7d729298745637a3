//! `[[container]]`: LXC containers from a Proxmox appliance template or an OCI image, each
//! made once by the `containers` phase. What `pct` refuses is refused here, by the formats of
//! pve-container `src/PVE/LXC/Config.pm` (`$confdesc`, `$mp_desc`, `$features_desc`) and, for
//! the image reference, pve-storage `src/PVE/API2/Storage/Status.pm` (`oci_registry_pull`).

use super::haos::read_storage;
use super::vm::{guest_net, name_ok, read_bridge, read_each, read_ip, read_ssh_keys, read_vmid};
use super::*;
use crate::answer::reader::{Checker, Sp, Tbl};

/// What the other tables have that a container must not take again: VMIDs, names and
/// static addresses of HAOS and the `[[vm]]`s.
pub(super) struct CtCtx<'a> {
    pub network: Option<&'a NetworkCfg>,
    pub installer: Option<&'a Installer>,
    pub haos: Option<&'a Haos>,
    pub vms: &'a [VmCfg],
    pub root_keys: &'a [String],
}

/// A template as `pveam` names it: a file name `NAME_VERSION_ARCH.tar[.gz|.xz|.zst|.bz2]`
/// (pve-storage `PVE/Storage.pm`, `$VZTMPL_EXT_RE_1`), or an appliance's package name
/// (no `_`). pveam's `template` is a string of at most 255 characters.
fn template_ok(s: &str) -> bool {
    let file = s.contains('_');
    s.len() <= 255
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
        && (!file
            || [".tar", ".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2"]
                .iter()
                .any(|e| s.ends_with(e)))
}

/// One `[a-z\d]+(?:(?:[._]|__|[-]*)[a-z\d]+)*` component of an image's path.
fn path_component_ok(p: &str) -> bool {
    let b = p.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !b.first().is_some_and(|c| alnum(*c)) || !b.last().is_some_and(|c| alnum(*c)) {
        return false;
    }
    // The separators between the runs: `.`, `_`, `__` or any number of `-`.
    p.split(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .all(|sep| matches!(sep, "." | "_" | "__") || sep.bytes().all(|c| c == b'-'))
        && b.iter().all(|c| alnum(*c) || b"._-".contains(c))
}

/// A registry host: labels of letters, digits and inner hyphens joined by dots, with an
/// optional `:port`.
fn domain_ok(d: &str) -> bool {
    let (host, port) = d.split_once(':').unwrap_or((d, "0"));
    !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// An OCI image reference as Proxmox's `oci-registry-pull` takes it: `[DOMAIN[:PORT]/]PATH:TAG`
/// (pve-storage `src/PVE/API2/Storage/Status.pm`, the `reference` pattern), the tag
/// required; ASCII only.
pub fn oci_reference_ok(r: &str) -> bool {
    let Some((name, tag)) = r.rsplit_once(':') else {
        return false;
    };
    if tag.contains('/')
        || tag.len() > 128
        || !tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        || !tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return false;
    }
    let parts: Vec<&str> = name.split('/').collect();
    parts.iter().all(|p| path_component_ok(p))
        || (parts.len() > 1
            && domain_ok(parts[0])
            && parts[1..].iter().all(|p| path_component_ok(p)))
}

/// A path as pve-container's `pve-lxc-mp-string` takes it (`verify_lxc_mp_string`: no `/./`
/// or `/../`, no `/.` or `/..` at its end, no `../` at its start), absolute, and without what
/// would end or split a property string value (`,`) or a line (control characters).
fn mp_path_ok(p: &str) -> bool {
    p.starts_with('/')
        && !p.contains("/./")
        && !p.contains("/../")
        && !p.ends_with("/.")
        && !p.ends_with("/..")
        && !p.contains(',')
        && !p.chars().any(char::is_control)
}

/// A size in whole GiB of at least 1 (`8G`, `1T`), as `STORAGE:SIZE_IN_GiB` allocates it.
fn whole_gib(c: &mut Checker, t: &mut Tbl, key: &'static str, default: Option<u64>) -> Option<u64> {
    let Some(s) = t.string(c, key) else {
        if default.is_none() && !t.has(key) {
            t.missing(c, key, "the volume's size, such as \"32G\"");
        }
        return default;
    };
    match parse_size_gib(&s.v) {
        Some(g) if g >= 1.0 && g.fract() == 0.0 => Some(g as u64),
        _ => {
            c.error(
                &s.span,
                &t.key_path(key),
                format!(
                    "\"{}\" is not a size of whole GiB, at least 1, such as \"8G\" or \"1T\"",
                    s.v
                ),
            );
            None
        }
    }
}

fn read_mount(c: &mut Checker, t: &mut Tbl, installer: Option<&Installer>) -> Option<CtMount> {
    let path = t.req_string(c, "path", "where it is in the container, e.g. \"/data\"");
    let path = path.and_then(|p| {
        if mp_path_ok(&p.v) && p.v != "/" {
            Some(p.v)
        } else {
            c.error(
                &p.span,
                &t.key_path("path"),
                format!(
                    "\"{}\" is not a mount point for pct: an absolute path other than /, \
                     without /./, /../ or a comma",
                    p.v
                ),
            );
            None
        }
    });
    let host = t.string(c, "host").and_then(|h| {
        if mp_path_ok(&h.v) {
            Some(h.v)
        } else {
            c.error(
                &h.span,
                &t.key_path("host"),
                format!(
                    "\"{}\" is not an absolute host directory (without /./, /../ or a comma)",
                    h.v
                ),
            );
            None
        }
    });
    let read_only = t.bool(c, "read-only").is_some_and(|b| b.v);
    let (storage, size_gib) = if t.has("host") {
        for k in ["size", "storage"] {
            if t.raw(k).is_some() {
                c.error(
                    &t.key_span(k),
                    &t.key_path(k),
                    "a host directory is bound as it is; size and storage are for a new volume",
                );
            }
        }
        (None, 0)
    } else {
        let size = whole_gib(c, t, "size", None);
        (read_storage(c, t, installer, "rootdir"), size?)
    };
    if t.has("host") && host.is_none() {
        return None;
    }
    Some(CtMount {
        path: path?,
        host,
        storage,
        size_gib,
        read_only,
    })
}

/// `template` or `oci` (exactly one), and what pins an OCI image.
fn read_source(c: &mut Checker, t: &mut Tbl) -> (Option<CtSource>, bool) {
    let template = t.string(c, "template");
    let oci = t.string(c, "oci");
    let digest = t.string(c, "digest");
    let allow = t.bool(c, "allow-unpinned");
    let source = match (template, oci) {
        (Some(_), Some(o)) => {
            c.error(
                &o.span,
                &t.key_path("oci"),
                "give template or oci, not both",
            );
            None
        }
        (None, None) => {
            t.missing(
                c,
                "template",
                "a Proxmox appliance template such as \"debian-13-standard\", or oci = an image such as \"docker.io/library/nginx:1.29\"",
            );
            None
        }
        (Some(tp), None) => {
            for (k, v) in [
                ("digest", digest.as_ref().map(|d| d.span.clone())),
                ("allow-unpinned", allow.as_ref().map(|a| a.span.clone())),
            ] {
                if let Some(span) = v {
                    c.error(
                        &span,
                        &t.key_path(k),
                        "is for an OCI image; a template is verified by the checksum of Proxmox's signed appliance index",
                    );
                }
            }
            if template_ok(&tp.v) {
                Some(CtSource::Template(tp.v))
            } else {
                c.error(
                    &tp.span,
                    &t.key_path("template"),
                    format!(
                        "\"{}\" is not a template as `pveam available` lists it: a package such as \
                         \"debian-13-standard\" or a file such as \
                         \"debian-13-standard_13.1-2_amd64.tar.zst\"",
                        tp.v
                    ),
                );
                None
            }
        }
        (None, Some(o)) => {
            if !oci_reference_ok(&o.v) {
                c.error(
                    &o.span,
                    &t.key_path("oci"),
                    format!(
                        "\"{}\" is not an image reference as Proxmox pulls one: \
                         [REGISTRY/]NAME:TAG in lower case, such as \"docker.io/library/nginx:1.29\" \
                         (the digest goes in `digest`)",
                        o.v
                    ),
                );
            }
            let digest = digest.and_then(|d| {
                let hex = d.v.strip_prefix("sha256:").unwrap_or("");
                if hex.len() != 64
                    || !hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    c.error(
                        &d.span,
                        &t.key_path("digest"),
                        "must be sha256: and 64 lower-case hex digits, the image's digest as \
                         `skopeo inspect docker://REFERENCE` prints it",
                    );
                    None
                } else if is_placeholder_sum(hex) {
                    c.error(
                        &d.span,
                        &t.key_path("digest"),
                        placeholder_message("digest"),
                    );
                    None
                } else {
                    Some(d.v)
                }
            });
            match (&digest, allow.as_ref().is_some_and(|a| a.v)) {
                (None, false) if !t.has("digest") => c.warning(
                    &o.span,
                    &t.key_path("digest"),
                    "not pinned: a host given this answer refuses the image; pin it with its \
                     digest (`skopeo inspect docker://REFERENCE` prints it), or set \
                     allow-unpinned = true",
                ),
                (None, true) => c.warning(
                    &t.key_span("allow-unpinned"),
                    &t.key_path("allow-unpinned"),
                    "the image is pulled as its tag stands now, not checked against a digest",
                ),
                _ => {}
            }
            let file = crate::templates::oci_archive(&o.v, digest.as_deref());
            if file.len() > crate::templates::MAX_ARCHIVE_NAME {
                c.error(
                    &o.span,
                    &t.key_path("oci"),
                    format!(
                        "the image's archive would be named {file}, longer than the {} \
                         characters a template's file name may have here",
                        crate::templates::MAX_ARCHIVE_NAME
                    ),
                );
            }
            Some(CtSource::Oci {
                reference: o.v,
                digest,
            })
        }
    };
    (source, allow.is_some_and(|a| a.v))
}

fn read_one(c: &mut Checker, t: &mut Tbl, ctx: &CtCtx) -> Option<(CtCfg, At)> {
    let vmid = read_vmid(c, t, "container");
    let hostname = t
        .req_string(c, "hostname", "the container's host name, e.g. \"pihole\"")
        .and_then(|n| {
            if name_ok(&n.v) {
                Some(n)
            } else {
                c.error(
                    &n.span,
                    &t.key_path("hostname"),
                    format!(
                        "\"{}\" is not a host name for pct (a DNS name: letters, digits and inner hyphens, dot-separated)",
                        n.v
                    ),
                );
                None
            }
        });
    let (source, allow_unpinned) = read_source(c, t);
    let oci = matches!(source, Some(CtSource::Oci { .. }));
    let unprivileged = t.bool(c, "unprivileged").is_none_or(|b| b.v);
    // The web UI's wizard ticks Nesting for an unprivileged container, and systemd in it
    // needs it (pve-container `Config.pm` `$features_desc`: "required by systemd to isolate
    // services"; its changelog 6.0.14, fix #6897).
    let nesting = t.bool(c, "nesting").map_or(unprivileged, |b| b.v);
    let keyctl = match t.bool(c, "keyctl") {
        Some(Sp { v: true, span }) if !unprivileged => {
            c.error(
                &span,
                &t.key_path("keyctl"),
                "is for unprivileged containers only (pve-container's keyctl feature)",
            );
            false
        }
        k => k.is_some_and(|k| k.v),
    };
    let cores = t
        .int(c, "cores", 1..=8192, "cores")
        .map_or(1, |v| v.v as u32);
    let memory = t
        .int(c, "memory", 16..=4_194_304, "memory (MiB)")
        .map_or(512, |v| v.v as u32);
    let swap = t
        .int(c, "swap", 0..=4_194_304, "swap (MiB)")
        .map_or(512, |v| v.v as u32);
    let disk_gib = whole_gib(c, t, "disk-size", Some(8));
    let storage = read_storage(c, t, ctx.installer, "rootdir");
    let (bridge, bridge_at) = read_bridge(c, t, ctx.network);
    let (ip, ip_at) = read_ip(c, t);
    let start = t.bool(c, "start").is_none_or(|b| b.v);
    let ssh_keys = match read_ssh_keys(c, t) {
        Some(_) if oci => {
            c.error(
                &t.key_span("ssh-keys"),
                &t.key_path("ssh-keys"),
                "an OCI image is an application container without an ssh server; reach it with \
                 `pct enter VMID` on the host",
            );
            Vec::new()
        }
        Some(keys) => keys,
        None if oci => Vec::new(),
        None => ctx.root_keys.to_vec(),
    };
    let mut mounts: Vec<CtMount> = Vec::new();
    let tables = t.tables(c, "mount");
    // pve-container `Config.pm`: $MAX_MOUNT_POINTS = 256 (mp0 to mp255).
    if tables.len() > 256 {
        c.error(
            &t.key_span("mount"),
            &t.key_path("mount"),
            "a container takes at most 256 mount points",
        );
    }
    for mut m in tables {
        let span = m.span.clone();
        let path = m.key_path("path");
        let read = read_mount(c, &mut m, ctx.installer);
        m.finish(c);
        let Some(mount) = read else { continue };
        if mounts.iter().any(|o| o.path == mount.path) {
            c.error(&span, &path, format!("{} is mounted twice", mount.path));
        }
        mounts.push(mount);
    }
    let hostname_at = hostname.as_ref().map(|h| h.span.clone());
    Some((
        CtCfg {
            vmid: vmid.as_ref()?.v as u32,
            hostname: hostname?.v,
            source: source?,
            allow_unpinned,
            unprivileged,
            nesting,
            keyctl,
            cores,
            memory,
            swap,
            disk_gib: disk_gib?,
            storage,
            bridge,
            ip,
            ssh_keys,
            start,
            mounts,
        },
        At {
            vmid: vmid?.span,
            hostname: hostname_at?,
            bridge: bridge_at,
            ip: ip_at,
        },
    ))
}

/// Where the values the rules between tables judge sit.
struct At {
    vmid: Range<usize>,
    hostname: Range<usize>,
    bridge: Range<usize>,
    ip: Option<Range<usize>>,
}

pub(super) fn read_containers(c: &mut Checker, root: &mut Tbl, ctx: &CtCtx) -> Vec<CtCfg> {
    read_each(
        c,
        root,
        "container",
        |c, t| read_one(c, t, ctx),
        |c, i, ct, at, out| check(c, i, ct, at, out, ctx),
    )
}

/// The rules between one `[[container]]` and the rest of the answer: one VMID, name and
/// static address per guest, the bridge and lease as for a VM.
fn check(c: &mut Checker, i: usize, ct: &CtCfg, at: &At, earlier: &[(CtCfg, At)], ctx: &CtCtx) {
    let table = format!("container[{i}]");
    let key = |k: &str| format!("{table}.{k}");
    // Every guest's (VMID, name, address) with where it is in the answer.
    let others: Vec<(u32, &str, Option<Ipv4Addr>, String)> =
        ctx.haos
            .map(|h| (h.vmid, "haos", h.ip, "the [haos] VM".to_string()))
            .into_iter()
            .chain(
                ctx.vms
                    .iter()
                    .enumerate()
                    .map(|(j, v)| (v.vmid, v.name.as_str(), v.ip, format!("vm[{j}]"))),
            )
            .chain(
                earlier.iter().enumerate().map(|(j, (e, _))| {
                    (e.vmid, e.hostname.as_str(), e.ip, format!("container[{j}]"))
                }),
            )
            .collect();
    for (vmid, name, ip, whose) in &others {
        if *vmid == ct.vmid {
            c.error(
                &at.vmid,
                &key("vmid"),
                format!("{vmid} is already {whose}'s"),
            );
        }
        // The name is the guest's host name in dnsmasq (`dhcp-host=MAC,IP,NAME`) too.
        if name.eq_ignore_ascii_case(&ct.hostname) {
            c.error(
                &at.hostname,
                &key("hostname"),
                format!("\"{name}\" is already {whose}'s name"),
            );
        }
        if let (Some(a), Some(b), Some(ip_at)) = (ip, ct.ip, &at.ip) {
            if *a == b {
                c.error(ip_at, &key("ip"), format!("{b} is already {whose}'s"));
            }
        }
    }
    let bridge = ctx.network.and_then(|n| n.vm_bridge.as_ref());
    let ip = ct.ip.zip(at.ip.as_ref());
    guest_net(c, &table, (&ct.bridge, &at.bridge), ip, bridge);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        for ok in [
            "debian-13-standard",
            "debian-13-standard_13.1-2_amd64.tar.zst",
            "alpine-3.22-default_20250617_amd64.tar.xz",
            "ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
            "debian-12-turnkey-nextcloud_18.0-1_amd64.tar.gz",
        ] {
            assert!(template_ok(ok), "{ok}");
        }
        for bad in [
            "",
            "../etc/passwd",
            "a/b",
            "debian-13-standard_13.1-2_amd64.qcow2",
            "-x",
            "debian 13",
            "local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst",
        ] {
            assert!(!template_ok(bad), "{bad}");
        }
    }

    /// The hand-written matcher against pve-storage's own expression (retyped from
    /// `PVE/API2/Storage/Status.pm`, `oci_registry_pull`'s `reference`, with ASCII classes).
    #[test]
    fn oci_references_as_proxmox_matches_them() {
        let re = regex::Regex::new(concat!(
            r"^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])",
            r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?/)?[a-z0-9]+",
            r"(?:(?:[._]|__|[-]*)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*)*",
            r":[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}$"
        ))
        .unwrap();
        let cases = [
            "docker.io/library/nginx:1.29",
            "nginx:latest",
            "ghcr.io/home-assistant/home-assistant:stable",
            "registry.example.org:5000/team/app:v1.2.3",
            "localhost:5000/a__b/c--d/e.f:tag",
            "quay.io/org/img_name:_x",
            "Docker.io/library/nginx:1",
            "docker.io/Library/nginx:1",
            "nginx",
            "nginx:",
            "nginx@sha256:0123",
            "docker.io/library/nginx:1.29@sha256:abc",
            "a..b:1",
            "a___b:1",
            "a-_b:1",
            "-a:1",
            "a-:1",
            "host-:1/a:1",
            "reg.io:/a:1",
            "reg.io:5000/a:-x",
            &format!("a:{}", "t".repeat(128)),
            &format!("a:{}", "t".repeat(129)),
            "a/b/c/d:e",
            "a:b:c",
            "täg:1",
            "a:tág",
        ];
        for r in cases {
            assert_eq!(oci_reference_ok(r), re.is_match(r), "{r}");
        }
    }

    #[test]
    fn mount_paths() {
        for ok in ["/data", "/srv/media", "/a.b/c..d", "/with space"] {
            assert!(mp_path_ok(ok), "{ok}");
        }
        for bad in [
            "data", "/a/../b", "/a/./b", "/a/..", "/a/.", "/a,b", "/a\nb",
        ] {
            assert!(!mp_path_ok(bad), "{bad}");
        }
    }
}
