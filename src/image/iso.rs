//! `pve-firstboot image`: a Proxmox VE installer ISO with the answer, automated-install
//! mode and our hook added at its root, boot images and volume UUID kept as they were
//! (EFI boot from a USB stick finds its files by that UUID). Only Debian's xorriso is used.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{Context, Error, Result};
use crate::host::{Cmd, Host};
use crate::image::hook;
use crate::tempdir::{TempDir, check_interrupted};

/// Binary hooks are copied byte for byte only since the 8.4 installer (before, they were
/// read as UTF-8 text, which corrupts the compressed agent).
pub const MIN_RELEASE: (u32, u32) = (8, 4);

fn xorriso(args: &[&str]) -> Result<String> {
    let out = Host::live().run_ok(&Cmd::new("xorriso").args(args.iter().copied()))?;
    Ok(format!("{}{}", out.stdout, out.stderr))
}

/// Most bytes of any file read from an ISO: every one we read (`/.cd-info`, the answers,
/// the hook of at most 1 MiB) is far smaller.
const MAX_ISO_FILE: u64 = crate::host::MAX_ANSWER_BYTES;

/// A file from the ISO, or `None` if it is not there. A tampered ISO is read as safely as
/// a good one: xorriso's `-extract_cut` copies the bytes of a data file and refuses
/// anything else, so a symbolic link (to a file of this machine, or to /dev/zero) or a
/// device there is an error, never followed; and it copies at most one byte more than
/// [`MAX_ISO_FILE`], so a huge file is refused without being copied or held.
pub fn extract(iso: &Path, path: &str, tmp: &Path) -> Result<Option<Vec<u8>>> {
    let dest = tmp.join(path.trim_start_matches('/').replace('/', "_"));
    let _ = std::fs::remove_file(&dest);
    let res = Host::live().run(&Cmd::new("xorriso").args([
        "-osirrox",
        "on",
        "-indev",
        &iso.to_string_lossy(),
        "-extract_cut",
        path,
        "0",
        &(MAX_ISO_FILE + 1).to_string(),
        &dest.to_string_lossy(),
    ]))?;
    if res.stderr.contains("is not a data file") || res.stdout.contains("is not a data file") {
        return Err(Error::msg(format!(
            "{}: {path} is not a regular file (a symbolic link, a directory or a device): \
             not what Proxmox or pve-firstboot put there, so it is not read",
            iso.display()
        )));
    }
    // Not there, or no ISO at all: the caller says which file it needed.
    let len = match std::fs::symlink_metadata(&dest) {
        Ok(m) if res.success() && m.is_file() => m.len(),
        _ => return Ok(None),
    };
    let data = if len > MAX_ISO_FILE {
        Err(Error::msg(format!(
            "{}: {path} is larger than {MAX_ISO_FILE} bytes: not what Proxmox or \
             pve-firstboot put there, so it is not read",
            iso.display()
        )))
    } else {
        crate::host::read_capped(&dest, MAX_ISO_FILE)
            .map_err(|e| Error::msg(format!("{}: {path}: {e}", iso.display())))
    };
    let _ = std::fs::remove_file(&dest);
    data.map(Some)
}

/// `RELEASE` from `/.cd-info` (`KEY='value'` lines), as (major, minor).
pub fn release(cd_info: &str) -> Option<(String, (u32, u32))> {
    let v = cd_info
        .lines()
        .find_map(|l| l.strip_prefix("RELEASE="))?
        .trim()
        .trim_matches(|c| c == '\'' || c == '"')
        .to_string();
    let mut p = v.split('.');
    let major = p.next()?.parse().ok()?;
    let minor = p.next().unwrap_or("0").parse().ok()?;
    Some((v, (major, minor)))
}

/// The volume UUID as `xorriso -report_system_area cmd` states it for reuse.
fn volume_uuid(iso: &Path) -> Result<String> {
    let report = xorriso(&[
        "-indev",
        &iso.to_string_lossy(),
        "-report_system_area",
        "cmd",
    ])?;
    report
        .lines()
        .find_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("-volume_date uuid ")?;
            Some(rest.trim_matches('\'').to_string())
        })
        .ok_or_else(|| Error::msg(format!("{}: xorriso reports no volume UUID", iso.display())))
}

