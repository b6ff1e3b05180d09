//! Clients coming and going, driven through real ptys: attach, detach, switch, SIGKILL, an
//! attached `new-session`, `detach-client -a`, `switch-client -r`, a killed session, a killed
//! server. Each test checks the events the daemon recorded, field by field, and `who`.

use crate::support::*;
use nix::sys::signal::Signal;
use serde_json::Value;
use std::collections::BTreeSet;

/// What an attach of `client` by root, recorded by the daemon, must carry.
fn assert_root_attach(e: &Value, client: &PtyClient, session: &str, session_id: &str, sock: &str) {
    let ctx = format!("event {e}");
    assert_eq!(field(e, "client"), Some(client.tty()), "{ctx}");
    assert_eq!(field(e, "session"), Some(session), "{ctx}");
    assert_eq!(field(e, "session_id"), Some(session_id), "{ctx}");
    assert_eq!(field(e, "server"), Some(sock), "{ctx}");
    assert_eq!(field(e, "user"), Some("root"), "{ctx}");
    assert_eq!(e.get("uid").and_then(Value::as_i64), Some(0), "{ctx}");
    assert_eq!(
        e.get("readonly").and_then(Value::as_bool),
        Some(false),
        "{ctx}"
    );
    assert_eq!(field(e, "tty"), Some(client.tty()), "{ctx}");
    assert_eq!(field(e, "term"), Some("xterm"), "{ctx}");
    assert_eq!(
        e.get("client_pid").and_then(Value::as_i64),
        Some(client.pid() as i64),
        "{ctx}"
    );
}

fn assert_local_origin(e: &Value) {
    let origin = field(e, "origin").unwrap_or_else(|| panic!("no origin in {e}"));
    if under_sshd() {
        println!("tests run under sshd: accepting origin {origin:?} instead of \"local\"");
        assert!(!origin.is_empty(), "{e}");
    } else {
        assert_eq!(origin, "local", "{e}");
    }
}

/// The daemon's own tmux client(s) must never show up: every client named anywhere in the log
/// or in `who` is one the test started.
fn assert_only_our_clients(server: &TmuxServer, db: &std::path::Path, ours: &[&PtyClient]) {
    let ours: BTreeSet<&str> = ours.iter().map(|c| c.tty()).collect();
    let log = log_json(db);
    for e in &log {
        if kind(e) == "tmux-command" {
            // Commands the test itself ran through tmux; never the daemon's own (its list
            // formats separate fields with \037, the test's with tabs).
            let command = field(e, "command").unwrap_or("");
            assert!(
                !["show-messages", "\\037", "pane-pipe", "refresh-client -B"]
                    .iter()
                    .any(|own| command.contains(own)),
                "the daemon's own command in {e}"
            );
            continue;
        }
        if let Some(c) = field(e, "client") {
            assert!(
                ours.contains(c),
                "a client the test never started ({c}) in {e}"
            );
        }
    }
    for w in who_json(db, None) {
        let c = field(&w, "client").unwrap_or("");
        assert!(
            ours.contains(c),
            "a client the test never started in who: {w}"
        );
    }
    for (name, pid) in server.control_clients() {
        assert!(
            !log.iter().any(|e| field(e, "client") == Some(&name)
                || e.get("client_pid").and_then(Value::as_i64) == Some(pid as i64)),
            "the daemon's control client {name} (pid {pid}) appears in the log"
        );
    }
}

