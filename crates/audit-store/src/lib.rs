//! Where events live: append-only stores behind one trait, [`EventStore`].
//!
//! A store assigns each appended event its `seq` and chain hash (computed by
//! [`audit_core::chain`]) in the same transaction that writes it, so a record is either stored
//! whole, linked to the one before, or not at all.
//!
//! The interface is split by who needs what: [`Reader`] is every query a view asks — events
//! matching a [`Filter`] (host, server, session, pane, kind, user, time), a chunk, full-text
//! candidates, the head — each answered with the backend's own indexes rather than a scan
//! filtered in Rust; [`Writer`] appends; [`SinkCursors`] keeps the forwarders' places, which
//! are not part of the record. [`EventStore`] is all three. [`Reader::inspect`] re-checks every
//! stored byte against the chain.
//!
//! The backend is chosen once, at the edge, by [`open`] from a [`Location`] (parsed once from
//! what the user wrote): the embedded SQLite store of one host ([`SqliteStore`]), or a fleet's
//! central PostgreSQL store ([`PgStore`]: one chain per host, read and appended one host at a
//! time, with the [`central::Intake`] collectors ship into). `tests/conformance.rs` is the
//! suite every backend passes.
#![deny(missing_docs)]

pub mod central;
mod chunk_check;
mod error;
mod location;
mod pg;
mod query;
mod sqlite;

pub use error::StoreError;
pub use location::{Location, LocationError, PgLocation};
pub use pg::{fork_evidence, Fork, HostState, PgStore, Retained};
pub use query::{server_matches, Filter};
pub use sqlite::SqliteStore;

use audit_core::{ChainHash, Event, InspectReport, Stored};

/// Reading the log: every query a view asks, each answered by the backend's own indexes.
///
/// Methods that visit call `visit` in `seq` order until it returns `false`.
pub trait Reader: Send {
    /// The last stored record, if any.
    fn head(&self) -> Result<Option<Stored>, StoreError>;

    /// Visits the stored events `filter` admits (see [`Filter`]), in `seq` order.
    fn events(
        &self,
        filter: &Filter,
        visit: &mut dyn FnMut(Stored) -> bool,
    ) -> Result<(), StoreError>;

    /// Visits, in `seq` order, at most `limit` stored events whose `seq` is greater than
    /// `after` (`0`: from the first): how a forwarder reads on from its cursor.
    fn events_after(
        &self,
        after: u64,
        limit: usize,
        visit: &mut dyn FnMut(Stored) -> bool,
    ) -> Result<(), StoreError>;

    /// The compressed chunk stored with the `pane-output` event at `seq`.
    fn chunk(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError>;

    /// Visits, in `seq` order, the seqs of the `pane-output` events `filter` admits whose
    /// indexed text contains every token (run of letters and digits, case-insensitive) of
    /// `words`. Candidates only: callers confirm each in the chunk. No tokens, no candidates.
    fn search_candidates(
        &self,
        words: &[String],
        filter: &Filter,
        visit: &mut dyn FnMut(u64) -> bool,
    ) -> Result<(), StoreError>;

    /// Re-checks every record against the chain, every index column against its record and
    /// every output chunk against its digest, and names everything found wrong
    /// ([`InspectReport::findings`]; empty: intact). `Err(..)` means it could not be checked.
    fn inspect(&self) -> Result<InspectReport, StoreError>;

    /// The hosts whose chains this store holds records of, by name: an SQLite store, the host
    /// its last record names (one host's store); a central store scoped to a host, that host;
    /// unscoped, every enrolled name with records (and [`central::CENTER`] once the center
    /// recorded something itself).
    fn hosts(&self) -> Result<Vec<String>, StoreError>;
}

/// Appending to the log: what the daemon (and nothing else but a viewer recording its own
/// access) does.
pub trait Writer: Reader {
    /// Appends `events` in order, in one transaction, giving each the next `seq` and its chain
    /// hash. Returns them as stored.
    fn append(&mut self, events: &[Event]) -> Result<Vec<Stored>, StoreError>;

    /// Appends events with what they carry (a `pane-output` event carries its chunk and the
    /// chunk's rendered text), in order, in one transaction.
    fn append_attached(
        &mut self,
        records: &[(Event, Option<Attachment>)],
    ) -> Result<Vec<Stored>, StoreError>;

    /// Appends one event made by `make` from the current head (its seq and hash, `0` and
    /// GENESIS when empty) in the same transaction, so that nothing comes between: how a seal
    /// covers exactly the record before it.
    fn append_after_head(
        &mut self,
        make: &mut dyn FnMut(u64, &ChainHash) -> Event,
    ) -> Result<Stored, StoreError>;
}

/// Where each forwarding sink has got to: outside the hash chain, they only decide what is
/// sent next. A tampered cursor can cause redelivery or skipping; skipping shows at the
/// receiver as a gap in `seq`, which every forwarded event carries.
pub trait SinkCursors {
    /// The last `seq` the forwarding sink `name` has delivered, if it has a cursor.
    fn sink_cursor(&self, name: &str) -> Result<Option<u64>, StoreError>;

    /// Records that the sink `name` has delivered everything up to `seq`. Refused by a store
    /// opened [`Access::ReadOnly`].
    fn set_sink_cursor(&self, name: &str, seq: u64) -> Result<(), StoreError>;
}

/// A whole store: the log to read and append, and the sinks' cursors beside it.
pub trait EventStore: Writer + SinkCursors {}

impl<T: Writer + SinkCursors> EventStore for T {}

/// What a `pane-output` event carries into the store beside itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attachment {
    /// The compressed chunk (`audit_capture::chunk`); the event's `digest` is its BLAKE3 hash.
    pub chunk: Vec<u8>,
    /// The chunk's rendered text, for the full-text index (not covered by the chain: derived).
    pub text: String,
}

/// How to open a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Create it (and its parent folders, owner-only) if missing; for the daemon, and for its
    /// forwarders (their own connections, saving sink cursors beside the writer's).
    Create,
    /// It must exist; never written; for views.
    ReadOnly,
}

/// Opens the store at `location`: the one place a location's kind picks its backend.
pub fn open(location: &Location, access: Access) -> Result<Box<dyn EventStore>, StoreError> {
    match location {
        Location::Sqlite(path) => Ok(Box::new(SqliteStore::open(path, access)?)),
        Location::Postgres(pg) => Ok(Box::new(PgStore::open(pg, access)?)),
    }
}
