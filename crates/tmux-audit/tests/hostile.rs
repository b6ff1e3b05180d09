//! Hostile session and window names: nothing runs, JSON keeps them exactly as tmux reports them,
//! and human-readable output never hands a control character to the auditor's terminal.
//!
//! tmux changes some names itself (session names and `rename-window` names are vis-encoded, `:`
//! and `.` in session names become `_`, `-s` and `-n` are format-expanded so a literal `#` is
//! written `##`), so expectations always come from tmux's own report of the name, never from
//! what was asked for. tmux 3.3a keeps `new-window -n` names raw: escape sequences, C1 codes,
//! DEL and even newlines reach the daemon as they are.

use crate::support::*;
use serde_json::Value;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Session names: spaces, quotes, `$(...)`, backticks, `;`, a format, a leading `-`, unicode,
/// emoji, control characters, 300 characters.
fn session_corpus(dir: &Path) -> Vec<String> {
    vec![
        "with spaces  and  more".to_owned(),
        "single 'quoted'".to_owned(),
        "double \"quoted\"".to_owned(),
        format!("$(touch {}/pwned-session-subst)", dir.display()),
        format!("`touch {}/pwned-session-backtick`", dir.display()),
        format!("x; touch {}/pwned-session-semicolon", dir.display()),
        "##{session_name}".to_owned(),
        "#{host} expanded".to_owned(),
        "-leading-dash".to_owned(),
        "ünïcödé ΣΩ 日本語".to_owned(),
        "emoji 🦀🔥👩‍💻".to_owned(),
        "esc \x1b]0;pwned\x07 bel".to_owned(),
        "dots.and:colons".to_owned(),
        "s".repeat(300),
    ]
}

/// Window names (tmux does not vis-encode these: control characters arrive raw).
fn window_corpus(dir: &Path) -> Vec<String> {
    vec![
        "win with spaces".to_owned(),
        "it's \"quoted\"".to_owned(),
        format!("$(touch {}/pwned-window-subst)", dir.display()),
        format!("`touch {}/pwned-window-backtick`", dir.display()),
        format!("w;touch {}/pwned-window-semicolon", dir.display()),
        "##{window_name} literal".to_owned(),
        "-dash".to_owned(),
        "ünïcödé 🦀".to_owned(),
        "\x1b]0;pwned\x07".to_owned(),
        "\x1b[31mred\x1b[0m".to_owned(),
        "c1 \u{9b}31m csi".to_owned(),
        "del \x7f tab \t end".to_owned(),
        "nl\nFORGED-LINE client-attached root".to_owned(),
        "bidi \u{202e}txt.exe\u{2066}isolate\u{2069}".to_owned(),
        "w".repeat(300),
    ]
}

/// The last name the log gives the session `id` (from session-created / session-renamed).
fn logged_session_name<'a>(log: &'a [Value], id: &str) -> Option<&'a str> {
    log.iter()
        .rev()
        .find(|e| {
            matches!(kind(e), "session-created" | "session-renamed")
                && field(e, "session_id") == Some(id)
        })
        .and_then(|e| field(e, "session"))
}

/// The last name the log gives the window `id` (from window-created / window-renamed).
fn logged_window_name<'a>(log: &'a [Value], id: &str) -> Option<&'a str> {
    log.iter()
        .rev()
        .find(|e| {
            matches!(kind(e), "window-created" | "window-renamed")
                && field(e, "window_id") == Some(id)
        })
        .and_then(|e| field(e, "window"))
}

