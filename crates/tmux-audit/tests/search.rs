//! `search` against a store built directly — sessions, clients (root and nobody) and
//! pane-output chunks with their digests and indexed text, as the daemon writes them — then the
//! real binary.

use crate::support;
use crate::support::{cli, cli_in, parse_json_lines};
use audit_capture::chunk::{self, Chunk, Record};
use audit_core::{Event, Kind, Observed, Timestamp};
use audit_screen::Terminal;
use audit_store::{Access, Attachment, SqliteStore, Writer};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;
use tempfile::TempDir;

/// 2025-11-28T14:26:40Z.
const T0: i64 = 1_764_340_000_000_000;
const S: i64 = 1_000_000;
const MS: i64 = 1_000;

type Row = (Event, Option<Attachment>);

fn out(time: i64, bytes: &[u8]) -> Record {
    Record::Output {
        time,
        bytes: bytes.to_vec(),
    }
}

/// Typing `text`, one key every 100 ms from `t`.
fn typed(t: i64, text: &str) -> Vec<Record> {
    text.bytes()
        .enumerate()
        .map(|(i, b)| out(t + i as i64 * 100 * MS, &[b]))
        .collect()
}

/// Cuts records into 80x24 chunks, as the daemon would.
fn chunks(records: &[Record], cuts: &[usize]) -> Vec<Chunk> {
    audit_screen::rechunk::rechunk((80, 24), records, cuts)
}

/// The text the daemon indexes for a chunk: lines that left the screen, then the last screen.
fn indexed_text(c: &Chunk) -> String {
    let mut term = Terminal::from_snapshot(c.width, c.height, &c.snapshot).unwrap();
    let mut lines = Vec::new();
    for r in &c.records {
        if let Record::Output { bytes, .. } = r {
            term.feed(bytes);
            lines.extend(term.take_scrolled());
        }
    }
    lines.extend(term.screen_text());
    lines.retain(|l| !l.trim().is_empty());
    lines.join("\n")
}

struct Pane<'a> {
    server: &'a str,
    id: &'a str,
    session: &'a str,
    session_id: &'a str,
}

fn pane_output(pane: &Pane, c: &Chunk) -> Row {
    let compressed = chunk::compress(&c.encode(), 3);
    let mut e = Event::new(
        Timestamp(c.end + S),
        Kind::PaneOutput,
        "test-host",
        pane.server,
    )
    .observed(Observed::Live);
    e.session = Some(pane.session.to_owned());
    e.session_id = Some(pane.session_id.to_owned());
    e.window = Some("bash".into());
    e.window_id = Some("@0".into());
    e.window_index = Some(0);
    e.pane_id = Some(pane.id.to_owned());
    e.pane_index = Some(0);
    e.from = Some(Timestamp(c.start));
    e.until = Some(Timestamp(c.end));
    e.bytes = Some(c.output_bytes() as i64);
    e.width = Some(i64::from(c.width));
    e.height = Some(i64::from(c.height));
    e.digest = Some(blake3::hash(&compressed).to_hex().to_string());
    let text = indexed_text(c);
    (
        e,
        Some(Attachment {
            chunk: compressed,
            text,
        }),
    )
}

fn event(server: &str, time: i64, kind: Kind) -> Event {
    Event::new(Timestamp(time), kind, "test-host", server).observed(Observed::Live)
}

fn server_started(server: &str, time: i64) -> Row {
    let mut e = event(server, time, Kind::ServerStarted);
    e.pid = Some(100);
    (e, None)
}

fn session_created(server: &str, time: i64, name: &str, id: &str) -> Row {
    let mut e = event(server, time, Kind::SessionCreated);
    e.session = Some(name.into());
    e.session_id = Some(id.into());
    (e, None)
}

/// A client event: `tty` of `user` on session `name` (`id`).
fn client(
    server: &str,
    time: i64,
    kind: Kind,
    who: (&str, i64, &str),
    session: (&str, &str),
    ro: bool,
) -> Row {
    let (tty, uid, user) = who;
    let mut e = event(server, time, kind);
    e.session = Some(session.0.into());
    e.session_id = Some(session.1.into());
    e.client = Some(tty.into());
    e.tty = Some(tty.into());
    e.client_pid = Some(1000 + uid);
    e.uid = Some(uid);
    e.user = Some(user.into());
    e.readonly = Some(ro);
    e.flags = Some("attached,focused,UTF-8".into());
    (e, None)
}

