//! The suite every store backend must pass, method by method of `Reader`, `Writer` and
//! `SinkCursors`. Each test runs against every backend in `backends()`; what a test needs that
//! the interface does not offer (opening the same store again, editing it behind the store's
//! back as an attacker would) each backend provides through [`Backend`]. Tests named `sqlite_*`
//! are about the SQLite file itself (its modes, foreign files, its schema upgrade).
//!
//! The PostgreSQL backend runs against one throwaway server per test binary
//! (`audit_testpg::TestPostgres::shared`), each test in a database of its own, the store scoped
//! to one host's chain. Where backends legitimately differ the [`Backend`] says how: which
//! host a `Filter::host` matches (the record's own on SQLite, the enrolled name on a central
//! store) and which fields are copied into columns.

use audit_core::chain::{self, GENESIS};
use audit_core::{encoding, Event, Finding, Kind, Timestamp};
use audit_store::{
    Access, Attachment, EventStore, Filter, Location, Reader, SqliteStore, StoreError,
};
use audit_testpg::TestPostgres;
use std::path::PathBuf;

/// A place a store lives, with what the suite needs beyond the store interface.
trait Backend {
    fn name(&self) -> &'static str;
    /// Opens the store again, as a second connection.
    fn open(&self, access: Access) -> Box<dyn EventStore>;
    /// Sets a copied column of one event row (the names of `Finding::ColumnEdited`) as an
    /// attacker with write access to the store would, past any append-only guard.
    fn edit_column(&self, seq: u64, column: &str, value: &str);
    /// Replaces the canonical bytes of one record.
    fn edit_data(&self, seq: u64, data: &[u8]);
    /// Replaces, removes (`None`) or adds the stored chunk of `seq`.
    fn put_chunk(&self, seq: u64, chunk: Option<&[u8]>);
    /// The host a `Filter::host` matches for `event` as stored here.
    fn host_of(&self, event: &Event) -> String;
    /// The event fields copied into columns `edit_column` can edit (besides `time`).
    fn copied_columns(&self) -> &'static [&'static str];
}

struct Sqlite {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Sqlite {
    fn new() -> Sqlite {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/audit.db");
        Sqlite { _dir: dir, path }
    }

    /// A raw connection with the append-only triggers dropped, as an attacker would.
    fn raw(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        conn.execute_batch(
            "DROP TRIGGER IF EXISTS events_append_only_update;
             DROP TRIGGER IF EXISTS chunks_append_only_update;
             DROP TRIGGER IF EXISTS chunks_append_only_delete;",
        )
        .unwrap();
        conn
    }
}

impl Backend for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }
    fn open(&self, access: Access) -> Box<dyn EventStore> {
        Box::new(SqliteStore::open(&self.path, access).unwrap())
    }
    fn edit_column(&self, seq: u64, column: &str, value: &str) {
        let sql = format!("UPDATE events SET {column} = ?1 WHERE seq = ?2");
        self.raw()
            .execute(&sql, rusqlite::params![value, seq as i64])
            .unwrap();
    }
    fn edit_data(&self, seq: u64, data: &[u8]) {
        self.raw()
            .execute(
                "UPDATE events SET data = ?1 WHERE seq = ?2",
                rusqlite::params![data, seq as i64],
            )
            .unwrap();
    }
    fn host_of(&self, event: &Event) -> String {
        event.host.clone()
    }
    fn copied_columns(&self) -> &'static [&'static str] {
        &[
            "session",
            "session_id",
            "pane",
            "user",
            "host",
            "server",
            "kind",
        ]
    }
    fn put_chunk(&self, seq: u64, chunk: Option<&[u8]>) {
        let conn = self.raw();
        conn.execute("DELETE FROM chunks WHERE seq = ?1", [seq as i64])
            .unwrap();
        if let Some(data) = chunk {
            conn.execute(
                "INSERT INTO chunks (seq, data) VALUES (?1, ?2)",
                rusqlite::params![seq as i64, data],
            )
            .unwrap();
        }
    }
}

