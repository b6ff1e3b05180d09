//! Inspecting a stored log: every record checked against the chain, and everything wrong with
//! it named — not only the first break, and in the terms an auditor asks about (this record was
//! changed, these were deleted, this one was inserted, these were reordered).
//!
//! Each record's content carries its own seq and its hash links it to the record that preceded
//! it when it was written. So a record that is *original* — its hash follows from the
//! hash of *some* stored record whose content says the seq before — still proves its place
//! after being moved, and a record that is not original was changed or made up. A store that
//! was not touched holds only original records at the seq their content says; the inspector
//! keeps a note of every other record (an *anomaly*) and reads the pattern they form when the
//! scan ends. Lookups reach back [`WINDOW`] records: enough for any edit a person makes by hand,
//! and memory stays bounded on a store of any size.

use crate::chain::{link, ChainHash, GENESIS};
use crate::encoding::{self, DecodeError};
use crate::event::{Event, Kind};
use crate::time::Timestamp;
use std::collections::{HashMap, VecDeque};
use std::fmt;

/// How many records back a moved record's predecessor is looked for.
pub const WINDOW: usize = 4096;

/// Anomalies kept in memory at most (a store renumbered throughout has one per record).
const MAX_ANOMALIES: usize = 4_000_000;

/// Something wrong with a stored log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The record no longer matches its place in the chain: its content (or its hash) changed.
    Changed {
        /// Where it is stored.
        seq: u64,
    },
    /// The record's bytes are not a valid event any more.
    Undecodable {
        /// Where it is stored.
        seq: u64,
        /// Why.
        error: DecodeError,
    },
    /// Records missing from the chain (by the seq their content carried).
    Deleted {
        /// First missing seq.
        from: u64,
        /// Last missing seq.
        to: u64,
    },
    /// Stored records that are not part of the chain: made up and slipped in.
    Inserted {
        /// First stored seq.
        from: u64,
        /// Last stored seq.
        to: u64,
    },
    /// Original records stored under another seq than their content says (`seq - by`): the
    /// seq column was rewritten to close a gap or make room.
    Renumbered {
        /// First stored seq.
        from: u64,
        /// Last stored seq.
        to: u64,
        /// Stored seq minus the seq the content says.
        by: i64,
    },
    /// Original records, all present, in another order.
    Reordered {
        /// First stored seq of the stretch.
        from: u64,
        /// Last stored seq of the stretch.
        to: u64,
    },
    /// A stored index column disagrees with the hashed record (the column was edited).
    ColumnEdited {
        /// Where.
        seq: u64,
        /// Which column.
        column: &'static str,
    },
    /// A stored output chunk differs from the digest its `pane-output` event carries.
    ChunkChanged(ChunkPlace),
    /// A `pane-output` event's chunk is gone.
    ChunkMissing(ChunkPlace),
    /// A stored chunk that no `pane-output` event stands for.
    ChunkUnclaimed {
        /// The seq it is stored under.
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

impl Finding {
    /// A short name for JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Finding::Changed { .. } => "changed",
            Finding::Undecodable { .. } => "undecodable",
            Finding::Deleted { .. } => "deleted",
            Finding::Inserted { .. } => "inserted",
            Finding::Renumbered { .. } => "renumbered",
            Finding::Reordered { .. } => "reordered",
            Finding::ColumnEdited { .. } => "column-edited",
            Finding::ChunkChanged(_) => "output-changed",
            Finding::ChunkMissing(_) => "output-missing",
            Finding::ChunkUnclaimed { .. } => "output-inserted",
        }
    }

    /// The seq range it is about (stored seqs; for `Deleted`, the missing ones).
    pub fn seqs(&self) -> (u64, u64) {
        match self {
            Finding::Changed { seq }
            | Finding::Undecodable { seq, .. }
            | Finding::ColumnEdited { seq, .. }
            | Finding::ChunkUnclaimed { seq } => (*seq, *seq),
            Finding::Deleted { from, to }
            | Finding::Inserted { from, to }
            | Finding::Renumbered { from, to, .. }
            | Finding::Reordered { from, to } => (*from, *to),
            Finding::ChunkChanged(p) | Finding::ChunkMissing(p) => (p.seq, p.seq),
        }
    }
}

fn seqs(from: u64, to: u64) -> String {
    if from == to {
        format!("seq {from}")
    } else {
        format!("seq {from}..{to}")
    }
}

