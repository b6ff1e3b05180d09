//! Bad input: a missing or unreadable store, a bad time argument, an unknown server. Each is
//! one line on stderr naming the thing, and exit status 2 — never a panic, a backtrace or a
//! usage screen.

use crate::support::*;
use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};

/// Exit status 2 and exactly one non-empty line on stderr, containing each of `mentions`.
fn assert_one_line_error(what: &str, out: &Output, mentions: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{what}: exit status 2, got {}; stderr: {stderr}",
        out.status
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: one line on stderr, got:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    for m in mentions {
        assert!(stderr.contains(m), "{what}: stderr names {m:?}: {stderr}");
    }
    assert!(
        out.stdout.is_empty(),
        "{what}: nothing on stdout, got {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A store with some events in it, recorded by a daemon that stopped cleanly.
fn recorded(server: &TmuxServer) {
    let mut daemon = Daemon::start_ready(server, "work");
    assert_eq!(daemon.stop().code(), Some(0), "{}", daemon.stderr());
}

#[test]
fn missing_store_is_one_line_and_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("no-such-dir").join("audit.db");
    let shown = db.to_str().unwrap();
    for args in [
        &["log"][..],
        &["log", "--json"],
        &["who"],
        &["who", "--json"],
        &["sessions", "--json"],
        &["verify"],
    ] {
        let out = cli(&db, args);
        assert_one_line_error(&format!("{args:?} on a missing store"), &out, &[shown]);
    }
    assert!(!db.exists(), "a query does not create the store");
    assert!(!db.parent().unwrap().exists(), "nor its folder");
}

#[test]
fn store_from_the_environment_is_named_too() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.db");
    let out = cli_env(dir.path(), &["who"], &[("TMUX_AUDIT_DB", db.as_os_str())]);
    assert_one_line_error(
        "who with TMUX_AUDIT_DB missing",
        &out,
        &[db.to_str().unwrap()],
    );
}

#[test]
fn a_postgres_url_is_a_central_store_named_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    // Nobody listens on port 1: every view fails to connect, fast.
    let url = "postgres://auditor:s3cret@127.0.0.1:1/audit";
    let check = |what: &str, out: &Output, mentions: &[&str]| {
        assert_one_line_error(what, out, mentions);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("s3cret"),
            "{what}: the password is not repeated: {stderr}"
        );
    };
    let shown = ["auditor:***@127.0.0.1:1/audit"];
    check(
        "--db URL",
        &cli_in(dir.path(), &["--db", url, "who"]),
        &shown,
    );
    check(
        "--db URL for the daemon",
        &cli_in(dir.path(), &["--db", url, "daemon"]),
        &["the daemon records into a local SQLite store", "collector"],
    );
    let out = cli_env(dir.path(), &["who"], &[("TMUX_AUDIT_DB", OsStr::new(url))]);
    check("TMUX_AUDIT_DB URL", &out, &shown);
    let config = dir.path().join("xdg-config/tmux-audit/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, format!("output = true\ndb = \"{url}\"\n")).unwrap();
    let out = cli_in(dir.path(), &["who"]);
    check("db = URL in the user file", &out, &shown);
    assert!(!dir.path().join("xdg-data").exists(), "nothing was created");
}

#[test]
fn unreadable_store_is_one_line_and_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(
        &garbage,
        b"this is not an SQLite database, just bytes\n".repeat(200),
    )
    .unwrap();
    let other = dir.path().join("other.db");
    let made = Command::new("sqlite3")
        .arg(&other)
        .arg("CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup');")
        .status()
        .expect("run sqlite3");
    assert!(made.success());
    for db in [&garbage, &other] {
        let before = std::fs::read(db).unwrap();
        for args in [&["log", "--json"][..], &["who"], &["sessions"], &["verify"]] {
            let out = cli(db, args);
            assert_one_line_error(
                &format!("{args:?} on {}", db.display()),
                &out,
                &[db.to_str().unwrap()],
            );
        }
        assert_eq!(
            std::fs::read(db).unwrap(),
            before,
            "a query leaves a foreign file alone"
        );
    }
}

#[test]
fn bad_time_arguments_are_one_line_and_status_2() {
    let server = TmuxServer::start("work");
    let db = server.db();
    recorded(&server);
    for (args, bad) in [
        (&["log", "--since", "yesterdayish"][..], "yesterdayish"),
        (
            &["log", "--json", "--until", "2026-13-45T99:00:00Z"],
            "2026-13-45T99:00:00Z",
        ),
        (&["who", "--at", "noonish"], "noonish"),
        (
            &["who", "--json", "--at", "half past noon"],
            "half past noon",
        ),
    ] {
        let out = cli(&db, args);
        assert_one_line_error(&format!("{args:?}"), &out, &[bad]);
    }
    // The store is fine and still answers.
    assert!(!log_json(&db).is_empty());
}

#[test]
fn unknown_server_is_one_line_and_status_2() {
    let server = TmuxServer::start("work");
    let db = server.db();
    recorded(&server);

    // Queries about a server the store never saw.
    let elsewhere = server.dir().join("never-recorded.sock");
    let shown = elsewhere.to_str().unwrap();
    for args in [
        &["who"][..],
        &["who", "--json"],
        &["log", "--json"],
        &["sessions"],
    ] {
        let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        all.extend([OsStr::new("-S"), elsewhere.as_os_str()]);
        let out = cli(&db, &all);
        assert_one_line_error(&format!("{args:?} -S {shown}"), &out, &[shown]);
    }
    let out = cli(&db, &["who", "-L", "never-recorded-name"]);
    assert_one_line_error("who -L never-recorded-name", &out, &["never-recorded-name"]);
    // The server that was recorded is accepted the same way.
    let out = cli(
        &db,
        &[
            OsStr::new("who"),
            OsStr::new("-S"),
            server.sock().as_os_str(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A daemon for a socket whose folder does not exist cannot ever see that server.
    let nowhere = server.dir().join("no-such-folder").join("sock");
    let mut cmd = server.isolated(bin());
    cmd.arg("--db")
        .arg(server.dir().join("other.db"))
        .arg("daemon")
        .arg("-S")
        .arg(&nowhere)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn daemon");
    let exited = poll(TIMEOUT, || child.try_wait().expect("try_wait"));
    if exited.is_none() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        exited.is_some(),
        "daemon -S {} kept running for {TIMEOUT:?}",
        nowhere.display()
    );
    assert_one_line_error(
        &format!("daemon -S {}", nowhere.display()),
        &out,
        &[nowhere.to_str().unwrap()],
    );
}
