//! `tmux-audit verify`: re-check the whole store, or one exported piece with its proof, or
//! compare the store with its central copy.

mod against;
mod fleet;

use crate::common::Global;
use crate::render;
use anyhow::{Context, Result};
use audit_core::chain;
use audit_core::inspect::{Finding, InspectReport};
use audit_core::seal::{self, SealProblem, SealReport, SealingKey, VerificationKey};
use audit_core::Timestamp;
use audit_state::{SealStateError, StateDir};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

/// Findings printed in full at most (the rest are counted).
const SHOWN: usize = 200;

/// Check that nothing stored was changed, removed, inserted, reordered or cut off
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Recomputes the hash chain over every stored event, checks each stored index column against
the hashed record and each stored output chunk against its event, and names everything found
wrong: a changed event (seq), changed or deleted output (pane and time range), deleted events
(seq range), inserted, renumbered or reordered events. With --key (the verification key `seal
init` printed; or TMUX_AUDIT_VERIFY_KEY) it also checks every seal, which catches a store
re-chained from scratch, seals out of order and a wrong key, and says which events come after
the last seal (not proven yet). A tail cut off after a seal is caught from the sealing state
the daemon keeps beside the store, when it can be read.

With --export FILE --proof PROOF --key KEY it checks one exported piece alone, without the
store (see `tmux-audit export --proof`). With --against postgres://… it compares this host's
store with what the fleet's central store holds of it: identical so far, not shipped yet,
rewritten after shipping (the first seq that differs), or cut back here.

Exit status 0: intact; 1: tampered; 2: could not check (unreadable store, damaged or wrong key,
a proof that covers nothing sealed).

Examples:
  tmux-audit verify
  tmux-audit verify --key tavk1:…
  tmux-audit verify --json
  tmux-audit verify --export incident.cast --proof incident.proof --key tavk1:…
  tmux-audit verify --against postgres://audit@db/audit")]
pub struct Args {
    /// One JSON object on stdout
    #[arg(long)]
    json: bool,

    /// The verification key `seal init` printed: also check every seal
    #[arg(
        long,
        value_name = "KEY",
        env = "TMUX_AUDIT_VERIFY_KEY",
        hide_env_values = true
    )]
    key: Option<String>,

    /// Check this exported file alone, against --proof, instead of the store
    #[arg(long, value_name = "FILE", requires = "proof")]
    export: Option<PathBuf>,

    /// The proof `export --proof` wrote for --export
    #[arg(long, value_name = "PROOF", requires = "export")]
    proof: Option<PathBuf>,

    /// Compare this store with its copy in the central store at LOCATION (the chain of
    /// --host, else of this host's host_name): does the center hold this history unchanged?
    #[arg(long, value_name = "LOCATION", value_parser = crate::common::LocationArg, conflicts_with_all = ["export", "key"])]
    against: Option<audit_store::Location>,
}

pub fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let key = args
        .key
        .as_deref()
        .map(VerificationKey::from_text)
        .transpose()
        .context("--key")?;
    if let (Some(export), Some(proof)) = (&args.export, &args.proof) {
        return crate::cmd::proof::verify(export, proof, key.as_ref(), args.json);
    }
    if let Some(against) = &args.against {
        return against::run(global, against, args.json);
    }
    let location = global.location()?;
    if let audit_store::Location::Postgres(center) = &location {
        return fleet::run(global, center, key.as_ref(), args.json);
    }
    let daemon_state = StateDir::of(&location);
    let store = global.open_read()?;
    let db = location.to_string();
    // The sealing state first: a seal it records is committed before it is recorded, so the
    // store read next holds it — read the other way round, a seal made in between would look
    // like a cut tail.
    let state = sealing_state(&daemon_state);
    let report = store.inspect()?;
    let seals = key
        .as_ref()
        .map(|k| seal::check(&report.seals, report.records, k));
    let cut = cut_tail(state.as_ref(), &report);
    let verdict = Verdict::of(&report, seals.as_ref(), cut.as_ref());

    let mut out = std::io::stdout().lock();
    let seals_view = SealsView::new(
        &daemon_state,
        state.as_ref(),
        &report,
        key.as_ref(),
        seals.as_ref(),
    );
    if args.json {
        let mut findings: Vec<Value> = report.findings.iter().map(finding_json).collect();
        if let Some(s) = &seals {
            findings.extend(s.problems.iter().map(|p| {
                let mut v = seal_problem_json(p);
                v["message"] = json!(seal_line(p, &report));
                v
            }));
        }
        if let Some(c) = &cut {
            findings.push(c.json());
        }
        let more = findings.len().saturating_sub(SHOWN);
        findings.truncate(SHOWN);
        let mut doc = json!({
            "status": verdict.word(),
            "store": db,
            "events": report.records,
            "last_seq": report.last_seq,
            "head": chain::to_hex(&report.head),
            "findings": findings,
            "seals": seals_view.json,
        });
        if more > 0 {
            doc["findings_not_shown"] = json!(more);
        }
        if let Some(s) = seals.as_ref().filter(|s| !s.late.is_empty()) {
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
        render::json_line(&mut out, &doc)?;
    } else {
        println!(
            "{}: {} events in {}, chain head {}",
            verdict.headline(),
            report.records,
            render::escape(&db),
            &chain::to_hex(&report.head)[..16]
        );
        let mut lines: Vec<String> = report.findings.iter().map(|f| f.to_string()).collect();
        if let Some(s) = &seals {
            lines.extend(s.problems.iter().map(|p| seal_line(p, &report)));
        }
        if let Some(c) = &cut {
            lines.push(c.to_string());
        }
        for line in lines.iter().take(SHOWN) {
            println!("  {line}");
        }
        if lines.len() > SHOWN {
            println!(
                "  … and {} more (--json lists {SHOWN})",
                lines.len() - SHOWN
            );
        }
        if report.unanalysed > 0 {
            println!(
                "  {} more records out of place were not analysed one by one",
                report.unanalysed
            );
        }
        println!("seals: {}", seals_view.text);
        for late in seals.iter().flat_map(|s| &s.late) {
            println!("note: {late}");
        }
    }
    match verdict {
        Verdict::Intact => Ok(ExitCode::SUCCESS),
        Verdict::Tampered => {
            eprintln!("tmux-audit: verify: {db} was tampered with (see above)");
            Ok(ExitCode::from(1))
        }
        Verdict::WrongKey => {
            eprintln!("tmux-audit: verify: the seals of {db} were made under another key");
            Ok(ExitCode::from(2))
        }
    }
}

