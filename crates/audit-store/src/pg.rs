//! The central store: one PostgreSQL database holding a fleet's chains, one per host.
//!
//! Each record is stored as on a host — its canonical bytes (`data`) and chain `hash` — under
//! the host's id, with copies of `time`, `kind`, `server`, `session`, `session_id`, `pane` and
//! `user` for indexed lookups (`inspect` checks them against `data`). Which host a record
//! belongs to is the enrolled host's row in `hosts`, never the `host` the record says it is
//! from: a [`Filter::host`](crate::Filter::host) matches the enrolled name.
//!
//! A store is opened for one host (a [`PgLocation`] with a host scope, `--host`): it then reads
//! and appends that chain only, as an SQLite store does its own. Without a scope it answers
//! only what spans hosts — [`Reader::events`] and [`Reader::search_candidates`] visit every
//! host's records in (host name, seq) order, and [`Reader::hosts`] lists the chains — and
//! refuses what is keyed by a seq (`head`, `events_after`, `chunk`, `inspect`, appends,
//! cursors) with [`StoreError::NeedsHost`]: a seq means nothing without its chain.
//!
//! Appends take the host row `FOR UPDATE` and compute each `seq` and hash from its head in the
//! same transaction, so several collectors and writers can share one database. Output chunks
//! are kept in `chunks`, and their words in `chunk_text` (see `words`). Triggers refuse
//! `UPDATE` and `DELETE` of events and chunks, like SQLite's; retention drops whole monthly
//! partitions, which triggers do not see.
//!
//! Reads fetch [`PAGE`] rows at a time and call `visit` between queries, so a visitor may ask
//! the store something else (a chunk) while a scan goes on.

use crate::location::PgLocation;
use crate::{Access, Attachment, Filter, Reader, SinkCursors, StoreError, Writer};
use audit_core::chain::{self, ChainHash};
use audit_core::{encoding, Event, InspectReport, Stored, Timestamp};
use postgres::{Client, NoTls, Row, Transaction};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

mod batch;
mod inspect;
mod intake;
mod retain;
mod schema;
mod select;
mod words;

pub use intake::{evidence as fork_evidence, Fork, HostState};
pub use retain::Retained;

/// Rows fetched per query of a scan.
const PAGE: i64 = 1000;

/// A PostgreSQL-backed [`EventStore`](crate::EventStore) of a fleet (see the module docs).
pub struct PgStore {
    client: RefCell<Client>,
    /// The URL without its password: what messages name.
    location: String,
    access: Access,
    scope: Option<String>,
    scope_id: Cell<Option<i64>>,
    /// Month partitions this connection knows exist (by their start, µs).
    months: RefCell<HashSet<i64>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.location)
            .field("host", &self.scope)
            .finish()
    }
}

impl PgStore {
    /// Connects to the store at `location` (scoped to its host, if it names one) and creates
    /// (with [`Access::Create`], in an empty database) or checks its schema. A read-only store
    /// runs every transaction read-only.
    pub fn open(location: &PgLocation, access: Access) -> Result<PgStore, StoreError> {
        let shown = location.redacted();
        let err = |error| StoreError::Postgres {
            location: shown.clone(),
            error,
        };
        let mut config: postgres::Config = location.url().parse().map_err(err)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let mut client = config.connect(NoTls).map_err(err)?;
        schema::prepare(&mut client, access, &shown)?;
        if access == Access::ReadOnly {
            client
                .batch_execute("SET default_transaction_read_only = on")
                .map_err(err)?;
        }
        Ok(PgStore {
            client: RefCell::new(client),
            location: shown,
            access,
            scope: location.host().map(str::to_owned),
            scope_id: Cell::new(None),
            months: RefCell::new(HashSet::new()),
        })
    }

    /// The host chain this store is scoped to, if any.
    pub fn host(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    fn pg_err(&self) -> impl Fn(postgres::Error) -> StoreError + '_ {
        |error| StoreError::Postgres {
            location: self.location.clone(),
            error,
        }
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(&self.location)
    }

