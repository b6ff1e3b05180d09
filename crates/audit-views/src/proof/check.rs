//! Checking a proof alone, with the verification key and without the store: relink the
//! stretch, check the seal it ends with, render the piece again and compare byte for byte.

use super::{ChunkLine, Header, Piece, RecordLine, MAGIC};
use crate::encode::{encode, Format};
use crate::recording::{checked_chunk, Recording, RecordingError};
use audit_core::chain::{self, ChainHash};
use audit_core::inspect::SealRecord;
use audit_core::seal::{self, VerificationKey};
use audit_core::{encoding, Kind, Stored};
use audit_screen::Window;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

/// Why a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The piece or its proof was changed, or they do not belong together.
    Tampered(String),
    /// Cannot tell: no key, another key, not a proof.
    Unchecked(String),
}

/// Checks the exported file `export` against its proof `proof` with `key`: a summary of what
/// was proven, or why it does not hold.
pub fn check(
    export: &Path,
    proof: &Path,
    key: Option<&VerificationKey>,
) -> Result<String, Refusal> {
    let unchecked = |why: String| Refusal::Unchecked(why);
    let key = key.ok_or_else(|| {
        unchecked(
            "--key is needed: only the verification key can tell a proof from a forgery".into(),
        )
    })?;
    let file = std::fs::File::open(proof)
        .map_err(|e| unchecked(format!("cannot read the proof {}: {e}", proof.display())))?;
    let mut lines = BufReader::new(file).lines();
    let not_proof = || unchecked(format!("{} is not a tmux-audit proof", proof.display()));
    let header: Header = lines
        .next()
        .and_then(|l| l.ok())
        .and_then(|l| serde_json::from_str(&l).ok())
        .filter(|h: &Header| h.proof == MAGIC)
        .ok_or_else(not_proof)?;
    let tampered = |why: String| Refusal::Tampered(why);
    let mut records: Vec<Vec<u8>> = Vec::new();
    let mut chunks: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for (n, line) in lines.enumerate() {
        let line = line.map_err(|e| unchecked(format!("cannot read the proof: {e}")))?;
        let bad = || tampered(format!("line {} of the proof is damaged", n + 2));
        if let Ok(r) = serde_json::from_str::<RecordLine>(&line) {
            if r.seq != header.start_seq + records.len() as u64 {
                return Err(tampered(format!(
                    "the proof's records are not consecutive at seq {}",
                    r.seq
                )));
            }
            records.push(B64.decode(r.data).map_err(|_| bad())?);
        } else if let Ok(c) = serde_json::from_str::<ChunkLine>(&line) {
            chunks.insert(c.chunk, B64.decode(c.data).map_err(|_| bad())?);
        } else {
            return Err(bad());
        }
    }

    // Relink the stretch, then check the seal it ends with.
    let mut prev: ChainHash = chain::from_hex(&header.prev_hash).ok_or_else(not_proof)?;
    let mut stored: BTreeMap<u64, Stored> = BTreeMap::new();
    let mut sealed_head = prev;
    for (i, bytes) in records.iter().enumerate() {
        let at = header.start_seq + i as u64;
        let (seq, event) = encoding::decode(bytes).map_err(|e| {
            tampered(format!(
                "record {at} in the proof is not a valid event: {e}"
            ))
        })?;
        if seq != at {
            return Err(tampered(format!(
                "record {at} in the proof says it is seq {seq}"
            )));
        }
        sealed_head = prev;
        prev = chain::link(&prev, bytes);
        stored.insert(
            seq,
            Stored {
                seq,
                event,
                hash: prev,
            },
        );
    }
    let last = stored
        .values()
        .next_back()
        .filter(|s| s.seq == header.seal_seq && s.event.kind == Kind::Seal)
        .ok_or_else(|| tampered("the proof does not end with its seal".into()))?;
    let seal_record = SealRecord {
        seq: last.seq,
        epoch: last.event.epoch,
        time: last.event.time,
        seal: last.event.seal.clone(),
        key_id: last.event.key_id.clone(),
        sealed_head,
        earliest: None,
    };
    let report = seal::check(&[seal_record], last.seq, key);
    if let Some(problem) = report.problems.first() {
        return Err(if problem.is_wrong_key() {
            unchecked(problem.to_string())
        } else {
            tampered(format!(
                "the proof's records are not what was sealed ({problem})"
            ))
        });
    }
    let sealed_at = last.event.time;

    // Render the piece again from the proven records and compare.
    let exported = std::fs::read(export)
        .map_err(|e| unchecked(format!("cannot read {}: {e}", export.display())))?;
    let rendered = render_again(&header.piece, &stored, &chunks).map_err(tampered)?;
    if rendered != exported {
        let at = rendered
            .iter()
            .zip(&exported)
            .position(|(a, b)| a != b)
            .unwrap_or(rendered.len().min(exported.len()));
        return Err(tampered(format!(
            "the exported file differs from what the sealed records hold, from byte {at} ({} bytes exported, {} proven)",
            exported.len(),
            rendered.len()
        )));
    }
    let what = match &header.piece {
        Piece::Pane {
            format,
            pane,
            server,
            chunks,
            ..
        } => format!(
            "{format} of pane {pane} on {server} from {} output chunk{}",
            chunks.len(),
            if chunks.len() == 1 { "" } else { "s" }
        ),
        Piece::Events { seqs } => format!("{} events", seqs.len()),
    };
    Ok(format!(
        "{what}, records {}..{} relinked and sealed at seq {} ({sealed_at}) under key {}",
        header.start_seq,
        header.seal_seq,
        header.seal_seq,
        key.key_id()
    ))
}

/// The exported bytes as the proven records produce them.
fn render_again(
    piece: &Piece,
    stored: &BTreeMap<u64, Stored>,
    chunks: &BTreeMap<u64, Vec<u8>>,
) -> Result<Vec<u8>, String> {
    let get = |seq: &u64| {
        stored
            .get(seq)
            .ok_or_else(|| format!("record {seq} the export names is not in the proof"))
    };
    let mut out = Vec::new();
    match piece {
        Piece::Events { seqs } => {
            for seq in seqs {
                serde_json::to_writer(&mut out, get(seq)?).map_err(|e| e.to_string())?;
                out.push(b'\n');
            }
        }
        Piece::Pane {
            format,
            server,
            pane,
            chunks: seqs,
            from,
            to,
        } => {
            let mut events = Vec::new();
            for seq in seqs {
                let s = get(seq)?;
                let e = &s.event;
                if e.kind != Kind::PaneOutput
                    || e.server != *server
                    || e.pane_id.as_deref() != Some(pane.as_str())
                {
                    return Err(format!(
                        "record {seq} is not output of pane {pane} on {server}"
                    ));
                }
                events.push(s.clone());
            }
            let rec = Recording {
                server: server.clone(),
                pane_id: pane.clone(),
                events,
                window: Window {
                    from: *from,
                    to: *to,
                },
            };
            let load = |s: &Stored| {
                let data = chunks
                    .get(&s.seq)
                    .ok_or(RecordingError::NotInProof { seq: s.seq })?;
                checked_chunk(s, data)
            };
            let format = Format::from_name(format)
                .ok_or_else(|| format!("unknown export format {format}"))?;
            let mut encoder = format.encoder(rec.describe(), false);
            let mut write = |bytes: &[u8]| out.write_all(bytes);
            encode(&rec, &load, encoder.as_mut(), &mut write).map_err(|e| format!("{e:#}"))?;
        }
    }
    Ok(out)
}
