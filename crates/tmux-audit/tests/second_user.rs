//! A second uid: `nobody`, allowed with `server-access`, attaches through `setpriv`. The log must
//! carry the kernel-attested user, and the read-only flag — including `nobody` clearing it with
//! `switch-client -r`, a move read-only users can make in tmux 3.3a.
//!
//! Needs root (CI runs as root). Otherwise each test prints why and returns: it then passes
//! without having checked anything.

use crate::support::*;
use nix::unistd::User;
use serde_json::Value;

fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    println!(
        "{test}: SKIPPED (passes trivially) — needs root to run a client as `nobody` with \
         setpriv; run the tests as root, as CI does"
    );
    true
}

fn nobody_uid() -> i64 {
    User::from_name("nobody")
        .expect("look up nobody")
        .expect("user nobody exists")
        .uid
        .as_raw() as i64
}

/// Attaches `nobody` to `session_id` on a pty.
fn attach_as_nobody(server: &TmuxServer, session_id: &str) -> PtyClient {
    let mut cmd = server.command_as("nobody", nobody_group());
    cmd.args(["attach-session", "-t", session_id]);
    let client = PtyClient::spawn(cmd);
    server.wait_attached(&client, session_id);
    client
}

fn assert_nobody_attach(e: &Value, client: &PtyClient, session_id: &str, readonly: bool) {
    assert_eq!(field(e, "client"), Some(client.tty()), "{e}");
    assert_eq!(field(e, "user"), Some("nobody"), "{e}");
    assert_eq!(
        e.get("uid").and_then(Value::as_i64),
        Some(nobody_uid()),
        "{e}"
    );
    assert_eq!(
        e.get("readonly").and_then(Value::as_bool),
        Some(readonly),
        "{e}"
    );
    assert_eq!(field(e, "session_id"), Some(session_id), "{e}");
    assert_eq!(field(e, "tty"), Some(client.tty()), "{e}");
    assert_eq!(
        e.get("client_pid").and_then(Value::as_i64),
        Some(client.pid() as i64),
        "setpriv execs tmux in place, so the client pid is the spawned pid: {e}"
    );
}

#[test]
fn nobody_read_write_client_is_recorded_as_nobody() {
    if skip_unless_root("nobody_read_write_client_is_recorded_as_nobody") {
        return;
    }
    let server = TmuxServer::start("shared");
    let shared = server.first_session_id().to_owned();
    let db = server.db();
    let _daemon = Daemon::start_ready(&server, "shared");
    server.open_socket_to_everyone();
    server.tmux(&["server-access", "-a", "nobody"]);

    let owner = server.attach(&shared);
    let guest = attach_as_nobody(&server, &shared);
    assert!(
        !server.clients().iter().any(|c| c.0 == guest.tty() && c.3),
        "tmux: read-write"
    );

    let log = wait_log(&db, "both attaches", |log| {
        [&owner, &guest].iter().all(|c| {
            log.iter()
                .any(|e| kind(e) == "client-attached" && field(e, "client") == Some(c.tty()))
        })
    });
    let e = find(&log, "client-attached", |e| {
        field(e, "client") == Some(guest.tty())
    });
    assert_nobody_attach(e, &guest, &shared, false);
    if !under_sshd() {
        assert_eq!(
            field(e, "origin"),
            Some("local"),
            "root can read nobody's process: {e}"
        );
    }
    let e = find(&log, "client-attached", |e| {
        field(e, "client") == Some(owner.tty())
    });
    assert_eq!(field(e, "user"), Some("root"), "{e}");

    let who = who_json(&db, None);
    assert_eq!(who.len(), 2, "{who:?}");
    let w = who
        .iter()
        .find(|w| field(w, "client") == Some(guest.tty()))
        .unwrap_or_else(|| panic!("nobody missing from who: {who:?}"));
    assert_nobody_attach(w, &guest, &shared, false);

    server.detach_with_keys(&guest);
    let (log, i) = wait_client_event(&db, "nobody detached", "client-detached", guest.tty());
    let e = &log[i];
    assert_eq!(field(e, "reason"), Some("detach"), "{e}");
    if let Some(user) = field(e, "user") {
        assert_eq!(user, "nobody", "{e}");
    }

    let sessions = cli_json(&db, &["sessions", "--json"]);
    let s = sessions
        .iter()
        .find(|s| field(s, "session_id") == Some(&shared))
        .unwrap_or_else(|| panic!("{sessions:?}"));
    let participants: Vec<&str> = s["participants"]
        .as_array()
        .unwrap_or_else(|| panic!("participants is an array: {s}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        participants.contains(&"nobody") && participants.contains(&"root"),
        "{s}"
    );
    assert!(s["attached_seconds"]["nobody"].is_i64(), "{s}");
}

#[test]
fn nobody_read_only_client_is_recorded_read_only_and_its_self_unlock_is_seen() {
    if skip_unless_root("nobody_read_only_client_is_recorded_read_only_and_its_self_unlock_is_seen")
    {
        return;
    }
    let server = TmuxServer::start("shared");
    let shared = server.first_session_id().to_owned();
    let db = server.db();
    let _daemon = Daemon::start_ready(&server, "shared");
    server.open_socket_to_everyone();
    server.tmux(&["server-access", "-r", "nobody"]);

    let guest = attach_as_nobody(&server, &shared);
    assert!(
        server.clients().iter().any(|c| c.0 == guest.tty() && c.3),
        "tmux: read-only"
    );
    let (log, i) = wait_client_event(&db, "nobody attached", "client-attached", guest.tty());
    let e = &log[i];
    assert_nobody_attach(e, &guest, &shared, true);
    let who = who_json(&db, None);
    assert_eq!(who.len(), 1, "{who:?}");
    assert_nobody_attach(&who[0], &guest, &shared, true);

    // The read-only user clears its own flag (tmux 3.3a lets it); the audit must show it.
    let out = server
        .command_as("nobody", nobody_group())
        .args(["switch-client", "-r", "-c", guest.tty()])
        .output()
        .expect("run setpriv tmux switch-client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        server.clients().iter().any(|c| c.0 == guest.tty() && !c.3),
        "tmux: no longer read-only"
    );
    let (log, i) = wait_client_event(
        &db,
        "read-only cleared",
        "client-readonly-changed",
        guest.tty(),
    );
    let e = &log[i];
    assert_eq!(
        e.get("readonly").and_then(Value::as_bool),
        Some(false),
        "{e}"
    );
    if let Some(user) = field(e, "user") {
        assert_eq!(user, "nobody", "{e}");
    }
    let who = who_json(&db, None);
    assert_eq!(
        who[0].get("readonly").and_then(Value::as_bool),
        Some(false),
        "{who:?}"
    );
}
