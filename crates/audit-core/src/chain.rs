//! The hash chain: each stored record's hash covers its canonical bytes and the previous hash,
//! so changing, removing, inserting or reordering any record breaks every hash after it.
//!
//! `hash(n) = BLAKE3-derive-key("tmux-audit event chain v1", hash(n-1) ‖ bytes(n))`, with
//! `hash(0)` = 32 zero bytes. **Frozen** like [`crate::encoding`]: the context string and the
//! order of the inputs must never change.
//!
//! The chain alone proves internal consistency; someone who rewrites the whole store can
//! recompute it. Seals signed with a key kept off the machine close that hole (a later feature).

use crate::encoding::{self, DecodeError};
use crate::event::Event;
use crate::time::Timestamp;
use thiserror::Error;

/// A 32-byte chain hash.
pub type ChainHash = [u8; 32];

/// The hash before the first record.
pub const GENESIS: ChainHash = [0; 32];

const CONTEXT: &str = "tmux-audit event chain v1";

/// The hash of a record with canonical `bytes` following a record whose hash is `prev`.
pub fn link(prev: &ChainHash, bytes: &[u8]) -> ChainHash {
    let mut h = blake3::Hasher::new_derive_key(CONTEXT);
    h.update(prev);
    h.update(bytes);
    *h.finalize().as_bytes()
}

/// Lower-case hex of a hash.
pub fn to_hex(hash: &ChainHash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn serialize_hex<S: serde::Serializer>(h: &ChainHash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&to_hex(h))
}

/// The first thing found wrong in a stored log. Every variant names the `seq` where it is.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ChainError {
    /// Records are missing (deleted) or the log does not start at 1.
    #[error("seq {expected}: missing; the next stored record is seq {found} (records deleted)")]
    Gap {
        /// The seq that should come next.
        expected: u64,
        /// The seq that does.
        found: u64,
    },
    /// The record's bytes say a different seq than where it is stored (moved or reordered).
    #[error("seq {stored}: record content says seq {encoded} (records moved or reordered)")]
    SeqMismatch {
        /// Where it is stored.
        stored: u64,
        /// What its bytes say.
        encoded: u64,
    },
    /// The record's bytes are not a valid event.
    #[error("seq {seq}: record is not a valid event: {error}")]
    Undecodable {
        /// Where.
        seq: u64,
        /// Why.
        error: DecodeError,
    },
    /// The stored hash does not match the record's bytes and the previous hash.
    #[error("seq {seq}: hash does not match the record and the chain before it (record changed, or an earlier one was)")]
    HashMismatch {
        /// Where.
        seq: u64,
    },
    /// A stored index column disagrees with the hashed record (the column was edited).
    #[error("seq {seq}: stored column {column} differs from the hashed record (column edited)")]
    IndexMismatch {
        /// Where.
        seq: u64,
        /// Which column.
        column: &'static str,
    },
    /// The stored output chunk does not match the digest its `pane-output` event carries.
    #[error("seq {}: output of pane {} from {} to {} was changed (chunk differs from its digest)", .0.seq, .0.pane_id, fmt_time(&.0.from), fmt_time(&.0.until))]
    ChunkMismatch(ChunkPlace),
    /// A `pane-output` event's chunk is gone.
    #[error("seq {}: output of pane {} from {} to {} is missing (chunk deleted)", .0.seq, .0.pane_id, fmt_time(&.0.from), fmt_time(&.0.until))]
    ChunkMissing(ChunkPlace),
    /// A stored chunk that no `pane-output` event covers (inserted).
    #[error("chunk stored under seq {seq} belongs to no pane-output event (chunk inserted)")]
    ChunkUnclaimed {
        /// Where it is stored.
        seq: u64,
    },
}

/// Where a damaged output chunk sits: its event and the pane and time range it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkPlace {
    /// The `pane-output` event's seq.
    pub seq: u64,
    /// The pane, `%N`.
    pub pane_id: String,
    /// Start of the chunk.
    pub from: Option<Timestamp>,
    /// End of the chunk.
    pub until: Option<Timestamp>,
}

fn fmt_time(t: &Option<Timestamp>) -> String {
    t.map_or_else(|| "?".to_owned(), |t| t.to_string())
}

