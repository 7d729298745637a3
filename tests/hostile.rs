//! Hostile input and a shared machine (issue 14): one test per finding, each of which
//! failed before the fix. Planted temp paths and symlinks must change no file outside the
//! output or the root; hostile answers must be refused with a clear error, never a panic.

mod common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Output};

use common::*;
use pve_firstboot::host::{Host, atomic_write};

fn pvefb_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pve-firstboot"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// `apply ANSWER --root ROOT`, run in `dir`.
fn apply(dir: &Path, answer: &Path, root: &Path) -> Output {
    pvefb_in(
        dir,
        &[
            "apply",
            &answer.to_string_lossy(),
            "--root",
            &root.to_string_lossy(),
        ],
    )
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The ISO tests need xorriso (tests/run-all installs it); without it they say so and pass.
fn xorriso_missing() -> bool {
    let missing = Command::new("xorriso").arg("-version").output().is_err();
    if missing {
        eprintln!("xorriso is missing: skipped");
    }
    missing
}

/// A file outside every directory the code may write, and its content.
fn victim(dir: &Path) -> std::path::PathBuf {
    let v = dir.join("victim");
    fs::write(&v, "precious\n").unwrap();
    fs::set_permissions(&v, fs::Permissions::from_mode(0o600)).unwrap();
    v
}

fn unchanged(v: &Path) {
    assert_eq!(
        fs::read_to_string(v).unwrap(),
        "precious\n",
        "{v:?} was written"
    );
    assert_eq!(
        fs::metadata(v).unwrap().permissions().mode() & 0o7777,
        0o600,
        "{v:?} changed mode"
    );
}

/// High: xz() used `$TMPDIR/pve-firstboot-xz.<pid>/agent`, reused the directory whoever
/// made it and wrote through a symlink there. The name is planted for this very process.
#[test]
fn xz_writes_through_no_planted_temp_path() {
    let d = scratch("hostile-xz");
    let v = victim(&d);
    let planted = std::env::temp_dir().join(format!("pve-firstboot-xz.{}", std::process::id()));
    let _ = fs::remove_dir_all(&planted);
    fs::create_dir_all(&planted).unwrap();
    let _gone = Cleanup(planted.clone());
    symlink(&v, planted.join("agent")).unwrap();
    symlink(&v, planted.join("agent.xz")).unwrap();
    let out = pve_firstboot::image::xz(b"the agent").unwrap();
    unchanged(&v);
    assert!(out.starts_with(b"\xfd7zXZ"), "not xz output");
}

/// Medium: atomic_write's temp file had a fixed name and was opened through a symlink, so
/// under --root (or a directory another user can write, as for `hook -o`) a link planted
/// there wrote a file outside.
#[test]
fn atomic_write_opens_no_planted_temp_file() {
    let d = scratch("hostile-atomic");
    let v = victim(&d);
    let root = d.join("root");
    fs::create_dir_all(root.join("etc")).unwrap();
    symlink(&v, root.join("etc/.hostname.pve-firstboot.tmp")).unwrap();
    let h = Host::rooted(&root);
    h.write("/etc/hostname", b"pve\n", 0o644).unwrap();
    unchanged(&v);
    assert_eq!(fs::read(root.join("etc/hostname")).unwrap(), b"pve\n");
    // hook -o into a shared directory: the same planted name, and the target itself a
    // symlink to the victim: rename() replaces the link, the victim keeps its bytes.
    let shared = d.join("shared");
    fs::create_dir_all(&shared).unwrap();
    symlink(&v, shared.join(".hook.pve-firstboot.tmp")).unwrap();
    symlink(&v, shared.join("hook")).unwrap();
    atomic_write(&shared.join("hook"), b"#!/bin/sh\n", 0o755).unwrap();
    unchanged(&v);
}

/// Medium: the lock file was opened without resolving it inside the root.
#[test]
fn the_lock_stays_inside_the_root() {
    let d = scratch("hostile-lock");
    let outside = d.join("outside-lock");
    let root = d.join("root");
    fs::create_dir_all(root.join("var/lib/pve-firstboot")).unwrap();
    // `..` stops at the root, so the link leads to ROOT/outside-lock.
    symlink(
        "../../../../outside-lock",
        root.join("var/lib/pve-firstboot/lock"),
    )
    .unwrap();
    let h = Host::rooted(&root);
    let _lock = h.lock().unwrap();
    assert!(!outside.exists(), "the lock was created outside the root");
    assert!(root.join("outside-lock").exists());
}

/// Low: a failed write (here: the target is a directory, so the rename fails) left its
/// temp file behind.
#[test]
fn a_failed_write_leaves_no_temp_file() {
    let d = scratch("hostile-failed-write");
    fs::create_dir_all(d.join("target/inside")).unwrap();
    assert!(atomic_write(&d.join("target"), b"data", 0o644).is_err());
    let left: Vec<String> = fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["target".to_string()]);
}

/// Low: every missing required flag panicked (exit 134); now a usage error, exit 2.
#[test]
fn cli_misuse_is_a_usage_error() {
    let d = scratch("hostile-cli");
    for args in [
        &["hand-over"][..],
        &["hook"],
        &["hook", "--answer", "x.toml"],
        &["hook", "-o", "out"],
        &["image"],
        &["image", "--iso", "x.iso"],
        &["image", "--answer", "x.toml"],
        &["image", "--inspect"],
        &["validate", "a", "b"],
        &["frobnicate"],
    ] {
        let o = pvefb_in(&d, args);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {t}");
        assert!(t.contains("usage:"), "{args:?}: {t}");
        assert!(!t.contains("panicked"), "{args:?}: {t}");
    }
}

/// Low: `hook -o NAME` with a bare file name wrote the file, then failed to sync the
/// directory "" and exited 1. (`hook` itself needs the release binary to fit in 1 MiB:
/// tests/image/run runs it so; here the write it ends with. This test changes the current
/// directory of the test process, so every other test here uses absolute paths.)
#[test]
fn write_to_a_bare_file_name() {
    let d = scratch("hostile-bare");
    std::env::set_current_dir(&d).unwrap();
    atomic_write(Path::new("hook.out"), b"#!/bin/sh\n", 0o755).unwrap();
    assert_eq!(fs::read(d.join("hook.out")).unwrap(), b"#!/bin/sh\n");
    assert_eq!(fs::read_dir(&d).unwrap().count(), 1, "a temp file was left");
}

/// Low: `image --inspect` of a missing or non-ISO file exited 0 saying "none"; a missing
/// `--iso` was reported as "no /.cd-info".
#[test]
fn inspect_and_image_of_a_non_iso_fail() {
    let d = scratch("hostile-inspect");
    fs::write(d.join("not.iso"), "hello\n").unwrap();
    for f in ["not.iso", "missing.iso"] {
        let o = pvefb_in(&d, &["image", "--inspect", f]);
        assert_eq!(o.status.code(), Some(1), "{f}: {}", text(&o));
    }
    let answer = d.join("answer.toml");
    fs::write(&answer, pinned_example()).unwrap();
    let answer = answer.to_string_lossy();
    // `image --iso ISO --answer EXAMPLE EXTRA...`: exit 1 and its message.
    let image = |iso: &str, extra: &[&str]| {
        let mut args = vec!["image", "--iso", iso, "--answer", &answer];
        args.extend_from_slice(extra);
        let o = pvefb_in(&d, &args);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {t}");
        t
    };
    let t = image("missing.iso", &[]);
    assert!(t.contains("missing.iso: no such ISO file"), "{t}");
    // -o into a directory that does not exist: refused, nothing created.
    image("not.iso", &["-o", "missing/sub/out.iso"]);
    assert!(!d.join("missing").exists());
    // -o DIR --force: refused before the ISO is copied.
    fs::create_dir_all(d.join("outdir")).unwrap();
    let t = image("not.iso", &["-o", "outdir", "--force"]);
    assert!(t.contains("outdir is a directory"), "{t}");
}

/// A scratch directory with `root/`: a Proxmox VE 8 install on an Intel board with an
/// NVIDIA card (tests/roots).
fn intel_nvidia_root(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let d = scratch(name);
    let root = d.join("root");
    for b in ["pve8", "hw-intel-nvidia-zfs"] {
        copy_tree(&manifest().join("tests/roots").join(b), &root);
    }
    (d, root)
}

/// The passthrough fixture's answer with `extra` lines added to its `[passthrough]` table.
fn passthrough_answer(extra: &str) -> String {
    let base =
        fs::read_to_string(manifest().join("tests/fixtures/passthrough-intel-zfs/answer.toml"))
            .unwrap();
    assert!(
        base.trim_end().ends_with("disable-vga = true"),
        "the table moved"
    );
    format!("{base}{extra}\n")
}