/// A central store in a database of its own on the shared test server, scoped to one host.
struct Pg {
    url: String,
}

/// The host chain the suite's central stores are scoped to.
const PG_HOST: &str = "conformance-host";

impl Pg {
    fn new() -> Pg {
        let url = TestPostgres::shared().fresh_database().unwrap();
        Pg { url }
    }

    /// A superuser connection that bypasses the append-only triggers, as an attacker with
    /// access to the database would (`session_replication_role = replica`).
    fn raw(&self) -> postgres::Client {
        let mut c = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        c.batch_execute("SET session_replication_role = replica")
            .unwrap();
        c
    }

    fn host_id(&self, c: &mut postgres::Client) -> i64 {
        c.query_one("SELECT id FROM hosts WHERE name = $1", &[&PG_HOST])
            .unwrap()
            .get(0)
    }
}

impl Backend for Pg {
    fn name(&self) -> &'static str {
        "postgres"
    }
    fn open(&self, access: Access) -> Box<dyn EventStore> {
        let location = Location::parse(&self.url).unwrap().on_host(PG_HOST);
        audit_store::open(&location, access).unwrap()
    }
    fn edit_column(&self, seq: u64, column: &str, value: &str) {
        let mut c = self.raw();
        let id = self.host_id(&mut c);
        let sql = format!("UPDATE events SET \"{column}\" = $1 WHERE host_id = $2 AND seq = $3");
        c.execute(&sql, &[&value, &id, &(seq as i64)]).unwrap();
    }
    fn edit_data(&self, seq: u64, data: &[u8]) {
        let mut c = self.raw();
        let id = self.host_id(&mut c);
        c.execute(
            "UPDATE events SET data = $1 WHERE host_id = $2 AND seq = $3",
            &[&data, &id, &(seq as i64)],
        )
        .unwrap();
    }
    fn put_chunk(&self, seq: u64, chunk: Option<&[u8]>) {
        let mut c = self.raw();
        let id = self.host_id(&mut c);
        let seq = seq as i64;
        c.execute(
            "DELETE FROM chunks WHERE host_id = $1 AND seq = $2",
            &[&id, &seq],
        )
        .unwrap();
        if let Some(data) = chunk {
            c.execute(
                "INSERT INTO chunks (host_id, seq, data) VALUES ($1, $2, $3)",
                &[&id, &seq, &data],
            )
            .unwrap();
        }
    }
    fn host_of(&self, _: &Event) -> String {
        PG_HOST.to_owned()
    }
    fn copied_columns(&self) -> &'static [&'static str] {
        &["session", "session_id", "pane", "user", "server", "kind"]
    }
}

/// Each backend with a fresh, writable store.
fn backends() -> Vec<(Box<dyn Backend>, Box<dyn EventStore>)> {
    let sqlite = Sqlite::new();
    let store = sqlite.open(Access::Create);
    let pg = Pg::new();
    let pg_store = pg.open(Access::Create);
    vec![(Box::new(sqlite), store), (Box::new(pg), pg_store)]
}

/// What `filter` admits of `event` on `backend`: [`Filter::admits`], with `host` matched as
/// the backend files records (see [`Backend::host_of`]).
fn admits(backend: &dyn Backend, filter: &Filter, event: &Event) -> bool {
    let rest = Filter {
        host: None,
        ..filter.clone()
    };
    rest.admits(event)
        && filter
            .host
            .as_ref()
            .is_none_or(|h| *h == backend.host_of(event))
}

fn event(t: i64, kind: Kind, session: &str) -> Event {
    let mut e = Event::new(Timestamp::from_secs(t), kind, "host", "/tmp/sock");
    e.session = Some(session.to_owned());
    e
}

fn seqs(store: &dyn Reader, filter: &Filter) -> Vec<u64> {
    let mut seen = Vec::new();
    store
        .events(filter, &mut |s| {
            seen.push(s.seq);
            true
        })
        .unwrap();
    seen
}

