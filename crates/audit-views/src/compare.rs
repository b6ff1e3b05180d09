//! A host's own store against its copy elsewhere (the fleet's central store): does the center
//! hold this host's history, all of it, unchanged?
//!
//! A chain hash covers every record before it, so two chains that agree at seq `k` agree on
//! records `1..=k`: comparing the hash at the last seq both hold answers "identical so far" in
//! two reads. When they disagree, the first seq where they part is found by bisection (each
//! step one read on each side), so the report names where the histories fork. Each side's own
//! integrity is `verify`'s business; this only compares them.

use audit_core::chain::ChainHash;
use audit_store::{Reader, StoreError};

/// What the comparison found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// Neither side holds anything yet.
    Empty,
    /// The records both hold are identical; `center` ≤ `local` (the rest is not shipped yet).
    Agree {
        /// Records this store holds.
        local: u64,
        /// Records the copy holds.
        center: u64,
    },
    /// The copy holds records this store does not: this store was cut back or replaced after
    /// shipping (the copy's records before that agree).
    LocalShorter {
        /// Records this store holds.
        local: u64,
        /// Records the copy holds.
        center: u64,
        /// Whether the records both hold agree.
        prefix_agrees: bool,
    },
    /// The histories part at `seq`: from there on, this store holds other records than were
    /// shipped (rewritten after shipping), or the copy is of another chain.
    Fork {
        /// The first seq at which they differ.
        seq: u64,
        /// Records this store holds.
        local: u64,
        /// Records the copy holds.
        center: u64,
    },
}

impl Comparison {
    /// Whether the comparison shows tampering (a fork, or records gone from this store).
    pub fn is_tampered(&self) -> bool {
        matches!(
            self,
            Comparison::Fork { .. } | Comparison::LocalShorter { .. }
        )
    }
}

/// Compares `local` with `center` (each one host's chain).
pub fn compare(local: &dyn Reader, center: &dyn Reader) -> Result<Comparison, StoreError> {
    // The center's head first: a live host ships on meanwhile, and what it ships it held
    // before, so read in this order the center can be ahead only if it truly is.
    let m = center.head()?.map_or(0, |s| s.seq);
    let n = local.head()?.map_or(0, |s| s.seq);
    let both = n.min(m);
    if both == 0 {
        return Ok(if n.max(m) == 0 {
            Comparison::Empty
        } else if m > n {
            Comparison::LocalShorter {
                local: n,
                center: m,
                prefix_agrees: true,
            }
        } else {
            Comparison::Agree {
                local: n,
                center: m,
            }
        });
    }
    let same = |seq: u64| -> Result<bool, StoreError> {
        Ok(hash_at(local, seq)? == hash_at(center, seq)?)
    };
    let agrees = same(both)?;
    if m > n {
        return Ok(Comparison::LocalShorter {
            local: n,
            center: m,
            prefix_agrees: agrees,
        });
    }
    if agrees {
        return Ok(Comparison::Agree {
            local: n,
            center: m,
        });
    }
    // The first seq where they differ: they differ at `both`; find the lowest.
    let (mut lo, mut hi) = (1, both);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if same(mid)? {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(Comparison::Fork {
        seq: lo,
        local: n,
        center: m,
    })
}

/// The chain hash of the record at `seq`, if the store holds it.
fn hash_at(store: &dyn Reader, seq: u64) -> Result<Option<ChainHash>, StoreError> {
    let mut hash = None;
    store.events_after(seq - 1, 1, &mut |s| {
        if s.seq == seq {
            hash = Some(s.hash);
        }
        false
    })?;
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::{Event, Kind, Timestamp};
    use audit_store::{Access, SqliteStore, Writer};

    fn store(dir: &std::path::Path, name: &str, events: &[&str]) -> SqliteStore {
        let mut s = SqliteStore::open(&dir.join(name), Access::Create).unwrap();
        let events: Vec<Event> = events
            .iter()
            .map(|m| {
                let mut e = Event::new(Timestamp::from_secs(1), Kind::AuditStarted, "h", "/s");
                e.message = Some((*m).into());
                e
            })
            .collect();
        if !events.is_empty() {
            s.append(&events).unwrap();
        }
        s
    }

    #[test]
    fn agreeing_shorter_longer_and_forked_histories_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let local = store(d, "local", &["a", "b", "c", "d", "e"]);
        let same = store(d, "same", &["a", "b", "c"]);
        let empty = store(d, "empty", &[]);
        let longer = store(d, "longer", &["a", "b", "c", "d", "e", "f"]);
        let forked = store(d, "forked", &["a", "b", "X", "d"]);
        assert_eq!(
            compare(&local, &same).unwrap(),
            Comparison::Agree {
                local: 5,
                center: 3
            }
        );
        assert_eq!(
            compare(&local, &empty).unwrap(),
            Comparison::Agree {
                local: 5,
                center: 0
            }
        );
        assert_eq!(compare(&empty, &empty).unwrap(), Comparison::Empty);
        let cut = compare(&same, &longer).unwrap();
        assert_eq!(
            cut,
            Comparison::LocalShorter {
                local: 3,
                center: 6,
                prefix_agrees: true
            }
        );
        assert!(cut.is_tampered());
        let fork = compare(&local, &forked).unwrap();
        assert_eq!(
            fork,
            Comparison::Fork {
                seq: 3,
                local: 5,
                center: 4
            }
        );
        assert!(fork.is_tampered());
    }
}
