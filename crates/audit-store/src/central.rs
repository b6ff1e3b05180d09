//! A central store's intake: what a collector asks of the store a fleet ships into.
//!
//! A host ships exactly what its own store holds for each `seq` — the canonical bytes, the
//! chain hash and, for `pane-output`, the chunk — in chain order. The center keeps one chain
//! per enrolled host and accepts a record only if it links to that host's record before it
//! ([`check_link`]: the same strict decoding, canonical encoding and chain as a local store's
//! `verify`), so what is central is provably what the host recorded, and a host rewritten
//! after shipping cannot rewrite the center. A record that does not link is refused and kept
//! aside as evidence ([`Verdict::Forked`]); the host's earlier record stands.
//!
//! Identity comes from the token the collector authenticated, never from the records: the
//! `host` a record carries is what the host says of itself, the enrolled name is what the center
//! files it under and what `--host` matches.

use crate::StoreError;
use audit_core::chain::{self, ChainHash, GENESIS};
use audit_core::{encoding, Event, Kind, Timestamp};
use thiserror::Error;

/// The name of the center's own chain: events the center itself records (`chain-fork`, the
/// `audit-access` of people viewing the central store). Enrolled names cannot take it: they
/// never contain `@`.
pub const CENTER: &str = "@center";

/// One record as a host shipped it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shipped {
    /// Its position in the host's chain.
    pub seq: u64,
    /// Its canonical bytes (`audit_core::encoding`), exactly as the host stored and hashed them.
    pub data: Vec<u8>,
    /// Its chain hash on the host.
    pub hash: ChainHash,
    /// The compressed chunk a `pane-output` record stands for; `None` for every other kind.
    pub chunk: Option<Vec<u8>>,
}

/// Where a host's central chain ends: what the collector acknowledges, and where a host
/// resumes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostHead {
    /// The last seq held (0: nothing yet).
    pub seq: u64,
    /// Its chain hash ([`GENESIS`] when nothing is held).
    pub hash: ChainHash,
}

impl HostHead {
    /// The head of a chain with nothing in it.
    pub const EMPTY: HostHead = HostHead {
        seq: 0,
        hash: GENESIS,
    };
}

/// What the center did with a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every record linked (records already held, identical, were skipped: a batch resent after
    /// a lost acknowledgement stores nothing twice); `head` is the chain's end now.
    Stored {
        /// The host's central head after the batch.
        head: HostHead,
        /// How many records were new.
        added: usize,
    },
    /// The batch starts after the head: records are missing in between. Nothing was stored;
    /// the host resumes from `head`.
    Gap {
        /// The host's central head, unchanged.
        head: HostHead,
    },
    /// A record does not link (or differs from the one held at its seq). Nothing of the batch
    /// from that record on was stored; it is kept aside as evidence and a `chain-fork` event
    /// is in the center's chain. Records before it that linked were stored.
    Forked {
        /// The host's central head (its record before the fork stands).
        head: HostHead,
        /// The seq of the first record refused.
        seq: u64,
        /// Why it does not link.
        why: LinkError,
    },
}

/// A central store: the fleet's hosts, their tokens and their chains.
pub trait Intake: Send {
    /// The enrolled, unrevoked host whose token this is (the token as the host presented it;
    /// the store holds only its hash).
    fn host_of_token(&self, token: &str) -> Result<Option<String>, StoreError>;

    /// Where `host`'s central chain ends.
    fn host_head(&self, host: &str) -> Result<HostHead, StoreError>;

    /// Checks and stores a batch of `host`'s records, in order, all `received` at that time
    /// (the collector's clock: a seal stored with it shows when the center first held it).
    /// `text` gives the rendered text of each `pane-output` record's chunk (by position in
    /// `batch`), for the full-text index; the center renders it itself rather than trust the
    /// host's. Safe against other collectors writing the same store at once.
    fn accept(
        &mut self,
        host: &str,
        batch: &[Shipped],
        text: &[Option<String>],
        received: Timestamp,
        peer: &str,
    ) -> Result<Verdict, StoreError>;
}

/// Why a shipped record does not link to the record before it.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum LinkError {
    /// Its bytes are not a record (or not in canonical form).
    #[error("seq {seq}: not a canonical record: {what}")]
    Malformed {
        /// The seq it was shipped as.
        seq: u64,
        /// What is wrong.
        what: String,
    },
    /// It names another seq than the one it was shipped as, or than the one that comes next.
    #[error("seq {seq}: expected seq {expected}")]
    OutOfOrder {
        /// The seq it was shipped as.
        seq: u64,
        /// The seq that comes next.
        expected: u64,
    },
    /// Its hash is not the chain's link from the record before it.
    #[error("seq {seq}: its hash does not follow from the record before it (rewritten history, or a record of another chain)")]
    Unlinked {
        /// The seq.
        seq: u64,
    },
    /// The center already holds another record at this seq.
    #[error("seq {seq}: differs from the record the center already holds at this seq")]
    Differs {
        /// The seq.
        seq: u64,
    },
    /// A `pane-output` record without its chunk, a chunk that is not the one its record's digest
    /// names, or a chunk with another kind of record.
    #[error("seq {seq}: {what}")]
    Chunk {
        /// The seq.
        seq: u64,
        /// What is wrong.
        what: &'static str,
    },
}

