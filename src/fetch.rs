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

use sha2::{Digest, Sha256};

use crate::error::{Context, Error, Result};
use crate::host::{Cmd, Host, shell_quote};

/// Where the compressed image comes from.
#[derive(Clone, Debug)]
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
    /// SHA-256 of the compressed stream, lowercase hex.
    pub sha256: String,
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
    if !host.is_live() {
        return record(host, src, expected, dest);
    }
    let mut last = String::new();
    let attempts = retry.checksum_attempts;
    for attempt in 1..=attempts {
        let res = stream_once(host, src, dest, retry);
        match res {
            // The checksum is judged first: corrupted data usually also breaks xz, but the
            // root cause is the data, and a second pass may fix it.
            Ok((f, None)) if expected.is_none_or(|e| e.eq_ignore_ascii_case(&f.sha256)) => {
                return Ok(f);
            }
            Ok((f, Some(xz_err))) if expected.is_none_or(|e| e.eq_ignore_ascii_case(&f.sha256)) => {
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
                    f.sha256
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
fn record(host: &Host, src: &Source, expected: Option<&str>, dest: &str) -> Result<Fetched> {
    let (line, fetched) = match src {
        Source::Url(u) => (
            format!(
                "curl -fsSL {} | xz -dc -T0 > {}",
                shell_quote(u),
                shell_quote(dest)
            ),
            Fetched {
                sha256: String::new(),
                compressed_bytes: 0,
            },
        ),
        Source::File(p) => {
            let data = host
                .read(p)?
                .ok_or_else(|| Error::msg(format!("reading {p}: not found")))?;
            let sha = hex(&Sha256::digest(&data));
            if let Some(e) = expected {
                if !e.eq_ignore_ascii_case(&sha) {
                    return Err(Error::msg(format!(
                        "checksum mismatch for {p}: expected {e}, got {sha}"
                    )));
                }
            }
            (
                format!("xz -dc -T0 < {} > {}", shell_quote(p), shell_quote(dest)),
                Fetched {
                    sha256: sha,
                    compressed_bytes: data.len() as u64,
                },
            )
        }
    };
    host.record(&line)?;
    Ok(fetched)
}

/// What a HEAD request says: total size and whether ranges work (to resume).
fn head(host: &Host, url: &str) -> (Option<u64>, bool) {
    let Ok(out) = host.query(&Cmd::new("curl").args(["-sSIL", "--connect-timeout", "20", url]))
    else {
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

struct Progress {
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
                "haos image: {mib:.1} of {:.1} MiB ({:.0}%), {rate:.1} MiB/s",
                t as f64 / 1048576.0,
                done as f64 * 100.0 / t as f64
            ),
            _ => log::info!("haos image: {mib:.1} MiB, {rate:.1} MiB/s"),
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
    hasher: Sha256,
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
fn stream_once(
    host: &Host,
    src: &Source,
    dest: &str,
    retry: Retry,
) -> Result<(Fetched, Option<String>)> {
    let path = host.resolve(dest, true)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ctx(|| format!("creating the directory of {dest}"))?;
    }
    let out = File::create(&path).ctx(|| format!("creating {dest}"))?;
    let mut xz = host.spawn(
        &Cmd::new("xz").args(["-dc", "-T0"]),
        Stdio::piped(),
        Stdio::from(out),
    )?;
    let stdin = xz.stdin.take().expect("piped");
    widen_pipe(&stdin);
    let mut tap = Tap {
        sink: Some(stdin),
        hasher: Sha256::new(),
    };
    let mut done: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    let fed = match src {
        Source::File(p) => (|| -> Result<()> {
            let real = host.resolve(p, true)?;
            let mut f = File::open(&real).ctx(|| format!("opening {p}"))?;
            let mut prog = Progress {
                total: f.metadata().ok().map(|m| m.len()),
                start: Instant::now(),
                last: Instant::now(),
            };
            loop {
                let n = f.read(&mut buf).ctx(|| format!("reading {p}"))?;
                if n == 0 {
                    break;
                }
                tap.feed(&buf[..n]);
                done += n as u64;
                prog.tick(done, false);
            }
            prog.tick(done, true);
            Ok(())
        })(),
        Source::Url(u) => download(host, u, &mut tap, &mut done, &mut buf, retry),
    };
    drop(tap.sink.take());
    let xz_status = xz.wait()?;
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
            sha256: hex(&tap.hasher.finalize()),
            compressed_bytes: done,
        },
        xz_failed,
    ))
}

/// Stream `url` into `sink`, resuming with a range request where the server allows it.
fn download<W: Write>(
    host: &Host,
    url: &str,
    tap: &mut Tap<W>,
    done: &mut u64,
    buf: &mut [u8],
    retry: Retry,
) -> Result<()> {
    let (total, ranges) = head(host, url);
    let mut prog = Progress {
        total,
        start: Instant::now(),
        last: Instant::now(),
    };
    let mut retries = 0;
    loop {
        let mut cmd = Cmd::new("curl").args(["-fsSL", "--connect-timeout", "20"]);
        if *done > 0 {
            cmd = cmd.args(["-r".to_string(), format!("{done}-")]);
        }
        let mut curl = host.spawn(&cmd.arg(url), Stdio::null(), Stdio::piped())?;
        let mut body = curl.stdout.take().expect("piped");
        widen_pipe(&body);
        let mut broken = None;
        loop {
            match body.read(buf) {
                Ok(0) => break,
                Ok(n) => {
                    tap.feed(&buf[..n]);
                    *done += n as u64;
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
