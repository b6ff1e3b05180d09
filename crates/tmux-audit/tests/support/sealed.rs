//! Sealed stores made by a real daemon, and the tools a forger would use on them.

use super::*;
use audit_core::{chain, encoding, Event};

/// `seal init` on `db` with `interval` seconds; returns the verification key it printed.
pub fn seal_init(db: &Path, interval: &str) -> String {
    let out = cli(db, &["seal", "init", "--interval", interval]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("OFF this machine"), "{text}");
    text.lines().last().unwrap().to_owned()
}

/// A stopped daemon's store: seals every second, output of pane `%0` (a line with `marker`),
/// a second session, at least `seals` seals before the one made when the daemon stopped.
pub fn sealed_output_store(server: &TmuxServer, seals: usize) -> (PathBuf, String) {
    let db = server.db();
    let key = seal_init(&db, "1");
    let args: [&OsStr; 4] = [
        "-S".as_ref(),
        server.sock().as_os_str(),
        "--flush-after".as_ref(),
        "1".as_ref(),
    ];
    let mut daemon = Daemon::spawn_in(server.dir(), &db, &args);
    daemon.wait_ready("work");
    server.wait_prompt("work");
    server.tmux(&[
        "send-keys",
        "-t",
        "work",
        "echo mark''er; seq 1 40",
        "Enter",
    ]);
    server.new_session("second");
    wait_log(
        &db,
        "output with the marker and the second session, sealed",
        |log| {
            let output = log.iter().rposition(|e| kind(e) == "pane-output");
            let second = log.iter().position(|e| {
                kind(e) == "session-created" && field(e, "session") == Some("second")
            });
            let sealed_after = |i: usize| log[i..].iter().any(|e| kind(e) == "seal");
            output.is_some_and(sealed_after) && second.is_some_and(sealed_after)
        },
    );
    // A seal is made only when the chain grew: new windows make more, each a tick later.
    let count = |log: &[Value]| log.iter().filter(|e| kind(e) == "seal").count();
    while count(&log_json(&db)) < seals {
        let before = count(&log_json(&db));
        server.tmux(&["new-window", "-d", "-t", "second"]);
        wait_log(&db, "one more seal", |log| count(log) > before);
    }
    let out = cli(&db, &["export", "%0", "--format", "txt"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("marker"),
        "the pane's output was recorded: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    daemon.stop();
    (db, key)
}

/// `verify --json [--key KEY]`: exit code and the parsed report.
pub fn verify_json(db: &Path, key: Option<&str>) -> (Option<i32>, Value) {
    let mut args = vec!["verify", "--json"];
    if let Some(k) = key {
        args.extend(["--key", k]);
    }
    let out = cli(db, &args);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify --json printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

/// The findings of a report as (kind, from, to), in order.
pub fn findings(report: &Value) -> Vec<(String, u64, u64)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let n = |k: &str| f[k].as_u64().or(f["seal_seq"].as_u64()).unwrap_or(0);
            (f["kind"].as_str().unwrap().to_owned(), n("from"), n("to"))
        })
        .collect()
}

/// `verify` in text, for the lines a person reads.
pub fn verify_text(db: &Path, key: &str) -> (Option<i32>, String) {
    let out = cli(db, &["verify", "--key", key]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The store opened the way a forger would: the append-only triggers dropped.
pub fn forger(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS events_append_only_update;
         DROP TRIGGER IF EXISTS events_append_only_delete;
         DROP TRIGGER IF EXISTS chunks_append_only_update;
         DROP TRIGGER IF EXISTS chunks_append_only_delete;",
    )
    .unwrap();
    conn
}

/// Every stored record: (seq, decoded event).
pub fn records(conn: &rusqlite::Connection) -> Vec<(u64, Event)> {
    conn.prepare("SELECT seq, data FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
        .unwrap()
        .map(|r| {
            let (seq, data) = r.unwrap();
            (seq as u64, encoding::decode(&data).unwrap().1)
        })
        .collect()
}

/// Rewrites records `from..` through `edit(seq, hash of the record before, event)` (which may
/// change any event) and recomputes their hashes, as a forger would: the chain holds again.
pub fn rechain_from(
    conn: &rusqlite::Connection,
    from: u64,
    mut edit: impl FnMut(u64, &chain::ChainHash, &mut Event),
) {
    let mut prev: chain::ChainHash = if from <= 1 {
        chain::GENESIS
    } else {
        conn.query_row(
            "SELECT hash FROM events WHERE seq = ?1",
            [from as i64 - 1],
            |r| r.get::<_, Vec<u8>>(0),
        )
        .unwrap()
        .try_into()
        .unwrap()
    };
    for (seq, mut event) in records(conn).into_iter().filter(|(s, _)| *s >= from) {
        edit(seq, &prev, &mut event);
        let data = encoding::encode(seq, &event);
        let hash = chain::link(&prev, &data);
        conn.execute(
            "UPDATE events SET data = ?1, hash = ?2, time = ?3, session = ?4 WHERE seq = ?5",
            rusqlite::params![
                data,
                &hash[..],
                event.time.as_micros(),
                event.session,
                seq as i64
            ],
        )
        .unwrap();
        prev = hash;
    }
}