    fn central(&self, what: impl Into<String>) -> StoreError {
        StoreError::Central {
            location: self.location.clone(),
            what: what.into(),
        }
    }

    fn writable(&self, what: &str) -> Result<(), StoreError> {
        match self.access {
            Access::Create => Ok(()),
            Access::ReadOnly => Err(StoreError::ReadOnly {
                path: self.path(),
                what: what.to_owned(),
            }),
        }
    }

    /// The scope's host name, or [`StoreError::NeedsHost`] naming `what` was asked.
    fn scoped(&self, what: &str) -> Result<&str, StoreError> {
        self.scope.as_deref().ok_or_else(|| StoreError::NeedsHost {
            what: what.to_owned(),
        })
    }

    /// The id of the scope's host row (`None`: it has none yet, so no records); with `create`,
    /// made if missing (enrollment makes it in production; a scoped writer of a fresh store,
    /// such as the conformance suite, on its first write).
    fn host_id(&self, what: &str, create: bool) -> Result<Option<i64>, StoreError> {
        let name = self.scoped(what)?;
        if let Some(id) = self.scope_id.get() {
            return Ok(Some(id));
        }
        let mut client = self.client.borrow_mut();
        if create {
            client
                .execute(
                    "INSERT INTO hosts (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                    &[&name],
                )
                .map_err(self.pg_err())?;
        }
        let id: Option<i64> = client
            .query_opt("SELECT id FROM hosts WHERE name = $1", &[&name])
            .map_err(self.pg_err())?
            .map(|r| r.get(0));
        self.scope_id.set(id);
        Ok(id)
    }

    /// Makes the month partitions `times` (µs) fall in, each in its own short transaction
    /// under an advisory lock (never inside an append's: creating a partition locks `events`).
    fn ensure_partitions(&self, times: impl IntoIterator<Item = i64>) -> Result<(), StoreError> {
        let mut wanted = Vec::new();
        for t in times {
            if let Some(month) = schema::month_of(t) {
                if !self.months.borrow().contains(&month.1)
                    && !wanted.iter().any(|m: &(String, i64, i64)| m.1 == month.1)
                {
                    wanted.push(month);
                }
            }
        }
        for (name, from, to) in wanted {
            let mut client = self.client.borrow_mut();
            let mut tx = client.transaction().map_err(self.pg_err())?;
            create_partition(&mut tx, &name, from, to).map_err(self.pg_err())?;
            tx.commit().map_err(self.pg_err())?;
            self.months.borrow_mut().insert(from);
        }
        Ok(())
    }

    fn corrupt(&self, seq: u64, what: impl ToString) -> StoreError {
        StoreError::Corrupt {
            path: self.path(),
            seq,
            what: what.to_string(),
        }
    }

    fn decode_row(&self, seq: u64, data: &[u8], hash: &[u8]) -> Result<Stored, StoreError> {
        let (_, event) = encoding::decode(data).map_err(|e| self.corrupt(seq, e))?;
        let hash = hash
            .try_into()
            .map_err(|_| self.corrupt(seq, "hash is not 32 bytes"))?;
        Ok(Stored { seq, event, hash })
    }

