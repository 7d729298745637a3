//! `[haos]`: the Home Assistant OS VM.
use super::storage::storage_id_ok;
use super::*;
use crate::answer::reader::{Checker, StorageUse, Tbl};

pub(super) fn read_haos(
    c: &mut Checker,
    t: &mut Tbl,
    sp: &mut Spans,
    network: Option<&NetworkCfg>,
    installer: Option<&Installer>,
) -> Option<Haos> {
    let vmid = t
        .int(c, "vmid", 100..=999_999_999, "vmid")
        .map_or(100, |v| v.v as u32);
    let version = t.req_string(
        c,
        "version",
        "a HAOS release such as \"16.3\", or \"stable\"",
    );
    let own_image = t.has("image");
    let allow_unpinned = t.bool(c, "allow-unpinned").is_some_and(|b| b.v);
    let sha = t.string(c, "sha256");
    if let Some(v) = &version {
        sp.haos_version = Some(v.span.clone());
        let ok = v.v == "stable"
            || (!v.v.is_empty()
                && v.v
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                && v.v.split('.').count() <= 3);
        if !ok {
            c.error(
                &v.span,
                &t.key_path("version"),
                format!(
                    "\"{}\" is not a HAOS release number such as \"16.3\" (or \"stable\")",
                    v.v
                ),
            );
        } else if v.v == "stable" {
            if sha.is_some() {
                c.error(
                    &v.span,
                    &t.key_path("version"),
                    "\"stable\" with a sha256: write the release the checksum belongs to, or remove sha256 and let `pve-firstboot image` pin the current release",
                );
            } else if own_image && !allow_unpinned {
                c.error(
                    &v.span,
                    &t.key_path("version"),
                    "\"stable\" changes under you; with your own image, write its release and sha256, or set allow-unpinned = true",
                );
            } else if allow_unpinned {
                c.warning(
                    &v.span,
                    &t.key_path("version"),
                    "\"stable\" is not pinned: the image is not checked against a known checksum (the computed one is recorded in the state)",
                );
            }
        }
    }
    if let Some(s) = &sha {
        if s.v.len() != 64 || !s.v.bytes().all(|b| b.is_ascii_hexdigit()) {
            c.error(
                &s.span,
                &t.key_path("sha256"),
                "must be 64 hex digits (the SHA-256 of the .qcow2.xz file)",
            );
        } else if is_placeholder_sum(&s.v) {
            c.error(
                &s.span,
                &t.key_path("sha256"),
                placeholder_message("SHA-256"),
            );
        }
    } else if !allow_unpinned && !t.has("sha256") {
        if own_image {
            t.missing(
                c,
                "sha256",
                "the SHA-256 of your image (the .qcow2.xz file), or allow-unpinned = true",
            );
        } else if let Some(v) = &version {
            // The release on GitHub: `image` pins it from the release's asset digest.
            c.warning(
                &v.span,
                &t.key_path("sha256"),
                "not pinned yet: `pve-firstboot image` fills in version and sha256 from the GitHub release when it builds the hook (`pve-firstboot pin FILE` writes them into the file); a host given this answer unpinned refuses the download",
            );
        }
    }
    let image = match t.string(c, "image") {
        None => ImageSource::Release,
        Some(i) => image_source(c, t, &i, sha.is_some(), "sha256").unwrap_or(ImageSource::Release),
    };
    let storage = read_storage(c, t, installer, "images");
    if let Some(s) = storage.as_ref().map(|_| t.key_span("storage")) {
        sp.haos_storage = Some(s);
    }
    let default_bridge = network
        .and_then(|n| n.vm_bridge.as_ref())
        .map_or("vmbr0".to_string(), |b| b.name.clone());
    let bridge = match t.string(c, "bridge") {
        Some(b) => {
            sp.haos_bridge = Some(b.span.clone());
            b.v
        }
        None => default_bridge,
    };
    let (ip, ip_at) = super::vm::read_ip(c, t);
    sp.haos_ip = ip_at;
    let cores = t
        .int(c, "cores", 1..=128, "cores")
        .map_or(2, |v| v.v as u32);
    let memory = match t.int(c, "memory", 1024..=1_048_576, "memory (MiB)") {
        Some(m) => {
            if m.v < 2048 {
                c.warning(
                    &m.span,
                    &t.key_path("memory"),
                    "Home Assistant recommends at least 2048 MiB; add-ons may not start with less",
                );
            }
            m.v as u32
        }
        None => 4096,
    };
    let disk_size = match t.string(c, "disk-size") {
        Some(d) => {
            match parse_size_gib(&d.v) {
                Some(g) if g >= 32.0 => d.v,
                Some(_) => {
                    c.error(
                        &d.span,
                        &t.key_path("disk-size"),
                        format!(
                            "\"{}\" is smaller than the 32G HAOS image; disks can only grow",
                            d.v
                        ),
                    );
                    d.v
                }
                None => {
                    c.error(
                    &d.span,
                    &t.key_path("disk-size"),
                    format!("\"{}\" is not a size such as \"32G\" (a whole number with K, M, G or T)", d.v),
                );
                    d.v
                }
            }
        }
        None => "32G".to_string(),
    };
    let start = t.bool(c, "start").is_none_or(|b| b.v);
    let usb = read_usb(c, t);
    Some(Haos {
        vmid,
        version: version?.v,
        sha256: sha.map(|s| s.v.to_ascii_lowercase()),
        image,
        allow_unpinned,
        storage,
        bridge,
        ip,
        cores,
        memory,
        disk_size,
        start,
        usb,
    })
}

