//! Every value the fields `reason`, `observed`, `severity`, `attribution`, `violation` and
//! `action` have ever been stored with, as records: their canonical bytes, chain hashes and
//! JSON are fixed in `fixtures/typed-fields.hex` and `fixtures/typed-fields.jsonl`.
//!
//! The fixtures were written once, from [`event`] below, by the version that still kept these
//! fields as strings (on top of d07a3c0); the writer was removed so they are never regenerated. Each record must decode, re-encode to exactly its bytes, re-link to its
//! hash and serialize to its JSON line; and the same events built today must encode to the same
//! bytes. A failure here means stored logs would stop verifying, or `--json` changed.
//!
//! The values were collected from every place the workspace sets these fields, and from the git
//! history of `crates/` (`git log -p -G'reason|observed|severity|attribution|violation|action'`),
//! including the kinds other than `client-detached` that carry a `reason`.

use audit_core::chain::{link, to_hex, GENESIS};
use audit_core::encoding::{decode, encode};
use audit_core::{Bytes, Event, Kind, Timestamp};

const HEX: &str = include_str!("fixtures/typed-fields.hex");
const JSON: &str = include_str!("fixtures/typed-fields.jsonl");

/// (field, value, the kind of event that carried it), in fixture order.
const CASES: &[(&str, &str, Kind)] = &[
    ("reason", "detach", Kind::ClientDetached),
    ("reason", "switch", Kind::ClientDetached),
    ("reason", "exit", Kind::ClientDetached),
    ("reason", "kicked", Kind::ClientDetached),
    ("reason", "server-exit", Kind::ClientDetached),
    ("reason", "session-closed", Kind::ClientDetached),
    ("reason", "unknown", Kind::ClientDetached),
    ("reason", "unknown", Kind::ServerExited),
    ("reason", "pipe-closed", Kind::OutputGap),
    ("reason", "pipe-replaced", Kind::OutputGap),
    ("reason", "spool-not-writable", Kind::OutputGap),
    ("reason", "pane-start", Kind::OutputGap),
    ("reason", "process-events-lost", Kind::AuditGap),
    ("reason", "unclean-stop", Kind::AuditGap),
    ("reason", "hook-removed", Kind::AuditGap),
    ("reason", "hook-replaced", Kind::AuditGap),
    ("reason", "hook-overridden", Kind::AuditGap),
    ("reason", "recorder-detached", Kind::AuditGap),
    ("reason", "refused", Kind::PolicyLoaded),
    ("reason", "no-policy", Kind::PolicyLoaded),
    ("reason", "signal", Kind::AuditStopped),
    ("reason", "exec", Kind::Command),
    ("observed", "live", Kind::ClientAttached),
    ("observed", "at-start", Kind::ClientAttached),
    ("severity", "alert", Kind::TmuxCommand),
    ("attribution", "exact", Kind::Command),
    ("attribution", "inferred", Kind::ShellCommand),
    ("attribution", "unknown", Kind::TmuxCommand),
    ("violation", "user", Kind::PolicyViolation),
    ("violation", "read-only", Kind::PolicyViolation),
    ("violation", "control-mode", Kind::PolicyViolation),
    ("violation", "readonly-cleared", Kind::PolicyViolation),
    ("violation", "origin", Kind::PolicyViolation),
    ("action", "alert", Kind::PolicyViolation),
    ("action", "detach", Kind::PolicyViolation),
    ("action", "deny", Kind::PolicyViolation),
];

/// Sets `field` of `e` to the stored name `value`.
fn set(e: &mut Event, field: &str, value: &str) {
    let value = Some(value.to_owned());
    match field {
        "reason" => e.reason = value,
        "observed" => e.observed = value,
        "severity" => e.severity = value,
        "attribution" => e.attribution = value,
        "violation" => e.violation = value,
        "action" => e.action = value,
        _ => panic!("no field {field}"),
    }
}

/// The stored name `field` of `e` holds.
fn get(e: &Event, field: &str) -> Option<String> {
    match field {
        "reason" => e.reason.clone(),
        "observed" => e.observed.clone(),
        "severity" => e.severity.clone(),
        "attribution" => e.attribution.clone(),
        "violation" => e.violation.clone(),
        "action" => e.action.clone(),
        _ => panic!("no field {field}"),
    }
}