    /// Runs a scan page by page in (host name, seq) order — one host's seq order when scoped —
    /// handing each row to `visit` until it says stop. `from` builds `FROM … WHERE <cond>` over
    /// `events e` joined with `hosts h` from `filter` (its session resolved first, see
    /// [`select::SESSIONS`]); the selected columns are `h.name, e.seq, <columns>`.
    fn scan(
        &self,
        what: &str,
        columns: &str,
        filter: &Filter,
        from: &dyn Fn(&mut select::Clause, Option<&[select::Session]>) -> String,
        visit: &mut dyn FnMut(&Row) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let scope = match self.scope {
            Some(_) => match self.host_id(what, false)? {
                Some(id) => Some(id),
                None => return Ok(()),
            },
            None => None,
        };
        let sessions = match &filter.session {
            Some(session) => {
                let until = filter.until.map_or(i64::MAX, |t| t.as_micros());
                let mut client = self.client.borrow_mut();
                let rows = match scope {
                    Some(id) => client.query(select::SESSIONS_OF_HOST, &[session, &until, &id]),
                    None => client.query(select::SESSIONS, &[session, &until]),
                };
                let found: Vec<select::Session> = rows
                    .map_err(self.pg_err())?
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect();
                if found.is_empty() {
                    return Ok(());
                }
                Some(found)
            }
            None => None,
        };
        let mut after = (String::new(), 0i64);
        loop {
            let mut c = select::Clause::default();
            let body = from(&mut c, sessions.as_deref());
            let (cond, order) = match scope {
                Some(id) => (
                    format!(
                        "e.host_id = {} AND e.seq > {}",
                        c.bind(id, "bigint"),
                        c.bind(after.1, "bigint")
                    ),
                    "e.seq",
                ),
                None => {
                    let name = c.bind(after.0.clone(), "text");
                    let seq = c.bind(after.1, "bigint");
                    (
                        format!(
                            "(h.name COLLATE \"C\" > {name} OR (h.name = {name} AND e.seq > {seq}))"
                        ),
                        "h.name COLLATE \"C\", e.seq",
                    )
                }
            };
            let sql = format!(
                "SELECT h.name, e.seq, {columns} {body} AND {cond} ORDER BY {order} LIMIT {PAGE}"
            );
            let rows = self
                .client
                .borrow_mut()
                .query(&sql, &c.params())
                .map_err(self.pg_err())?;
            for row in &rows {
                if !visit(row)? {
                    return Ok(());
                }
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == PAGE => after = (last.get(0), last.get(1)),
                _ => return Ok(()),
            }
        }
    }

    /// Appends records to the scope's chain in one transaction (see [`batch::Batch`]).
    fn append_rows(
        &mut self,
        rows: &[(&Event, Option<&Attachment>)],
    ) -> Result<Vec<Stored>, StoreError> {
        self.writable("append events")?;
        let id = self
            .host_id("append", true)?
            .ok_or_else(|| self.central("host row missing"))?;
        self.ensure_partitions(rows.iter().map(|(e, _)| e.time.as_micros()))?;
        let received = Timestamp::now().as_micros();
        let mut client = self.client.borrow_mut();
        let err = |error| StoreError::Postgres {
            location: self.location.clone(),
            error,
        };
        let mut tx = client.transaction().map_err(err)?;
        let (mut seq, mut prev) = lock_head(&mut tx, id).map_err(err)?;
        let mut batch = batch::Batch::default();
        let mut stored = Vec::with_capacity(rows.len());
        for (event, attachment) in rows {
            seq += 1;
            let data = encoding::encode(seq, event);
            let hash = chain::link(&prev, &data);
            let output = attachment.map(|a| (&a.chunk[..], a.text.as_str()));
            batch.push(seq, event, &data, &hash, output);
            prev = hash;
            stored.push(Stored {
                seq,
                event: (*event).clone(),
                hash,
            });
        }
        batch.store(&mut tx, id, received).map_err(err)?;
        set_head(&mut tx, id, seq, &prev, received).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(stored)
    }
}

/// Creates the month partition `name` for `[from, to)` unless it exists, under an advisory
/// lock so that two connections never race to create it.
fn create_partition(
    tx: &mut Transaction<'_>,
    name: &str,
    from: i64,
    to: i64,
) -> Result<(), postgres::Error> {
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&schema::PARTITION_LOCK],
    )?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {name} PARTITION OF events FOR VALUES FROM ({from}) TO ({to})"
    ))
}

/// The head of host `id`'s chain, its row locked until the transaction ends: what serializes
/// appends to one chain across connections.
fn lock_head(tx: &mut Transaction<'_>, id: i64) -> Result<(u64, ChainHash), postgres::Error> {
    let row = tx.query_one(
        "SELECT head_seq, head_hash FROM hosts WHERE id = $1 FOR UPDATE",
        &[&id],
    )?;
    let seq: i64 = row.get(0);
    let hash: Vec<u8> = row.get(1);
    Ok((seq as u64, hash.try_into().unwrap_or([0; 32])))
}

