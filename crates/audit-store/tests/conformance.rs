//! The suite every store backend must pass. Each test takes a fresh store from `backends()`.

use audit_core::{Event, Finding, Kind, Timestamp};
use audit_store::{Access, Attachment, EventStore, Range, SqliteStore, StoreError};

fn backends() -> Vec<(&'static str, Box<dyn EventStore>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("nested/audit.db"), Access::Create).unwrap();
    vec![("sqlite", Box::new(sqlite), dir)]
}

fn event(t: i64, kind: Kind, session: &str) -> Event {
    let mut e = Event::new(Timestamp::from_secs(t), kind, "host", "/tmp/sock");
    e.session = Some(session.to_owned());
    e
}

#[test]
fn append_assigns_gapless_seq_and_links_hashes() {
    for (name, mut store, _dir) in backends() {
        let a = store
            .append(&[event(1, Kind::SessionCreated, "a")])
            .unwrap();
        let b = store
            .append(&[
                event(2, Kind::SessionCreated, "b"),
                event(3, Kind::SessionClosed, "a"),
            ])
            .unwrap();
        let seqs: Vec<u64> = a.iter().chain(&b).map(|s| s.seq).collect();
        assert_eq!(seqs, [1, 2, 3], "{name}");
        assert_eq!(store.head().unwrap().unwrap(), b[1], "{name}");
        let report = store.inspect().unwrap();
        assert!(report.intact(), "{name}: {:?}", report.findings);
        assert_eq!(report.records, 3, "{name}");
        assert_eq!(report.head, b[1].hash, "{name}");
    }
}

#[test]
fn scan_filters_by_time_and_stops_early() {
    for (name, mut store, _dir) in backends() {
        let events: Vec<_> = (0..10)
            .map(|t| event(t, Kind::WindowCreated, "s"))
            .collect();
        store.append(&events).unwrap();
        let mut seen = Vec::new();
        let range = Range {
            since: Some(Timestamp::from_secs(3)),
            until: Some(Timestamp::from_secs(6)),
        };
        store
            .scan(range, &mut |s| {
                seen.push(s.seq);
                true
            })
            .unwrap();
        assert_eq!(seen, [4, 5, 6, 7], "{name}");
        let mut first = None;
        store
            .scan(Range::default(), &mut |s| {
                first = Some(s.seq);
                false
            })
            .unwrap();
        assert_eq!(first, Some(1), "{name}");
    }
}

#[test]
fn hostile_strings_are_kept_exactly() {
    for (name, mut store, _dir) in backends() {
        let hostile = "$(touch /tmp/x); `id` \u{1b}]52;c;AAAA\u{7} #{pane_id} -rf 🦀 \\ '\"";
        store
            .append(&[event(1, Kind::SessionCreated, hostile)])
            .unwrap();
        let got = store.head().unwrap().unwrap();
        assert_eq!(got.event.session.as_deref(), Some(hostile), "{name}");
    }
}

#[test]
fn empty_store_verifies() {
    for (name, store, _dir) in backends() {
        assert_eq!(store.inspect().unwrap().records, 0, "{name}");
        assert!(store.head().unwrap().is_none(), "{name}");
    }
}

#[test]
fn sqlite_edit_of_index_column_or_data_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let mut store = SqliteStore::open(&path, Access::Create).unwrap();
    store
        .append(&[
            event(1, Kind::SessionCreated, "a"),
            event(2, Kind::SessionCreated, "b"),
        ])
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    // The triggers refuse a plain edit...
    assert!(conn
        .execute("UPDATE events SET session = 'z' WHERE seq = 2", [])
        .is_err());
    // ...an attacker drops them; the chain still tells.
    conn.execute_batch("DROP TRIGGER events_append_only_update")
        .unwrap();
    conn.execute("UPDATE events SET session = 'z' WHERE seq = 2", [])
        .unwrap();
    assert_eq!(
        store.inspect().unwrap().findings,
        vec![Finding::ColumnEdited {
            seq: 2,
            column: "session"
        }]
    );
    conn.execute("UPDATE events SET session = 'b' WHERE seq = 2", [])
        .unwrap();
    conn.execute(
        "UPDATE events SET data = CAST(replace(CAST(data AS TEXT), 'a', 'q') AS BLOB) WHERE seq = 1",
        [],
    )
    .unwrap();
    let found = store.inspect().unwrap().findings;
    assert!(
        matches!(found[..], [Finding::Undecodable { seq: 1, .. }]),
        "{found:?}"
    );
}

