//! Work directories for the image tool, safe on a machine other users share.
//!
//! A predictable name (`/tmp/NAME.<pid>`) lets another user create it first, or plant a
//! symlink in it, and so read or replace what we put there (the agent we compress, the
//! answer with the root password). So: the directory comes from mkdtemp(3) (a random name,
//! created only if nothing is there, mode 0700, ours), files in it are created with
//! `O_CREAT|O_EXCL|O_NOFOLLOW`, and the directory goes when the guard is dropped, on every
//! return path. Ctrl-C, SIGTERM and SIGHUP only raise a flag ([`catch_interrupts`]), so that
//! the work stops at its next step and the guards still run.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Context, Error, Result};

/// A private directory, removed with everything in it when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// `DIR/PREFIX.XXXXXX`, made by mkdtemp(3).
    pub fn new_in(dir: &Path, prefix: &str) -> Result<Self> {
        let template = dir.join(format!("{prefix}.XXXXXX"));
        let path = nix::unistd::mkdtemp(&template).map_err(|e| {
            Error::msg(format!(
                "creating a work directory in {}: {e}",
                dir.display()
            ))
        })?;
        Ok(TempDir { path })
    }

    /// In `$TMPDIR` (or /tmp).
    pub fn new(prefix: &str) -> Result<Self> {
        Self::new_in(&std::env::temp_dir(), prefix)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new file `name` in the directory, never one that is already there (nor a symlink
    /// someone put there), with exactly the permission bits `mode`.
    pub fn create(&self, name: &str, mode: u32) -> Result<(PathBuf, File)> {
        let p = self.path.join(name);
        let f = create_new(&p, mode).ctx(|| format!("creating {}", p.display()))?;
        Ok((p, f))
    }

    /// [`TempDir::create`] and write `data`; returns the file's path.
    pub fn write(&self, name: &str, data: &[u8], mode: u32) -> Result<PathBuf> {
        let (p, mut f) = self.create(name, mode)?;
        f.write_all(data)
            .and_then(|()| f.sync_all())
            .ctx(|| format!("writing {}", p.display()))?;
        Ok(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Create `p` exclusively (`O_EXCL`: fails if anything, a symlink included, is there;
/// `O_NOFOLLOW` says the same for the last component) with permission bits `mode`, set
/// after creation because the umask may have narrowed them.
pub fn create_new(p: &Path, mode: u32) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(o_nofollow())
        // Never wider than the owner's at creation: set_permissions gives the rest.
        .mode(mode & 0o700)
        .open(p)?;
    // Only when there is a rest: pmxcfs (/etc/pve) refuses with EPERM every chmod but to the
    // mode it shows its files with (0640, 0600 under priv/), so a temp file made there with
    // 0600 must not be chmod-ed to 0600 again (pve-cluster `src/pmxcfs/pmxcfs.c`
    // cfs_fuse_chmod; found by the test boots, which run pmxcfs).
    if mode & !0o700 != 0 {
        f.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    Ok(f)
}

/// `O_NOFOLLOW`, from nix (no libc dependency of our own).
pub(crate) fn o_nofollow() -> i32 {
    nix::fcntl::OFlag::O_NOFOLLOW.bits()
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: nix::libc::c_int) {
    // Only an atomic store: nothing else is safe in a signal handler.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// From now on SIGINT, SIGTERM and SIGHUP raise a flag instead of ending the process, so
/// that the work stops at its next check and every [`TempDir`] is removed on the way out.
/// Children started later still get the default actions (exec resets caught signals), so
/// the xorriso or xz that Ctrl-C reaches in the same process group ends at once, and the
/// command waiting for it fails.
pub fn catch_interrupts() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(s, &act) };
    }
}

/// Whether a signal from [`catch_interrupts`] arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// `Err("interrupted")` once a signal arrived: call it between steps.
pub fn check_interrupted() -> Result<()> {
    if interrupted() {
        return Err(Error::msg("interrupted"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn private_unique_and_removed() {
        let a = TempDir::new("pvefb-tempdir-test").unwrap();
        let b = TempDir::new("pvefb-tempdir-test").unwrap();
        assert_ne!(a.path(), b.path());
        let m = fs::metadata(a.path()).unwrap().permissions().mode() & 0o7777;
        assert_eq!(m, 0o700);
        let p = a.write("secret", b"pw", 0o600).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        // Never over something already there, nor through a symlink.
        assert!(a.write("secret", b"x", 0o600).is_err());
        symlink("/etc/hostname", a.path().join("link")).unwrap();
        assert!(a.write("link", b"x", 0o600).is_err());
        let kept = a.path().to_path_buf();
        drop(a);
        assert!(!kept.exists());
        drop(b);
    }
}
