//! The embedded store: one SQLite file in WAL mode — nothing to install or start.
//!
//! Each row holds the event's canonical bytes (`data`, exactly what is hashed) and its chain
//! `hash`; `time`, `kind`, `server`, `session`, `host`, `session_id`, `pane` and `user` are
//! copies kept only for indexed lookups (a [`Filter`](crate::Filter) becomes a `WHERE` over
//! them), and `verify` checks them against `data`. Indexes cover what views ask by: time, kind,
//! pane, session (name and id) and user; not host, which is the same on every row of a host's
//! own store (a central store of many hosts indexes it). Triggers refuse `UPDATE` and `DELETE` so no tool edits
//! the log by accident; they stop no determined attacker — the chain is what detects that.
//!
//! Recorded output lives beside the events: `chunks` holds each compressed chunk under the `seq`
//! of the `pane-output` event whose `digest` covers it, and `chunk_text` is a contentless FTS5
//! index (no positions, `detail=none`, to stay small) of the rendered text, keyed by the same
//! `seq`. The index is derived data — search confirms every candidate against the chunk itself.

use crate::{Access, Attachment, Filter, Reader, SinkCursors, StoreError, Writer};
use audit_core::chain::{self, ChainHash, GENESIS};
use audit_core::inspect::InspectReport;
use audit_core::{encoding, Event, Stored};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod forwarding;
mod inspect;
mod schema;
mod select;

