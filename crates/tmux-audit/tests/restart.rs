//! The daemon's life across restarts, and the store's integrity: SIGKILL leaves a gap that the
//! log names and `who --at` survives; SIGTERM stops cleanly; `verify` accepts an untouched store
//! and names the event whose stored bytes were changed.

use crate::support::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn assert_gapless(log: &[Value]) {
    let seqs: Vec<i64> = log.iter().map(seq).collect();
    let want: Vec<i64> = (1..=log.len() as i64).collect();
    assert_eq!(seqs, want, "seq runs 1..=n without gaps:\n{}", render(log));
}

fn time_of(e: &Value) -> i64 {
    micros_from_rfc3339(field(e, "time").unwrap_or_else(|| panic!("no time in {e}")))
}

fn who_clients(db: &Path, at: Option<&str>) -> Vec<String> {
    let mut v: Vec<String> = who_json(db, at)
        .iter()
        .map(|w| field(w, "client").unwrap_or("").to_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn sigkill_then_restart_records_the_gap_and_who_at_stays_right() {
    let server = TmuxServer::start("work");
    let work = server.first_session_id().to_owned();
    let db = server.db();
    let mut first = Daemon::start_ready(&server, "work");

    let a = server.attach(&work);
    let (log, i) = wait_event(&db, "A attached", "client-attached", |e| {
        field(e, "client") == Some(a.tty())
    });
    let a_attached = log[i].clone();
    let a_attached_at = time_of(&a_attached);
    let last_before_kill = time_of(log.last().unwrap());

    first.kill9();
    let killed_by = micros_from_rfc3339(&now_rfc3339());
    // Every event committed before the kill is still there, and the store is consistent.
    let after_kill = log_json(&db);
    assert!(after_kill.len() >= log.len());
    assert_eq!(
        after_kill[..log.len()],
        log[..],
        "committed events survive SIGKILL"
    );
    let v = cli(&db, &["verify"]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "verify after SIGKILL: {}",
        String::from_utf8_lossy(&v.stderr)
    );

    // While nothing watches: B attaches, A detaches.
    let b = server.attach(&work);
    server.detach_with_keys(&a);
    server.wait_gone(a.tty());
    let restarted_after = micros_from_rfc3339(&now_rfc3339());

    let second = Daemon::start(&server);
    let (_, start) = second.wait_ready("work");
    let log = wait_log(
        &db,
        "at-start attach of B and the unobserved detach of A",
        |log| {
            let Some(start) = log.iter().rposition(|e| kind(e) == "audit-started") else {
                return false;
            };
            let after = &log[start..];
            after
                .iter()
                .any(|e| kind(e) == "client-attached" && field(e, "client") == Some(b.tty()))
                && after
                    .iter()
                    .any(|e| kind(e) == "client-detached" && field(e, "client") == Some(a.tty()))
        },
    );
    assert_gapless(&log);
    let starts: Vec<&Value> = log.iter().filter(|e| kind(e) == "audit-started").collect();
    assert_eq!(starts.len(), 2, "two daemons started:\n{}", render(&log));
    assert!(
        !log.iter().any(|e| kind(e) == "audit-stopped"),
        "nobody stopped cleanly:\n{}",
        render(&log)
    );

    // The gap covers the time nothing was watching.
    let gap = find(&log, "audit-gap", |_| true);
    let from = field(gap, "from").unwrap_or_else(|| panic!("audit-gap without from: {gap}"));
    let until = field(gap, "until").unwrap_or_else(|| panic!("audit-gap without until: {gap}"));
    assert!(is_rfc3339_micros(from) && is_rfc3339_micros(until), "{gap}");
    let (from, until) = (micros_from_rfc3339(from), micros_from_rfc3339(until));
    assert!(
        from >= last_before_kill,
        "gap starts after the last recorded event: {gap}"
    );
    assert!(
        from <= killed_by,
        "gap starts no later than the kill: {gap}"
    );
    assert!(
        until >= restarted_after,
        "gap lasts until the restart: {gap}"
    );
    assert!(
        until <= time_of(gap),
        "gap ends before it is recorded: {gap}"
    );
    assert!(seq(gap) > seq(starts[0]), "{gap}");
    assert_eq!(
        field(gap, "server"),
        Some(server.sock_str().as_str()),
        "{gap}"
    );

    // At start, the present state is recorded as found.
    let second_start = log
        .iter()
        .rposition(|e| kind(e) == "audit-started")
        .unwrap();
    assert_eq!(second_start, start);
    let b_found = find(&log[second_start..], "client-attached", |e| {
        field(e, "client") == Some(b.tty())
    });
    assert_eq!(field(b_found, "observed"), Some("at-start"), "{b_found}");
    assert_eq!(
        field(b_found, "session_id"),
        Some(work.as_str()),
        "{b_found}"
    );
    assert_eq!(field(b_found, "user"), Some("root"), "{b_found}");
    assert_eq!(
        b_found.get("client_pid").and_then(Value::as_i64),
        Some(b.pid() as i64),
        "{b_found}"
    );
    let work_found = find(&log[second_start..], "session-created", |e| {
        field(e, "session_id") == Some(&work)
    });
    assert_eq!(
        field(work_found, "observed"),
        Some("at-start"),
        "{work_found}"
    );
    let a_gone = find(&log[second_start..], "client-detached", |e| {
        field(e, "client") == Some(a.tty())
    });
    assert_eq!(field(a_gone, "observed"), Some("at-start"), "{a_gone}");

    // who, then and now.
    let then = rfc3339_from_micros(a_attached_at + 1);
    assert_eq!(
        who_clients(&db, Some(&then)),
        vec![a.tty().to_owned()],
        "who --at {then} (just after A attached, before the kill)"
    );
    let before_any = rfc3339_from_micros(time_of(&log[0]) - 1_000_000);
    assert!(
        who_clients(&db, Some(&before_any)).is_empty(),
        "who --at {before_any}"
    );
    assert_eq!(who_clients(&db, None), vec![b.tty().to_owned()], "who now");
    let now = now_rfc3339();
    assert_eq!(
        who_clients(&db, Some(&now)),
        vec![b.tty().to_owned()],
        "who --at {now}"
    );

    let v = cli(&db, &["verify"]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "verify after restart: {}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );

    // A left while nothing watched: how is not known (docs/EVENTS.md: `unknown`). It did
    // detach, so `exit` would be a guess, and a wrong one.
    assert_eq!(field(a_gone, "reason"), Some("unknown"), "{a_gone}");
}

#[test]
fn sigterm_stops_cleanly_and_the_next_start_has_no_gap() {
    let server = TmuxServer::start("work");
    let work = server.first_session_id().to_owned();
    let db = server.db();
    let mut first = Daemon::start_ready(&server, "work");
    let a = server.attach(&work);
    wait_event(&db, "A attached", "client-attached", |e| {
        field(e, "client") == Some(a.tty())
    });

    let status = first.stop();
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM exit status; stderr:\n{}",
        first.stderr()
    );
    let log = log_json(&db);
    let last = log.last().unwrap();
    assert_eq!(kind(last), "audit-stopped", "last event:\n{}", render(&log));
    assert!(
        log.iter()
            .any(|e| kind(e) == "client-attached" && field(e, "client") == Some(a.tty())),
        "everything was flushed before the exit"
    );

    let mut second = Daemon::start(&server);
    second.wait_ready("work");
    // A is still attached: found again at start, not detached and re-attached.
    let log = wait_log(&db, "A found at start", |log| {
        let start = log
            .iter()
            .rposition(|e| kind(e) == "audit-started")
            .unwrap_or(0);
        log[start..]
            .iter()
            .any(|e| kind(e) == "client-attached" && field(e, "client") == Some(a.tty()))
    });
    assert!(
        !log.iter().any(|e| kind(e) == "audit-gap"),
        "a clean stop leaves no gap:\n{}",
        render(&log)
    );
    assert_gapless(&log);
    assert_eq!(who_clients(&db, None), vec![a.tty().to_owned()]);
    // While a daemon records, `who` is live and says nothing more.
    let who = cli(&db, &["who"]);
    assert!(
        who.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&who.stderr)
    );

    // SIGINT stops it as cleanly as SIGTERM.
    let status = second.stop_with(nix::sys::signal::Signal::SIGINT);
    assert_eq!(
        status.code(),
        Some(0),
        "second daemon; stderr:\n{}",
        second.stderr()
    );
    let log = log_json(&db);
    assert_eq!(
        kind(log.last().unwrap()),
        "audit-stopped",
        "{}",
        render(&log)
    );
    assert_eq!(
        log.iter().filter(|e| kind(e) == "audit-stopped").count(),
        2,
        "{}",
        render(&log)
    );
    // With nothing recording, `who` still answers but warns that it is not live.
    let who = cli(&db, &["who"]);
    assert_eq!(who.status.code(), Some(0));
    let warning = String::from_utf8_lossy(&who.stderr);
    assert!(
        warning.contains("no daemon is recording into this store now"),
        "{warning}"
    );
    let v = cli(&db, &["verify"]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stderr)
    );
}

