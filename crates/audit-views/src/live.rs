//! Following a pane as it happens (`replay --follow`, `export --follow`): the output its copier
//! (`tmux-audit pane-pipe`) appends to the pane's spool files, read as it comes — nothing is
//! asked of tmux and nothing is ever sent to the pane.
//!
//! The view first draws the pane's current screen from the store (after the daemon committed
//! what was pending), then reads every spool of the pane in the server's spool folder
//! (`DB.spool/<first 16 hex digits of BLAKE3(server)>/<N>-<µs>.tas`), keeping only records newer
//! than the last committed chunk: the daemon punches committed bytes out of a spool (they read
//! as zeros, and are skipped) but may not have done so yet. What is shown this way is not yet
//! committed to the chain; the view says so. Spools are opened without following links, and only
//! as regular files with one name owned by the folder's owner: reading them needs the rights of
//! the server's owner (or root).

use audit_capture::spool::{self, Record};
use audit_state::StateDir;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a pane cannot be followed, or a spool not read.
#[derive(Debug, Error)]
pub enum FollowError {
    /// The server's spool folder cannot be read.
    #[error("cannot read the spools of {server} in {} (following a pane live needs the rights of the server's owner, or root; the daemon must record its output): {error}", folder.display())]
    Folder {
        /// The server.
        server: String,
        /// Its spool folder.
        folder: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A spool cannot be read.
    #[error("cannot read spool {}: {error}", path.display())]
    Spool {
        /// The spool.
        path: PathBuf,
        /// Why.
        error: SpoolError,
    },
}

/// What is wrong with one spool.
#[derive(Debug, Error)]
pub enum SpoolError {
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// It does not start as a spool does.
    #[error("not a spool")]
    NotASpool,
    /// Its records do not parse.
    #[error(transparent)]
    Records(#[from] spool::ReadError),
}

/// Most bytes read from one spool per look.
const READ_LIMIT: u64 = 4 << 20;

/// The spools of one pane, tailed.
pub struct Follower {
    folder: PathBuf,
    /// `N-` of the pane `%N`.
    prefix: String,
    /// Only records after this time (µs) are new.
    after: i64,
    /// Each spool by the time in its name.
    tails: BTreeMap<(i64, PathBuf), Tail>,
}

struct Tail {
    file: File,
    offset: u64,
    pending: Vec<u8>,
    started: bool,
}

impl Follower {
    /// Follows `pane_id` of `server`, in the spools of `state`, from after `after` (µs).
    pub fn new(
        state: &StateDir,
        server: &str,
        pane_id: &str,
        after: i64,
    ) -> Result<Follower, FollowError> {
        let folder = state.spool_dir().join(spool::folder_name(server));
        if let Err(error) = std::fs::read_dir(&folder) {
            return Err(FollowError::Folder {
                server: server.to_owned(),
                folder,
                error,
            });
        }
        let number = pane_id.trim_start_matches('%');
        Ok(Follower {
            folder,
            prefix: format!("{number}-"),
            after,
            tails: BTreeMap::new(),
        })
    }

    /// The records written since the last call, in time order.
    pub fn poll(&mut self) -> Result<Vec<Record>, FollowError> {
        self.discover();
        let mut out = Vec::new();
        for ((_, path), tail) in &mut self.tails {
            let records = tail.read().map_err(|error| FollowError::Spool {
                path: path.clone(),
                error,
            })?;
            out.extend(records.into_iter().filter(|r| time_of(r) > self.after));
        }
        out.sort_by_key(time_of);
        if let Some(last) = out.last() {
            self.after = self.after.max(time_of(last));
        }
        Ok(out)
    }

