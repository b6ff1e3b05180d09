//! Forward-secure seals end to end: `seal init`, a daemon that seals, `verify --key`, and a
//! store rewritten from scratch by someone without the key.

use crate::support::sealed::seal_init;
use crate::support::*;
use audit_core::{chain, encoding};
use std::ffi::OsStr;
use std::path::Path;

/// A ready daemon recording access only (sealing when `seal init` ran on `db`).
fn access_daemon(server: &TmuxServer, db: &Path) -> Daemon {
    let args: [&OsStr; 3] = [
        "-S".as_ref(),
        server.sock().as_os_str(),
        "--no-output".as_ref(),
    ];
    let daemon = Daemon::spawn_in(server.dir(), db, &args);
    daemon.wait_ready("work");
    daemon
}

/// A store with seals: a daemon ran, saw a second session, and stopped.
fn sealed_store(server: &TmuxServer) -> (std::path::PathBuf, String) {
    let db = server.db();
    let key = seal_init(&db, "1");
    let mut daemon = access_daemon(server, &db);
    server.new_session("second");
    wait_log(&db, "a seal after the second session", |log| {
        let at = log
            .iter()
            .position(|e| kind(e) == "session-created" && field(e, "session") == Some("second"));
        at.is_some_and(|i| log[i..].iter().any(|e| kind(e) == "seal"))
    });
    daemon.stop();
    (db, key)
}

fn verify(db: &Path, key: Option<&str>) -> (Option<i32>, String) {
    let mut args = vec!["verify"];
    if let Some(k) = key {
        args.extend(["--key", k]);
    }
    let out = cli(db, &args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn seals_check_with_the_key_and_the_last_one_follows_the_stop() {
    let server = TmuxServer::start("work");
    let (db, key) = sealed_store(&server);
    let log = log_json(&db);
    assert_eq!(kind(log.last().unwrap()), "seal", "sealed when it stopped");
    let (code, out) = verify(&db, Some(&key));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("check with the key") && out.contains("0 events after it"),
        "{out}"
    );
    let (code, out) = verify(&db, None);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("present, not checked"), "{out}");
    // The state on disk holds a later epoch's key only.
    let state = std::fs::read(state_of(&db).seal_path()).unwrap();
    let sealing = audit_core::seal::SealingKey::from_bytes(&state).unwrap();
    assert!(sealing.epoch() >= 1, "the key moved on from epoch 0");
}

#[test]
fn another_key_is_refused() {
    let server = TmuxServer::start("work");
    let (db, _key) = sealed_store(&server);
    let elsewhere = server.dir().join("other/audit.db");
    let other = seal_init(&elsewhere, "1");
    let (code, out) = verify(&db, Some(&other));
    assert_eq!(code, Some(2), "another key cannot check anything: {out}");
    assert!(
        out.contains("seals NOT CHECKED")
            && out.contains("wrong key: this store was sealed under key"),
        "{out}"
    );
}

#[test]
fn a_store_rewritten_from_scratch_passes_the_chain_but_not_the_seals() {
    let server = TmuxServer::start("work");
    let (db, key) = sealed_store(&server);
    // The forger renames the second session in its record and recomputes every hash.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("DROP TRIGGER events_append_only_update")
        .unwrap();
    let rows: Vec<(i64, Vec<u8>)> = conn
        .prepare("SELECT seq, data FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut prev = chain::GENESIS;
    for (seq, data) in rows {
        let (_, mut event) = encoding::decode(&data).unwrap();
        if event.session.as_deref() == Some("second") {
            event.session = Some("innocent".into());
        }
        if seq == 1 {
            // From scratch: the very first record is the forger's too.
            event.host = "rebuilt".into();
        }
        let data = encoding::encode(seq as u64, &event);
        let hash = chain::link(&prev, &data);
        conn.execute(
            "UPDATE events SET data = ?1, hash = ?2, session = ?3, host = ?5 WHERE seq = ?4",
            rusqlite::params![data, &hash[..], event.session, seq, event.host],
        )
        .unwrap();
        prev = hash;
    }
    let (code, out) = verify(&db, None);
    assert_eq!(code, Some(0), "the chain alone cannot tell: {out}");
    let (code, out) = verify(&db, Some(&key));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("none of the") && out.contains("re-chained from scratch"),
        "{out}"
    );
}

