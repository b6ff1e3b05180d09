//! Verification of a store, as a report: the chain re-checked record by record (the store's
//! [`inspect`](audit_store::Reader::inspect)), the seals checked with the verification key, and
//! the daemon's sealing state read for a cut-off tail — here, so that `tmux-audit verify` and
//! the web UI's Integrity page give the same verdict from the same findings.
//!
//! ```text
//! sealing state (read first) ─┐
//! store.inspect() ────────────┼─▶ VerifyReport { verdict, findings, seals, cut tail }
//! seal::check(key) ───────────┘        │ Serialize: `verify --json`; lines(): its text
//! ```

mod seals;

use audit_core::chain;
use audit_core::inspect::{Finding, InspectReport};
use audit_core::seal::{self, SealProblem, SealReport, VerificationKey};
use audit_core::Timestamp;
use audit_state::StateDir;
use audit_store::{Location, Reader, StoreError};
use seals::{cut_tail, sealing_state, CutTail, SealsView};
use serde::Serialize;
use serde_json::{json, Value};
use thiserror::Error;

/// Findings listed in full at most (in the JSON and in the text; the rest are counted).
pub const SHOWN: usize = 200;

/// Why a store could not be verified (as opposed to: verified, and found tampered).
#[derive(Debug, Error)]
pub enum VerifyError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The overall answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing found wrong.
    Intact,
    /// Something stored was changed, removed, inserted, reordered or cut off.
    Tampered,
    /// The chain holds, but the seals were made under another key: nothing to say about them.
    WrongKey,
}

impl Verdict {
    /// The verdict on `report`, its seals checked (`seals`) and its tail (`cut`).
    pub fn of(report: &InspectReport, seals: Option<&SealReport>, cut_off: bool) -> Verdict {
        let seal_problems = seals.map_or(&[][..], |s| &s.problems[..]);
        let tampered =
            !report.intact() || cut_off || seal_problems.iter().any(|p| !p.is_wrong_key());
        if tampered {
            Verdict::Tampered
        } else if !seal_problems.is_empty() {
            Verdict::WrongKey
        } else {
            Verdict::Intact
        }
    }

    /// As `--json`'s `status` says it.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Intact => "intact",
            Verdict::Tampered => "tampered",
            Verdict::WrongKey => "unchecked",
        }
    }

    /// As the text's first line says it.
    pub fn headline(self) -> &'static str {
        match self {
            Verdict::Intact => "intact",
            Verdict::Tampered => "TAMPERED",
            Verdict::WrongKey => "chain intact, seals NOT CHECKED",
        }
    }
}

/// What verifying one store found. Serializes as `verify --json` prints it.
#[derive(Debug)]
pub struct VerifyReport {
    /// The answer.
    pub verdict: Verdict,
    /// Records stored.
    pub events: u64,
    /// The store, as shown (a server store without its password).
    pub store: String,
    /// What the store's inspection found.
    pub inspect: InspectReport,
    /// The seals checked with the key, when one was given.
    pub seals: Option<SealReport>,
    /// The time of the last seal the store holds (checked or not).
    pub last_seal: Option<Timestamp>,
    cut: Option<CutTail>,
    seals_view: SealsView,
}

/// Verifies the store at `location` (read through `store`): its chain, with `key` its seals,
/// and with `state` (the daemon's state folder beside it) whether its sealed tail was cut off
/// and whether a daemon records into it now.
pub fn report(
    store: &dyn Reader,
    location: &Location,
    key: Option<&VerificationKey>,
    state: Option<&StateDir>,
) -> Result<VerifyReport, VerifyError> {
    // The sealing state first: a seal it records is committed before it is recorded, so the
    // store read next holds it — read the other way round, a seal made in between would look
    // like a cut tail.
    let sealing = state.and_then(sealing_state);
    let inspect = store.inspect()?;
    let seals = key.map(|k| seal::check(&inspect.seals, inspect.records, k));
    let cut = cut_tail(sealing.as_ref(), &inspect);
    let verdict = Verdict::of(&inspect, seals.as_ref(), cut.is_some());
    let recording = state.and_then(StateDir::is_recording) == Some(true);
    let seals_view = SealsView::new(recording, sealing.as_ref(), &inspect, key, seals.as_ref());
    Ok(VerifyReport {
        verdict,
        events: inspect.records,
        store: location.to_string(),
        last_seal: inspect.seals.last().map(|s| s.time),
        inspect,
        seals,
        cut,
        seals_view,
    })
}

impl VerifyReport {
    /// Whether the answer is "intact".
    pub fn ok(&self) -> bool {
        self.verdict == Verdict::Intact
    }

