//! Checking a store's seals with the verification key: every seal, not just up to the first
//! bad one, so the report can say which stretch of the log each failure puts in doubt.

use super::VerificationKey;
use crate::chain::from_hex as unhex;
use crate::inspect::SealRecord;
use crate::time::Timestamp;
use std::fmt;

/// A seal that does not hold, and what it puts in doubt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealProblem {
    /// The seals were made under another key (their key id is not this key's).
    WrongKey {
        /// The id of the key given.
        given: String,
        /// The id the store's seals carry.
        store: String,
    },
    /// Not one seal matches, though they claim this key: the whole log was rebuilt (re-chained
    /// from scratch) by someone without the key, or the seals were forged.
    NoneMatch {
        /// Seals checked.
        seals: usize,
    },
    /// This seal does not match the chain before it: records after the previous good seal were
    /// changed and the chain recomputed over them.
    Failed {
        /// The seal record's seq.
        seq: u64,
        /// The first record in doubt (after the previous seal that checks).
        from: u64,
        /// The last record in doubt (the one the seal covers).
        to: u64,
    },
    /// The seal's epoch or time is earlier than the seal before it.
    Backwards {
        /// The seal record's seq.
        seq: u64,
        /// `epoch` or `time`.
        what: &'static str,
        /// Its value.
        value: String,
        /// The previous seal's.
        previous: String,
    },
    /// The seal record is malformed or its epoch disagrees with its time under this key.
    Malformed {
        /// The seal record's seq.
        seq: u64,
        /// Why.
        why: String,
    },
}

impl SealProblem {
    /// A short name for JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            SealProblem::WrongKey { .. } => "wrong-key",
            SealProblem::NoneMatch { .. } => "rechained",
            SealProblem::Failed { .. } => "seal-failed",
            SealProblem::Backwards { .. } => "seal-backwards",
            SealProblem::Malformed { .. } => "seal-malformed",
        }
    }

    /// The seal record it is about, if one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            SealProblem::WrongKey { .. } | SealProblem::NoneMatch { .. } => None,
            SealProblem::Failed { seq, .. }
            | SealProblem::Backwards { seq, .. }
            | SealProblem::Malformed { seq, .. } => Some(*seq),
        }
    }

    /// Whether this is the auditor's mistake (another key) rather than evidence of tampering.
    pub fn is_wrong_key(&self) -> bool {
        matches!(self, SealProblem::WrongKey { .. })
    }
}

impl fmt::Display for SealProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealProblem::WrongKey { given, store } => write!(
                f,
                "wrong key: this store was sealed under key {store}, the key given is {given}"
            ),
            SealProblem::NoneMatch { seals } => write!(
                f,
                "none of the {seals} seals matches, though they name this key: the store was re-chained from scratch (or its seals forged) by someone without the key"
            ),
            SealProblem::Failed { seq, from, to } => write!(
                f,
                "seal at seq {seq} does not match the chain: records {} were changed and the chain recomputed",
                range(*from, *to)
            ),
            SealProblem::Backwards {
                seq,
                what,
                value,
                previous,
            } => write!(
                f,
                "seal at seq {seq}: its {what} {value} is before the previous seal's {previous} (seals reordered or forged)"
            ),
            SealProblem::Malformed { seq, why } => write!(f, "seal at seq {seq}: {why}"),
        }
    }
}

fn range(from: u64, to: u64) -> String {
    if from == to {
        format!("seq {from}")
    } else {
        format!("seq {from}..{to}")
    }
}

/// What checking every seal found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SealReport {
    /// Seals in the store.
    pub seals: usize,
    /// Seals that check.
    pub good: usize,
    /// The last seal that checks: its seq and time.
    pub last_good: Option<(u64, Timestamp)>,
    /// Records after the last seal that checks (or all, if none does).
    pub unsealed: u64,
    /// What does not hold.
    pub problems: Vec<SealProblem>,
    /// Good seals made long after the records they cover: see [`LateSeal`].
    pub late: Vec<LateSeal>,
}

