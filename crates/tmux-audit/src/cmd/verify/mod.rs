//! `tmux-audit verify`: re-check the whole store, or one exported piece with its proof, or
//! compare the store with its central copy.

mod against;
mod fleet;

use crate::common::Global;
use crate::render;
use anyhow::{Context, Result};
use audit_core::chain;
use audit_core::seal::VerificationKey;
use audit_state::StateDir;
use audit_views::verify::{self, Verdict, SHOWN};
use std::path::PathBuf;
use std::process::ExitCode;

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
    let report = verify::report(store.as_ref(), &location, key.as_ref(), Some(&daemon_state))?;
    let db = &report.store;
    if args.json {
        render::json_line(&mut std::io::stdout().lock(), &report)?;
    } else {
        let inspect = &report.inspect;
        println!(
            "{}: {} events in {}, chain head {}",
            report.verdict.headline(),
            report.events,
            render::escape(db),
            &chain::to_hex(&inspect.head)[..16]
        );
        let lines = report.lines();
        for line in lines.iter().take(SHOWN) {
            println!("  {line}");
        }
        if lines.len() > SHOWN {
            println!(
                "  … and {} more (--json lists {SHOWN})",
                lines.len() - SHOWN
            );
        }
        if inspect.unanalysed > 0 {
            println!(
                "  {} more records out of place were not analysed one by one",
                inspect.unanalysed
            );
        }
        println!("seals: {}", report.seals_text());
        for late in report.seals.iter().flat_map(|s| &s.late) {
            println!("note: {late}");
        }
    }
    match report.verdict {
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
