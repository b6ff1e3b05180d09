//! `--proof FILE` and `verify --export FILE --proof PROOF`: proofs are written and checked by
//! `audit_views::proof`; here they meet files and the terminal.

use crate::common::Global;
use crate::render;
use anyhow::{Context, Result};
use audit_core::seal::VerificationKey;
use audit_store::EventStore;
use audit_views::proof::{self, Refusal};
pub use audit_views::proof::{Hashing, Piece};
use serde_json::json;
use std::io::BufWriter;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::ExitCode;

/// Writes the proof of `piece` (exported bytes with `digest`) to `path`, owner-only; a proof
/// that could not be written whole is removed. Waits for the next seal when the piece's last
/// record is not sealed yet and a daemon is recording.
pub fn write(
    global: &Global,
    store: &dyn EventStore,
    piece: Piece,
    digest: (String, u64),
    path: &Path,
) -> Result<()> {
    let state = global.state_dir()?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    match proof::write(store, &state, piece, digest, &mut out) {
        Ok(written) => {
            eprintln!(
                "tmux-audit: proof written to {}: records {}..{}, ending with the seal at seq {}",
                path.display(),
                written.first,
                written.seal,
                written.seal
            );
            Ok(())
        }
        Err(e) => {
            drop(out);
            let _ = std::fs::remove_file(path);
            let e = anyhow::Error::from(e);
            Err(e.context(format!("cannot write the proof {}", path.display())))
        }
    }
}

/// `verify --export FILE --proof PROOF --key KEY`.
pub fn verify(
    export: &Path,
    proof: &Path,
    key: Option<&VerificationKey>,
    json: bool,
) -> Result<ExitCode> {
    let outcome = proof::check(export, proof, key);
    let mut out = std::io::stdout().lock();
    let (status, code, message) = match &outcome {
        Ok(summary) => ("intact", 0, summary.clone()),
        Err(Refusal::Tampered(why)) => ("tampered", 1, why.clone()),
        Err(Refusal::Unchecked(why)) => ("unchecked", 2, why.clone()),
    };
    if json {
        render::json_line(
            &mut out,
            &json!({"status": status, "export": export.display().to_string(),
                    "proof": proof.display().to_string(), "message": message}),
        )?;
    } else {
        let word = match status {
            "intact" => "intact",
            "tampered" => "TAMPERED",
            _ => "NOT CHECKED",
        };
        println!(
            "{word}: {}: {}",
            render::escape(&export.display().to_string()),
            render::escape(&message)
        );
    }
    if code != 0 {
        eprintln!(
            "tmux-audit: verify: {} {}",
            export.display(),
            if code == 1 {
                "does not match its proof"
            } else {
                "could not be checked"
            }
        );
    }
    Ok(ExitCode::from(code))
}
