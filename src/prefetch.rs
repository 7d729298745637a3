//! Downloads in the background: every VM image and container template the run will need
//! starts downloading when `run` starts, while the host, passthrough, network and hardening
//! phases work, and each guest waits only for its own. Provisioning then takes about as long as the longer of
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
use crate::templates::{Pull, Pulled};

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

/// One background job: a VM's disk image through the verified pipeline (`fetch.rs`), or a
/// container's template onto its storage by Proxmox's own tools (`templates.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    Image(Download),
    Template(Pull),
}

impl Job {
    /// What the job is known by: an image's file, a template's storage and name.
    fn key(&self) -> String {
        match self {
            Job::Image(d) => d.dest.clone(),
            Job::Template(p) => p.key(),
        }
    }
}

/// What a finished job got.
enum Got {
    Image(Fetched),
    Template(Pulled),
}

/// A job under way: what it was started with, and its thread.
type Running = (Job, JoinHandle<Result<Got>>);

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

    /// Start each job in its own thread, on the live host. A job given twice is started
    /// once.
    pub fn start(list: Vec<Job>) -> Self {
        let mut running = BTreeMap::new();
        for j in list {
            let key = j.key();
            if running.contains_key(&key) {
                continue;
            }
            log::info!("downloading {key} in the background");
            let job = j.clone();
            let handle = std::thread::spawn(move || {
                let host = Host::live();
                let got = match &job {
                    Job::Image(d) => {
                        fetch::fetch_disk_image(&host, &d.source, d.sum.as_deref(), &d.dest, d.xz)
                            .map(Got::Image)
                    }
                    Job::Template(p) => p.run(&host).map(Got::Template),
                };
                match &got {
                    Ok(_) => log::info!("background download of {} done", job.key()),
                    Err(e) => log::warn!("background download of {} failed: {e}", job.key()),
                }
                got
            });
            running.insert(key, (j, handle));
        }
        Downloads {
            running: RefCell::new(running),
        }
    }

    /// What the job for `want` got, once it finished: `None` when none was started for it,
    /// or one for other data (the answer and the phase disagree: never used, the caller
    /// does it again, over the same file).
    fn take_job(&self, want: &Job) -> Option<Result<Got>> {
        let key = want.key();
        let (got, handle) = self.running.borrow_mut().remove(&key)?;
        if !handle.is_finished() {
            log::info!("waiting for the background download of {key}");
        }
        let res = handle
            .join()
            .unwrap_or_else(|_| Err(Error::msg("the download's thread panicked")));
        (got == *want).then_some(res)
    }

    /// The image for `want.dest`, once its download finished (see [`Downloads::take_job`]).
    pub fn take(&self, want: &Download) -> Option<Result<Fetched>> {
        match self.take_job(&Job::Image(want.clone()))? {
            Ok(Got::Image(f)) => Some(Ok(f)),
            Ok(Got::Template(_)) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// The template `want` pulled in the background, once it is there.
    pub fn take_template(&self, want: &Pull) -> Option<Result<Pulled>> {
        match self.take_job(&Job::Template(want.clone()))? {
            Ok(Got::Template(p)) => Some(Ok(p)),
            Ok(Got::Image(_)) => None,
            Err(e) => Some(Err(e)),
        }
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
                let job = Job::Image(Download {
                    dest: d.to_string(),
                    source: Source::File(String::new()),
                    sum: None,
                    xz: false,
                });
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
/// process ends, which ends its curl and xz too). A template stays on its storage, as one
/// the web UI downloaded does.
impl Drop for Downloads {
    fn drop(&mut self) {
        let host = Host::live();
        for (dest, (job, _)) in std::mem::take(self.running.get_mut()) {
            if let Job::Image(_) = job {
                log::info!("{dest}: downloaded for a VM that was not made in this run; removed");
                let _ = host.remove(&dest);
            }
        }
    }
}
