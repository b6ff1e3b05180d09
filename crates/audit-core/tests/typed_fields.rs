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
use audit_core::Kind::*;
use audit_core::{
    Action, Bytes, Confidence, Event, Kind, Observed, Reason, Severity, Timestamp, ViolationKind,
};

const HEX: &str = include_str!("fixtures/typed-fields.hex");
const JSON: &str = include_str!("fixtures/typed-fields.jsonl");

/// A value of one of the fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum V {
    Reason(Reason),
    Observed(Observed),
    Severity(Severity),
    Attribution(Confidence),
    Violation(ViolationKind),
    Action(Action),
}

impl V {
    /// The field it is a value of.
    fn field(self) -> &'static str {
        match self {
            V::Reason(_) => "reason",
            V::Observed(_) => "observed",
            V::Severity(_) => "severity",
            V::Attribution(_) => "attribution",
            V::Violation(_) => "violation",
            V::Action(_) => "action",
        }
    }

    /// Its stored name.
    fn as_str(self) -> &'static str {
        match self {
            V::Reason(v) => v.as_str(),
            V::Observed(v) => v.as_str(),
            V::Severity(v) => v.as_str(),
            V::Attribution(v) => v.as_str(),
            V::Violation(v) => v.as_str(),
            V::Action(v) => v.as_str(),
        }
    }
}

/// (the kind of event that carried it, the value), in fixture order.
const CASES: &[(Kind, V)] = &[
    (ClientDetached, V::Reason(Reason::Detach)),
    (ClientDetached, V::Reason(Reason::Switch)),
    (ClientDetached, V::Reason(Reason::Exit)),
    (ClientDetached, V::Reason(Reason::Kicked)),
    (ClientDetached, V::Reason(Reason::ServerExit)),
    (ClientDetached, V::Reason(Reason::SessionClosed)),
    (ClientDetached, V::Reason(Reason::Unknown)),
    (ServerExited, V::Reason(Reason::Unknown)),
    (OutputGap, V::Reason(Reason::PipeClosed)),
    (OutputGap, V::Reason(Reason::PipeReplaced)),
    (OutputGap, V::Reason(Reason::SpoolNotWritable)),
    (OutputGap, V::Reason(Reason::PaneStart)),
    (AuditGap, V::Reason(Reason::ProcessEventsLost)),
    (AuditGap, V::Reason(Reason::UncleanStop)),
    (AuditGap, V::Reason(Reason::HookRemoved)),
    (AuditGap, V::Reason(Reason::HookReplaced)),
    (AuditGap, V::Reason(Reason::HookOverridden)),
    (AuditGap, V::Reason(Reason::RecorderDetached)),
    (PolicyLoaded, V::Reason(Reason::Refused)),
    (PolicyLoaded, V::Reason(Reason::NoPolicy)),
    (AuditStopped, V::Reason(Reason::Signal)),
    (Command, V::Reason(Reason::Exec)),
    (ClientAttached, V::Observed(Observed::Live)),
    (ClientAttached, V::Observed(Observed::AtStart)),
    (TmuxCommand, V::Severity(Severity::Alert)),
    (Command, V::Attribution(Confidence::Exact)),
    (ShellCommand, V::Attribution(Confidence::Inferred)),
    (TmuxCommand, V::Attribution(Confidence::Unknown)),
    (PolicyViolation, V::Violation(ViolationKind::User)),
    (PolicyViolation, V::Violation(ViolationKind::ReadOnly)),
    (PolicyViolation, V::Violation(ViolationKind::ControlMode)),
    (
        PolicyViolation,
        V::Violation(ViolationKind::ReadonlyCleared),
    ),
    (PolicyViolation, V::Violation(ViolationKind::Origin)),
    (PolicyViolation, V::Action(Action::Alert)),
    (PolicyViolation, V::Action(Action::Detach)),
    (PolicyViolation, V::Action(Action::Deny)),
];

/// Sets the field `value` belongs to.
fn set(e: &mut Event, value: V) {
    match value {
        V::Reason(v) => e.reason = Some(v),
        V::Observed(v) => e.observed = Some(v),
        V::Severity(v) => e.severity = Some(v),
        V::Attribution(v) => e.attribution = Some(v),
        V::Violation(v) => e.violation = Some(v),
        V::Action(v) => e.action = Some(v),
    }
}

/// The value `field` of `e` holds.
fn get(e: &Event, field: &str) -> Option<V> {
    match field {
        "reason" => e.reason.map(V::Reason),
        "observed" => e.observed.map(V::Observed),
        "severity" => e.severity.map(V::Severity),
        "attribution" => e.attribution.map(V::Attribution),
        "violation" => e.violation.map(V::Violation),
        "action" => e.action.map(V::Action),
        _ => panic!("no field {field}"),
    }
}

/// The record at `seq`: an event of `kind` with the fields such an event has, and the field of
/// `typed` set to it.
fn event(seq: u64, kind: Kind, typed: V) -> Event {
    let value = typed.as_str();
    let time = Timestamp(1_795_902_711_000_000 + seq as i64 * 1_000);
    let mut e = Event::new(time, kind, "host-1", "/tmp/tmux-1000/default");
    set(&mut e, V::Observed(Observed::Live));
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
                set(&mut e, V::Severity(Severity::Alert));
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
        set(&mut e, V::Violation(ViolationKind::User));
        set(&mut e, V::Action(Action::Alert));
    }
    if value == "kicked" {
        e.by = Some("/dev/pts/4".into());
        e.by_user = Some("bob".into());
    }
    set(&mut e, typed);
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
        let (_, typed) = CASES[i];
        assert_eq!(get(&e, &r.field), Some(typed), "record {seq}");
        assert_eq!(typed.as_str(), r.value, "record {seq}");
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
    for (i, ((kind, typed), r)) in CASES.iter().zip(&records).enumerate() {
        let (field, value) = (typed.field(), typed.as_str());
        assert_eq!((field, value), (r.field.as_str(), r.value.as_str()));
        let seq = i as u64 + 1;
        let bytes = encode(seq, &event(seq, *kind, *typed));
        assert_eq!(hex(&bytes), hex(&r.bytes), "record {seq} ({field} {value})");
        prev = link(&prev, &bytes);
        assert_eq!(to_hex(&prev), r.hash);
    }
}

#[test]
fn every_value_of_every_enum_is_in_the_fixture() {
    let all = (Reason::ALL.iter().map(|&v| V::Reason(v)))
        .chain(Observed::ALL.iter().map(|&v| V::Observed(v)))
        .chain(Severity::ALL.iter().map(|&v| V::Severity(v)))
        .chain(Confidence::ALL.iter().map(|&v| V::Attribution(v)))
        .chain(ViolationKind::ALL.iter().map(|&v| V::Violation(v)))
        .chain(Action::ALL.iter().map(|&v| V::Action(v)));
    for v in all {
        assert!(
            CASES.iter().any(|&(_, c)| c == v),
            "{} {} has no fixture record: a value added since must get one (written by the \
             version that first stores it), a value found only now in old records too",
            v.field(),
            v.as_str()
        );
    }
}