/// Moves host `id`'s head (and when it last received a record).
fn set_head(
    tx: &mut Transaction<'_>,
    id: i64,
    seq: u64,
    hash: &ChainHash,
    received: i64,
) -> Result<(), postgres::Error> {
    tx.execute(
        "UPDATE hosts SET head_seq = $2, head_hash = $3, last_received = $4 WHERE id = $1",
        &[&id, &(seq as i64), &&hash[..], &received],
    )?;
    Ok(())
}

impl Writer for PgStore {
    fn append(&mut self, events: &[Event]) -> Result<Vec<Stored>, StoreError> {
        let rows: Vec<_> = events.iter().map(|e| (e, None)).collect();
        self.append_rows(&rows)
    }

    fn append_attached(
        &mut self,
        records: &[(Event, Option<Attachment>)],
    ) -> Result<Vec<Stored>, StoreError> {
        let rows: Vec<_> = records.iter().map(|(e, a)| (e, a.as_ref())).collect();
        self.append_rows(&rows)
    }

    fn append_after_head(
        &mut self,
        make: &mut dyn FnMut(u64, &ChainHash) -> Event,
    ) -> Result<Stored, StoreError> {
        self.writable("append events")?;
        let id = self
            .host_id("append", true)?
            .ok_or_else(|| self.central("host row missing"))?;
        // The event's time is known only under the lock: make sure this month's partition
        // exists first (an event made now falls in it).
        let received = Timestamp::now().as_micros();
        self.ensure_partitions([received])?;
        let err = |error| StoreError::Postgres {
            location: self.location.clone(),
            error,
        };
        let mut client = self.client.borrow_mut();
        let mut tx = client.transaction().map_err(err)?;
        let (head_seq, head) = lock_head(&mut tx, id).map_err(err)?;
        let event = make(head_seq, &head);
        if let Some((name, from, to)) = schema::month_of(event.time.as_micros()) {
            if !self.months.borrow().contains(&from) {
                // Made for another month than now (rare): its partition, in this transaction,
                // rather than make the event twice.
                create_partition(&mut tx, &name, from, to).map_err(err)?;
            }
        }
        let seq = head_seq + 1;
        let data = encoding::encode(seq, &event);
        let hash = chain::link(&head, &data);
        let mut batch = batch::Batch::default();
        batch.push(seq, &event, &data, &hash, None);
        batch.store(&mut tx, id, received).map_err(err)?;
        set_head(&mut tx, id, seq, &hash, received).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Stored { seq, event, hash })
    }
}

impl Reader for PgStore {
    fn head(&self) -> Result<Option<Stored>, StoreError> {
        let Some(id) = self.host_id("read the head", false)? else {
            return Ok(None);
        };
        let row = self
            .client
            .borrow_mut()
            .query_opt(
                "SELECT seq, data, hash FROM events WHERE host_id = $1 ORDER BY seq DESC LIMIT 1",
                &[&id],
            )
            .map_err(self.pg_err())?;
        row.map(|r| {
            let seq: i64 = r.get(0);
            self.decode_row(seq as u64, r.get(1), r.get(2))
        })
        .transpose()
    }

    fn events(
        &self,
        filter: &Filter,
        visit: &mut dyn FnMut(Stored) -> bool,
    ) -> Result<(), StoreError> {
        self.scan(
            "read events",
            "e.data, e.hash",
            filter,
            &|c, sessions| {
                format!(
                    "FROM events e JOIN hosts h ON h.id = e.host_id WHERE {}",
                    c.filter(filter, sessions)
                )
            },
            &mut |row| {
                let seq: i64 = row.get(1);
                Ok(visit(self.decode_row(
                    seq as u64,
                    row.get(2),
                    row.get(3),
                )?))
            },
        )
    }