fn time(t: &Option<Timestamp>) -> String {
    t.map_or_else(|| "?".to_owned(), |t| t.to_string())
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Changed { seq } => write!(f, "seq {seq}: changed (the record no longer matches the chain)"),
            Finding::Undecodable { seq, error } => {
                write!(f, "seq {seq}: changed (no longer a valid event: {error})")
            }
            Finding::Deleted { from, to } => {
                write!(f, "{}: deleted ({} missing)", seqs(*from, *to), records(to - from + 1))
            }
            Finding::Inserted { from, to } => write!(
                f,
                "{}: inserted ({} not part of the chain)",
                seqs(*from, *to),
                records(to - from + 1)
            ),
            Finding::Renumbered { from, to, by } => write!(
                f,
                "{}: renumbered (each holds the original record {}, moved {} to close a gap or make room)",
                seqs(*from, *to),
                if *by > 0 { format!("seq - {by}") } else { format!("seq + {}", -by) },
                if *by > 0 { "up" } else { "down" }
            ),
            Finding::Reordered { from, to } => write!(
                f,
                "{}: reordered (the original records, all present, in another order)",
                seqs(*from, *to)
            ),
            Finding::ColumnEdited { seq, column } => write!(
                f,
                "seq {seq}: column {column} edited (differs from the hashed record)"
            ),
            Finding::ChunkChanged(p) => write!(
                f,
                "seq {}: output of pane {} from {} to {} changed (the chunk differs from its digest)",
                p.seq, p.pane_id, time(&p.from), time(&p.until)
            ),
            Finding::ChunkMissing(p) => write!(
                f,
                "seq {}: output of pane {} from {} to {} deleted (its chunk is gone)",
                p.seq, p.pane_id, time(&p.from), time(&p.until)
            ),
            Finding::ChunkUnclaimed { seq } => write!(
                f,
                "seq {seq}: a stored output chunk belongs to no pane-output event (inserted)"
            ),
        }
    }
}

fn records(n: u64) -> String {
    if n == 1 {
        "1 record".into()
    } else {
        format!("{n} records")
    }
}

/// A `seal` record met while inspecting, with the chain head it claims to seal (the hash of
/// the record before it): enough to check it with the verification key
/// ([`crate::seal::check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealRecord {
    /// The seal record's seq (as its content says).
    pub seq: u64,
    /// Its epoch.
    pub epoch: Option<i64>,
    /// Its time.
    pub time: Timestamp,
    /// Its MAC, hex.
    pub seal: Option<String>,
    /// The id of the key it names.
    pub key_id: Option<String>,
    /// The hash of the record before it (what it seals).
    pub sealed_head: ChainHash,
    /// The earliest time of the records since the seal before it: a seal made long after
    /// what it covers was made late (a daemon that could not write, or a re-sealing forger).
    pub earliest: Option<Timestamp>,
}

/// What an inspection found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectReport {
    /// Records stored.
    pub records: u64,
    /// The stored seq of the last record (0 for an empty log).
    pub last_seq: u64,
    /// The seq the last record's content says (None: empty, or it does not decode).
    pub last_encoded: Option<u64>,
    /// The stored hash of the last record ([`GENESIS`] for an empty log).
    pub head: ChainHash,
    /// The seals met, in stored order.
    pub seals: Vec<SealRecord>,
    /// Everything found wrong, in stored order (empty: intact).
    pub findings: Vec<Finding>,
    /// Records not analysed in detail because too many were out of place.
    pub unanalysed: u64,
}

impl InspectReport {
    /// Whether nothing was found wrong.
    pub fn intact(&self) -> bool {
        self.findings.is_empty() && self.unanalysed == 0
    }
}

/// A record that is not an original record at its own seq.
#[derive(Debug, Clone)]
struct Anomaly {
    /// Stored seq.
    stored: u64,
    /// Stored seq of the record before it (0: none).
    prev_stored: u64,
    /// The seq its content says (None: undecodable).
    encoded: Option<u64>,
    /// Its hash follows from a stored record whose content says the seq before.
    original: bool,
    /// A record whose content says the seq before was stored within reach.
    pred_seen: bool,
    /// The record after it follows from its stored hash, but that record's content seq is not
    /// one more than this one's: its hash is genuine, its seq field was changed.
    seq_altered: bool,
}

