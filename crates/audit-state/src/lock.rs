//! One daemon per store: an exclusive `flock` on the state's lock file (`DB.lock`), holding the
//! owner's pid. The lock and its probe live together so that they cannot disagree on the file.

use crate::StateDir;
use audit_store::Location;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use thiserror::Error;

/// The store is taken.
#[derive(Debug, Error)]
pub enum LockError {
    /// Another daemon holds it.
    #[error("another tmux-audit daemon (pid {pid}) is recording into {db} (stop it, or pass another --db)")]
    Held {
        /// The store.
        db: Location,
        /// Its pid, as written in the lock file.
        pid: String,
    },
    /// The lock file could not be used.
    #[error("cannot lock {}: {error}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

impl StateDir {
    /// Whether a daemon is recording into the store now (holds its lock). `None` when that
    /// cannot be told (no lock file: no daemon ever ran there; or it cannot be opened).
    pub fn is_recording(&self) -> Option<bool> {
        let file = File::open(self.lock_path()).ok()?;
        // SAFETY: flock on a file descriptor we own; no memory is involved. A shared lock taken
        // here is released when `file` is dropped at the end of this function.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
        Some(rc != 0)
    }
}

/// Held while the daemon runs; released when dropped or when the process dies.
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Takes the lock of `state`'s store or says who has it.
    pub fn take(state: &StateDir) -> Result<Self, LockError> {
        let path = state.lock_path().to_path_buf();
        let io = |error| LockError::Io {
            path: path.clone(),
            error,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(LockError::Held {
                db: state.store().clone(),
                pid: pid.trim().to_owned(),
            });
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Lock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_daemon_holds_the_lock_and_views_can_tell() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::of(&Location::Sqlite(dir.path().join("audit.db")));
        assert_eq!(state.is_recording(), None, "no daemon ever ran there");
        let lock = Lock::take(&state).unwrap();
        assert_eq!(state.is_recording(), Some(true));
        let held = Lock::take(&state)
            .err()
            .expect("a second daemon is refused");
        let message = held.to_string();
        assert!(
            message.contains(&format!("(pid {})", std::process::id())),
            "{message}"
        );
        assert!(message.contains("audit.db"), "{message}");
        drop(lock);
        assert_eq!(state.is_recording(), Some(false));
    }
}
