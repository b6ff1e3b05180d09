//! What forwarders need from the SQLite store: reading on from a `seq`, and their cursors.
//!
//! `sink_cursors (name, seq)` sits beside the chain, not in it: a cursor only decides what a
//! sink is sent next. Editing one can make a sink receive events again or skip some; a skip
//! shows at the receiver as a gap in `seq`, which every forwarded event carries. The table is
//! additive (created by every writable open), so it does not change the schema version, and a
//! read-only open of a store made before it simply has no cursors.

use super::SqliteStore;
use crate::{Access, StoreError};
use audit_core::Stored;
use rusqlite::{params, OptionalExtension};

impl SqliteStore {
    /// Events with `seq > after`, in order, at most `limit` of them.
    pub(super) fn scan_after_seq(
        &self,
        after: u64,
        limit: usize,
        visit: &mut dyn FnMut(Stored) -> bool,
    ) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, data, hash FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(self.sql_err())?;
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query(params![after, limit]).map_err(self.sql_err())?;
        self.visit_rows(rows, visit)
    }

    /// The saved cursor of sink `name`.
    pub(super) fn read_sink_cursor(&self, name: &str) -> Result<Option<u64>, StoreError> {
        if !self.has_cursor_table()? {
            return Ok(None);
        }
        let seq: Option<i64> = self
            .conn
            .query_row(
                "SELECT seq FROM sink_cursors WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql_err())?;
        Ok(seq.map(|s| s.max(0) as u64))
    }

    /// Saves the cursor of sink `name` (its own short write transaction).
    pub(super) fn write_sink_cursor(&self, name: &str, seq: u64) -> Result<(), StoreError> {
        if self.access == Access::ReadOnly {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
                what: format!("save the cursor of sink {name:?}"),
            });
        }
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        self.conn
            .execute(
                "INSERT INTO sink_cursors (name, seq) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET seq = excluded.seq",
                params![name, seq],
            )
            .map_err(self.sql_err())?;
        Ok(())
    }

    /// Whether this store has the cursor table (a read-only open of an older store may not).
    fn has_cursor_table(&self) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'sink_cursors'",
                [],
                |r| r.get::<_, i64>(0).map(|n| n > 0),
            )
            .map_err(self.sql_err())
    }
}
