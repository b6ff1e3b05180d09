//! Every byte from a pane's birth: a pane made while the daemon records — by `new-window`,
//! `split-window`, `new-session` or `respawn-pane` — is recorded from its first byte, even when
//! its program prints at once and exits before the daemon could have looked. The daemon's
//! `after-*` hooks pipe the pane inside tmux's own command queue; a removed or overridden hook
//! is an alert and is put back; a pane whose start could not be caught gets a `pane-start`
//! gap and the history tmux still held.

use crate::support::*;
use audit_capture::chunk::{self, Record};
use audit_core::Kind;
use audit_store::{Access, Filter, Reader, SqliteStore};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

/// Fast-side iterations per creation kind: races are holes, so each kind is tried many times.
const TRIES: usize = 20;

/// A daemon on `server` that commits output within a fraction of a second.
fn recording_daemon(server: &TmuxServer) -> Daemon {
    recording_daemon_in(server, &server.db())
}

fn recording_daemon_in(server: &TmuxServer, db: &Path) -> Daemon {
    let args: [&OsStr; 4] = [
        OsStr::new("-S"),
        server.sock().as_os_str(),
        OsStr::new("--flush-after"),
        OsStr::new("0.2"),
    ];
    let daemon = Daemon::spawn_in(server.dir(), db, &args);
    daemon.wait_ready("work");
    daemon
}

