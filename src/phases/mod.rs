//! The phases, one file each, and what every phase gets to work with.
//!
//! A phase is idempotent: it looks at what is there, changes only what differs, and says
//! what it changed. It never reboots; it tells the engine when the running system will
//! only reflect its changes after a reboot (`Cx::need_reboot`). Commands that apply a
//! change (update-grub, systemctl reload, ...) run when the phase changed something *or*
//! when `Cx::resumed` says an earlier attempt was cut off: a power cut between writing a
//! file and running its command must not leave the command undone forever.

pub mod backup;
pub mod containers;
pub mod haos;
pub mod hardening;
pub mod host;
pub mod network;
pub mod passthrough;
pub mod postinstall;
pub mod storage;
pub mod vm;
pub mod vms;

use std::collections::BTreeMap;

use crate::answer::Answer;
use crate::error::Result;
use crate::host::{Cmd, Host, Output};
use crate::state::State;

pub trait Phase {
    fn id(&self) -> &'static str;
    /// Phases whose failure makes this one pointless (it is then skipped).
    fn depends_on(&self) -> &'static [&'static str] {
        &[]
    }
    /// `Some(reason)` when the answer gives this phase nothing to do.
    fn not_configured(&self, answer: &Answer) -> Option<String>;
    fn apply(&self, cx: &mut Cx) -> Result<()>;
    /// Checks that only hold once the phase's changes are in effect (after the reboot).
    /// Each finding is one line in `cx.results`; an error fails the verify step.
    fn verify(&self, _cx: &mut Cx) -> Result<()> {
        Ok(())
    }
}

/// One file change, kept for `plan`'s diffs.
#[derive(Clone, Debug)]
pub struct FileChange {
    pub path: String,
    pub old: Option<Vec<u8>>,
    pub new: Option<Vec<u8>>,
}

/// A phase's view of the world while it runs.
pub struct Cx<'a> {
    pub host: &'a Host,
    pub answer: &'a Answer,
    /// An earlier attempt of this phase was interrupted (power cut, kill).
    pub resumed: bool,
    pub changes: Vec<String>,
    pub results: Vec<String>,
    pub reboot: Option<String>,
    pub files: Vec<FileChange>,
    /// Images being downloaded in the background for this run (see `prefetch.rs`).
    pub downloads: Option<&'a crate::prefetch::Downloads>,
    id: &'static str,
    state: &'a mut State,
    persist: bool,
}

impl<'a> Cx<'a> {
    pub fn new(
        host: &'a Host,
        answer: &'a Answer,
        state: &'a mut State,
        id: &'static str,
        resumed: bool,
        persist: bool,
    ) -> Self {
        Cx {
            host,
            answer,
            resumed,
            changes: Vec::new(),
            results: Vec::new(),
            reboot: None,
            files: Vec::new(),
            downloads: None,
            id,
            state,
            persist,
        }
    }

    /// Install a file of the overlay (`overlay/`), as it is, mode 0644; true if it changed.
    pub fn install(&mut self, f: &crate::overlay::File) -> Result<bool> {
        self.write(f.path, f.body, 0o644)
    }

    /// Make a file hold `content`; records the change if there was one.
    pub fn write(&mut self, path: &str, content: &str, mode: u32) -> Result<bool> {
        let old = self.host.read(path)?;
        // Bytes that were not UTF-8 when the file was read go back as they were.
        let content = crate::host::encode_text(content);
        let changed = self.host.write(path, &content, mode)?;
        // Names and sizes only: a file's content may be a secret (the journal keeps this).
        log::debug!(
            "{}: {path} ({} bytes, mode {mode:04o}) {}",
            self.id,
            content.len(),
            if changed {
                "written"
            } else {
                "already as wanted"
            }
        );
        if changed {
            self.changes.push(match &old {
                Some(_) => format!("updated {path}"),
                None => format!("created {path}"),
            });
            self.files.push(FileChange {
                path: path.to_string(),
                old,
                new: Some(content.into_owned()),
            });
        }
        Ok(changed)
    }