const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY,
    time       INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    server     TEXT NOT NULL,
    session    TEXT,
    data       BLOB NOT NULL,
    hash       BLOB NOT NULL,
    host       TEXT,
    session_id TEXT,
    pane       TEXT,
    user       TEXT
);
CREATE INDEX IF NOT EXISTS events_time ON events(time);
CREATE INDEX IF NOT EXISTS events_kind ON events(kind, seq);
CREATE INDEX IF NOT EXISTS events_pane ON events(pane, seq) WHERE pane IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_session_name ON events(session) WHERE session IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_session_id ON events(session_id, server);
CREATE INDEX IF NOT EXISTS events_user ON events(user) WHERE user IS NOT NULL;
CREATE TRIGGER IF NOT EXISTS events_append_only_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'tmux-audit events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_append_only_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'tmux-audit events are append-only'); END;
CREATE TABLE IF NOT EXISTS chunks (
    seq  INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS chunks_append_only_update BEFORE UPDATE ON chunks
    BEGIN SELECT RAISE(ABORT, 'tmux-audit output is append-only'); END;
CREATE TRIGGER IF NOT EXISTS chunks_append_only_delete BEFORE DELETE ON chunks
    BEGIN SELECT RAISE(ABORT, 'tmux-audit output is append-only'); END;
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_text USING fts5(text, content='', detail=none);
CREATE TABLE IF NOT EXISTS sink_cursors (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
);
";

/// An SQLite-backed [`EventStore`].
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    access: Access,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (or, with [`Access::Create`], creates) the store at `path`.
    pub fn open(path: &Path, access: Access) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let open_err = |error| StoreError::Open {
            path: path.clone(),
            error,
        };
        let flags = match access {
            Access::Create => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(dir)
                        .map_err(open_err)?;
                }
                // Create the file ourselves so it is owner-only from its first byte.
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(open_err)?;
                OpenFlags::SQLITE_OPEN_READ_WRITE
            }
            Access::ReadOnly => {
                match std::fs::metadata(&path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(StoreError::Missing { path })
                    }
                    Err(e) => return Err(open_err(e)),
                    Ok(_) => {}
                }
                // Read access is checked up front so the error names the real cause.
                std::fs::File::open(&path).map_err(open_err)?;
                OpenFlags::SQLITE_OPEN_READ_ONLY
            }
        };
        let sql = |error| StoreError::Sqlite {
            path: path.clone(),
            error,
        };
        let conn = Connection::open_with_flags(&path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(sql)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(sql)?;
        let store = SqliteStore { conn, path, access };
        store.prepare(access)?;
        Ok(store)
    }

    fn sql_err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |error| StoreError::Sqlite {
            path: self.path.clone(),
            error,
        }
    }

    fn prepare(&self, access: Access) -> Result<(), StoreError> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.foreign(e))?;
        let has_events: bool = self
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'events'",
                [],
                |r| r.get::<_, i64>(0).map(|n| n > 0),
            )
            .map_err(|e| self.foreign(e))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Foreign {
                path: self.path.clone(),
                what: format!("schema version {version}, newer than {SCHEMA_VERSION}"),
            });
        }
        if access == Access::ReadOnly {
            if !has_events {
                return Err(StoreError::Foreign {
                    path: self.path.clone(),
                    what: "no events table".into(),
                });
            }
            if version != SCHEMA_VERSION {
                return Err(StoreError::Outdated {
                    path: self.path.clone(),
                    version,
                });
            }
            return Ok(());
        }
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(self.sql_err())?;
        if version == 0 && tables > 0 && !has_events {
            return Err(StoreError::Foreign {
                path: self.path.clone(),
                what: "an SQLite database of something else".into(),
            });
        }
        // Pages the full-text index frees when it merges its segments go back to the file system
        // (see `give_back_free_pages`); SQLite honours this only before the first table exists.
        self.conn
            .execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")
            .map_err(self.sql_err())?;
        // FULL: a committed event survives power loss, not only a killed daemon.
        self.conn
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .map_err(self.sql_err())?;
        // A fresh store, or one brought up to this schema, writes many pages at once.
        let new_schema = !has_events || version < SCHEMA_VERSION;
        if has_events && version < SCHEMA_VERSION {
            schema::upgrade(&self.conn, &self.path)?;
        }
        self.conn.execute_batch(SCHEMA).map_err(self.sql_err())?;
        self.conn
            .pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(self.sql_err())?;
        if new_schema {
            // The schema's pages go into the file and the WAL starts empty: a store on a nearly
            // full disk keeps its room for records. Only then: a checkpoint waits for the
            // writer, and every other writable open (forwarders, a viewer recording its
            // access) would wait behind the daemon. Best effort: a reader may hold the WAL.
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
        Ok(())
    }

    fn foreign(&self, e: rusqlite::Error) -> StoreError {
        StoreError::Foreign {
            path: self.path.clone(),
            what: e.to_string(),
        }
    }

    fn corrupt(&self, seq: u64, what: impl ToString) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            seq,
            what: what.to_string(),
        }
    }

    /// Decodes `(seq, data, hash)` rows in order, handing each to `visit` until it says stop.
    fn visit_rows(
        &self,
        mut rows: rusqlite::Rows<'_>,
        visit: &mut dyn FnMut(Stored) -> bool,
    ) -> Result<(), StoreError> {
        while let Some(row) = rows.next().map_err(self.sql_err())? {
            let seq: i64 = row.get(0).map_err(self.sql_err())?;
            let data: Vec<u8> = row.get(1).map_err(self.sql_err())?;
            let hash: Vec<u8> = row.get(2).map_err(self.sql_err())?;
            if !visit(self.decode_row(seq as u64, &data, &hash)?) {
                break;
            }
        }
        Ok(())
    }

    fn decode_row(&self, seq: u64, data: &[u8], hash: &[u8]) -> Result<Stored, StoreError> {
        let (_, event) = encoding::decode(data).map_err(|e| self.corrupt(seq, e))?;
        let hash = hash
            .try_into()
            .map_err(|_| self.corrupt(seq, "hash is not 32 bytes"))?;
        Ok(Stored { seq, event, hash })
    }
    /// Appends events, each with what it carries, in one transaction.
    fn append_rows<'a>(
        &mut self,
        rows: impl ExactSizeIterator<Item = (&'a Event, Option<&'a Attachment>)>,
    ) -> Result<Vec<Stored>, StoreError> {
        let path = self.path.clone();
        let sql = |error| StoreError::Sqlite {
            path: path.clone(),
            error,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        let (mut seq, mut prev) = head_of(&tx, &path)?;
        let mut stored = Vec::with_capacity(rows.len());
        let mut with_output = false;
        {
            let mut insert = tx.prepare_cached(INSERT_EVENT).map_err(sql)?;
            let mut insert_chunk = tx
                .prepare_cached("INSERT INTO chunks (seq, data) VALUES (?1, ?2)")
                .map_err(sql)?;
            let mut insert_text = tx
                .prepare_cached("INSERT INTO chunk_text (rowid, text) VALUES (?1, ?2)")
                .map_err(sql)?;
            for (event, attachment) in rows {
                with_output |= attachment.is_some();
                seq += 1;
                let data = encoding::encode(seq, event);
                let hash = chain::link(&prev, &data);
                insert
                    .execute(row_params(seq, event, &data, &hash))
                    .map_err(sql)?;
                if let Some(a) = attachment {
                    insert_chunk
                        .execute(params![seq as i64, a.chunk])
                        .map_err(sql)?;
                    if !a.text.is_empty() {
                        insert_text
                            .execute(params![seq as i64, a.text])
                            .map_err(sql)?;
                    }
                }
                prev = hash;
                stored.push(Stored {
                    seq,
                    event: event.clone(),
                    hash,
                });
            }
        }
        tx.commit().map_err(sql)?;
        if with_output {
            self.merge_text_index();
            self.give_back_free_pages();
        }
        Ok(stored)
    }

    /// Does a bounded share (about 16 pages written) of the full-text index's segment merging
    /// after each commit of output, towards fewer segments: each segment repeats the tokens it
    /// shares with the others, so a fragmented index is up to twice the size (on the 50 MB
    /// burst corpus: 1.45 MB without, 1.05 MB with; 0.115 → 0.107 stored bytes per byte).
    /// Best effort, like the vacuum.
    fn merge_text_index(&self) {
        let _ = self.conn.execute(
            "INSERT INTO chunk_text (chunk_text, rank) VALUES ('merge', -16)",
            [],
        );
    }

    /// Returns free pages to the file system once there are many: the full-text index frees
    /// pages each time it merges segments, and a store should not keep them. Best effort (a
    /// store created before auto_vacuum was set keeps them).
    fn give_back_free_pages(&self) {
        const KEEP_FREE_PAGES: i64 = 32;
        let free: i64 = self
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .unwrap_or(0);
        if free > KEEP_FREE_PAGES {
            // The pragma frees pages as it is stepped: step it to the end. A failed vacuum only
            // costs disk space; the commit before it stands.
            if let Ok(mut stmt) = self.conn.prepare("PRAGMA incremental_vacuum") {
                if let Ok(mut rows) = stmt.query([]) {
                    while let Ok(Some(_)) = rows.next() {}
                }
            }
        }
    }
}