/// Proxmox's answer file from ours: the `[installer.*]` tables at the top level, plus the
/// `[first-boot]` table that runs our hook once the system is fully up.
pub fn proxmox_answer(text: &str) -> Result<String> {
    let t: toml::Table = toml::from_str(text).map_err(|e| Error::msg(e.message().to_string()))?;
    let mut inst = match t.get("installer") {
        Some(toml::Value::Table(i)) => i.clone(),
        _ => return Err(Error::msg("the answer has no [installer.*] tables")),
    };
    for need in ["network", "disk-setup"] {
        if !inst.contains_key(need) {
            return Err(Error::msg(format!(
                "the Proxmox installer needs [installer.{need}] in the answer"
            )));
        }
    }
    let mut fb = toml::Table::new();
    fb.insert("source".into(), toml::Value::String("from-iso".into()));
    fb.insert("ordering".into(), toml::Value::String("fully-up".into()));
    inst.insert("first-boot".into(), toml::Value::Table(fb));
    let body = toml::to_string(&inst).map_err(|e| Error::msg(e.to_string()))?;
    Ok(format!(
        "# Proxmox VE automated installation answer, written by pve-firstboot {}.\n{body}",
        env!("CARGO_PKG_VERSION")
    ))
}

pub struct Options<'a> {
    pub iso: &'a Path,
    pub answer_text: &'a str,
    /// The hook to add; `None` (`image`): [`crate::image::build_hook`] of the answer, made
    /// once the ISO has passed its checks (compressing the agent takes a while). The tests
    /// give one around a stand-in agent: a debug build does not fit in 1 MiB.
    pub hook: Option<&'a [u8]>,
    pub out: Option<&'a Path>,
    pub force: bool,
}

/// `<stem>-auto-from-iso.iso` beside the input, as Proxmox's own tool names it.
pub fn default_output(iso: &Path) -> PathBuf {
    let stem = iso.file_stem().unwrap_or_default().to_string_lossy();
    iso.with_file_name(format!("{stem}-auto-from-iso.iso"))
}

/// The input must be a regular file: a missing one would otherwise surface as "no
/// /.cd-info", and a device or FIFO could be read without end.
fn check_input(iso: &Path) -> Result<()> {
    match std::fs::metadata(iso) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(Error::msg(format!("{}: not a regular file", iso.display()))),
        Err(e) => Err(Error::msg(format!("{}: {e}", iso.display()))),
    }
}

/// Build the customised ISO; returns where it went.
pub fn customise(o: &Options) -> Result<PathBuf> {
    check_input(o.iso)?;
    let out = o
        .out
        .map_or_else(|| default_output(o.iso), Path::to_path_buf);
    // Checked before the ISO is copied, not after: a directory can never be replaced.
    if out.is_dir() {
        return Err(Error::msg(format!(
            "{} is a directory; name the output file",
            out.display()
        )));
    }
    if out.exists() && !o.force {
        return Err(Error::msg(format!(
            "{} exists; use --force to replace it",
            out.display()
        )));
    }
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // No directories are made for the output: a typo in -o should fail, not leave a tree.
    if !dir.is_dir() {
        return Err(Error::msg(format!(
            "{}: no such directory for the output",
            dir.display()
        )));
    }
    // Beside the output (the copy of the ISO is then renamed, not copied again), private
    // to us, and removed however build() ends: it holds the answer with the root password.
    let work = TempDir::new_in(dir, ".pve-firstboot-image")?;
    build(o, &out, &work).map(|()| out)
}