/// Host USB devices for the VM (`usbN: host=...`): a `vendor:product` ID in hex or a
/// `bus-port(.port)*` path, as qemu-server's `PVE/QemuServer/USB.pm` defines HOSTUSBDEVICE
/// (`$USB_ID_RE`, `$USB_PATH_RE`); its `spice` value is no host device and is refused here.
/// At most 14 (`$MAX_USB_DEVICES`, for q35 and ostype l26), none twice.
pub(super) fn read_usb(c: &mut Checker, t: &mut Tbl) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let list = t.strings(c, "usb").unwrap_or_default();
    for (i, u) in list.iter().enumerate() {
        let key = format!("{}[{i}]", t.key_path("usb"));
        if !usb_host_ok(&u.v) {
            c.error(
                &u.span,
                &key,
                format!(
                    "\"{}\" is not a USB device: use vendor:product (\"1a86:55d4\", see `lsusb`) \
                     or a port path (\"1-2.3\", see `lsusb -t`)",
                    u.v
                ),
            );
        } else if out.iter().any(|o| o.eq_ignore_ascii_case(&u.v)) {
            c.error(&u.span, &key, format!("\"{}\" is listed twice", u.v));
        } else {
            out.push(u.v.clone());
        }
    }
    if list.len() > 14 {
        c.error(
            &t.key_span("usb"),
            &t.key_path("usb"),
            format!(
                "{} devices; a VM takes at most 14 (usb0 to usb13)",
                list.len()
            ),
        );
    }
    out
}

/// `(0x)?XXXX:(0x)?XXXX` or `\d+-\d+(\.\d+)*`, whole: qemu-server's two expressions.
fn usb_host_ok(s: &str) -> bool {
    let hex4 = |p: &str| {
        let p = p.strip_prefix("0x").unwrap_or(p);
        p.len() == 4 && p.bytes().all(|b| b.is_ascii_hexdigit())
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if let Some((v, d)) = s.split_once(':') {
        return hex4(v) && hex4(d);
    }
    match s.split_once('-') {
        Some((bus, ports)) => digits(bus) && ports.split('.').all(digits),
        None => false,
    }
}

/// An image key: an `http(s)://` URL (plain http only when `pinned`) or an absolute path
/// on the host. `sums` names the checksum keys for the message.
pub(super) fn image_source(
    c: &mut Checker,
    t: &Tbl,
    i: &crate::answer::reader::Sp<String>,
    pinned: bool,
    sums: &str,
) -> Option<ImageSource> {
    if i.v.starts_with("https://") || i.v.starts_with("http://") {
        if let Err(e) = crate::fetch::check_url(&i.v) {
            c.error(
                &i.span,
                &t.key_path("image"),
                format!("{:?} is not a usable image URL: it {e}", i.v),
            );
        } else if i.v.starts_with("http://") && !pinned {
            // Anyone on the way can change plain HTTP; only the pinned sum notices.
            c.error(
                &i.span,
                &t.key_path("image"),
                format!("a plain http:// URL needs a pinned {sums} (anyone on the network path could change the image); use https:// or pin it"),
            );
        }
        Some(ImageSource::Url(i.v.clone()))
    } else if i.v.starts_with('/') {
        Some(ImageSource::Path(i.v.clone()))
    } else {
        c.error(
            &i.span,
            &t.key_path("image"),
            format!(
                "\"{}\" must be an http(s):// URL or an absolute path on the host",
                i.v
            ),
        );
        None
    }
}

/// A `storage` key: a storage ID, warned about where the installer never makes it.
/// `content`: what the guest puts there, `images` (a VM's disks) or `rootdir` (a
/// container's volumes).
pub(super) fn read_storage(
    c: &mut Checker,
    t: &mut Tbl,
    installer: Option<&Installer>,
    content: &'static str,
) -> Option<String> {
    // Left out: chosen on the host from /etc/pve/storage.cfg (src/storage.rs).
    let s = t.string(c, "storage")?;
    if !storage_id_ok(&s.v) {
        c.error(
            &s.span,
            &t.key_path("storage"),
            format!("\"{}\" is not a Proxmox storage ID", s.v),
        );
    } else {
        // Whether it exists and holds VM disks: `storage::check_uses`, once every
        // [[storage]] is read.
        c.storage_uses.push(StorageUse {
            key: t.key_path("storage"),
            id: s.v.clone(),
            span: s.span.clone(),
            content,
        });
        let lvm = installer.is_some_and(|i| {
            !i.filesystem.starts_with("zfs") && !i.filesystem.starts_with("btrfs")
        });
        if s.v == "local" && lvm {
            // pve-installer `Proxmox/Install/StorageConfig.pm`: `local` gets `images` only
            // where no thin pool is made (lvm.maxvz = 0, or a thin pool of 4 GiB or less).
            c.warning(
                &s.span,
                &t.key_path("storage"),
                format!(
                    "`local` holds {} only where the installer made no thin pool \
                     (lvm.maxvz = 0, or a small disk); otherwise the phase refuses it before \
                     the download; leave storage out to take the storage the host really has",
                    if content == "images" {
                        "VM disks"
                    } else {
                        "container volumes"
                    }
                ),
            );
        }
    }
    Some(s.v)
}