/// The record at `seq`: an event of `kind` with the fields such an event has, and `field` set
/// to `value`.
fn event(seq: u64, field: &str, value: &str, kind: Kind) -> Event {
    let time = Timestamp(1_795_902_711_000_000 + seq as i64 * 1_000);
    let mut e = Event::new(time, kind, "host-1", "/tmp/tmux-1000/default");
    set(&mut e, "observed", "live");
    match kind {
        Kind::ClientAttached | Kind::ClientDetached | Kind::PolicyViolation => {
            e.session = Some("prod".into());
            e.session_id = Some("$0".into());
            e.client = Some("/dev/pts/3".into());
            e.client_pid = Some(4242);
            e.uid = Some(1001);
            e.user = Some("mallory".into());
            e.readonly = Some(false);
        }
        Kind::ServerExited | Kind::AuditStopped => e.pid = Some(77),
        Kind::OutputGap => {
            e.pane_id = Some("%1".into());
            e.until = Some(time);
            e.message = Some("not recorded".into());
        }
        Kind::AuditGap => {
            e.from = Some(Timestamp(time.0 - 5_000_000));
            e.until = Some(time);
            e.message = Some("not observed".into());
            if value.starts_with("hook-") {
                set(&mut e, "severity", "alert");
                e.hook = Some("after-new-window".into());
            }
        }
        Kind::PolicyLoaded => {
            e.digest = Some("ab".repeat(32));
            e.message = Some("/etc/tmux-audit/policy.toml".into());
        }
        Kind::Command | Kind::ShellCommand => {
            e.pane_id = Some("%2".into());
            e.argv = Some(vec![Bytes(b"ls".to_vec())]);
            e.actor = Some("alice".into());
            e.candidates = Some(vec!["alice".into(), "bob".into()]);
        }
        Kind::TmuxCommand => {
            e.command = Some("detach-client -a".into());
            e.candidates = Some(vec!["alice".into(), "bob".into()]);
        }
        _ => {}
    }
    if kind == Kind::PolicyViolation {
        e.rule = Some("prod".into());
        set(&mut e, "violation", "user");
        set(&mut e, "action", "alert");
    }
    if value == "kicked" {
        e.by = Some("/dev/pts/4".into());
        e.by_user = Some("bob".into());
    }
    set(&mut e, field, value);
    e
}

/// One fixture line: field, value, chain hash, canonical bytes (hex).
struct Record {
    field: String,
    value: String,
    hash: String,
    bytes: Vec<u8>,
}

fn records() -> Vec<Record> {
    HEX.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split(' ').collect();
            let [field, value, hash, bytes] = cols[..] else {
                panic!("bad fixture line {l:?}")
            };
            let bytes = (0..bytes.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&bytes[i..i + 2], 16).unwrap())
                .collect();
            Record {
                field: field.into(),
                value: value.into(),
                hash: hash.into(),
                bytes,
            }
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_value_ever_stored_decodes_re_encodes_and_verifies_unchanged() {
    let records = records();
    assert_eq!(records.len(), CASES.len(), "one record per case");
    let json: Vec<&str> = JSON.lines().collect();
    assert_eq!(json.len(), CASES.len(), "one JSON line per case");
    let mut prev = GENESIS;
    for (i, r) in records.iter().enumerate() {
        let seq = i as u64 + 1;
        let (decoded_seq, e) = decode(&r.bytes)
            .unwrap_or_else(|err| panic!("record {seq} ({} {}): {err}", r.field, r.value));
        assert_eq!(decoded_seq, seq);
        assert_eq!(
            get(&e, &r.field).as_deref(),
            Some(r.value.as_str()),
            "record {seq}"
        );
        assert_eq!(
            hex(&encode(seq, &e)),
            hex(&r.bytes),
            "record {seq} ({} {}) re-encodes to other bytes",
            r.field,
            r.value
        );
        prev = link(&prev, &r.bytes);
        assert_eq!(to_hex(&prev), r.hash, "record {seq}: chain hash");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            json[i],
            "record {seq}: JSON"
        );
    }
}

#[test]
fn the_same_events_built_today_encode_to_the_fixture() {
    let records = records();
    let mut prev = GENESIS;
    for (i, ((field, value, kind), r)) in CASES.iter().zip(&records).enumerate() {
        assert_eq!((*field, *value), (r.field.as_str(), r.value.as_str()));
        let seq = i as u64 + 1;
        let bytes = encode(seq, &event(seq, field, value, *kind));
        assert_eq!(hex(&bytes), hex(&r.bytes), "record {seq} ({field} {value})");
        prev = link(&prev, &bytes);
        assert_eq!(to_hex(&prev), r.hash);
    }
}
