//! Viewing the audit log is audited (issue 11, requirement 5; PCI DSS 10.2.1.3): `search`,
//! `export`, `replay` and both `--follow`s record an `audit-access` event — by the daemon over
//! its control socket (the uid from the kernel) when one runs, by the viewer itself when none
//! answers and it can write the store, and a note on stderr when neither can.
//!
//! The tests with a second user need root (`setpriv` to `nobody`), as CI runs them; otherwise
//! they print why and return.

use crate::support;
use crate::support::shown::{assert_verifies, recorded_pane};
use crate::support::*;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    println!("{test}: SKIPPED (passes trivially) — needs root to run a viewer as `nobody`");
    true
}

fn accesses(db: &Path) -> Vec<Value> {
    log_json(db)
        .into_iter()
        .filter(|e| kind(e) == "audit-access")
        .collect()
}

/// `tmux-audit --db DB ARGS` as `nobody`.
fn as_nobody(server: &TmuxServer, db: &Path, args: &[&str]) -> Output {
    let mut cmd = server.isolated("setpriv");
    cmd.args([
        "--reuid",
        "nobody",
        "--regid",
        nobody_group(),
        "--clear-groups",
    ])
    .arg(bin())
    .arg("--db")
    .arg(db)
    .args(args)
    .stdin(Stdio::null());
    cmd.output().expect("run tmux-audit as nobody")
}