#[test]
fn two_clients_at_once_then_detach_switch_and_sigkill() {
    let server = TmuxServer::start("work");
    let work = server.first_session_id().to_owned();
    let other = server.new_session("other");
    let sock = server.sock_str();
    let db = server.db();
    let _daemon = Daemon::start_ready(&server, "work");
    wait_log(&db, "session-created of other", |log| {
        log.iter()
            .any(|e| kind(e) == "session-created" && field(e, "session_id") == Some(&other))
    });

    let a = server.attach(&work);
    let mut b_cmd = server.attach_command(&work);
    b_cmd.env("SSH_CONNECTION", "203.0.113.7 52014 10.0.0.5 22");
    let b = PtyClient::spawn(b_cmd);
    server.wait_attached(&b, &work);
    let mut c = server.attach(&work);

    // All three attached to one session at the same time.
    let log = wait_log(&db, "client-attached of all three clients", |log| {
        [&a, &b, &c].iter().all(|cl| {
            log.iter()
                .any(|e| kind(e) == "client-attached" && field(e, "client") == Some(cl.tty()))
        })
    });
    for cl in [&a, &b, &c] {
        let e = find(&log, "client-attached", |e| {
            field(e, "client") == Some(cl.tty())
        });
        assert_root_attach(e, cl, "work", &work, &sock);
        assert_eq!(field(e, "observed").unwrap_or("live"), "live", "{e}");
    }
    assert_local_origin(find(&log, "client-attached", |e| {
        field(e, "client") == Some(a.tty())
    }));
    let b_origin = field(
        find(&log, "client-attached", |e| {
            field(e, "client") == Some(b.tty())
        }),
        "origin",
    );
    assert!(
        b_origin.is_some_and(|o| o.starts_with("203.0.113.7")),
        "client B runs with SSH_CONNECTION from 203.0.113.7, origin is {b_origin:?}"
    );

    let who = who_json(&db, None);
    assert_eq!(who.len(), 3, "who while three are attached: {who:?}");
    for cl in [&a, &b, &c] {
        let w = who
            .iter()
            .find(|w| field(w, "client") == Some(cl.tty()))
            .unwrap_or_else(|| panic!("{} missing from who: {who:?}", cl.tty()));
        assert_root_attach(w, cl, "work", &work, &sock);
        assert!(is_rfc3339_micros(field(w, "since").unwrap_or("")), "{w}");
    }

    // A detaches itself with the key binding.
    server.detach_with_keys(&a);
    let (log, i) = wait_client_event(&db, "A's client-detached", "client-detached", a.tty());
    let e = &log[i];
    assert_eq!(field(e, "reason"), Some("detach"), "{e}");
    assert_eq!(field(e, "session"), Some("work"), "{e}");
    assert_eq!(field(e, "session_id"), Some(work.as_str()), "{e}");

    // B switches to the other session.
    server.tmux(&["switch-client", "-c", b.tty(), "-t", &other]);
    let log = wait_log(&db, "B's switch to other", |log| {
        log.iter().any(|e| {
            kind(e) == "client-attached"
                && field(e, "client") == Some(b.tty())
                && field(e, "session_id") == Some(&other)
        })
    });
    let left = find(&log, "client-detached", |e| {
        field(e, "client") == Some(b.tty())
    });
    assert_eq!(field(left, "reason"), Some("switch"), "{left}");
    assert_eq!(field(left, "session_id"), Some(work.as_str()), "{left}");
    assert_eq!(field(left, "session"), Some("work"), "{left}");
    let arrived = find(&log, "client-attached", |e| {
        field(e, "client") == Some(b.tty()) && field(e, "session_id") == Some(&other)
    });
    assert_eq!(field(arrived, "session"), Some("other"), "{arrived}");
    assert!(
        seq(arrived) > seq(left),
        "attach to the new session follows the detach"
    );
    assert_eq!(field(arrived, "user"), Some("root"), "{arrived}");

    // C is killed outright.
    c.signal(Signal::SIGKILL);
    c.wait_exit();
    let (log, i) = wait_client_event(&db, "C's client-detached", "client-detached", c.tty());
    let e = &log[i];
    assert_eq!(field(e, "reason"), Some("exit"), "{e}");
    assert_eq!(field(e, "session_id"), Some(work.as_str()), "{e}");

    // Exactly one detach each; A and C never came back.
    for cl in [&a, &c] {
        let n = client_events(&log, cl.tty())
            .iter()
            .filter(|e| kind(e) == "client-detached")
            .count();
        assert_eq!(n, 1, "{} detached once:\n{}", cl.tty(), render(&log));
    }

    let who = who_json(&db, None);
    assert_eq!(who.len(), 1, "only B is left: {who:?}");
    assert_eq!(field(&who[0], "client"), Some(b.tty()));
    assert_eq!(field(&who[0], "session"), Some("other"));
    assert_eq!(field(&who[0], "session_id"), Some(other.as_str()));

    assert_only_our_clients(&server, &db, &[&a, &b, &c]);

    // Three attaches to work and one (B's switch) to other: the daemon's own client counts in
    // neither.
    let sessions = cli_json(&db, &["sessions", "--json"]);
    for (id, attaches) in [(&work, 3), (&other, 1)] {
        let s = sessions
            .iter()
            .find(|s| field(s, "session_id") == Some(id.as_str()))
            .unwrap_or_else(|| panic!("{id} missing from sessions: {sessions:?}"));
        assert_eq!(s["attaches"].as_i64(), Some(attaches), "{s}");
        assert_eq!(s["participants"], serde_json::json!(["root"]), "{s}");
    }
}