    pub fn remove(&mut self, path: &str) -> Result<bool> {
        let old = self.host.read(path)?;
        let changed = self.host.remove(path)?;
        if changed {
            self.changes.push(format!("removed {path}"));
            self.files.push(FileChange {
                path: path.to_string(),
                old,
                new: None,
            });
        }
        Ok(changed)
    }

    pub fn read(&self, path: &str) -> Result<Option<String>> {
        self.host.read_text(path)
    }

    pub fn run(&mut self, cmd: Cmd) -> Result<Output> {
        self.host.run_ok(&cmd)
    }

    /// Install Debian packages unless `marker` (a file the first one ships) is there;
    /// noted in the state, so that a run under --root, where apt is only recorded, does
    /// not ask again.
    pub fn ensure_package(&mut self, packages: &[&str], marker: &str) -> Result<()> {
        let note = format!("installed-{}", packages[0]);
        if self.host.exists(marker) || self.recall(&note).is_some() {
            return Ok(());
        }
        self.run(
            Cmd::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["-q", "-y", "install"])
                .args(packages.iter().copied()),
        )?;
        self.changes
            .push(format!("installed {}", packages.join(" ")));
        self.remember(&note, &packages.join(" "))
    }

    /// The running system reflects this phase's changes only after a reboot.
    pub fn need_reboot(&mut self, why: impl Into<String>) {
        self.reboot = Some(why.into());
    }

    /// A durable note of this phase (e.g. "created VM 100"): saved at once, before the
    /// phase goes on, so that a retry after a power cut knows what is its own.
    pub fn remember(&mut self, key: &str, value: &str) -> Result<()> {
        self.state
            .phase_mut(self.id)
            .data
            .insert(key.to_string(), value.to_string());
        if self.persist {
            self.state.save(self.host)?;
        }
        Ok(())
    }

    pub fn forget(&mut self, key: &str) -> Result<()> {
        if self.state.phase_mut(self.id).data.remove(key).is_some() && self.persist {
            self.state.save(self.host)?;
        }
        Ok(())
    }

    /// A note of another phase (the backup phase asks the storage phase what it added).
    pub fn recall_of(&self, phase: &str, key: &str) -> Option<&str> {
        self.state.phase(phase)?.data.get(key).map(String::as_str)
    }

    pub fn recall(&self, key: &str) -> Option<&str> {
        self.state.phase(self.id)?.data.get(key).map(String::as_str)
    }

    pub fn data(&self) -> BTreeMap<String, String> {
        self.state
            .phase(self.id)
            .map(|p| p.data.clone())
            .unwrap_or_default()
    }
}

/// The VM images and container templates a run can start downloading at once (see
/// `prefetch.rs`), of the phases in `will_run`.
pub fn downloads(
    host: &Host,
    answer: &Answer,
    st: &State,
    will_run: impl Fn(&str) -> bool,
) -> Vec<crate::prefetch::Job> {
    use crate::prefetch::Job;
    let mut out = Vec::new();
    if will_run("haos") {
        out.extend(haos::download(host, answer, st).map(Job::Image));
    }
    if will_run("vms") {
        out.extend(vms::downloads(host, answer, st).into_iter().map(Job::Image));
    }
    if will_run("containers") {
        out.extend(
            containers::downloads(host, answer, st)
                .into_iter()
                .map(Job::Template),
        );
    }
    out
}

/// Ensure `line` is present in a line-based file such as /etc/modules, once; returns the
/// new content (lines already there keep their place).
pub fn with_line(content: &str, line: &str) -> String {
    if content.lines().any(|l| l.trim() == line) {
        return content.to_string();
    }
    let mut out = content.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(line);
    out.push('\n');
    out
}

/// What commenting-out by the agent looks like, so it is recognisable and reversible.
pub const DISABLED: &str = "# disabled by pve-firstboot: ";

/// The header of every file the agent owns, so an admin knows where it came from.
pub fn owned_header(what: &str) -> String {
    format!(
        "# Written by pve-firstboot ({what}).\n\
         # The agent rewrites it when it runs again: change the answer file, not this file.\n"
    )
}