/// A record whose predecessor was not seen yet: maybe it comes later (reordered).
struct Pending {
    anomaly: usize,
    want: u64,
    bytes: Vec<u8>,
    hash: ChainHash,
    stored: u64,
}

/// Checks stored records one by one, in stored order, and names what is wrong at the end.
pub struct Inspector {
    /// The last [`WINDOW`] records: (content seq, hash), oldest first.
    recent: VecDeque<(Option<u64>, ChainHash)>,
    /// Their hashes by content seq.
    by_seq: HashMap<u64, Vec<ChainHash>>,
    pending: Vec<Pending>,
    anomalies: Vec<Anomaly>,
    unanalysed: u64,
    flagged: Vec<Finding>,
    seals: Vec<SealRecord>,
    records: u64,
    last_seq: u64,
    last_encoded: Option<u64>,
    head: ChainHash,
    /// The earliest record time since the last seal.
    earliest: Option<Timestamp>,
}

impl Default for Inspector {
    fn default() -> Self {
        Inspector {
            recent: VecDeque::with_capacity(WINDOW + 1),
            by_seq: HashMap::new(),
            pending: Vec::new(),
            anomalies: Vec::new(),
            unanalysed: 0,
            flagged: Vec::new(),
            seals: Vec::new(),
            records: 0,
            last_seq: 0,
            last_encoded: None,
            head: GENESIS,
            earliest: None,
        }
    }
}

impl Inspector {
    /// An inspector for a log whose records up to `seq` are no longer stored (retention
    /// dropped them) but whose last one's hash, `hash`, was kept: the next record is checked
    /// against it, as if the inspector had just seen it. `seq` 0 is an empty log's start.
    pub fn resume(seq: u64, hash: ChainHash) -> Inspector {
        let mut inspector = Inspector::default();
        if seq > 0 {
            inspector.remember(Some(seq), hash);
            inspector.last_seq = seq;
            inspector.last_encoded = Some(seq);
            inspector.head = hash;
        }
        inspector
    }

    /// Checks the next stored record (stored `seq`, canonical `bytes`, stored `hash`). Returns
    /// the decoded event, if its bytes still decode, so the caller can compare what it keeps
    /// beside it (index columns, output chunks) and [`flag`](Inspector::flag) differences.
    pub fn push(&mut self, seq: u64, bytes: &[u8], hash: &[u8]) -> Option<Event> {
        let hash: ChainHash = hash.try_into().unwrap_or([0; 32]);
        let decoded = encoding::decode(bytes);
        let (encoded, event) = match decoded {
            Ok((e, event)) => (Some(e), Some(event)),
            Err(error) => {
                self.flagged.push(Finding::Undecodable { seq, error });
                (None, None)
            }
        };
        let prev_stored = self.last_seq;
        let (original, pred_seen, pred_hash) = match encoded {
            Some(e) => self.original(e, bytes, &hash),
            None => (false, false, None),
        };
        self.note_follower(prev_stored, encoded, bytes, &hash);
        if let (Some(event), Some(e)) = (&event, encoded) {
            if event.kind == Kind::Seal {
                self.seals.push(SealRecord {
                    seq: e,
                    epoch: event.epoch,
                    time: event.time,
                    seal: event.seal.clone(),
                    key_id: event.key_id.clone(),
                    sealed_head: pred_hash.unwrap_or(self.head),
                    earliest: self.earliest.take(),
                });
            } else {
                self.earliest = Some(self.earliest.map_or(event.time, |t| t.min(event.time)));
            }
        }
        if !(original && encoded == Some(seq)) {
            let anomaly = Anomaly {
                stored: seq,
                prev_stored,
                encoded,
                original,
                pred_seen,
                seq_altered: false,
            };
            if self.anomalies.len() < MAX_ANOMALIES {
                if let (Some(e), false, false) = (encoded, original, pred_seen) {
                    if e > 1 {
                        self.pending.push(Pending {
                            anomaly: self.anomalies.len(),
                            want: e - 1,
                            bytes: bytes.to_vec(),
                            hash,
                            stored: seq,
                        });
                    }
                }
                self.anomalies.push(anomaly);
            } else {
                self.unanalysed += 1;
            }
        }
        if let Some(e) = encoded {
            self.resolve_pending(e, &hash, seq);
        }
        self.remember(encoded, hash);
        self.records += 1;
        self.last_seq = seq;
        self.last_encoded = encoded;
        self.head = hash;
        event
    }

