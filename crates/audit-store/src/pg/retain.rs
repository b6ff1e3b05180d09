//! Retention: dropping a central store's oldest months whole, keeping each chain checkable.
//!
//! A month partition entirely older than the cut is dropped (triggers do not see a dropped
//! table). Before that, each host whose records go gets a checkpoint — the seq and hash of its
//! last record before the first one that stays (its head, when none stays) — and `inspect`
//! starts from it ([`Inspector::resume`](audit_core::Inspector::resume)), so what remains is
//! still proven to follow from what was dropped. The dropped records' chunks and words go in the
//! same transaction (the append-only trigger lets a delete through only while
//! `tmux_audit.retaining` is set, as here). Retention is by time: a record dated older than the
//! cut but stored after one that stays (a clock set back) goes with its month, and `inspect`
//! reports it deleted.

use super::{schema, PgStore};
use crate::StoreError;
use audit_core::Timestamp;
use std::time::Duration;

/// What a retention pass dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retained {
    /// The month partitions dropped, oldest first.
    pub partitions: Vec<String>,
    /// How many hosts' checkpoints moved.
    pub checkpoints: usize,
}

impl PgStore {
    /// Drops every month of records entirely older than `keep` ago (see the module docs).
    pub fn retain(&self, keep: Duration) -> Result<Retained, StoreError> {
        let keep = i64::try_from(keep.as_micros()).unwrap_or(i64::MAX);
        self.retain_before(Timestamp(Timestamp::now().as_micros().saturating_sub(keep)))
    }

    /// Drops every month partition whose records are all older than `cut`, in one transaction.
    pub fn retain_before(&self, cut: Timestamp) -> Result<Retained, StoreError> {
        self.writable("drop old records")?;
        let err = self.pg_err();
        let mut client = self.client.borrow_mut();
        let mut tx = client.transaction().map_err(&err)?;
        // No partition is made meanwhile, and no one appends while checkpoints are taken.
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&schema::PARTITION_LOCK],
        )
        .map_err(&err)?;
        tx.batch_execute(
            "LOCK TABLE events IN EXCLUSIVE MODE; SET LOCAL tmux_audit.retaining = 'on'",
        )
        .map_err(&err)?;
        let mut old: Vec<(i64, String, u32)> = tx
            .query(
                "SELECT c.relname::text, c.oid FROM pg_inherits i
                 JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'events'::regclass",
                &[],
            )
            .map_err(&err)?
            .iter()
            .filter_map(|r| {
                let name: String = r.get(0);
                let (from, to) = schema::bounds_of(&name)?;
                (to <= cut.as_micros()).then(|| (from, name, r.get::<_, u32>(1)))
            })
            .collect();
        old.sort();
        if old.is_empty() {
            return Ok(Retained::default());
        }
        let oids: Vec<u32> = old.iter().map(|(_, _, oid)| *oid).collect();
        let dropped = old
            .iter()
            .map(|(_, name, _)| format!("SELECT host_id, seq FROM {name}"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let hosts: Vec<i64> = tx
            .query(&format!("SELECT DISTINCT host_id FROM ({dropped}) d"), &[])
            .map_err(&err)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut checkpoints = 0;
        for host in hosts {
            // The first record that stays; the checkpoint is the last one before it.
            let first: Option<i64> = tx
                .query_one(
                    "SELECT min(seq) FROM events WHERE host_id = $1 AND tableoid <> ALL($2::oid[])",
                    &[&host, &oids],
                )
                .map_err(&err)?
                .get(0);
            let point = tx
                .query_opt(
                    "SELECT seq, hash, time FROM events WHERE host_id = $1 AND seq < $2
                     ORDER BY seq DESC LIMIT 1",
                    &[&host, &first.unwrap_or(i64::MAX)],
                )
                .map_err(&err)?;
            let Some(point) = point else { continue };
            let (seq, hash, time): (i64, Vec<u8>, i64) = (point.get(0), point.get(1), point.get(2));
            let moved = tx
                .execute(
                    "INSERT INTO checkpoints (host_id, seq, hash, time, made)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (host_id) DO UPDATE
                     SET seq = excluded.seq, hash = excluded.hash, time = excluded.time,
                         made = excluded.made
                     WHERE checkpoints.seq < excluded.seq",
                    &[&host, &seq, &hash, &time, &Timestamp::now().as_micros()],
                )
                .map_err(&err)?;
            checkpoints += moved as usize;
        }
        for (_, name, _) in &old {
            tx.batch_execute(&format!(
                "DELETE FROM chunk_text t USING {name} d WHERE t.host_id = d.host_id AND t.seq = d.seq;
                 DELETE FROM chunks c USING {name} d WHERE c.host_id = d.host_id AND c.seq = d.seq;
                 DROP TABLE {name};"
            ))
            .map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        let partitions: Vec<String> = old.into_iter().map(|(_, name, _)| name).collect();
        drop(client);
        let mut months = self.months.borrow_mut();
        for name in &partitions {
            if let Some((from, _)) = schema::bounds_of(name) {
                months.remove(&from);
            }
        }
        Ok(Retained {
            partitions,
            checkpoints,
        })
    }

    /// The checkpoint of host `id`'s chain (seq and hash of the last record dropped), if any.
    pub(super) fn checkpoint(
        &self,
        client: &mut impl postgres::GenericClient,
        id: i64,
    ) -> Result<Option<(u64, [u8; 32])>, StoreError> {
        let row = client
            .query_opt(
                "SELECT seq, hash FROM checkpoints WHERE host_id = $1",
                &[&id],
            )
            .map_err(self.pg_err())?;
        Ok(row.map(|r| {
            let hash: Vec<u8> = r.get(1);
            (
                r.get::<_, i64>(0) as u64,
                hash.try_into().unwrap_or([0; 32]),
            )
        }))
    }
}
