//! One streaming pass for the HAOS image: download (curl, resumed with HTTP ranges and
//! retried with backoff), SHA-256 of the compressed stream, xz decompression on every core,
//! written once to the target file. Memory stays flat: one 1 MiB buffer, whatever the size.
//!
//! curl does the HTTP (the static agent must not resolve names itself, REFERENCE §10) and
//! `xz -dc -T0` decompresses (HAOS images are multi-block, so it uses every core even from a
//! pipe, REFERENCE §8); the agent sits between them and hashes what passes.

use std::fs::File;
use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256, Sha512};

use crate::error::{Context, Error, Result};
use crate::host::{Cmd, Host, shell_quote};

/// Where the compressed image comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Url(String),
    /// A file on the host (a host path, resolved through the boundary).
    File(String),
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Url(u) => u.clone(),
            Source::File(p) => p.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The checksum of the stream as downloaded, lowercase hex: SHA-512 when a 128-digit
    /// sum was expected, SHA-256 otherwise (see [`Sum`]).
    pub sum: String,
    pub compressed_bytes: u64,
}

/// How hard to try.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Whole passes made when the checksum does not match (a corrupted transfer).
    pub checksum_attempts: u32,
    /// Times a broken download is resumed (or a failed request repeated) before it fails.
    pub transport_retries: u32,
    /// The first wait between tries; it doubles each time.
    pub backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            checksum_attempts: 2,
            transport_retries: 5,
            backoff: Duration::from_secs(2),
        }
    }
}
/// Bounds on one image, so that a hostile or broken server (or a path such as /dev/zero)
/// cannot fill the disk or hold the first boot forever. Each ends the fetch with its own
/// message and removes the partial file.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most compressed bytes taken in (a HAOS image is ~0.5 GB).
    pub max_download: u64,
    /// Most bytes the decompressed image may grow to (a HAOS qcow2 is ~1.5 GB).
    pub max_image: u64,
    /// A transfer slower than [`STALL_BYTES_PER_S`] for this long is stalled (curl's
    /// `--speed-time`); it is resumed like a broken one.
    pub stall: Duration,
    /// The whole fetch, resumes included.
    pub total: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_download: 4 << 30,
            max_image: 16 << 30,
            stall: Duration::from_secs(60),
            total: Duration::from_secs(2 * 3600),
        }
    }
}

/// Below this rate (bytes/s) for [`Limits::stall`] a transfer counts as stalled.
pub const STALL_BYTES_PER_S: u32 = 1024;

/// An image URL as curl gets it: `https://` (or `http://`, which the answer allows only
/// with a pinned sha256), a host, and nothing a shell, curl's globbing or a header could
/// read differently: no whitespace, control bytes, quotes, backslashes, `{ } < > | ^ $`
/// (curl runs without a shell, but the line is also recorded and shown), nor non-ASCII
/// (write an IDN host in its xn-- form).
pub fn check_url(u: &str) -> std::result::Result<(), String> {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
        .ok_or("does not start with https:// (or http:// with a pinned sha256)")?;
    if let Some(b) = u
        .bytes()
        .find(|b| !b.is_ascii_graphic() || b"\"'`\\{}<>|^$".contains(b))
    {
        return Err(if b.is_ascii_whitespace() {
            "has whitespace in it".to_string()
        } else if b.is_ascii_control() {
            format!("has the control character 0x{b:02x} in it")
        } else if b.is_ascii() {
            format!("has '{}' in it, which a URL does not need", b as char)
        } else {
            "has non-ASCII characters in it (percent-encode them)".to_string()
        });
    }
    if rest.is_empty() || rest.starts_with('/') {
        return Err("has no host".into());
    }
    Ok(())
}

