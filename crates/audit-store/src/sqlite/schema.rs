//! Bringing a store written by an older version up to this schema, in place and whole.
//!
//! Schema 3 added `host`, `session_id`, `pane` and `user` beside `data`, so that filters on them
//! use indexes. An older store gets the columns filled from each record's own bytes, in one
//! transaction with the append-only trigger lifted only inside it: a crash leaves the old
//! schema, never a half-filled one. The chain is untouched (`data` and `hash` are not written),
//! and `inspect` checks the new copies like the old ones.

use crate::StoreError;
use audit_core::encoding;
use rusqlite::{params, Connection};
use std::path::Path;

const ADDED: [&str; 4] = ["host", "session_id", "pane", "user"];

/// Adds and fills schema 3's columns of a schema 2 store (`SCHEMA` then adds their indexes and
/// puts the trigger back; the caller sets the version).
pub(super) fn upgrade(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let sql = |error| StoreError::Sqlite {
        path: path.to_path_buf(),
        error,
    };
    let tx = conn.unchecked_transaction().map_err(sql)?;
    tx.execute_batch("DROP TRIGGER IF EXISTS events_append_only_update;")
        .map_err(sql)?;
    for column in ADDED {
        tx.execute_batch(&format!("ALTER TABLE events ADD COLUMN {column} TEXT;"))
            .map_err(sql)?;
    }
    {
        let mut read = tx.prepare("SELECT seq, data FROM events").map_err(sql)?;
        let mut fill = tx
            .prepare(
                "UPDATE events SET host = ?2, session_id = ?3, pane = ?4, user = ?5
                 WHERE seq = ?1",
            )
            .map_err(sql)?;
        let mut rows = read.query([]).map_err(sql)?;
        while let Some(row) = rows.next().map_err(sql)? {
            let seq: i64 = row.get(0).map_err(sql)?;
            // A record that does not decode keeps empty copies; `inspect` reports the record.
            let Ok((_, e)) = row
                .get_ref(1)
                .map_err(sql)?
                .as_blob()
                .map_err(|e| sql(e.into()))
                .map(encoding::decode)?
            else {
                continue;
            };
            fill.execute(params![seq, e.host, e.session_id, e.pane_id, e.user])
                .map_err(sql)?;
        }
    }
    tx.execute_batch(super::SCHEMA).map_err(sql)?;
    tx.pragma_update(None, "user_version", super::SCHEMA_VERSION)
        .map_err(sql)?;
    tx.commit().map_err(sql)
}