#[test]
fn sqlite_refuses_foreign_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.db");
    let err = SqliteStore::open(&missing, Access::ReadOnly).unwrap_err();
    assert!(err.to_string().contains("no store at"), "{err}");
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t(x)")
        .unwrap();
    let err = SqliteStore::open(&other, Access::Create).unwrap_err();
    assert!(err.to_string().contains("not a tmux-audit store"), "{err}");
    let text = dir.path().join("text.db");
    std::fs::write(&text, "hello, not a database at all, just some text here").unwrap();
    assert!(SqliteStore::open(&text, Access::ReadOnly).is_err());
}

#[test]
fn sqlite_store_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/audit.db");
    SqliteStore::open(&path, Access::Create).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
}

fn output_event(t: i64, pane: &str, chunk: &[u8]) -> Event {
    let mut e = event(t, Kind::PaneOutput, "prod");
    e.pane_id = Some(pane.to_owned());
    e.from = Some(Timestamp::from_secs(t - 1));
    e.until = Some(Timestamp::from_secs(t));
    e.bytes = Some(chunk.len() as i64);
    e.digest = Some(blake3::hash(chunk).to_hex().to_string());
    e
}

fn attached(chunk: &[u8], text: &str) -> Option<Attachment> {
    Some(Attachment {
        chunk: chunk.to_vec(),
        text: text.to_owned(),
    })
}

#[test]
fn chunks_are_stored_with_their_event_and_found_by_words() {
    for (name, mut store, _dir) in backends() {
        let stored = store
            .append_attached(&[
                (event(1, Kind::SessionCreated, "prod"), None),
                (
                    output_event(2, "%1", b"chunk one"),
                    attached(b"chunk one", "psql> DROP TABLE users;\n"),
                ),
                (
                    output_event(3, "%2", b"chunk two"),
                    attached(b"chunk two", "drop the table\nSELECT 1"),
                ),
            ])
            .unwrap();
        assert_eq!(stored[2].seq, 3, "{name}");
        assert_eq!(store.chunk(2).unwrap().as_deref(), Some(&b"chunk one"[..]));
        assert_eq!(store.chunk(1).unwrap(), None, "{name}");
        let find = |words: &[&str]| {
            let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            let mut seqs = Vec::new();
            store
                .search_text(&words, &mut |seq| {
                    seqs.push(seq);
                    true
                })
                .unwrap();
            seqs
        };
        assert_eq!(
            find(&["DROP", "TABLE"]),
            vec![2, 3],
            "{name}: case-insensitive"
        );
        assert_eq!(find(&["users"]), vec![2], "{name}");
        assert_eq!(
            find(&["select\" OR \"x"]),
            Vec::<u64>::new(),
            "{name}: no syntax"
        );
        assert_eq!(find(&[]), Vec::<u64>::new(), "{name}");
        assert!(store.inspect().unwrap().intact(), "{name}");
    }
}

#[test]
fn sqlite_changed_missing_or_inserted_chunk_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let mut store = SqliteStore::open(&path, Access::Create).unwrap();
    store
        .append_attached(&[(
            output_event(5, "%7", b"exact bytes"),
            attached(b"exact bytes", ""),
        )])
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert!(conn
        .execute("UPDATE chunks SET data = x'00' WHERE seq = 1", [])
        .is_err());
    conn.execute_batch(
        "DROP TRIGGER chunks_append_only_update; DROP TRIGGER chunks_append_only_delete",
    )
    .unwrap();
    conn.execute(
        "UPDATE chunks SET data = CAST('exact bytez' AS BLOB) WHERE seq = 1",
        [],
    )
    .unwrap();
    let place = audit_core::ChunkPlace {
        seq: 1,
        pane_id: "%7".into(),
        from: Some(Timestamp::from_secs(4)),
        until: Some(Timestamp::from_secs(5)),
    };
    assert_eq!(
        store.inspect().unwrap().findings,
        vec![Finding::ChunkChanged(place.clone())]
    );
    conn.execute("DELETE FROM chunks WHERE seq = 1", [])
        .unwrap();
    assert_eq!(
        store.inspect().unwrap().findings,
        vec![Finding::ChunkMissing(place)]
    );
    conn.execute(
        "INSERT INTO chunks (seq, data) VALUES (1, CAST('exact bytes' AS BLOB))",
        [],
    )
    .unwrap();
    conn.execute("INSERT INTO chunks (seq, data) VALUES (9, x'01')", [])
        .unwrap();
    assert_eq!(
        store.inspect().unwrap().findings,
        vec![Finding::ChunkUnclaimed { seq: 9 }]
    );
}