#[test]
fn attached_new_session_is_recorded_as_an_attach() {
    let server = TmuxServer::start("work");
    let db = server.db();
    let sock = server.sock_str();
    let _daemon = Daemon::start_ready(&server, "work");

    let mut cmd = server.command();
    cmd.args(["new-session", "-s", "fresh"]);
    let client = PtyClient::spawn(cmd);
    let fresh = wait_for(
        "tmux to list session fresh",
        TIMEOUT,
        || {
            let out =
                server.tmux_output(&["display-message", "-p", "-t", "=fresh:", "#{session_id}"]);
            let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            (out.status.success() && id.starts_with('$')).then_some(id)
        },
        || client.output_text(),
    );
    server.wait_attached(&client, &fresh);

    let (log, _) = wait_event(
        &db,
        "client-attached for new-session",
        "client-attached",
        |e| field(e, "client") == Some(client.tty()),
    );
    let created = find(&log, "session-created", |e| {
        field(e, "session_id") == Some(&fresh)
    });
    assert_eq!(field(created, "session"), Some("fresh"), "{created}");
    let attached = find(&log, "client-attached", |e| {
        field(e, "client") == Some(client.tty())
    });
    assert_root_attach(attached, &client, "fresh", &fresh, &sock);
    assert!(
        seq(attached) > seq(created),
        "attach follows the session's creation"
    );

    let who = who_json(&db, None);
    assert!(
        who.iter()
            .any(|w| field(w, "client") == Some(client.tty())
                && field(w, "session") == Some("fresh")),
        "who shows the new-session client: {who:?}"
    );

    server.detach_with_keys(&client);
    let (log, i) = wait_client_event(
        &db,
        "detach of the new-session client",
        "client-detached",
        client.tty(),
    );
    let e = &log[i];
    assert_eq!(field(e, "reason"), Some("detach"), "{e}");
    assert_eq!(field(e, "session_id"), Some(fresh.as_str()), "{e}");
    assert_only_our_clients(&server, &db, &[&client]);
}

#[test]
fn detach_client_all_kicks_the_others() {
    let server = TmuxServer::start("work");
    let work = server.first_session_id().to_owned();
    let db = server.db();
    let _daemon = Daemon::start_ready(&server, "work");
    let a = server.attach(&work);
    let b = server.attach(&work);
    let c = server.attach(&work);
    wait_log(&db, "three attaches", |log| {
        log.iter().filter(|e| kind(e) == "client-attached").count() == 3
    });
    let pane_tty = server.display(&work, "#{pane_tty}");

    // A's user types the command in the shell of the session A is looking at.
    server.wait_prompt(&work);
    a.send(format!("tmux -S {} detach-client -a\r", server.sock_str()).as_bytes());
    server.wait_gone(b.tty());
    server.wait_gone(c.tty());

    let log = wait_log(&db, "B and C detached", |log| {
        [&b, &c].iter().all(|cl| {
            log.iter()
                .any(|e| kind(e) == "client-detached" && field(e, "client") == Some(cl.tty()))
        })
    });
    for cl in [&b, &c] {
        let e = find(&log, "client-detached", |e| {
            field(e, "client") == Some(cl.tty())
        });
        assert_eq!(field(e, "reason"), Some("kicked"), "{e}");
        assert_eq!(field(e, "session_id"), Some(work.as_str()), "{e}");
        let by = field(e, "by").unwrap_or_else(|| panic!("kicked without `by`: {e}"));
        assert!(
            by == a.tty() || by == pane_tty,
            "`by` should name A ({}) or the command client in A's pane ({pane_tty}): {e}",
            a.tty()
        );
        if let Some(by_user) = field(e, "by_user") {
            assert_eq!(by_user, "root", "{e}");
        }
    }
    assert!(
        !log.iter()
            .any(|e| kind(e) == "client-detached" && field(e, "client") == Some(a.tty())),
        "A was not detached:\n{}",
        render(&log)
    );
    let who = who_json(&db, None);
    assert_eq!(who.len(), 1, "{who:?}");
    assert_eq!(field(&who[0], "client"), Some(a.tty()));
    assert_only_our_clients(&server, &db, &[&a, &b, &c]);
}