#[test]
fn append_assigns_gapless_seq_and_links_hashes() {
    for (backend, mut store) in backends() {
        let name = backend.name();
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
        assert_eq!(
            b[0].hash,
            chain::link(&a[0].hash, &encoding::encode(2, &b[0].event))
        );
        assert_eq!(store.head().unwrap().unwrap(), b[1], "{name}");
        let report = store.inspect().unwrap();
        assert!(report.intact(), "{name}: {:?}", report.findings);
        assert_eq!(report.records, 3, "{name}");
        assert_eq!(report.head, b[1].hash, "{name}");
    }
}

#[test]
fn append_after_head_makes_the_event_from_the_head_it_follows() {
    for (backend, mut store) in backends() {
        let name = backend.name();
        let mut seen = Vec::new();
        let first = store
            .append_after_head(&mut |seq, head| {
                seen.push((seq, *head));
                let mut e = event(1, Kind::Seal, "-");
                e.epoch = Some(seq as i64);
                e
            })
            .unwrap();
        assert_eq!(seen, [(0, GENESIS)], "{name}: an empty log's head");
        assert_eq!((first.seq, first.event.epoch), (1, Some(0)), "{name}");
        let more = store.append(&[event(2, Kind::WindowCreated, "s")]).unwrap();
        let sealed = store
            .append_after_head(&mut |seq, head| {
                seen.push((seq, *head));
                event(3, Kind::Seal, "-")
            })
            .unwrap();
        assert_eq!(seen[1], (2, more[0].hash), "{name}");
        assert_eq!(sealed.seq, 3, "{name}");
        assert_eq!(store.head().unwrap().unwrap(), sealed, "{name}");
        assert!(store.inspect().unwrap().intact(), "{name}");
    }
}

#[test]
fn events_filter_by_time_and_stop_early() {
    for (backend, mut store) in backends() {
        let name = backend.name();
        let events: Vec<_> = (0..10)
            .map(|t| event(t, Kind::WindowCreated, "s"))
            .collect();
        store.append(&events).unwrap();
        let window = Filter::all()
            .since(Some(Timestamp::from_secs(3)))
            .until(Some(Timestamp::from_secs(6)));
        assert_eq!(seqs(store.as_ref(), &window), [4, 5, 6, 7], "{name}");
        let mut first = None;
        store
            .events(&Filter::all(), &mut |s| {
                first = Some(s.seq);
                false
            })
            .unwrap();
        assert_eq!(first, Some(1), "{name}");
    }
}

/// A small log of two hosts, two servers, renamed sessions, panes and users.
fn mixed_log() -> Vec<Event> {
    let at =
        |t, kind, host: &str, server: &str| Event::new(Timestamp::from_secs(t), kind, host, server);
    let mut log = Vec::new();
    for (i, host, server) in [
        (0, "web-1", "/tmp/a/default"),
        (100, "web-2", "/tmp/b/work"),
    ] {
        let mut created = at(i + 1, Kind::SessionCreated, host, server);
        created.session = Some("dev".into());
        created.session_id = Some("$0".into());
        log.push(created);
        let mut renamed = at(i + 2, Kind::SessionRenamed, host, server);
        renamed.session = Some("prod".into());
        renamed.session_id = Some("$0".into());
        log.push(renamed);
        for (t, user) in [(3, "alice"), (4, "bob")] {
            let mut attached = at(i + t, Kind::ClientAttached, host, server);
            attached.session = Some("prod".into());
            attached.session_id = Some("$0".into());
            attached.user = Some(user.into());
            log.push(attached);
        }
        for pane in ["%0", "%1"] {
            let mut out = at(i + 5, Kind::PaneOutput, host, server);
            out.session = Some("prod".into());
            out.session_id = Some("$0".into());
            out.pane_id = Some(pane.into());
            log.push(out);
        }
        let mut other = at(i + 6, Kind::SessionCreated, host, server);
        other.session = Some("dev".into());
        other.session_id = Some("$1".into());
        log.push(other);
    }
    log
}

