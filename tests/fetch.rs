//! The HAOS download pipeline against a small HTTP server on 127.0.0.1 that misbehaves on
//! purpose: a broken transfer is resumed with a range request; a wrong checksum, a
//! truncated transfer without ranges, server errors and data that is not xz each end in a
//! clear error, and no file is left behind.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use pve_firstboot::fetch::{Retry, Source, fetch_image_with};
use pve_firstboot::host::Host;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Good,
    /// The first GET stops half-way; ranges work.
    TruncateOnce,
    /// Every GET stops half-way, and ranges are not offered.
    TruncateNoRanges,
    Status500,
    /// Other bytes than the checksum in the answer.
    Corrupt,
    /// Each GET waits until this many GETs have come (at most 10 s), then sends its body:
    /// downloads that run one after the other would each wait the 10 s, and the server
    /// would never be answering them at once.
    Together(usize),
}

struct Server {
    port: u16,
    gets: Arc<AtomicUsize>,
    /// The most GETs this server was answering at the same time.
    most_at_once: Arc<AtomicUsize>,
}

fn serve(mode: Mode, body: Vec<u8>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let gets = Arc::new(AtomicUsize::new(0));
    let most_at_once = Arc::new(AtomicUsize::new(0));
    let now = Arc::new(AtomicUsize::new(0));
    let (g, most) = (gets.clone(), most_at_once.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let body = body.clone();
            let (g, most, now) = (g.clone(), most.clone(), now.clone());
            std::thread::spawn(move || handle(conn, mode, &body, &g, (&now, &most)));
        }
    });
    Server {
        port,
        gets,
        most_at_once,
    }
}

