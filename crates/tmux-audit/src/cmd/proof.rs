//! Portable proofs: an exported piece that a third party can check alone, with the
//! verification key and without the store.
//!
//! A proof holds the canonical bytes of every record from the piece's first record up to the
//! first seal after its last, the chain hash before that stretch, and the output chunks the
//! piece was rendered from. Checking it relinks the stretch, checks the seal at its end with the
//! key (so the stretch is what the daemon sealed: a forger without the key cannot make another
//! stretch end in a good seal), then renders the piece again from the proven records and
//! compares it with the exported file byte for byte. The records in between are in the proof in
//! full: it reveals the metadata of what was recorded meanwhile (not other panes' output).
//!
//! The file is JSON lines: a header object, then `{"seq":N,"data":BASE64}` per record and
//! `{"chunk":N,"data":BASE64}` per output chunk.

use crate::common::Global;
use crate::render;
use anyhow::{bail, Context, Result};
use audit_core::chain::{self, ChainHash, GENESIS};
use audit_core::inspect::SealRecord;
use audit_core::seal::{self, VerificationKey};
use audit_core::{encoding, Kind, Stored};
use audit_screen::Window;
use audit_state::StateDir;
use audit_store::EventStore;
use audit_views::recording::{Recording, RecordingError};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const MAGIC: &str = "tmux-audit proof v1";

/// What was exported, enough to render it again from the proven records.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = "piece", rename_all = "kebab-case")]
pub enum Piece {
    /// `export PANE --format F`: the pane-output records it was rendered from, and the window.
    Pane {
        /// `asciicast`, `asciicast-v3`, `txt` or `raw`.
        format: String,
        /// The server's socket path.
        server: String,
        /// `%N`.
        pane: String,
        /// The pane-output records rendered, in order.
        chunks: Vec<u64>,
        /// `--from` as resolved (µs).
        from: Option<i64>,
        /// `--to` as resolved (µs).
        to: Option<i64>,
    },
    /// `log --json`: the records printed, in order.
    Events {
        /// Their seqs.
        seqs: Vec<u64>,
    },
}

#[derive(Serialize, Deserialize)]
struct Header {
    proof: String,
    #[serde(flatten)]
    piece: Piece,
    /// BLAKE3 of the exported file, and its length: named here so a mismatch can say so early.
    export_blake3: String,
    export_bytes: u64,
    /// The first record in the proof, and the chain hash before it.
    start_seq: u64,
    prev_hash: String,
    /// The seal record the stretch ends with.
    seal_seq: u64,
}

#[derive(Serialize, Deserialize)]
struct RecordLine {
    seq: u64,
    data: String,
}

#[derive(Serialize, Deserialize)]
struct ChunkLine {
    chunk: u64,
    data: String,
}

/// A writer that keeps the BLAKE3 and length of what passes through it.
pub struct Hashing<W> {
    inner: W,
    hasher: blake3::Hasher,
    len: u64,
}

impl<W: Write> Hashing<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Hashing {
            inner,
            hasher: blake3::Hasher::new(),
            len: 0,
        }
    }

    /// The digest (hex) and length of what was written.
    pub fn digest(&self) -> (String, u64) {
        (self.hasher.finalize().to_hex().to_string(), self.len)
    }

    /// The wrapped writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the proof of `piece` (exported bytes with `digest`) to `path`. Waits for the next
/// seal when the piece's last record is not sealed yet and a daemon is recording.
pub fn write(
    global: &Global,
    store: &dyn EventStore,
    piece: Piece,
    digest: (String, u64),
    path: &Path,
) -> Result<()> {
    let seqs: Vec<u64> = match &piece {
        Piece::Pane { chunks, .. } => chunks.clone(),
        Piece::Events { seqs } => seqs.clone(),
    };
    let (Some(&first), Some(&last)) = (seqs.iter().min(), seqs.iter().max()) else {
        bail!("nothing was exported, so there is nothing to prove");
    };
    let (prev_hash, records) = stretch(store, first, last, &global.state_dir()?)?;
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
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    let written = (|| -> Result<()> {
        render::json_line(&mut out, &header)?;
        for s in &records {
            let data = B64.encode(encoding::encode(s.seq, &s.event));
            render::json_line(&mut out, &RecordLine { seq: s.seq, data })?;
        }
        if let Piece::Pane { chunks, .. } = &header.piece {
            for &seq in chunks {
                let data = store.chunk(seq)?.with_context(|| {
                    format!("event {seq} has no stored chunk (run tmux-audit verify)")
                })?;
                let data = B64.encode(data);
                render::json_line(&mut out, &ChunkLine { chunk: seq, data })?;
            }
        }
        out.flush()?;
        Ok(())
    })();
    if let Err(e) = written {
        drop(out);
        let _ = std::fs::remove_file(path);
        return Err(e.context(format!("cannot write the proof {}", path.display())));
    }
    eprintln!(
        "tmux-audit: proof written to {}: records {first}..{seal_seq}, ending with the seal at seq {seal_seq}",
        path.display()
    );
    Ok(())
}

/// The chain hash before `first`, and the records `first..=S` where S is the first seal after
/// `last` (waiting up to two sealing intervals for it while a daemon records).
fn stretch(
    store: &dyn EventStore,
    first: u64,
    last: u64,
    daemon: &StateDir,
) -> Result<(ChainHash, Vec<Stored>)> {
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
            bail!("no seal covers record {last} yet, so nothing can prove it: {why}");
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

/// Why a proof does not hold.
enum Refusal {
    /// The piece or its proof was changed, or they do not belong together: exit 1.
    Tampered(String),
    /// Cannot tell: no key, another key, not a proof: exit 2.
    Unchecked(String),
}

/// `verify --export FILE --proof PROOF --key KEY`.
pub fn verify(
    export: &Path,
    proof: &Path,
    key: Option<&VerificationKey>,
    json: bool,
) -> Result<ExitCode> {
    let outcome = check(export, proof, key);
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

fn check(export: &Path, proof: &Path, key: Option<&VerificationKey>) -> Result<String, Refusal> {
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
                render::json_line(&mut out, get(seq)?).map_err(|e| e.to_string())?;
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
                audit_views::recording::checked_chunk(s, data)
            };
            let format = audit_views::encode::Format::from_name(format)
                .ok_or_else(|| format!("unknown export format {format}"))?;
            let mut encoder = format.encoder(rec.describe(), false);
            let mut write = |bytes: &[u8]| out.write_all(bytes);
            audit_views::encode::encode(&rec, &load, encoder.as_mut(), &mut write)
                .map_err(|e| format!("{e:#}"))?;
        }
    }
    Ok(out)
}