/// A small document from a publisher (a JSON reply, a checksum list) through curl, as the
/// image downloads go: the URL checked by [`check_url`] and never globbed, `protocols`
/// only (`=https`; redirects HTTPS only), at most `time_s` seconds, and at most `max` bytes
/// counted here as they arrive: curl's `--max-filesize` stops only a reply that states its
/// size, and a chunked or endless one states none. `Ok(None)` when the server says there
/// is no such document (HTTP 404). Live hosts only (workstation or host, never `--root`).
pub fn document(
    host: &Host,
    url: &str,
    protocols: &str,
    max: u64,
    time_s: u32,
) -> Result<Option<String>> {
    check_url(url).map_err(|e| Error::msg(format!("{url:?}: {e}")))?;
    let cmd = Cmd::new("curl").args([
        "-fsSL",
        "--globoff",
        "--proto",
        protocols,
        "--proto-redir",
        "=https",
        "--connect-timeout",
        "10",
        "--max-time",
        &time_s.to_string(),
        "--max-filesize",
        &max.to_string(),
        // GitHub's API media type (others ignore it); without the optional blank after the
        // colon the logged command line is plain words, nothing quoted.
        "-H",
        "Accept:application/vnd.github+json",
        url,
    ]);
    let mut curl = host.spawn(&cmd, Stdio::null(), Stdio::piped())?;
    let mut body = Vec::new();
    let read = curl
        .stdout
        .take()
        .expect("piped")
        .take(max + 1)
        .read_to_end(&mut body);
    let over = body.len() as u64 > max;
    if over {
        let _ = curl.kill();
    }
    let status = curl.wait()?;
    let err = stderr_of(&mut curl);
    let why = match status.code() {
        _ if over => format!("the answer is larger than {max} bytes"),
        Some(0) => {
            read.ctx(|| format!("reading {url}"))?;
            return Ok(Some(String::from_utf8_lossy(&body).into_owned()));
        }
        Some(22) if err.contains(" 404") => return Ok(None),
        Some(28) => format!("no answer within {time_s} s"),
        Some(6) => "its host name does not resolve".into(),
        Some(7) => "the connection was refused".into(),
        Some(63) => format!("the answer is larger than {max} bytes"),
        _ => err.trim_start_matches("curl: ").to_string(),
    };
    Err(Error::msg(format!(
        "cannot read {url}: {why} (curl {})",
        match status.code() {
            _ if over => "stopped".to_string(),
            Some(c) => format!("exit {c}"),
            None => "killed by a signal".into(),
        }
    )))
}

/// The checksum of a download, chosen by the expected sum's length: 128 hex digits are
/// SHA-512 (Debian publishes SHA512SUMS for its cloud images), anything else SHA-256.
enum Sum {
    S256(Sha256),
    S512(Box<Sha512>),
}

impl Sum {
    fn for_expected(expected: Option<&str>) -> Sum {
        match expected {
            Some(e) if e.len() == 128 => Sum::S512(Box::default()),
            _ => Sum::S256(Sha256::new()),
        }
    }
    fn update(&mut self, data: &[u8]) {
        match self {
            Sum::S256(h) => h.update(data),
            Sum::S512(h) => h.update(data),
        }
    }
    fn hex(self) -> String {
        match self {
            Sum::S256(h) => hex(&h.finalize()),
            Sum::S512(h) => hex(&h.finalize()),
        }
    }
}

const CHUNK: usize = 1 << 20;
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fetch, verify and decompress `src` into `dest` (a host path). On any failure, `dest`
/// is removed: nothing half-written is left behind.
pub fn fetch_image(
    host: &Host,
    src: &Source,
    expected: Option<&str>,
    dest: &str,
) -> Result<Fetched> {
    fetch_image_with(host, src, expected, dest, Retry::default())
}

pub fn fetch_image_with(
    host: &Host,
    src: &Source,
    expected: Option<&str>,
    dest: &str,
    retry: Retry,
) -> Result<Fetched> {
    fetch_image_limited(host, src, expected, dest, retry, Limits::default())
}

pub fn fetch_image_limited(
    host: &Host,
    src: &Source,
    expected: Option<&str>,
    dest: &str,
    retry: Retry,
    limits: Limits,
) -> Result<Fetched> {
    fetch(host, src, expected, dest, retry, limits, true)
}

/// A disk image that may come compressed or not (a cloud image is a plain `.qcow2` or
/// `.raw`, or `.xz` of either): decompressed with xz only when `xz`. `expected` is a
/// SHA-256 or a SHA-512 (see [`Sum`]).
pub fn fetch_disk_image(
    host: &Host,
    src: &Source,
    expected: Option<&str>,
    dest: &str,
    xz: bool,
) -> Result<Fetched> {
    fetch(
        host,
        src,
        expected,
        dest,
        Retry::default(),
        Limits::default(),
        xz,
    )
}

