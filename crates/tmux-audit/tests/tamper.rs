//! Tampering with a real daemon's sealed store, one way per test, and the exact report
//! `verify` gives for each: what a forger with write access to the store (and, in the
//! forward-security test, the machine's current sealing key) can and cannot hide.

use crate::support::sealed::*;
use crate::support::*;
use audit_core::seal::SealingKey;
use audit_core::{chain, encoding, Event, Kind, Timestamp};

fn seq_of(conn: &rusqlite::Connection, what: impl Fn(&Event) -> bool) -> u64 {
    records(conn)
        .into_iter()
        .find(|(_, e)| what(e))
        .map(|(s, _)| s)
        .expect("such a record")
}

fn last_seq(conn: &rusqlite::Connection) -> u64 {
    conn.query_row("SELECT max(seq) FROM events", [], |r| r.get::<_, i64>(0))
        .unwrap() as u64
}

/// The first output chunk of pane `%0` (the second session's pane may come first or not).
fn first_output(conn: &rusqlite::Connection) -> (u64, Event) {
    records(conn)
        .into_iter()
        .find(|(_, e)| e.kind == Kind::PaneOutput && e.pane_id.as_deref() == Some("%0"))
        .expect("a pane-output record of %0")
}

/// Two neighbouring records, neither a seal nor next to one, after the start.
fn quiet_pair(conn: &rusqlite::Connection) -> u64 {
    let all = records(conn);
    let is_seal = |i: usize| all[i].1.kind == Kind::Seal;
    (2..all.len() - 2)
        .find(|&i| !is_seal(i - 1) && !is_seal(i) && !is_seal(i + 1) && !is_seal(i + 2))
        .map(|i| all[i].0)
        .expect("two records away from seals")
}

/// Renumbers the rows of both tables: `seq >= from` moves by `by`.
fn shift(conn: &rusqlite::Connection, from: u64, by: i64) {
    for table in ["events", "chunks"] {
        // Through negative numbers, so no row lands on another on the way.
        conn.execute(
            &format!("UPDATE {table} SET seq = -(seq + ?1) WHERE seq >= ?2"),
            rusqlite::params![by, from as i64],
        )
        .unwrap();
        conn.execute(&format!("UPDATE {table} SET seq = -seq WHERE seq < 0"), [])
            .unwrap();
    }
}

#[test]
fn a_changed_event_is_named_by_its_seq() {
    let server = TmuxServer::start("work");
    let (db, key) = sealed_output_store(&server, 3);
    let conn = forger(&db);
    let seq = seq_of(&conn, |e| e.session.as_deref() == Some("second"));
    let (_, mut event) = records(&conn).remove(seq as usize - 1);
    event.session = Some("innocent".into());
    // The record and its index column changed together; the hash left alone.
    conn.execute(
        "UPDATE events SET data = ?1, session = 'innocent' WHERE seq = ?2",
        rusqlite::params![encoding::encode(seq, &event), seq as i64],
    )
    .unwrap();
    let (code, report) = verify_json(&db, Some(&key));
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["status"], "tampered");
    assert_eq!(
        findings(&report),
        [("changed".into(), seq, seq)],
        "{report}"
    );
    let (_, text) = verify_text(&db, &key);
    assert!(
        text.starts_with("TAMPERED")
            && text.contains(&format!(
                "seq {seq}: changed (the record no longer matches the chain)"
            )),
        "{text}"
    );
}

#[test]
fn changed_output_is_named_by_pane_and_time_range() {
    let server = TmuxServer::start("work");
    let (db, key) = sealed_output_store(&server, 3);
    let conn = forger(&db);
    let (seq, event) = first_output(&conn);
    let mut chunk: Vec<u8> = conn
        .query_row(
            "SELECT data FROM chunks WHERE seq = ?1",
            [seq as i64],
            |r| r.get(0),
        )
        .unwrap();
    let middle = chunk.len() / 2;
    chunk[middle] ^= 0x01;
    conn.execute(
        "UPDATE chunks SET data = ?1 WHERE seq = ?2",
        rusqlite::params![chunk, seq as i64],
    )
    .unwrap();
    let (code, report) = verify_json(&db, Some(&key));
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(
        findings(&report),
        [("output-changed".into(), seq, seq)],
        "{report}"
    );
    let f = &report["findings"][0];
    assert_eq!(f["pane"], "%0");
    assert_eq!(f["from_time"], event.from.unwrap().to_string());
    assert_eq!(f["until_time"], event.until.unwrap().to_string());
}