/// The validator's errors for an answer, or "" when it is valid.
fn errors(answer: &str) -> String {
    match pve_firstboot::answer::parse("a.toml", answer.as_bytes()) {
        Ok(_) => String::new(),
        Err(r) => r.to_string(),
    }
}

/// Medium: `kernel-args` took GRUB metacharacters and control bytes into the GRUB drop-in,
/// where 10_linux pastes them unquoted into the `linux` line.
#[test]
fn kernel_args_refuse_grub_metacharacters_and_control_bytes() {
    assert_eq!(
        errors(&passthrough_answer(
            "kernel-args = [\"pcie_aspm=off\", \"video=efifb:off\"]"
        )),
        ""
    );
    for bad in [
        "quiet;halt",
        "#rest",
        "a{b",
        "a}b",
        "a|b",
        "a&b",
        "a<b",
        "a>b",
        "$x",
        "a\\\\b",
        "a`b",
        "a'b",
        "a\\\"b",
        "a\\u0000b",
        "a\\u001bb",
        "a\\tb",
        "a b",
        "a\\nb",
        "",
    ] {
        let e = errors(&passthrough_answer(&format!("kernel-args = [\"{bad}\"]")));
        assert!(
            e.contains("passthrough.kernel-args[0]") && e.contains("not a single kernel argument"),
            "{bad:?} was accepted: {e}"
        );
    }
}

/// Medium: `blacklist-drivers = ["ast", "nvme", "ahci", "igb"]` validated and was written.
#[test]
fn blacklist_refuses_well_known_host_drivers() {
    assert_eq!(
        errors(&passthrough_answer("blacklist-drivers = [\"nouveau\"]")),
        ""
    );
    let e = errors(&passthrough_answer(
        "blacklist-drivers = [\"ast\", \"nvme\", \"ahci\", \"igb\", \"r8169\", \"mgag200\"]",
    ));
    for i in 0..6 {
        assert!(
            e.contains(&format!("passthrough.blacklist-drivers[{i}]")),
            "entry {i} accepted: {e}"
        );
    }
    assert!(
        e.contains("\"ast\" drives a server's on-board (BMC) VGA device"),
        "{e}"
    );
    assert!(e.contains("\"igb\" drives network controllers"), "{e}");
}

/// Medium: a driver the static list does not know, bound to the boot VGA device (here
/// i915 on the Intel iGPU while the NVIDIA card is passed through): the phase reads /sys,
/// refuses it and names the device, before anything is written.
#[test]
fn blacklist_of_the_boot_vga_driver_is_refused_by_the_phase() {
    let (d, root) = intel_nvidia_root("hostile-blacklist-phase");
    let answer = d.join("answer.toml");
    fs::write(
        &answer,
        passthrough_answer("blacklist-drivers = [\"i915\"]"),
    )
    .unwrap();
    let o = apply(&d, &answer, &root);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("\"i915\" drives 0000:00:02.0 [") && t.contains("the boot VGA device"),
        "{t}"
    );
    let modprobe = root.join("etc/modprobe.d/pve-firstboot-vfio.conf");
    assert!(
        !fs::read_to_string(&modprobe)
            .unwrap_or_default()
            .contains("blacklist i915"),
        "the blacklist was written"
    );
}

/// examples/homeserver.toml with `image = IMAGE` (a TOML string body) in `[haos]`, and
/// without the pinned sha256 when `pinned` is false.
fn haos_answer(image: &str, pinned: bool) -> String {
    let base = pinned_example();
    let line = "# image = \"https://...\"";
    assert!(base.contains(line), "the example moved");
    let mut a = base.replace(line, &format!("image = \"{image}\""));
    if !pinned {
        let sha = a
            .lines()
            .find(|l| l.starts_with("sha256 = "))
            .unwrap()
            .to_string();
        a = a.replace(&sha, "allow-unpinned = true");
    }
    a
}

/// Low: `haos.image` was checked only for its prefix, so spaces, newlines, `$()`, quotes
/// and curl's `{a,b}` globs passed; plain http:// passed without a pinned checksum.
#[test]
fn image_urls_are_validated_as_urls() {
    assert_eq!(
        errors(&haos_answer("https://example.org/haos.qcow2.xz", true)),
        ""
    );
    assert_eq!(
        errors(&haos_answer("http://10.0.0.2/haos.qcow2.xz", true)),
        ""
    );
    for bad in [
        "https://example.org/a b.xz",
        "https://example.org/a\\nb.xz",
        "https://example.org/a\\tb.xz",
        "https://example.org/$(reboot).xz",
        "https://example.org/a\\\"b.xz",
        "https://example.org/a'b.xz",
        "https://example.org/{a,b,c}.xz",
        "https://example.org/a\\u0000.xz",
        "https://",
    ] {
        let e = errors(&haos_answer(bad, true));
        assert!(e.contains("haos.image"), "{bad:?} was accepted: {e}");
    }
    let e = errors(&haos_answer("http://10.0.0.2/haos.qcow2.xz", false));
    assert!(e.contains("plain http:// URL needs a pinned sha256"), "{e}");
}

mod download {
    //! The download against a local server that misbehaves on purpose.
    use super::*;
    use pve_firstboot::fetch::{Limits, Retry, Source, fetch_image_limited};
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    #[derive(Clone, Copy)]
    enum Serve {
        /// 200 with no length, zeros without end.
        Endless,
        /// States 64 MiB, sends nothing.
        Huge,
        /// One byte every 300 ms.
        Drip,
        /// 64 KiB every 100 ms without end (fast enough not to stall).
        Steady,
    }

