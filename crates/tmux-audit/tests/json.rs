//! `--json` output, checked field by field: every event of a recorded scenario (sessions,
//! windows, panes, a client), `who --json` while it is attached, `sessions --json` afterwards,
//! and the `log` filters and global options.

use crate::support::*;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::ffi::OsStr;

const KINDS: [&str; 28] = [
    "server-started",
    "server-exited",
    "session-created",
    "session-renamed",
    "session-closed",
    "window-created",
    "window-renamed",
    "window-closed",
    "pane-created",
    "pane-exited",
    "client-attached",
    "client-detached",
    "client-readonly-changed",
    "audit-started",
    "audit-stopped",
    "audit-gap",
    "pane-output",
    "output-gap",
    "command",
    "tmux-command",
    "shell-command",
    "client-active",
    "policy-violation",
    "policy-loaded",
    "sink-failed",
    "sink-recovered",
    "client-identity-mismatch",
    "client-connection",
];
const STRING_FIELDS: [&str; 35] = [
    "time",
    "kind",
    "host",
    "server",
    "hash",
    "session",
    "session_id",
    "window",
    "window_id",
    "pane_id",
    "client",
    "user",
    "tty",
    "term",
    "origin",
    "reason",
    "observed",
    "from",
    "until",
    "version",
    "by",
    "by_user",
    "message",
    "flags",
    "digest",
    "command",
    "key",
    "severity",
    "actor",
    "attribution",
    "rule",
    "violation",
    "action",
    "sink",
    "timing",
];
const INT_FIELDS: [&str; 12] = [
    "seq",
    "exit_code",
    "signal",
    "ppid",
    "client_pid",
    "uid",
    "pid",
    "bytes",
    "width",
    "height",
    "window_index",
    "pane_index",
];
/// Bytes kept exactly: a string when UTF-8, else `{"hex": …}`.
const BYTES_FIELDS: [&str; 3] = ["cwd", "comm", "line"];
/// `reason` of `client-detached`.
const REASONS: [&str; 7] = [
    "detach",
    "switch",
    "exit",
    "kicked",
    "server-exit",
    "session-closed",
    "unknown",
];
/// docs/EVENTS.md, "Other JSON outputs".
const WHO_FIELDS: [&str; 13] = [
    "server",
    "session",
    "session_id",
    "client",
    "user",
    "uid",
    "since",
    "readonly",
    "origin",
    "tty",
    "term",
    "client_pid",
    "flags",
];
/// docs/EVENTS.md, "Other JSON outputs".
const SESSIONS_FIELDS: [&str; 10] = [
    "server",
    "session_id",
    "session",
    "former_names",
    "created",
    "created_observed_at_start",
    "closed",
    "participants",
    "attached_seconds",
    "attaches",
];