/// Checks that `record` is the record after `prev` in a chain: canonical bytes that decode to
/// the seq it was shipped as, the next seq, the chain's link from `prev`, and the chunk its
/// digest names (exactly when it is `pane-output`). Returns the decoded event.
pub fn check_link(prev: &HostHead, record: &Shipped) -> Result<Event, LinkError> {
    let seq = record.seq;
    let (decoded_seq, event) =
        encoding::decode(&record.data).map_err(|e| LinkError::Malformed {
            seq,
            what: e.to_string(),
        })?;
    if encoding::encode(decoded_seq, &event) != record.data {
        return Err(LinkError::Malformed {
            seq,
            what: "bytes are not the event's canonical encoding".into(),
        });
    }
    let expected = prev.seq + 1;
    if decoded_seq != seq || seq != expected {
        return Err(LinkError::OutOfOrder { seq, expected });
    }
    if chain::link(&prev.hash, &record.data) != record.hash {
        return Err(LinkError::Unlinked { seq });
    }
    match (&record.chunk, event.kind == Kind::PaneOutput) {
        (None, true) => {
            return Err(LinkError::Chunk {
                seq,
                what: "a pane-output record shipped without its chunk",
            })
        }
        (Some(_), false) => {
            return Err(LinkError::Chunk {
                seq,
                what: "a chunk shipped with a record that is not pane-output",
            })
        }
        (Some(chunk), true) => {
            let digest = blake3::hash(chunk).to_hex();
            if event.digest.as_deref() != Some(digest.as_str()) {
                return Err(LinkError::Chunk {
                    seq,
                    what: "the chunk is not the one its record's digest names",
                });
            }
        }
        (None, false) => {}
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(prev: &HostHead, event: &Event, chunk: Option<Vec<u8>>) -> Shipped {
        let seq = prev.seq + 1;
        let data = encoding::encode(seq, event);
        let hash = chain::link(&prev.hash, &data);
        Shipped {
            seq,
            data,
            hash,
            chunk,
        }
    }

    fn head_after(r: &Shipped) -> HostHead {
        HostHead {
            seq: r.seq,
            hash: r.hash,
        }
    }

    #[test]
    fn a_chain_links_and_every_kind_of_break_is_named() {
        let e = Event::new(Timestamp::from_secs(1), Kind::ClientAttached, "h", "/s");
        let first = record(&HostHead::EMPTY, &e, None);
        assert_eq!(check_link(&HostHead::EMPTY, &first).unwrap(), e);
        let head = head_after(&first);
        let second = record(&head, &e, None);
        assert!(check_link(&head, &second).is_ok());

        // Replayed: the first record again after it.
        assert_eq!(
            check_link(&head, &first),
            Err(LinkError::OutOfOrder {
                seq: 1,
                expected: 2
            })
        );
        // Rewritten: right seq, another history before it.
        let other = HostHead {
            seq: 1,
            hash: [7; 32],
        };
        let forged = record(&other, &e, None);
        assert_eq!(
            check_link(&head, &forged),
            Err(LinkError::Unlinked { seq: 2 })
        );
        // Shipped under another seq than its bytes say.
        let mut moved = second.clone();
        moved.seq = 3;
        assert!(matches!(
            check_link(&head, &moved),
            Err(LinkError::OutOfOrder { .. })
        ));
        // Not a record.
        let mut garbage = second.clone();
        garbage.data = b"TAE1 garbage".to_vec();
        assert!(matches!(
            check_link(&head, &garbage),
            Err(LinkError::Malformed { .. })
        ));
        // A chunk where none belongs.
        let mut stray = second;
        stray.chunk = Some(vec![1]);
        assert!(matches!(
            check_link(&head, &stray),
            Err(LinkError::Chunk { .. })
        ));
    }

    #[test]
    fn output_links_only_with_the_chunk_its_digest_names() {
        let chunk = b"a chunk".to_vec();
        let mut e = Event::new(Timestamp::from_secs(1), Kind::PaneOutput, "h", "/s");
        e.digest = Some(blake3::hash(&chunk).to_hex().to_string());
        let good = record(&HostHead::EMPTY, &e, Some(chunk));
        assert!(check_link(&HostHead::EMPTY, &good).is_ok());
        let mut swapped = good.clone();
        swapped.chunk = Some(b"another chunk".to_vec());
        assert!(matches!(
            check_link(&HostHead::EMPTY, &swapped),
            Err(LinkError::Chunk { .. })
        ));
        let mut missing = good;
        missing.chunk = None;
        assert!(matches!(
            check_link(&HostHead::EMPTY, &missing),
            Err(LinkError::Chunk { .. })
        ));
    }
}