impl Writer for SqliteStore {
    fn append(&mut self, events: &[Event]) -> Result<Vec<Stored>, StoreError> {
        self.append_rows(events.iter().map(|e| (e, None)))
    }

    fn append_attached(
        &mut self,
        records: &[(Event, Option<Attachment>)],
    ) -> Result<Vec<Stored>, StoreError> {
        self.append_rows(records.iter().map(|(e, a)| (e, a.as_ref())))
    }

    fn append_after_head(
        &mut self,
        make: &mut dyn FnMut(u64, &ChainHash) -> Event,
    ) -> Result<Stored, StoreError> {
        let path = self.path.clone();
        let sql = |error| StoreError::Sqlite {
            path: path.clone(),
            error,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        let (head_seq, head) = head_of(&tx, &path)?;
        let event = make(head_seq, &head);
        let seq = head_seq + 1;
        let data = encoding::encode(seq, &event);
        let hash = chain::link(&head, &data);
        tx.execute(INSERT_EVENT, row_params(seq, &event, &data, &hash))
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(Stored { seq, event, hash })
    }
}

impl Reader for SqliteStore {
    fn search_candidates(
        &self,
        words: &[String],
        filter: &Filter,
        visit: &mut dyn FnMut(u64) -> bool,
    ) -> Result<(), StoreError> {
        // The index holds tokens (runs of letters and digits); so does the query. Each token is
        // a quoted FTS5 string, so nothing the user types is query syntax.
        let tokens: Vec<String> = words
            .iter()
            .flat_map(|w| w.split(|c: char| !c.is_alphanumeric()))
            .filter(|t| !t.is_empty())
            .map(|t| format!("\"{t}\""))
            .collect();
        if tokens.is_empty() {
            return Ok(());
        }
        let mut clause = select::Clause::of(filter);
        clause.params.insert(0, tokens.join(" AND ").into());
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT t.rowid FROM chunk_text t JOIN events e ON e.seq = t.rowid
                 WHERE chunk_text MATCH ? AND e.kind = 'pane-output' AND {}
                 ORDER BY t.rowid",
                clause.sql
            ))
            .map_err(self.sql_err())?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(clause.params))
            .map_err(self.sql_err())?;
        while let Some(row) = rows.next().map_err(self.sql_err())? {
            let seq: i64 = row.get(0).map_err(self.sql_err())?;
            if !visit(seq as u64) {
                break;
            }
        }
        Ok(())
    }

    fn head(&self) -> Result<Option<Stored>, StoreError> {
        let row: Option<(i64, Vec<u8>, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT seq, data, hash FROM events ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(self.sql_err())?;
        row.map(|(seq, data, hash)| self.decode_row(seq as u64, &data, &hash))
            .transpose()
    }

    fn events(
        &self,
        filter: &Filter,
        visit: &mut dyn FnMut(Stored) -> bool,
    ) -> Result<(), StoreError> {
        let clause = select::Clause::of(filter);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT e.seq, e.data, e.hash FROM events e WHERE {} ORDER BY e.seq",
                clause.sql
            ))
            .map_err(self.sql_err())?;
        let rows = stmt
            .query(rusqlite::params_from_iter(clause.params))
            .map_err(self.sql_err())?;
        self.visit_rows(rows, visit)
    }

    fn events_after(
        &self,
        after: u64,
        limit: usize,
        visit: &mut dyn FnMut(Stored) -> bool,
    ) -> Result<(), StoreError> {
        self.scan_after_seq(after, limit, visit)
    }

    fn chunk(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .query_row(
                "SELECT data FROM chunks WHERE seq = ?1",
                [seq as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql_err())
    }

    fn inspect(&self) -> Result<InspectReport, StoreError> {
        self.inspect_all()
    }

    fn hosts(&self) -> Result<Vec<String>, StoreError> {
        // One host's store: the host its last record names (one row, by the primary key).
        Ok(self.head()?.map(|s| s.event.host).into_iter().collect())
    }
}