/// A seal that checks but was made more than [`LATE_EPOCHS`] epochs after the earliest record
/// it covers. An honest daemon that could not write for a while (a full disk) leaves these; so
/// does someone who took the machine's current key and re-sealed rewritten records in the
/// current epoch. Not proof either way: a reason to compare with a seal kept off the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateSeal {
    /// The seal record's seq.
    pub seq: u64,
    /// Epochs between the earliest covered record and the seal.
    pub epochs: u64,
    /// The earliest covered record's time.
    pub earliest: Timestamp,
}

/// More epochs than this between a record and its seal make the seal late.
pub const LATE_EPOCHS: u64 = 4;

impl fmt::Display for LateSeal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seal at seq {} was made {} epochs after the earliest record it covers ({}): sealed late — a daemon that could not write meanwhile, or re-sealed by someone holding the machine's current key; compare with a seal kept off the machine",
            self.seq, self.epochs, self.earliest
        )
    }
}

/// Checks every seal (in stored order) of a log of `records` records with `key`.
pub fn check(seals: &[SealRecord], records: u64, key: &VerificationKey) -> SealReport {
    let mut report = SealReport {
        seals: seals.len(),
        unsealed: records,
        ..SealReport::default()
    };
    if seals.is_empty() {
        return report;
    }
    let given = key.key_id();
    if let Some(store) = seals.iter().find_map(|s| s.key_id.as_deref()) {
        if store != given {
            report.problems.push(SealProblem::WrongKey {
                given,
                store: store.to_owned(),
            });
            return report;
        }
    }
    let mut walker = key.walker();
    let mut previous: Option<&SealRecord> = None;
    let mut covered_to = 0u64;
    let mut mac_failures = 0usize;
    for s in seals {
        let problem = check_one(s, previous, key, &mut walker);
        match problem {
            None => {
                report.good += 1;
                report.last_good = Some((s.seq, s.time));
                covered_to = s.seq;
                if let Some(earliest) = s.earliest {
                    let schedule = key.schedule();
                    let epochs = schedule
                        .epoch_at(s.time)
                        .saturating_sub(schedule.epoch_at(earliest));
                    if epochs > LATE_EPOCHS {
                        report.late.push(LateSeal {
                            seq: s.seq,
                            epochs,
                            earliest,
                        });
                    }
                }
            }
            Some(p) => {
                if matches!(p, SealProblem::Failed { .. }) {
                    mac_failures += 1;
                }
                let p = match p {
                    SealProblem::Failed { seq, .. } => SealProblem::Failed {
                        seq,
                        from: covered_to + 1,
                        to: seq.saturating_sub(1).max(covered_to + 1),
                    },
                    other => other,
                };
                report.problems.push(p);
            }
        }
        previous = Some(s);
    }
    report.unsealed = records.saturating_sub(covered_to);
    if report.good == 0 && mac_failures == seals.len() {
        report.problems = vec![SealProblem::NoneMatch { seals: seals.len() }];
    }
    report
}

