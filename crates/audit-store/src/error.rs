//! Store errors, each naming the store and, where it helps, the fix.

use std::path::PathBuf;
use thiserror::Error;

/// Something went wrong reaching or reading a store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The store does not exist (views never create one).
    #[error("no store at {}: nothing has been recorded there (start `tmux-audit daemon`, or pass --db)", path.display())]
    Missing {
        /// Where we looked.
        path: PathBuf,
    },
    /// The store or its folder could not be created or opened.
    #[error("cannot open store {}: {error} (check its permissions: run as its owner or root, or pass --db)", path.display())]
    Open {
        /// Which store.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The database engine failed.
    #[error("store {}: {error}", path.display())]
    Sqlite {
        /// Which store.
        path: PathBuf,
        /// Why.
        error: rusqlite::Error,
    },
    /// The file is not a tmux-audit store, or one from a newer version.
    #[error("{} is not a tmux-audit store this version can read ({what})", path.display())]
    Foreign {
        /// Which file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The store was written by an older version; the daemon brings it up to date when it
    /// next opens it (views only read).
    #[error("store {} has schema version {version}, from an older tmux-audit: restart the daemon (`tmux-audit daemon`) once to upgrade it", path.display())]
    Outdated {
        /// Which store.
        path: PathBuf,
        /// Its schema version.
        version: i64,
    },
    /// A stored record cannot be read back (see `tmux-audit verify`).
    #[error("store {}: seq {seq} is unreadable: {what} (run `tmux-audit verify`)", path.display())]
    Corrupt {
        /// Which store.
        path: PathBuf,
        /// Where.
        seq: u64,
        /// What is wrong.
        what: String,
    },
    /// A write was asked of a store opened read-only.
    #[error("store {} was opened read-only: cannot {what} (open it with Access::Create)", path.display())]
    ReadOnly {
        /// Which store.
        path: PathBuf,
        /// What was refused.
        what: String,
    },
    /// The PostgreSQL server failed or refused (the location is shown without its password).
    #[error("store {location}: {error}")]
    Postgres {
        /// Which store (redacted URL).
        location: String,
        /// Why.
        error: postgres::Error,
    },
    /// A question about one host's chain (seq, chunks, appends, cursors, verifying) asked of
    /// a central store without naming the host.
    #[error("a central store holds many hosts' chains: name one with --host (to {what})")]
    NeedsHost {
        /// What was asked.
        what: String,
    },
    /// A central store's enrollment refused or could not find something.
    #[error("store {location}: {what}")]
    Central {
        /// Which store (redacted URL).
        location: String,
        /// What is wrong, and the fix.
        what: String,
    },
}
