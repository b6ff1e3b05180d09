//! The export encoders against fixture files: a known recording (two chunks of a pane that
//! prints hostile bytes, resizes and redraws a progress line, with a gap in time), stored in a
//! real SQLite store, found through `Recording::find` and encoded in every format; each result
//! must be byte for byte the file in `tests/fixtures/`. The fixtures were written by the
//! `tmux-audit export` of the version before the encoders moved here
//! (`BLESS_WITH=PATH/tmux-audit cargo test -p audit-views --test encoders` writes them again
//! with the binary at PATH).

use audit_capture::chunk::{self, Chunk, Record};
use audit_core::{Event, Kind, Observed, Timestamp};
use audit_store::{Access, Attachment, SqliteStore, Writer};
use audit_views::encode::{encode, Format};
use audit_views::recording::{load, PaneName, PaneQuery, Recording, TimeRef};
use std::path::{Path, PathBuf};

/// 2026-11-28T14:26:40Z.
const T0: i64 = 1_795_875_200_000_000;
const S: i64 = 1_000_000;
const SERVER: &str = "/tmp/tmux-0/default";

fn records() -> Vec<Record> {
    let out = |t: i64, bytes: &[u8]| Record::Output {
        time: T0 + t,
        bytes: bytes.to_vec(),
    };
    vec![
        out(100_000, b"$ cat notes\r\n"),
        out(200_000, b"caf\xc3"),
        out(300_000, b"\xa9 \x1b]0;pwned\x07ok\r\n"),
        out(S, b"bad \xff\x00 byte\r\n\x1b[31mred\x1b[0m\r\n"),
        Record::Resize {
            time: T0 + 2 * S,
            width: 40,
            height: 10,
        },
        out(3 * S, b"progress 10%\rprogress 55%\rprogress 100%\r\n"),
        out(90 * S, b"\x1b[2J\x1b[Hafter a long pause\r\n$ "),
    ]
}

fn rows() -> Vec<(Event, Option<Attachment>)> {
    let mut started =
        Event::new(Timestamp(T0 - S), Kind::ServerStarted, "h", SERVER).observed(Observed::Live);
    started.pid = Some(7);
    let mut rows = vec![(started, None)];
    let chunks: Vec<Chunk> = audit_screen::rechunk::rechunk((60, 12), &records(), &[4]);
    for c in &chunks {
        let compressed = chunk::compress(&c.encode(), 3);
        let mut e = Event::new(Timestamp(c.end), Kind::PaneOutput, "h", SERVER);
        e.session = Some("prod".into());
        e.session_id = Some("$0".into());
        e.window_index = Some(0);
        e.pane_id = Some("%0".into());
        e.pane_index = Some(0);
        e.from = Some(Timestamp(c.start));
        e.until = Some(Timestamp(c.end));
        e.width = Some(i64::from(c.width));
        e.height = Some(i64::from(c.height));
        e.digest = Some(blake3::hash(&compressed).to_hex().to_string());
        let attachment = Attachment {
            chunk: compressed,
            text: String::new(),
        };
        rows.push((e, Some(attachment)));
    }
    rows
}

fn store(dir: &Path) -> PathBuf {
    let db = dir.join("audit.db");
    let mut store = SqliteStore::open(&db, Access::Create).unwrap();
    store.append_attached(&rows()).unwrap();
    db
}

/// The same store in schema 2, which the version before this one reads.
fn old_store(dir: &Path) -> PathBuf {
    let db = dir.join("old.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL,
            kind TEXT NOT NULL, server TEXT NOT NULL, session TEXT, data BLOB NOT NULL,
            hash BLOB NOT NULL);
         CREATE TABLE chunks (seq INTEGER PRIMARY KEY, data BLOB NOT NULL);
         CREATE VIRTUAL TABLE chunk_text USING fts5(text, content='', detail=none);
         PRAGMA user_version = 2;",
    )
    .unwrap();
    let mut prev = audit_core::chain::GENESIS;
    for (seq, (e, a)) in (1i64..).zip(rows()) {
        let data = audit_core::encoding::encode(seq as u64, &e);
        let hash = audit_core::chain::link(&prev, &data);
        conn.execute(
            "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                seq,
                e.time.as_micros(),
                e.kind.as_str(),
                e.server,
                e.session,
                data,
                &hash[..]
            ],
        )
        .unwrap();
        if let Some(a) = a {
            conn.execute(
                "INSERT INTO chunks VALUES (?1, ?2)",
                rusqlite::params![seq, a.chunk],
            )
            .unwrap();
        }
        prev = hash;
    }
    db
}