impl SinkCursors for SqliteStore {
    fn sink_cursor(&self, name: &str) -> Result<Option<u64>, StoreError> {
        self.read_sink_cursor(name)
    }

    fn set_sink_cursor(&self, name: &str, seq: u64) -> Result<(), StoreError> {
        self.write_sink_cursor(name, seq)
    }
}

const INSERT_EVENT: &str = "INSERT INTO events
    (seq, time, kind, server, session, host, session_id, pane, user, data, hash)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/// The values of one `events` row, in [`INSERT_EVENT`]'s order.
fn row_params<'a>(
    seq: u64,
    event: &'a Event,
    data: &'a [u8],
    hash: &'a ChainHash,
) -> impl rusqlite::Params + 'a {
    (
        seq as i64,
        event.time.as_micros(),
        event.kind.as_str(),
        &event.server,
        &event.session,
        &event.host,
        &event.session_id,
        &event.pane_id,
        &event.user,
        data,
        &hash[..],
    )
}

/// The last record's seq and hash (0 and [`GENESIS`] for an empty log), read in `tx`.
fn head_of(tx: &rusqlite::Transaction<'_>, path: &Path) -> Result<(u64, ChainHash), StoreError> {
    let sql = |error| StoreError::Sqlite {
        path: path.to_path_buf(),
        error,
    };
    let head: Option<(i64, Vec<u8>)> = tx
        .query_row(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql)?;
    match head {
        Some((seq, hash)) => Ok((
            seq as u64,
            hash.try_into().map_err(|_| StoreError::Corrupt {
                path: path.to_path_buf(),
                seq: seq as u64,
                what: "hash is not 32 bytes".into(),
            })?,
        )),
        None => Ok((0, GENESIS)),
    }
}