fn build(o: &Options, out: &Path, work: &TempDir) -> Result<()> {
    let iso = o.iso;
    let cd_info = extract(iso, "/.cd-info", work.path())?.ok_or_else(|| {
        Error::msg(format!(
            "{}: no /.cd-info; not a Proxmox VE installer ISO",
            iso.display()
        ))
    })?;
    if extract(iso, "/auto-installer-capable", work.path())?.is_none() {
        return Err(Error::msg(format!(
            "{}: no /auto-installer-capable; this installer cannot install automatically (Proxmox VE 8.2 or newer can)",
            iso.display()
        )));
    }
    let cd_info = String::from_utf8_lossy(&cd_info).into_owned();
    let (rel, ver) = release(&cd_info)
        .ok_or_else(|| Error::msg(format!("{}: /.cd-info has no RELEASE", iso.display())))?;
    if ver < MIN_RELEASE {
        return Err(Error::msg(format!(
            "{}: Proxmox VE {rel}; the first-boot hook carries a compressed binary, which installers \
             before {}.{} read as text and corrupt. Use Proxmox VE {}.{} or newer",
            iso.display(),
            MIN_RELEASE.0,
            MIN_RELEASE.1,
            MIN_RELEASE.0,
            MIN_RELEASE.1
        )));
    }
    crate::answer::releases::check(o.answer_text, &rel, ver)
        .map_err(|e| Error::msg(format!("{}: {e}", iso.display())))?;
    if let Some(h) = extract(iso, "/proxmox-first-boot", work.path())? {
        if hook::version_of(&h).is_some() && !o.force {
            return Err(Error::msg(format!(
                "{}: already customised by pve-firstboot; use --force to customise it again",
                iso.display()
            )));
        }
    }
    let answer = proxmox_answer(o.answer_text)?;
    let hook_bytes = match o.hook {
        Some(h) => h.to_vec(),
        None => crate::image::build_hook(o.answer_text)?,
    };
    check_interrupted()?;
    let uuid = volume_uuid(iso)?;
    // On disk only we may read them (the answer holds the root password); on the ISO they
    // get the modes the installer expects, set with -chmod below.
    let files = [
        ("answer.toml", answer.into_bytes(), "0644", "/answer.toml"),
        (
            "auto-installer-mode.toml",
            include_bytes!("../../image/auto-installer-mode.toml").to_vec(),
            "0644",
            "/auto-installer-mode.toml",
        ),
        (
            "proxmox-first-boot",
            hook_bytes,
            "0755",
            "/proxmox-first-boot",
        ),
    ];
    for (name, data, _, _) in &files {
        work.write(name, data, 0o600)?;
    }
    let (tmp, tmp_file) = work.create("out.iso", 0o600)?;
    copy_with_progress(iso, tmp_file)?;
    check_interrupted()?;
    let tmp_s = tmp.to_string_lossy().into_owned();
    let mut args: Vec<String> = [
        "-boot_image",
        "any",
        "keep",
        "-volume_date",
        "uuid",
        &uuid,
        "-dev",
        &tmp_s,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (name, _, mode, at) in &files {
        args.extend([
            "-map".into(),
            work.path().join(name).to_string_lossy().into_owned(),
            (*at).into(),
            "-chmod".into(),
            (*mode).into(),
            (*at).into(),
            "--".into(),
        ]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    xorriso(&refs).ctx(|| "adding the files with xorriso")?;
    check_interrupted()?;
    File::open(&tmp)?.sync_all()?;
    // 0600, as made in the work directory: the ISO carries the answer (root password)
    // and the hook (the [notify] webhook, the smtp password): see `carried_secrets`.
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    if out.exists() && !o.force {
        return Err(Error::msg(format!(
            "{} appeared meanwhile; not replaced",
            out.display()
        )));
    }
    std::fs::rename(&tmp, out).ctx(|| format!("moving the ISO to {}", out.display()))?;
    if let Some(d) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(d)?.sync_all()?;
    }
    Ok(())
}

/// The whole ISO, copied first (as Proxmox's tool does); progress every 10 %.
fn copy_with_progress(from: &Path, mut dst: File) -> Result<()> {
    let mut src = File::open(from).ctx(|| format!("opening {}", from.display()))?;
    let total = src.metadata()?.len().max(1);
    let mut buf = vec![0u8; 4 << 20];
    let (mut done, mut shown, start) = (0u64, 0u64, Instant::now());
    loop {
        check_interrupted()?;
        let n = match src.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => r.ctx(|| format!("reading {}", from.display()))?,
        };
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n])?;
        done += n as u64;
        let pct = done * 100 / total;
        if pct >= shown + 10 {
            shown = pct - pct % 10;
            eprintln!(
                "copying {}: {pct}% ({:.0} MiB/s)",
                from.display(),
                done as f64 / 1048576.0 / start.elapsed().as_secs_f64().max(0.001)
            );
        }
    }
    dst.sync_all()?;
    Ok(())
}