/// The cases: a file name, the format, and `--from`/`--to` as the CLI would be given them.
fn cases() -> Vec<(&'static str, Format, Option<TimeRef>, Option<TimeRef>)> {
    let whole = |name, f| (name, f, None, None);
    vec![
        whole("whole.cast", Format::Asciicast),
        whole("whole-v3.cast", Format::AsciicastV3),
        whole("whole.txt", Format::Txt),
        whole("whole.raw", Format::Raw),
        (
            "part.cast",
            Format::Asciicast,
            Some(TimeRef::Offset(1_500_000)),
            Some(TimeRef::Offset(3_500_000)),
        ),
        (
            "part.txt",
            Format::Txt,
            Some(TimeRef::Offset(1_500_000)),
            Some(TimeRef::Offset(3_500_000)),
        ),
        (
            "part.raw",
            Format::Raw,
            Some(TimeRef::At(Timestamp(T0 + S))),
            Some(TimeRef::At(Timestamp(T0 + 3 * S))),
        ),
    ]
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn cli_time(t: TimeRef) -> String {
    match t {
        TimeRef::At(t) => t.to_string(),
        TimeRef::Offset(us) => format!("+{}ms", us / 1000),
    }
}

#[test]
fn every_format_gives_the_fixture_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path());
    let reader = SqliteStore::open(&db, Access::ReadOnly).unwrap();
    if let Some(bin) = std::env::var_os("BLESS_WITH") {
        let old = old_store(dir.path());
        for (name, format, from, to) in cases() {
            let mut cmd = std::process::Command::new(&bin);
            cmd.arg("--db").arg(&old);
            cmd.args(["export", "%0", "--format"]);
            cmd.arg(format.name()).arg("-o").arg(fixture(name));
            for (flag, t) in [("--from", from), ("--to", to)] {
                if let Some(t) = t {
                    cmd.arg(flag).arg(cli_time(t));
                }
            }
            let status = cmd.env("TMUX_AUDIT_CONFIG", "/dev/null").status().unwrap();
            assert!(status.success(), "{name}: {status}");
        }
    }
    for (name, format, from, to) in cases() {
        let query = PaneQuery {
            pane: PaneName::Id("%0".into()),
            socket: None,
            server: None,
            from,
            to,
        };
        let rec = Recording::find(&reader, &query).unwrap();
        let mut encoder = format.encoder(rec.describe(), false);
        let mut got = Vec::new();
        let load = |s: &_| load(&reader, s);
        encode(&rec, &load, encoder.as_mut(), &mut |b| {
            got.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        let want = std::fs::read(fixture(name)).unwrap();
        assert!(
            got == want,
            "{name}: got\n{}\nwant\n{}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
    }
}

#[test]
fn txt_for_a_terminal_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path());
    let reader = SqliteStore::open(&db, Access::ReadOnly).unwrap();
    let query = PaneQuery {
        pane: PaneName::Position {
            session: "prod".into(),
            window: 0,
            pane: 0,
        },
        socket: Some(SERVER.into()),
        server: None,
        from: None,
        to: None,
    };
    let rec = Recording::find(&reader, &query).unwrap();
    let mut got = Vec::new();
    let mut encoder = Format::Txt.encoder(rec.describe(), true);
    let load = |s: &_| load(&reader, s);
    encode(&rec, &load, encoder.as_mut(), &mut |b| {
        got.extend_from_slice(b);
        Ok(())
    })
    .unwrap();
    let plain = std::fs::read_to_string(fixture("whole.txt")).unwrap();
    let escaped: String = plain
        .lines()
        .map(|l| audit_views::show::escape(l) + "\n")
        .collect();
    assert_eq!(String::from_utf8(got).unwrap(), escaped);
}
