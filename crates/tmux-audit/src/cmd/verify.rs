//! `tmux-audit verify`: re-check the whole chain.

use crate::common::Global;
use crate::render;
use anyhow::{Context, Result};
use audit_core::chain::{self, SealRecord};
use audit_core::seal::{self, SealVerdict, VerificationKey};
use serde_json::json;
use std::process::ExitCode;

/// Check that no stored event was changed, removed, inserted or reordered
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Recomputes the hash chain over every stored event and checks each stored index column against
the hashed record and each stored output chunk against its event. With --key (the verification
key `seal init` printed; or TMUX_AUDIT_VERIFY_KEY) it also checks every seal, which catches a
store rewritten from scratch. Exit status 0: intact; 1: tampered (the first bad seq is named);
2: the store could not be checked.

Examples:
  tmux-audit verify
  tmux-audit verify --key tavk1:…
  tmux-audit verify --json")]
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
}

pub fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let store = global.open_read()?;
    let db = global.db_path()?.display().to_string();
    let mut out = std::io::stdout().lock();
    match store.verify()? {
        Ok(report) => {
            let head = chain::to_hex(&report.head);
            let key = args
                .key
                .as_deref()
                .map(VerificationKey::from_text)
                .transpose()
                .context("--key")?;
            let verdict = key
                .as_ref()
                .map(|k| seal::check(&report.seals, report.records, k));
            let (mut seals_json, mut seals_text, tampered) =
                describe(&report.seals, verdict.as_ref());
            if let Some(SealVerdict::Good { unsealed, .. }) = verdict {
                if unsealed > 0 {
                    let recording = audit_daemon::is_recording(&global.db_path()?) == Some(true);
                    let (tail, why) = if recording {
                        (
                            "recording",
                            "the newest, sealed at the next interval (a daemon is recording)",
                        )
                    } else {
                        ("unsealed", "no daemon is recording, so they are not proven: the daemon was killed before sealing them, or they were added, or the sealed tail cut, after it")
                    };
                    seals_text.push_str(&format!(" — {why}"));
                    seals_json["tail"] = json!(tail);
                }
            }
            if args.json {
                let status = if tampered { "tampered" } else { "intact" };
                render::json_line(
                    &mut out,
                    &json!({"status": status, "store": db, "events": report.records, "head": head, "seals": seals_json}),
                )?;
            } else {
                println!(
                    "{}: {} events in {}, chain head {}",
                    if tampered { "TAMPERED" } else { "intact" },
                    report.records,
                    render::escape(&db),
                    &head[..16]
                );
                println!("seals: {seals_text}");
            }
            if tampered {
                eprintln!("tmux-audit: verify: the seals of {db} do not check");
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(problem) => {
            if args.json {
                render::json_line(
                    &mut out,
                    &json!({"status": "tampered", "store": db, "seq": problem.seq(), "problem": problem.to_string()}),
                )?;
            } else {
                println!("TAMPERED: {problem}");
            }
            eprintln!(
                "tmux-audit: verify: {} is tampered at seq {}",
                db,
                problem.seq()
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// What the seals say, as JSON and as one line of text, and whether they show tampering.
fn describe(
    seals: &[SealRecord],
    verdict: Option<&SealVerdict>,
) -> (serde_json::Value, String, bool) {
    match verdict {
        None if seals.is_empty() => (
            json!("off"),
            "off — the chain proves no event was changed in place, but not that the whole store was not rewritten (tmux-audit seal init)".into(),
            false,
        ),
        None => (
            json!({"present": seals.len(), "checked": false}),
            format!("{} present, not checked (pass --key with the verification key)", seals.len()),
            false,
        ),
        Some(SealVerdict::None) => (
            json!("off"),
            "none in this store, so the key proves nothing here (was the daemon restarted after seal init?)".into(),
            false,
        ),
        Some(SealVerdict::Good { seals, last, unsealed }) => (
            json!({"checked": seals, "last_seq": last.0, "last_time": last.1.to_string(), "unsealed": unsealed}),
            format!(
                "{seals} checked with the key; the last seals seq {} ({}); {unsealed} events after it not yet sealed",
                last.0.saturating_sub(1),
                last.1
            ),
            false,
        ),
        Some(SealVerdict::Bad { seq, why }) => (
            json!({"failed_seq": seq, "problem": why}),
            format!("seal at seq {seq} FAILS: {why}"),
            true,
        ),
    }
}