    /// Opens spools of the pane that appeared (a pipe opened again).
    fn discover(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.folder) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(time) = spool_time(&path, &self.prefix) else {
                continue;
            };
            if self.tails.contains_key(&(time, path.clone())) {
                continue;
            }
            // Never through a link, never blocking on a FIFO; a regular file only.
            let opened = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(&path);
            let Ok(file) = opened else { continue };
            // A plain file with one name, of the folder's owner (whose copier wrote it): never
            // something of another user's the folder's owner linked in.
            let owner = std::fs::symlink_metadata(&self.folder).map(|m| m.uid());
            let plain = file.metadata().is_ok_and(|m| {
                m.file_type().is_file()
                    && m.nlink() == 1
                    && owner.as_ref().is_ok_and(|&o| o == m.uid())
            });
            if !plain {
                continue;
            }
            self.tails.insert(
                (time, path),
                Tail {
                    file,
                    offset: 0,
                    pending: Vec::new(),
                    started: false,
                },
            );
        }
    }
}

impl Tail {
    fn read(&mut self) -> Result<Vec<Record>, SpoolError> {
        let start = self.offset + self.pending.len() as u64;
        self.file.seek(SeekFrom::Start(start))?;
        (&self.file)
            .take(READ_LIMIT)
            .read_to_end(&mut self.pending)?;
        let mut skip = 0;
        if !self.started {
            if self.pending.len() < spool::MAGIC.len() {
                return Ok(Vec::new());
            }
            if &self.pending[..4] != spool::MAGIC {
                return Err(SpoolError::NotASpool);
            }
            self.started = true;
            skip = 4;
        }
        // Bytes the daemon committed and punched out read as zeros; no record starts with one.
        while self.pending.get(skip) == Some(&0) {
            skip += 1;
        }
        let (records, used) = spool::parse_records(&self.pending[skip..], self.offset)?;
        self.pending.drain(..skip + used);
        self.offset += (skip + used) as u64;
        Ok(records)
    }
}

fn time_of(r: &Record) -> i64 {
    match r {
        Record::Output { time, .. } | Record::Lost { time, .. } | Record::Closed { time } => *time,
    }
}

/// The time in a spool's name `N-TIME.tas`, when it is one of the pane with `prefix`.
fn spool_time(path: &Path, prefix: &str) -> Option<i64> {
    let name = path.file_name()?.to_str()?.strip_suffix(".tas")?;
    name.strip_prefix(prefix)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_new_records_of_its_pane_only_skipping_what_was_committed() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::of(&audit_store::Location::Sqlite(dir.path().join("a.db")));
        let folder = state.spool_dir().join(spool::folder_name("/s"));
        std::fs::create_dir_all(&folder).unwrap();
        let mut bytes = spool::MAGIC.to_vec();
        spool::encode_output(&mut bytes, 5, b"committed");
        spool::encode_output(&mut bytes, 10, b"new");
        std::fs::write(folder.join("3-1.tas"), &bytes).unwrap();
        let mut other = spool::MAGIC.to_vec();
        spool::encode_output(&mut other, 11, b"another pane");
        std::fs::write(folder.join("33-1.tas"), &other).unwrap();
        let mut f = Follower::new(&state, "/s", "%3", 5).unwrap();
        assert_eq!(
            f.poll().unwrap(),
            vec![Record::Output {
                time: 10,
                bytes: b"new".to_vec()
            }]
        );
        assert!(f.poll().unwrap().is_empty());
        spool::encode_closed(&mut bytes, 12);
        std::fs::write(folder.join("3-1.tas"), &bytes).unwrap();
        assert_eq!(f.poll().unwrap(), vec![Record::Closed { time: 12 }]);
    }

    #[test]
    fn links_and_files_with_two_names_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::of(&audit_store::Location::Sqlite(dir.path().join("a.db")));
        let folder = state.spool_dir().join(spool::folder_name("/s"));
        std::fs::create_dir_all(&folder).unwrap();
        let mut bytes = spool::MAGIC.to_vec();
        spool::encode_output(&mut bytes, 10, b"elsewhere");
        let other = dir.path().join("someone-elses.tas");
        std::fs::write(&other, &bytes).unwrap();
        std::fs::hard_link(&other, folder.join("3-1.tas")).unwrap();
        std::os::unix::fs::symlink(&other, folder.join("3-2.tas")).unwrap();
        let mut f = Follower::new(&state, "/s", "%3", 0).unwrap();
        assert!(f.poll().unwrap().is_empty());
    }
}