#[test]
fn events_filter_by_host_server_session_pane_kind_and_user() {
    for (backend, mut store) in backends() {
        let name = backend.name();
        let log = mixed_log();
        store.append(&log).unwrap();
        let filed_under = backend.host_of(&log[log.len() - 1]);
        let filters = [
            Filter {
                host: Some("web-2".into()),
                ..Filter::all()
            },
            Filter {
                host: Some(filed_under.clone()),
                kinds: vec![Kind::SessionCreated],
                ..Filter::all()
            },
            Filter::all().on_server("/tmp/a/default"),
            Filter::all().on_server("work"),
            Filter::all().on_server("default").on_pane("%1"),
            Filter::kinds(&[Kind::ClientAttached, Kind::SessionRenamed]),
            Filter {
                user: Some("bob".into()),
                ..Filter::all()
            },
            Filter {
                host: Some("web-1".into()),
                kinds: vec![Kind::PaneOutput],
                since: Some(Timestamp::from_secs(5)),
                until: Some(Timestamp::from_secs(5)),
                ..Filter::all()
            },
            Filter {
                host: Some("nowhere".into()),
                ..Filter::all()
            },
        ];
        for filter in &filters {
            // The backend's answer is exactly what the filter admits, in seq order.
            let want: Vec<u64> = (1..)
                .zip(&log)
                .filter(|(_, e)| admits(backend.as_ref(), filter, e))
                .map(|(seq, _)| seq)
                .collect();
            assert_eq!(seqs(store.as_ref(), filter), want, "{name}: {filter:?}");
        }
        // A session by any name it had, followed by its id (not the other session named dev).
        let prod = Filter {
            session: Some("dev".into()),
            server: Some("default".into()),
            ..Filter::all()
        };
        assert_eq!(seqs(store.as_ref(), &prod), [1, 2, 3, 4, 5, 6, 7], "{name}");
        let by_id = Filter {
            session: Some("$0".into()),
            kinds: vec![Kind::ClientAttached],
            ..Filter::all()
        };
        assert_eq!(seqs(store.as_ref(), &by_id), [3, 4, 10, 11], "{name}");
        // A name given only after `until` does not reach back.
        let early = Filter {
            session: Some("prod".into()),
            until: Some(Timestamp::from_secs(1)),
            ..Filter::all()
        };
        assert_eq!(seqs(store.as_ref(), &early), Vec::<u64>::new(), "{name}");
    }
}

/// A long-lived session's `session-created` may be gone (a central store's retention drops
/// whole months): the session is still found by the records that name it.
#[test]
fn a_session_is_found_by_any_record_naming_it_not_only_its_creation() {
    for (backend, mut store) in backends() {
        let name = backend.name();
        let mut attached = event(10, Kind::ClientAttached, "old");
        attached.session_id = Some("$7".into());
        let mut command = event(11, Kind::Command, "old");
        command.session_id = Some("$7".into());
        let mut other = event(12, Kind::Command, "new");
        other.session_id = Some("$8".into());
        store.append(&[attached, command, other]).unwrap();
        let old = Filter {
            session: Some("old".into()),
            ..Filter::all()
        };
        assert_eq!(seqs(store.as_ref(), &old), [1, 2], "{name}");
    }
}

#[test]
fn hostile_strings_are_kept_exactly_and_are_no_query_syntax() {
    for (backend, mut store) in backends() {
        let name = backend.name();
        let hostile = "$(touch /tmp/x); `id` \u{1b}]52;c;AAAA\u{7} #{pane_id} -rf 🦀 \\ '\" %_";
        let mut e = event(1, Kind::SessionCreated, hostile);
        e.session_id = Some(hostile.to_owned());
        e.user = Some("' OR 1=1 --".to_owned());
        store
            .append(&[e, event(2, Kind::SessionCreated, "x")])
            .unwrap();
        let got = store.head().unwrap().unwrap();
        assert_eq!(got.event.session.as_deref(), Some("x"), "{name}");
        let by = |f: Filter| seqs(store.as_ref(), &f);
        assert_eq!(
            by(Filter {
                session: Some(hostile.to_owned()),
                ..Filter::all()
            }),
            [1],
            "{name}"
        );
        assert_eq!(
            by(Filter {
                user: Some("' OR 1=1 --".to_owned()),
                ..Filter::all()
            }),
            [1],
            "{name}"
        );
        assert_eq!(
            by(Filter::all().on_server("%_")),
            Vec::<u64>::new(),
            "{name}"
        );
        assert_eq!(by(Filter::all().on_server("sock")), [1, 2], "{name}");
    }
}

