//! `verify`'s reading of the SQLite store: every record against the chain, every indexed
//! column against the record it copies, every chunk against its digest.

use super::SqliteStore;
use crate::chunk_check::check_chunk;
use crate::StoreError;
use audit_core::inspect::{Finding, InspectReport, Inspector};
use audit_core::Kind;

impl SqliteStore {
    pub(super) fn inspect_all(&self) -> Result<InspectReport, StoreError> {
        // One read transaction: a consistent snapshot while the daemon goes on appending (WAL
        // readers do not block the writer).
        let tx = self.conn.unchecked_transaction().map_err(self.sql_err())?;
        let mut stmt = tx
            .prepare(
                "SELECT e.seq, e.time, e.kind, e.server, e.session, e.data, e.hash, c.data,
                        e.host, e.session_id, e.pane, e.user
                 FROM events e LEFT JOIN chunks c ON c.seq = e.seq ORDER BY e.seq",
            )
            .map_err(self.sql_err())?;
        let mut rows = stmt.query([]).map_err(self.sql_err())?;
        let mut inspector = Inspector::default();
        while let Some(row) = rows.next().map_err(self.sql_err())? {
            let seq: i64 = row.get(0).map_err(self.sql_err())?;
            let seq = seq as u64;
            // A column of the wrong SQL type is an edit too, not a reason to give up.
            let blob = |i| row.get_ref(i).ok().and_then(|v| v.as_blob().ok());
            let Some(event) = inspector.push(
                seq,
                blob(5).unwrap_or_default(),
                blob(6).unwrap_or_default(),
            ) else {
                continue;
            };
            let mut edited = |column| inspector.flag(Finding::ColumnEdited { seq, column });
            if row.get::<_, i64>(1).ok() != Some(event.time.as_micros()) {
                edited("time");
            }
            if row.get_ref(2).ok().and_then(|v| v.as_str().ok()) != Some(event.kind.as_str()) {
                edited("kind");
            }
            if row.get_ref(3).ok().and_then(|v| v.as_str().ok()) != Some(event.server.as_str()) {
                edited("server");
            }
            let copies = [
                (4, "session", &event.session),
                (9, "session_id", &event.session_id),
                (10, "pane", &event.pane_id),
                (11, "user", &event.user),
            ];
            for (i, column, field) in copies {
                if row.get::<_, Option<String>>(i).ok().as_ref() != Some(field) {
                    edited(column);
                }
            }
            if row.get_ref(8).ok().and_then(|v| v.as_str().ok()) != Some(event.host.as_str()) {
                edited("host");
            }
            if event.kind == Kind::PaneOutput {
                if let Some(problem) = check_chunk(seq, &event, blob(7)) {
                    inspector.flag(problem);
                }
            }
        }
        let mut orphans = tx
            .prepare(
                "SELECT c.seq FROM chunks c LEFT JOIN events e ON e.seq = c.seq
                 WHERE e.seq IS NULL OR e.kind != 'pane-output'",
            )
            .map_err(self.sql_err())?;
        let mut rows = orphans.query([]).map_err(self.sql_err())?;
        while let Some(row) = rows.next().map_err(self.sql_err())? {
            let seq: i64 = row.get(0).map_err(self.sql_err())?;
            inspector.flag(Finding::ChunkUnclaimed { seq: seq as u64 });
        }
        Ok(inspector.finish())
    }
}