/// Human-readable output must be free of anything a terminal acts on, and must not let a name
/// forge a line of its own.
fn assert_safe_for_terminal(what: &str, out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    let mut bad = control_chars(&text);
    // Bidirectional overrides and isolates reorder what the auditor sees.
    bad.extend(
        text.chars()
            .filter(|c| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')),
    );
    assert!(
        bad.is_empty(),
        "`{what}` printed raw control characters {bad:?}:\n{}",
        text.escape_debug()
    );
    assert!(
        !text.lines().any(|l| l.starts_with("FORGED-LINE")),
        "`{what}` let a newline in a name start a forged line:\n{text}"
    );
}

fn no_pwned_files(dir: &Path) {
    let pwned: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pwned"))
        .collect();
    assert!(
        pwned.is_empty(),
        "a name was run by a shell: created {pwned:?}"
    );
}

#[test]
fn hostile_names_are_recorded_exactly_as_tmux_reports_them() {
    let server = TmuxServer::start("home");
    let home = server.first_session_id().to_owned();
    let db = server.db();
    let _daemon = Daemon::start_ready(&server, "home");

    let mut sessions = Vec::new();
    for name in session_corpus(server.dir()) {
        let id = server.new_session(&name);
        sessions.push((id.clone(), server.session_name(&id)));
    }
    let mut windows = Vec::new();
    for name in window_corpus(server.dir()) {
        let id = server.new_window(&home, &name);
        windows.push((id.clone(), server.window_name(&id)));
    }
    // Renames get names from the corpus too.
    let (renamed_session, _) = sessions[0].clone();
    server.tmux(&[
        "rename-session",
        "-t",
        &renamed_session,
        "renamed 'to' $(x) 🦀",
    ]);
    sessions[0].1 = server.session_name(&renamed_session);
    let (renamed_window, _) = windows[0].clone();
    server.tmux(&[
        "rename-window",
        "-t",
        &renamed_window,
        "\x1b]2;renamed\x07 `x`",
    ]);
    windows[0].1 = server.window_name(&renamed_window);

    // Sanity of the corpus itself: the long names survived, the escape reached tmux raw.
    assert!(sessions.iter().any(|(_, n)| n.chars().count() == 300));
    assert!(
        windows.iter().any(|(_, n)| n.contains('\x1b')),
        "{windows:?}"
    );

    let log = wait_log_until(
        &db,
        "every hostile session and window under its current name",
        |log| {
            let mut wrong = Vec::new();
            for (id, name) in &sessions {
                let logged = logged_session_name(log, id);
                if logged != Some(name.as_str()) {
                    wrong.push(format!("{id}: tmux says {name:?}, the log {logged:?}"));
                }
            }
            for (id, name) in &windows {
                let logged = logged_window_name(log, id);
                if logged != Some(name.as_str()) {
                    wrong.push(format!("{id}: tmux says {name:?}, the log {logged:?}"));
                }
            }
            if wrong.is_empty() {
                Ok(())
            } else {
                Err(wrong.join("; "))
            }
        },
    );
    // Every session-created event names a session tmux knows, under the name tmux reported.
    for (id, name) in &sessions {
        let created = find(&log, "session-created", |e| {
            field(e, "session_id") == Some(id)
        });
        if id != &renamed_session {
            assert_eq!(field(created, "session"), Some(name.as_str()), "{created}");
        }
    }
    let renamed = find(&log, "session-renamed", |e| {
        field(e, "session_id") == Some(&renamed_session)
    });
    assert_eq!(
        field(renamed, "session"),
        Some(sessions[0].1.as_str()),
        "{renamed}"
    );
    let renamed = find(&log, "window-renamed", |e| {
        field(e, "window_id") == Some(&renamed_window)
    });
    assert_eq!(
        field(renamed, "window"),
        Some(windows[0].1.as_str()),
        "{renamed}"
    );

    // A client attached to the longest-named session carries the name exactly.
    let (long_id, long_name) = sessions
        .iter()
        .find(|(_, n)| n.chars().count() == 300)
        .unwrap()
        .clone();
    let client = server.attach(&long_id);
    let (log, i) = wait_client_event(
        &db,
        "attach to the 300-character session",
        "client-attached",
        client.tty(),
    );
    let e = &log[i];
    assert_eq!(field(e, "session"), Some(long_name.as_str()), "{e}");
    let who = who_json(&db, None);
    assert_eq!(
        field(&who[0], "session"),
        Some(long_name.as_str()),
        "{who:?}"
    );

    // The `--session` filter takes a hostile name as data.
    let (subst_id, subst_name) = sessions
        .iter()
        .find(|(_, n)| n.starts_with("$(touch"))
        .unwrap()
        .clone();
    let only = cli_json(&db, &["log", "--json", "--session", &subst_name]);
    assert!(!only.is_empty(), "--session {subst_name:?} found nothing");
    for e in &only {
        assert_eq!(field(e, "session"), Some(subst_name.as_str()), "{e}");
        assert_eq!(field(e, "session_id"), Some(subst_id.as_str()), "{e}");
    }
    assert!(
        cli(&db, &["verify"]).status.success(),
        "verify after hostile names"
    );
    no_pwned_files(server.dir());
}

#[test]
fn names_with_command_substitution_run_nothing() {
    let server = TmuxServer::start("home");
    let dir = server.dir().to_owned();
    let db = server.db();
    let mut daemon = Daemon::start_ready(&server, "home");

    let subst = format!("$(touch {}/pwned-subst)", dir.display());
    let id = server.new_session(&subst);
    let subst_reported = server.session_name(&id);
    assert_eq!(subst_reported, subst, "tmux keeps this name as given");
    let win = server.new_window(&id, &format!("`touch {}/pwned-backtick`", dir.display()));
    server.new_window(&id, &format!("x;touch {}/pwned-semicolon", dir.display()));
    server.new_window(&id, &format!("'; touch {}/pwned-quote; '", dir.display()));
    server.tmux(&[
        "rename-window",
        "-t",
        &win,
        &format!("$(touch {}/pwned-rename)", dir.display()),
    ]);
    // Attach to it and leave again, so client events carry the name too.
    let client = server.attach(&id);
    server.detach_with_keys(&client);
    server.wait_gone(client.tty());
    server.tmux(&["kill-session", "-t", &id]);

    wait_log(
        &db,
        "the hostile session's attach, detach and close",
        |log| {
            ["client-attached", "client-detached", "session-closed"]
                .iter()
                .all(|k| {
                    log.iter()
                        .any(|e| kind(e) == *k && field(e, "session_id") == Some(&id))
                })
        },
    );
    // Every view reads the names too.
    for args in [
        &["log"][..],
        &["log", "--json"],
        &["who"],
        &["sessions"],
        &["sessions", "--json"],
    ] {
        let out = cli(&db, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let status = daemon.stop();
    assert!(status.success(), "daemon exit status {status}");

    let log = log_json(&db);
    let closed = find(&log, "session-closed", |e| {
        field(e, "session_id") == Some(&id)
    });
    assert_eq!(field(closed, "session"), Some(subst.as_str()), "{closed}");
    no_pwned_files(&dir);
}

#[test]
fn human_output_escapes_control_characters_and_json_keeps_them() {
    let server = TmuxServer::start("home");
    let home = server.first_session_id().to_owned();
    let db = server.db();
    let _daemon = Daemon::start_ready(&server, "home");

    let hostile = [
        "\x1b]0;pwned\x07",
        "\x1b[2J\x1b[31mred",
        "c1 \u{9b}31m",
        "del\x7f",
        "nl\nFORGED-LINE client-attached root",
        "bidi \u{202e}gnp.exe\u{202d}",
    ];
    let mut windows = Vec::new();
    for name in hostile {
        let id = server.new_window(&home, name);
        let reported = server.window_name(&id);
        assert_eq!(reported, name, "tmux keeps window names raw");
        windows.push((id, reported));
    }
    let sid = server.new_session("sess \x1b]0;pwned\x07");
    let sname = server.session_name(&sid);
    let renamed = server.display(&format!("{sid}:"), "#{window_id}");
    server.tmux(&["rename-window", "-t", &renamed, "\x1b[5mblink"]);
    windows.push((renamed.clone(), server.window_name(&renamed)));
    let client = server.attach(&sid);

    wait_log(&db, "every hostile window and the attach", |log| {
        windows
            .iter()
            .all(|(id, _)| logged_window_name(log, id).is_some())
            && log
                .iter()
                .any(|e| kind(e) == "client-attached" && field(e, "client") == Some(client.tty()))
    });
    for args in [
        &["log"][..],
        &["log", "--session", &sname],
        &["who"],
        &["sessions"],
    ] {
        let out = cli(&db, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "{args:?} printed nothing");
        assert_safe_for_terminal(&format!("{args:?}"), &out.stdout);
    }
    // The human log does show these events, escaped, rather than hiding them.
    let human = String::from_utf8_lossy(&cli(&db, &["log"]).stdout).into_owned();
    assert!(
        human.contains("pwned") && human.contains("gnp.exe"),
        "the escaped window names are shown:\n{human}"
    );

    // JSON keeps every name exactly as tmux reports it, raw escape characters included.
    let log = wait_log_until(&db, "every hostile window under its exact name", |log| {
        let wrong: Vec<String> = windows
            .iter()
            .filter(|(id, name)| logged_window_name(log, id) != Some(name.as_str()))
            .map(|(id, name)| {
                format!(
                    "{id}: tmux says {name:?}, the log {:?}",
                    logged_window_name(log, id)
                )
            })
            .collect();
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("; "))
        }
    });
    let e = find(&log, "client-attached", |e| {
        field(e, "client") == Some(client.tty())
    });
    assert_eq!(field(e, "session"), Some(sname.as_str()), "{e}");
    // Once the newline name is whole, the human log must show it without starting a line.
    let out = cli(&db, &["log"]);
    assert_safe_for_terminal("log", &out.stdout);
    let human = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        human.contains("FORGED-LINE"),
        "the newline name is shown:\n{human}"
    );
}