#[test]
fn empty_store_verifies() {
    for (backend, store) in backends() {
        let name = backend.name();
        assert_eq!(store.inspect().unwrap().records, 0, "{name}");
        assert!(store.head().unwrap().is_none(), "{name}");
        assert_eq!(seqs(store.as_ref(), &Filter::all()), Vec::<u64>::new());
    }
}

#[test]
fn hosts_names_the_chains_a_store_holds() {
    for (backend, mut store) in backends() {
        let name = backend.name();
        let e = event(1, Kind::SessionCreated, "a");
        store.append(std::slice::from_ref(&e)).unwrap();
        assert_eq!(store.hosts().unwrap(), [backend.host_of(&e)], "{name}");
        let reader = backend.open(Access::ReadOnly);
        assert_eq!(reader.hosts().unwrap(), [backend.host_of(&e)], "{name}");
    }
}

#[test]
fn an_edited_copied_column_or_record_is_found() {
    for (backend, mut store) in backends() {
        let name = backend.name();
        let mut e = event(2, Kind::ClientAttached, "b");
        e.session_id = Some("$1".into());
        e.pane_id = Some("%1".into());
        e.user = Some("alice".into());
        store
            .append(&[event(1, Kind::SessionCreated, "a"), e])
            .unwrap();
        for &column in backend.copied_columns() {
            backend.edit_column(2, column, "z");
            assert_eq!(
                store.inspect().unwrap().findings,
                vec![Finding::ColumnEdited { seq: 2, column }],
                "{name}: {column}"
            );
            let original = match column {
                "session" => "b",
                "session_id" => "$1",
                "pane" => "%1",
                "user" => "alice",
                "host" => "host",
                "server" => "/tmp/sock",
                _ => "client-attached",
            };
            backend.edit_column(2, column, original);
            assert!(
                store.inspect().unwrap().intact(),
                "{name}: {column} put back"
            );
        }
        let mut data = encoding::encode(1, &event(1, Kind::SessionCreated, "a"));
        let at = data.len() - 1;
        data[at] ^= 0x01;
        backend.edit_data(1, &data);
        let found = store.inspect().unwrap().findings;
        assert!(!found.is_empty(), "{name}: an edited record is found");
    }
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
fn chunks_are_stored_with_their_event_and_found_by_words_within_a_filter() {
    for (backend, mut store) in backends() {
        let name = backend.name();
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
        assert_eq!(store.chunk(99).unwrap(), None, "{name}");
        let find = |words: &[&str], filter: &Filter| {
            let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            let mut seqs = Vec::new();
            store
                .search_candidates(&words, filter, &mut |seq| {
                    seqs.push(seq);
                    true
                })
                .unwrap();
            seqs
        };
        let all = Filter::all();
        assert_eq!(
            find(&["DROP", "TABLE"], &all),
            [2, 3],
            "{name}: case-insensitive"
        );
        assert_eq!(find(&["users"], &all), [2], "{name}");
        assert_eq!(
            find(&["select\" OR \"x"], &all),
            Vec::<u64>::new(),
            "{name}: no syntax"
        );
        assert_eq!(find(&[], &all), Vec::<u64>::new(), "{name}");
        let pane = Filter::all().on_pane("%2");
        assert_eq!(find(&["drop"], &pane), [3], "{name}: by pane");
        let late = Filter::all().since(Some(Timestamp::from_secs(3)));
        assert_eq!(find(&["table"], &late), [3], "{name}: by time");
        let elsewhere = Filter::all().on_server("other");
        assert_eq!(
            find(&["table"], &elsewhere),
            Vec::<u64>::new(),
            "{name}: by server"
        );
        let mut first = Vec::new();
        store
            .search_candidates(&["table".into()], &all, &mut |seq| {
                first.push(seq);
                false
            })
            .unwrap();
        assert_eq!(first, [2], "{name}: visit stops early");
        assert!(store.inspect().unwrap().intact(), "{name}");
    }
}

#[test]
fn a_changed_missing_or_unclaimed_chunk_is_found() {
    for (backend, mut store) in backends() {
        let name = backend.name();
        store
            .append_attached(&[(
                output_event(5, "%7", b"exact bytes"),
                attached(b"exact bytes", ""),
            )])
            .unwrap();
        let place = audit_core::ChunkPlace {
            seq: 1,
            pane_id: "%7".into(),
            from: Some(Timestamp::from_secs(4)),
            until: Some(Timestamp::from_secs(5)),
        };
        backend.put_chunk(1, Some(b"exact bytez"));
        assert_eq!(
            store.inspect().unwrap().findings,
            vec![Finding::ChunkChanged(place.clone())],
            "{name}"
        );
        backend.put_chunk(1, None);
        assert_eq!(
            store.inspect().unwrap().findings,
            vec![Finding::ChunkMissing(place)],
            "{name}"
        );
        backend.put_chunk(1, Some(b"exact bytes"));
        backend.put_chunk(9, Some(b"\x01"));
        assert_eq!(
            store.inspect().unwrap().findings,
            vec![Finding::ChunkUnclaimed { seq: 9 }],
            "{name}"
        );
    }
}

#[test]
fn events_after_reads_on_from_a_seq_in_order_with_a_limit() {
    for (backend, mut store) in backends() {
        let name = backend.name();
        let events: Vec<_> = (0..10)
            .map(|t| event(t, Kind::WindowCreated, "s"))
            .collect();
        store.append(&events).unwrap();
        let read = |after, limit| {
            let mut seen = Vec::new();
            store
                .events_after(after, limit, &mut |s| {
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
            .events_after(5, 512, &mut |s| {
                first.push(s.seq);
                false
            })
            .unwrap();
        assert_eq!(first, [6], "{name}: visit stops early");
    }
}

#[test]
fn sink_cursors_start_absent_and_keep_the_last_saved_seq() {
    for (backend, store) in backends() {
        let name = backend.name();
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
fn a_read_only_store_reads_but_refuses_every_write() {
    for (backend, mut writer) in backends() {
        let name = backend.name();
        writer
            .append(&[event(1, Kind::SessionCreated, "a")])
            .unwrap();
        writer.set_sink_cursor("webhook:http://x", 1).unwrap();
        let mut reader = backend.open(Access::ReadOnly);
        assert_eq!(reader.head().unwrap(), writer.head().unwrap(), "{name}");
        assert_eq!(reader.sink_cursor("webhook:http://x").unwrap(), Some(1));
        let err = reader.set_sink_cursor("webhook:http://x", 2).unwrap_err();
        assert!(
            matches!(err, StoreError::ReadOnly { .. }),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains("read-only"), "{err}");
        assert!(reader
            .append(&[event(2, Kind::SessionCreated, "b")])
            .is_err());
        assert_eq!(writer.sink_cursor("webhook:http://x").unwrap(), Some(1));
        assert_eq!(writer.head().unwrap().unwrap().seq, 1, "{name}");
    }
}

#[test]
fn a_second_writable_connection_saves_cursors_while_the_writer_appends() {
    for (backend, mut writer) in backends() {
        let name = backend.name();
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
        // What a forwarder does meanwhile: its own connection, reading on, saving its cursor.
        let forwarder = backend.open(Access::Create);
        let mut cursor = 0;
        while cursor < 401 {
            let mut last = cursor;
            forwarder
                .events_after(cursor, 64, &mut |s| {
                    assert_eq!(s.seq, last + 1, "read in order, no gaps");
                    last = s.seq;
                    true
                })
                .unwrap();
            cursor = last;
            forwarder.set_sink_cursor("f", cursor).unwrap();
        }
        let writer = appending.join().unwrap();
        assert_eq!(writer.head().unwrap().unwrap().seq, 401, "{name}");
        assert_eq!(writer.sink_cursor("f").unwrap(), Some(401), "{name}");
        assert!(writer.inspect().unwrap().intact(), "{name}");
    }
}

#[test]
fn sqlite_append_only_triggers_refuse_plain_edits() {
    let sqlite = Sqlite::new();
    let mut store = sqlite.open(Access::Create);
    store
        .append_attached(&[(output_event(2, "%1", b"c"), attached(b"c", "c"))])
        .unwrap();
    let conn = rusqlite::Connection::open(&sqlite.path).unwrap();
    for sql in [
        "UPDATE events SET session = 'z' WHERE seq = 1",
        "DELETE FROM events WHERE seq = 1",
        "UPDATE chunks SET data = x'00' WHERE seq = 1",
        "DELETE FROM chunks WHERE seq = 1",
    ] {
        assert!(conn.execute(sql, []).is_err(), "{sql}");
    }
    assert!(store.inspect().unwrap().intact());
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

/// Schema 2, as version 0.1 of this store wrote it (before the copied host, session id, pane
/// and user columns).
const SCHEMA_2: &str = "
CREATE TABLE events (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, kind TEXT NOT NULL,
    server TEXT NOT NULL, session TEXT, data BLOB NOT NULL, hash BLOB NOT NULL);
CREATE INDEX events_time ON events(time);
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'tmux-audit events are append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'tmux-audit events are append-only'); END;
CREATE TABLE chunks (seq INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE VIRTUAL TABLE chunk_text USING fts5(text, content='', detail=none);
CREATE TABLE sink_cursors (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
PRAGMA user_version = 2;
";

#[test]
fn sqlite_schema_2_store_is_upgraded_by_a_writer_and_refused_clearly_by_a_reader() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let log = mixed_log();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(SCHEMA_2).unwrap();
    let mut prev = GENESIS;
    for (seq, e) in (1..).zip(&log) {
        let data = encoding::encode(seq, e);
        let hash = chain::link(&prev, &data);
        conn.execute(
            "INSERT INTO events (seq, time, kind, server, session, data, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                seq as i64,
                e.time.as_micros(),
                e.kind.as_str(),
                e.server,
                e.session,
                data,
                &hash[..]
            ],
        )
        .unwrap();
        prev = hash;
    }
    drop(conn);
    let err = SqliteStore::open(&path, Access::ReadOnly).unwrap_err();
    assert!(
        matches!(err, StoreError::Outdated { version: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("restart the daemon"), "{err}");

    let store = SqliteStore::open(&path, Access::Create).unwrap();
    // The chain is untouched and every filled copy agrees with its record (the mixed log's
    // pane-output events carry no chunks: those, and only those, are reported).
    let report = store.inspect().unwrap();
    assert_eq!((report.records, report.head), (log.len() as u64, prev));
    let missing = |f: &Finding| matches!(f, Finding::ChunkMissing(_));
    assert!(report.findings.iter().all(missing), "{:?}", report.findings);
    assert_eq!(report.findings.len(), 4);
    let bob = Filter {
        user: Some("bob".into()),
        ..Filter::all()
    };
    assert_eq!(seqs(&store, &bob), [4, 11]);
    assert_eq!(seqs(&store, &Filter::all().on_pane("%1")), [6, 13]);
    drop(store);
    let reader = SqliteStore::open(&path, Access::ReadOnly).unwrap();
    assert_eq!(seqs(&reader, &bob), [4, 11]);
    // The append-only guard is back after the upgrade.
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert!(conn.execute("UPDATE events SET user = 'x'", []).is_err());
}