#[test]
fn detach_typed_inside_own_session_is_a_detach_not_a_kick() {
    let server = TmuxServer::start("work");
    let work = server.first_session_id().to_owned();
    let db = server.db();
    let _daemon = Daemon::start_ready(&server, "work");
    let mut a = server.attach(&work);
    wait_event(&db, "A attached", "client-attached", |e| {
        field(e, "client") == Some(a.tty())
    });
    server.wait_prompt(&work);
    a.send(format!("tmux -S {} detach-client\r", server.sock_str()).as_bytes());
    a.wait_exit();
    let (log, i) = wait_client_event(&db, "A's client-detached", "client-detached", a.tty());
    let e = &log[i];
    assert_eq!(field(e, "reason"), Some("detach"), "{e}");
    assert_eq!(field(e, "session_id"), Some(work.as_str()), "{e}");
}

#[test]
fn switch_client_readonly_is_recorded() {
    let server = TmuxServer::start("work");
    let work = server.first_session_id().to_owned();
    let db = server.db();
    let _daemon = Daemon::start_ready(&server, "work");
    let a = server.attach(&work);
    wait_event(&db, "A attached", "client-attached", |e| {
        field(e, "client") == Some(a.tty())
    });

    server.tmux(&["switch-client", "-r", "-c", a.tty()]);
    assert!(
        server.clients().iter().any(|c| c.0 == a.tty() && c.3),
        "tmux sets read-only"
    );
    let (log, i) = wait_client_event(&db, "read-only on", "client-readonly-changed", a.tty());
    let on = &log[i];
    assert_eq!(
        on.get("readonly").and_then(Value::as_bool),
        Some(true),
        "{on}"
    );
    assert_eq!(field(on, "session_id"), Some(work.as_str()), "{on}");
    assert_eq!(field(on, "session"), Some("work"), "{on}");

    let who = who_json(&db, None);
    let w = who
        .iter()
        .find(|w| field(w, "client") == Some(a.tty()))
        .unwrap_or_else(|| panic!("A missing from who: {who:?}"));
    assert_eq!(
        w.get("readonly").and_then(Value::as_bool),
        Some(true),
        "{w}"
    );

    // Toggle back.
    server.tmux(&["switch-client", "-r", "-c", a.tty()]);
    let log = wait_log(&db, "read-only off", |log| {
        log.iter()
            .filter(|e| kind(e) == "client-readonly-changed" && field(e, "client") == Some(a.tty()))
            .count()
            == 2
    });
    let off = log
        .iter()
        .rfind(|e| kind(e) == "client-readonly-changed")
        .unwrap();
    assert_eq!(
        off.get("readonly").and_then(Value::as_bool),
        Some(false),
        "{off}"
    );
    assert!(seq(off) > seq(on));

    // `switch-client -r` keeps the session: no detach, no second attach.
    let mine = client_events(&log, a.tty());
    assert_eq!(
        mine.iter().filter(|e| kind(e) == "client-attached").count(),
        1,
        "{}",
        render(&log)
    );
    assert!(
        !mine.iter().any(|e| kind(e) == "client-detached"),
        "{}",
        render(&log)
    );
    let who = who_json(&db, None);
    assert_eq!(who.len(), 1, "{who:?}");
    assert_eq!(who[0].get("readonly").and_then(Value::as_bool), Some(false));
}