impl ChainError {
    /// The seq the problem is at.
    pub fn seq(&self) -> u64 {
        match self {
            ChainError::Gap { expected, .. } => *expected,
            ChainError::SeqMismatch { stored, .. } => *stored,
            ChainError::Undecodable { seq, .. }
            | ChainError::HashMismatch { seq }
            | ChainError::IndexMismatch { seq, .. }
            | ChainError::ChunkUnclaimed { seq } => *seq,
            ChainError::ChunkMismatch(place) | ChainError::ChunkMissing(place) => place.seq,
        }
    }
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of records checked.
    pub records: u64,
    /// Hash of the last record ([`GENESIS`] for an empty log).
    pub head: ChainHash,
    /// The seals met, in order.
    pub seals: Vec<SealRecord>,
}

/// Checks records one by one, in stored order, from seq 1.
#[derive(Debug, Clone)]
pub struct Verifier {
    prev: ChainHash,
    next_seq: u64,
    seals: Vec<SealRecord>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            prev: GENESIS,
            next_seq: 1,
            seals: Vec::new(),
        }
    }
}

/// A `seal` record met while verifying, with the chain head it claims to seal (the record
/// before it): enough to check it with the verification key ([`crate::seal::check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealRecord {
    /// The seal record's own seq.
    pub seq: u64,
    /// Its epoch.
    pub epoch: Option<i64>,
    /// Its time.
    pub time: Timestamp,
    /// Its MAC, hex.
    pub seal: Option<String>,
    /// The hash of the record before it (what it seals).
    pub sealed_head: ChainHash,
}

impl Verifier {
    /// Checks the next stored record: its position, its bytes and its hash. Returns the decoded
    /// event so the caller can compare any index columns it keeps.
    pub fn push(&mut self, seq: u64, bytes: &[u8], hash: &[u8]) -> Result<Event, ChainError> {
        if seq != self.next_seq {
            return Err(ChainError::Gap {
                expected: self.next_seq,
                found: seq,
            });
        }
        let expected = link(&self.prev, bytes);
        if hash != expected {
            return Err(ChainError::HashMismatch { seq });
        }
        let (encoded, event) =
            encoding::decode(bytes).map_err(|error| ChainError::Undecodable { seq, error })?;
        if encoded != seq {
            return Err(ChainError::SeqMismatch {
                stored: seq,
                encoded,
            });
        }
        if event.kind == crate::event::Kind::Seal {
            self.seals.push(SealRecord {
                seq,
                epoch: event.epoch,
                time: event.time,
                seal: event.seal.clone(),
                sealed_head: self.prev,
            });
        }
        self.prev = expected;
        self.next_seq += 1;
        Ok(event)
    }

    /// The result so far.
    pub fn report(&self) -> VerifyReport {
        VerifyReport {
            records: self.next_seq - 1,
            head: self.prev,
            seals: self.seals.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Kind;
    use crate::time::Timestamp;

    fn log(n: u64) -> Vec<(u64, Vec<u8>, ChainHash)> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let e = Event::new(Timestamp(seq as i64), Kind::SessionCreated, "h", "s");
                let bytes = encoding::encode(seq, &e);
                prev = link(&prev, &bytes);
                (seq, bytes, prev)
            })
            .collect()
    }

    fn verify(records: &[(u64, Vec<u8>, ChainHash)]) -> Result<VerifyReport, ChainError> {
        let mut v = Verifier::default();
        for (seq, bytes, hash) in records {
            v.push(*seq, bytes, hash)?;
        }
        Ok(v.report())
    }

    #[test]
    fn intact_log_verifies() {
        let r = verify(&log(5)).unwrap();
        assert_eq!(r.records, 5);
    }

    #[test]
    fn any_flipped_byte_is_found_at_its_seq() {
        let good = log(3);
        for i in 0..good[1].1.len() {
            let mut bad = good.clone();
            bad[1].1[i] ^= 0x01;
            assert_eq!(verify(&bad).unwrap_err().seq(), 2, "byte {i}");
        }
    }

    #[test]
    fn deletion_and_reorder_are_named() {
        let mut deleted = log(4);
        deleted.remove(1);
        assert_eq!(
            verify(&deleted).unwrap_err(),
            ChainError::Gap {
                expected: 2,
                found: 3
            }
        );
        let mut swapped = log(4);
        swapped.swap(1, 2);
        assert!(verify(&swapped).is_err());
    }
}