    /// Everything found wrong, one line each, in order: the chain's findings, the seals'
    /// problems, a cut-off tail.
    pub fn lines(&self) -> Vec<String> {
        let report = &self.inspect;
        let mut lines: Vec<String> = report.findings.iter().map(|f| f.to_string()).collect();
        if let Some(s) = &self.seals {
            lines.extend(s.problems.iter().map(|p| seal_line(p, report)));
        }
        if let Some(c) = &self.cut {
            lines.push(c.to_string());
        }
        lines
    }

    /// What the seals say, in one line (after `seals: `).
    pub fn seals_text(&self) -> &str {
        &self.seals_view.text
    }

    /// The object `verify --json` prints.
    pub fn json(&self) -> Value {
        let report = &self.inspect;
        let mut findings: Vec<Value> = report.findings.iter().map(finding_json).collect();
        if let Some(s) = &self.seals {
            findings.extend(s.problems.iter().map(|p| {
                let mut v = seal_problem_json(p);
                v["message"] = json!(seal_line(p, report));
                v
            }));
        }
        if let Some(c) = &self.cut {
            findings.push(c.json());
        }
        let more = findings.len().saturating_sub(SHOWN);
        findings.truncate(SHOWN);
        let mut seals = self.seals_view.json.clone();
        if let (Some(t), Some(fields)) = (self.last_seal, seals.as_object_mut()) {
            fields.insert("last_seal".into(), json!(t.to_string()));
        }
        let mut doc = json!({
            "status": self.verdict.word(),
            "ok": self.ok(),
            "store": self.store,
            "events": report.records,
            "last_seq": report.last_seq,
            "head": chain::to_hex(&report.head),
            "findings": findings,
            "seals": seals,
        });
        if more > 0 {
            doc["findings_not_shown"] = json!(more);
        }
        if let Some(s) = self.seals.as_ref().filter(|s| !s.late.is_empty()) {
            let notes: Vec<Value> = s
                .late
                .iter()
                .map(|l| json!({"kind": "late-seal", "seal_seq": l.seq, "epochs": l.epochs, "earliest": l.earliest.to_string(), "message": l.to_string()}))
                .collect();
            doc["notes"] = json!(notes);
        }
        if report.unanalysed > 0 {
            doc["unanalysed"] = json!(report.unanalysed);
        }
        doc
    }
}

impl Serialize for VerifyReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json().serialize(serializer)
    }
}

/// Verifies each host of a location (as [`crate::hosts::open`] opened them): on a central
/// store, each host's chain, without the state of a daemon (there is none beside it); a host's
/// own store with its state folder. `key` checks the seals of every host (each host seals
/// under its own key: give one only with one host).
pub fn report_per_host(
    hosts: &[crate::hosts::HostStore],
    key: Option<&VerificationKey>,
) -> Result<Vec<(Option<String>, VerifyReport)>, VerifyError> {
    hosts
        .iter()
        .map(|h| {
            let state = h.host.is_none().then(|| StateDir::of(&h.location));
            let r = report(h.store.as_ref(), &h.location, key, state.as_ref())?;
            Ok((h.host.clone(), r))
        })
        .collect()
}

/// A chain finding as a JSON object: its kind, seq range and message, and what else names it.
pub fn finding_json(f: &Finding) -> Value {
    let (from, to) = f.seqs();
    let mut v = json!({"kind": f.kind(), "from": from, "to": to, "message": f.to_string()});
    match f {
        Finding::ChunkChanged(p) | Finding::ChunkMissing(p) => {
            v["pane"] = json!(p.pane_id);
            v["from_time"] = json!(p.from.map(|t| t.to_string()));
            v["until_time"] = json!(p.until.map(|t| t.to_string()));
        }
        Finding::Renumbered { by, .. } => v["by"] = json!(by),
        Finding::ColumnEdited { column, .. } => v["column"] = json!(column),
        _ => {}
    }
    v
}

/// A seal problem as a line; a failed seal over records the chain already names as damaged
/// says so rather than suggesting a second, separate edit.
pub fn seal_line(p: &SealProblem, report: &InspectReport) -> String {
    if let SealProblem::Failed { seq, from, to } = p {
        let explained = report.findings.iter().any(|f| {
            let (a, b) = f.seqs();
            a <= *to + 1 && b + 1 >= *from
        });
        if explained {
            return format!(
                "seal at seq {seq} does not hold over seq {from}..{to} either (the damage named above)"
            );
        }
    }
    p.to_string()
}