    fn serve(how: Serve) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                std::thread::spawn(move || answer(c, how));
            }
        });
        port
    }

    fn answer(mut c: TcpStream, how: Serve) {
        let mut r = BufReader::new(c.try_clone().unwrap());
        let mut line = String::new();
        while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
            line.clear();
        }
        let hdr: &[u8] = match how {
            Serve::Huge => {
                b"HTTP/1.1 200 OK\r\nContent-Length: 67108864\r\nConnection: close\r\n\r\n"
            }
            _ => b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
        };
        if c.write_all(hdr).is_err() {
            return;
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            let ok = match how {
                Serve::Endless => c.write_all(&[0u8; 65536]).is_ok(),
                Serve::Huge => {
                    std::thread::sleep(Duration::from_millis(100));
                    true
                }
                Serve::Drip => {
                    std::thread::sleep(Duration::from_millis(300));
                    c.write_all(b"x").is_ok()
                }
                Serve::Steady => {
                    std::thread::sleep(Duration::from_millis(100));
                    c.write_all(&[0u8; 65536]).is_ok()
                }
            };
            if !ok {
                return;
            }
        }
    }

    fn quick() -> Retry {
        Retry {
            checksum_attempts: 1,
            transport_retries: 1,
            backoff: Duration::from_millis(10),
        }
    }

    fn small() -> Limits {
        Limits {
            max_download: 2 << 20,
            max_image: 2 << 20,
            stall: Duration::from_secs(2),
            total: Duration::from_secs(30),
        }
    }

    /// Fetch `src` into a scratch dir; the error, how long it took, and that no file
    /// was left.
    fn fails(name: &str, src: Source, limits: Limits) -> (String, Duration) {
        let d = scratch(&format!("hostile-dl-{name}"));
        let dest = d.join("img/haos.qcow2");
        let start = Instant::now();
        let e = fetch_image_limited(
            &Host::live(),
            &src,
            None,
            &dest.to_string_lossy(),
            quick(),
            limits,
        )
        .unwrap_err()
        .to_string();
        assert!(!dest.exists(), "{name}: a file was left: {e}");
        (e, start.elapsed())
    }

    fn url(port: u16) -> Source {
        Source::Url(format!("http://127.0.0.1:{port}/haos.qcow2.xz"))
    }

    /// The server misbehaves as `how`: the fetch fails within 20 s saying `want`.
    fn served_fails_with(how: Serve, want: &str) {
        let (e, t) = fails(want, url(serve(how)), small());
        assert!(e.contains(want), "{e}");
        assert!(t < Duration::from_secs(20), "{t:?}");
    }

    /// Medium: an endless body kept going.
    #[test]
    fn an_endless_body_stops_at_the_size_cap() {
        served_fails_with(Serve::Endless, "more than 2 MiB");
    }

    /// Medium: a stated size over the cap is refused by curl before the body.
    #[test]
    fn a_stated_size_over_the_cap_is_refused() {
        served_fails_with(Serve::Huge, "larger than 2 MiB");
    }

    /// Medium: a drip of one byte now and then never ended.
    #[test]
    fn a_stalled_download_ends() {
        served_fails_with(Serve::Drip, "stalled");
    }

    /// Medium: no overall timeout.
    #[test]
    fn a_slow_endless_download_hits_the_overall_timeout() {
        let limits = Limits {
            max_download: 1 << 40,
            max_image: 1 << 40,
            total: Duration::from_secs(3),
            ..small()
        };
        let (e, t) = fails("steady", url(serve(Serve::Steady)), limits);
        assert!(
            e.contains("timed out") || e.contains("not done after"),
            "{e}"
        );
        assert!(t < Duration::from_secs(15), "{t:?}");
    }

    /// Medium: an endless xz stream wrote 2.4 GB in 10 s: the decompressed size is capped.
    #[test]
    fn an_xz_bomb_stops_at_the_image_cap() {
        let d = scratch("hostile-dl-bomb-src");
        let raw = d.join("zeros");
        fs::write(&raw, vec![0u8; 32 << 20]).unwrap();
        assert!(
            Command::new("xz")
                .arg("-k")
                .arg(&raw)
                .status()
                .unwrap()
                .success()
        );
        let src = Source::File(d.join("zeros.xz").to_string_lossy().into_owned());
        let (e, _) = fails("bomb", src, small());
        assert!(e.contains("decompressed image passed 2 MiB"), "{e}");
    }

    /// Low: `haos.image = "/dev/zero"` was read without end (plan read it into memory).
    #[test]
    fn a_device_as_image_is_refused() {
        let (e, t) = fails("dev-zero", Source::File("/dev/zero".into()), small());
        assert!(e.contains("/dev/zero: not a regular file"), "{e}");
        assert!(t < Duration::from_secs(2), "{t:?}");
        let e = fetch_image_limited(
            &Host::plan(None),
            &Source::File("/dev/zero".into()),
            None,
            "/nonexistent/haos.qcow2",
            quick(),
            small(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }

    /// Low: a URL that curl would glob or split is refused before curl runs.
    #[test]
    fn a_hostile_url_never_reaches_curl() {
        for u in [
            "http://127.0.0.1:1/{a,b}",
            "http://127.0.0.1:1/a b",
            "ftp://x/y",
        ] {
            let (e, _) = fails("url", Source::Url(u.into()), small());
            assert!(e.contains("image URL"), "{u}: {e}");
        }
    }
}

/// Low: `validate /dev/zero` read until memory ran out; now refused at once, here under a
/// 200 MB address-space limit.
#[test]
fn validate_dev_zero_ends_quickly() {
    let d = scratch("hostile-dev-zero");
    let start = std::time::Instant::now();
    let o = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 204800; exec \"$0\" validate /dev/zero")
        .arg(env!("CARGO_BIN_EXE_pve-firstboot"))
        .current_dir(&d)
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("/dev/zero: error: cannot read the answer file: a character device"),
        "{t}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    // A FIFO nobody writes to: refused without waiting for a writer.
    let fifo = d.join("fifo.toml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let o = Command::new("timeout")
        .args(["10", env!("CARGO_BIN_EXE_pve-firstboot"), "validate"])
        .arg(&fifo)
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("a FIFO, not a regular file"), "{t}");
    // A file far larger than any answer: refused by its size, not read.
    let big = d.join("big.toml");
    fs::File::create(&big).unwrap().set_len(1 << 30).unwrap();
    let o = pvefb_in(&d, &["validate", &big.to_string_lossy()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("1073741824 bytes or more"), "{t}");
}

/// Low: `plan` with `haos.image = "/dev/zero"` grew to 2.1 GB (it read the image whole to
/// hash it). Under --root a device cannot be made without privileges, so: a FIFO (which
/// hung for ever) and a sparse file larger than any image (read into memory), each under a
/// 400 MB address-space limit and a 30 s timeout.
#[test]
fn plan_with_a_hostile_local_image_ends_quickly() {
    let d = scratch("hostile-plan-image");
    let root = d.join("root");
    copy_tree(&manifest().join("tests/roots/pve8"), &root);
    fs::create_dir_all(root.join("srv/images")).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(root.join("srv/images/fifo.xz"))
            .status()
            .unwrap()
            .success()
    );
    fs::File::create(root.join("srv/images/big.xz"))
        .unwrap()
        .set_len(8 << 30)
        .unwrap();
    let base =
        fs::read_to_string(manifest().join("tests/fixtures/haos-local-image/answer.toml")).unwrap();
    for (file, want) in [
        ("fifo.xz", "not a regular file"),
        ("big.xz", "more than 4096 MiB"),
    ] {
        let answer = d.join("a.toml");
        fs::write(&answer, base.replace("haos_ova-16.3.qcow2.xz", file)).unwrap();
        let o = Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 409600; exec timeout 30 \"$0\" plan \"$1\" --root \"$2\"")
            .arg(env!("CARGO_BIN_EXE_pve-firstboot"))
            .arg(&answer)
            .arg(&root)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let t = text(&o);
        assert!(
            t.contains(&format!("/srv/images/{file}: {want}")),
            "{file}: {t}"
        );
    }
}

/// The files a plan of `answer` on `root` would write, or `None` if the answer is invalid.
fn planned_files(
    root: &Path,
    answer: &str,
) -> Option<std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>> {
    use pve_firstboot::engine::{Engine, RunMode};
    let l = pve_firstboot::answer::parse("a.toml", answer.as_bytes()).ok()?;
    let host = Host::plan(Some(root));
    Engine::new(&host, &l.answer, RunMode::Converge)
        .run()
        .unwrap();
    Some(
        host.overlay()
            .into_iter()
            .filter_map(|(p, v)| v.map(|(d, _)| (p, d)))
            .collect(),
    )
}

/// Values a hostile or careless admin might put in any string, as TOML string bodies.
const HOSTILE: &[&str] = &[
    "a\\nb",
    "a\\rb",
    "a\\u0000b",
    "a\\u001bb",
    "a\\u007fb",
    "a\\u2028b",
    "x;reboot",
    "#x",
    "$(reboot)",
    "`reboot`",
    "a'b",
    "a\\\"b",
    "a b",
    "{a,b}",
    "a\\\\b",
];

/// Property: no answer that `validate` accepts makes a file with a control character,
/// or with a different number of lines than the example's (a value that splits a line, or
/// joins two, is read differently by the program behind the file). Every string value of
/// the example, and the first entry of every array, takes each hostile value in turn.
#[test]
fn no_accepted_answer_writes_a_control_character_or_an_extra_line() {
    let base = pinned_example();
    hostile_values_in("hostile-property", &base, INSTALLER_GLOBS);
}

/// Keys of the example that take values of any characters (the installer matches them as
/// globs against udev's properties and names: `[installer.*]` only, nothing the agent
/// writes), so some hostile values are accepted in every variant of the example.
const INSTALLER_GLOBS: &[(&str, bool)] = &[("disk-list", false), ("filter.ID_NET_NAME_MAC", false)];

/// The same for the example's `[[vm]]` tables (commented out there), uncommented: what
/// reaches the user-data snippet and the `qm` command lines.
#[test]
fn no_accepted_vm_answer_writes_a_control_character_or_an_extra_line() {
    // Only the [[vm]] lines vary: the rest is the example without them.
    let base = example_with("# [[vm]]\n# vmid = 101");
    hostile_values_in("hostile-property-vms", &base, INSTALLER_GLOBS);
}

/// The pinned example up to its commented-out block that starts with `start`, then that
/// block (up to the next `# ----` line) uncommented, its own comments left out.
fn example_with(start: &str) -> String {
    let ex = pinned_example();
    let from = ex.find(start).unwrap();
    let to = from + ex[from..].find("# ----").unwrap();
    let block: String = ex[from..to]
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if !rest.starts_with('#') => format!("{rest}\n"),
            _ => "\n".to_string(),
        })
        .collect();
    format!("{}{block}", &ex[..from])
}

/// The same for the example's `[[container]]` tables (commented out there), uncommented and
/// pinned: what reaches the `pveam`, `skopeo` and `pct` command lines and root's keys file.
#[test]
fn no_accepted_container_answer_writes_a_control_character_or_an_extra_line() {
    let base = example_with("# [[container]]\n# vmid = 200").replace(
        "sha256:...",
        &format!("sha256:{}", "0123456789abcdef".repeat(4)),
    );
    hostile_values_in("hostile-property-containers", &base, INSTALLER_GLOBS);
}

