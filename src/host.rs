//! The one boundary to the host: every file read or write, every command, every /sys or
//! /proc read of the agent goes through [`Host`].
//!
//! Three modes share the same phase code:
//! - **live** (`run` on a Proxmox host): paths are the host's, commands really run;
//! - **rooted** (`apply --root DIR`): every path is taken under DIR, symlinks are resolved
//!   inside DIR and can never lead out of it, and commands are *recorded* (appended,
//!   shell-quoted, to `DIR/var/lib/pve-firstboot/commands.log`) instead of run;
//! - **plan**: like live or rooted for reads, but writes go to an in-memory overlay (later
//!   reads see them, the disk never does) and commands are only collected, so `plan` can
//!   show diffs and commands of a whole run without changing anything.
//!
//! Writes are atomic (temp file, fsync, rename, fsync of the directory) so that a power cut
//! leaves either the old or the new file, never half of one.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;

use crate::error::{Context, Error, Result};

pub const STATE_DIR: &str = "/var/lib/pve-firstboot";
pub const COMMANDS_LOG: &str = "/var/lib/pve-firstboot/commands.log";

/// An external command. Secrets go on stdin, never into `args` or `env`.
#[derive(Clone, Debug)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
}

impl Cmd {
    pub fn new(program: &str) -> Self {
        Cmd {
            program: program.to_string(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
        }
    }
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, a: I) -> Self {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    /// Data for the command's stdin; it is never logged or recorded, only its size.
    pub fn stdin(mut self, data: Vec<u8>) -> Self {
        self.stdin = Some(data);
        self
    }
}

/// Quote a word for a POSIX shell, leaving plain words readable.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut words: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(v)))
            .collect();
        words.push(shell_quote(&self.program));
        words.extend(self.args.iter().map(|a| shell_quote(a)));
        write!(f, "{}", words.join(" "))?;
        if let Some(d) = &self.stdin {
            write!(f, " # {} bytes on stdin, not recorded", d.len())?;
        }
        Ok(())
    }
}

/// What a command did. A recorded (not run) command succeeds with empty output.
#[derive(Clone, Debug, Default)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub recorded: bool,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Live,
    Rooted,
    Plan,
}

/// Plan mode's pending writes: resolved path -> (content, mode), or `None` for removed.
pub type Overlay = BTreeMap<PathBuf, Option<(Vec<u8>, u32)>>;

pub struct Host {
    root: PathBuf,
    mode: Mode,
    overlay: RefCell<Overlay>,
    /// Commands run or recorded by this process, in order.
    commands: RefCell<Vec<String>>,
    /// Crash tests: mutating steps left before a simulated power cut.
    budget: Cell<Option<u64>>,
    crashed: Cell<bool>,
    /// A command has run, or a file of `/etc/pve` was written, since the file systems were
    /// last synced (see [`Host::settle`]).
    unsettled: Cell<bool>,
}

impl Host {
    pub fn live() -> Self {
        Self::new(PathBuf::from("/"), Mode::Live)
    }
    pub fn rooted(root: &Path) -> Self {
        Self::new(root.to_path_buf(), Mode::Rooted)
    }
    /// Reads from `root` (or `/`), writes nowhere.
    pub fn plan(root: Option<&Path>) -> Self {
        Self::new(
            root.map_or_else(|| PathBuf::from("/"), Path::to_path_buf),
            Mode::Plan,
        )
    }
    fn new(root: PathBuf, mode: Mode) -> Self {
        Host {
            root,
            mode,
            overlay: RefCell::default(),
            commands: RefCell::default(),
            budget: Cell::new(None),
            crashed: Cell::new(false),
            unsettled: Cell::new(false),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }
    pub fn is_live(&self) -> bool {
        self.mode == Mode::Live
    }
    /// `--root DIR`, or `/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Simulate a power cut after `n` more mutating steps (writes, removals, commands).
    /// From now on this thread's writes are tracked, and the cut loses those not yet
    /// durable (see [`durability`]).
    pub fn crash_after(&self, n: u64) {
        self.budget.set(Some(n));
        // Alternate the two ways a cut can treat renames not yet synced (see durability).
        durability::track(n % 2 == 1);
    }

    /// Steps left before the simulated power cut, if one is armed.
    pub fn budget_left(&self) -> Option<u64> {
        self.budget.get()
    }

    /// Count one mutating step; fail once the crash budget is spent.
    fn step(&self) -> Result<()> {
        if self.crashed.get() {
            return Err(Error::crash());
        }
        if let Some(n) = self.budget.get() {
            if n == 0 {
                self.crashed.set(true);
                // What the power cut takes with it: every write not yet made durable.
                durability::power_cut();
                return Err(Error::crash());
            }
            self.budget.set(Some(n - 1));
        }
        Ok(())
    }

    /// Where a host path really is. Live: the path itself. Rooted and plan-with-root:
    /// under the root, with every symlink resolved inside it (an absolute link target
    /// starts again at the root; `..` stops at the root), so nothing can escape DIR.
    /// `follow_last`: resolve a symlink in the final component too.
    pub fn resolve(&self, path: &str, follow_last: bool) -> Result<PathBuf> {
        if !path.starts_with('/') {
            return Err(Error::msg(format!("{path}: not an absolute path")));
        }
        if self.root == Path::new("/") {
            return Ok(PathBuf::from(path));
        }
        let mut todo: Vec<String> = comps(path);
        todo.reverse();
        let mut out = self.root.clone();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            if c == ".." {
                if out != self.root {
                    out.pop();
                }
                continue;
            }
            let cand = out.join(&c);
            let last = todo.is_empty();
            let link = if last && !follow_last {
                None
            } else {
                fs::symlink_metadata(&cand)
                    .ok()
                    .filter(|m| m.file_type().is_symlink())
                    .and_then(|_| fs::read_link(&cand).ok())
            };
            match link {
                Some(target) => {
                    hops += 1;
                    if hops > 40 {
                        return Err(Error::msg(format!(
                            "{path}: too many levels of symbolic links"
                        )));
                    }
                    let t = target.to_string_lossy().into_owned();
                    if t.starts_with('/') {
                        out = self.root.clone();
                    }
                    let mut more = comps(&t);
                    more.reverse();
                    todo.extend(more);
                }
                None => out = cand,
            }
        }
        Ok(out)
    }