fn fetch(
    host: &Host,
    src: &Source,
    expected: Option<&str>,
    dest: &str,
    retry: Retry,
    limits: Limits,
    xz: bool,
) -> Result<Fetched> {
    if let Source::Url(u) = src {
        check_url(u).map_err(|e| Error::msg(format!("image URL {u:?}: {e}")))?;
    }
    if !host.is_live() {
        return record(host, src, expected, dest, &limits, xz);
    }
    let mut last = String::new();
    let attempts = retry.checksum_attempts;
    let deadline = Instant::now() + limits.total;
    for attempt in 1..=attempts {
        let res = stream_once(host, src, expected, dest, retry, &limits, deadline, xz);
        match res {
            // The checksum is judged first: corrupted data usually also breaks xz, but the
            // root cause is the data, and a second pass may fix it.
            Ok((f, None)) if expected.is_none_or(|e| e.eq_ignore_ascii_case(&f.sum)) => {
                return Ok(f);
            }
            Ok((f, Some(xz_err))) if expected.is_none_or(|e| e.eq_ignore_ascii_case(&f.sum)) => {
                let _ = host.remove(dest);
                return Err(Error::msg(format!(
                    "decompressing {} failed: {xz_err}",
                    src.describe()
                )));
            }
            Ok((f, _)) => {
                let _ = host.remove(dest);
                last = format!(
                    "checksum mismatch for {}: expected {}, got {}",
                    src.describe(),
                    expected.unwrap_or_default(),
                    f.sum
                );
                log::warn!("{last} (attempt {attempt} of {attempts})");
            }
            Err(e) => {
                let _ = host.remove(dest);
                return Err(e);
            }
        }
    }
    Err(Error::msg(format!(
        "{last}; gave up after {attempts} attempts"
    )))
}

/// Under --root and in plan mode nothing is downloaded: the pipeline is recorded. A local
/// file can still be checked, since that is only a read.
fn record(
    host: &Host,
    src: &Source,
    expected: Option<&str>,
    dest: &str,
    limits: &Limits,
    xz: bool,
) -> Result<Fetched> {
    let unpack = if xz { " | xz -dc -T0" } else { "" };
    let (line, fetched) = match src {
        Source::Url(u) => (
            format!(
                "curl -fsSL {} {}{unpack} > {}",
                curl_limits(limits, limits.total).join(" "),
                shell_quote(u),
                shell_quote(dest)
            ),
            Fetched {
                sum: String::new(),
                compressed_bytes: 0,
            },
        ),
        Source::File(p) => {
            // Hashed as it streams, never read whole: the file may be large (or hostile).
            let (mut f, _) = open_image_file(host, p, limits)?;
            let mut hasher = Sum::for_expected(expected);
            let len = each_chunk(&mut f, p, limits, &mut vec![0u8; CHUNK], |c, _| {
                hasher.update(c);
                Ok(())
            })?;
            let sha = hasher.hex();
            if let Some(e) = expected {
                if !e.eq_ignore_ascii_case(&sha) {
                    return Err(Error::msg(format!(
                        "checksum mismatch for {p}: expected {e}, got {sha}"
                    )));
                }
            }
            (
                format!(
                    "{} < {} > {}",
                    if xz { "xz -dc -T0" } else { "cat" },
                    shell_quote(p),
                    shell_quote(dest)
                ),
                Fetched {
                    sum: sha,
                    compressed_bytes: len,
                },
            )
        }
    };
    host.record(&line)?;
    Ok(fetched)
}

/// An image file on the host: a regular file (a device such as /dev/zero never ends, a
/// FIFO may not) no larger than the download limit, by its metadata.
fn open_image_file(host: &Host, p: &str, limits: &Limits) -> Result<(File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let real = host.resolve(p, true)?;
    // Looked at before it is opened: opening a FIFO would wait for a writer.
    let m = std::fs::metadata(&real).ctx(|| format!("opening {p}"))?;
    if !m.is_file() {
        return Err(Error::msg(format!(
            "{p}: not a regular file (an image must be a .qcow2.xz file)"
        )));
    }
    over_download_limit(p, m.len(), limits)?;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(&real)
        .ctx(|| format!("opening {p}"))?;
    Ok((f, m.len()))
}