/// The same for the example's `[notify]`, `[notify.smtp]` and `[backup]` (commented out
/// there), uncommented: what reaches notifications.cfg, its priv file, jobs.cfg and the
/// host-config timer and script.
#[test]
fn no_accepted_notify_or_backup_answer_writes_a_control_character_or_an_extra_line() {
    let ex = pinned_example();
    let from = ex.find("# [notify]\n# webhook").unwrap();
    let tail: String = ex[from..]
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.starts_with('[') && rest.ends_with(']') || rest.contains(" = ") => {
                format!("{}\n", rest.replace("<your-topic>", "topic"))
            }
            _ => "\n".to_string(),
        })
        .collect();
    let base = format!("{}{tail}", &ex[..from]);
    // The relay's account and password may hold shell and TOML metacharacters (a generated
    // password does): accepted, and carried into notifications.cfg and its priv file.
    hostile_values_in(
        "hostile-property-backup",
        &base,
        &[("username", true), ("password", true)],
    );
}

/// Each hostile value in turn in every string of `base` (see above). `accepted_by`: keys
/// that must accept some of them, with whether the accepted value must then change a file
/// the agent writes: a validation that refused every value would leave the property
/// checked on nothing, and this says so.
fn hostile_values_in(name: &str, base: &str, accepted_by: &[(&str, bool)]) {
    let (_, root) = intel_nvidia_root(name);
    let base = base.to_string();
    let baseline = planned_files(&root, &base).expect("the example is valid");
    let lines = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
    let mut tried = 0;
    let mut accepted = 0;
    // Per key: the values accepted, and those that changed a written file.
    let mut took: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    let mut problems = Vec::new();
    for (i, line) in base.lines().enumerate() {
        let code = line.split(" #").next().unwrap_or("");
        let Some((key, value)) = code.split_once(" = ") else {
            continue;
        };
        if key.trim_start().starts_with('#') {
            continue;
        }
        // The first string of the value, or the inside of an empty array.
        let (from, to) = if let Some(a) = value.find('"') {
            let b = value[a + 1..].find('"').map(|b| a + 1 + b).unwrap();
            (a + 1, b)
        } else if value.trim_end() == "[]" {
            let a = value.find('[').unwrap();
            (a + 1, a + 1)
        } else {
            continue;
        };
        for h in HOSTILE {
            let quoted = if from == to && value.trim_end() == "[]" {
                format!("\"{h}\"")
            } else {
                h.to_string()
            };
            let new_value = format!("{}{quoted}{}", &value[..from], &value[to..]);
            let new_line = line.replacen(value, &new_value, 1);
            let text: String = base
                .lines()
                .enumerate()
                .map(|(j, l)| if j == i { new_line.as_str() } else { l })
                .collect::<Vec<_>>()
                .join("\n");
            tried += 1;
            let Some(files) = planned_files(&root, &text) else {
                continue;
            };
            accepted += 1;
            let t = took.entry(key.trim().to_string()).or_default();
            t.0 += 1;
            t.1 += usize::from(files != baseline);
            for (p, data) in &files {
                if let Some(b) = data
                    .iter()
                    .find(|&&b| b < 0x20 && b != b'\n' && b != b'\t' || b == 0x7f)
                {
                    problems.push(format!(
                        "{}: {h:?} put byte 0x{b:02x} into {}",
                        key.trim(),
                        p.display()
                    ));
                }
                if let Some(old) = baseline.get(p) {
                    if lines(old) != lines(data) {
                        problems.push(format!(
                            "{}: {h:?} changed the line count of {}",
                            key.trim(),
                            p.display()
                        ));
                    }
                }
                let s = String::from_utf8_lossy(data);
                if s.contains('\u{2028}') {
                    problems.push(format!(
                        "{}: {h:?} put U+2028 into {}",
                        key.trim(),
                        p.display()
                    ));
                }
            }
        }
    }
    assert!(tried > 200, "only {tried} cases");
    eprintln!("{tried} hostile answers tried, {accepted} accepted: {took:?}");
    for (key, must_reach) in accepted_by {
        let (n, reached) = took.get(*key).copied().unwrap_or_default();
        assert!(
            n > 0 && (reached > 0 || !must_reach),
            "{key}: {n} hostile values accepted, {reached} of them in a file written: the \
             property above was checked on nothing there"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Low: files were read lossily, so a byte that is not UTF-8 (a Latin-1 comment) became
/// U+FFFD when a phase rewrote the file. Now every byte outside the lines we change stays.
#[test]
fn rewritten_files_keep_bytes_that_are_not_utf8() {
    const MARK: &[u8] = b"# caf\xe9 \xff\xfe\n";
    let (d, root) = intel_nvidia_root("hostile-latin1");
    let files = [
        "etc/chrony/chrony.conf",
        "etc/apt/sources.list.d/pve-enterprise.list",
    ];
    let mut before = Vec::new();
    for f in files {
        let mut b = fs::read(root.join(f)).unwrap();
        b.extend_from_slice(MARK);
        fs::write(root.join(f), &b).unwrap();
        before.push(b);
    }
    let answer = manifest().join("examples/homeserver.toml");
    let o = apply(&d, &answer, &root);
    for (f, old) in files.iter().zip(before) {
        let now = fs::read(root.join(f)).unwrap();
        assert_ne!(now, old, "{f} was not rewritten: {}", text(&o));
        assert!(
            now.windows(MARK.len()).any(|w| w == MARK),
            "{f}: {}",
            String::from_utf8_lossy(&now)
        );
        assert!(
            now.windows(3).all(|w| w != "\u{FFFD}".as_bytes()),
            "{f} has U+FFFD"
        );
    }
}

/// Low: with the management network from DHCP, a VM-bridge subnet that overlaps vmbr0's
/// real subnet was not refused (guests cut off). The answer says 10.0.200.10/24; the host
/// got 10.0.100.57/24 by DHCP, which only its routes show.
#[test]
fn a_vm_bridge_on_the_dhcp_management_subnet_is_refused() {
    let d = scratch("hostile-dhcp-overlap");
    let root = d.join("root");
    copy_tree(&manifest().join("tests/roots/pve8"), &root);
    let ifaces = root.join("etc/network/interfaces");
    let dhcp = fs::read_to_string(&ifaces).unwrap().replace(
        "iface vmbr0 inet static\n\taddress 10.0.200.10/24\n\tgateway 10.0.200.1\n",
        "iface vmbr0 inet dhcp\n",
    );
    assert!(dhcp.contains("inet dhcp"), "the tree moved");
    fs::write(&ifaces, dhcp).unwrap();
    fs::create_dir_all(root.join("proc/net")).unwrap();
    fs::write(
        root.join("proc/net/route"),
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
         vmbr0\t00000000\t0164000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
         vmbr0\t0064000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
    )
    .unwrap();
    let answer = manifest().join("tests/fixtures/network-pve8/answer.toml");
    let o = apply(&d, &answer, &root);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("overlaps the management network 10.0.100.0/24 (a route of vmbr0"),
        "{t}"
    );
    assert!(!root.join("etc/network/interfaces.d/pve-firstboot").exists());
}

/// High: `image --inspect` extracted the ISO's answer (with the root password) into
/// `$TMPDIR/pve-firstboot-inspect.<pid>`, reusing whatever was there: a symlink planted
/// under that name (for this very process) led each file into another user's directory
/// for as long as it took to read it, and the clean-up then removed the link. Now the
/// planted path is not used at all: the link is still there, the directory stays empty.
#[test]
fn inspect_extracts_into_no_planted_directory() {
    if xorriso_missing() {
        return;
    }
    let d = scratch("hostile-inspect-planted");
    let tree = d.join("tree");
    fs::create_dir_all(&tree).unwrap();
    fs::write(tree.join(".cd-info"), "RELEASE='8.4'\n").unwrap();
    fs::write(
        tree.join("answer.toml"),
        "[global]\nroot-password = \"hunter2\"\n",
    )
    .unwrap();
    let iso = d.join("x.iso");
    let ok = Command::new("xorriso")
        .args(["-outdev"])
        .arg(&iso)
        .args(["-map"])
        .arg(&tree)
        .arg("/")
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok));
    let attacker = d.join("attacker");
    fs::create_dir_all(&attacker).unwrap();
    let planted =
        std::env::temp_dir().join(format!("pve-firstboot-inspect.{}", std::process::id()));
    let _ = fs::remove_file(&planted);
    symlink(&attacker, &planted).unwrap();
    let _gone = Cleanup(planted.clone());
    let out = pve_firstboot::image::iso::inspect(&iso);
    let untouched = fs::symlink_metadata(&planted).is_ok_and(|m| m.file_type().is_symlink());
    assert!(untouched, "the planted link was used and removed");
    let out = out.unwrap();
    assert!(out.contains("release:     8.4"), "{out}");
    assert!(
        out.contains("root password plain text (not shown)"),
        "{out}"
    );
    assert!(!out.contains("hunter2"), "{out}");
    assert_eq!(
        fs::read_dir(&attacker).unwrap().count(),
        0,
        "files were extracted into the planted directory"
    );
}