/// Runs a `--follow` view until its output holds `needle`, then interrupts it.
fn follow_until(mut cmd: Command, out: &Path, needle: &str) -> u32 {
    let child = cmd.stdin(Stdio::null()).spawn().expect("spawn follow view");
    let pid = child.id();
    wait_for(
        &format!("{needle} from the follow view"),
        TIMEOUT,
        || {
            std::fs::read_to_string(out)
                .unwrap_or_default()
                .contains(needle)
                .then_some(())
        },
        || std::fs::read_to_string(out).unwrap_or_default(),
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait_with_output().unwrap().status;
    assert!(status.success(), "follow view ended with {status}");
    pid
}

#[test]
fn every_view_records_an_audit_access_with_who_what_and_when() {
    let (server, _daemon, pane) = recorded_pane();
    let db = server.db();
    server.print_line(&pane, "viewedword42");
    let before = support::now_rfc3339();

    let ok = |args: &[&str]| {
        let out = cli(&db, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("NOT recorded"),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ok(&["search", "viewedword42"]);
    let raw = server.dir().join("pane.raw");
    ok(&[
        "export",
        &pane,
        "--format",
        "raw",
        "-o",
        raw.to_str().unwrap(),
    ]);
    ok(&["replay", &pane]);
    let cast = server.dir().join("follow.cast");
    let mut export = server.isolated(bin());
    export
        .arg("--db")
        .arg(&db)
        .args(["export", &pane, "--follow", "-o", cast.to_str().unwrap()]);
    let export_pid = follow_until(export, &cast, "viewedword42");
    let frames = server.dir().join("follow.frames");
    let mut replay = server.isolated(bin());
    replay
        .arg("--db")
        .arg(&db)
        .args(["replay", &pane, "--follow"])
        .stdout(std::fs::File::create(&frames).unwrap());
    let replay_pid = follow_until(replay, &frames, "viewedword42");

    let seen = accesses(&db);
    let views: Vec<&str> = seen.iter().map(|e| field(e, "view").unwrap()).collect();
    assert_eq!(
        views,
        [
            "search",
            "export",
            "replay",
            "export-follow",
            "replay-follow"
        ],
        "{}",
        render(&seen)
    );
    for e in &seen {
        assert_eq!(field(e, "recorded_by"), Some("daemon"), "{e}");
        assert_eq!(e["uid"], 0, "{e}");
        assert_eq!(field(e, "user"), Some("root"), "{e}");
        assert!(field(e, "time").unwrap() >= before.as_str(), "{e}");
    }
    assert_eq!(field(&seen[0], "query"), Some("viewedword42"));
    for e in &seen[1..] {
        assert_eq!(field(e, "query"), Some(pane.as_str()), "{e}");
        assert_eq!(field(e, "pane_id"), Some(pane.as_str()), "{e}");
    }
    let argv: Vec<&str> = seen[1]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        argv.contains(&raw.to_str().unwrap()),
        "the export target is recorded: {argv:?}"
    );
    // The pid is the kernel's for the connecting process.
    assert_eq!(seen[3]["pid"], export_pid);
    assert_eq!(seen[4]["pid"], replay_pid);
    assert_verifies(&db);
}

#[test]
fn a_viewer_who_cannot_write_the_store_is_recorded_by_the_daemon_under_its_kernel_uid() {
    if skip_unless_root("a_viewer_who_cannot_write_the_store_is_recorded_by_the_daemon") {
        return;
    }
    let server = TmuxServer::start("work");
    let pane = server.display("work", "#{pane_id}");
    server.wait_prompt(&pane);
    let db = server.db();
    // A store others may read (its control socket follows its mode).
    let mut first = Daemon::start_ready(&server, "work");
    first.stop();
    std::fs::set_permissions(server.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let daemon = Daemon::start(&server);
    daemon.wait_ready("work");
    server.wait_piped(&pane, &daemon);
    let ctl = state_of(&db).control_socket().to_owned();
    let mode = std::fs::metadata(&ctl).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o666,
        "the socket is open to whoever may read the store"
    );
    server.print_line(&pane, "nobodysees42");

    let out = as_nobody(&server, &db, &["search", "nobodysees42", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("NOT recorded"), "{stderr}");
    let hits = parse_json_lines(&out.stdout).unwrap();
    assert!(
        hits.iter().any(|h| h["line"] == "nobodysees42"),
        "nobody found the fresh line: {hits:?} {stderr}"
    );
    let seen = accesses(&db);
    let e = seen.last().expect("an audit-access");
    assert_eq!(field(e, "recorded_by"), Some("daemon"), "{e}");
    assert_eq!(field(e, "user"), Some("nobody"), "{e}");
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    assert_eq!(e["uid"], nobody.uid.as_raw(), "{e}");
    assert_eq!(field(e, "query"), Some("nobodysees42"));

    // A request that names its own uid, and one that never ends, are refused; the daemon keeps
    // answering.
    use std::io::{Read, Write};
    let mut forged = std::os::unix::net::UnixStream::connect(&ctl).unwrap();
    forged
        .write_all(b"{\"view\":\"search\",\"uid\":0}\n")
        .unwrap();
    let mut reply = String::new();
    forged.read_to_string(&mut reply).unwrap();
    assert!(reply.contains("error") && reply.contains("uid"), "{reply}");
    let mut endless = std::os::unix::net::UnixStream::connect(&ctl).unwrap();
    let _ = endless.write_all(&vec![b'x'; 8192]);
    let mut reply = String::new();
    let _ = endless.read_to_string(&mut reply);
    assert!(reply.contains("longer than"), "{reply}");
    let again = as_nobody(&server, &db, &["search", "nobodysees42"]);
    assert!(again.status.success());
    assert_eq!(
        accesses(&db).len(),
        seen.len() + 1,
        "the refused request recorded nothing"
    );
}

#[test]
fn without_a_daemon_the_viewer_records_itself_or_says_it_could_not() {
    let (server, mut daemon, pane) = recorded_pane();
    let db = server.db();
    server.print_line(&pane, "afterstop42");
    daemon.stop();

    let out = cli(&db, &["search", "afterstop42"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = accesses(&db);
    assert_eq!(seen.len(), 1, "{}", render(&seen));
    assert_eq!(field(&seen[0], "recorded_by"), Some("viewer"));
    assert_eq!(seen[0]["uid"], 0);
    let verified = cli(&db, &["verify"]);
    assert!(
        verified.status.success(),
        "viewing changes nothing verify checks: {}",
        String::from_utf8_lossy(&verified.stdout)
    );

    if !skip_unless_root("without_a_daemon: a viewer who cannot write the store") {
        std::fs::set_permissions(server.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let f = format!("{}{suffix}", db.display());
            if Path::new(&f).exists() {
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
        let out = as_nobody(&server, &db, &["search", "afterstop42"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "the view still runs: {stderr}");
        assert!(stderr.contains("was NOT recorded"), "{stderr}");
        assert_eq!(accesses(&db).len(), 1, "nothing was added");
    }

    // The next daemon does not take the viewer's event for the last one of an unclean stop.
    let again = Daemon::start(&server);
    again.wait_ready("work");
    assert!(
        !log_json(&db).iter().any(|e| kind(e) == "audit-gap"),
        "{}",
        render(&log_json(&db))
    );
}

#[test]
fn stuck_clients_on_the_control_socket_block_neither_recording_nor_later_views() {
    let (server, mut daemon, pane) = recorded_pane();
    let db = server.db();
    let ctl = state_of(&db).control_socket().to_owned();
    // More connections than the daemon serves at once, each sending half a request and no more.
    let stuck: Vec<_> = (0..24)
        .map(|_| {
            let mut s = std::os::unix::net::UnixStream::connect(&ctl).unwrap();
            let _ = std::io::Write::write_all(&mut s, b"{\"view\":");
            s
        })
        .collect();
    // Recording goes on meanwhile: a new session is recorded.
    server.new_session("during");
    wait_log(&db, "the session made while clients hang", |log| {
        log.iter()
            .any(|e| kind(e) == "session-created" && field(e, "session") == Some("during"))
    });
    server.print_line(&pane, "afterstuck42");
    // Each stuck client has a second; then views are served by the daemon again.
    let recorded = wait_for(
        "a view recorded by the daemon after the stuck clients",
        TIMEOUT,
        || {
            let out = cli(&db, &["search", "afterstuck42", "--json"]);
            assert!(out.status.success());
            let seen = accesses(&db);
            let last = seen.last()?;
            (field(last, "recorded_by") == Some("daemon"))
                .then(|| parse_json_lines(&out.stdout).unwrap())
        },
        || render(&accesses(&db)),
    );
    assert!(
        recorded.iter().any(|h| h["line"] == "afterstuck42"),
        "{recorded:?}"
    );
    drop(stuck);
    assert!(
        daemon.try_status().is_none(),
        "the daemon still runs: {}",
        daemon.stderr()
    );
}