/// The checksum of a file already on the host (a container template on its storage),
/// SHA-512 or SHA-256 by the length of `expected`, read as an image file is: a regular file
/// within the download limit, a chunk at a time.
pub fn file_sum(host: &Host, p: &str, expected: &str) -> Result<String> {
    let limits = Limits::default();
    let (mut f, _) = open_image_file(host, p, &limits)?;
    let mut sum = Sum::for_expected(Some(expected));
    let mut buf = vec![0u8; CHUNK];
    each_chunk(&mut f, p, &limits, &mut buf, |d, _| {
        sum.update(d);
        Ok(())
    })?;
    Ok(sum.hex())
}

/// Read an image file to its end, a chunk at a time, into `each` (with the bytes read so
/// far), within the download limit (the file may grow while it is read). Returns its size.
fn each_chunk(
    f: &mut File,
    p: &str,
    limits: &Limits,
    buf: &mut [u8],
    mut each: impl FnMut(&[u8], u64) -> Result<()>,
) -> Result<u64> {
    let mut done = 0u64;
    loop {
        let n = f.read(buf).ctx(|| format!("reading {p}"))?;
        if n == 0 {
            return Ok(done);
        }
        done += n as u64;
        over_download_limit(p, done, limits)?;
        each(&buf[..n], done)?;
    }
}

fn over_download_limit(what: &str, n: u64, limits: &Limits) -> Result<()> {
    if n > limits.max_download {
        return Err(Error::msg(format!(
            "{what}: more than {} MiB; no HAOS image is that large, so this was stopped",
            limits.max_download >> 20
        )));
    }
    Ok(())
}

/// curl's own bounds for one request: size (when the server states it), stall, time left.
fn curl_limits(limits: &Limits, left: Duration) -> Vec<String> {
    vec![
        // No [..] or {..} globbing: the URL is one URL.
        "--globoff".into(),
        "--proto".into(),
        "=https,http".into(),
        "--max-filesize".into(),
        limits.max_download.to_string(),
        "--speed-limit".into(),
        STALL_BYTES_PER_S.to_string(),
        "--speed-time".into(),
        limits.stall.as_secs().max(1).to_string(),
        "--max-time".into(),
        left.as_secs().max(1).to_string(),
    ]
}

/// What a HEAD request says: total size and whether ranges work (to resume).
fn head(host: &Host, url: &str) -> (Option<u64>, bool) {
    let Ok(out) = host.query(&Cmd::new("curl").args([
        "-sSIL",
        "--globoff",
        "--proto",
        "=https,http",
        "--connect-timeout",
        "20",
        "--max-time",
        "60",
        url,
    ])) else {
        return (None, false);
    };
    // With redirects there are several header blocks; the last one is the file's.
    let last = out
        .stdout
        .rsplit("HTTP/")
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let len = last
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok());
    let ranges = last
        .lines()
        .any(|l| l.starts_with("accept-ranges:") && l.contains("bytes"));
    (len, ranges)
}

/// What progress lines call an image: its file's name.
fn label(dest: &str) -> String {
    dest.rsplit('/').next().unwrap_or(dest).to_string()
}

struct Progress {
    /// The image's file name: downloads may run side by side.
    label: String,
    total: Option<u64>,
    start: Instant,
    last: Instant,
}

impl Progress {
    fn tick(&mut self, done: u64, force: bool) {
        if !force && self.last.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.last = Instant::now();
        let mib = done as f64 / 1048576.0;
        let rate = mib / self.start.elapsed().as_secs_f64().max(0.001);
        match self.total {
            Some(t) if t > 0 => log::info!(
                "{}: {mib:.1} of {:.1} MiB ({:.0}%), {rate:.1} MiB/s",
                self.label,
                t as f64 / 1048576.0,
                done as f64 * 100.0 / t as f64
            ),
            _ => log::info!("{}: {mib:.1} MiB, {rate:.1} MiB/s", self.label),
        }
    }
}

/// Pipes default to 64 KiB, so every 64 KiB of the image costs a wake-up of curl, the agent
/// and xz each; at 1 MiB (the usual pipe-max-size) the three take turns far less often. A
/// refusal (a lower pipe-max-size) only costs speed.
fn widen_pipe(fd: &impl std::os::fd::AsRawFd) {
    let _ = nix::fcntl::fcntl(
        fd.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETPIPE_SZ(CHUNK as i32),
    );
}

fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    s.trim().lines().last().unwrap_or_default().to_string()
}

/// Writes to xz until it stops reading (bad data); the hash goes on to the end regardless,
/// so that a corrupted download is reported as a checksum mismatch.
struct Tap<W: Write> {
    sink: Option<W>,
    hasher: Sum,
}