// Issue 29: hostile publishers, ISOs, devices and keys, and secrets on the stick. Each
// test below failed before its fix.

/// What the hostile publisher answers one request with.
#[derive(Clone)]
enum Reply {
    /// 200 with this body, its length stated.
    Body(Vec<u8>),
    NotFound,
    /// 200, chunked (no size stated): `head`, then blanks up to `total` bytes — "without
    /// end" for a reader that should stop long before, yet an end for the code before the
    /// fix, which read everything.
    Chunked {
        head: Vec<u8>,
        total: usize,
    },
    /// 200 stating a `Content-Length` of this many bytes, then sending them.
    Stated(usize),
    /// 200, then one blank a second for 90 s: never done, never silent.
    Slow,
}

/// A publisher on 127.0.0.1 (and nowhere else): each request's path, and the body bytes
/// the peer took before it hung up.
struct Publisher {
    base: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    sent: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Publisher {
    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
    fn sent(&self) -> usize {
        self.sent.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn publisher(route: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Publisher {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sent = Arc::new(AtomicUsize::new(0));
    let route = Arc::new(route);
    let (r, n) = (requests.clone(), sent.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let (r, n, route) = (r.clone(), n.clone(), route.clone());
            std::thread::spawn(move || {
                conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                    .ok();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                r.lock().unwrap().push(path.clone());
                // Body bytes are counted only once the peer took them.
                let send = |conn: &mut std::net::TcpStream, data: &[u8]| -> bool {
                    let ok = conn.write_all(data).is_ok();
                    if ok {
                        n.fetch_add(data.len(), Ordering::SeqCst);
                    }
                    ok
                };
                let chunked =
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
                let chunk =
                    |d: &[u8]| [format!("{:x}\r\n", d.len()).as_bytes(), d, b"\r\n"].concat();
                let head = |len: usize| {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
                };
                match route(&path) {
                    Reply::Body(b) => {
                        if conn.write_all(head(b.len()).as_bytes()).is_ok() {
                            send(&mut conn, &b);
                        }
                    }
                    Reply::NotFound => {
                        let _ = conn.write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                    }
                    Reply::Chunked { head, total } => {
                        if conn.write_all(chunked.as_bytes()).is_err()
                            || !send(&mut conn, &chunk(&head))
                        {
                            return;
                        }
                        let blanks = chunk(&[b' '; 1 << 16]);
                        let mut done = head.len();
                        while done < total && send(&mut conn, &blanks) {
                            done += 1 << 16;
                        }
                        let _ = conn.write_all(b"0\r\n\r\n");
                    }
                    Reply::Stated(len) => {
                        if conn.write_all(head(len).as_bytes()).is_err() {
                            return;
                        }
                        let mut done = 0;
                        while done < len && send(&mut conn, &[b' '; 1 << 16]) {
                            done += 1 << 16;
                        }
                    }
                    Reply::Slow => {
                        if conn.write_all(chunked.as_bytes()).is_err() {
                            return;
                        }
                        for _ in 0..90 {
                            if !send(&mut conn, &chunk(b" ")) {
                                return;
                            }
                            std::thread::sleep(std::time::Duration::from_secs(1));
                        }
                    }
                }
            });
        }
    });
    Publisher {
        base,
        requests,
        sent,
    }
}

/// 64 MiB: what the issue's reproductions sent; 8 MiB is the cap, and a reader that stops
/// there lets the server write at most the cap and the sockets' buffers.
const FLOOD: usize = 64 << 20;
const AT_MOST_SENT: usize = 24 << 20;

/// GitHub's release document for HAOS 16.3, the digest on the right asset.
fn release_json(digest_on: &str) -> Vec<u8> {
    format!(
        r#"{{"tag_name": "16.3", "assets": [
            {{"name": "haos_ova-16.3.qcow2.xz", "digest": null}},
            {{"name": "{digest_on}", "digest": "sha256:{TEST_HAOS_SHA256}"}}]}}"#
    )
    .into_bytes()
}

/// `f` in a thread, given at most `secs`: a hang is a failure of its own, not a test that
/// never ends.
fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("{what}: not done after {secs} s (it hangs)"))
}

