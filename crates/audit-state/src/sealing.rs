//! The sealing state file (`DB.seal`, owner-only): the current epoch's sealing key and the last
//! seal made with it (`audit_core::seal::SealingKey`). It holds one key only — each write
//! replaces the file whole — so that whoever takes the machine gets no earlier epoch's key.
//! `seal init` creates it, the daemon's sealer moves it on, `verify` and proofs read it.

use crate::StateDir;
use audit_core::seal::{SealError, SealingKey};
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use thiserror::Error;

/// Why the sealing state could not be used.
#[derive(Debug, Error)]
pub enum SealStateError {
    /// The file could not be read or written.
    #[error("sealing state {}: {error}", path.display())]
    Io {
        /// Which file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not sealing state.
    #[error("sealing state {}: {error}", path.display())]
    Corrupt {
        /// Which file.
        path: PathBuf,
        /// Why.
        error: SealError,
    },
}

impl StateDir {
    /// The sealing key the state holds; `None` when sealing was never turned on (no file).
    pub fn sealing_key(&self) -> Result<Option<SealingKey>, SealStateError> {
        let path = self.seal_path();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(SealStateError::Io {
                    path: path.to_owned(),
                    error,
                })
            }
        };
        SealingKey::from_bytes(&bytes)
            .map(Some)
            .map_err(|error| SealStateError::Corrupt {
                path: path.to_owned(),
                error,
            })
    }

    /// Replaces the sealing state with `key`: a new file (owner-only), flushed, renamed over
    /// the old one, so a crash leaves the old key or the new one, never half of either.
    pub fn write_sealing_key(&self, key: &SealingKey) -> Result<(), SealStateError> {
        let path = self.seal_path();
        let err = |error| SealStateError::Io {
            path: path.to_owned(),
            error,
        };
        let mut tmp = OsString::from(path.as_os_str());
        tmp.push(".new");
        let tmp = PathBuf::from(tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        f.write_all(&key.to_bytes()).map_err(err)?;
        f.sync_all().map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::seal::{Schedule, VerificationKey};
    use audit_core::Timestamp;
    use audit_store::Location;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_sealing_key_is_written_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::of(&Location::Sqlite(dir.path().join("audit.db")));
        assert!(state.sealing_key().unwrap().is_none(), "sealing is off");
        let schedule = Schedule {
            start: Timestamp::from_secs(1),
            interval_us: 15_000_000,
        };
        let key = VerificationKey::new([7; 32], schedule)
            .unwrap()
            .sealing_key();
        state.write_sealing_key(&key).unwrap();
        let back = state.sealing_key().unwrap().expect("written");
        assert_eq!(back.to_bytes(), key.to_bytes());
        let mode = std::fs::metadata(state.seal_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(state.seal_path(), b"not a key").unwrap();
        let err = state.sealing_key().unwrap_err();
        assert!(matches!(err, SealStateError::Corrupt { .. }), "{err}");
    }
}
