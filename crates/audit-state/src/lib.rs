//! A recording daemon's own state, and the small status API views read it through — so that
//! no view imports the daemon.
//!
//! Besides the store, a daemon keeps four things of its own (paths for an SQLite store `DB`):
//!
//! - **the lock** (`DB.lock`, holding the daemon's pid): one daemon per store. The daemon takes
//!   it ([`Lock`]); a view probes it to tell whether anyone records now
//!   ([`StateDir::is_recording`]).
//! - **the spool folder** (`DB.spool/`): pane output the copiers wrote and the daemon has not
//!   committed yet. `replay --follow` and `search` read it ([`StateDir::spool_dir`]).
//! - **the sealing state** (`DB.seal`): the current epoch's sealing key and the last seal made.
//!   `seal init` and the daemon's sealer write it ([`StateDir::write_sealing_key`]); `verify`
//!   and proofs read it ([`StateDir::sealing_key`]).
//! - **the control socket** (`DB.ctl`): a view asks the daemon to commit pending output and
//!   record its `audit-access`. The wire protocol and the client half are [`control`]; the
//!   daemon serves it.
//!
//! [`StateDir::of`] names them for a store's [`Location`]. For an SQLite file they sit beside
//! it, at exactly the paths earlier versions used, so existing installs keep their sealing keys
//! and spools and nothing a user sees moves.
//!
//! A store on a server (PostgreSQL, a fleet's central store) has no file to sit beside, and no
//! daemon records into it: hosts record locally and ship there (the lock guards the local
//! recorder, spools are on local disk, the sealing key stays on the machine that seals). So its
//! state is a folder that does not exist: views of it find nothing recording, no spool and no
//! control socket, and read the store alone. That choice is made in [`StateDir::of`] and
//! nowhere else: no caller builds a state path itself.
//!
//! Dependencies: this crate knows the store's [`Location`] and `audit-core`'s sealing keys,
//! nothing of the daemon; the daemon depends on it for the paths, the lock, the sealing state
//! and the protocol it serves.
#![deny(missing_docs)]

pub mod control;
mod lock;
mod sealing;

pub use lock::{Lock, LockError};
pub use sealing::SealStateError;

use audit_store::Location;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Where the state of the daemon recording into one store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateDir {
    store: Location,
    lock: PathBuf,
    spool: PathBuf,
    seal: PathBuf,
    control: PathBuf,
}

impl StateDir {
    /// The state of the daemon recording into `store` (see the crate docs for where it is).
    pub fn of(store: &Location) -> StateDir {
        match store {
            Location::Sqlite(file) => StateDir {
                store: store.clone(),
                lock: beside(file, ".lock"),
                spool: beside(file, ".spool"),
                seal: beside(file, ".seal"),
                control: beside(file, ".ctl"),
            },
            // No daemon records into a server store (hosts ship into it), so its state is a
            // folder that does not exist: no spool to read, no lock file (`is_recording` is
            // `None`: nobody ever recorded there), no sealing key, no control socket. Views of a central store read the
            // store alone.
            Location::Postgres(_) => {
                let none = Path::new(NO_STATE);
                StateDir {
                    store: store.clone(),
                    lock: none.join("lock"),
                    spool: none.join("spool"),
                    seal: none.join("seal"),
                    control: none.join("ctl"),
                }
            }
        }
    }

    /// The store this state belongs to (what messages name).
    pub fn store(&self) -> &Location {
        &self.store
    }

    /// The lock file the recording daemon holds.
    pub fn lock_path(&self) -> &Path {
        &self.lock
    }

    /// The folder of pane spools: one folder per server
    /// (`audit_capture::spool::folder_name`), one spool file per pane pipe.
    pub fn spool_dir(&self) -> &Path {
        &self.spool
    }

    /// The sealing state file (present once `seal init` ran).
    pub fn seal_path(&self) -> &Path {
        &self.seal
    }

    /// The daemon's control socket (present while it runs).
    pub fn control_socket(&self) -> &Path {
        &self.control
    }
}

/// The state folder of a server store: one that never exists (see [`StateDir::of`]).
const NO_STATE: &str = "/nonexistent/tmux-audit-central-store";

/// `FILE` with `suffix` appended to its name: `audit.db` → `audit.db.lock`.
fn beside(file: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(file.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names existing installs have on disk: changing one orphans their keys or spools.
    #[test]
    fn an_sqlite_store_keeps_its_state_beside_it_under_the_names_it_always_had() {
        for (db, prefix) in [
            (
                "/var/lib/tmux-audit/audit.db",
                "/var/lib/tmux-audit/audit.db",
            ),
            ("rel/a.db", "rel/a.db"),
            ("audit", "audit"),
        ] {
            let state = StateDir::of(&Location::Sqlite(PathBuf::from(db)));
            assert_eq!(state.lock_path(), Path::new(&format!("{prefix}.lock")));
            assert_eq!(state.spool_dir(), Path::new(&format!("{prefix}.spool")));
            assert_eq!(state.seal_path(), Path::new(&format!("{prefix}.seal")));
            assert_eq!(state.control_socket(), Path::new(&format!("{prefix}.ctl")));
            assert_eq!(state.store().to_string(), db);
        }
    }

    #[test]
    fn a_server_store_has_no_state_of_a_daemon() {
        let store = Location::parse("postgres://u:pw@db/audit").unwrap();
        let state = StateDir::of(&store);
        assert!(!state.spool_dir().exists() && !state.control_socket().exists());
        assert!(!state.seal_path().exists() && !state.lock_path().exists());
        assert_eq!(
            state.is_recording(),
            None,
            "no lock file: nothing records there"
        );
    }
}