#[test]
fn deleted_output_is_named() {
    let server = TmuxServer::start("work");
    let (db, key) = sealed_output_store(&server, 3);
    let conn = forger(&db);
    let (seq, _) = first_output(&conn);
    conn.execute("DELETE FROM chunks WHERE seq = ?1", [seq as i64])
        .unwrap();
    let (code, report) = verify_json(&db, Some(&key));
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(
        findings(&report),
        [("output-missing".into(), seq, seq)],
        "{report}"
    );
}

#[test]
fn deleted_events_are_named_as_a_seq_range() {
    let server = TmuxServer::start("work");
    let (db, key) = sealed_output_store(&server, 3);
    let conn = forger(&db);
    let at = quiet_pair(&conn);
    conn.execute(
        "DELETE FROM events WHERE seq IN (?1, ?2)",
        [at as i64, at as i64 + 1],
    )
    .unwrap();
    conn.execute(
        "DELETE FROM chunks WHERE seq IN (?1, ?2)",
        [at as i64, at as i64 + 1],
    )
    .unwrap();
    let (code, report) = verify_json(&db, Some(&key));
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(
        findings(&report),
        [("deleted".into(), at, at + 1)],
        "{report}"
    );
    let (_, text) = verify_text(&db, &key);
    assert!(
        text.contains(&format!(
            "seq {at}..{}: deleted (2 records missing)",
            at + 1
        )),
        "{text}"
    );
}

#[test]
fn deleted_events_with_the_rest_renumbered_to_close_the_gap_are_named() {
    let server = TmuxServer::start("work");
    let (db, key) = sealed_output_store(&server, 3);
    let conn = forger(&db);
    let at = quiet_pair(&conn);
    let last = last_seq(&conn);
    for table in ["events", "chunks"] {
        conn.execute(
            &format!("DELETE FROM {table} WHERE seq IN (?1, ?2)"),
            [at as i64, at as i64 + 1],
        )
        .unwrap();
    }
    shift(&conn, at + 2, -2);
    let (code, report) = verify_json(&db, Some(&key));
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(
        findings(&report),
        [
            ("deleted".into(), at, at + 1),
            ("renumbered".into(), at, last - 2)
        ],
        "{report}"
    );
    assert_eq!(report["findings"][1]["by"], -2);
    // The seals moved with their records and still hold; the tail is all there.
    assert_eq!(report["seals"]["good"], report["seals"]["present"]);
}

#[test]
fn an_inserted_event_is_named_even_when_chained_in() {
    let server = TmuxServer::start("work");
    let (db, key) = sealed_output_store(&server, 3);
    let conn = forger(&db);
    let at = quiet_pair(&conn);
    let last = last_seq(&conn);
    let prev: chain::ChainHash = conn
        .query_row(
            "SELECT hash FROM events WHERE seq = ?1",
            [at as i64 - 1],
            |r| r.get::<_, Vec<u8>>(0),
        )
        .unwrap()
        .try_into()
        .unwrap();
    shift(&conn, at, 1);
    // A made-up detach, numbered and chained to fit where it is put.
    let mut event = Event::new(
        Timestamp::now(),
        Kind::ClientDetached,
        "host",
        &server.sock_str(),
    );
    event.session = Some("work".into());
    let data = encoding::encode(at, &event);
    conn.execute(
        "INSERT INTO events (seq, time, kind, server, session, data, hash, host) VALUES (?1, ?2, 'client-detached', ?3, 'work', ?4, ?5, ?6)",
        rusqlite::params![at as i64, event.time.as_micros(), event.server, data, &chain::link(&prev, &data)[..], event.host],
    )
    .unwrap();
    let (code, report) = verify_json(&db, Some(&key));
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(
        findings(&report),
        [
            ("inserted".into(), at, at),
            ("renumbered".into(), at + 1, last + 1)
        ],
        "{report}"
    );
    let (_, text) = verify_text(&db, &key);
    assert!(
        text.contains(&format!(
            "seq {at}: inserted (1 record not part of the chain)"
        )),
        "{text}"
    );
}

