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