const ROOT: (&str, i64, &str) = ("/dev/pts/1", 0, "root");
const NOBODY_RO: (&str, i64, &str) = ("/dev/pts/2", 65534, "nobody");
const NOBODY_DEV: (&str, i64, &str) = ("/dev/pts/3", 65534, "nobody");

/// A store in a temp dir.
struct Store {
    dir: TempDir,
    server: String,
}

impl Store {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = dir.path().join("tmux-0/default").display().to_string();
        Store { dir, server }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("audit.db")
    }

    fn append(&self, rows: &[Row]) {
        let mut store = SqliteStore::open(&self.db(), Access::Create).expect("open store");
        store.append_attached(rows).expect("append");
    }

    fn run(&self, args: &[&str]) -> Output {
        cli(&self.db(), args)
    }

    /// `search ARGS --json`, which must succeed.
    fn hits(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["search", "--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "search {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        parse_json_lines(&out.stdout).unwrap_or_else(|e| panic!("search {args:?}: {e}"))
    }

    /// The store every test below searches:
    ///
    /// - `prod` ($0): root attached read-write from T0-5s; nobody read-only from T0+20s to
    ///   T0+40s. Pane %1 (prod:0.0) types `DROP TABLE users;` into psql at T0+10s, psql answers
    ///   at T0+15s (first chunk); at T0+30s a hostile line (a clipboard write, a retitle, colour,
    ///   a right-to-left override) says `drop table`; at T0+50s thirty lines scroll all of it
    ///   away (second chunk, which the index also holds the earlier lines in).
    /// - `dev` ($1): nobody attached from T0-5s. Pane %2 (dev:0.0) runs `psql -c 'drop table
    ///   dev_things;'` at T0+5s, which prints `dropped tables: 1`.
    fn scenario() -> Self {
        let st = Store::new();
        let srv = st.server.as_str();
        let prod = Pane {
            server: srv,
            id: "%1",
            session: "prod",
            session_id: "$0",
        };
        let dev = Pane {
            server: srv,
            id: "%2",
            session: "dev",
            session_id: "$1",
        };
        let mut p1 = vec![out(T0 + S, b"$ psql\r\n"), out(T0 + 2 * S, b"psql> ")];
        p1.extend(typed(T0 + 10 * S, "DROP TABLE users;"));
        p1.push(out(T0 + 15 * S, b"\r\nDROP TABLE\r\npsql> "));
        let cut = p1.len();
        p1.push(out(
            T0 + 30 * S,
            "\x1b]52;c;c2VjcmV0\x07\x1b[31mdrop table\x1b[0m \u{202e}sresu\x1b]0;pwned\x07\r\npsql> "
                .as_bytes(),
        ));
        let scroll: String = (0..30).map(|i| format!("row {i}\r\n")).collect();
        p1.push(out(T0 + 50 * S, scroll.as_bytes()));
        let p1 = chunks(&p1, &[cut]);
        let p2 = chunks(
            &[
                out(T0 + 5 * S, b"$ psql -c 'drop table dev_things;'\r\n"),
                out(T0 + 6 * S, b"dropped tables: 1\r\n$ "),
            ],
            &[],
        );
        let prod_s = ("prod", "$0");
        let dev_s = ("dev", "$1");
        st.append(&[
            server_started(srv, T0 - 10 * S),
            session_created(srv, T0 - 9 * S, "prod", "$0"),
            session_created(srv, T0 - 9 * S, "dev", "$1"),
            client(srv, T0 - 5 * S, Kind::ClientAttached, ROOT, prod_s, false),
            client(
                srv,
                T0 - 5 * S,
                Kind::ClientAttached,
                NOBODY_DEV,
                dev_s,
                false,
            ),
            pane_output(&dev, &p2[0]),
            pane_output(&prod, &p1[0]),
            client(
                srv,
                T0 + 20 * S,
                Kind::ClientAttached,
                NOBODY_RO,
                prod_s,
                true,
            ),
            client(
                srv,
                T0 + 40 * S,
                Kind::ClientDetached,
                NOBODY_RO,
                prod_s,
                true,
            ),
            pane_output(&prod, &p1[1]),
        ]);
        st
    }
}

fn rfc3339(micros: i64) -> String {
    Timestamp(micros).to_string()
}

fn s<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

/// (time, pane, line) of each hit.
fn summary(hits: &[Value]) -> Vec<(String, String, String)> {
    hits.iter()
        .map(|h| {
            (
                s(h, "time").into(),
                s(h, "pane_id").into(),
                s(h, "line").into(),
            )
        })
        .collect()
}

fn users(hit: &Value) -> Vec<(String, bool)> {
    hit["attached"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (s(a, "user").to_owned(), a["readonly"].as_bool().unwrap()))
        .collect()
}

fn hit(time: i64, pane: &str, line: &str) -> (String, String, String) {
    (rfc3339(time), pane.into(), line.into())
}

#[test]
fn finds_each_line_once_at_its_pane_and_time_with_who_was_attached() {
    let st = Store::scenario();
    let hits = st.hits(&["drop table"]);
    assert_eq!(
        summary(&hits),
        [
            hit(T0 + 5 * S, "%2", "$ psql -c 'drop table dev_things;'"),
            // The key that completed "DROP TABLE": the 10th, 900 ms after typing began.
            hit(T0 + 10 * S + 900 * MS, "%1", "psql> DROP TABLE users;"),
            hit(T0 + 15 * S, "%1", "DROP TABLE"),
            hit(T0 + 30 * S, "%1", "psql> drop table \u{202e}sresu"),
        ],
        "each line once, although the first chunk's last screen is indexed with the second chunk"
    );
    let prod = &hits[1];
    assert_eq!(s(prod, "server"), st.server);
    assert_eq!(s(prod, "session"), "prod");
    assert_eq!(prod["window_index"], 0);
    assert_eq!(prod["pane_index"], 0);
    assert_eq!(users(&hits[0]), [("nobody".into(), false)]);
    assert_eq!(users(prod), [("root".into(), false)]);
    assert_eq!(
        users(&hits[3]),
        [("nobody".into(), true), ("root".into(), false)]
    );
    let replay = s(prod, "replay");
    let words = shlex::split(replay).expect("a shell command");
    let db = st.db().display().to_string();
    let from = rfc3339(T0 + 10_900 * MS);
    assert_eq!(
        words,
        ["tmux-audit", "--db", &db, "replay", "%1", "--from", &from],
        "{replay}"
    );
    assert!(!replay.contains("--server"), "one server: {replay}");
}

#[test]
fn the_replay_command_it_prints_runs() {
    let st = Store::scenario();
    let hits = st.hits(&["drop table users"]);
    assert_eq!(hits.len(), 1);
    let words = shlex::split(s(&hits[0], "replay")).expect("a shell command");
    assert_eq!(words[0], "tmux-audit");
    let out = cli_in(st.dir.path(), &words[1..]);
    assert!(
        out.status.success(),
        "{words:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("DROP TABLE users;"),
        "the replay shows the line"
    );
}

#[test]
fn words_are_a_case_insensitive_phrase_with_whole_ends() {
    let st = Store::scenario();
    assert_eq!(
        summary(&st.hits(&["Drop TABLE Users"])),
        [hit(T0 + 11_500 * MS, "%1", "psql> DROP TABLE users;")],
        "dated by the key that completed this phrase"
    );
    assert!(
        st.hits(&["drop tables"]).is_empty(),
        "`dropped tables` is no hit"
    );
    assert!(
        st.hits(&["table users drop"]).is_empty(),
        "a phrase, in order"
    );
}

#[test]
fn regex_reads_every_chunk_and_is_case_sensitive_by_default() {
    let st = Store::scenario();
    assert_eq!(
        summary(&st.hits(&["--regex", r"dropp?ed tables?: \d"])),
        [hit(T0 + 6 * S, "%2", "dropped tables: 1")]
    );
    let upper = st.hits(&["--regex", "^(psql> )?DROP TABLE"]);
    assert_eq!(upper.len(), 2, "{upper:?}");
    assert_eq!(st.hits(&["--regex", "(?i)^(psql> )?drop table"]).len(), 3);
}

#[test]
fn filters_by_session_user_and_time() {
    let st = Store::scenario();
    let panes = |args: &[&str]| -> Vec<String> {
        summary(&st.hits(args)).into_iter().map(|h| h.2).collect()
    };
    assert_eq!(
        panes(&["drop table", "--session", "dev"]),
        ["$ psql -c 'drop table dev_things;'"]
    );
    assert_eq!(panes(&["drop table", "--session", "$0"]).len(), 3);
    assert_eq!(
        panes(&["drop table", "--user", "nobody"]),
        [
            "$ psql -c 'drop table dev_things;'",
            "psql> drop table \u{202e}sresu"
        ],
        "nobody watched dev, and prod only from T0+20s to T0+40s"
    );
    assert_eq!(panes(&["drop table", "--user", "root"]).len(), 3);
    let since = rfc3339(T0 + 20 * S);
    assert_eq!(
        panes(&["drop table", "--since", &since]),
        ["psql> drop table \u{202e}sresu"],
        "lines drawn before --since are not reported when they scroll away after it"
    );
    let until = rfc3339(T0 + 12 * S);
    assert_eq!(panes(&["drop table", "--until", &until]).len(), 2);
}

#[test]
fn limit_says_when_more_were_cut_off() {
    let st = Store::scenario();
    let out = st.run(&["search", "drop table", "--limit", "2", "--json"]);
    assert!(out.status.success());
    assert_eq!(parse_json_lines(&out.stdout).unwrap().len(), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("more") && err.contains("--limit"), "{err}");
    let all = st.run(&["search", "drop table", "--limit", "4"]);
    assert!(!String::from_utf8_lossy(&all.stderr).contains("more"));
}

#[test]
fn hostile_output_never_reaches_the_terminal_raw() {
    let st = Store::scenario();
    let out = st.run(&["search", "sresu"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(support::control_chars(&text).is_empty(), "{text:?}");
    assert!(!text.contains('\u{202e}'), "{text:?}");
    assert!(text.contains("drop table \\u{202e}sresu"), "{text}");
    assert!(
        !text.contains("c2VjcmV0") && !text.contains("pwned"),
        "{text}"
    );
    // For people: when, where, who; the line; the command that replays it.
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("2025-11-28T14:27:10Z  prod:0.0  %1"),
        "{text}"
    );
    assert!(
        lines[0].ends_with("attached: nobody (read-only), root"),
        "{text}"
    );
    assert!(
        lines[2].trim_start().starts_with("tmux-audit --db "),
        "{text}"
    );
}

#[test]
fn no_match_is_success_with_a_note_and_bad_input_exits_2() {
    let st = Store::scenario();
    let out = st.run(&["search", "no such phrase"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no matches"));
    for (args, says) in [
        (
            &["search", "--regex", "drop (table"][..],
            "invalid --regex pattern",
        ),
        (
            &["search", "x", "--session", "nope"][..],
            "no session named nope",
        ),
        (
            &["search", "x", "-S", "/nowhere/sock"][..],
            "unknown server",
        ),
        (&["search", " "][..], "pattern is empty"),
    ] {
        let out = st.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn a_store_of_several_servers_names_the_server_to_replay() {
    let st = Store::new();
    let other = st.dir.path().join("tmux-0/work").display().to_string();
    let mut rows = Vec::new();
    for server in [st.server.as_str(), other.as_str()] {
        let pane = Pane {
            server,
            id: "%0",
            session: "main",
            session_id: "$0",
        };
        rows.push(server_started(server, T0 - 10 * S));
        rows.push(session_created(server, T0 - 9 * S, "main", "$0"));
        let c = chunks(
            &[out(T0, format!("needle in {server}\r\n").as_bytes())],
            &[],
        );
        rows.push(pane_output(&pane, &c[0]));
    }
    st.append(&rows);
    let hits = st.hits(&["needle"]);
    assert_eq!(hits.len(), 2);
    for h in &hits {
        let words = shlex::split(s(h, "replay")).unwrap();
        let i = words
            .iter()
            .position(|w| w == "--server")
            .expect("--server");
        assert_eq!(words[i + 1], s(h, "server"));
        let out = cli_in(st.dir.path(), &words[1..]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let only = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["needle"];
        all.extend_from_slice(args);
        st.hits(&all)
            .iter()
            .map(|h| s(h, "server").to_owned())
            .collect()
    };
    assert_eq!(only(&["-S", &other]), [other.as_str()]);
    assert_eq!(only(&["--server", "work"]), [other.as_str()]);
    assert_eq!(only(&["--server", "default"]), [st.server.as_str()]);
}