/// Issue 29, item 3: the `haos` phase resolved `version = "stable"` with a curl that had no
/// `--max-time`, `--max-filesize` nor `--proto`, read the reply whole and searched it for
/// `"ova"` as text: a slow publisher held the first boot for ever, an endless one took
/// the host's memory, and another object's `"ova"` (or a page that is no JSON) gave the
/// version. Now it is pin's capped path and JSON reader.
#[test]
fn haos_stable_on_the_host_is_read_capped_and_as_json() {
    use pve_firstboot::phases::haos::resolve_version;
    use pve_firstboot::pin::Publishers;
    let pb = publisher(|path| match path {
        "/endless/stable.json" => Reply::Chunked {
            head: br#"{"hassos": {"ova": "16.3"}}"#.to_vec(),
            total: FLOOD,
        },
        "/oversized/stable.json" => Reply::Stated(FLOOD),
        "/slow/stable.json" => Reply::Slow,
        "/other/stable.json" => {
            Reply::Body(br#"{"supervisor": {"ova": "6.6"}, "hassos": {"ova": "16.3"}}"#.to_vec())
        }
        "/page/stable.json" => Reply::Body(b"<html>\"ova\": \"1.0\"</html>".to_vec()),
        _ => Reply::NotFound,
    });
    let cases = [
        ("endless", "larger than 8388608 bytes"),
        ("oversized", "larger than 8388608 bytes"),
        ("slow", "no answer within 20 s"),
        ("other", "16.3"),
        ("page", "not JSON"),
    ];
    // Side by side: the slow one takes its 20 s, the others must not wait for it.
    let runs: Vec<_> = cases
        .iter()
        .map(|(case, _)| {
            let base = format!("{}/{case}", pb.base);
            std::thread::spawn(move || {
                let t = std::time::Instant::now();
                let r = within(60, "resolving stable", move || {
                    resolve_version(&Host::live(), &Publishers::at(&base), "stable")
                        .map_err(|e| e.to_string())
                });
                (r, t.elapsed())
            })
        })
        .collect();
    for ((case, want), run) in cases.iter().zip(runs) {
        let (r, took) = run.join().unwrap_or_else(|_| panic!("{case}: hung"));
        let said = match &r {
            Ok(v) => v.clone(),
            Err(e) => e.clone(),
        };
        assert!(said.contains(want), "{case}: {said}");
        assert_eq!(r.is_ok(), *case == "other", "{case}: {said}");
        let limit = if *case == "slow" { 40 } else { 15 };
        assert!(took.as_secs() < limit, "{case}: took {took:?}");
    }
    assert!(
        pb.sent() < AT_MOST_SENT,
        "{} bytes were taken from the publishers",
        pb.sent()
    );
}

/// An answer whose `[haos]` asks for `stable`, for `pin`.
fn stable_answer(dir: &Path) -> std::path::PathBuf {
    let f = dir.join("answer.toml");
    let a = pinned_example()
        .replace("version = \"16.3\"", "version = \"stable\"")
        .replace(&format!("sha256 = \"{TEST_HAOS_SHA256}\""), "");
    fs::write(&f, a).unwrap();
    f
}

fn pin_against(base: &str, answer: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pve-firstboot"))
        .args(["pin", &answer.to_string_lossy()])
        .env(pve_firstboot::pin::TEST_PUBLISHERS_ENV, base)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// Issue 29, item 6: `pin` told curl `--max-filesize 8 MiB`, which curl applies only to a
/// reply that states its size: a chunked reply of 64 MiB was read whole, and its JSON
/// (padded with blanks) pinned. Now the bytes are counted as they arrive. A release whose
/// digest belongs to another asset stays refused.
#[test]
fn pin_caps_a_chunked_reply() {
    let d = scratch("hostile-pin-chunked");
    let pb = publisher(|path| match path {
        "/stable.json" => Reply::Chunked {
            head: br#"{"hassos": {"ova": "16.3"}}"#.to_vec(),
            total: FLOOD,
        },
        "/repos/home-assistant/operating-system/releases/tags/16.3" => {
            Reply::Body(release_json("haos_ova-16.3.qcow2.xz"))
        }
        _ => Reply::NotFound,
    });
    let answer = stable_answer(&d);
    let before = fs::read(&answer).unwrap();
    let o = within(60, "pin", {
        let (base, answer) = (pb.base.clone(), answer.clone());
        move || pin_against(&base, &answer)
    });
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("stable.json: the answer is larger than 8388608 bytes"),
        "{t}"
    );
    assert_eq!(
        fs::read(&answer).unwrap(),
        before,
        "the answer was rewritten"
    );
    assert!(pb.sent() < AT_MOST_SENT, "{} bytes were read", pb.sent());

    // The digest GitHub lists for another asset is not the image's.
    let other = publisher(|path| match path {
        "/stable.json" => Reply::Body(br#"{"hassos": {"ova": "16.3"}}"#.to_vec()),
        "/repos/home-assistant/operating-system/releases/tags/16.3" => {
            Reply::Body(release_json("haos_ova-16.3.vmdk.zip"))
        }
        _ => Reply::NotFound,
    });
    let o = pin_against(&other.base, &answer);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("gives no SHA-256 digest for haos_ova-16.3.qcow2.xz"),
        "{t}"
    );
    assert_eq!(fs::read(&answer).unwrap(), before);
}

/// What `pin` writes is the publisher's digest of the very image the host will download:
/// a HAOS release lists a dozen images, each with its own digest (and its notes with `\r\n`
/// line ends, as GitHub sends them); the answer gets `haos_ova-<version>.qcow2.xz`'s. A cloud
/// image gets its own line of the checksum list beside it: Debian's `SHA512SUMS` (two
/// blanks), Ubuntu's `SHA256SUMS` in binary mode (`<hex> *<file>`), other files' lines
/// first. The pinned answer validates.
#[test]
fn pin_takes_the_digest_of_the_image_it_pins() {
    let d = scratch("hostile-pin-right-digest");
    // Hex of the right length, not one digit repeated (validate takes that for a placeholder).
    let digest = |c: char, len: usize| format!("{}0", c.to_string().repeat(len - 1));
    let release = format!(
        r#"{{"tag_name": "16.3", "body": "Changes\r\n\r\n- Linux 6.12\r\n",
            "assets": [
            {{"name": "haos_generic-aarch64-16.3.img.xz", "digest": "sha256:{}"}},
            {{"name": "haos_ova-16.3.vmdk.zip", "digest": "sha256:{}"}},
            {{"name": "haos_ova-16.3.qcow2.xz", "digest": "sha256:{}"}},
            {{"name": "haos_ova-16.3.qcow2.xz.sig", "digest": "sha256:{}"}}]}}"#,
        digest('a', 64),
        digest('b', 64),
        digest('c', 64),
        digest('d', 64)
    );
    let debian = format!(
        "{}  debian-13-genericcloud-amd64.json\n{}  debian-13-genericcloud-amd64.qcow2\n",
        digest('1', 128),
        digest('2', 128)
    );
    let ubuntu = format!(
        "{} *noble-server-cloudimg-amd64.img.manifest\n{} *noble-server-cloudimg-amd64.img\n",
        digest('3', 64),
        digest('4', 64)
    );
    let pb = publisher(move |path| match path {
        "/stable.json" => Reply::Body(br#"{"hassos": {"ova": "16.3"}}"#.to_vec()),
        "/repos/home-assistant/operating-system/releases/tags/16.3" => {
            Reply::Body(release.clone().into_bytes())
        }
        "/debian/SHA512SUMS" => Reply::Body(debian.clone().into_bytes()),
        "/ubuntu/SHA256SUMS" => Reply::Body(ubuntu.clone().into_bytes()),
        _ => Reply::NotFound,
    });
    let answer = stable_answer(&d);
    let vms = format!(
        "\n[[vm]]\nvmid = 101\nname = \"docker\"\n[vm.cloud-init]\n\
         image = \"{0}/debian/debian-13-genericcloud-amd64.qcow2\"\n\n\
         [[vm]]\nvmid = 102\nname = \"ubuntu\"\n[vm.cloud-init]\n\
         image = \"{0}/ubuntu/noble-server-cloudimg-amd64.img\"\n",
        pb.base
    );
    fs::write(&answer, fs::read_to_string(&answer).unwrap() + &vms).unwrap();
    let o = pin_against(&pb.base, &answer);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let pinned: toml::Table = fs::read_to_string(&answer).unwrap().parse().unwrap();
    let haos = pinned["haos"].as_table().unwrap();
    assert_eq!(haos["version"].as_str(), Some("16.3"));
    assert_eq!(haos["sha256"].as_str(), Some(digest('c', 64).as_str()));
    let ci = |i: usize| pinned["vm"][i]["cloud-init"].as_table().unwrap().clone();
    assert_eq!(ci(0)["sha512"].as_str(), Some(digest('2', 128).as_str()));
    assert_eq!(ci(1)["sha256"].as_str(), Some(digest('4', 64).as_str()));
    let v = agent(&["validate", answer.to_str().unwrap()], "warn");
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
}

/// Issue 29, item 7: `pin` asked curl for the checksum list beside a cloud image without
/// `--globoff` and without checking the URL as downloads do: `[1-2]` or `{a,b}` in the
/// image's URL became one request per expansion. Now `{a,b}` is refused before any
/// request, and `[1-2]` is one literal path.
#[test]
fn pin_never_globs_an_image_url() {
    let d = scratch("hostile-pin-glob");
    let pb = publisher(|_| Reply::NotFound);
    for (url, refused_first) in [
        (format!("{}/img[1-2]/x.qcow2", pb.base), false),
        (format!("{}/{{a,b}}/x.qcow2", pb.base), true),
    ] {
        let answer = d.join("vm.toml");
        fs::write(
            &answer,
            format!(
                "{}\n[[vm]]\nvmid = 101\nname = \"docker\"\n[vm.cloud-init]\nimage = \"{url}\"\nuser = \"admin\"\n",
                pinned_example()
            ),
        )
        .unwrap();
        let before = pb.requests().len();
        let o = pin_against(&pb.base, &answer);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{url}: {t}");
        let asked = pb.requests()[before..].to_vec();
        assert!(
            !asked.iter().any(|p| ["/img1/", "/img2/", "/a/", "/b/"]
                .iter()
                .any(|x| p.starts_with(x))),
            "{url}: curl expanded the glob: {asked:?}"
        );
        if refused_first {
            assert!(asked.is_empty(), "{url}: {asked:?}");
            assert!(t.contains("has '{' in it"), "{t}");
        } else {
            assert!(asked.len() <= 2, "{url}: {asked:?}");
            assert!(t.contains("lists no checksums next to it"), "{t}");
        }
    }
}

