//! The engine: the one ordered list of phases, and the reboot policy.
//!
//! Phases run in order. Each is marked `running` in the durable state before it starts and
//! `done`/`failed` after, so a power cut at any moment leaves a state from which the next
//! start resumes: a phase found `running` was interrupted and runs again (phases are
//! idempotent), at most [`MAX_ATTEMPTS`] times. A failed phase does not stop the phases
//! that do not depend on it.
//!
//! Reboots: a phase says when its changes only take effect after a reboot. The engine
//! finishes every other phase first, saves the state, and then asks for exactly one reboot
//! for all of them; the `verify` step runs in the next boot (a different boot ID). Reboots
//! are capped by `[agent] max-reboots` so a check that keeps failing cannot loop.

use crate::answer::Answer;
use crate::error::Result;
use crate::host::{Cmd, Host, Mode};
use crate::phases::{self, Cx, FileChange, Phase};
use crate::prefetch::Downloads;
use crate::state::{self, State, Status};

/// How often an interrupted phase is retried before it is marked failed.
pub const MAX_ATTEMPTS: u32 = 5;
/// The name of the final step in the state and in `status`.
pub const VERIFY: &str = "verify";

/// The one ordered list of phases. `verify` follows them, after the reboot.
pub fn phases() -> Vec<Box<dyn Phase>> {
    vec![
        Box::new(phases::host::HostPhase),
        Box::new(phases::passthrough::PassthroughPhase),
        Box::new(phases::network::NetworkPhase::default()),
        Box::new(phases::hardening::HardeningPhase),
        Box::new(phases::storage::StoragePhase),
        Box::new(phases::haos::HaosPhase),
        Box::new(phases::vms::VmsPhase),
        Box::new(phases::containers::ContainersPhase),
        Box::new(phases::backup::BackupPhase),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// `run`: skip what is finished (done, failed, skipped); resume what is not.
    Resume,
    /// `apply` and `plan`: check and converge every phase again.
    Converge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every phase is done or has nothing to do.
    Done,
    /// At least one phase failed (the others ran).
    Failed,
    /// The state is saved and a reboot was asked for.
    RebootRequested,
    /// A reboot was asked for in this boot already and has not happened yet.
    WaitingForReboot,
}

impl Outcome {
    /// Exit status, as `status` uses it: 0 done, 1 failed, 3 not finished yet.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Done => 0,
            Outcome::Failed => 1,
            Outcome::RebootRequested | Outcome::WaitingForReboot => 3,
        }
    }
}

/// What one phase did in this run.
#[derive(Clone, Debug)]
pub struct PhaseRun {
    pub id: String,
    pub status: Status,
    pub reason: Option<String>,
    pub changes: Vec<String>,
    pub results: Vec<String>,
    pub commands: Vec<String>,
    pub files: Vec<FileChange>,
    pub reboot: Option<String>,
    /// False when the phase was not run (finished earlier, or waiting for the reboot).
    pub ran: bool,
}

pub struct Report {
    pub outcome: Outcome,
    pub phases: Vec<PhaseRun>,
    pub state: State,
}

impl Report {
    pub fn changed(&self) -> bool {
        self.phases.iter().any(|p| !p.changes.is_empty())
    }
}

pub struct Engine<'a> {
    pub host: &'a Host,
    pub answer: &'a Answer,
    pub phases: Vec<Box<dyn Phase>>,
    pub mode: RunMode,
}

impl<'a> Engine<'a> {
    pub fn new(host: &'a Host, answer: &'a Answer, mode: RunMode) -> Self {
        Engine {
            host,
            answer,
            phases: phases(),
            mode,
        }
    }

    fn persist(&self) -> bool {
        self.host.mode() != Mode::Plan
    }

    fn save(&self, st: &State, saved: &mut State) -> Result<()> {
        if self.persist() && st != saved {
            st.save(self.host)?;
            *saved = st.clone();
        }
        Ok(())
    }

