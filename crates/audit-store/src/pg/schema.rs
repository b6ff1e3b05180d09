//! The central store's tables, made whole in one transaction by the first writable open and
//! checked by every open, and the monthly partitions of `events`, made as records need them.
//!
//! One chain per host: `hosts` holds each chain's head, and its row is what an append locks
//! (`SELECT … FOR UPDATE`), so collectors and writers on other connections append to one chain
//! one at a time. `events` is partitioned by month of the record's `time` (retention drops
//! whole partitions); its key is `(host_id, seq, time)` because a partitioned table's key must
//! hold the partition key — `seq` is unique per host because appends are serialized by the
//! host row. Every index leads with `host_id`: views ask about one host (`WHERE host_id = ?
//! AND … ORDER BY seq`).

use crate::{Access, StoreError};
use postgres::Client;
use std::path::PathBuf;

/// The schema version this build writes and reads.
pub(super) const VERSION: i32 = 1;

/// The advisory lock key under which the schema is created (so two first opens do not race).
const SCHEMA_LOCK: i64 = 0x746d_7578_6175_6469;

/// The advisory lock key under which partitions are created.
pub(super) const PARTITION_LOCK: i64 = 0x746d_7578_7061_7274;

const SCHEMA: &str = r#"
CREATE TABLE schema_version (version integer NOT NULL);
CREATE TABLE hosts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    token_hash    bytea UNIQUE,
    enrolled      timestamptz NOT NULL DEFAULT now(),
    revoked       timestamptz,
    head_seq      bigint NOT NULL DEFAULT 0,
    head_hash     bytea NOT NULL DEFAULT decode(repeat('00', 32), 'hex'),
    last_received bigint
);
CREATE TABLE events (
    host_id    bigint NOT NULL,
    seq        bigint NOT NULL,
    time       bigint NOT NULL,
    kind       text NOT NULL,
    server     text NOT NULL,
    session    text,
    session_id text,
    pane       text,
    "user"     text,
    data       bytea NOT NULL,
    hash       bytea NOT NULL,
    received   bigint NOT NULL,
    PRIMARY KEY (host_id, seq, time)
) PARTITION BY RANGE (time);
CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE INDEX events_time ON events (host_id, time);
CREATE INDEX events_kind ON events (host_id, kind, seq);
CREATE INDEX events_session_id ON events (host_id, session_id, server) WHERE session_id IS NOT NULL;
CREATE INDEX events_session ON events (host_id, session) WHERE session IS NOT NULL;
CREATE INDEX events_pane ON events (host_id, pane, seq) WHERE pane IS NOT NULL;
CREATE INDEX events_user ON events (host_id, "user", seq) WHERE "user" IS NOT NULL;
CREATE INDEX events_server ON events (host_id, server, seq);
CREATE TABLE chunks (
    host_id bigint NOT NULL,
    seq     bigint NOT NULL,
    data    bytea NOT NULL,
    PRIMARY KEY (host_id, seq)
);
CREATE TABLE chunk_text (
    host_id bigint NOT NULL,
    seq     bigint NOT NULL,
    tsv     tsvector NOT NULL,
    PRIMARY KEY (host_id, seq)
);
CREATE INDEX chunk_text_tsv ON chunk_text USING gin (tsv);
CREATE TABLE forks (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id  bigint NOT NULL REFERENCES hosts (id),
    received bigint NOT NULL,
    seq      bigint NOT NULL,
    why      text NOT NULL,
    batch    bytea NOT NULL,
    digest   text NOT NULL
);
CREATE INDEX forks_host ON forks (host_id, id);
CREATE TABLE sink_cursors (
    host_id bigint NOT NULL REFERENCES hosts (id),
    name    text NOT NULL,
    seq     bigint NOT NULL,
    PRIMARY KEY (host_id, name)
);
CREATE TABLE checkpoints (
    host_id bigint PRIMARY KEY REFERENCES hosts (id),
    seq     bigint NOT NULL,
    hash    bytea NOT NULL,
    time    bigint NOT NULL,
    made    bigint NOT NULL
);
CREATE FUNCTION tmux_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Retention (PgStore::retain) deletes the output of the records it drops, and says so.
    IF TG_OP = 'DELETE' AND current_setting('tmux_audit.retaining', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'tmux-audit % are append-only', TG_ARGV[0];
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION tmux_audit_append_only('events');
CREATE TRIGGER chunks_append_only BEFORE UPDATE OR DELETE ON chunks
    FOR EACH ROW EXECUTE FUNCTION tmux_audit_append_only('output chunks');
"#;

/// Creates the schema (with [`Access::Create`], in an empty database) or checks it.
pub(super) fn prepare(
    client: &mut Client,
    access: Access,
    location: &str,
) -> Result<(), StoreError> {
    let err = |error| StoreError::Postgres {
        location: location.to_owned(),
        error,
    };
    let path = || PathBuf::from(location);
    let mut tx = client.transaction().map_err(err)?;
    if access == Access::Create {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .map_err(err)?;
    }
    let has_version: bool = tx
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .map_err(err)?
        .get(0);
    if !has_version {
        let tables: i64 = tx
            .query_one(
                "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()",
                &[],
            )
            .map_err(err)?
            .get(0);
        return match (access, tables) {
            (Access::ReadOnly, ..=0) => Err(StoreError::Missing { path: path() }),
            (_, 1..) => Err(StoreError::Foreign {
                path: path(),
                what:
                    "a database of something else (no schema_version table): give an empty database"
                        .into(),
            }),
            (Access::Create, _) => {
                tx.batch_execute(SCHEMA).map_err(err)?;
                tx.execute("INSERT INTO schema_version VALUES ($1)", &[&VERSION])
                    .map_err(err)?;
                tx.commit().map_err(err)
            }
        };
    }
    let version: Option<i32> = tx
        .query_one("SELECT max(version) FROM schema_version", &[])
        .map_err(err)?
        .get(0);
    match version {
        Some(VERSION) => tx.commit().map_err(err),
        Some(v) if v > VERSION => Err(StoreError::Foreign {
            path: path(),
            what: format!("schema version {v}, newer than {VERSION}"),
        }),
        other => Err(StoreError::Foreign {
            path: path(),
            what: format!("schema version {other:?}, which no tmux-audit wrote"),
        }),
    }
}

/// The month partition a record time (µs) falls in: its name and bounds `[from, to)` in µs.
/// Times outside 1970..3000 go to the default partition (`None`).
pub(super) fn month_of(micros: i64) -> Option<(String, i64, i64)> {
    use jiff::civil::date;
    use jiff::tz::TimeZone;
    let t = jiff::Timestamp::from_microsecond(micros).ok()?;
    let day = t.to_zoned(TimeZone::UTC).date();
    let (y, m) = (day.year(), day.month());
    if !(1970..3000).contains(&y) {
        return None;
    }
    let start = |y: i16, m: i8| -> Option<i64> {
        Some(
            date(y, m, 1)
                .to_zoned(TimeZone::UTC)
                .ok()?
                .timestamp()
                .as_microsecond(),
        )
    };
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    Some((
        format!("events_y{y:04}m{m:02}"),
        start(y, m)?,
        start(ny, nm)?,
    ))
}

/// The bounds `[from, to)` (µs) of the month partition named `name` (`events_yYYYYmMM`).
pub(super) fn bounds_of(name: &str) -> Option<(i64, i64)> {
    let rest = name.strip_prefix("events_y")?;
    let (y, m) = rest.split_once('m')?;
    let (y, m): (i16, i8) = (y.parse().ok()?, m.parse().ok()?);
    let start = jiff::civil::date(y, m, 1)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()?
        .timestamp()
        .as_microsecond();
    let (_, from, to) = month_of(start)?;
    Some((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_falls_in_its_utc_month() {
        let (name, from, to) = month_of(0).unwrap();
        assert_eq!((name.as_str(), from), ("events_y1970m01", 0));
        assert_eq!(to, 31 * 86_400 * 1_000_000);
        let dec = month_of(1_796_083_200_000_000).unwrap(); // 2026-12-01T00:00:00Z
        assert_eq!(dec.0, "events_y2026m12");
        assert_eq!(dec.1, 1_796_083_200_000_000);
        assert_eq!(month_of(dec.2).unwrap().0, "events_y2027m01");
        assert_eq!(month_of(-1), None);
        assert_eq!(month_of(i64::MAX), None);
        assert_eq!(bounds_of(&dec.0), Some((dec.1, dec.2)));
        assert_eq!(bounds_of("events_default"), None);
    }
}