#[test]
fn swapped_events_are_named_as_reordered() {
    let server = TmuxServer::start("work");
    let (db, key) = sealed_output_store(&server, 3);
    let conn = forger(&db);
    let at = quiet_pair(&conn) as i64;
    for table in ["events", "chunks"] {
        for (from, to) in [(at, -1), (at + 1, at), (-1, at + 1)] {
            conn.execute(
                &format!("UPDATE {table} SET seq = ?1 WHERE seq = ?2"),
                [to, from],
            )
            .unwrap();
        }
    }
    let (code, report) = verify_json(&db, Some(&key));
    assert_eq!(code, Some(1), "{report}");
    let at = at as u64;
    assert_eq!(
        findings(&report),
        [("reordered".into(), at, at + 1)],
        "{report}"
    );
}

#[test]
fn a_cut_tail_is_named_from_the_sealing_state() {
    let server = TmuxServer::start("work");
    let (db, key) = sealed_output_store(&server, 3);
    let conn = forger(&db);
    let last = last_seq(&conn);
    for table in ["events", "chunks"] {
        conn.execute(
            &format!("DELETE FROM {table} WHERE seq > ?1"),
            [last as i64 - 3],
        )
        .unwrap();
    }
    let (code, report) = verify_json(&db, Some(&key));
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(
        findings(&report),
        [("truncated".into(), last - 2, last)],
        "{report}"
    );
    // Without the key too: the sealing state is beside the store.
    let (code, report) = verify_json(&db, None);
    assert_eq!(code, Some(1), "{report}");
    let (_, text) = verify_text(&db, &key);
    assert!(
        text.contains(&format!("seq {}..{last}: cut off the end", last - 2)),
        "{text}"
    );
}

#[test]
fn an_edited_index_column_is_named() {
    let server = TmuxServer::start("work");
    let (db, key) = sealed_output_store(&server, 3);
    let conn = forger(&db);
    let seq = seq_of(&conn, |e| e.session.as_deref() == Some("second"));
    conn.execute(
        "UPDATE events SET session = 'elsewhere' WHERE seq = ?1",
        [seq as i64],
    )
    .unwrap();
    let (code, report) = verify_json(&db, Some(&key));
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(
        findings(&report),
        [("column-edited".into(), seq, seq)],
        "{report}"
    );
    assert_eq!(report["findings"][0]["column"], "session");
}

#[test]
fn a_seal_whose_time_or_epoch_goes_backwards_is_named() {
    let server = TmuxServer::start("work");
    let (db, key) = sealed_output_store(&server, 3);
    let copy = server.dir().join("copy.db");
    std::fs::copy(&db, &copy).unwrap();
    std::fs::copy(state_of(&db).seal_path(), state_of(&copy).seal_path()).unwrap();
    for (store, what) in [(&db, "time"), (&copy, "epoch")] {
        let conn = forger(store);
        let all = records(&conn);
        let seals: Vec<&(u64, Event)> = all.iter().filter(|(_, e)| e.kind == Kind::Seal).collect();
        let (last, previous) = (seals[seals.len() - 1], seals[seals.len() - 2]);
        assert_eq!(last.0, all.len() as u64, "the final seal ends the store");
        let previous = previous.1.clone();
        assert!(previous.epoch.unwrap() >= 1, "{previous:?}");
        // Rewritten without the key: the chain is recomputed over the edited seal.
        rechain_from(&conn, last.0, |_, _, e| match what {
            "time" => e.time = Timestamp(previous.time.as_micros() - 1),
            _ => e.epoch = Some(previous.epoch.unwrap() - 1),
        });
        let (code, report) = verify_json(store, Some(&key));
        assert_eq!(code, Some(1), "{what}: {report}");
        assert_eq!(
            findings(&report),
            [("seal-backwards".into(), last.0, last.0)],
            "{what}: {report}"
        );
        let message = report["findings"][0]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("its {what}"))
                && message.contains("before the previous seal's"),
            "{message}"
        );
    }
}