    pub fn run(&self) -> Result<Report> {
        let _lock = self.host.lock()?;
        let mut st = State::load(self.host)?;
        let mut saved = st.clone();
        let boot = self.host.boot_id();
        let mut runs: Vec<PhaseRun> = Vec::new();

        // Any boot but the one that asked for the reboot means the reboot happened.
        if st.reboot_requested_in.as_ref().is_some_and(|b| *b != boot) {
            log::info!(
                "reboot {} of at most {} has happened",
                st.reboots,
                self.answer.agent.max_reboots
            );
            st.reboot_requested_in = None;
            st.reboot_for.clear();
        }
        if st.started.is_none() {
            st.started = Some(state::now_utc());
        }
        let mut reboot_for = st.reboot_for.clone();

        // VM images download while the host is set up; each VM phase takes its own.
        let downloads = if self.host.is_live() && self.answer.agent.background_downloads {
            let finished = |id: &str| {
                st.phase(id).is_some_and(|p| {
                    matches!(p.status, Status::Done | Status::Failed | Status::Skipped)
                })
            };
            Downloads::start(phases::downloads(self.host, self.answer, &st, |id| {
                self.mode == RunMode::Converge || !finished(id)
            }))
        } else {
            Downloads::none()
        };

        for phase in &self.phases {
            let id = phase.id();
            let prev = st.phase(id).cloned().unwrap_or_default();
            let mut run = PhaseRun {
                id: id.to_string(),
                status: prev.status,
                reason: prev.reason.clone(),
                changes: Vec::new(),
                results: Vec::new(),
                commands: Vec::new(),
                files: Vec::new(),
                reboot: None,
                ran: false,
            };
            if let Some(why) = phase.not_configured(self.answer) {
                let p = st.phase_mut(id);
                if p.status != Status::Skipped || p.reason.as_deref() != Some(why.as_str()) {
                    p.status = Status::Skipped;
                    p.reason = Some(why.clone());
                }
                run.status = Status::Skipped;
                run.reason = Some(why);
                runs.push(run);
                continue;
            }
            let finished = matches!(prev.status, Status::Done | Status::Failed | Status::Skipped);
            if self.mode == RunMode::Resume && finished {
                runs.push(run);
                continue;
            }
            if let Some(dep) = phase.depends_on().iter().find(|d| {
                st.phase(d)
                    .is_some_and(|p| matches!(p.status, Status::Failed))
                    || dep_skipped(&st, d)
            }) {
                let why = format!("needs the {dep} phase, which did not complete");
                let p = st.phase_mut(id);
                p.status = Status::Skipped;
                p.reason = Some(why.clone());
                run.status = Status::Skipped;
                run.reason = Some(why);
                self.save(&st, &mut saved)?;
                runs.push(run);
                continue;
            }
            let resumed = prev.status == Status::Running;
            if resumed && prev.attempts >= MAX_ATTEMPTS {
                let why = format!("interrupted {} times; giving up", prev.attempts);
                log::error!("phase {id}: {why}");
                let p = st.phase_mut(id);
                p.status = Status::Failed;
                p.reason = Some(why.clone());
                run.status = Status::Failed;
                run.reason = Some(why);
                self.save(&st, &mut saved)?;
                runs.push(run);
                continue;
            }
            {
                let p = st.phase_mut(id);
                p.status = Status::Running;
                p.attempts += 1;
                p.started = Some(state::now_utc());
                p.finished = None;
                p.boot_id = boot.clone();
                p.reason = None;
            }
            self.save(&st, &mut saved)?;
            if resumed {
                log::info!("phase {id}: resuming after an interruption");
            } else {
                log::info!("phase {id}: starting");
            }
            let cmds_before = self.host.commands_len();
            let mut cx = Cx::new(self.host, self.answer, &mut st, id, resumed, self.persist());
            cx.downloads = Some(&downloads);
            let res = phase.apply(&mut cx);
            let (changes, results, reboot, files) = (cx.changes, cx.results, cx.reboot, cx.files);
            // A simulated power cut stops everything at once, as a real one would.
            if let Err(e) = &res {
                if e.is_crash() {
                    return Err(e.clone());
                }
            }
            // After a power cut the state is reloaded from disk, so anything remembered
            // mid-phase is already saved; keep it in `saved` in step with the file.
            if self.persist() {
                saved.phase_mut(id).data = st.phase_mut(id).data.clone();
            }
            let p = st.phase_mut(id);
            p.finished = Some(state::now_utc());
            p.changes = changes.clone();
            p.results = results.clone();
            match res {
                Ok(()) => {
                    p.status = Status::Done;
                    if changes.is_empty() {
                        log::info!("phase {id}: done, no changes");
                    } else if self.host.mode() == Mode::Plan {
                        // plan only reads: nothing was done, so the log must not say so.
                        log::info!("phase {id}: would make {} change(s)", changes.len());
                    } else {
                        log::info!("phase {id}: done, {} change(s)", changes.len());
                    }
                    if let Some(why) = &reboot {
                        log::info!("phase {id}: takes effect after a reboot: {why}");
                        if !reboot_for.iter().any(|r| r == id) {
                            reboot_for.push(id.to_string());
                        }
                    }
                }
                Err(e) => {
                    log::error!("phase {id}: failed: {e}");
                    p.status = Status::Failed;
                    p.reason = Some(e.to_string());
                }
            }
            run.status = p.status;
            run.reason = p.reason.clone();
            run.changes = changes;
            run.results = results;
            run.reboot = reboot;
            run.files = files;
            run.commands = self.host.commands()[cmds_before..].to_vec();
            run.ran = true;
            self.save(&st, &mut saved)?;
            runs.push(run);
        }

        let outcome = if !reboot_for.is_empty() {
            self.reboot(&mut st, &mut saved, &boot, reboot_for, &mut runs)?
        } else {
            self.verify(&mut st, &mut saved, &boot, &mut runs)?;
            let failed = st.phases.iter().any(|p| p.status == Status::Failed);
            if failed {
                Outcome::Failed
            } else {
                if st.finished.is_none() {
                    st.finished = Some(state::now_utc());
                }
                Outcome::Done
            }
        };
        self.save(&st, &mut saved)?;
        Ok(Report {
            outcome,
            phases: runs,
            state: st,
        })
    }