/// A seal problem as a JSON object: its kind and message, and the seqs or keys it names.
pub fn seal_problem_json(p: &SealProblem) -> Value {
    let mut v = json!({"kind": p.kind(), "message": p.to_string()});
    match p {
        SealProblem::Failed { seq, from, to } => {
            v["seal_seq"] = json!(seq);
            v["from"] = json!(from);
            v["to"] = json!(to);
        }
        SealProblem::Backwards { seq, .. } | SealProblem::Malformed { seq, .. } => {
            v["seal_seq"] = json!(seq);
        }
        SealProblem::WrongKey { given, store } => {
            v["key_id"] = json!(given);
            v["store_key_id"] = json!(store);
        }
        SealProblem::NoneMatch { .. } => {}
    }
    v
}

/// `1 event`, `N events`.
pub fn events(n: u64) -> String {
    if n == 1 {
        "1 event".into()
    } else {
        format!("{n} events")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::seal::Schedule;
    use audit_core::{Event, Kind};
    use audit_store::{Access, SqliteStore, Writer};
    use std::path::Path;

    fn ev(t: i64) -> Event {
        Event::new(Timestamp::from_secs(t), Kind::SessionCreated, "web1", "/s")
    }

    fn key() -> VerificationKey {
        let schedule = Schedule {
            start: Timestamp::from_secs(0),
            interval_us: 60_000_000,
        };
        VerificationKey::new([7; 32], schedule).unwrap()
    }

    /// Three events, a seal at 100 s over them, and one event after it.
    fn sealed_store(db: &Path) -> SqliteStore {
        let mut store = SqliteStore::open(db, Access::Create).unwrap();
        store.append(&[ev(1), ev(2), ev(3)]).unwrap();
        let mut sealing = key().sealing_key();
        let at = Timestamp::from_secs(100);
        store
            .append_after_head(&mut |seq, head| {
                let (epoch, seal) = sealing.seal(seq, head, at).unwrap();
                let mut e = Event::new(at, Kind::Seal, "web1", "-");
                e.epoch = Some(epoch as i64);
                e.seal = Some(chain::to_hex(&seal));
                e.key_id = Some(sealing.key_id());
                e
            })
            .unwrap();
        store.append(&[ev(101)]).unwrap();
        store
    }

    #[test]
    fn an_intact_sealed_store_is_ok_and_names_its_last_seal() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let store = sealed_store(&db);
        let location = Location::Sqlite(db);
        let unchecked = report(&store, &location, None, None).unwrap();
        assert_eq!((unchecked.verdict, unchecked.ok()), (Verdict::Intact, true));
        assert_eq!(unchecked.events, 5);
        assert_eq!(unchecked.last_seal, Some(Timestamp::from_secs(100)));
        let json = serde_json::to_value(&unchecked).unwrap();
        assert_eq!(json["status"], "intact");
        assert_eq!(json["ok"], true);
        assert_eq!(json["events"], 5);
        assert_eq!(json["seals"]["present"], 1);
        assert_eq!(json["seals"]["checked"], false);
        assert_eq!(json["seals"]["last_seal"], "1970-01-01T00:01:40.000000Z");
        assert_eq!(json["findings"], json!([]));

        let checked = report(&store, &location, Some(&key()), None).unwrap();
        assert!(checked.ok(), "{:?}", checked.lines());
        let json = checked.json();
        assert_eq!(
            (&json["seals"]["good"], &json["seals"]["unsealed"]),
            (&json!(1), &json!(1))
        );
        assert_eq!(json["seals"]["tail"], "unsealed", "no daemon records here");
        assert!(checked
            .seals_text()
            .starts_with("1 of 1 check with the key"));
    }

    #[test]
    fn an_edited_event_is_named_and_the_report_is_not_ok() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        drop(sealed_store(&db));
        let sql = rusqlite::Connection::open(&db).unwrap();
        sql.execute_batch(
            "DROP TRIGGER events_append_only_update;
             UPDATE events SET server = '/elsewhere' WHERE seq = 2;",
        )
        .unwrap();
        drop(sql);
        let store = SqliteStore::open(&db, Access::ReadOnly).unwrap();
        let r = report(&store, &Location::Sqlite(db), Some(&key()), None).unwrap();
        assert_eq!((r.verdict, r.ok()), (Verdict::Tampered, false));
        let lines = r.lines();
        assert!(
            lines.first().is_some_and(|l| l.contains("seq 2")),
            "{lines:?}"
        );
        let json = r.json();
        assert_eq!(json["status"], "tampered");
        assert_eq!(json["findings"][0]["from"], 2);
    }
}
