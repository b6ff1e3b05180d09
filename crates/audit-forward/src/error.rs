//! Errors: [`ForwardError`] for starting forwarders, `DeliverError` for one failed delivery.

use audit_store::StoreError;
use thiserror::Error;

/// The forwarder could not be started.
#[derive(Debug, Error)]
pub enum ForwardError {
    /// A sink's own connection to the store could not be opened.
    #[error("sink {sink}: {error}")]
    Store {
        /// Which sink.
        sink: String,
        /// Why.
        #[source]
        error: StoreError,
    },
    /// Two sinks would share a cursor.
    #[error("two sinks are named {0:?}: give one of them another `name`, each sink keeps its own cursor under its name")]
    DuplicateName(String),
    /// A collector sink's token or CA file.
    #[error("sink {sink}: {error}")]
    Setup {
        /// Which sink.
        sink: String,
        /// Why.
        #[source]
        error: SetupError,
    },
    /// The operating system refused another thread.
    #[error("cannot start the thread of sink {sink}: {error}")]
    Thread {
        /// Which sink.
        sink: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
}

/// A collector sink could not be set up: its token or CA file.
#[derive(Debug, Error)]
pub enum SetupError {
    /// The token or CA file cannot be read.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// Which file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// The file's content is unusable, or its permissions expose it.
    #[error("{}: {what}", path.display())]
    Bad {
        /// Which file.
        path: std::path::PathBuf,
        /// What is wrong, and the fix.
        what: String,
    },
}

/// One delivery failed; the batch is retried from the cursor.
#[derive(Debug, Error)]
pub(crate) enum DeliverError {
    /// Writing to a file or socket failed.
    #[error("{doing}: {error}")]
    Io {
        /// What was being done, naming the target.
        doing: String,
        /// Why it failed.
        #[source]
        error: std::io::Error,
    },
    /// The webhook answered with a status other than 2xx.
    #[error("POST {url}: HTTP status {status}")]
    Status {
        /// Where (without credentials).
        url: String,
        /// What it answered.
        status: u16,
    },
    /// The webhook could not be reached (connect, TLS, timeout, protocol).
    #[error("POST {url}: {error}")]
    Http {
        /// Where (without credentials).
        url: String,
        /// Why.
        #[source]
        error: Box<ureq::Error>,
    },
}

impl DeliverError {
    /// An I/O failure while `doing` something.
    pub(crate) fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let doing = doing.into();
        move |error| DeliverError::Io { doing, error }
    }
}

/// One step of a collector sink failed; it asks the collector's head again and resumes.
#[derive(Debug, Error)]
pub(crate) enum ShipError {
    /// The collector could not be reached (connect, TLS, timeout, protocol).
    #[error("{url}: {error}")]
    Http {
        /// Where.
        url: String,
        /// Why.
        #[source]
        error: Box<ureq::Error>,
    },
    /// It refused the request or answered something unreadable.
    #[error("{url}: {error}")]
    Answer {
        /// Where.
        url: String,
        /// What it said.
        #[source]
        error: audit_ship::AnswerError,
    },
    /// It refused a record as not continuing this host's central chain.
    #[error("the collector refused record {refused} as a chain fork ({why}): the local history differs from what was shipped, or the token is another host's")]
    Fork {
        /// The first seq refused.
        refused: u64,
        /// Why, as the collector said.
        why: String,
    },
    /// The collector holds more of this token's host than the local store has.
    #[error("the collector holds {central} records of host {host:?} but this store has only {local}: the token is probably another host's (or this store was replaced)")]
    Ahead {
        /// The host the token names.
        host: String,
        /// Its central head.
        central: u64,
        /// The local head.
        local: u64,
    },
    /// The collector's record at its head is not the local one.
    #[error("the collector's record {seq} of host {host:?} is not this store's record {seq}: the local history differs from what was shipped (see `tmux-audit verify`), or the token is another host's")]
    Diverged {
        /// The host the token names.
        host: String,
        /// The seq that differs.
        seq: u64,
    },
    /// It keeps answering `gap` although the sink resumes from its head.
    #[error("the collector answers `gap` again and again after seq {0}")]
    Gaps(u64),
    /// The local store could not be read.
    #[error("cannot read the store: {0}")]
    Store(#[from] StoreError),
}