    /// Records something the caller found wrong beside the chain (a column, a chunk).
    pub fn flag(&mut self, finding: Finding) {
        self.flagged.push(finding);
    }

    /// Whether a record whose content says seq `e` follows from a record within reach that
    /// says `e - 1` (or from the stored record just before it, whatever that one's content now
    /// says); whether one was seen at all; and the hash it follows from.
    fn original(&self, e: u64, bytes: &[u8], hash: &ChainHash) -> (bool, bool, Option<ChainHash>) {
        // The usual case: it follows the record just before it.
        if let Some((_, h)) = self.recent.back() {
            if link(h, bytes) == *hash {
                return (true, true, Some(*h));
            }
        }
        if e == 0 {
            return (false, false, None);
        }
        if e == 1 {
            return (link(&GENESIS, bytes) == *hash, true, Some(GENESIS));
        }
        match self.by_seq.get(&(e - 1)) {
            None => (false, false, None),
            Some(hashes) => match hashes.iter().rev().find(|h| link(h, bytes) == *hash) {
                Some(h) => (true, true, Some(*h)),
                None => (false, true, hashes.last().copied()),
            },
        }
    }

    /// If the record just before (stored at `prev_stored`) is an anomaly and this record follows
    /// from its stored hash, that one's hash is genuine: note whether its seq field still fits.
    fn note_follower(
        &mut self,
        prev_stored: u64,
        encoded: Option<u64>,
        bytes: &[u8],
        hash: &ChainHash,
    ) {
        let Some(last) = self.anomalies.last_mut() else {
            return;
        };
        let Some((prev_encoded, prev_hash)) = self.recent.back() else {
            return;
        };
        if last.stored == prev_stored && !last.original && link(prev_hash, bytes) == *hash {
            last.seq_altered = match (prev_encoded, encoded) {
                (Some(p), Some(e)) => p + 1 != e,
                _ => false,
            };
        }
    }

    fn resolve_pending(&mut self, e: u64, hash: &ChainHash, stored: u64) {
        if self.pending.is_empty() {
            return;
        }
        let anomalies = &mut self.anomalies;
        self.pending.retain(|p| {
            if p.want == e {
                anomalies[p.anomaly].pred_seen = true;
                if link(hash, &p.bytes) == p.hash {
                    anomalies[p.anomaly].original = true;
                    return false;
                }
            }
            stored.saturating_sub(p.stored) < WINDOW as u64
        });
    }

    fn remember(&mut self, encoded: Option<u64>, hash: ChainHash) {
        if let Some(e) = encoded {
            self.by_seq.entry(e).or_default().push(hash);
        }
        self.recent.push_back((encoded, hash));
        if self.recent.len() > WINDOW {
            if let Some((Some(old), h)) = self.recent.pop_front() {
                if let Some(v) = self.by_seq.get_mut(&old) {
                    v.retain(|x| *x != h);
                    if v.is_empty() {
                        self.by_seq.remove(&old);
                    }
                }
            }
        }
    }

    /// Names what is wrong.
    pub fn finish(self) -> InspectReport {
        let mut findings = classify(&self.anomalies);
        findings.extend(self.flagged);
        findings.sort_by_key(|f| f.seqs());
        InspectReport {
            records: self.records,
            last_seq: self.last_seq,
            last_encoded: self.last_encoded,
            head: self.head,
            seals: self.seals,
            findings,
            unanalysed: self.unanalysed,
        }
    }
}

