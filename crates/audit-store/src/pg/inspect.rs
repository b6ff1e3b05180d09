//! `verify` of one host's chain in the central store: every record against the chain, every
//! copied column against its record, every chunk against its digest, and chunks no record
//! claims — the same checks as the SQLite store's, through the same [`Inspector`].
//!
//! An unscoped store refuses (`NeedsHost`): one report is about one chain, and seqs of
//! different hosts' chains cannot be told apart in it. Verify each host of
//! [`Reader::hosts`](crate::Reader::hosts) in turn. After retention, the check starts from the
//! host's checkpoint (see `retain`).

use super::PgStore;
use crate::chunk_check::check_chunk;
use crate::StoreError;
use audit_core::inspect::{Finding, InspectReport, Inspector};
use audit_core::Kind;
use postgres::IsolationLevel;

/// Rows fetched per round trip.
const BATCH: i32 = 1000;

impl PgStore {
    pub(super) fn inspect_host(&self, id: i64) -> Result<InspectReport, StoreError> {
        let err = self.pg_err();
        let mut client = self.client.borrow_mut();
        // One snapshot while collectors go on appending.
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(&err)?;
        let stmt = tx
            .prepare(
                "SELECT e.seq, e.time, e.kind, e.server, e.session, e.data, e.hash, c.data,
                        e.session_id, e.pane, e.\"user\"
                 FROM events e LEFT JOIN chunks c ON c.host_id = e.host_id AND c.seq = e.seq
                 WHERE e.host_id = $1 ORDER BY e.seq",
            )
            .map_err(&err)?;
        let portal = tx.bind(&stmt, &[&id]).map_err(&err)?;
        // After retention, the chain goes on from its checkpoint.
        let mut inspector = match self.checkpoint(&mut tx, id)? {
            Some((seq, hash)) => Inspector::resume(seq, hash),
            None => Inspector::default(),
        };
        loop {
            let rows = tx.query_portal(&portal, BATCH).map_err(&err)?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let seq = row.get::<_, i64>(0) as u64;
                let bytes = |i| row.try_get::<_, Option<Vec<u8>>>(i).ok().flatten();
                let Some(event) = inspector.push(
                    seq,
                    &bytes(5).unwrap_or_default(),
                    &bytes(6).unwrap_or_default(),
                ) else {
                    continue;
                };
                let text = |i| row.try_get::<_, Option<String>>(i).ok().flatten();
                let mut edited = |column| inspector.flag(Finding::ColumnEdited { seq, column });
                if row.try_get::<_, i64>(1).ok() != Some(event.time.as_micros()) {
                    edited("time");
                }
                if text(2).as_deref() != Some(event.kind.as_str()) {
                    edited("kind");
                }
                if text(3).as_deref() != Some(event.server.as_str()) {
                    edited("server");
                }
                let copies = [
                    (4, "session", &event.session),
                    (8, "session_id", &event.session_id),
                    (9, "pane", &event.pane_id),
                    (10, "user", &event.user),
                ];
                for (i, column, field) in copies {
                    if row.try_get::<_, Option<String>>(i).ok().as_ref() != Some(field) {
                        edited(column);
                    }
                }
                if event.kind == Kind::PaneOutput {
                    if let Some(problem) = check_chunk(seq, &event, bytes(7).as_deref()) {
                        inspector.flag(problem);
                    }
                }
            }
        }
        let orphans = tx
            .query(
                "SELECT c.seq FROM chunks c
                 WHERE c.host_id = $1 AND NOT EXISTS (
                     SELECT 1 FROM events e WHERE e.host_id = c.host_id AND e.seq = c.seq
                       AND e.kind = 'pane-output')
                 ORDER BY c.seq",
                &[&id],
            )
            .map_err(&err)?;
        for row in orphans {
            inspector.flag(Finding::ChunkUnclaimed {
                seq: row.get::<_, i64>(0) as u64,
            });
        }
        tx.commit().map_err(&err)?;
        Ok(inspector.finish())
    }
}