    fn events_after(
        &self,
        after: u64,
        limit: usize,
        visit: &mut dyn FnMut(Stored) -> bool,
    ) -> Result<(), StoreError> {
        let Some(id) = self.host_id("read on from a seq", false)? else {
            return Ok(());
        };
        let mut after = i64::try_from(after).unwrap_or(i64::MAX);
        let mut left = i64::try_from(limit).unwrap_or(i64::MAX);
        while left > 0 {
            let page = left.min(PAGE);
            let rows = self
                .client
                .borrow_mut()
                .query(
                    "SELECT seq, data, hash FROM events WHERE host_id = $1 AND seq > $2
                     ORDER BY seq LIMIT $3",
                    &[&id, &after, &page],
                )
                .map_err(self.pg_err())?;
            for row in &rows {
                after = row.get(0);
                if !visit(self.decode_row(after as u64, row.get(1), row.get(2))?) {
                    return Ok(());
                }
            }
            if (rows.len() as i64) < page {
                break;
            }
            left -= page;
        }
        Ok(())
    }

    fn chunk(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(id) = self.host_id("read a chunk", false)? else {
            return Ok(None);
        };
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        Ok(self
            .client
            .borrow_mut()
            .query_opt(
                "SELECT data FROM chunks WHERE host_id = $1 AND seq = $2",
                &[&id, &seq],
            )
            .map_err(self.pg_err())?
            .map(|r| r.get(0)))
    }

    fn search_candidates(
        &self,
        words: &[String],
        filter: &Filter,
        visit: &mut dyn FnMut(u64) -> bool,
    ) -> Result<(), StoreError> {
        let Some(query) = words::query(words) else {
            return Ok(());
        };
        self.scan(
            "search",
            "1",
            filter,
            &|c, sessions| {
                let q = c.bind(query.clone(), "text");
                format!(
                    "FROM chunk_text t
                     JOIN events e ON e.host_id = t.host_id AND e.seq = t.seq
                     JOIN hosts h ON h.id = e.host_id
                     WHERE t.tsv @@ ({q})::tsquery AND e.kind = 'pane-output' AND {}",
                    c.filter(filter, sessions)
                )
            },
            &mut |row| {
                let seq: i64 = row.get(1);
                Ok(visit(seq as u64))
            },
        )
    }

    fn inspect(&self) -> Result<InspectReport, StoreError> {
        match self.host_id("verify", false)? {
            Some(id) => self.inspect_host(id),
            None => Ok(audit_core::Inspector::default().finish()),
        }
    }

    fn hosts(&self) -> Result<Vec<String>, StoreError> {
        if let Some(name) = &self.scope {
            return Ok(vec![name.clone()]);
        }
        let rows = self
            .client
            .borrow_mut()
            .query(
                "SELECT h.name FROM hosts h
                 WHERE EXISTS (SELECT 1 FROM events e WHERE e.host_id = h.id)
                 ORDER BY h.name COLLATE \"C\"",
                &[],
            )
            .map_err(self.pg_err())?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

impl SinkCursors for PgStore {
    fn sink_cursor(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let Some(id) = self.host_id("read a sink cursor", false)? else {
            return Ok(None);
        };
        Ok(self
            .client
            .borrow_mut()
            .query_opt(
                "SELECT seq FROM sink_cursors WHERE host_id = $1 AND name = $2",
                &[&id, &name],
            )
            .map_err(self.pg_err())?
            .map(|r| r.get::<_, i64>(0).max(0) as u64))
    }

    fn set_sink_cursor(&self, name: &str, seq: u64) -> Result<(), StoreError> {
        self.scoped("save a sink cursor")?;
        self.writable(&format!("save the cursor of sink {name:?}"))?;
        let id = self
            .host_id("save a sink cursor", true)?
            .ok_or_else(|| self.central("host row missing"))?;
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        self.client
            .borrow_mut()
            .execute(
                "INSERT INTO sink_cursors (host_id, name, seq) VALUES ($1, $2, $3)
                 ON CONFLICT (host_id, name) DO UPDATE SET seq = excluded.seq",
                &[&id, &name, &seq],
            )
            .map_err(self.pg_err())?;
        Ok(())
    }
}