#[test]
fn holding_the_current_key_does_not_let_a_thief_reseal_an_earlier_epoch() {
    let server = TmuxServer::start("work");
    let (db, key) = sealed_output_store(&server, 3);
    // The thief takes the machine's sealing state: the key of the current epoch only.
    let state = std::fs::read(state_of(&db).seal_path()).unwrap();
    let stolen = SealingKey::from_bytes(&state).unwrap();
    let conn = forger(&db);
    let seq = seq_of(&conn, |e| e.session.as_deref() == Some("second"));
    let copy = server.dir().join("copy.db");

    // Try 1: keep every seal's epoch and time (the times of the records around it) and make
    // its MAC with the stolen key. The earlier epochs' keys are out of reach. Try 2 (at_now):
    // move every seal into the thief's present, the only epochs the key can reach.
    let reseal = |at_now: bool, conn: &rusqlite::Connection| {
        let mut sealing = stolen.clone();
        rechain_from(conn, seq, |s, head, e| {
            if e.session.as_deref() == Some("second") {
                e.session = Some("innocent".into());
            }
            if e.kind == Kind::Seal {
                let now = Timestamp(Timestamp::now().as_micros() + 60_000_000);
                let (epoch, mac) = sealing.seal(s - 1, head, now).unwrap();
                if at_now {
                    e.time = now;
                    e.epoch = Some(epoch as i64);
                }
                e.seal = Some(chain::to_hex(&mac));
            }
        });
    };
    std::fs::copy(&db, &copy).unwrap();
    reseal(false, &conn);
    let (code, report) = verify_json(&db, Some(&key));
    assert_eq!(code, Some(1), "{report}");
    let found = findings(&report);
    assert!(!found.is_empty(), "{report}");
    assert!(
        found
            .iter()
            .all(|(k, _, _)| ["seal-failed", "seal-malformed", "rechained"].contains(&k.as_str())),
        "only the seals give it away: {report}"
    );
    let (code, _) = verify_json(&db, None);
    assert_eq!(code, Some(0), "the chain alone was recomputed consistently");

    // Try 2: seal everything in the thief's present instead. The seals check — the thief had
    // that key — but each is named as made long after the records it covers.
    let conn = forger(&copy);
    reseal(true, &conn);
    let (code, report) = verify_json(&copy, Some(&key));
    assert_eq!(code, Some(0), "{report}");
    let notes = report["notes"].as_array().expect("late-seal notes");
    assert!(
        notes.iter().all(|n| n["kind"] == "late-seal") && !notes.is_empty(),
        "{report}"
    );
    let out = cli(&copy, &["verify", "--key", &key]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("sealed late"), "{text}");
}

/// A tiny deterministic generator (xorshift64*), seeded from `TAMPER_SEED` or the clock, so a
/// failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn any_single_byte_changed_in_stored_events_or_output_is_detected() {
    let server = TmuxServer::start("work");
    let (db, _key) = sealed_output_store(&server, 3);
    let seed = std::env::var("TAMPER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let mut rng = Rng(seed);
    let conn = forger(&db);
    let places: Vec<(&str, &str, i64)> = {
        let mut all = Vec::new();
        for (table, column) in [("events", "data"), ("events", "hash"), ("chunks", "data")] {
            let seqs: Vec<i64> = conn
                .prepare(&format!("SELECT seq FROM {table}"))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            all.extend(seqs.into_iter().map(|s| (table, column, s)));
        }
        all
    };
    let store = audit_store::open(
        &audit_store::Location::Sqlite(db.clone()),
        audit_store::Access::ReadOnly,
    )
    .unwrap();
    assert!(store.inspect().unwrap().intact());
    for round in 0..300 {
        let (table, column, seq) = places[rng.below(places.len())];
        let select = format!("SELECT {column} FROM {table} WHERE seq = ?1");
        let update = format!("UPDATE {table} SET {column} = ?1 WHERE seq = ?2");
        let original: Vec<u8> = conn.query_row(&select, [seq], |r| r.get(0)).unwrap();
        let mut changed = original.clone();
        let at = rng.below(changed.len());
        changed[at] ^= (rng.below(255) + 1) as u8;
        conn.execute(&update, rusqlite::params![changed, seq])
            .unwrap();
        let report = store.inspect().unwrap();
        assert!(
            !report.intact(),
            "round {round} (TAMPER_SEED={seed}): byte {at} of {table}.{column} at seq {seq} changed, nothing found"
        );
        conn.execute(&update, rusqlite::params![original, seq])
            .unwrap();
    }
    assert!(store.inspect().unwrap().intact(), "every byte put back");
}