    /// Ask for the one reboot, unless it was asked for in this boot already or the cap is
    /// reached (then `verify` fails and says why).
    fn reboot(
        &self,
        st: &mut State,
        saved: &mut State,
        boot: &str,
        reboot_for: Vec<String>,
        runs: &mut Vec<PhaseRun>,
    ) -> Result<Outcome> {
        let pending = PhaseRun {
            id: VERIFY.into(),
            status: Status::Pending,
            reason: Some(format!(
                "runs after the reboot that {} need(s)",
                reboot_for.join(", ")
            )),
            changes: Vec::new(),
            results: Vec::new(),
            commands: Vec::new(),
            files: Vec::new(),
            reboot: None,
            ran: false,
        };
        if st.reboot_requested_in.as_deref() == Some(boot) {
            log::info!("waiting for the reboot asked for earlier in this boot");
            runs.push(pending);
            return Ok(Outcome::WaitingForReboot);
        }
        let max = self.answer.agent.max_reboots;
        if st.reboots >= max {
            let why = format!(
                "{} still need(s) a reboot, but the agent has rebooted {} time(s), the most [agent] max-reboots allows",
                reboot_for.join(", "),
                st.reboots
            );
            log::error!("{why}");
            let v = st.phase_mut(VERIFY);
            v.status = Status::Failed;
            v.reason = Some(why.clone());
            runs.push(PhaseRun {
                status: Status::Failed,
                reason: Some(why),
                ..pending
            });
            return Ok(Outcome::Failed);
        }
        st.reboots += 1;
        st.reboot_requested_in = Some(boot.to_string());
        st.reboot_for = reboot_for;
        st.phase_mut(VERIFY).status = Status::Pending;
        // Saved before the reboot is asked for: the next boot must know it was ours.
        self.save(st, saved)?;
        log::info!(
            "{} (reboot {} of at most {max}) for: {}",
            if self.host.mode() == Mode::Plan {
                "a reboot would follow"
            } else {
                "rebooting"
            },
            st.reboots,
            st.reboot_for.join(", ")
        );
        let before = self.host.commands_len();
        self.host.run_ok(&Cmd::new("systemctl").arg("reboot"))?;
        runs.push(PhaseRun {
            commands: self.host.commands()[before..].to_vec(),
            ..pending
        });
        Ok(Outcome::RebootRequested)
    }

