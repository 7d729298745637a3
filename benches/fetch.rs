//! The HAOS image pipeline on its own, for `tests/bench-haos`:
//! `fetch URL SHA256 OUT` runs the agent's real fetch (curl -> SHA-256 -> xz -dc -T0 -> OUT)
//! and prints the wall time, the checksum, the process's own peak RSS (VmHWM) and the CPU
//! time of the process and its children (curl, xz) from /proc/self/stat.

use std::time::Instant;

use pve_firstboot::fetch::{Retry, Source, fetch_image_with};
use pve_firstboot::host::Host;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [url, sha, out] = args.as_slice() else {
        eprintln!("usage: fetch URL SHA256 OUT");
        std::process::exit(2);
    };
    let t = Instant::now();
    let res = fetch_image_with(
        &Host::live(),
        &Source::Url(url.clone()),
        Some(sha),
        out,
        Retry::default(),
    );
    let secs = t.elapsed().as_secs_f64();
    let hwm = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        .unwrap_or_default();
    // utime, stime, cutime, cstime: fields 14-17, counted after the ')' that ends the name.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(4)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    // USER_HZ is 100 on every Linux build this runs on.
    let cpu = ticks as f64 / 100.0;
    match res {
        Ok(f) => println!(
            "seconds={secs:.2} cpu_seconds={cpu:.2} sha256={} peak_rss_kib={hwm}",
            f.sum
        ),
        Err(e) => {
            eprintln!("fetch failed: {e}");
            std::process::exit(1);
        }
    }
}