/// Reads the pattern the anomalies form. `expected` follows the original numbering: the seq the
/// next original record should carry.
fn classify(anomalies: &[Anomaly]) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let mut expected = 1u64;
    let mut last_stored = 0u64;
    // Content seq → stored seq, for anomalies (other records are stored at their own seq).
    let mut placed: HashMap<u64, u64> = HashMap::new();
    let mut run: Option<(u64, u64, i64)> = None;
    let mut just_deleted = false;
    let mut i = 0;
    while i < anomalies.len() {
        let a = &anomalies[i];
        if a.prev_stored != last_stored || i == 0 {
            // Original records in place came between: the last of them is at its own seq.
            if a.prev_stored > 0 {
                expected = a.prev_stored + 1;
            }
            flush(&mut run, &mut out);
            just_deleted = false;
        }
        // A stretch of original records, all present, in another order.
        let end = cluster_end(anomalies, i);
        if let Some((from, to)) = reordered(&anomalies[i..end], expected) {
            flush(&mut run, &mut out);
            out.push(Finding::Reordered { from, to });
            expected = to + 1;
            last_stored = anomalies[end - 1].stored;
            i = end;
            continue;
        }
        last_stored = a.stored;
        i += 1;
        let Some(e) = a.encoded else {
            // Reported as undecodable when pushed; it holds its place.
            flush(&mut run, &mut out);
            expected += 1;
            continue;
        };
        if a.seq_altered {
            // Its hash is genuine but its seq field now says something else.
            flush(&mut run, &mut out);
            out.push(Finding::Changed { seq: a.stored });
            expected += 1;
            continue;
        }
        let stale = e < expected;
        if e > expected {
            if a.original || e == a.stored || !a.pred_seen {
                flush(&mut run, &mut out);
                out.push(Finding::Deleted {
                    from: expected,
                    to: e - 1,
                });
                expected = e;
                just_deleted = true;
            } else {
                // A record whose seq field was changed in place.
                flush(&mut run, &mut out);
                out.push(Finding::Changed { seq: a.stored });
                expected += 1;
                continue;
            }
        }
        if stale {
            flush(&mut run, &mut out);
            if a.original {
                // The records that took these seqs before it are the ones slipped in.
                let slipped: Vec<u64> = (e..expected)
                    .map(|x| placed.get(&x).copied().unwrap_or(x))
                    .collect();
                out.retain(|f| !matches!(f, Finding::Changed { seq } if slipped.contains(seq)));
                let (from, to) = (slipped[0], *slipped.last().expect("non-empty"));
                out.push(Finding::Inserted { from, to });
            } else {
                out.push(Finding::Inserted {
                    from: a.stored,
                    to: a.stored,
                });
                continue;
            }
        }
        placed.insert(e, a.stored);
        if a.original || just_deleted {
            // Moved, or the first record after a deletion (its predecessor is what is gone).
            if a.stored != e {
                let by = a.stored as i64 - e as i64;
                match &mut run {
                    Some((_, to, b)) if *b == by && *to + 1 == a.stored => *to = a.stored,
                    _ => {
                        flush(&mut run, &mut out);
                        run = Some((a.stored, a.stored, by));
                    }
                }
            }
        } else {
            flush(&mut run, &mut out);
            out.push(Finding::Changed { seq: a.stored });
        }
        just_deleted = false;
        expected = e + 1;
    }
    flush(&mut run, &mut out);
    out
}

fn flush(run: &mut Option<(u64, u64, i64)>, out: &mut Vec<Finding>) {
    if let Some((from, to, by)) = run.take() {
        out.push(Finding::Renumbered { from, to, by });
    }
}

/// The end (exclusive) of the stretch of anomalies stored one after another from `i`.
fn cluster_end(anomalies: &[Anomaly], i: usize) -> usize {
    let mut end = i + 1;
    while end < anomalies.len() && anomalies[end].prev_stored == anomalies[end - 1].stored {
        end += 1;
    }
    end
}

