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

use serde::{Deserialize, Serialize};
use std::io::Write;

mod check;
mod write;

pub use check::{check, Refusal};
pub use write::{write, ProofError, Written};

pub(crate) const MAGIC: &str = "tmux-audit proof v1";

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

impl Piece {
    /// The piece `rec` rendered as `format` is (what `export` and the web UI's download prove).
    pub fn pane(rec: &crate::recording::Recording, format: crate::encode::Format) -> Piece {
        Piece::Pane {
            format: format.name().into(),
            server: rec.server.clone(),
            pane: rec.pane_id.clone(),
            chunks: rec.needed().iter().map(|s| s.seq).collect(),
            from: rec.window.from,
            to: rec.window.to,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Header {
    pub(crate) proof: String,
    #[serde(flatten)]
    pub(crate) piece: Piece,
    /// BLAKE3 of the exported file, and its length: named here so a mismatch can say so early.
    pub(crate) export_blake3: String,
    pub(crate) export_bytes: u64,
    /// The first record in the proof, and the chain hash before it.
    pub(crate) start_seq: u64,
    pub(crate) prev_hash: String,
    /// The seal record the stretch ends with.
    pub(crate) seal_seq: u64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct RecordLine {
    pub(crate) seq: u64,
    pub(crate) data: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ChunkLine {
    pub(crate) chunk: u64,
    pub(crate) data: String,
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