#[test]
fn invalid_utf8_window_name_does_not_break_the_audit() {
    let server = TmuxServer::start("home");
    let home = server.first_session_id().to_owned();
    let db = server.db();
    let _daemon = Daemon::start_ready(&server, "home");

    let out = server
        .command()
        .args(["new-window", "-d", "-P", "-F", "#{window_id}", "-t"])
        .arg(format!("{home}:"))
        .arg("-n")
        .arg(OsStr::from_bytes(b"bad\xffutf\xc3("))
        .output()
        .expect("run tmux");
    assert!(out.status.success());
    let win = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // Recording goes on after it.
    let after = server.new_session("after-bad-name");

    let log = wait_log(&db, "the bad window and the next session", |log| {
        log.iter()
            .any(|e| kind(e) == "window-created" && field(e, "window_id") == Some(&win))
            && log
                .iter()
                .any(|e| kind(e) == "session-created" && field(e, "session_id") == Some(&after))
    });
    let e = find(&log, "window-created", |e| {
        field(e, "window_id") == Some(&win)
    });
    let name = field(e, "window").unwrap_or_else(|| panic!("window-created without window: {e}"));
    assert!(
        name.starts_with("bad") && name.contains("utf"),
        "the name keeps its valid parts: {e}"
    );
    assert!(cli(&db, &["verify"]).status.success());
    let human = cli(&db, &["log"]);
    assert!(human.status.success());
    assert_safe_for_terminal("log", &human.stdout);
}
