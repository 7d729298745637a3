//! Downloads in the background: every VM image the run will need starts downloading when
//! `run` starts, while the host, passthrough, network and hardening phases work, and each
//! VM waits only for its own image. Provisioning then takes about as long as the longer of
//! the two, not their sum (`tests/bench-downloads` measures it).
//!
//! Each download is the same verified, resumable, size-capped pass as a foreground one
//! (`fetch.rs`), in a thread of its own with its own live [`Host`] (the phases' host is not
//! shared across threads; a live host is only the real `/`). A VM takes its image with
//! [`Downloads::take`]: it waits for the thread and gets what a foreground fetch would have
//! returned. Images nobody took (a phase that failed or was skipped first) are removed at
//! the end of the run; a download cut off by a power cut is started again on the next
//! start, over the same file, unless its VM exists by then.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::fetch::{self, Fetched, Source};
use crate::host::Host;

/// One image to fetch, as the VM that needs it will ask for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Download {
    /// The host path the image is written to (the VM's temporary image file).
    pub dest: String,
    pub source: Source,
    /// SHA-256 or SHA-512, as pinned.
    pub sum: Option<String>,
    pub xz: bool,
}

/// A download under way: what it was started with, and its thread.
type Running = (Download, JoinHandle<Result<Fetched>>);

/// The downloads of one run, by destination. Not `Sync`: only the engine's thread takes
/// from it.
#[derive(Default)]
pub struct Downloads {
    running: RefCell<BTreeMap<String, Running>>,
}

impl Downloads {
    /// No background downloads (plan, --root, or nothing to fetch): every VM fetches its
    /// own image when it gets to it.
    pub fn none() -> Self {
        Self::default()
    }

    /// Start each download in its own thread, on the live host. A `dest` given twice is
    /// started once.
    pub fn start(list: Vec<Download>) -> Self {
        let mut running = BTreeMap::new();
        for d in list {
            if running.contains_key(&d.dest) {
                continue;
            }
            log::info!("downloading {} in the background", d.dest);
            let job = d.clone();
            let handle = std::thread::spawn(move || {
                let host = Host::live();
                let got = fetch::fetch_disk_image(
                    &host,
                    &job.source,
                    job.sum.as_deref(),
                    &job.dest,
                    job.xz,
                );
                match &got {
                    Ok(_) => log::info!("background download of {} done", job.dest),
                    Err(e) => log::warn!("background download of {} failed: {e}", job.dest),
                }
                got
            });
            running.insert(d.dest.clone(), (d, handle));
        }
        Downloads {
            running: RefCell::new(running),
        }
    }

    /// The image for `want.dest`, once its download finished: `None` when none was started
    /// for it, or one for other data (the answer and the phase disagree: never used, the
    /// caller fetches it again over the same file).
    pub fn take(&self, want: &Download) -> Option<Result<Fetched>> {
        let (got, handle) = self.running.borrow_mut().remove(&want.dest)?;
        if !handle.is_finished() {
            log::info!("waiting for the background download of {}", want.dest);
        }
        let res = handle
            .join()
            .unwrap_or_else(|_| Err(Error::msg("the download's thread panicked")));
        (got == *want).then_some(res)
    }

    /// Whether a download into `dest` was started and not taken yet.
    pub fn has(&self, dest: &str) -> bool {
        self.running.borrow().contains_key(dest)
    }

    /// How many downloads were started and not taken.
    pub fn pending(&self) -> usize {
        self.running.borrow().len()
    }
}

#[cfg(test)]
impl Downloads {
    /// Downloads under way into `dests`, for the phases' unit tests: what [`Downloads::has`]
    /// and [`Downloads::take`] see, without a download (each thread fails at once).
    pub(crate) fn pretend(dests: &[&str]) -> Self {
        let running = dests
            .iter()
            .map(|d| {
                let job = Download {
                    dest: d.to_string(),
                    source: Source::File(String::new()),
                    sum: None,
                    xz: false,
                };
                let handle = std::thread::spawn(|| Err(Error::msg("no download in a unit test")));
                (d.to_string(), (job, handle))
            })
            .collect();
        Downloads {
            running: RefCell::new(running),
        }
    }
}

/// At the end of a run, however it ends: the images no phase took are not needed in this
/// run. Their files go (a download still running goes on into the removed file until the
/// process ends, which ends its curl and xz too).
impl Drop for Downloads {
    fn drop(&mut self) {
        let host = Host::live();
        for (dest, _) in std::mem::take(self.running.get_mut()) {
            log::info!("{dest}: downloaded for a VM that was not made in this run; removed");
            let _ = host.remove(&dest);
        }
    }
}