/// `image --inspect`: what a customised ISO carries; its secrets by name, never by value.
pub fn inspect(iso: &Path) -> Result<String> {
    check_input(iso)?;
    let tmp = TempDir::new("pve-firstboot-inspect")?;
    let work = tmp.path();
    (|| {
        let mut out = String::new();
        say(&mut out, &iso.display().to_string());
        // Without /.cd-info this is no Proxmox installer ISO (or no ISO at all): saying
        // "none" for everything and exiting 0 would look like an uncustomised one.
        let cd = extract(iso, "/.cd-info", work)?
            .map(|d| String::from_utf8_lossy(&d).into_owned())
            .ok_or_else(|| {
                Error::msg(format!(
                    "{}: no /.cd-info; not a Proxmox VE installer ISO",
                    iso.display()
                ))
            })?;
        say(
            &mut out,
            &format!(
                "  release:     {}",
                release(&cd).map_or("unknown (no RELEASE in /.cd-info)".into(), |r| r.0)
            ),
        );
        let mode = extract(iso, "/auto-installer-mode.toml", work)?;
        say(
            &mut out,
            &format!(
                "  auto-install: {}",
                mode.map_or("no".into(), |m| String::from_utf8_lossy(&m)
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    .collect::<Vec<_>>()
                    .join(" "))
            ),
        );
        let answer =
            extract(iso, "/answer.toml", work)?.map(|a| String::from_utf8_lossy(&a).into_owned());
        match &answer {
            Some(a) => {
                let t: toml::Table = toml::from_str(a).unwrap_or_default();
                let get = |tbl: &str, key: &str| {
                    t.get(tbl)
                        .and_then(|v| v.get(key))
                        .map(|v| v.as_str().map_or(v.to_string(), String::from))
                        .unwrap_or_else(|| "-".into())
                };
                let keys = t
                    .get("global")
                    .and_then(|g| g.get("root-ssh-keys"))
                    .and_then(|k| k.as_array())
                    .map_or(0, |a| a.len());
                let pw = if t
                    .get("global")
                    .and_then(|g| g.get("root-password-hashed"))
                    .is_some()
                {
                    "hashed"
                } else {
                    "plain text"
                };
                say(
                    &mut out,
                    &format!(
                        "  answer:      fqdn {}, root password {pw} (not shown), {keys} ssh key(s), first-boot {}",
                        get("global", "fqdn"),
                        get("first-boot", "ordering"),
                    ),
                );
                key_lines(
                    &mut out,
                    "root",
                    t.get("global").and_then(|g| g.get("root-ssh-keys")),
                );
                // What the stick does to the machine that boots it: the disks it erases.
                let ds = t.get("disk-setup");
                let raid = ds
                    .and_then(|d| {
                        ["zfs", "btrfs"]
                            .iter()
                            .find_map(|f| d.get(*f).and_then(|o| o.get("raid")))
                    })
                    .map(|r| format!(" {}", r.as_str().unwrap_or("?")))
                    .unwrap_or_default();
                let which = ds
                    .and_then(|d| d.get("disk-list").or_else(|| d.get("filter")))
                    .map_or("-".into(), |v| v.to_string());
                say(
                    &mut out,
                    &format!(
                        "  disks:       {}{raid} on {which} — ERASED on any machine that boots it",
                        get("disk-setup", "filesystem")
                    ),
                );
                say(
                    &mut out,
                    &format!(
                        "  network:     {}{}",
                        get("network", "source"),
                        match get("network", "cidr").as_str() {
                            "-" => String::new(),
                            c => format!(
                                " {c}, gateway {}, dns {}, nic {}",
                                get("network", "gateway"),
                                get("network", "dns"),
                                t.get("network")
                                    .and_then(|n| n.get("filter"))
                                    .map_or("-".into(), |f| f.to_string())
                            ),
                        }
                    ),
                );
            }
            None => out.push_str("  answer:      none\n"),
        }
        let mut hook_answer = None;
        match extract(iso, "/proxmox-first-boot", work)? {
            Some(h) => {
                say(
                    &mut out,
                    &format!(
                        "  hook:        {} bytes (limit {}), pve-firstboot {}",
                        h.len(),
                        hook::MAX_HOOK_BYTES,
                        hook::version_of(&h).unwrap_or_else(|| "? (not ours)".into())
                    ),
                );
                if let Ok(a) = hook::answer_of(&h) {
                    out.push_str(&ours_in_short(&a));
                    hook_answer = Some(a);
                }
            }
            None => out.push_str("  hook:        none\n"),
        }
        say(
            &mut out,
            &format!(
                "  secrets:     {}",
                carried_secrets(answer.as_deref(), hook_answer.as_deref())
            ),
        );
        Ok(out)
    })()
}