/// A Proxmox-like ISO made by xorriso from `tree`.
fn iso_of(tree: &Path, iso: &Path) {
    let o = Command::new("xorriso")
        .arg("-outdev")
        .arg(iso)
        .args(["-map"])
        .arg(tree)
        .arg("/")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

/// The agent with `args`, with at most 2 GiB of address space (a read without end fails
/// instead of taking the machine's memory) and 60 s.
fn bounded(args: &[&str]) -> Output {
    let child = Command::new("sh")
        .args(["-c", "ulimit -v 2097152 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_pve-firstboot"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let t = std::time::Instant::now();
    let out = within(90, "the agent", move || child.wait_with_output().unwrap());
    assert!(
        t.elapsed().as_secs() < 60,
        "took {:?} (pid {pid})",
        t.elapsed()
    );
    out
}

/// Characters a terminal would act on: every control character but the line break and
/// the tab (which config files have, and `plan` shows).
fn raw_controls(b: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(b)
        .chars()
        .filter(|c| c.is_control() && *c != '\n' && *c != '\t')
        .map(|c| format!("U+{:04X}", c as u32))
        .collect()
}

/// Issue 29, item 4: `image --inspect` (and `image`) extracted files with xorriso and read
/// what came out with a plain read: a symbolic link in a tampered ISO was followed, so
/// its `/auto-installer-mode.toml` printed a file of the workstation and a hook linked to
/// /dev/zero read without end; and the answer's strings reached the terminal with their
/// escape sequences. Now only regular files are read, capped (a 3 MiB answer is refused),
/// and what is shown is escaped.
#[test]
fn inspect_reads_no_link_no_device_and_prints_no_escape() {
    if xorriso_missing() {
        return;
    }
    let d = scratch("hostile-iso-links");
    let local = d.join("workstation-secret");
    fs::write(&local, "mode = \"precious\"\n").unwrap();
    let good = |tree: &Path| {
        fs::create_dir_all(tree).unwrap();
        fs::write(tree.join(".cd-info"), "RELEASE='8.4'\n").unwrap();
    };
    // A link to a file of the workstation.
    let t1 = d.join("t1");
    good(&t1);
    symlink(&local, t1.join("auto-installer-mode.toml")).unwrap();
    iso_of(&t1, &d.join("link.iso"));
    let o = bounded(&["image", "--inspect", &d.join("link.iso").to_string_lossy()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(!t.contains("precious"), "a local file was printed: {t}");
    assert!(
        t.contains("/auto-installer-mode.toml is not a regular file"),
        "{t}"
    );
    // A hook that is a link to /dev/zero.
    let t2 = d.join("t2");
    good(&t2);
    symlink("/dev/zero", t2.join("proxmox-first-boot")).unwrap();
    iso_of(&t2, &d.join("zero.iso"));
    let o = bounded(&["image", "--inspect", &d.join("zero.iso").to_string_lossy()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("/proxmox-first-boot is not a regular file"),
        "{t}"
    );
    // An answer larger than any file pve-firstboot reads from an ISO.
    let t4 = d.join("t4");
    good(&t4);
    fs::write(t4.join("answer.toml"), vec![b'#'; 3 << 20]).unwrap();
    iso_of(&t4, &d.join("big.iso"));
    let o = bounded(&["image", "--inspect", &d.join("big.iso").to_string_lossy()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("/answer.toml is larger than 2097152 bytes"),
        "{t}"
    );
    // Escapes in the answer, the mode file and the hook (its version and its answer).
    let t3 = d.join("t3");
    good(&t3);
    let esc = "\u{1b}]0;owned\u{7}\u{1b}[2J\u{9b}31m\r";
    let toml_esc = "\\u001b]0;owned\\u0007\\u001b[2J\\u009b31m\\r";
    fs::write(
        t3.join("answer.toml"),
        format!(
            "[global]\nfqdn = \"{toml_esc}\"\n[disk-setup]\nfilesystem = \"ext4\"\ndisk-list = [\"{toml_esc}\"]\n"
        ),
    )
    .unwrap();
    fs::write(
        t3.join("auto-installer-mode.toml"),
        format!("mode = \"iso\"{esc}\n"),
    )
    .unwrap();
    let hook = pve_firstboot::image::hook::build(
        &format!("1.0{esc}"),
        &format!(
            "[haos]\nversion = \"16.3{toml_esc}\"\n[[vm]]\nvmid = 101\nname = \"{toml_esc}\"\n"
        ),
        b"xz",
    )
    .unwrap();
    fs::write(t3.join("proxmox-first-boot"), hook).unwrap();
    iso_of(&t3, &d.join("esc.iso"));
    let o = bounded(&["image", "--inspect", &d.join("esc.iso").to_string_lossy()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert_eq!(raw_controls(&o.stdout), Vec::<String>::new(), "{t}");
    assert!(t.contains("fqdn \\u{1b}]0;owned\\u{7}"), "{t}");
    assert!(t.contains("haos:        version 16.3\\u{1b}"), "{t}");
}

/// A root with a USB device and a disk whose strings are hostile.
fn hostile_machine(root: &Path) {
    let usb = root.join("sys/bus/usb/devices/1-2");
    fs::create_dir_all(&usb).unwrap();
    fs::write(usb.join("idVendor"), "046d\n").unwrap();
    fs::write(usb.join("idProduct"), "c52b\n").unwrap();
    fs::write(
        usb.join("manufacturer"),
        "\u{1b}]0;owned\u{7}\u{1b}[2JLogi\n",
    )
    .unwrap();
    fs::write(
        usb.join("product"),
        "Stick\n[notify]\nwebhook = \"https://evil.example/x\"\n",
    )
    .unwrap();
    let sda = root.join("sys/block/sda");
    fs::create_dir_all(sda.join("device")).unwrap();
    fs::create_dir_all(sda.join("queue")).unwrap();
    fs::write(sda.join("dev"), "8:0\n").unwrap();
    fs::write(sda.join("size"), "1000000\n").unwrap();
    fs::write(sda.join("removable"), "0\n").unwrap();
    fs::write(sda.join("queue/rotational"), "0\n").unwrap();
    fs::write(sda.join("device/model"), "M\u{1b}[31m\r\n").unwrap();
    fs::create_dir_all(root.join("run/udev/data")).unwrap();
    fs::write(
        root.join("run/udev/data/b8:0"),
        "E:DEVTYPE=disk\nE:ID_SERIAL=evil\" ] [notify] x = \"\\\u{1b}[2J\n",
    )
    .unwrap();
}

/// Issue 29, item 5: `probe` wrote USB and disk strings into its starter answer verbatim:
/// a product string with line breaks added tables (`[notify] webhook = ...`), a serial
/// with a quote broke it, and a manufacturer's escape sequences reached the terminal, as
/// did those of state reasons (`status`) and of the host's files (`plan`'s diffs). Now every
/// value goes into TOML escaped, one line each, and nothing is printed raw.
#[test]
fn probe_status_and_plan_print_no_raw_control_and_add_no_table() {
    let root = scratch("hostile-probe-strings");
    hostile_machine(&root);
    let o = pvefb_in(&root, &["probe", "--root", &root.to_string_lossy()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert_eq!(raw_controls(&o.stdout), Vec::<String>::new(), "{t}");
    let starter = t
        .split("A starter answer for this machine:\n\n")
        .nth(1)
        .expect("a starter answer");
    let doc: toml::Table = toml::from_str(starter)
        .unwrap_or_else(|e| panic!("the starter answer does not parse: {e}\n{starter}"));
    assert!(doc.get("notify").is_none(), "a table was added:\n{starter}");
    assert_eq!(
        doc["installer"]["disk-setup"]["filter"]["ID_SERIAL"].as_str(),
        Some("evil\" ] [notify] x = \"\\\u{1b}[2J"),
        "{starter}"
    );
    let j = pvefb_in(
        &root,
        &["probe", "--json", "--root", &root.to_string_lossy()],
    );
    assert_eq!(
        raw_controls(&j.stdout),
        Vec::<String>::new(),
        "{}",
        text(&j)
    );

    // status: a reason that quotes a hostile server.
    let st_root = scratch("hostile-status-strings");
    let h = Host::rooted(&st_root);
    let mut st = pve_firstboot::state::State::new();
    st.started = Some("2026-12-04T00:00:00Z".into());
    let p = st.phase_mut("haos");
    p.status = pve_firstboot::state::Status::Failed;
    p.attempts = 1;
    p.reason = Some("cannot read x: \u{1b}]0;owned\u{7}\r\n  host  done".into());
    p.results = vec!["\u{1b}[2J".into()];
    st.save(&h).unwrap();
    let o = pvefb_in(&st_root, &["status", "--root", &st_root.to_string_lossy()]);
    let t = text(&o);
    assert_eq!(raw_controls(&o.stdout), Vec::<String>::new(), "{t}");
    assert!(!t.contains("\n  host  done"), "a forged line: {t}");

    // plan: a diff whose context is a line of the host's /etc/hosts with escapes.
    let case = manifest().join("tests/fixtures/network-pve8");
    let plan_root = prepare(&case, "hostile-plan-strings");
    let hosts = plan_root.join("etc/hosts");
    let orig = fs::read_to_string(&hosts).unwrap();
    fs::write(
        &hosts,
        orig.replacen(
            "\n",
            "\n127.0.1.1 atlas.home.arpa atlas\n192.0.2.9 evil\u{1b}]0;owned\u{7}\u{1b}[2J\r\n",
            1,
        ),
    )
    .unwrap();
    let o = pvefb_in(
        &plan_root,
        &[
            "plan",
            &case.join("answer.toml").to_string_lossy(),
            "--root",
            &plan_root.to_string_lossy(),
        ],
    );
    let t = text(&o);
    assert!(
        t.contains("192.0.2.9 evil"),
        "the line is not in the diff: {t}"
    );
    assert_eq!(raw_controls(&o.stdout), Vec::<String>::new(), "{t}");
}

/// Issue 29, item 8: a key with a non-character (U+FFFF) or a control character in its
/// comment passed `validate`; cloud-init's YAML loader refuses the user data it ends up
/// in, and the VM boots without its user, keys and guest agent, silently. Now refused
/// with file:line:col.
#[test]
fn ssh_keys_with_non_characters_or_controls_are_refused() {
    let d = scratch("hostile-ssh-keys");
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0mZkGW7yVDdkXn0ejAtmE3Wh0LBj1w3cYkX0R3e1R";
    for (comment, what) in [
        ("ops\\uFFFF", "non-character U+FFFF"),
        ("ops\\u001b[2J", "control character U+001B"),
        ("ops\\u0085", "control character U+0085"),
    ] {
        // In the root keys and in a [[vm]]'s own keys.
        let answers = [
            installer_tables("root-password-hashed = \"$y$j9T$abcdefghijklmnopqrstu$ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijk\"")
                .replace(" ops@laptop\"]", &format!(" {comment}\"]")),
            format!(
                "{}\n[[vm]]\nvmid = 101\nname = \"docker\"\n[vm.cloud-init]\nimage = \"https://example.org/x.qcow2\"\nsha512 = \"{}\"\nuser = \"admin\"\nssh-keys = [\"{key} {comment}\"]\n",
                installer_tables("root-password-hashed = \"$y$j9T$abcdefghijklmnopqrstu$ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijk\""),
                "ab".repeat(64)
            ),
        ];
        for (i, a) in answers.iter().enumerate() {
            let f = d.join(format!("a{i}.toml"));
            fs::write(&f, a).unwrap();
            let o = pvefb_in(&d, &["validate", &f.to_string_lossy()]);
            let t = text(&o);
            assert_eq!(o.status.code(), Some(1), "{comment}: {t}");
            let key_path = if i == 0 {
                "installer.global.root-ssh-keys[0]"
            } else {
                "vm[0].cloud-init.ssh-keys[0]"
            };
            let line = t
                .lines()
                .find(|l| l.contains(key_path))
                .unwrap_or_else(|| panic!("no error for {key_path}: {t}"));
            assert!(
                line.starts_with(&format!("{}:", f.display())) && line.contains(what),
                "{line}"
            );
            assert_eq!(raw_controls(t.as_bytes()), Vec::<String>::new(), "{t}");
        }
    }
}

/// Each secret an answer can hold, by the name the README and `image --inspect` give it,
/// with a value found nowhere else.
const SECRET_VALUES: [(&str, &str); 7] = [
    ("installer.global.root-password", "Pw-r00t-4c8e1f27"),
    ("installer.global.subscription-key", "pve4c-a1b2c3d4e5"),
    (
        "installer.post-installation-webhook.auth-token",
        "tok-s3cr3t-9e3c5a",
    ),
    (
        "notify.webhook",
        "https://ntfy.example.org/topic-s3cr3t-5f2a",
    ),
    ("notify.smtp.password", "smtp-s3cr3t-7b1d0c"),
    ("storage[].password", "smb-s3cr3t-3e9a41"),
    (
        "storage[].encryption-key",
        "{\"kdf\": null, \"data\": \"a2V5LXMzY3IzdC04ZDI=\"}",
    ),
];

/// The README's table under "Where each secret lives": each secret's name and the files
/// of the stick it names.
fn readme_secrets() -> Vec<(String, Vec<String>)> {
    let readme = fs::read_to_string(manifest().join("README.md")).unwrap();
    let section = readme
        .split("### Where each secret lives")
        .nth(1)
        .expect("the README has no \"Where each secret lives\"");
    section
        .lines()
        .skip_while(|l| !l.starts_with("| secret"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let ticked = |c: &str| -> Vec<String> {
                c.split('`').skip(1).step_by(2).map(String::from).collect()
            };
            let name = ticked(cells[1]).remove(0);
            (name, ticked(cells[2]))
        })
        .collect()
}

/// Issue 29, item 9: the hook was written 0755 and the ISO 0644 although both carry the
/// `[notify]` webhook, the smtp password and the answer, and the README said the smtp
/// password was "only ever in priv/". Now both are 0600, `image --inspect` names the
/// secrets of each file (never a value), and the README's table says where each is:
/// checked here against a grep of a built stick.
#[test]
fn the_stick_and_hook_are_private_and_their_secrets_named_as_the_readme_says() {
    use pve_firstboot::image::{hook, iso};
    if xorriso_missing() {
        return;
    }
    let d = scratch("hostile-stick-secrets");
    let value = |k: &str| SECRET_VALUES.iter().find(|s| s.0 == k).unwrap().1;
    let answer = format!(
        "{}\n[installer.post-installation-webhook]\nurl = \"https://hooks.example.org/done\"\n\
         auth-token = \"{}\"\n\n[notify]\nwebhook = \"{}\"\n\n[notify.smtp]\n\
         server = \"smtp.example.org\"\nusername = \"ops\"\npassword = \"{}\"\nfrom = \"pve@example.org\"\n\n\
         [[storage]]\nid = \"smb\"\ntype = \"cifs\"\nserver = \"nas.example.org\"\nshare = \"pve\"\n\
         username = \"pve\"\npassword = \"{}\"\n\n\
         [[storage]]\nid = \"pbs\"\ntype = \"pbs\"\nserver = \"pbs.example.org\"\ndatastore = \"s1\"\n\
         username = \"backup@pbs\"\npassword = \"pw-not-checked\"\nencryption-key = '{}'\n",
        installer_tables(&format!(
            "root-password = \"{}\"\nsubscription-key = \"{}\"",
            value("installer.global.root-password"),
            value("installer.global.subscription-key")
        )),
        value("installer.post-installation-webhook.auth-token"),
        value("notify.webhook"),
        value("notify.smtp.password"),
        value("storage[].password"),
        value("storage[].encryption-key"),
    );
    // The hook as `image` and `hook` build it, around a stand-in for the agent (a debug
    // build is far over 1 MiB).
    let for_host = pve_firstboot::answer::for_host(&answer).unwrap();
    let hook_bytes = hook::build("0.1.0", &for_host, b"\xfd7zXZ\0 stand-in agent").unwrap();
    let hook_file = d.join("proxmox-first-boot");
    pve_firstboot::image::write_new(&hook_file, &hook_bytes, false).unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&hook_file), 0o600, "the hook");

    let tree = d.join("tree");
    fs::create_dir_all(&tree).unwrap();
    fs::write(tree.join(".cd-info"), "PRODUCT='pve'\nRELEASE='9.2'\n").unwrap();
    fs::write(tree.join("auto-installer-capable"), "").unwrap();
    let input = d.join("in.iso");
    let o = Command::new("xorriso")
        .args(["-as", "mkisofs", "-R", "--protective-msdos-label"])
        .arg("--modification-date=2026120400000000")
        .arg("-o")
        .arg(&input)
        .arg(&tree)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let stick = d.join("stick.iso");
    iso::customise(&iso::Options {
        iso: &input,
        answer_text: &answer,
        hook: Some(&hook_bytes),
        out: Some(&stick),
        force: false,
    })
    .unwrap();
    assert_eq!(mode(&stick), 0o600, "the ISO");

    // A grep of the stick: which of its files holds each value, and nothing outside them.
    let raw = fs::read(&stick).unwrap();
    let has = |hay: &[u8], v: &str| hay.windows(v.len()).any(|w| w == v.as_bytes());
    let work = d.join("extracted");
    fs::create_dir_all(&work).unwrap();
    let files: Vec<(&str, Vec<u8>)> = [
        "/answer.toml",
        "/auto-installer-mode.toml",
        "/proxmox-first-boot",
    ]
    .into_iter()
    .map(|f| (f, iso::extract(&stick, f, &work).unwrap().unwrap()))
    .collect();
    let readme = readme_secrets();
    assert_eq!(readme.len(), SECRET_VALUES.len(), "{readme:?}");
    let inspect = pvefb_in(&d, &["image", "--inspect", &stick.to_string_lossy()]);
    let shown = text(&inspect);
    assert_eq!(inspect.status.code(), Some(0), "{shown}");
    for (name, v) in SECRET_VALUES {
        let found: Vec<String> = files
            .iter()
            .filter(|(_, data)| has(data, v))
            .map(|(f, _)| f.to_string())
            .collect();
        assert!(has(&raw, v), "{name} is not on the stick at all");
        assert!(!found.is_empty(), "{name}: on the stick outside its files");
        let said = &readme
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("the README does not list {name}"))
            .1;
        assert_eq!(
            &found, said,
            "{name}: the README says {said:?}, the stick has {found:?}"
        );
        assert!(
            !shown.contains(v),
            "--inspect showed the value of {name}: {shown}"
        );
    }
    // --inspect names them, per file, in the README's order.
    let listed = |file: &str| -> String {
        let names: Vec<&str> = SECRET_VALUES
            .iter()
            .filter(|(_, v)| has(&files.iter().find(|f| f.0 == file).unwrap().1, v))
            .map(|(n, _)| *n)
            .collect();
        format!("{file} holds {}", names.join(", "))
    };
    let line = shown
        .lines()
        .find(|l| l.starts_with("  secrets:"))
        .unwrap_or_else(|| panic!("--inspect names no secrets: {shown}"));
    assert!(
        line.contains(&format!(
            "{}; {}",
            listed("/answer.toml"),
            listed("/proxmox-first-boot")
        )),
        "{line}"
    );
}