fn sqlite(db: &Path, sql: &str) -> std::process::Output {
    Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("run sqlite3 (/usr/bin/sqlite3)")
}

/// A log with a few events, written by a daemon that then stopped cleanly.
fn recorded_store(server: &TmuxServer) {
    let work = server.first_session_id().to_owned();
    let mut daemon = Daemon::start_ready(server, "work");
    let a = server.attach(&work);
    wait_event(&server.db(), "A attached", "client-attached", |e| {
        field(e, "client") == Some(a.tty())
    });
    assert_eq!(
        daemon.stop().code(),
        Some(0),
        "stderr:\n{}",
        daemon.stderr()
    );
}

#[test]
fn one_changed_byte_makes_verify_fail_naming_the_seq() {
    let server = TmuxServer::start("work");
    let db = server.db();
    recorded_store(&server);
    let log = log_json(&db);
    assert!(log.len() >= 4, "{}", render(&log));

    let ok = cli(&db, &["verify"]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let ok = cli(&db, &["verify", "--json"]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let report = parse_json_lines(&ok.stdout).unwrap();
    assert_eq!(report.len(), 1, "verify --json prints one object");
    assert_eq!(field(&report[0], "status"), Some("intact"), "{}", report[0]);
    assert_eq!(
        field(&report[0], "store"),
        db.to_str(),
        "names the store: {}",
        report[0]
    );

    let out = sqlite(&db, "DROP TRIGGER events_append_only_update;");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sqlite(&db, "SELECT hex(data) FROM events WHERE seq = 3;");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hex = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(hex.len() >= 2, "seq 3 has data");
    // Flip the lowest bit of the last byte of `host` (free text): the bytes
    // still decode, only the hash chain can tell. (The last byte of the record may end a field
    // of a closed set, such as `observed`, where a changed name no longer decodes.) After `TAE1`,
    // seq and time (20 bytes) come tag 1, `kind` (u32 length + name), tag 2 and `host`.
    let byte = |i: usize| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    let len = |at: usize| (at..at + 4).fold(0usize, |n, i| n << 8 | usize::from(byte(i)));
    let host_at = 21 + 4 + len(21);
    assert_eq!(byte(host_at), 2, "tag 2 (host) follows the kind: {hex}");
    let at = host_at + 1 + 4 + len(host_at + 1) - 1;
    let flipped = byte(at) ^ 0x01;
    let changed = format!("{}{flipped:02X}{}", &hex[..2 * at], &hex[2 * at + 2..]);
    // The host is also copied into an indexed column: a careful forger edits the copy too, so
    // nothing but the chain disagrees.
    let host = &changed[2 * (host_at + 5)..2 * (at + 1)];
    let out = sqlite(
        &db,
        &format!(
            "UPDATE events SET data = X'{changed}', host = CAST(X'{host}' AS TEXT) WHERE seq = 3;"
        ),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = cli(&db, &["verify"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&bad.stdout),
        String::from_utf8_lossy(&bad.stderr)
    );
    assert_eq!(
        bad.status.code(),
        Some(1),
        "verify of a changed store: {text}"
    );
    assert!(text.contains("seq 3"), "verify names seq 3: {text}");
    for other in ["seq 1 ", "seq 2 ", "seq 4 "] {
        assert!(
            !text.contains(other),
            "verify names only the changed event: {text}"
        );
    }

    let bad = cli(&db, &["verify", "--json"]);
    assert_eq!(
        bad.status.code(),
        Some(1),
        "verify --json of a changed store"
    );
    let out = String::from_utf8_lossy(&bad.stdout).into_owned();
    let docs = parse_json_lines(&bad.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(docs.len(), 1, "verify --json prints one object: {out}");
    assert_eq!(field(&docs[0], "status"), Some("tampered"), "{out}");
    assert_eq!(
        docs[0]["findings"],
        serde_json::json!([{"kind": "changed", "from": 3, "to": 3,
            "message": "seq 3: changed (the record no longer matches the chain)"}]),
        "verify --json names seq 3 and only it: {out}"
    );
}

#[test]
fn stored_events_cannot_be_updated_or_deleted_while_the_triggers_stand() {
    let server = TmuxServer::start("work");
    let db = server.db();
    recorded_store(&server);

    let up = sqlite(&db, "UPDATE events SET kind = 'audit-gap' WHERE seq = 2;");
    assert!(
        !up.status.success() || !up.stderr.is_empty(),
        "UPDATE was refused"
    );
    let del = sqlite(&db, "DELETE FROM events WHERE seq = 2;");
    assert!(
        !del.status.success() || !del.stderr.is_empty(),
        "DELETE was refused"
    );
    let ok = cli(&db, &["verify"]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_gapless(&log_json(&db));
}

#[test]
fn a_server_started_after_the_daemon_and_started_again_is_recorded() {
    let mut server = TmuxServer::not_started();
    let db = server.db();
    let mut daemon = Daemon::start(&server);
    wait_log(&db, "audit-started with no server yet", |log| {
        log.iter().any(|e| kind(e) == "audit-started")
    });

    let late = server.launch("late");
    let first_pid = server.pid();
    let log = wait_log(&db, "the late server and its session", |log| {
        log.iter()
            .any(|e| kind(e) == "session-created" && field(e, "session") == Some("late"))
    });
    let started = find(&log, "server-started", |_| true);
    assert_eq!(started["pid"].as_i64(), Some(first_pid), "{started}");
    assert_eq!(
        field(started, "server"),
        Some(server.sock_str().as_str()),
        "{started}"
    );
    let e = find(&log, "session-created", |e| {
        field(e, "session") == Some("late")
    });
    assert_eq!(field(e, "session_id"), Some(late.as_str()), "{e}");

    server.kill_server();
    wait_log(&db, "server-exited", |log| {
        log.iter().any(|e| kind(e) == "server-exited")
    });

    server.launch("again");
    let second_pid = server.pid();
    let log = wait_log(&db, "the server back with session again", |log| {
        log.iter()
            .any(|e| kind(e) == "session-created" && field(e, "session") == Some("again"))
    });
    let starts: Vec<&Value> = log.iter().filter(|e| kind(e) == "server-started").collect();
    assert_eq!(starts.len(), 2, "{}", render(&log));
    assert_eq!(starts[1]["pid"].as_i64(), Some(second_pid), "{}", starts[1]);
    let exited = find(&log, "server-exited", |_| true);
    assert_eq!(exited["pid"].as_i64(), Some(first_pid), "{exited}");
    assert!(seq(starts[0]) < seq(exited) && seq(exited) < seq(starts[1]));
    let closed = find(&log, "session-closed", |e| {
        field(e, "session") == Some("late")
    });
    assert!(seq(closed) < seq(starts[1]), "{closed}");

    assert_eq!(daemon.stop().code(), Some(0), "{}", daemon.stderr());
    assert_gapless(&log_json(&db));
    let v = cli(&db, &["verify"]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stderr)
    );
}
