//! Every byte from a pane's birth: a pane made while the daemon records — by `new-window`,
//! `split-window`, `new-session` or `respawn-pane` — is recorded from its first byte, even when
//! its program prints at once and exits before the daemon could have looked. The daemon's
//! `after-*` hooks pipe the pane inside tmux's own command queue; a removed or overridden hook
//! is an alert and is put back; a pane whose start could not be caught gets a `pane-start`
//! gap and the history tmux still held.

mod support;

use audit_capture::chunk::{self, Record};
use audit_core::Kind;
use audit_store::{Access, EventStore, Range, SqliteStore};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;
use support::*;

/// Fast-side iterations per creation kind: races are holes, so each kind is tried many times.
const TRIES: usize = 20;

/// A daemon on `server` that commits output within a fraction of a second.
fn recording_daemon(server: &TmuxServer) -> Daemon {
    let args: [&OsStr; 4] = [
        OsStr::new("-S"),
        server.sock().as_os_str(),
        OsStr::new("--flush-after"),
        OsStr::new("0.2"),
    ];
    let daemon = Daemon::spawn_in(server.dir(), &server.db(), &args);
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
        .scan(Range::default(), &mut |s| {
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
    let db = server.db();
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
            format!(
                "missing: {:?}\ndaemon stderr:\n{}",
                missing(&outputs(&db)),
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
    // Nothing here had to fall back on a gap: the hooks caught every start. And the hooks'
    // own `pipe-pane` (tmux logs it under the client that made the pane) is not an alert.
    let gaps: Vec<Value> = log_json(&db)
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
        render(&log_json(&db)),
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
    let mut expected = Vec::new();
    for n in 0..TRIES + 2 {
        let stay = n >= TRIES;
        let pane = make(&server, &program(&marker(kind, n), stay));
        expected.push((pane, marker(kind, n)));
    }
    wait_recorded(&server, &daemon, &expected);
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
