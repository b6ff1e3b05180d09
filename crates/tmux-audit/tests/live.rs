//! What was printed a moment ago is visible at once (issue 11, requirements 3 and 4): `search`
//! with default flags finds it (the daemon commits pending output when a view asks), and
//! `replay --follow` / `export --follow` show a pane as it happens; with the daemon killed, search
//! finds what its copier still spooled, marked not yet committed. A real tmux, the real daemon
//! with its default `--flush-after` of 30 s.

use crate::support::shown::{assert_verifies, recorded_pane};
use crate::support::*;
use serde_json::Value;
use std::time::{Duration, Instant};

fn hits(db: &std::path::Path, word: &str) -> Vec<Value> {
    let out = cli(db, &["search", word, "--json"]);
    assert!(
        out.status.success(),
        "search failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_json_lines(&out.stdout).unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn text_printed_a_second_ago_is_found_by_search_with_default_flags() {
    let (server, _daemon, pane) = recorded_pane();
    let db = server.db();
    let mut latencies = Vec::new();
    for n in 0..5 {
        let word = format!("fresh{n}word{}", 6 * 7);
        let printed = server.print_line(&pane, &word);
        // Printed one second ago (a bounded wait for the clock, not for the system under test).
        wait_for(
            "a second to pass",
            TIMEOUT,
            || (printed.elapsed() >= Duration::from_secs(1)).then_some(()),
            String::new,
        );
        let asked = Instant::now();
        let found = hits(&db, &word);
        let took = asked.elapsed();
        let hit = found
            .iter()
            .find(|h| h["line"] == word.as_str())
            .unwrap_or_else(|| panic!("{word} not found within the default 30 s flush: {found:?}"));
        assert_eq!(hit["pane_id"], pane.as_str());
        assert_eq!(hit["committed"], true, "{hit}");
        assert!(took < Duration::from_secs(2), "search took {took:?}");
        latencies.push(took);
    }
    eprintln!(
        "search of text printed 1 s before, with default flags: median {:?}, max {:?} (5 runs)",
        median(latencies.clone()),
        latencies.iter().max().unwrap()
    );
    // What the views saw is in the chain: the log verifies.
    assert_verifies(&db);
}

#[test]
fn replay_follow_shows_new_output_as_it_comes_and_sends_nothing_to_the_pane() {
    let (server, daemon, pane) = recorded_pane();
    let db = server.db();
    server.print_line(&pane, "beforefollow42");
    // The viewer: a bigger window of the same server, running replay --follow on a real pty.
    let viewer = format!(
        "exec {} --db {} replay {pane} -S {} --follow",
        bin(),
        db.display(),
        server.sock_str()
    );
    server.tmux(&[
        "new-session",
        "-d",
        "-s",
        "viewer",
        "-x",
        "120",
        "-y",
        "40",
        &viewer,
    ]);
    let screen = || server.tmux(&["capture-pane", "-p", "-t", "viewer"]);
    wait_for(
        "the current screen drawn by replay --follow",
        TIMEOUT,
        || screen().contains("beforefollow42").then_some(()),
        || format!("{}\ndaemon: {}", screen(), daemon.stderr()),
    );
    assert!(
        screen().contains("not yet committed to the chain"),
        "the status line says what is live: {}",
        screen()
    );
    let pane_before = server.tmux(&["capture-pane", "-p", "-t", &pane]);
    let mut latencies = Vec::new();
    for n in 0..5 {
        let word = format!("live{n}line{}", 6 * 7);
        let printed = server.print_line(&pane, &word);
        let seen = wait_for(
            &format!("{word} in the follow view"),
            TIMEOUT,
            || screen().contains(&word).then(Instant::now),
            screen,
        );
        latencies.push(seen.saturating_duration_since(printed));
    }
    let m = median(latencies.clone());
    eprintln!(
        "print -> replay --follow screen: median {m:?}, max {:?} (5 prints)",
        latencies.iter().max().unwrap()
    );
    assert!(m <= Duration::from_secs(1), "median latency {m:?}");
    // Keys typed into the follow view never reach the followed pane.
    server.tmux(&["send-keys", "-t", "viewer", "echo typed-in-viewer"]);
    let after = server.tmux(&["capture-pane", "-p", "-t", &pane]);
    assert!(!after.contains("typed-in-viewer"), "{after}");
    assert!(pane_before.lines().count() <= after.lines().count());
    // q quits.
    server.tmux(&["send-keys", "-t", "viewer", "q"]);
    wait_for(
        "the follow view to quit",
        TIMEOUT,
        || {
            let out = server.tmux_output(&["has-session", "-t", "viewer"]);
            (!out.status.success()).then_some(())
        },
        screen,
    );
}

#[test]
fn export_follow_writes_asciicast_as_the_pane_prints() {
    let (server, _daemon, pane) = recorded_pane();
    let db = server.db();
    server.print_line(&pane, "beforeexport42");
    let cast = server.dir().join("live.cast");
    let mut cmd = server.isolated(bin());
    cmd.arg("--db")
        .arg(&db)
        .args(["export", &pane, "-S", &server.sock_str(), "--follow", "-o"])
        .arg(&cast)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let read = || std::fs::read_to_string(&cast).unwrap_or_default();
    wait_for(
        "the header and current screen",
        TIMEOUT,
        || read().contains("beforeexport42").then_some(()),
        read,
    );
    let printed = server.print_line(&pane, "afterexport42");
    let seen = wait_for(
        "new output appended to the cast",
        TIMEOUT,
        || read().contains("afterexport42").then(Instant::now),
        read,
    );
    eprintln!("print -> export --follow file: {:?}", seen - printed);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not yet committed"), "{stderr}");
    let text = read();
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    for line in lines {
        let event: Value = serde_json::from_str(line).unwrap();
        assert_eq!(event[1], "o", "{line}");
    }
}

#[test]
fn output_a_killed_daemon_left_uncommitted_is_found_and_marked_so() {
    let (server, mut daemon, pane) = recorded_pane();
    let db = server.db();
    server.print_line(&pane, "committedfirst42");
    assert!(hits(&db, "committedfirst42")[0]["committed"] == true);
    // Killed: its copier goes on spooling, nothing commits.
    daemon.kill9();
    server.print_line(&pane, "spooledonly42");
    // (The copier spools within 50 ms of a pause: the pane may show the line a moment sooner.)
    let hit = wait_for(
        "the spooled line found",
        Duration::from_secs(2),
        || {
            hits(&db, "spooledonly42")
                .into_iter()
                .find(|h| h["line"] == "spooledonly42")
        },
        || format!("{:?}", hits(&db, "spooledonly42")),
    );
    assert_eq!(hit["committed"], false, "{hit}");
    assert_eq!(hit["pane_id"], pane.as_str());
    let out = cli(&db, &["search", "spooledonly42"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("(not yet committed)"), "{text}");
    assert!(note.contains("not yet committed to the chain"), "{note}");
    // A line the last committed chunk already holds is not found again from the spool.
    let again = hits(&db, "committedfirst42");
    assert_eq!(again.len(), 1, "{again:?}");
    // The next daemon commits what was spooled: then it is found committed (its new pipe starts
    // from a fresh picture of the pane, which shows the line again: a second, committed, hit).
    let _next = Daemon::start_ready(&server, "work");
    let committed = wait_for(
        "the spooled line committed by the next daemon",
        TIMEOUT,
        || {
            let found = hits(&db, "spooledonly42");
            (!found.is_empty() && found.iter().all(|h| h["committed"] == true)).then_some(found)
        },
        || format!("{:?}", hits(&db, "spooledonly42")),
    );
    assert!(committed.iter().all(|h| h["line"] == "spooledonly42"));
}