impl<W: Write> Tap<W> {
    fn feed(&mut self, data: &[u8]) {
        self.hasher.update(data);
        if let Some(s) = self.sink.as_mut() {
            if s.write_all(data).is_err() {
                self.sink = None;
            }
        }
    }
}

/// One pass: source -> SHA-256 tap -> xz -dc -> dest. Returns what was fetched and, if xz
/// failed, its message.
#[allow(clippy::too_many_arguments)]
fn stream_once(
    host: &Host,
    src: &Source,
    expected: Option<&str>,
    dest: &str,
    retry: Retry,
    limits: &Limits,
    deadline: Instant,
    xz: bool,
) -> Result<(Fetched, Option<String>)> {
    let path = host.resolve(dest, true)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ctx(|| format!("creating the directory of {dest}"))?;
    }
    // O_NOFOLLOW: a symlink in place of the image file is refused, never written through.
    let out = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(crate::tempdir::o_nofollow())
            .open(&path)
            .ctx(|| format!("creating {dest}"))?
    };
    // A plain image goes through `cat`, so that both kinds take the same bounded path.
    let unpack = if xz {
        Cmd::new("xz").args(["-dc", "-T0"])
    } else {
        Cmd::new("cat")
    };
    let mut xz = host.spawn(&unpack, Stdio::piped(), Stdio::from(out))?;
    let stdin = xz.stdin.take().expect("piped");
    widen_pipe(&stdin);
    let mut tap = Tap {
        sink: Some(stdin),
        hasher: Sum::for_expected(expected),
    };
    let mut done: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    let fed = match src {
        Source::File(p) => (|| -> Result<()> {
            let (mut f, len) = open_image_file(host, p, limits)?;
            let mut prog = Progress {
                label: label(dest),
                total: Some(len),
                start: Instant::now(),
                last: Instant::now(),
            };
            done = each_chunk(&mut f, p, limits, &mut buf, |c, so_far| {
                tap.feed(c);
                image_within_limit(&path, dest, limits)?;
                prog.tick(so_far, false);
                Ok(())
            })?;
            prog.tick(done, true);
            Ok(())
        })(),
        Source::Url(u) => download(
            host,
            u,
            &mut tap,
            &mut done,
            &mut buf,
            retry,
            &Watch {
                limits,
                deadline,
                path: &path,
                dest,
            },
        ),
    };
    drop(tap.sink.take());
    // xz may still be writing (a small stream can expand without end): bounded as well.
    let xz_status = match wait_bounded(&mut xz, &path, dest, limits, deadline) {
        Ok(s) => s,
        Err(e) => {
            let _ = host.remove(dest);
            return Err(e);
        }
    };
    let xz_err = stderr_of(&mut xz);
    if let Err(e) = fed {
        let _ = host.remove(dest);
        return Err(e);
    }
    let xz_failed = (!xz_status.success()).then(|| {
        if xz_err.is_empty() {
            "xz exited with an error".to_string()
        } else {
            xz_err
        }
    });
    if xz_failed.is_none() {
        File::open(&path)?
            .sync_all()
            .ctx(|| format!("syncing {dest}"))?;
    }
    Ok((
        Fetched {
            sum: tap.hasher.hex(),
            compressed_bytes: done,
        },
        xz_failed,
    ))
}

/// The decompressed image so far, against its limit.
fn image_within_limit(path: &std::path::Path, dest: &str, limits: &Limits) -> Result<()> {
    let len = std::fs::metadata(path).map_or(0, |m| m.len());
    if len > limits.max_image {
        return Err(Error::msg(format!(
            "{dest}: the decompressed image passed {} MiB; no HAOS image is that large, so \
             this was stopped",
            limits.max_image >> 20
        )));
    }
    Ok(())
}

