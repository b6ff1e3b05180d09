//! Writing a proof: the stretch of records from a piece's first to the first seal after its
//! last, the chain hash before it, and the chunks the piece was rendered from.

use super::{ChunkLine, Header, Piece, RecordLine, MAGIC};
use audit_core::chain::{self, ChainHash, GENESIS};
use audit_core::{encoding, Kind, Stored};
use audit_state::StateDir;
use audit_store::{Reader, StoreError};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::io::Write;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why a proof could not be written.
#[derive(Debug, Error)]
pub enum ProofError {
    /// Nothing was exported.
    #[error("nothing was exported, so there is nothing to prove")]
    Empty,
    /// No seal covers the piece (yet).
    #[error("no seal covers record {last} yet, so nothing can prove it: {why}")]
    NotSealed {
        /// The piece's last record.
        last: u64,
        /// Why none does.
        why: &'static str,
    },
    /// A chunk the piece names is not stored.
    #[error("event {seq} has no stored chunk (run tmux-audit verify)")]
    NoChunk {
        /// Its event.
        seq: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The proof could not be written out.
    #[error(transparent)]
    Write(#[from] std::io::Error),
}

/// What a written proof covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// Its first record.
    pub first: u64,
    /// The seal it ends with.
    pub seal: u64,
}

fn line<T: serde::Serialize>(out: &mut dyn Write, value: &T) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// Writes the proof of `piece` (exported bytes with `digest`) to `out`. Waits for the next
/// seal when the piece's last record is not sealed yet and a daemon is recording.
pub fn write(
    store: &dyn Reader,
    state: &StateDir,
    piece: Piece,
    digest: (String, u64),
    out: &mut dyn Write,
) -> Result<Written, ProofError> {
    let seqs: Vec<u64> = match &piece {
        Piece::Pane { chunks, .. } => chunks.clone(),
        Piece::Events { seqs } => seqs.clone(),
    };
    let (Some(&first), Some(&last)) = (seqs.iter().min(), seqs.iter().max()) else {
        return Err(ProofError::Empty);
    };
    let (prev_hash, records) = stretch(store, first, last, state)?;
    let seal_seq = records.last().map_or(0, |s| s.seq);
    let header = Header {
        proof: MAGIC.into(),
        piece,
        export_blake3: digest.0,
        export_bytes: digest.1,
        start_seq: first,
        prev_hash: chain::to_hex(&prev_hash),
        seal_seq,
    };
    line(out, &header)?;
    for s in &records {
        let data = B64.encode(encoding::encode(s.seq, &s.event));
        line(out, &RecordLine { seq: s.seq, data })?;
    }
    if let Piece::Pane { chunks, .. } = &header.piece {
        for &seq in chunks {
            let data = store.chunk(seq)?.ok_or(ProofError::NoChunk { seq })?;
            let data = B64.encode(data);
            line(out, &ChunkLine { chunk: seq, data })?;
        }
    }
    out.flush()?;
    Ok(Written {
        first,
        seal: seal_seq,
    })
}

/// The chain hash before `first`, and the records `first..=S` where S is the first seal after
/// `last` (waiting up to two sealing intervals for it while a daemon records).
fn stretch(
    store: &dyn Reader,
    first: u64,
    last: u64,
    daemon: &StateDir,
) -> Result<(ChainHash, Vec<Stored>), ProofError> {
    let deadline = Instant::now() + wait_for_seal(daemon);
    loop {
        let mut prev = GENESIS;
        let mut records = Vec::new();
        let mut sealed = false;
        // From the record before `first` (whose hash it links to) on.
        store.events_after(first.saturating_sub(2), usize::MAX, &mut |s| {
            if s.seq + 1 == first {
                prev = s.hash;
            }
            if s.seq >= first {
                let seal = s.seq > last && s.event.kind == Kind::Seal;
                records.push(s);
                if seal {
                    sealed = true;
                    return false;
                }
            }
            true
        })?;
        if sealed {
            return Ok((prev, records));
        }
        let recording = daemon.is_recording() == Some(true);
        if !recording || Instant::now() >= deadline {
            let why = if recording {
                "the daemon recording it has not sealed it in time"
            } else if daemon.seal_path().exists() {
                "no daemon is recording, and the last records were never sealed (the daemon was killed?)"
            } else {
                "this store has no sealing state (tmux-audit seal init)"
            };
            return Err(ProofError::NotSealed { last, why });
        }
        // Each scan is its own read transaction, so the next one sees a new seal.
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How long to wait for the next seal: two sealing intervals (the state says), else 35 s.
fn wait_for_seal(daemon: &StateDir) -> Duration {
    daemon
        .sealing_key()
        .ok()
        .flatten()
        .map_or(Duration::from_secs(35), |k| {
            Duration::from_micros(k.schedule().interval_us * 2) + Duration::from_secs(5)
        })
}