/// A line per ssh key of `keys` (an array of key lines), its fingerprint as `ssh-keygen -l`
/// prints it, to compare where the private key is: a well-formed wrong key is noticed
/// before the stick is booted.
fn key_lines(out: &mut String, who: &str, keys: Option<&toml::Value>) {
    for k in keys
        .and_then(|k| k.as_array())
        .into_iter()
        .flatten()
        .filter_map(|k| k.as_str())
    {
        say(
            out,
            &format!("  ssh key:     {who} {}", crate::sshkey::describe(k)),
        );
    }
}

/// One line of `inspect`'s output, whatever the ISO holds: a value with a control
/// character (an escape sequence in a tampered answer) is shown escaped, never sent to the
/// terminal raw, and one with a line break stays on its line.
fn say(out: &mut String, line: &str) {
    out.push_str(&crate::status::printable(line, false));
    out.push('\n');
}

/// The keys whose values are secrets (as `validate --print` redacts them), by their names
/// in our answer.
const SECRETS: [&str; 8] = [
    "installer.global.root-password",
    "installer.global.root-password-hashed",
    "installer.global.subscription-key",
    "installer.post-installation-webhook.auth-token",
    "notify.webhook",
    "notify.smtp.password",
    "storage[].password",
    "storage[].encryption-key",
];

/// Which secrets a stick carries, in which file, by name (never a value): Proxmox's
/// `/answer.toml` (the `[installer.*]` tables at its top level) and the hook's answer
/// (ours, less the root password). Whoever holds the stick or the ISO can read them.
pub fn carried_secrets(answer: Option<&str>, hook_answer: Option<&str>) -> String {
    // Proxmox's answer has our `installer.` tables at its top.
    let found = |text: Option<&str>, top: &str| -> Vec<&str> {
        let t: toml::Table = text
            .and_then(|t| toml::from_str(t).ok())
            .unwrap_or_default();
        SECRETS
            .into_iter()
            .filter(|k| k.strip_prefix(top).is_some_and(|path| has(&t, path)))
            .collect()
    };
    fn has(t: &toml::Table, path: &str) -> bool {
        match path.split_once('.') {
            // `NAME[]`: any table of the array `[[NAME]]`.
            Some((first, rest)) if first.ends_with("[]") => t
                .get(first.trim_end_matches("[]"))
                .and_then(toml::Value::as_array)
                .is_some_and(|a| {
                    a.iter()
                        .filter_map(toml::Value::as_table)
                        .any(|sub| has(sub, rest))
                }),
            Some((first, rest)) => t
                .get(first)
                .and_then(toml::Value::as_table)
                .is_some_and(|sub| has(sub, rest)),
            None => t.contains_key(path),
        }
    }
    let files: Vec<String> = [
        ("/answer.toml", found(answer, "installer.")),
        ("/proxmox-first-boot", found(hook_answer, "")),
    ]
    .into_iter()
    .filter(|(_, keys)| !keys.is_empty())
    .map(|(file, keys)| format!("{file} holds {}", keys.join(", ")))
    .collect();
    if files.is_empty() {
        "none".into()
    } else {
        format!(
            "{} (names only; whoever holds the stick or the ISO can read them)",
            files.join("; ")
        )
    }
}