/// Wait for xz, checking the output's size and the deadline every 100 ms; kill it past
/// either.
fn wait_bounded(
    xz: &mut Child,
    path: &std::path::Path,
    dest: &str,
    limits: &Limits,
    deadline: Instant,
) -> Result<std::process::ExitStatus> {
    loop {
        if let Some(s) = xz.try_wait()? {
            // A fast xz may have finished between two looks.
            image_within_limit(path, dest, limits)?;
            return Ok(s);
        }
        let over = image_within_limit(path, dest, limits).err().or_else(|| {
            (Instant::now() > deadline).then(|| {
                Error::msg(format!(
                    "{dest}: not done after {} s; stopped",
                    limits.total.as_secs()
                ))
            })
        });
        if let Some(e) = over {
            let _ = xz.kill();
            let _ = xz.wait();
            return Err(e);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the download loop checks besides the bytes themselves.
struct Watch<'a> {
    limits: &'a Limits,
    deadline: Instant,
    path: &'a std::path::Path,
    dest: &'a str,
}

/// curl's exit codes for the limits, in words.
fn curl_failure(code: Option<i32>, url: &str, limits: &Limits, err: String) -> Option<String> {
    match code {
        Some(63) => Some(format!(
            "downloading {url}: larger than {} MiB; no HAOS image is that large",
            limits.max_download >> 20
        )),
        Some(28) if err.contains("too slow") => Some(format!(
            "less than {STALL_BYTES_PER_S} bytes/s for {} s (stalled)",
            limits.stall.as_secs()
        )),
        Some(28) => Some(format!("timed out ({err})")),
        _ => None,
    }
}

/// Stream `url` into `sink`, resuming with a range request where the server allows it.
fn download<W: Write>(
    host: &Host,
    url: &str,
    tap: &mut Tap<W>,
    done: &mut u64,
    buf: &mut [u8],
    retry: Retry,
    watch: &Watch,
) -> Result<()> {
    let limits = watch.limits;
    let (total, ranges) = head(host, url);
    let mut prog = Progress {
        label: label(watch.dest),
        total,
        start: Instant::now(),
        last: Instant::now(),
    };
    let mut retries = 0;
    loop {
        let left = watch.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::msg(format!(
                "downloading {url}: not done after {} s (at byte {done}); stopped",
                limits.total.as_secs()
            )));
        }
        let mut cmd = Cmd::new("curl")
            .args(["-fsSL", "--connect-timeout", "20"])
            .args(curl_limits(limits, left));
        if *done > 0 {
            cmd = cmd.args(["-r".to_string(), format!("{done}-")]);
        }
        let mut curl = host.spawn(&cmd.arg(url), Stdio::null(), Stdio::piped())?;
        let mut body = curl.stdout.take().expect("piped");
        widen_pipe(&body);
        let mut broken = None;
        let mut over = None;
        loop {
            match body.read(buf) {
                Ok(0) => break,
                Ok(n) => {
                    tap.feed(&buf[..n]);
                    *done += n as u64;
                    // curl's --max-filesize needs a stated size; this bounds an endless body.
                    over = over_download_limit(&format!("downloading {url}"), *done, limits)
                        .and_then(|()| image_within_limit(watch.path, watch.dest, limits))
                        .err();
                    if over.is_some() {
                        let _ = curl.kill();
                        break;
                    }
                    prog.tick(*done, false);
                }
                Err(e) => {
                    broken = Some(e.to_string());
                    break;
                }
            }
        }
        let status = curl.wait()?;
        let err = stderr_of(&mut curl);
        if let Some(e) = over {
            return Err(e);
        }
        if status.code() == Some(63) {
            return Err(Error::msg(
                curl_failure(status.code(), url, limits, err).unwrap_or_default(),
            ));
        }
        let err = curl_failure(status.code(), url, limits, err.clone()).unwrap_or(err);
        if status.success() && total.is_none_or(|t| *done >= t) {
            prog.tick(*done, true);
            return Ok(());
        }
        let why = if let Some(b) = broken {
            b
        } else if status.success() {
            format!(
                "the transfer ended after {done} of {} bytes",
                total.unwrap_or(0)
            )
        } else if err.is_empty() {
            format!("curl exited with {}", status.code().unwrap_or(-1))
        } else {
            err
        };
        retries += 1;
        // Without ranges a resume would repeat bytes already hashed and decompressed.
        if retries > retry.transport_retries || (!ranges && *done > 0) {
            return Err(Error::msg(format!(
                "downloading {url}: {why} (after {retries} attempt(s){})",
                if ranges {
                    ""
                } else {
                    "; the server does not support resuming"
                }
            )));
        }
        let wait = retry.backoff * (1 << (retries - 1).min(5));
        log::warn!(
            "downloading {url}: {why}; resuming at byte {done} in {} s",
            wait.as_secs()
        );
        std::thread::sleep(wait);
    }
}