    /// The final step: each finished phase's own checks, now that its changes are live.
    fn verify(
        &self,
        st: &mut State,
        saved: &mut State,
        boot: &str,
        runs: &mut Vec<PhaseRun>,
    ) -> Result<()> {
        let prev = st.phase(VERIFY).cloned().unwrap_or_default();
        if self.mode == RunMode::Resume && matches!(prev.status, Status::Done | Status::Failed) {
            runs.push(PhaseRun {
                id: VERIFY.into(),
                status: prev.status,
                reason: prev.reason,
                changes: Vec::new(),
                results: prev.results,
                commands: Vec::new(),
                files: Vec::new(),
                reboot: None,
                ran: false,
            });
            return Ok(());
        }
        {
            let v = st.phase_mut(VERIFY);
            v.status = Status::Running;
            v.attempts += 1;
            v.started = Some(state::now_utc());
            v.boot_id = boot.to_string();
            v.reason = None;
        }
        self.save(st, saved)?;
        log::info!("phase {VERIFY}: starting");
        let mut results = Vec::new();
        let mut failures = Vec::new();
        {
            // The management network first: mended if the boot left it broken, and
            // judged before any phase's own checks (which may need it).
            let mut cx = Cx::new(self.host, self.answer, st, VERIFY, false, self.persist());
            let res = crate::phases::network::ensure_management(&mut cx);
            results.extend(cx.results.iter().map(|r| format!("host: {r}")));
            if let Err(e) = res {
                if e.is_crash() {
                    return Err(e);
                }
                failures.push(format!("host: {e}"));
            }
        }
        for phase in &self.phases {
            if st
                .phase(phase.id())
                .is_none_or(|p| p.status != Status::Done)
            {
                continue;
            }
            let mut cx = Cx::new(
                self.host,
                self.answer,
                st,
                phase.id(),
                false,
                self.persist(),
            );
            let res = phase.verify(&mut cx);
            results.extend(cx.results.iter().map(|r| format!("{}: {r}", phase.id())));
            if let Err(e) = res {
                if e.is_crash() {
                    return Err(e);
                }
                failures.push(format!("{}: {e}", phase.id()));
            }
        }
        let v = st.phase_mut(VERIFY);
        v.finished = Some(state::now_utc());
        v.results = results.clone();
        if failures.is_empty() {
            v.status = Status::Done;
            log::info!("phase {VERIFY}: done");
        } else {
            v.status = Status::Failed;
            v.reason = Some(failures.join("; "));
            log::error!("phase {VERIFY}: failed: {}", failures.join("; "));
        }
        runs.push(PhaseRun {
            id: VERIFY.into(),
            status: v.status,
            reason: v.reason.clone(),
            changes: Vec::new(),
            results,
            commands: Vec::new(),
            files: Vec::new(),
            reboot: None,
            ran: true,
        });
        self.save(st, saved)
    }
}

/// A dependency that was skipped because *its* dependency failed (not merely unconfigured).
fn dep_skipped(st: &State, dep: &str) -> bool {
    st.phase(dep).is_some_and(|p| {
        p.status == Status::Skipped
            && p.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("needs the "))
    })
}