#[test]
fn killed_session_and_killed_server_detach_their_clients() {
    let server = TmuxServer::start("work");
    let work = server.first_session_id().to_owned();
    let doomed = server.new_session("doomed");
    let db = server.db();
    let _daemon = Daemon::start_ready(&server, "work");
    let a = server.attach(&doomed);
    let b = server.attach(&work);
    wait_log(&db, "both attached", |log| {
        log.iter().filter(|e| kind(e) == "client-attached").count() == 2
    });

    server.tmux(&["kill-session", "-t", &doomed]);
    let log = wait_log(&db, "session doomed closed and A detached", |log| {
        log.iter()
            .any(|e| kind(e) == "session-closed" && field(e, "session_id") == Some(&doomed))
            && log
                .iter()
                .any(|e| kind(e) == "client-detached" && field(e, "client") == Some(a.tty()))
    });
    let e = find(&log, "client-detached", |e| {
        field(e, "client") == Some(a.tty())
    });
    assert_eq!(field(e, "reason"), Some("session-closed"), "{e}");
    assert_eq!(field(e, "session_id"), Some(doomed.as_str()), "{e}");
    let closed = find(&log, "session-closed", |e| {
        field(e, "session_id") == Some(&doomed)
    });
    assert_eq!(field(closed, "session"), Some("doomed"), "{closed}");

    server.tmux(&["kill-server"]);
    let log = wait_log(&db, "server-exited and B detached", |log| {
        log.iter().any(|e| kind(e) == "server-exited")
            && log
                .iter()
                .any(|e| kind(e) == "client-detached" && field(e, "client") == Some(b.tty()))
    });
    let e = find(&log, "client-detached", |e| {
        field(e, "client") == Some(b.tty())
    });
    assert_eq!(field(e, "reason"), Some("server-exit"), "{e}");
    assert_eq!(field(e, "session_id"), Some(work.as_str()), "{e}");
    let exited = find(&log, "server-exited", |_| true);
    assert_eq!(
        field(exited, "server"),
        Some(server.sock_str().as_str()),
        "{exited}"
    );
    let who = who_json(&db, None);
    assert!(
        who.is_empty(),
        "nobody is attached to a dead server: {who:?}"
    );
}

#[test]
fn closed_terminal_is_an_exit() {
    let server = TmuxServer::start("work");
    let work = server.first_session_id().to_owned();
    let db = server.db();
    let _daemon = Daemon::start_ready(&server, "work");
    let mut a = server.attach(&work);
    wait_event(&db, "A attached", "client-attached", |e| {
        field(e, "client") == Some(a.tty())
    });

    a.close_terminal();
    a.wait_exit();
    let (log, i) = wait_client_event(&db, "A's client-detached", "client-detached", a.tty());
    let e = &log[i];
    assert_eq!(field(e, "reason"), Some("exit"), "{e}");
    assert_eq!(field(e, "session_id"), Some(work.as_str()), "{e}");
    assert!(who_json(&db, None).is_empty());
}

/// Regression: a client that attaches and detaches within milliseconds (say, to grab one
/// screen) was gone before the daemon listed clients, and left no trace.
#[test]
fn an_attach_of_a_few_milliseconds_is_still_recorded() {
    let server = TmuxServer::start("work");
    let work = server.first_session_id().to_owned();
    let db = server.db();
    let _daemon = Daemon::start_ready(&server, "work");

    let mut cmd = server.command();
    cmd.args(["attach-session", "-t", &work, ";", "detach-client"]);
    let mut client = PtyClient::spawn(cmd);
    client.wait_exit();

    let (log, _) = wait_event(
        &db,
        "detach of the fleeting client",
        "client-detached",
        |e| field(e, "client") == Some(client.tty()),
    );
    let attached = find(&log, "client-attached", |e| {
        field(e, "client") == Some(client.tty())
    });
    assert_eq!(
        field(attached, "session_id"),
        Some(work.as_str()),
        "{attached}"
    );
    assert_eq!(field(attached, "session"), Some("work"), "{attached}");
    let me = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .expect("the test user has a name");
    assert_eq!(
        field(attached, "user"),
        Some(me.name.as_str()),
        "{attached}"
    );
    let detached = find(&log, "client-detached", |e| {
        field(e, "client") == Some(client.tty())
    });
    assert_eq!(field(detached, "reason"), Some("detach"), "{detached}");
    assert!(seq(detached) > seq(attached), "{detached}");
}