#[test]
fn seal_init_refuses_twice_and_a_damaged_key_is_named() {
    let server = TmuxServer::start("work");
    let (db, key) = sealed_store(&server);
    let again = cli(&db, &["seal", "init"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already on"));
    // One character of the seed mistyped.
    let mut chars: Vec<char> = key.chars().collect();
    chars[6] = if chars[6] == '0' { '1' } else { '0' };
    let damaged: String = chars.into_iter().collect();
    let out = cli(&db, &["verify", "--key", &damaged]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("damaged"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn records_appended_after_the_last_seal_are_reported_as_not_proven() {
    let server = TmuxServer::start("work");
    let (db, key) = sealed_store(&server);
    // A forger without the key appends a well-chained record after the final seal.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (seq, hash): (i64, Vec<u8>) = conn
        .query_row(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let prev: chain::ChainHash = hash.try_into().unwrap();
    let mut event = audit_core::Event::new(
        audit_core::Timestamp::now(),
        audit_core::Kind::SessionCreated,
        "host",
        &server.sock_str(),
    );
    event.session = Some("added-later".into());
    let data = encoding::encode(seq as u64 + 1, &event);
    conn.execute(
        "INSERT INTO events (seq, time, kind, server, session, data, hash, host) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        rusqlite::params![
            seq + 1,
            event.time.as_micros(),
            "session-created",
            event.server,
            event.session,
            data,
            &chain::link(&prev, &data)[..],
            event.host
        ],
    )
    .unwrap();
    let (code, out) = verify(&db, Some(&key));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("1 event after it not yet sealed") && out.contains("not proven"),
        "{out}"
    );
}

#[test]
fn a_clean_stop_with_sealing_on_is_not_taken_for_a_crash_at_the_next_start() {
    let server = TmuxServer::start("work");
    let (db, _key) = sealed_store(&server);
    assert_eq!(kind(log_json(&db).last().unwrap()), "seal");
    let mut daemon = access_daemon(&server, &db);
    daemon.stop();
    let gaps: Vec<_> = log_json(&db)
        .into_iter()
        .filter(|e| kind(e) == "audit-gap")
        .collect();
    assert!(
        gaps.is_empty(),
        "the previous daemon stopped cleanly: {gaps:?}"
    );
}

#[test]
fn verify_racing_a_daemon_that_seals_never_reports_tampering() {
    // Found by bench/run-verify: the sealing state was read after the store, so a seal made in
    // between looked like a cut tail. Verifies while windows come and go and seals are made
    // every second.
    let server = TmuxServer::start("work");
    let db = server.db();
    let key = seal_init(&db, "1");
    let mut daemon = access_daemon(&server, &db);
    let seals = || log_json(&db).iter().filter(|e| kind(e) == "seal").count();
    let mut verdicts = Vec::new();
    // At least 60 verifies, and on until the daemon has sealed twice meanwhile (bounded).
    let deadline = std::time::Instant::now() + TIMEOUT;
    for i in 0.. {
        if i >= 60 && (seals() >= 3 || std::time::Instant::now() > deadline) {
            break;
        }
        if i % 3 == 0 {
            server.tmux(&["new-window", "-d", "-t", "work"]);
        }
        let (code, out) = verify(&db, Some(&key));
        verdicts.push((code, out));
    }
    daemon.stop();
    let bad: Vec<_> = verdicts.iter().filter(|(c, _)| *c != Some(0)).collect();
    assert!(bad.is_empty(), "{bad:?}");
    let seals = seals();
    assert!(seals >= 2, "seals were made meanwhile: {seals}");
}