/// The stored seq range of `cluster` if it holds exactly the original records `expected..`,
/// at their own seqs' places, in another order.
fn reordered(cluster: &[Anomaly], expected: u64) -> Option<(u64, u64)> {
    if cluster.len() < 2 || !cluster.iter().all(|a| a.original) {
        return None;
    }
    let (from, to) = (cluster[0].stored, cluster[cluster.len() - 1].stored);
    if from != expected || to - from + 1 != cluster.len() as u64 {
        return None;
    }
    let mut seqs: Vec<u64> = cluster.iter().filter_map(|a| a.encoded).collect();
    seqs.sort_unstable();
    (seqs.len() == cluster.len() && seqs.iter().copied().eq(from..=to)).then_some((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Kind;

    /// An intact log of `n` records: (stored seq, bytes, hash).
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

    fn inspect(records: &[(u64, Vec<u8>, ChainHash)]) -> Vec<Finding> {
        let mut i = Inspector::default();
        for (seq, bytes, hash) in records {
            i.push(*seq, bytes, hash);
        }
        i.finish().findings
    }

    /// Renumbers records as they stand (the seq column rewritten).
    fn renumber(records: &mut [(u64, Vec<u8>, ChainHash)]) {
        for (i, r) in records.iter_mut().enumerate() {
            r.0 = i as u64 + 1;
        }
    }

    /// A made-up record carrying `seq`, chained properly after `prev`.
    fn forged(seq: u64, prev: &ChainHash) -> (u64, Vec<u8>, ChainHash) {
        let e = Event::new(Timestamp(1), Kind::SessionClosed, "h", "forged");
        let bytes = encoding::encode(seq, &e);
        let hash = link(prev, &bytes);
        (seq, bytes, hash)
    }

    #[test]
    fn an_intact_log_has_no_findings() {
        let mut i = Inspector::default();
        for (seq, bytes, hash) in log(50) {
            i.push(seq, &bytes, &hash);
        }
        let r = i.finish();
        assert!(r.intact());
        assert_eq!((r.records, r.last_seq), (50, 50));
    }

    #[test]
    fn any_flipped_byte_names_its_record() {
        let good = log(3);
        for i in 0..good[1].1.len() {
            let mut bad = good.clone();
            bad[1].1[i] ^= 0x01;
            let found = inspect(&bad);
            assert_eq!(found.len(), 1, "byte {i}: {found:?}");
            assert_eq!(found[0].seqs(), (2, 2), "byte {i}: {found:?}");
        }
    }

    #[test]
    fn a_changed_record_is_named_alone() {
        let mut l = log(10);
        let last = l[4].1.len() - 1;
        l[4].1[last] ^= 0x01;
        assert_eq!(inspect(&l), vec![Finding::Changed { seq: 5 }]);
    }

    #[test]
    fn deleted_records_are_named_as_a_range_renumbered_or_not() {
        let mut l = log(10);
        l.drain(3..6);
        assert_eq!(inspect(&l), vec![Finding::Deleted { from: 4, to: 6 }]);
        renumber(&mut l);
        assert_eq!(
            inspect(&l),
            vec![
                Finding::Deleted { from: 4, to: 6 },
                Finding::Renumbered {
                    from: 4,
                    to: 7,
                    by: -3
                }
            ]
        );
    }

    #[test]
    fn an_inserted_record_is_named_whether_or_not_it_was_chained() {
        let l = log(8);
        for chained in [true, false] {
            let mut bad = l.clone();
            let mut f = forged(4, &l[2].2);
            if !chained {
                f.2 = [1; 32];
            }
            bad.insert(3, f);
            renumber(&mut bad);
            assert_eq!(
                inspect(&bad),
                vec![
                    Finding::Inserted { from: 4, to: 4 },
                    Finding::Renumbered {
                        from: 5,
                        to: 9,
                        by: 1
                    }
                ],
                "chained: {chained}"
            );
        }
    }

    #[test]
    fn swapped_records_are_named_as_reordered() {
        let mut l = log(8);
        l.swap(2, 3);
        renumber(&mut l);
        assert_eq!(inspect(&l), vec![Finding::Reordered { from: 3, to: 4 }]);
        let mut l = log(8);
        let moved = l.remove(1);
        l.insert(4, moved);
        renumber(&mut l);
        assert_eq!(inspect(&l), vec![Finding::Reordered { from: 2, to: 5 }]);
    }

    #[test]
    fn a_truncated_tail_looks_intact_to_the_chain_alone() {
        // What seals and the sealing state are for: the chain cannot see a cut tail.
        let mut l = log(10);
        l.truncate(7);
        assert!(inspect(&l).is_empty());
    }

    #[test]
    fn a_resumed_inspection_checks_on_from_a_kept_hash() {
        let records = log(10);
        let (cut_seq, _, cut_hash) = records[3].clone();
        let mut whole = Inspector::resume(cut_seq, cut_hash);
        for (seq, bytes, hash) in &records[4..] {
            whole.push(*seq, bytes, hash);
        }
        let report = whole.finish();
        assert!(report.intact(), "{:?}", report.findings);
        assert_eq!((report.records, report.head), (6, records[9].2));
        let mut gap = Inspector::resume(cut_seq, cut_hash);
        for (seq, bytes, hash) in &records[5..] {
            gap.push(*seq, bytes, hash);
        }
        assert_eq!(gap.finish().findings, [Finding::Deleted { from: 5, to: 5 }]);
        let empty = Inspector::resume(cut_seq, cut_hash).finish();
        assert!(empty.intact() && empty.head == cut_hash && empty.records == 0);
    }
}