/// Every pane's recorded output bytes, from one scan of the store.
fn outputs(db: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let Ok(store) = SqliteStore::open(db, Access::ReadOnly) else {
        return out;
    };
    let mut seqs = Vec::new();
    store
        .events(&Filter::all(), &mut |s| {
            if s.event.kind == Kind::PaneOutput {
                seqs.push((s.seq, s.event.pane_id.clone().unwrap_or_default()));
            }
            true
        })
        .unwrap();
    for (seq, pane) in seqs {
        let Ok(Some(data)) = store.chunk(seq) else {
            continue;
        };
        let c = chunk::decompress(&data).unwrap();
        let bytes = out.entry(pane).or_default();
        for r in c.records {
            if let Record::Output { bytes: b, .. } = r {
                bytes.extend_from_slice(&b);
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Waits until each `(pane, marker)` is in that pane's recorded output, then checks that
/// `export PANE --format raw` (what a reviewer runs) shows it too.
fn wait_recorded(server: &TmuxServer, daemon: &Daemon, expected: &[(String, String)]) {
    wait_recorded_in(&server.db(), daemon, expected)
}

fn wait_recorded_in(db: &Path, daemon: &Daemon, expected: &[(String, String)]) {
    wait_recorded_gaps_allowed(db, daemon, expected);
    no_gaps(db, daemon);
}

/// As [`wait_recorded_in`], where gaps of other panes are expected.
fn wait_recorded_gaps_allowed(db: &Path, daemon: &Daemon, expected: &[(String, String)]) {
    let db = db.to_owned();
    let missing = |outs: &BTreeMap<String, Vec<u8>>| -> Vec<(String, String)> {
        expected
            .iter()
            .filter(|(pane, marker)| {
                !outs
                    .get(pane)
                    .is_some_and(|o| contains(o, marker.as_bytes()))
            })
            .cloned()
            .collect()
    };
    wait_for(
        &format!("{} panes' first output recorded", expected.len()),
        TIMEOUT,
        || missing(&outputs(&db)).is_empty().then_some(()),
        || {
            let missing = missing(&outputs(&db));
            let about: Vec<Value> = log_json(&db)
                .into_iter()
                .filter(|e| missing.iter().any(|(p, _)| field(e, "pane_id") == Some(p)))
                .collect();
            format!(
                "missing: {missing:?}\ntheir events:\n{}\ndaemon stderr:\n{}",
                render(&about),
                daemon.stderr()
            )
        },
    );
    for (pane, marker) in expected.iter().take(3) {
        let out = cli(&db, &["export", pane, "--format", "raw", "-o", "-"]);
        assert!(
            contains(&out.stdout, marker.as_bytes()),
            "export {pane} --format raw lacks {marker:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Nothing had to fall back on a gap: the hooks caught every start. And the hooks' own
/// `pipe-pane` (tmux logs it under the client that made the pane) is not an alert.
fn no_gaps(db: &Path, daemon: &Daemon) {
    let gaps: Vec<Value> = log_json(db)
        .into_iter()
        .filter(|e| {
            kind(e) == "output-gap"
                || (kind(e) == "tmux-command"
                    && field(e, "command").is_some_and(|c| c.starts_with("pipe-pane")))
        })
        .collect();
    assert!(
        gaps.is_empty(),
        "unexpected gaps: {gaps:?}\nlog:\n{}\ndaemon stderr:\n{}",
        render(&log_json(db)),
        daemon.stderr()
    );
}

/// `printf` of a marker, then exit at once (`exit`) or stay (`sleep`).
fn program(marker: &str, stay: bool) -> String {
    if stay {
        format!("printf '{marker}\\n'; sleep 60")
    } else {
        format!("printf '{marker}\\n'")
    }
}

/// What try `n` of `kind` prints (the program runs without a shell prompt: nothing echoes it).
fn marker(kind: &str, n: usize) -> String {
    format!("{kind}-born-{n}")
}

/// Each try prints and exits at once, then a few stay: all recorded from their first byte.
fn births(kind: &str, make: impl Fn(&TmuxServer, &str) -> String) {
    let server = TmuxServer::start("work");
    let daemon = recording_daemon(&server);
    let (mut exits, mut stays) = (Vec::new(), Vec::new());
    for n in 0..TRIES + 2 {
        let stay = n >= TRIES;
        let pane = make(&server, &program(&marker(kind, n), stay));
        let list = if stay { &mut stays } else { &mut exits };
        list.push((pane, marker(kind, n)));
    }
    wait_recorded(&server, &daemon, &stays);
    let unread = wait_exits_recorded(&server.db(), &daemon, &exits);
    no_gaps(&server.db(), &daemon);
    assert!(
        unread.len() < exits.len() / 2,
        "tmux read nothing of {unread:?}: more than chance"
    );
}

/// How long a pane that exited with an empty recording is given for more to be committed.
const EMPTY_GRACE: Duration = Duration::from_secs(2);

/// Waits until each pane that exited at once has its marker recorded or was recorded empty
/// (piped, and its pipe closed with nothing in it); returns those recorded empty.
///
/// Empty is what tmux 3.3a itself saw of such a pane now and then on a loaded machine: the
/// program's exit reached tmux before its output reached the pty's master side (`FIONREAD`
/// 0), so tmux closed the pane without reading it — with `remain-on-exit on` its screen lacks
/// the marker too (docs/ARCHITECTURE.md). Bytes tmux read are never missing: a marker absent
/// from a recording that holds anything, or a pane with no recording at all, fails.
fn wait_exits_recorded(db: &Path, daemon: &Daemon, exits: &[(String, String)]) -> Vec<String> {
    let mut empty_since: BTreeMap<String, Instant> = BTreeMap::new();
    let mut unread = Vec::new();
    wait_for(
        &format!("{} exited panes recorded", exits.len()),
        TIMEOUT,
        || {
            let outs = outputs(db);
            unread.clear();
            for (pane, marker) in exits {
                match outs.get(pane) {
                    Some(o) if contains(o, marker.as_bytes()) => {}
                    Some(o) if o.is_empty() => {
                        let since = *empty_since.entry(pane.clone()).or_insert_with(Instant::now);
                        if since.elapsed() < EMPTY_GRACE {
                            return None;
                        }
                        unread.push(pane.clone());
                    }
                    _ => return None,
                }
            }
            Some(())
        },
        || {
            let outs = outputs(db);
            let missing: Vec<_> = exits
                .iter()
                .filter(|(p, m)| !outs.get(p).is_some_and(|o| contains(o, m.as_bytes())))
                .map(|(p, m)| {
                    (
                        p,
                        m,
                        outs.get(p).map(|o| String::from_utf8_lossy(o).into_owned()),
                    )
                })
                .collect();
            format!(
                "missing (pane, marker, recorded): {missing:?}\ndaemon stderr:\n{}",
                daemon.stderr()
            )
        },
    );
    unread
}

fn pane_of(out: String) -> String {
    out.trim().to_owned()
}

#[test]
fn a_new_window_that_prints_at_once_is_recorded_from_its_first_byte() {
    births("window", |server, cmd| {
        pane_of(server.tmux(&[
            "new-window",
            "-d",
            "-P",
            "-F",
            "#{pane_id}",
            "-t",
            "work:",
            cmd,
        ]))
    });
}

#[test]
fn a_split_that_prints_at_once_is_recorded_from_its_first_byte() {
    births("split", |server, cmd| {
        pane_of(server.tmux(&[
            "split-window",
            "-d",
            "-P",
            "-F",
            "#{pane_id}",
            "-t",
            "work:0",
            "-l",
            "2",
            cmd,
        ]))
    });
}

#[test]
fn a_new_session_that_prints_at_once_is_recorded_from_its_first_byte() {
    births("session", |server, cmd| {
        pane_of(server.tmux(&["new-session", "-d", "-P", "-F", "#{pane_id}", cmd]))
    });
}

#[test]
fn a_respawned_pane_that_prints_at_once_is_recorded_from_its_first_byte() {
    births("respawn", |server, cmd| {
        // A fresh window, respawned at once with `-k`: its first program never prints.
        let pane = pane_of(server.tmux(&[
            "new-window",
            "-d",
            "-P",
            "-F",
            "#{pane_id}",
            "-t",
            "work:",
            "sleep 60",
        ]));
        server.tmux(&["respawn-pane", "-k", "-t", &pane, cmd]);
        pane
    });
}

/// `break-pane`, `join-pane`, `respawn-pane` after a move and `respawn-window` keep a pane's
/// pipe (3.3a has no hooks for them and needs none): what the pane prints after each is in
/// its one recording, with no gap.
#[test]
fn moves_and_respawns_keep_a_panes_recording() {
    let server = TmuxServer::start("work");
    let daemon = recording_daemon(&server);
    let stay = |marker: &str| program(marker, true);
    let first = new_window(&server, "work:", &stay("before-any-move"));
    let moved = pane_of(server.tmux(&[
        "split-window",
        "-d",
        "-P",
        "-F",
        "#{pane_id}",
        "-t",
        &first,
        &stay("split-before-break"),
    ]));
    let respawn = |pane: &str, marker: &str| {
        server.tmux(&["respawn-pane", "-k", "-t", pane, &stay(marker)]);
    };
    server.tmux(&["break-pane", "-d", "-s", &moved]);
    respawn(&moved, "after-break");
    server.tmux(&["join-pane", "-d", "-s", &moved, "-t", &first]);
    respawn(&moved, "after-join");
    // The window's first pane keeps its id; the other pane is killed.
    let window = server.tmux(&["display-message", "-p", "-t", &first, "#{window_id}"]);
    server.tmux(&[
        "respawn-window",
        "-k",
        "-t",
        window.trim(),
        &stay("after-respawn-window"),
    ]);
    let still = server.tmux(&["list-panes", "-t", window.trim(), "-F", "#{pane_id}"]);
    assert_eq!(still.trim(), first, "respawn-window kept its first pane");
    let expected: Vec<(String, String)> = [
        (&first, "before-any-move"),
        (&moved, "split-before-break"),
        (&moved, "after-break"),
        (&moved, "after-join"),
        (&first, "after-respawn-window"),
    ]
    .into_iter()
    .map(|(p, m)| (p.clone(), m.to_owned()))
    .collect();
    wait_recorded(&server, &daemon, &expected);
}

/// `show-hooks ARGS` as tmux prints it.
fn hooks(server: &TmuxServer, args: &[&str]) -> String {
    let mut all = vec!["show-hooks"];
    all.extend_from_slice(args);
    server.tmux(&all)
}

/// Waits until `show-hooks ARGS` shows `line` (or, with `present` false, no longer does).
fn wait_hook_line(server: &TmuxServer, daemon: &Daemon, args: &[&str], line: &str, present: bool) {
    wait_for(
        &format!(
            "show-hooks {args:?} {} {line:?}",
            if present { "to show" } else { "not to show" }
        ),
        TIMEOUT,
        || (hooks(server, args).lines().any(|l| l == line) == present).then_some(()),
        || {
            format!(
                "{}\ndaemon stderr:\n{}",
                hooks(server, args),
                daemon.stderr()
            )
        },
    );
}

/// Our hook's line for `hook` in `show-hooks -g`, once the daemon has set it.
fn wait_our_hook(server: &TmuxServer, daemon: &Daemon, hook: &str) -> String {
    let prefix = format!("{hook}[9999] pipe-pane");
    wait_for(
        &format!("the daemon's {hook} hook"),
        TIMEOUT,
        || {
            hooks(server, &["-g"])
                .lines()
                .find(|l| l.starts_with(&prefix))
                .map(str::to_owned)
        },
        || daemon.stderr(),
    )
}

/// Waits for the `pane-start` gap of `pane`; returns the log.
fn wait_start_gap(db: &Path, daemon: &Daemon, pane: &str) -> Vec<Value> {
    let is_gap = |e: &Value| {
        kind(e) == "output-gap"
            && field(e, "reason") == Some("pane-start")
            && field(e, "pane_id") == Some(pane)
    };
    wait_for(
        &format!("the pane-start gap of {pane}"),
        TIMEOUT,
        || {
            let log = log_json(db);
            log.iter().any(is_gap).then_some(log)
        },
        || {
            format!(
                "log:\n{}\ndaemon stderr:\n{}",
                render(&log_json(db)),
                daemon.stderr()
            )
        },
    )
}

fn new_window(server: &TmuxServer, target: &str, cmd: &str) -> String {
    pane_of(server.tmux(&[
        "new-window",
        "-d",
        "-P",
        "-F",
        "#{pane_id}",
        "-t",
        target,
        cmd,
    ]))
}

#[test]
fn a_removed_replaced_or_overridden_hook_is_an_alert_and_is_put_back() {
    let server = TmuxServer::start("work");
    let db = server.db();
    let mut daemon = recording_daemon(&server);
    let ours = wait_our_hook(&server, &daemon, "after-new-window");
    let alert = |reason: &'static str, hook: &'static str| {
        move |e: &Value| {
            field(e, "reason") == Some(reason)
                && field(e, "hook") == Some(hook)
                && field(e, "severity") == Some("alert")
        }
    };

    // Removed.
    server.tmux(&["set-hook", "-gu", "after-new-window[9999]"]);
    let (log, at) = wait_event(
        &db,
        "alert for a removed hook",
        "audit-gap",
        alert("hook-removed", "after-new-window"),
    );
    assert!(field(&log[at], "from").is_some() && field(&log[at], "until").is_some());
    wait_hook_line(&server, &daemon, &["-g"], &ours, true);

    // A user's own `set-hook -g NAME CMD` replaces the whole array: ours is put back beside it.
    server.tmux(&[
        "set-hook",
        "-g",
        "after-split-window",
        "set -g @split-seen 1",
    ]);
    wait_event(
        &db,
        "alert for a hook array replaced",
        "audit-gap",
        alert("hook-removed", "after-split-window"),
    );
    let split_line = ours.replacen("after-new-window", "after-split-window", 1);
    wait_hook_line(&server, &daemon, &["-g"], &split_line, true);
    assert!(
        hooks(&server, &["-g"]).contains("after-split-window[0] set-option -g @split-seen 1"),
        "the user's own hook stays:\n{}",
        hooks(&server, &["-g"])
    );

    // Replaced at our index.
    server.tmux(&[
        "set-hook",
        "-g",
        "after-new-session[9999]",
        "display-message -p hidden",
    ]);
    wait_event(
        &db,
        "alert for a replaced hook",
        "audit-gap",
        alert("hook-replaced", "after-new-session"),
    );
    let session_line = ours.replacen("after-new-window", "after-new-session", 1);
    wait_hook_line(&server, &daemon, &["-g"], &session_line, true);

    // A session's own hooks override the global ones: ours is added to the session's.
    server.tmux(&[
        "set-hook",
        "-t",
        "work",
        "after-new-window",
        "set -g @mine 1",
    ]);
    let (log, at) = wait_event(
        &db,
        "alert for a session override",
        "audit-gap",
        alert("hook-overridden", "after-new-window"),
    );
    assert_eq!(field(&log[at], "session"), Some("work"));
    wait_hook_line(&server, &daemon, &["-t", "work"], &ours, true);

    // With everything put back, a window in that session is recorded from its first byte, and
    // the user's own session hook still ran.
    let pane = new_window(&server, "work:", "printf 'after-restore-1\\n'");
    wait_recorded(&server, &daemon, &[(pane, "after-restore-1".to_owned())]);
    assert_eq!(server.tmux(&["show", "-gv", "@mine"]).trim(), "1");

    // A clean stop takes the hooks away, global and the session's, and leaves the user's.
    daemon.stop();
    let left = hooks(&server, &["-g"]) + &hooks(&server, &["-t", "work"]);
    assert!(
        !left.contains("[9999] pipe-pane"),
        "hooks left after a clean stop:\n{left}"
    );
    assert!(
        left.contains("after-new-window[0] set-option -g @mine 1"),
        "{left}"
    );
}

#[test]
fn a_pane_a_hook_made_is_a_pane_start_gap_with_its_history_recorded() {
    // Commands inside hooks fire no hooks: a pane split off by a user's own hook is not piped
    // at birth. One that stays gets a gap and its history; one gone at once, a gap by its id.
    let server = TmuxServer::start("work");
    let db = server.db();
    let daemon = recording_daemon(&server);
    wait_our_hook(&server, &daemon, "after-new-window");
    server.tmux(&[
        "set-hook",
        "-g",
        "after-new-window[1]",
        "split-window -d \"printf 'hook-made-%s\\\\n' 42; sleep 60\" ; split-window -d \"printf gone-at-once\"",
    ]);
    let window_pane = new_window(&server, "work:", "printf 'window-itself-1\\n'; sleep 60");
    let panes: Vec<String> = server
        .tmux(&["list-panes", "-t", &window_pane, "-F", "#{pane_id}"])
        .lines()
        .map(str::to_owned)
        .collect();
    let staying = panes
        .iter()
        .find(|p| **p != window_pane)
        .expect("the hook's split is there")
        .clone();
    let number = |p: &str| p.trim_start_matches('%').parse::<u64>().unwrap();
    let gone = format!(
        "%{}",
        (number(&window_pane)..number(&window_pane) + 4)
            .find(|n| !panes.contains(&format!("%{n}")))
            .unwrap()
    );
    // A skipped pane id shows once a later pane is seen.
    server.tmux(&["set-hook", "-gu", "after-new-window[1]"]);
    let later = new_window(&server, "work:", "printf 'later-1\n'");
    wait_start_gap(&db, &daemon, &staying);
    let log = wait_start_gap(&db, &daemon, &gone);
    // The window's own pane was piped at birth: no gap for it.
    assert!(
        !log.iter()
            .any(|e| kind(e) == "output-gap" && field(e, "pane_id") == Some(window_pane.as_str())),
        "{}",
        render(&log)
    );
    // What tmux still held of the split is recorded, after the gap.
    let db2 = db.clone();
    wait_for(
        "the hook-made pane's history recorded",
        TIMEOUT,
        || {
            outputs(&db2)
                .get(&staying)
                .is_some_and(|o| contains(o, b"hook-made-42"))
                .then_some(())
        },
        || daemon.stderr(),
    );
    let expected = [
        (window_pane, "window-itself-1".to_owned()),
        (later, "later-1".to_owned()),
    ];
    wait_recorded_gaps_allowed(&db, &daemon, &expected);
}

#[test]
fn hooks_survive_a_store_path_with_quotes_dollars_and_hashes() {
    // The hook's command goes through tmux's parser twice, the format expansion of pipe-pane
    // and `sh -c`; only `#{pane_id}` may expand. A wrong quote would also make the check see
    // a hook that is not ours: no alert may be recorded.
    let server = TmuxServer::start("work");
    let dir = server.dir().join("it's $HOME #{pane_id} \"q\" \\ `x`, }");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("audit.db");
    let mut daemon = recording_daemon_in(&server, &db);
    let expected: Vec<(String, String)> = (0..5)
        .map(|n| {
            let m = marker("quoted", n);
            (new_window(&server, "work:", &program(&m, false)), m)
        })
        .collect();
    wait_recorded_in(&db, &daemon, &expected);
    daemon.stop();
    let alerts: Vec<Value> = log_json(&db)
        .into_iter()
        .filter(|e| kind(e) == "audit-gap")
        .collect();
    assert!(alerts.is_empty(), "{alerts:?}");
    assert!(state_of(&db).spool_dir().is_dir());
}

#[test]
fn a_pane_born_while_the_daemon_is_killed_is_recorded_by_the_next() {
    // A killed daemon leaves its hooks (and copiers): a pane made then is still spooled from
    // its first byte, and the next daemon records it.
    let server = TmuxServer::start("work");

    let mut daemon = recording_daemon(&server);
    wait_our_hook(&server, &daemon, "after-new-window");
    daemon.kill9();
    let pane = new_window(
        &server,
        "work:",
        "printf 'while-nobody-watched-1\\n'; sleep 60",
    );
    let next = recording_daemon(&server);
    wait_recorded(
        &server,
        &next,
        &[(pane, "while-nobody-watched-1".to_owned())],
    );
}