/// `$N`, `@N`, `%N`.
fn is_tmux_id(s: &str, sigil: char) -> bool {
    s.strip_prefix(sigil)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn obj(e: &Value) -> &Map<String, Value> {
    e.as_object()
        .unwrap_or_else(|| panic!("not an object: {e}"))
}

fn require(e: &Value, names: &[&str]) {
    for name in names {
        assert!(
            obj(e).contains_key(*name),
            "{} lacks `{name}`: {e}",
            kind(e)
        );
    }
}

/// The checks every event passes, whatever its kind.
fn check_event(e: &Value, want_seq: i64, sock: &str, host: &str, daemon_pids: &[i64]) {
    let m = obj(e);
    for key in m.keys() {
        assert!(
            STRING_FIELDS.contains(&key.as_str())
                || INT_FIELDS.contains(&key.as_str())
                || BYTES_FIELDS.contains(&key.as_str())
                || key == "readonly"
                || key == "confirmed"
                || key == "argv"
                || key == "candidates",
            "undocumented field `{key}` in {e}"
        );
    }
    for f in STRING_FIELDS {
        if let Some(v) = m.get(f) {
            assert!(v.is_string(), "`{f}` is a string: {e}");
        }
    }
    for f in INT_FIELDS {
        if let Some(v) = m.get(f) {
            assert!(v.is_i64(), "`{f}` is an integer: {e}");
        }
    }
    for f in ["readonly", "confirmed"] {
        if let Some(v) = m.get(f) {
            assert!(v.is_boolean(), "`{f}` is a bool: {e}");
        }
    }
    let is_bytes = |v: &Value| {
        v.is_string()
            || v.get("hex")
                .and_then(Value::as_str)
                .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    for f in BYTES_FIELDS {
        if let Some(v) = m.get(f) {
            assert!(is_bytes(v), "`{f}` is a string or {{\"hex\": …}}: {e}");
        }
    }
    if let Some(v) = m.get("candidates") {
        assert!(
            v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            "`candidates` is an array of user names: {e}"
        );
    }
    if let Some(v) = m.get("argv") {
        assert!(
            v.as_array().is_some_and(|a| a.iter().all(is_bytes)),
            "`argv` is an array of strings or {{\"hex\": …}}: {e}"
        );
    }

    assert_eq!(seq(e), want_seq, "seq is gapless from 1: {e}");
    let time = field(e, "time").unwrap_or("");
    assert!(
        is_rfc3339_micros(time),
        "time is RFC 3339 UTC with microseconds: {e}"
    );
    assert!(
        KINDS.contains(&kind(e)),
        "kind is one of the documented names: {e}"
    );
    assert_eq!(field(e, "host"), Some(host), "host: {e}");
    assert_eq!(
        field(e, "server"),
        Some(sock),
        "server is the socket path: {e}"
    );
    let hash = field(e, "hash").unwrap_or("");
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "hash is 64 hex digits: {e}"
    );

    if let Some(id) = field(e, "session_id") {
        assert!(is_tmux_id(id, '$'), "session_id: {e}");
    }
    if let Some(id) = field(e, "window_id") {
        assert!(is_tmux_id(id, '@'), "window_id: {e}");
    }
    if let Some(id) = field(e, "pane_id") {
        assert!(is_tmux_id(id, '%'), "pane_id: {e}");
    }
    if let Some(o) = field(e, "observed") {
        assert!(o == "live" || o == "at-start", "observed: {e}");
    }
    let reason = field(e, "reason");
    match kind(e) {
        "client-detached" => assert!(reason.is_some_and(|r| REASONS.contains(&r)), "reason: {e}"),
        "audit-stopped" => assert_eq!(reason, Some("signal"), "{e}"),
        "audit-gap" => assert_eq!(reason, Some("unclean-stop"), "{e}"),
        _ => {}
    }
    for f in ["from", "until"] {
        if let Some(t) = field(e, f) {
            assert!(
                is_rfc3339_micros(t),
                "`{f}` is RFC 3339 with microseconds: {e}"
            );
        }
    }

    match kind(e) {
        "session-created" | "session-renamed" | "session-closed" => {
            require(e, &["session", "session_id"])
        }
        "pane-output" => require(
            e,
            &[
                "pane_id",
                "session",
                "window_index",
                "pane_index",
                "from",
                "until",
                "bytes",
                "width",
                "height",
                "digest",
            ],
        ),
        "output-gap" => require(e, &["pane_id", "reason", "until"]),
        "window-created" | "window-renamed" | "window-closed" => {
            require(e, &["session", "session_id", "window", "window_id"])
        }
        "pane-created" => require(
            e,
            &[
                "session",
                "session_id",
                "window",
                "window_id",
                "pane_id",
                "tty",
            ],
        ),
        "pane-exited" => require(e, &["session", "session_id", "window_id", "pane_id"]),
        "client-attached" | "client-readonly-changed" => require(
            e,
            &[
                "session",
                "session_id",
                "client",
                "client_pid",
                "uid",
                "user",
                "readonly",
                "tty",
                "term",
                "flags",
                "origin",
            ],
        ),
        "client-detached" => require(
            e,
            &[
                "session",
                "session_id",
                "client",
                "client_pid",
                "uid",
                "user",
                "readonly",
                "tty",
                "term",
                "flags",
                "reason",
            ],
        ),
        "audit-gap" => require(e, &["from", "until"]),
        "server-started" => require(e, &["pid", "version"]),
        "server-exited" => require(e, &["pid"]),
        "audit-started" | "audit-stopped" => {
            require(e, &["pid"]);
            let pid = e["pid"].as_i64().unwrap();
            assert!(
                daemon_pids.contains(&pid),
                "{} pid is the daemon's: {e}",
                kind(e)
            );
            if kind(e) == "audit-started" {
                assert_eq!(
                    field(e, "version"),
                    Some(env!("CARGO_PKG_VERSION")),
                    "audit-started carries the tmux-audit version: {e}"
                );
            }
        }
        _ => {}
    }
}

fn check_who_entry(w: &Value, client: &PtyClient, session: &str, session_id: &str, sock: &str) {
    let keys: BTreeSet<&str> = obj(w).keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = WHO_FIELDS.into_iter().collect();
    assert_eq!(keys, want, "who --json fields: {w}");
    assert_eq!(field(w, "server"), Some(sock), "{w}");
    assert_eq!(field(w, "session"), Some(session), "{w}");
    assert_eq!(field(w, "session_id"), Some(session_id), "{w}");
    assert_eq!(field(w, "client"), Some(client.tty()), "{w}");
    assert_eq!(field(w, "user"), Some("root"), "{w}");
    assert_eq!(w["uid"].as_i64(), Some(0), "{w}");
    assert!(is_rfc3339_micros(field(w, "since").unwrap_or("")), "{w}");
    assert_eq!(w["readonly"].as_bool(), Some(false), "{w}");
    if !under_sshd() {
        assert_eq!(field(w, "origin"), Some("local"), "{w}");
    }
    assert_eq!(field(w, "tty"), Some(client.tty()), "{w}");
    assert_eq!(field(w, "term"), Some("xterm"), "{w}");
    assert_eq!(w["client_pid"].as_i64(), Some(client.pid() as i64), "{w}");
    let flags = field(w, "flags").unwrap_or("");
    assert!(flags.split(',').any(|f| f == "attached"), "{w}");
}

fn seqs(log: &[Value]) -> Vec<i64> {
    log.iter().map(seq).collect()
}

#[test]
fn every_field_of_a_recorded_scenario() {
    let server = TmuxServer::start("work");
    let work = server.first_session_id().to_owned();
    let sock = server.sock_str();
    let db = server.db();
    let mut daemon = Daemon::start_ready(&server, "work");
    let daemon_pid = daemon.pid() as i64;
    let server_pid: i64 = server.display(&work, "#{pid}").parse().unwrap();

    // Windows and panes.
    let win = server.new_window(&work, "logs");
    server.tmux(&["rename-window", "-t", &win, "logs2"]);
    let pane = server
        .tmux(&["split-window", "-d", "-t", &win, "-P", "-F", "#{pane_id}"])
        .trim()
        .to_owned();
    let pane_tty = server.display(&pane, "#{pane_tty}");
    wait_event(&db, "the split pane", "pane-created", |e| {
        field(e, "pane_id") == Some(&pane)
    });
    server.tmux(&["kill-pane", "-t", &pane]);
    server.tmux(&["kill-window", "-t", &win]);
    // A short-lived session, renamed before it goes.
    let temp = server.new_session("temp");
    server.tmux(&["rename-session", "-t", &temp, "temp2"]);
    server.tmux(&["kill-session", "-t", &temp]);
    // A client.
    let a = server.attach(&work);
    wait_event(&db, "A attached", "client-attached", |e| {
        field(e, "client") == Some(a.tty())
    });
    let who = who_json(&db, None);
    assert_eq!(who.len(), 1, "{who:?}");
    check_who_entry(&who[0], &a, "work", &work, &sock);
    server.detach_with_keys(&a);

    let wanted: Vec<(&str, &str, &str)> = vec![
        ("window-created", "window_id", win.as_str()),
        ("window-renamed", "window_id", win.as_str()),
        ("pane-created", "pane_id", pane.as_str()),
        ("pane-exited", "pane_id", pane.as_str()),
        ("window-closed", "window_id", win.as_str()),
        ("session-created", "session_id", temp.as_str()),
        ("session-renamed", "session_id", temp.as_str()),
        ("session-closed", "session_id", temp.as_str()),
        ("client-detached", "client", a.tty()),
    ];
    wait_log(&db, "every event of the scenario", |log| {
        wanted
            .iter()
            .all(|(k, f, v)| log.iter().any(|e| kind(e) == *k && field(e, f) == Some(*v)))
    });
    let status = daemon.stop();
    assert_eq!(
        status.code(),
        Some(0),
        "daemon stderr:\n{}",
        daemon.stderr()
    );

    let log = log_json(&db);
    let host = hostname();
    for (i, e) in log.iter().enumerate() {
        check_event(e, i as i64 + 1, &sock, &host, &[daemon_pid]);
    }
    let hashes: BTreeSet<&str> = log.iter().filter_map(|e| field(e, "hash")).collect();
    assert_eq!(hashes.len(), log.len(), "every hash differs (chained)");
    assert_eq!(kind(&log[0]), "audit-started", "{}", render(&log));
    assert_eq!(
        kind(log.last().unwrap()),
        "audit-stopped",
        "{}",
        render(&log)
    );

    // At start: the server and the session, marked as found.
    let started = find(&log, "server-started", |_| true);
    let tmux_v = std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .unwrap();
    let tmux_v = String::from_utf8_lossy(&tmux_v.stdout);
    assert_eq!(
        field(started, "version"),
        tmux_v.trim().strip_prefix("tmux "),
        "{started}"
    );
    assert_eq!(
        started["pid"].as_i64(),
        Some(server_pid),
        "the tmux server's pid: {started}"
    );
    assert_eq!(field(started, "observed"), Some("at-start"), "{started}");
    let found = find(&log, "session-created", |e| {
        field(e, "session_id") == Some(&work)
    });
    assert_eq!(field(found, "session"), Some("work"), "{found}");
    assert_eq!(field(found, "observed"), Some("at-start"), "{found}");

    // Live: each event names the right thing.
    let e = find(&log, "window-created", |e| {
        field(e, "window_id") == Some(&win)
    });
    assert_eq!(field(e, "window"), Some("logs"), "{e}");
    assert_eq!(field(e, "session_id"), Some(work.as_str()), "{e}");
    assert_eq!(field(e, "observed").unwrap_or("live"), "live", "{e}");
    let e = find(&log, "window-renamed", |e| {
        field(e, "window_id") == Some(&win)
    });
    assert_eq!(field(e, "window"), Some("logs2"), "{e}");
    let e = find(&log, "pane-created", |e| field(e, "pane_id") == Some(&pane));
    assert_eq!(field(e, "window_id"), Some(win.as_str()), "{e}");
    assert_eq!(
        field(e, "tty"),
        Some(pane_tty.as_str()),
        "the pane's pty: {e}"
    );
    find(&log, "pane-exited", |e| field(e, "pane_id") == Some(&pane));
    find(&log, "window-closed", |e| {
        field(e, "window_id") == Some(&win)
    });
    let e = find(&log, "session-created", |e| {
        field(e, "session_id") == Some(&temp)
    });
    assert_eq!(field(e, "session"), Some("temp"), "{e}");
    let e = find(&log, "session-renamed", |e| {
        field(e, "session_id") == Some(&temp)
    });
    assert_eq!(field(e, "session"), Some("temp2"), "{e}");
    let e = find(&log, "session-closed", |e| {
        field(e, "session_id") == Some(&temp)
    });
    assert_eq!(field(e, "session"), Some("temp2"), "{e}");

    let e = find(&log, "client-attached", |e| {
        field(e, "client") == Some(a.tty())
    });
    assert_eq!(field(e, "session"), Some("work"), "{e}");
    assert_eq!(field(e, "session_id"), Some(work.as_str()), "{e}");
    assert_eq!(e["client_pid"].as_i64(), Some(a.pid() as i64), "{e}");
    assert_eq!(e["uid"].as_i64(), Some(0), "{e}");
    assert_eq!(field(e, "user"), Some("root"), "{e}");
    assert_eq!(e["readonly"].as_bool(), Some(false), "{e}");
    assert_eq!(field(e, "tty"), Some(a.tty()), "{e}");
    assert_eq!(field(e, "term"), Some("xterm"), "{e}");
    let flags = field(e, "flags").unwrap_or("");
    assert!(flags.split(',').any(|f| f == "attached"), "{e}");
    assert!(!flags.contains("control-mode"), "{e}");
    if !under_sshd() {
        assert_eq!(field(e, "origin"), Some("local"), "{e}");
    }
    let d = find(&log, "client-detached", |e| {
        field(e, "client") == Some(a.tty())
    });
    assert_eq!(field(d, "reason"), Some("detach"), "{d}");
    assert_eq!(field(d, "session_id"), Some(work.as_str()), "{d}");
    assert!(seq(d) > seq(e));

    // sessions --json after it all.
    let sessions = cli_json(&db, &["sessions", "--json"]);
    for s in &sessions {
        for key in obj(s).keys() {
            assert!(
                SESSIONS_FIELDS.contains(&key.as_str()),
                "undocumented `{key}`: {s}"
            );
        }
        require(
            s,
            &[
                "server",
                "session_id",
                "session",
                "created",
                "participants",
                "attached_seconds",
                "attaches",
            ],
        );
        assert_eq!(field(s, "server"), Some(sock.as_str()), "{s}");
        assert!(is_rfc3339_micros(field(s, "created").unwrap()), "{s}");
        assert!(s["participants"].is_array(), "{s}");
        assert!(s["attached_seconds"].is_object(), "{s}");
        assert!(s["attaches"].is_i64(), "{s}");
    }
    let s = sessions
        .iter()
        .find(|s| field(s, "session_id") == Some(&work))
        .unwrap_or_else(|| panic!("work missing: {sessions:?}"));
    assert_eq!(field(s, "session"), Some("work"), "{s}");
    assert!(s.get("closed").is_none(), "work is open: {s}");
    assert!(
        s.get("former_names").is_none(),
        "work was never renamed: {s}"
    );
    assert_eq!(
        s["created_observed_at_start"],
        serde_json::json!(true),
        "{s}"
    );
    assert_eq!(s["participants"], serde_json::json!(["root"]), "{s}");
    assert!(
        s["attached_seconds"]["root"]
            .as_i64()
            .is_some_and(|n| n >= 0),
        "{s}"
    );
    assert_eq!(obj(&s["attached_seconds"]).len(), 1, "{s}");
    assert_eq!(s["attaches"].as_i64(), Some(1), "{s}");
    let s = sessions
        .iter()
        .find(|s| field(s, "session_id") == Some(&temp))
        .unwrap_or_else(|| panic!("temp missing: {sessions:?}"));
    assert_eq!(field(s, "session"), Some("temp2"), "the latest name: {s}");
    assert_eq!(s["former_names"], serde_json::json!(["temp"]), "{s}");
    let closed = field(s, "closed").unwrap_or_else(|| panic!("temp2 was closed: {s}"));
    assert!(is_rfc3339_micros(closed), "{s}");
    assert!(
        micros_from_rfc3339(closed) >= micros_from_rfc3339(field(s, "created").unwrap()),
        "{s}"
    );
    assert_eq!(s["participants"], serde_json::json!([]), "{s}");
    assert_eq!(s["attaches"].as_i64(), Some(0), "{s}");

    // Nobody attached any more.
    assert!(who_json(&db, None).is_empty());
}

#[test]
fn log_filters_and_global_options() {
    let server = TmuxServer::start("work");
    let work = server.first_session_id().to_owned();
    let other = server.new_session("other");
    let db = server.db();
    let _daemon = Daemon::start_ready(&server, "work");
    let a = server.attach(&work);
    let _b = server.attach(&other);
    server.detach_with_keys(&a);
    let log = wait_log(&db, "two attaches and a detach", |log| {
        log.iter().filter(|e| kind(e) == "client-attached").count() == 2
            && log.iter().any(|e| kind(e) == "client-detached")
    });
    let all = log_json(&db);
    assert!(all.len() >= log.len());
    // The daemon still records: what a query shows past `all` is left out of the comparisons.
    let last = seq(all.last().expect("events"));
    let upto = |v: Vec<Value>| -> Vec<Value> { v.into_iter().filter(|e| seq(e) <= last).collect() };

    // --session: only that session's events, the attach included.
    let only = upto(cli_json(&db, &["log", "--json", "--session", "work"]));
    assert!(!only.is_empty());
    for e in &only {
        assert_eq!(field(e, "session"), Some("work"), "--session work gave {e}");
    }
    assert!(only
        .iter()
        .any(|e| kind(e) == "client-attached" && field(e, "client") == Some(a.tty())));
    assert!(only
        .iter()
        .any(|e| kind(e) == "client-detached" && field(e, "client") == Some(a.tty())));
    let want: Vec<i64> = all
        .iter()
        .filter(|e| field(e, "session") == Some("work"))
        .map(seq)
        .collect();
    assert_eq!(seqs(&only), want);

    // --kind.
    let attaches = upto(cli_json(
        &db,
        &["log", "--json", "--kind", "client-attached"],
    ));
    let want: Vec<i64> = all
        .iter()
        .filter(|e| kind(e) == "client-attached")
        .map(seq)
        .collect();
    assert_eq!(seqs(&attaches), want);
    assert_eq!(want.len(), 2);

    // --since / --until with RFC 3339 times strictly between events.
    let times: Vec<i64> = all
        .iter()
        .map(|e| micros_from_rfc3339(field(e, "time").unwrap()))
        .collect();
    let k = (1..times.len())
        .find(|&i| times[i - 1] < times[i])
        .expect("two events with different times");
    let m = (k..times.len() - 1)
        .rev()
        .find(|&i| times[i] < times[i + 1])
        .unwrap_or(times.len() - 1);
    let since = rfc3339_from_micros((times[k - 1] + times[k]) / 2 + 1);
    let until = if m + 1 < times.len() {
        rfc3339_from_micros((times[m] + times[m + 1]) / 2)
    } else {
        rfc3339_from_micros(times[m] + 1_000_000)
    };
    let window = upto(cli_json(
        &db,
        &["log", "--json", "--since", &since, "--until", &until],
    ));
    // By time, not by position: a tmux-command timed from its client's exec is stored after
    // events that were observed later than it ran.
    let (lo, hi) = (micros_from_rfc3339(&since), micros_from_rfc3339(&until));
    let want: Vec<i64> = (all.iter().zip(&times))
        .filter(|(_, &t)| lo <= t && t <= hi)
        .map(|(e, _)| seq(e))
        .collect();
    assert!(!want.is_empty(), "the window holds events");
    assert_eq!(seqs(&window), want, "--since {since} --until {until}");
    let future = rfc3339_from_micros(times[times.len() - 1] + 3_600_000_000);
    assert!(cli_json(&db, &["log", "--json", "--since", &future]).is_empty());
    // A relative time: everything here happened within the last hour (the daemon still
    // records, so more may have come since `all` was read).
    let recent = seqs(&cli_json(&db, &["log", "--json", "--since", "1h"]));
    assert!(recent.len() >= all.len(), "--since 1h lost events");
    assert_eq!(recent[..all.len()], seqs(&all)[..]);

    // Global options after the subcommand, and the store from the environment.
    let out = cli_in(
        server.dir(),
        &[
            OsStr::new("log"),
            OsStr::new("--json"),
            OsStr::new("--db"),
            db.as_os_str(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = parse_json_lines(&out.stdout).unwrap();
    assert_eq!(seqs(&after[..all.len()]), seqs(&all));
    let out = cli_env(
        server.dir(),
        &["log", "--json"],
        &[("TMUX_AUDIT_DB", db.as_os_str())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_env = parse_json_lines(&out.stdout).unwrap();
    assert_eq!(from_env[..all.len()], all[..]);
}