/// `at_once`: GETs being answered now, and the most so far.
fn handle(
    mut conn: TcpStream,
    mode: Mode,
    body: &[u8],
    gets: &AtomicUsize,
    at_once: (&AtomicUsize, &AtomicUsize),
) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut range: Option<usize> = None;
    loop {
        let mut l = String::new();
        if reader.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
            break;
        }
        let lower = l.to_ascii_lowercase();
        if let Some(r) = lower.strip_prefix("range: bytes=") {
            range = r.trim().trim_end_matches('-').parse().ok();
        }
    }
    let head = request.starts_with("HEAD");
    if !head {
        gets.fetch_add(1, Ordering::SeqCst);
        let n = at_once.0.fetch_add(1, Ordering::SeqCst) + 1;
        at_once.1.fetch_max(n, Ordering::SeqCst);
        if let Mode::Together(want) = mode {
            let t = std::time::Instant::now();
            while gets.load(Ordering::SeqCst) < want && t.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    answer(&mut conn, mode, body, gets, range, head);
    if !head {
        at_once.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn answer(
    conn: &mut TcpStream,
    mode: Mode,
    body: &[u8],
    gets: &AtomicUsize,
    range: Option<usize>,
    head: bool,
) {
    let accept = if mode == Mode::TruncateNoRanges {
        ""
    } else {
        "Accept-Ranges: bytes\r\n"
    };
    if mode == Mode::Status500 {
        let _ = conn.write_all(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    let mut data = body.to_vec();
    if mode == Mode::Corrupt {
        data[body.len() / 2] ^= 0xff;
    }
    let (status, from) = match range {
        Some(r) if mode != Mode::TruncateNoRanges => ("206 Partial Content", r),
        _ => ("200 OK", 0),
    };
    let part = &data[from..];
    let hdr = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{accept}Connection: close\r\n\r\n",
        part.len()
    );
    let _ = conn.write_all(hdr.as_bytes());
    if head {
        return;
    }
    let first_get = gets.load(Ordering::SeqCst) == 1;
    let cut = match mode {
        Mode::TruncateOnce if first_get => part.len() / 2,
        Mode::TruncateNoRanges => part.len() / 2,
        _ => part.len(),
    };
    let _ = conn.write_all(&part[..cut]);
    let _ = conn.shutdown(std::net::Shutdown::Both);
}

/// A fake "qcow2" of 3 MiB and its xz form (several blocks, as HAOS images have).
fn image(test: &str) -> (Vec<u8>, Vec<u8>, String) {
    let raw: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let dir = scratch(&format!("fetch-image-{test}"));
    let p = dir.join("img");
    std::fs::write(&p, &raw).unwrap();
    let ok = std::process::Command::new("xz")
        .args(["-3", "-T2", "--block-size=1MiB", "-k", "-f"])
        .arg(&p)
        .status()
        .unwrap();
    assert!(ok.success());
    let xz = std::fs::read(dir.join("img.xz")).unwrap();
    let out = std::process::Command::new("sha256sum")
        .arg(dir.join("img.xz"))
        .output()
        .unwrap();
    let sha = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    (raw, xz, sha)
}

fn quick() -> Retry {
    Retry {
        checksum_attempts: 2,
        transport_retries: 3,
        backoff: Duration::from_millis(10),
    }
}

fn dest(name: &str) -> PathBuf {
    scratch(&format!("fetch-{name}")).join("out/haos.qcow2")
}

#[test]
fn good_download_is_verified_and_decompressed() {
    let (raw, xz, sha) = image("good_download_is_verified_and_decompressed");
    let s = serve(Mode::Good, xz.clone());
    let d = dest("good");
    let url = format!("http://127.0.0.1:{}/haos.qcow2.xz", s.port);
    let f = fetch_image_with(
        &Host::live(),
        &Source::Url(url),
        Some(&sha),
        d.to_str().unwrap(),
        quick(),
    )
    .unwrap();
    assert_eq!(f.sum, sha);
    assert_eq!(f.compressed_bytes, xz.len() as u64);
    assert!(
        std::fs::read(&d).unwrap() == raw,
        "decompressed bytes differ"
    );
}

#[test]
fn a_broken_transfer_resumes_with_a_range() {
    let (raw, xz, sha) = image("a_broken_transfer_resumes_with_a_range");
    let s = serve(Mode::TruncateOnce, xz);
    let d = dest("resume");
    let url = format!("http://127.0.0.1:{}/haos.qcow2.xz", s.port);
    let f = fetch_image_with(
        &Host::live(),
        &Source::Url(url),
        Some(&sha),
        d.to_str().unwrap(),
        quick(),
    )
    .unwrap();
    assert_eq!(f.sum, sha);
    assert_eq!(
        s.gets.load(Ordering::SeqCst),
        2,
        "one broken GET, one ranged GET"
    );
    assert!(std::fs::read(&d).unwrap() == raw);
}

fn expect_failure(mode: Mode, name: &str, sha: Option<&str>, body: Vec<u8>) -> String {
    let s = serve(mode, body);
    let d = dest(name);
    let url = format!("http://127.0.0.1:{}/haos.qcow2.xz", s.port);
    let err = fetch_image_with(
        &Host::live(),
        &Source::Url(url),
        sha,
        d.to_str().unwrap(),
        quick(),
    )
    .expect_err("must fail")
    .to_string();
    assert!(!d.exists(), "{name}: {} was left behind", d.display());
    err
}

#[test]
fn a_wrong_checksum_fails_with_both_sums_and_leaves_nothing() {
    let (_, xz, sha) = image("a_wrong_checksum_fails_with_both_sums_and_leaves_nothing");
    let err = expect_failure(Mode::Corrupt, "corrupt", Some(&sha), xz);
    assert!(err.contains(&format!("expected {sha}, got ")), "{err}");
    assert!(err.contains("gave up after 2 attempts"), "{err}");
}

#[test]
fn a_truncated_transfer_without_ranges_fails_cleanly() {
    let (_, xz, sha) = image("a_truncated_transfer_without_ranges_fails_cleanly");
    let err = expect_failure(Mode::TruncateNoRanges, "truncated", Some(&sha), xz);
    assert!(err.contains("does not support resuming"), "{err}");
}

#[test]
fn server_errors_fail_after_the_retries() {
    let (_, xz, sha) = image("server_errors_fail_after_the_retries");
    let err = expect_failure(Mode::Status500, "500", Some(&sha), xz);
    assert!(err.contains("500"), "{err}");
    assert!(err.contains("after 4 attempt(s)"), "{err}");
}

#[test]
fn data_that_is_not_xz_fails_cleanly() {
    let err = expect_failure(
        Mode::Good,
        "not-xz",
        None,
        b"<html>not an image</html>".repeat(100),
    );
    assert!(
        err.contains("decompressing") || err.contains("feeding xz"),
        "{err}"
    );
}

#[test]
fn a_local_image_file_works_the_same() {
    let (raw, xz, sha) = image("a_local_image_file_works_the_same");
    let dir = scratch("fetch-local");
    std::fs::write(dir.join("haos.qcow2.xz"), &xz).unwrap();
    let d = dir.join("out.qcow2");
    let src = Source::File(dir.join("haos.qcow2.xz").to_string_lossy().into_owned());
    let f = fetch_image_with(
        &Host::live(),
        &src,
        Some(&sha),
        d.to_str().unwrap(),
        quick(),
    )
    .unwrap();
    assert_eq!(f.sum, sha);
    let mut got = Vec::new();
    std::fs::File::open(&d)
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert!(got == raw);
}

/// A cloud image as Debian publishes it: a plain qcow2 (no xz), pinned by SHA-512. It is
/// stored as it came; a wrong SHA-512 fails naming both sums and leaves no file.
#[test]
fn a_plain_image_is_verified_by_sha512_and_kept_as_is() {
    let (raw, _, _) = image("a_plain_image_is_verified_by_sha512_and_kept_as_is");
    let sha512 = {
        use sha2::Digest;
        sha2::Sha512::digest(&raw)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let s = serve(Mode::Good, raw.clone());
    let d = dest("plain");
    let url = format!(
        "http://127.0.0.1:{}/debian-12-genericcloud-amd64.qcow2",
        s.port
    );
    let f = pve_firstboot::fetch::fetch_disk_image(
        &Host::live(),
        &Source::Url(url.clone()),
        Some(&sha512),
        d.to_str().unwrap(),
        false,
    )
    .unwrap();
    assert_eq!(f.sum, sha512);
    assert!(std::fs::read(&d).unwrap() == raw, "bytes differ");
    std::fs::remove_file(&d).unwrap();
    let wrong = "0".repeat(128);
    let e = pve_firstboot::fetch::fetch_disk_image(
        &Host::live(),
        &Source::Url(url),
        Some(&wrong),
        d.to_str().unwrap(),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains(&wrong) && e.contains(&sha512), "{e}");
    assert!(!d.exists(), "a failed fetch leaves no file");
}

/// Background downloads (`prefetch.rs`): three images are fetched side by side (the server
/// answers the three GETs at once), each is taken verified with its bytes, an
/// image asked for with other data than it was started with is not used, and one nobody
/// takes is removed when the run's downloads end.
#[test]
fn background_downloads_run_side_by_side_and_each_is_taken_verified() {
    use pve_firstboot::prefetch::{Download, Downloads, Job};
    let (raw, xz, sha) = image("background_downloads");
    let s = serve(Mode::Together(3), xz);
    let dir = scratch("fetch-background");
    let job = |name: &str| Download {
        dest: dir.join(name).to_str().unwrap().to_string(),
        source: Source::Url(format!("http://127.0.0.1:{}/{name}.xz", s.port)),
        sum: Some(sha.clone()),
        xz: true,
    };
    let (a, b, c) = (job("a.qcow2"), job("b.qcow2"), job("c.qcow2"));
    let downloads = Downloads::start([&a, &b, &c, &a].map(|d| Job::Image(d.clone())).to_vec());
    assert_eq!(downloads.pending(), 3, "a dest given twice is started once");
    let got = downloads.take(&a).expect("started").unwrap();
    assert_eq!(got.sum, sha);
    assert!(std::fs::read(&a.dest).unwrap() == raw, "a: bytes differ");
    // Another checksum than the download was started with: not handed out.
    let other = Download {
        sum: Some("1".repeat(64)),
        ..b.clone()
    };
    assert!(downloads.take(&other).is_none());
    assert!(downloads.take(&b).is_none(), "taken once only");
    assert!(downloads.has(&c.dest));
    assert_eq!(
        s.most_at_once.load(Ordering::SeqCst),
        3,
        "the three downloads were not running at the same time"
    );
    drop(downloads);
    assert!(
        !std::path::Path::new(&c.dest).exists(),
        "an image nobody took stays behind"
    );
    assert!(
        std::path::Path::new(&a.dest).exists(),
        "a taken image is the VM's"
    );
}

/// Which images a run starts downloading at once: HAOS and each cloud-image VM not made
/// yet, pinned (or unpinned allowed), HAOS only at a pinned version (`stable` is resolved
/// by its phase); none for a VM the state records as made or whose VMID exists, none for a
/// phase that will not run, and none with `background-downloads = false`.
#[test]
fn the_run_downloads_in_the_background_only_what_its_vms_will_take() {
    use pve_firstboot::answer;
    use pve_firstboot::phases::downloads;
    use pve_firstboot::prefetch::{Download, Job};
    // The images among the jobs (the answers here have no container).
    let images = |jobs: Vec<Job>| -> Vec<Download> {
        jobs.into_iter()
            .map(|j| match j {
                Job::Image(d) => d,
                Job::Template(t) => panic!("a template job: {t:?}"),
            })
            .collect()
    };
    use pve_firstboot::state::State;
    let sha512 = "ab".repeat(64);
    let pinned = format!("version = \"16.3\"\nsha256 = \"{TEST_HAOS_SHA256}\"");
    let text = |haos: &str, extra: &str| {
        format!(
            r#"{}
[agent]
{extra}

[network.vm-bridge]
name = "vmbr1"
cidr = "10.0.100.1/24"

[haos]
{haos}

[[vm]]
vmid = 101
name = "docker"
[vm.cloud-init]
image = "https://cloud.debian.org/images/cloud/trixie/latest/debian-13-genericcloud-amd64.qcow2"
sha512 = "{sha512}"

[[vm]]
vmid = 102
name = "gaming"

[[vm]]
vmid = 103
name = "unpinned"
[vm.cloud-init]
image = "https://example.org/other.qcow2.xz"
"#,
            installer_tables(r#"root-password = "correct horse battery""#)
        )
    };
    let parse = |t: &str| match answer::parse("answer.toml", t.as_bytes()) {
        Ok(l) => l.answer,
        Err(r) => panic!("{r:?}"),
    };
    let root = scratch("prefetch-which");
    let host = Host::rooted(&root);
    let a = parse(&text(&pinned, ""));
    let mut st = State::default();
    let dests = |st: &State, a: &answer::Answer, run: &dyn Fn(&str) -> bool| -> Vec<String> {
        images(downloads(&host, a, st, run))
            .into_iter()
            .map(|d| d.dest)
            .collect()
    };
    assert_eq!(
        dests(&st, &a, &|_| true),
        [
            "/var/lib/vz/images/pve-firstboot/haos_ova-16.3.qcow2",
            "/var/lib/vz/images/pve-firstboot/vm101-debian-13-genericcloud-amd64.qcow2"
        ]
    );
    let all = images(downloads(&host, &a, &st, |_| true));
    assert_eq!(all[1].sum.as_deref(), Some(sha512.as_str()));
    assert!(all[0].xz && !all[1].xz);
    assert_eq!(
        dests(&st, &a, &|id| id != "haos"),
        ["/var/lib/vz/images/pve-firstboot/vm101-debian-13-genericcloud-amd64.qcow2"]
    );
    assert_eq!(
        dests(
            &st,
            &parse(&text("version = \"stable\"\nallow-unpinned = true", "")),
            &|_| true
        )
        .len(),
        1,
        "HAOS stable is resolved by its phase"
    );
    st.phase_mut("vms")
        .data
        .insert("vm101-vm".into(), "101".into());
    std::fs::create_dir_all(root.join("etc/pve/qemu-server")).unwrap();
    std::fs::write(root.join("etc/pve/qemu-server/100.conf"), "name: haos\n").unwrap();
    assert!(dests(&st, &a, &|_| true).is_empty(), "both VMs exist");
    // The engine starts none when the answer turns them off.
    assert!(
        !parse(&text(&pinned, "background-downloads = false"))
            .agent
            .background_downloads
    );
    assert!(a.agent.background_downloads, "on by default");
}
