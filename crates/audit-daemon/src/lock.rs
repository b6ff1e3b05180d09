//! One daemon per store: an exclusive `flock` on `STORE.lock`, holding the owner's pid.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The store is taken.
#[derive(Debug, Error)]
pub enum LockError {
    /// Another daemon holds it.
    #[error("another tmux-audit daemon (pid {pid}) is recording into {} (stop it, or pass another --db)", db.display())]
    Held {
        /// The store.
        db: PathBuf,
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

fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Whether a daemon is recording into `db` now (holds its lock). `None` when that cannot be
/// told (no lock file: no daemon ever ran there; or it cannot be opened).
pub fn is_recording(db: &Path) -> Option<bool> {
    let file = File::open(lock_path(db)).ok()?;
    // SAFETY: flock on a file descriptor we own; no memory is involved. A shared lock taken
    // here is released when `file` is dropped at the end of this function.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    Some(rc != 0)
}

/// Held while the daemon runs; released when dropped or when the process dies.
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Takes the lock for `db` or says who has it.
    pub fn take(db: &Path) -> Result<Self, LockError> {
        let path = lock_path(db);
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
                db: db.to_path_buf(),
                pid: pid.trim().to_owned(),
            });
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Lock { _file: file })
    }
}
