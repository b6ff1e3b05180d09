//! What the seals say, and what the daemon's sealing state says of the store's tail.

use super::events;
use audit_core::inspect::InspectReport;
use audit_core::seal::{SealReport, SealingKey, VerificationKey};
use audit_core::Timestamp;
use audit_state::{SealStateError, StateDir};
use serde_json::{json, Value};

/// The store ends before the last seal the daemon recorded making: its tail was cut off.
#[derive(Debug)]
pub(super) struct CutTail {
    ends: u64,
    sealed: u64,
    at: Timestamp,
}

impl std::fmt::Display for CutTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seq {}..{}: cut off the end (the daemon stored seal seq {} at {}, by its sealing state; the store ends at seq {})",
            self.ends + 1,
            self.sealed,
            self.sealed,
            self.at,
            self.ends
        )
    }
}

impl CutTail {
    pub(super) fn json(&self) -> Value {
        json!({"kind": "truncated", "from": self.ends + 1, "to": self.sealed,
               "sealed_at": self.at.to_string(), "message": self.to_string()})
    }
}

/// The daemon's sealing state, if there is one; why not, when it cannot be read.
pub(super) fn sealing_state(state: &StateDir) -> Option<Result<SealingKey, String>> {
    match state.sealing_key() {
        Ok(key) => key.map(Ok),
        // The reason alone: the line it goes into says it is the sealing state.
        Err(SealStateError::Io { error, .. }) => Some(Err(error.to_string())),
        Err(SealStateError::Corrupt { error, .. }) => Some(Err(error.to_string())),
    }
}

pub(super) fn cut_tail(
    state: Option<&Result<SealingKey, String>>,
    report: &InspectReport,
) -> Option<CutTail> {
    let state = state?.as_ref().ok()?;
    let (sealed, at) = state.last_sealed()?;
    // By the seq the last record's content says: renumbering is reported on its own.
    let ends = report.last_encoded.unwrap_or(report.last_seq);
    (ends < sealed).then_some(CutTail { ends, sealed, at })
}

/// What the seals say, as JSON and as one line of text.
#[derive(Debug)]
pub(super) struct SealsView {
    pub(super) json: Value,
    pub(super) text: String,
}

impl SealsView {
    /// `recording`: whether a daemon records into the store now (its newest records are then
    /// not sealed yet, rather than not proven).
    pub(super) fn new(
        recording: bool,
        state: Option<&Result<SealingKey, String>>,
        report: &InspectReport,
        key: Option<&VerificationKey>,
        seals: Option<&SealReport>,
    ) -> SealsView {
        let present = report.seals.len();
        let state_note = match state {
            Some(Err(e)) => format!(
                " (the sealing state could not be read — {e} — so a cut tail cannot be ruled out)"
            ),
            _ => String::new(),
        };
        let (Some(key), Some(s)) = (key, seals) else {
            return if present == 0 {
                SealsView {
                    json: json!("off"),
                    text: "off — the chain proves no event was changed in place, but not that the whole store was not rewritten (tmux-audit seal init)".into(),
                }
            } else {
                SealsView {
                    json: json!({"present": present, "checked": false}),
                    text: format!(
                        "{present} present, not checked (pass --key with the verification key){state_note}"
                    ),
                }
            };
        };
        if present == 0 {
            return SealsView {
                json: json!({"present": 0, "checked": 0, "key_id": key.key_id()}),
                text: "none in this store, so the key proves nothing here (did a daemon run after seal init?)".into(),
            };
        }
        let mut json = json!({
            "present": present,
            "checked": s.seals,
            "good": s.good,
            "key_id": key.key_id(),
            "unsealed": s.unsealed,
        });
        let mut text = match s.last_good {
            Some((seq, time)) => {
                json["last_seq"] = json!(seq);
                json["last_time"] = json!(time.to_string());
                format!(
                    "{} of {} check with the key; the last good one, seq {seq} at {time}, covers seq 1..{}; {} after it not yet sealed",
                    s.good,
                    s.seals,
                    seq.saturating_sub(1),
                    events(s.unsealed)
                )
            }
            None => format!("none of {} checks with the key", s.seals),
        };
        if s.unsealed > 0 && s.good > 0 {
            let (tail, why) = if recording {
                (
                    "recording",
                    "the newest, sealed at the next interval (a daemon is recording)",
                )
            } else {
                ("unsealed", "no daemon is recording, so they are not proven: the daemon was killed before sealing them, or they were added, or the sealed tail cut, after it")
            };
            text.push_str(&format!(" — {why}"));
            json["tail"] = json!(tail);
        }
        text.push_str(&state_note);
        SealsView { json, text }
    }
}