/// The overall answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Intact,
    Tampered,
    /// The chain holds, but the seals were made under another key: nothing to say about them.
    WrongKey,
}

impl Verdict {
    fn of(report: &InspectReport, seals: Option<&SealReport>, cut: Option<&CutTail>) -> Verdict {
        let seal_problems = seals.map_or(&[][..], |s| &s.problems[..]);
        let tampered =
            !report.intact() || cut.is_some() || seal_problems.iter().any(|p| !p.is_wrong_key());
        if tampered {
            Verdict::Tampered
        } else if !seal_problems.is_empty() {
            Verdict::WrongKey
        } else {
            Verdict::Intact
        }
    }

    fn word(self) -> &'static str {
        match self {
            Verdict::Intact => "intact",
            Verdict::Tampered => "tampered",
            Verdict::WrongKey => "unchecked",
        }
    }

    fn headline(self) -> &'static str {
        match self {
            Verdict::Intact => "intact",
            Verdict::Tampered => "TAMPERED",
            Verdict::WrongKey => "chain intact, seals NOT CHECKED",
        }
    }
}

fn finding_json(f: &Finding) -> Value {
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
fn seal_line(p: &SealProblem, report: &InspectReport) -> String {
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

fn seal_problem_json(p: &SealProblem) -> Value {
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

/// The store ends before the last seal the daemon recorded making: its tail was cut off.
struct CutTail {
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
    fn json(&self) -> Value {
        json!({"kind": "truncated", "from": self.ends + 1, "to": self.sealed,
               "sealed_at": self.at.to_string(), "message": self.to_string()})
    }
}

/// The daemon's sealing state, if there is one; why not, when it cannot be read.
fn sealing_state(state: &StateDir) -> Option<Result<SealingKey, String>> {
    match state.sealing_key() {
        Ok(key) => key.map(Ok),
        // The reason alone: the line it goes into says it is the sealing state.
        Err(SealStateError::Io { error, .. }) => Some(Err(error.to_string())),
        Err(SealStateError::Corrupt { error, .. }) => Some(Err(error.to_string())),
    }
}

fn cut_tail(state: Option<&Result<SealingKey, String>>, report: &InspectReport) -> Option<CutTail> {
    let state = state?.as_ref().ok()?;
    let (sealed, at) = state.last_sealed()?;
    // By the seq the last record's content says: renumbering is reported on its own.
    let ends = report.last_encoded.unwrap_or(report.last_seq);
    (ends < sealed).then_some(CutTail { ends, sealed, at })
}

/// What the seals say, as JSON and as one line of text.
struct SealsView {
    json: Value,
    text: String,
}

impl SealsView {
    fn new(
        daemon: &StateDir,
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
            let recording = daemon.is_recording() == Some(true);
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

fn events(n: u64) -> String {
    if n == 1 {
        "1 event".into()
    } else {
        format!("{n} events")
    }
}