/// The problem with one seal, if any (`Failed` with a placeholder range).
fn check_one(
    s: &SealRecord,
    previous: Option<&SealRecord>,
    key: &VerificationKey,
    walker: &mut super::KeyWalker,
) -> Option<SealProblem> {
    let malformed = |why: String| Some(SealProblem::Malformed { seq: s.seq, why });
    let (Some(epoch), Some(mac)) = (s.epoch, s.seal.as_deref().and_then(unhex)) else {
        return malformed("the seal record lacks its epoch or MAC".into());
    };
    let epoch = epoch.max(0) as u64;
    if let Some(p) = previous {
        let p_epoch = p.epoch.unwrap_or(0).max(0) as u64;
        if epoch < p_epoch {
            return Some(SealProblem::Backwards {
                seq: s.seq,
                what: "epoch",
                value: epoch.to_string(),
                previous: p_epoch.to_string(),
            });
        }
        if s.time < p.time {
            return Some(SealProblem::Backwards {
                seq: s.seq,
                what: "time",
                value: s.time.to_string(),
                previous: p.time.to_string(),
            });
        }
    }
    let by_time = key.schedule.epoch_at(s.time);
    if by_time != epoch {
        return malformed(format!(
            "its epoch {epoch} does not match its time {} (epoch {by_time} by the key's schedule): a forged seal",
            s.time
        ));
    }
    let ok = match walker.check(epoch, s.seq - 1, &s.sealed_head, s.time, &mac) {
        Ok(ok) => ok,
        // An earlier epoch than one already walked (only after a problem above): start over.
        Err(_) => key
            .walker()
            .check(epoch, s.seq - 1, &s.sealed_head, s.time, &mac)
            .unwrap_or(false),
    };
    (!ok).then_some(SealProblem::Failed {
        seq: s.seq,
        from: 0,
        to: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{hex, Schedule, SealingKey};
    use super::*;

    fn key() -> VerificationKey {
        let schedule = Schedule {
            start: Timestamp::from_secs(1_000),
            interval_us: 15_000_000,
        };
        VerificationKey::new([7; 32], schedule).unwrap()
    }

    fn record(sealing: &mut SealingKey, seq: u64, secs: i64) -> SealRecord {
        let head = [seq as u8; 32];
        let time = Timestamp::from_secs(secs);
        let (epoch, mac) = sealing.seal(seq - 1, &head, time).unwrap();
        SealRecord {
            seq,
            epoch: Some(epoch as i64),
            time,
            seal: Some(hex(&mac)),
            key_id: Some(sealing.key_id()),
            sealed_head: head,
            earliest: Some(Timestamp::from_secs(secs - 1)),
        }
    }

    fn seals() -> Vec<SealRecord> {
        let mut sealing = key().sealing_key();
        vec![
            record(&mut sealing, 5, 1_001),
            record(&mut sealing, 9, 1_020),
            record(&mut sealing, 12, 1_050),
        ]
    }

    #[test]
    fn good_seals_report_the_last_and_what_follows_it() {
        let r = check(&seals(), 14, &key());
        assert_eq!(r.problems, vec![]);
        assert_eq!((r.seals, r.good, r.unsealed), (3, 3, 2));
        assert_eq!(r.last_good, Some((12, Timestamp::from_secs(1_050))));
        assert_eq!(check(&[], 14, &key()).unsealed, 14);
    }

    #[test]
    fn a_changed_head_puts_the_records_since_the_previous_seal_in_doubt() {
        let mut changed = seals();
        changed[1].sealed_head = [0; 32];
        let r = check(&changed, 14, &key());
        assert_eq!(
            r.problems,
            vec![SealProblem::Failed {
                seq: 9,
                from: 6,
                to: 8
            }]
        );
        assert_eq!(r.good, 2, "the seals around it still check");
    }

    #[test]
    fn reordered_seals_and_a_stripped_mac_are_named() {
        let mut swapped = seals();
        swapped.swap(1, 2);
        let r = check(&swapped, 14, &key());
        assert!(
            r.problems
                .iter()
                .any(|p| matches!(p, SealProblem::Backwards { seq: 9, .. })),
            "{r:?}"
        );
        let mut stripped = seals();
        stripped[0].seal = None;
        assert!(matches!(
            check(&stripped, 14, &key()).problems[..],
            [SealProblem::Malformed { seq: 5, .. }]
        ));
    }

    #[test]
    fn another_key_is_named_as_such_and_a_rebuilt_store_matches_nothing() {
        let other = VerificationKey::new([8; 32], key().schedule()).unwrap();
        assert!(matches!(
            check(&seals(), 14, &other).problems[..],
            [SealProblem::WrongKey { .. }]
        ));
        // A seal 13 epochs after the earliest record it covers is late, not bad.
        let mut sealing = key().sealing_key();
        let mut late = vec![
            record(&mut sealing, 5, 1_001),
            record(&mut sealing, 9, 1_200),
        ];
        late[1].earliest = Some(Timestamp::from_secs(1_002));
        let r = check(&late, 9, &key());
        assert_eq!((r.good, r.problems.len()), (2, 0));
        assert_eq!(
            r.late.iter().map(|l| (l.seq, l.epochs)).collect::<Vec<_>>(),
            [(9, 13)]
        );
        assert!(check(&seals(), 14, &key()).late.is_empty());
        let mut rebuilt = seals();
        for s in &mut rebuilt {
            s.sealed_head = [0xee; 32];
        }
        assert_eq!(
            check(&rebuilt, 14, &key()).problems,
            vec![SealProblem::NoneMatch { seals: 3 }]
        );
    }
}