/// A string value, or `default` where the key is absent.
fn text_or(v: Option<&toml::Value>, default: &str) -> String {
    v.and_then(|v| v.as_str()).unwrap_or(default).to_string()
}

/// Our tables of the hook's answer, one line each that matters (the hook's answer has no
/// root password to hide).
fn ours_in_short(answer: &str) -> String {
    let Ok(t) = toml::from_str::<toml::Table>(answer) else {
        return "  agent:       the hook's answer does not parse\n".into();
    };
    let mut out = String::new();
    let show = |v: Option<&toml::Value>| {
        v.map_or("-".into(), |v| {
            v.as_str().map_or_else(|| v.to_string(), String::from)
        })
    };
    if let Some(p) = t.get("passthrough") {
        say(
            &mut out,
            &format!("  passthrough: {}", show(p.get("devices"))),
        );
    }
    if let Some(n) = t.get("network") {
        if let Some(b) = n.get("vm-bridge") {
            say(
                &mut out,
                &format!(
                    "  vm-bridge:   {} {}, dhcp {}",
                    b.get("name").and_then(|v| v.as_str()).unwrap_or("vmbr1"),
                    show(b.get("cidr")),
                    show(b.get("dhcp-range"))
                ),
            );
        }
        if let Some(f) = n.get("port-forward").and_then(|v| v.as_array()) {
            let list: Vec<String> = f
                .iter()
                .map(|e| {
                    format!(
                        "{}/{} -> {}",
                        show(e.get("port")),
                        e.get("protocol").and_then(|v| v.as_str()).unwrap_or("tcp"),
                        e.get("to").and_then(|v| v.as_str()).unwrap_or("?")
                    )
                })
                .collect();
            say(&mut out, &format!("  forwards:    {}", list.join(", ")));
        }
    }
    // An image without a checksum is downloaded unverified: said so, not as a bare `-`.
    let sum = |v: Option<&toml::Value>| match v {
        Some(_) => show(v),
        None => "UNVERIFIED (no checksum: allow-unpinned)".to_string(),
    };
    if let Some(h) = t.get("hardening") {
        let on = |k: &str| h.get(k).and_then(|v| v.as_bool()).unwrap_or(true);
        say(
            &mut out,
            &format!(
                "  hardening:   ssh passwords {}, firewall {}{}, fail2ban {}, unattended upgrades {}",
                if h.get("ssh-password-login").and_then(|v| v.as_bool()) == Some(true) {
                    "kept"
                } else {
                    "off once a key is in"
                },
                if on("firewall") { "on" } else { "off" },
                h.get("admin-subnets").map_or(String::new(), |a| format!(
                    " (admin subnets {})",
                    show(Some(a))
                )),
                if on("fail2ban") { "on" } else { "off" },
                text_or(h.get("unattended-upgrades"), "security"),
            ),
        );
    }
    if let Some(h) = t.get("haos") {
        say(
            &mut out,
            &format!(
                "  haos:        version {}, sha256 {}, vmid {}",
                show(h.get("version")),
                sum(h.get("sha256")),
                show(h.get("vmid"))
            ),
        );
    }
    for v in t.get("vm").and_then(|v| v.as_array()).into_iter().flatten() {
        let ci = v.get("cloud-init");
        let vm_sum = ci.and_then(|c| c.get("sha512").or_else(|| c.get("sha256")));
        say(
            &mut out,
            &format!(
                "  vm:          {} {}, {}{}",
                show(v.get("vmid")),
                show(v.get("name")),
                match ci {
                    Some(c) => format!("cloud image {}, sum {}", show(c.get("image")), sum(vm_sum)),
                    None => format!(
                        "ostype {}",
                        v.get("ostype").and_then(|o| o.as_str()).unwrap_or("l26")
                    ),
                },
                v.get("hostpci")
                    .map_or(String::new(), |h| format!(", hostpci {}", show(Some(h))))
            ),
        );
        key_lines(
            &mut out,
            &format!("vm {}", show(v.get("vmid"))),
            ci.and_then(|c| c.get("ssh-keys")),
        );
    }
    for c in t
        .get("container")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        let from = match (c.get("template"), c.get("oci")) {
            (Some(tp), _) => format!(
                "template {} (the appliance index's checksum)",
                show(Some(tp))
            ),
            (None, o) => format!("OCI image {}, digest {}", show(o), sum(c.get("digest"))),
        };
        say(
            &mut out,
            &format!(
                "  container:   {} {}, {from}",
                show(c.get("vmid")),
                show(c.get("hostname"))
            ),
        );
        key_lines(
            &mut out,
            &format!("container {}", show(c.get("vmid"))),
            c.get("ssh-keys"),
        );
    }
    let text = |v: Option<&toml::Value>, default: &str| {
        v.and_then(|v| v.as_str()).unwrap_or(default).to_string()
    };
    if let Some(n) = t.get("notify") {
        // The webhook URL is a secret (an ntfy topic is its own password): its host only.
        let host = n.get("webhook").and_then(|v| v.as_str()).map(|u| {
            let rest = u.split_once("://").map_or(u, |x| x.1);
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            authority.rsplit('@').next().unwrap_or("").to_string()
        });
        let mut parts = Vec::new();
        if let Some(h) = host {
            parts.push(format!(
                "webhook to {h} ({})",
                text(n.get("format"), "ntfy")
            ));
        }
        if let Some(m) = n.get("smtp") {
            parts.push(format!(
                "mail through {}{} ({}) to mailto, and Proxmox's own alerts",
                show(m.get("server")),
                m.get("port").map_or(String::new(), |p| format!(":{p}")),
                text(m.get("mode"), "tls")
            ));
        }
        say(&mut out, &format!("  notify:      {}", parts.join("; ")));
    }
    if let Some(b) = t.get("backup") {
        let keep: Vec<String> = ["last", "hourly", "daily", "weekly", "monthly", "yearly"]
            .iter()
            .filter_map(|k| b.get(format!("keep-{k}")).map(|n| format!("{k} {n}")))
            .collect();
        say(
            &mut out,
            &format!(
                "  backup:      {} to {}, guests {}, keep {}{}",
                show(b.get("schedule")),
                show(b.get("storage")),
                b.get("guests").map_or("ours".into(), |g| show(Some(g))),
                if keep.is_empty() {
                    "as the storage says".to_string()
                } else {
                    keep.join(", ")
                },
                if b.get("host-config").and_then(|v| v.as_bool()) == Some(true) {
                    ", and the host's configuration"
                } else {
                    ""
                }
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--inspect`'s lines for our tables: an image without a checksum is UNVERIFIED, not
    /// a bare `-`; the hardening choices are shown.
    #[test]
    fn inspect_names_unverified_images_and_the_hardening() {
        let a = "[haos]\nversion = \"stable\"\nallow-unpinned = true\n\n\
                 [hardening]\nfirewall = true\nadmin-subnets = [\"192.168.10.0/24\"]\n\n\
                 [[vm]]\nvmid = 101\nname = \"docker\"\n[vm.cloud-init]\nimage = \"https://x/y.qcow2\"\nsha512 = \"ab\"\n\
                 ssh-keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0mZkGW7yVDdkXn0ejAtmE3Wh0LBj1w3cYkX0R3e1R ops@laptop\"]\n\n\
                 [[container]]\nvmid = 200\nhostname = \"apps\"\ntemplate = \"debian-13-standard\"\n\n\
                 [[container]]\nvmid = 201\nhostname = \"web\"\noci = \"nginx:1\"\nallow-unpinned = true\n";
        let o = ours_in_short(a);
        assert!(
            o.contains("  container:   200 apps, template debian-13-standard (the appliance index's checksum)\n"),
            "{o}"
        );
        assert!(
            o.contains("  container:   201 web, OCI image nginx:1, digest UNVERIFIED (no checksum: allow-unpinned)\n"),
            "{o}"
        );
        assert!(
            o.contains(
                "  ssh key:     vm 101 SHA256:HR/7YE3paTIjM2f9HbmwjJ/6Cz0jJ8Tw20Ln6PofBqQ ops@laptop\n"
            ),
            "{o}"
        );
        assert!(
            o.contains("sha256 UNVERIFIED (no checksum: allow-unpinned)"),
            "{o}"
        );
        assert!(o.contains("sum ab"), "{o}");
        assert!(
            o.contains("hardening:   ssh passwords off once a key is in, firewall on (admin subnets [\"192.168.10.0/24\"]), fail2ban on, unattended upgrades security"),
            "{o}"
        );
    }

    #[test]
    fn the_short_answer_names_each_vm() {
        let s = ours_in_short(
            "[[vm]]\nvmid = 101\nname = \"docker\"\n[vm.cloud-init]\nimage = \"https://x/d.qcow2\"\nsha512 = \"ab\"\n\n\
             [[vm]]\nvmid = 102\nname = \"gaming\"\nostype = \"win11\"\nhostpci = [\"gpu\"]\n",
        );
        assert!(
            s.contains("  vm:          101 docker, cloud image https://x/d.qcow2, sum ab\n"),
            "{s}"
        );
        assert!(
            s.contains("  vm:          102 gaming, ostype win11, hostpci [\"gpu\"]\n"),
            "{s}"
        );
    }

    #[test]
    fn the_short_answer_names_notify_and_backup_without_secrets() {
        let s = ours_in_short(
            "[notify]\nwebhook = \"https://user:pw@ntfy.example.org/secret-topic?x=1\"\n\
             [notify.smtp]\nserver = \"smtp.example.org\"\nport = 587\nmode = \"starttls\"\n\
             password = \"hunter2\"\n\
             [backup]\nschedule = \"sun 03:00\"\nstorage = \"local\"\nkeep-daily = 7\n\
             keep-weekly = 4\nhost-config = true\n",
        );
        assert!(
            s.contains("  notify:      webhook to ntfy.example.org (ntfy); mail through smtp.example.org:587 (starttls) to mailto, and Proxmox's own alerts\n"),
            "{s}"
        );
        assert!(
            s.contains("  backup:      sun 03:00 to local, guests ours, keep daily 7, weekly 4, and the host's configuration\n"),
            "{s}"
        );
        for secret in ["secret-topic", "pw@", "hunter2"] {
            assert!(!s.contains(secret), "{s}");
        }
    }

    #[test]
    fn releases() {
        let ci = "PRODUCT='pve'\nPRODUCTLONG='Proxmox VE'\nRELEASE='8.4'\nISORELEASE='1'\n";
        assert_eq!(release(ci), Some(("8.4".into(), (8, 4))));
        assert_eq!(release("RELEASE='9.0'\n").unwrap().1, (9, 0));
        assert!(release("RELEASE='8.3'\n").unwrap().1 < MIN_RELEASE);
        assert_eq!(release("PRODUCT='pve'\n"), None);
    }

    #[test]
    fn proxmox_answer_lifts_the_installer_tables() {
        let a = proxmox_answer(
            "[installer.global]\nfqdn = \"a.b\"\n[installer.network]\nsource = \"from-dhcp\"\n\
             [installer.disk-setup]\nfilesystem = \"ext4\"\n[haos]\nvmid = 100\n",
        )
        .unwrap();
        let t: toml::Table = toml::from_str(&a).unwrap();
        assert_eq!(t["global"]["fqdn"].as_str(), Some("a.b"));
        assert_eq!(t["first-boot"]["source"].as_str(), Some("from-iso"));
        assert_eq!(t["first-boot"]["ordering"].as_str(), Some("fully-up"));
        assert!(t.get("haos").is_none() && t.get("installer").is_none());
        assert!(proxmox_answer("[installer.global]\nfqdn = \"a.b\"\n").is_err());
    }
}