    fn overlay_get(&self, p: &Path) -> Option<Option<(Vec<u8>, u32)>> {
        self.overlay.borrow().get(p).cloned()
    }

    /// The content of a file, `None` if it does not exist.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let p = self.resolve(path, true)?;
        if let Some(o) = self.overlay_get(&p) {
            return Ok(o.map(|(d, _)| d));
        }
        match fs::read(&p) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::from(e).context(format!("reading {path}"))),
        }
    }

    /// [`Host::read`] for a file that must be small (an answer, a hook): see
    /// [`read_capped`].
    pub fn read_capped(&self, path: &str, max: u64) -> Result<Option<Vec<u8>>> {
        let p = self.resolve(path, true)?;
        if let Some(o) = self.overlay_get(&p) {
            return Ok(o.map(|(d, _)| d));
        }
        match fs::symlink_metadata(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            _ => read_capped(&p, max)
                .map(Some)
                .map_err(|e| e.context(format!("reading {path}"))),
        }
    }

    /// A text file, `None` if it does not exist. Stray non-UTF-8 bytes survive: see
    /// [`decode_text`]; write the text back through [`encode_text`].
    pub fn read_text(&self, path: &str) -> Result<Option<String>> {
        Ok(self.read(path)?.map(|d| decode_text(&d)))
    }

    pub fn exists(&self, path: &str) -> bool {
        let Ok(p) = self.resolve(path, true) else {
            return false;
        };
        match self.overlay_get(&p) {
            Some(o) => o.is_some(),
            None => p.exists(),
        }
    }

    /// The size of a regular file (not through a final symlink), if there is one.
    pub fn file_size(&self, path: &str) -> Option<u64> {
        let p = self.resolve(path, false).ok()?;
        fs::symlink_metadata(p)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    }

    /// Permission bits of a file, if it exists.
    pub fn file_mode(&self, path: &str) -> Result<Option<u32>> {
        let p = self.resolve(path, true)?;
        if let Some(o) = self.overlay_get(&p) {
            return Ok(o.map(|(_, m)| m));
        }
        match fs::metadata(&p) {
            Ok(m) => Ok(Some(m.permissions().mode() & 0o7777)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::from(e).context(format!("reading {path}"))),
        }
    }

    /// The target of a symlink as written (for /sys links such as `driver`), without
    /// following it.
    pub fn read_link(&self, path: &str) -> Result<Option<String>> {
        let p = self.resolve(path, false)?;
        match fs::read_link(&p) {
            Ok(t) => Ok(Some(t.to_string_lossy().into_owned())),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidInput
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(Error::from(e).context(format!("reading link {path}"))),
        }
    }

    /// Names in a directory, sorted; empty if it does not exist.
    pub fn list_dir(&self, path: &str) -> Result<Vec<String>> {
        let p = self.resolve(path, true)?;
        let mut names = Vec::new();
        match fs::read_dir(&p) {
            Ok(rd) => {
                for e in rd {
                    let e = e.ctx(|| format!("listing {path}"))?;
                    names.push(e.file_name().to_string_lossy().into_owned());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::from(e).context(format!("listing {path}"))),
        }
        for (k, v) in self.overlay.borrow().iter() {
            if k.parent() == Some(p.as_path()) {
                let name = k
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                match v {
                    Some(_) if !names.contains(&name) => names.push(name),
                    None => names.retain(|n| *n != name),
                    _ => {}
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// Make `path` hold exactly `data` with permission bits `mode`. Returns whether
    /// anything changed; an identical file is left alone (not even its mtime changes).
    pub fn write(&self, path: &str, data: &[u8], mode: u32) -> Result<bool> {
        let p = self.resolve(path, true)?;
        let same_data = self.read(path)?.is_some_and(|d| d == data);
        let same_mode = self.file_mode(path)? == Some(mode);
        if same_data && same_mode {
            return Ok(false);
        }
        if self.mode == Mode::Plan {
            self.overlay
                .borrow_mut()
                .insert(p, Some((data.to_vec(), mode)));
            return Ok(true);
        }
        self.step()?;
        self.settle()?;
        if same_data {
            fs::set_permissions(&p, fs::Permissions::from_mode(mode))
                .ctx(|| format!("setting the mode of {path}"))?;
            return Ok(true);
        }
        if on_pmxcfs(path) {
            durability::fsync_ignored(&p);
        }
        atomic_write(&p, data, mode).ctx(|| format!("writing {path}"))?;
        if on_pmxcfs(path) {
            self.unsettled.set(true);
        }
        Ok(true)
    }

    /// Remove a file; returns whether it existed.
    pub fn remove(&self, path: &str) -> Result<bool> {
        let p = self.resolve(path, false)?;
        if !self.exists(path) && fs::symlink_metadata(&p).is_err() {
            return Ok(false);
        }
        if self.mode == Mode::Plan {
            self.overlay.borrow_mut().insert(p, None);
            return Ok(true);
        }
        self.step()?;
        self.settle()?;
        fs::remove_file(&p).ctx(|| format!("removing {path}"))?;
        if let Some(dir) = p.parent() {
            sync_dir(dir).ctx(|| format!("syncing the directory of {path}"))?;
        }
        if on_pmxcfs(path) {
            self.unsettled.set(true);
        }
        Ok(true)
    }

    /// Run a command (live), or record it (rooted, plan).
    pub fn run(&self, cmd: &Cmd) -> Result<Output> {
        let line = cmd.to_string();
        match self.mode {
            Mode::Plan => {
                self.commands.borrow_mut().push(line);
                Ok(Output {
                    code: Some(0),
                    recorded: true,
                    ..Output::default()
                })
            }
            Mode::Rooted => {
                self.step()?;
                self.record_in_log(&line)?;
                self.commands.borrow_mut().push(line);
                Ok(Output {
                    code: Some(0),
                    recorded: true,
                    ..Output::default()
                })
            }
            Mode::Live => {
                self.step()?;
                log::info!("running: {line}");
                self.commands.borrow_mut().push(line.clone());
                self.unsettled.set(true);
                run_process(cmd).ctx(|| format!("running `{line}`"))
            }
        }
    }

    /// Run a command for real under `--root` too (live: as [`Host::run`]; plan: refused):
    /// only for commands that read the tree and write inside it, whose every path the
    /// caller resolved with [`Host::resolve`] (`host-archive`'s sqlite3 and tar), so that
    /// with `--root DIR` everything stays inside DIR and the result can be checked.
    pub fn run_in_tree(&self, cmd: &Cmd) -> Result<Output> {
        if self.mode == Mode::Plan {
            return Err(Error::msg(format!(
                "`{cmd}` would run (plan changes nothing)"
            )));
        }
        self.step()?;
        log::info!("running: {cmd}");
        self.commands.borrow_mut().push(cmd.to_string());
        self.unsettled.set(true);
        run_process(cmd).ctx(|| format!("running `{cmd}`"))
    }

    /// `path` as a directory only its owner reads: made (0700) when missing, refused when
    /// it is a symlink or something else than a directory (on a share, another client may
    /// have planted one). Returns where it really is.
    pub fn private_dir(&self, path: &str) -> Result<PathBuf> {
        let p = self.resolve(path, false)?;
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => Ok(p),
            Ok(_) => Err(Error::msg(format!(
                "{path} is not a directory (a symlink or a file is there); remove it"
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.step()?;
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&p)
                    .ctx(|| format!("creating {path}"))?;
                Ok(p)
            }
            Err(e) => Err(Error::msg(format!("{path}: {e}"))),
        }
    }

    /// Move a finished file (`from`, in a private work directory beside `to`) to the new
    /// name `to`, never over something already there and never through a symlink:
    /// `renameat2(RENAME_NOREPLACE)`, or where the file system lacks it (some NFS and CIFS
    /// servers: EINVAL), a hard link and the work file's removal. The file's data is
    /// synced first: another program wrote it (tar), and a rename to a new name may reach
    /// the disk before the data (ext4 flushes early only on a rename over a file), which
    /// after a power cut would leave an empty archive under a good name.
    pub fn rename_new(&self, from: &Path, to: &str) -> Result<()> {
        let t = self.resolve(to, false)?;
        self.step()?;
        fs::File::open(from)
            .and_then(|f| sync_file(&f, from))
            .ctx(|| format!("syncing {}", from.display()))?;
        durability::renaming(from, &t);
        let r = nix::fcntl::renameat2(
            None,
            from,
            None,
            &t,
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        );
        match r {
            Ok(()) => {}
            Err(nix::errno::Errno::EINVAL) => {
                fs::hard_link(from, &t).ctx(|| format!("linking {to}"))?;
                fs::remove_file(from).ctx(|| format!("removing {}", from.display()))?;
            }
            Err(e) => return Err(Error::msg(format!("moving the archive to {to}: {e}"))),
        }
        if let Some(dir) = t.parent() {
            sync_dir(dir).ctx(|| format!("syncing the directory of {to}"))?;
        }
        Ok(())
    }

    /// Start a command whose input and output the caller streams (the HAOS download:
    /// curl, a SHA-256 tap, xz). Live mode only; elsewhere use [`Host::record`].
    pub fn spawn(&self, cmd: &Cmd, stdin: Stdio, stdout: Stdio) -> Result<std::process::Child> {
        if self.mode != Mode::Live {
            return Err(Error::msg(format!(
                "`{cmd}`: streaming commands only run on a live host"
            )));
        }
        self.step()?;
        log::info!("running: {cmd}");
        self.commands.borrow_mut().push(cmd.to_string());
        std::process::Command::new(&cmd.program)
            .args(&cmd.args)
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .ctx(|| format!("starting `{cmd}`"))
    }

    /// Under --root and in plan mode: record a pipeline that a live host would run
    /// (written as the shell would, e.g. `curl ... | xz -dc > FILE`).
    pub fn record(&self, line: &str) -> Result<()> {
        match self.mode {
            Mode::Live => Err(Error::msg("record() is for --root and plan mode")),
            Mode::Plan => {
                self.commands.borrow_mut().push(line.to_string());
                Ok(())
            }
            Mode::Rooted => {
                self.step()?;
                self.record_in_log(line)?;
                self.commands.borrow_mut().push(line.to_string());
                Ok(())
            }
        }
    }

    /// Under `--root`: append a command to [`COMMANDS_LOG`], where the power-cut model
    /// sees it as a command whose effects are not yet on disk.
    fn record_in_log(&self, line: &str) -> Result<()> {
        let log = self.resolve(COMMANDS_LOG, true)?;
        durability::command_recorded(&log);
        append_line(&log, line).ctx(|| format!("recording a command in {COMMANDS_LOG}"))?;
        self.unsettled.set(true);
        Ok(())
    }

    /// Make what the commands run so far wrote durable before a file of ours (the state
    /// above all) can say they ran. Proxmox's tools do not sync: pmxcfs keeps `/etc/pve` in
    /// SQLite with `journal_mode=WAL` and `synchronous=NORMAL` (pve-cluster
    /// `src/pmxcfs/database.c`), so a `qm set` that returned may still be lost to a power
    /// cut, and `systemctl enable`'s links are plain writes. Our own writes to `/etc/pve`
    /// are no better: pmxcfs has no `fsync` (its `fuse_operations` in `pmxcfs.c`), so ours
    /// is a no-op there. Without this the state could record `qm set --onboot 1` as done
    /// while the cut took the change with it: seen in the test boots' power-cut run. Live, `syncfs(2)` on each file system those commands
    /// write to (not `sync(2)`, which would wait on an NFS storage's dirty data too); under
    /// `--root`, the power-cut model's mark.
    fn settle(&self) -> Result<()> {
        if !self.unsettled.replace(false) {
            return Ok(());
        }
        if self.mode != Mode::Live {
            durability::settled();
            return Ok(());
        }
        let mut seen = Vec::new();
        for dir in [
            "/",
            "/etc",
            "/var/lib/pve-cluster",
            STATE_DIR,
            "/boot",
            "/boot/efi",
        ] {
            let Ok(f) = fs::File::open(dir) else {
                continue;
            };
            let dev = f
                .metadata()
                .map(|m| std::os::unix::fs::MetadataExt::dev(&m));
            if dev.as_ref().is_ok_and(|d| seen.contains(d)) {
                continue;
            }
            seen.extend(dev.ok());
            log::debug!("syncing the file system of {dir}");
            nix::unistd::syncfs(std::os::fd::AsRawFd::as_raw_fd(&f))
                .map_err(|e| Error::msg(format!("syncing the file system of {dir}: {e}")))?;
        }
        Ok(())
    }

    /// Run a command that only reads (e.g. `dmesg`), for its output. Under `--root` and in
    /// plan mode it is neither run nor recorded, since it changes nothing: the result says
    /// `recorded` and has no output, and callers treat that as "not known here".
    pub fn query(&self, cmd: &Cmd) -> Result<Output> {
        if self.mode != Mode::Live {
            return Ok(Output {
                code: Some(0),
                recorded: true,
                ..Output::default()
            });
        }
        log::debug!("reading: {cmd}");
        run_process(cmd).ctx(|| format!("running `{cmd}`"))
    }

    /// Run a command and fail unless it exits 0, with the end of its stderr in the error.
    pub fn run_ok(&self, cmd: &Cmd) -> Result<Output> {
        let out = self.run(cmd)?;
        if !out.success() {
            let tail: Vec<&str> = out.stderr.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(Error::msg(format!(
                "`{cmd}` failed ({}){}{}",
                out.code
                    .map_or("killed by a signal".into(), |c| format!("exit {c}")),
                if tail.is_empty() { "" } else { ": " },
                tail.join(" / ")
            )));
        }
        Ok(out)
    }

    /// Commands run or recorded so far by this process.
    pub fn commands(&self) -> Vec<String> {
        self.commands.borrow().clone()
    }
    pub fn commands_len(&self) -> usize {
        self.commands.borrow().len()
    }

    /// Plan mode: every path written or removed so far, with its new content.
    pub fn overlay(&self) -> Overlay {
        self.overlay.borrow().clone()
    }

    /// The host path of a resolved path (for messages in plan output).
    pub fn display_path(&self, p: &Path) -> String {
        match p.strip_prefix(&self.root) {
            Ok(rel) if self.root != Path::new("/") => format!("/{}", rel.display()),
            _ => p.display().to_string(),
        }
    }

    /// The kernel's boot ID: a new one after every boot, which is how the engine tells a
    /// reboot happened. Empty when the tree has none (a scratch root).
    pub fn boot_id(&self) -> String {
        self.read_text("/proc/sys/kernel/random/boot_id")
            .ok()
            .flatten()
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }

    /// An exclusive lock on the state directory, held until the returned file is dropped.
    /// `Ok(None)` in plan mode, which writes nothing.
    pub fn lock(&self) -> Result<Option<nix::fcntl::Flock<fs::File>>> {
        if self.mode == Mode::Plan {
            return Ok(None);
        }
        let dir = self.resolve(STATE_DIR, true)?;
        fs::create_dir_all(&dir).ctx(|| format!("creating {STATE_DIR}"))?;
        let lock = self.resolve(&format!("{STATE_DIR}/lock"), true)?;
        // Resolved like every path, so a symlink planted as `lock` under --root leads no
        // further than the root; O_NOFOLLOW in case one appears after that.
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(crate::tempdir::o_nofollow())
            .open(lock)
            .ctx(|| format!("opening {STATE_DIR}/lock"))?;
        match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(l) => Ok(Some(l)),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(Error::msg(format!(
                "another pve-firstboot is running (lock {STATE_DIR}/lock is held)"
            ))),
            Err((_, e)) => Err(Error::msg(format!("locking {STATE_DIR}/lock: {e}"))),
        }
    }
}

/// Where [`decode_text`] puts a byte it cannot read as UTF-8: U+10FF00 + the byte, in a
/// private-use plane nothing we write uses.
const RAW_BYTE_BASE: u32 = 0x10_FF00;

/// Bytes as text without loss: valid UTF-8 as it is; every other byte (a Latin-1 comment
/// in /etc/hosts, say) as a stand-in character that [`encode_text`] turns back into that
/// byte. (A lossy decoding would write U+FFFD over them when a phase rewrites the file.)
/// A stand-in character that is really in the file is itself taken byte by byte, so the
/// round trip is exact for every input.
pub fn decode_text(b: &[u8]) -> String {
    let raw = |out: &mut String, bytes: &[u8]| {
        out.extend(
            bytes
                .iter()
                .filter_map(|&x| char::from_u32(RAW_BYTE_BASE + u32::from(x))),
        )
    };
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        for (i, ch) in chunk.valid().char_indices() {
            if (ch as u32) >= RAW_BYTE_BASE + 0x80 {
                raw(&mut out, &chunk.valid().as_bytes()[i..i + ch.len_utf8()]);
            } else {
                out.push(ch);
            }
        }
        raw(&mut out, chunk.invalid());
    }
    out
}

/// The bytes of text from [`decode_text`], stand-ins turned back into their bytes.
pub fn encode_text(s: &str) -> std::borrow::Cow<'_, [u8]> {
    let is_raw = |c: char| (c as u32) >= RAW_BYTE_BASE + 0x80;
    if !s.chars().any(is_raw) {
        return std::borrow::Cow::Borrowed(s.as_bytes());
    }
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        if is_raw(c) {
            out.push((c as u32 - RAW_BYTE_BASE) as u8);
        } else {
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Answers and hooks are small (a hook is at most 1 MiB): more is not one of ours.
pub const MAX_ANSWER_BYTES: u64 = 2 << 20;

/// Read a file that must be small, bounded before it is read: a regular file only (a
/// character device such as /dev/zero never ends, a FIFO may never start), its size
/// from the metadata, then a read of at most `max` bytes (in case it grows meanwhile).
pub fn read_capped(p: &Path, max: u64) -> Result<Vec<u8>> {
    let m = fs::metadata(p)?;
    let ft = m.file_type();
    if !ft.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_fifo() {
            "a FIFO"
        } else {
            "not a plain file"
        };
        return Err(Error::msg(format!("{what}, not a regular file")));
    }
    let too_big = |n: u64| {
        Error::msg(format!(
            "{n} bytes or more; at most {max} are read (this is not an answer file)"
        ))
    };
    if m.len() > max {
        return Err(too_big(m.len()));
    }
    // O_NONBLOCK: should a FIFO have replaced the file since, the open does not hang.
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(p)?;
    let mut data = Vec::with_capacity(m.len() as usize);
    f.take(max + 1).read_to_end(&mut data)?;
    if data.len() as u64 > max {
        return Err(too_big(data.len() as u64));
    }
    Ok(data)
}

fn comps(p: &str) -> Vec<String> {
    Path::new(p)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()?;
    durability::dir_synced(dir);
    Ok(())
}

/// fsync a file's data and metadata (and tell the power-cut model so).
fn sync_file(f: &fs::File, path: &Path) -> std::io::Result<()> {
    f.sync_all()?;
    durability::file_synced(path);
    Ok(())
}

/// The power-cut model of the crash tests. A write survives a power cut only once its
/// data was fsynced before the rename and the directory was fsynced after it (on ext4 with
/// `data=ordered` a rename may reach the disk before the data, leaving an empty file; on any
/// file system the rename itself may be lost until the directory is synced). While
/// tracking (armed by [`Host::crash_after`], per thread), every `atomic_write` is recorded;
/// at the cut, those not yet durable are undone: the previous content comes back (or the
/// file goes), or — renamed but its data never synced — the file is left empty. Renames
/// whose directory was never synced reach the disk in no particular order, so the cut either
/// loses all of them or (the harsher case, armed on odd cut points) keeps those in the
/// directory written last — typically the agent's state, now ahead of the files it speaks
/// of. Commands recorded under `--root` since the file systems were last synced
/// ([`Host::settle`]) are dropped from the commands log at the cut, as their effects would
/// be, and a file of `/etc/pve` written since then comes back as it was (pmxcfs ignores
/// fsync). So a missing fsync makes a crash test fail instead of passing unseen.
pub mod durability {
    use std::cell::RefCell;
    use std::fs;
    use std::path::{Path, PathBuf};

    struct Pending {
        path: PathBuf,
        before: Option<Vec<u8>>,
        data_synced: bool,
        dir_synced: bool,
        /// On pmxcfs: durable only once the file systems are synced.
        until_settled: bool,
    }

    #[derive(Default)]
    struct Tracker {
        on: bool,
        keep_last_dir: bool,
        synced_temps: Vec<PathBuf>,
        pending: Vec<Pending>,
        /// Files about to be written where fsync does nothing (pmxcfs).
        fsync_ignored: Vec<PathBuf>,
        /// The commands log and its length when the commands last became durable: the
        /// commands recorded after that are lost at a cut, as their effects would be.
        unsettled_log: Option<(PathBuf, u64)>,
    }

    thread_local! {
        static T: RefCell<Tracker> = RefCell::default();
    }

    pub(super) fn track(keep_last_dir: bool) {
        T.with(|t| {
            *t.borrow_mut() = Tracker {
                on: true,
                keep_last_dir,
                ..Tracker::default()
            }
        });
    }

    pub(super) fn file_synced(path: &Path) {
        T.with(|t| {
            let mut t = t.borrow_mut();
            if t.on {
                t.synced_temps.push(path.to_path_buf());
            }
        });
    }

    /// `target` is about to be written on a file system that ignores fsync (pmxcfs).
    pub(super) fn fsync_ignored(target: &Path) {
        T.with(|t| {
            let mut t = t.borrow_mut();
            if t.on {
                t.fsync_ignored.push(target.to_path_buf());
            }
        });
    }

    /// A command is about to be recorded in `log`.
    pub(super) fn command_recorded(log: &Path) {
        T.with(|t| {
            let mut t = t.borrow_mut();
            if t.on && t.unsettled_log.is_none() {
                let len = fs::metadata(log).map_or(0, |m| m.len());
                t.unsettled_log = Some((log.to_path_buf(), len));
            }
        });
    }

    /// The file systems were synced: every command so far has its effects on disk, and
    /// every file written to pmxcfs is there too.
    pub(super) fn settled() {
        T.with(|t| {
            let mut t = t.borrow_mut();
            t.unsettled_log = None;
            for p in t.pending.iter_mut() {
                p.until_settled = false;
            }
            t.pending.retain(|p| !(p.data_synced && p.dir_synced));
        });
    }

    /// `tmp` is about to be renamed over `target`.
    pub(super) fn renaming(tmp: &Path, target: &Path) {
        T.with(|t| {
            let mut t = t.borrow_mut();
            if !t.on {
                return;
            }
            let data_synced = t.synced_temps.iter().any(|p| p == tmp);
            t.synced_temps.retain(|p| p != tmp);
            let until_settled = t.fsync_ignored.iter().any(|p| p == target);
            t.fsync_ignored.retain(|p| p != target);
            let before = fs::read(target).ok();
            t.pending.push(Pending {
                path: target.to_path_buf(),
                before,
                data_synced,
                dir_synced: false,
                until_settled,
            });
        });
    }

    pub(super) fn dir_synced(dir: &Path) {
        T.with(|t| {
            let mut t = t.borrow_mut();
            if !t.on {
                return;
            }
            for p in t.pending.iter_mut() {
                if p.path.parent() == Some(dir) {
                    p.dir_synced = true;
                }
            }
            t.pending
                .retain(|p| !(p.data_synced && p.dir_synced && !p.until_settled));
        });
    }

    /// Undo what the cut takes: writes not yet durable, newest first.
    pub(super) fn power_cut() {
        let t = T.with(|t| std::mem::take(&mut *t.borrow_mut()));
        if let Some((log, len)) = &t.unsettled_log {
            let _ = fs::OpenOptions::new()
                .write(true)
                .open(log)
                .and_then(|f| f.set_len(*len));
        }
        let last_dir = t
            .pending
            .last()
            .and_then(|p| p.path.parent().map(Path::to_path_buf));
        for p in t.pending.into_iter().rev() {
            let kept = t.keep_last_dir
                && p.data_synced
                && !p.until_settled
                && p.path.parent() == last_dir.as_deref();
            if kept {
                continue;
            }
            // A pmxcfs file not yet synced is lost whole: the database has the old one.
            let _ = match (p.dir_synced && !p.until_settled, &p.before) {
                (true, _) => fs::write(&p.path, b""),
                (false, Some(b)) => fs::write(&p.path, b),
                (false, None) => fs::remove_file(&p.path),
            };
        }
    }
}

/// Whether a path is on pmxcfs, whose files our fsync cannot make durable (see
/// [`Host::settle`]).
fn on_pmxcfs(path: &str) -> bool {
    path.starts_with("/etc/pve/")
}

/// Temp file in the same directory, fsync, rename over the target, fsync the directory.
///
/// The temp file is new (`O_EXCL|O_NOFOLLOW`, a name not used before by this process):
/// a file or symlink someone planted in the directory (under `--root`, or a directory
/// another user can write, as for `hook -o`) is never opened, so nothing outside is
/// written. rename() replaces a symlink at `p` itself rather than following it. On any
/// failure the temp file is removed.
pub fn atomic_write(p: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    // A bare file name has the empty path as parent: that is the current directory.
    let dir = match p.parent() {
        Some(d) if d.as_os_str().is_empty() => Path::new("."),
        Some(d) => d,
        None => Path::new("/"),
    };
    fs::create_dir_all(dir)?;
    let name = p.file_name().unwrap_or_default().to_string_lossy();
    let (tmp, mut f) = new_temp(dir, &name)?;
    let res = (|| {
        f.write_all(data)?;
        // Only now the final mode: nobody else could read the data while it was written.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        sync_file(&f, &tmp)?;
        drop(f);
        durability::renaming(&tmp, p);
        fs::rename(&tmp, p)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res?;
    sync_dir(dir)
}

/// `DIR/.NAME.<pid>.<n>.pve-firstboot.tmp`, created exclusively with mode 0600, trying the
/// next `n` when one exists.
fn new_temp(dir: &Path, name: &str) -> std::io::Result<(PathBuf, fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut tries = 0;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(
            ".{name}.{}.{n}.pve-firstboot.tmp",
            std::process::id()
        ));
        match crate::tempdir::create_new(&tmp, 0o600) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 100 => {
                tries += 1;
            }
            r => return r.map(|f| (tmp, f)),
        }
    }
}

fn append_line(p: &Path, line: &str) -> std::io::Result<()> {
    if let Some(dir) = p.parent() {
        fs::create_dir_all(dir)?;
    }
    // O_NOFOLLOW: the log is resolved like every path, but a symlink planted as its last
    // component must not be followed out of the root.
    let mut f = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(crate::tempdir::o_nofollow())
        .open(p)?;
    f.write_all(format!("{line}\n").as_bytes())?;
    f.sync_all()
}

fn run_process(cmd: &Cmd) -> Result<Output> {
    let mut c = std::process::Command::new(&cmd.program);
    c.args(&cmd.args)
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .stdin(if cmd.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn()?;
    if let (Some(data), Some(mut sin)) = (&cmd.stdin, child.stdin.take()) {
        sin.write_all(data)?;
    }
    // Read both pipes to the end without deadlocking on a full one: stderr on a thread.
    let mut err_pipe = child.stderr.take();
    let err_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(p) = err_pipe.as_mut() {
            let _ = p.read_to_end(&mut s);
        }
        s
    });
    let mut out = Vec::new();
    if let Some(mut p) = child.stdout.take() {
        p.read_to_end(&mut out)?;
    }
    let status = child.wait()?;
    let err = err_thread.join().unwrap_or_default();
    Ok(Output {
        code: status.code(),
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
        recorded: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fresh directory in the temp directory, removed when the test ends, whether it
    /// passes or panics (the guard is dropped while unwinding).
    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    impl std::ops::Deref for Scratch {
        type Target = PathBuf;
        fn deref(&self) -> &PathBuf {
            &self.0
        }
    }

    fn scratch(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("pvefb-host-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }

    /// The cap is the most bytes allowed: a file of exactly that size is read, one byte
    /// more is refused.
    #[test]
    fn read_capped_allows_exactly_the_cap() {
        let r = scratch("capped");
        fs::write(r.join("f"), [7u8; 16]).unwrap();
        assert_eq!(read_capped(&r.join("f"), 16).unwrap().len(), 16);
        assert!(read_capped(&r.join("f"), 15).is_err());
    }

    #[test]
    fn symlinks_never_escape_the_root() {
        let r = scratch("escape");
        fs::create_dir_all(r.join("etc/pve/priv")).unwrap();
        fs::create_dir_all(r.join("root/.ssh")).unwrap();
        symlink(
            "/etc/pve/priv/authorized_keys",
            r.join("root/.ssh/authorized_keys"),
        )
        .unwrap();
        symlink("../../../../../../../../etc", r.join("up")).unwrap();
        let h = Host::rooted(&r);
        assert_eq!(
            h.resolve("/root/.ssh/authorized_keys", true).unwrap(),
            r.join("etc/pve/priv/authorized_keys")
        );
        assert_eq!(h.resolve("/up/passwd", true).unwrap(), r.join("etc/passwd"));
        assert_eq!(h.resolve("/../../etc", true).unwrap(), r.join("etc"));
        // Writing through the link lands inside the root.
        h.write("/root/.ssh/authorized_keys", b"k\n", 0o600)
            .unwrap();
        assert_eq!(
            fs::read(r.join("etc/pve/priv/authorized_keys")).unwrap(),
            b"k\n"
        );
        symlink("loop", r.join("loop")).unwrap();
        assert!(h.resolve("/loop", true).is_err());
    }

    #[test]
    fn writes_are_idempotent_and_commands_recorded() {
        let r = scratch("idem");
        let h = Host::rooted(&r);
        assert!(h.write("/etc/x.conf", b"a\n", 0o644).unwrap());
        assert!(!h.write("/etc/x.conf", b"a\n", 0o644).unwrap());
        assert!(h.write("/etc/x.conf", b"a\n", 0o600).unwrap());
        assert_eq!(h.file_mode("/etc/x.conf").unwrap(), Some(0o600));
        h.run(&Cmd::new("update-grub")).unwrap();
        h.run(
            &Cmd::new("chpasswd")
                .arg("-e")
                .stdin(b"root:secret".to_vec()),
        )
        .unwrap();
        let log = fs::read_to_string(r.join("var/lib/pve-firstboot/commands.log")).unwrap();
        assert_eq!(
            log,
            "update-grub\nchpasswd -e # 11 bytes on stdin, not recorded\n"
        );
        assert!(!log.contains("secret"));
    }

    #[test]
    fn plan_mode_writes_nothing_but_reads_its_own_writes() {
        let r = scratch("plan");
        fs::create_dir_all(r.join("etc")).unwrap();
        fs::write(r.join("etc/a"), "old\n").unwrap();
        let h = Host::plan(Some(&r));
        assert!(h.write("/etc/a", b"new\n", 0o644).unwrap());
        assert!(h.write("/etc/b", b"b\n", 0o644).unwrap());
        assert!(h.remove("/etc/a").unwrap());
        assert_eq!(h.read("/etc/b").unwrap().unwrap(), b"b\n");
        assert!(!h.exists("/etc/a"));
        assert_eq!(h.list_dir("/etc").unwrap(), vec!["b".to_string()]);
        h.run(&Cmd::new("reboot")).unwrap();
        assert_eq!(fs::read_to_string(r.join("etc/a")).unwrap(), "old\n");
        assert!(!r.join("etc/b").exists());
        assert!(!r.join("var").exists());
    }

    #[test]
    fn crash_budget_stops_every_later_step() {
        let r = scratch("crash");
        let h = Host::rooted(&r);
        h.crash_after(1);
        h.write("/a", b"1", 0o644).unwrap();
        assert!(h.write("/b", b"1", 0o644).unwrap_err().is_crash());
        assert!(h.run(&Cmd::new("true")).unwrap_err().is_crash());
        assert!(!r.join("b").exists());
    }

    /// The power-cut model's view of what Proxmox's tools write: a command's effects and a
    /// file of `/etc/pve` are lost at a cut until the next write of ours has synced them.
    #[test]
    fn a_cut_takes_what_no_write_has_synced_since() {
        let log = |r: &Path| fs::read_to_string(r.join("var/lib/pve-firstboot/commands.log"));
        // A command, then the cut: it never happened.
        let r = scratch("cut-command");
        let h = Host::rooted(&r);
        h.run(&Cmd::new("qm").args(["create", "100"])).unwrap();
        h.crash_after(1);
        h.run(&Cmd::new("qm").args(["set", "100", "--onboot", "1"]))
            .unwrap();
        assert!(
            h.write("/state", b"started\n", 0o600)
                .unwrap_err()
                .is_crash()
        );
        assert_eq!(log(&r).unwrap(), "qm create 100\n");
        // A command, then a write of ours: synced first, so the cut after keeps both.
        let r = scratch("cut-settled");
        let h = Host::rooted(&r);
        h.crash_after(2);
        h.run(&Cmd::new("qm").args(["set", "100", "--onboot", "1"]))
            .unwrap();
        h.write("/state", b"started\n", 0o600).unwrap();
        assert!(h.write("/other", b"x", 0o600).unwrap_err().is_crash());
        assert_eq!(log(&r).unwrap(), "qm set 100 --onboot 1\n");
        assert_eq!(fs::read(r.join("state")).unwrap(), b"started\n");
        // A file of /etc/pve (pmxcfs ignores fsync): lost whole until the next write.
        let r = scratch("cut-pmxcfs");
        fs::create_dir_all(r.join("etc/pve")).unwrap();
        fs::write(r.join("etc/pve/jobs.cfg"), "old\n").unwrap();
        let h = Host::rooted(&r);
        h.crash_after(1);
        h.write("/etc/pve/jobs.cfg", b"new\n", 0o640).unwrap();
        assert!(h.write("/state", b"done\n", 0o600).unwrap_err().is_crash());
        assert_eq!(fs::read(r.join("etc/pve/jobs.cfg")).unwrap(), b"old\n");
        let r = scratch("cut-pmxcfs-settled");
        fs::create_dir_all(r.join("etc/pve")).unwrap();
        let h = Host::rooted(&r);
        h.crash_after(2);
        h.write("/etc/pve/jobs.cfg", b"new\n", 0o640).unwrap();
        h.write("/state", b"done\n", 0o600).unwrap();
        assert!(h.write("/other", b"x", 0o600).unwrap_err().is_crash());
        assert_eq!(fs::read(r.join("etc/pve/jobs.cfg")).unwrap(), b"new\n");
    }

    /// A file another program wrote (tar's archive) keeps its data through a cut once it
    /// has its new name.
    #[test]
    fn a_moved_file_survives_a_cut() {
        let r = scratch("cut-moved");
        fs::create_dir_all(r.join("work")).unwrap();
        fs::write(r.join("work/archive"), "tar data").unwrap();
        let h = Host::rooted(&r);
        h.crash_after(1);
        h.rename_new(&r.join("work/archive"), "/archive.tar.gz")
            .unwrap();
        assert!(h.write("/x", b"x", 0o600).unwrap_err().is_crash());
        assert_eq!(fs::read(r.join("archive.tar.gz")).unwrap(), b"tar data");
    }

    #[test]
    fn text_round_trips_every_byte() {
        let mut all: Vec<u8> = (0..=255).collect();
        all.extend_from_slice("café \u{10FFFF} \u{10FF80} ok\n".as_bytes());
        all.extend_from_slice(b"\xf4\x8f\xbf"); // a cut-off 4-byte sequence
        let t = decode_text(&all);
        assert_eq!(&*encode_text(&t), &all[..]);
        assert!(t.contains("café"));
        assert_eq!(&*encode_text("plain"), b"plain");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a-b/c.d"), "a-b/c.d");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        let c = Cmd::new("qm")
            .args(["set", "100", "--tags", "a b"])
            .env("X", "1");
        assert_eq!(c.to_string(), "X=1 qm set 100 --tags 'a b'");
    }
}