#[test]
fn scan_after_reads_on_from_a_seq_in_order_with_a_limit() {
    for (name, mut store, _dir) in backends() {
        let events: Vec<_> = (0..10)
            .map(|t| event(t, Kind::WindowCreated, "s"))
            .collect();
        store.append(&events).unwrap();
        let read = |after, limit| {
            let mut seen = Vec::new();
            store
                .scan_after(after, limit, &mut |s| {
                    seen.push(s.seq);
                    true
                })
                .unwrap();
            seen
        };
        assert_eq!(read(0, 3), [1, 2, 3], "{name}");
        assert_eq!(read(3, 512), [4, 5, 6, 7, 8, 9, 10], "{name}");
        assert_eq!(read(10, 512), Vec::<u64>::new(), "{name}");
        assert_eq!(read(u64::MAX, 512), Vec::<u64>::new(), "{name}");
        let mut first = Vec::new();
        store
            .scan_after(5, 512, &mut |s| {
                first.push(s.seq);
                false
            })
            .unwrap();
        assert_eq!(first, [6], "{name}: visit stops early");
    }
}

#[test]
fn sink_cursors_start_absent_and_keep_the_last_saved_seq() {
    for (name, store, _dir) in backends() {
        assert_eq!(store.sink_cursor("syslog:tcp://a").unwrap(), None, "{name}");
        store.set_sink_cursor("syslog:tcp://a", 7).unwrap();
        store.set_sink_cursor("jsonl:/x", 3).unwrap();
        store.set_sink_cursor("syslog:tcp://a", 9).unwrap();
        assert_eq!(
            store.sink_cursor("syslog:tcp://a").unwrap(),
            Some(9),
            "{name}"
        );
        assert_eq!(store.sink_cursor("jsonl:/x").unwrap(), Some(3), "{name}");
        assert_eq!(store.sink_cursor("other").unwrap(), None, "{name}");
        // Cursors are outside the chain: saving them leaves the log intact.
        assert!(store.inspect().unwrap().intact(), "{name}");
    }
}

#[test]
fn sqlite_read_only_store_reads_cursors_but_refuses_to_save_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let mut writer = SqliteStore::open(&path, Access::Create).unwrap();
    writer
        .append(&[event(1, Kind::SessionCreated, "a")])
        .unwrap();
    writer.set_sink_cursor("webhook:http://x", 1).unwrap();
    let reader = SqliteStore::open(&path, Access::ReadOnly).unwrap();
    assert_eq!(reader.sink_cursor("webhook:http://x").unwrap(), Some(1));
    let err = reader.set_sink_cursor("webhook:http://x", 2).unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
    assert!(err.to_string().contains("read-only"), "{err}");
    assert_eq!(writer.sink_cursor("webhook:http://x").unwrap(), Some(1));
}

#[test]
fn sqlite_second_writable_connection_saves_cursors_while_the_writer_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let mut writer = SqliteStore::open(&path, Access::Create).unwrap();
    writer.append(&[event(0, Kind::AuditStarted, "-")]).unwrap();
    let appending = std::thread::spawn(move || {
        for t in 1..=200 {
            writer
                .append(&[
                    event(t, Kind::WindowCreated, "s"),
                    event(t, Kind::WindowClosed, "s"),
                ])
                .unwrap();
        }
        writer
    });
    // What a forwarder does meanwhile: its own connection, reading on and saving its cursor.
    let forwarder = SqliteStore::open(&path, Access::Create).unwrap();
    let mut cursor = 0;
    while cursor < 401 {
        let mut last = cursor;
        forwarder
            .scan_after(cursor, 64, &mut |s| {
                assert_eq!(s.seq, last + 1, "read in order, no gaps");
                last = s.seq;
                true
            })
            .unwrap();
        cursor = last;
        forwarder.set_sink_cursor("f", cursor).unwrap();
    }
    let writer = appending.join().unwrap();
    assert_eq!(writer.head().unwrap().unwrap().seq, 401);
    assert_eq!(writer.sink_cursor("f").unwrap(), Some(401));
    assert!(writer.inspect().unwrap().intact());
}
