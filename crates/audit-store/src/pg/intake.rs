//! The central store's intake ([`Intake`]) and its enrollment: hosts, their tokens, the
//! evidence of refused batches.
//!
//! A token is `tat1_` and 43 characters of base64url (32 random bytes); the store keeps only
//! its BLAKE3 hash, looked up by equality (a hash of a high-entropy secret gives a timing
//! attacker nothing to guess towards). Enrolled names are `[A-Za-z0-9][A-Za-z0-9._-]{0,62}`,
//! so never [`CENTER`].

use super::batch::Batch;
use super::{lock_head, set_head, PgStore};
use crate::central::{check_link, HostHead, Intake, LinkError, Shipped, Verdict, CENTER};
use crate::StoreError;
use audit_core::chain;
use audit_core::{encoding, Event, Kind, Severity, Timestamp};
use base64::Engine;
use postgres::Transaction;

/// What the center knows of one enrolled host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostState {
    /// Its enrolled name.
    pub name: String,
    /// When it was enrolled.
    pub enrolled: Timestamp,
    /// When its token was revoked, if it was.
    pub revoked: Option<Timestamp>,
    /// The last seq of its central chain (0: nothing yet).
    pub head_seq: u64,
    /// When the center last stored a record of it.
    pub last_received: Option<Timestamp>,
    /// How many of its batches were refused as forks.
    pub forks: u64,
}

/// A refused batch kept as evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fork {
    /// When it was refused.
    pub received: Timestamp,
    /// The seq of its first refused record.
    pub seq: u64,
    /// Why it did not link.
    pub why: String,
    /// The BLAKE3 hash (hex) of the refused records as kept ([`evidence`]).
    pub digest: String,
}

/// Whether `name` may be enrolled.
fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
}

fn token_hash(token: &str) -> Vec<u8> {
    blake3::hash(token.as_bytes()).as_bytes().to_vec()
}

fn micros(t: Option<i64>) -> Option<Timestamp> {
    t.map(Timestamp)
}

/// The refused records as kept in `forks.batch`: for each, its seq (8 bytes, big-endian), its
/// hash (32), its data's length (4) and data, then `0`, or `1`, the chunk's length (4) and
/// chunk. Deterministic, so its digest names exactly what was refused.
pub fn evidence(records: &[Shipped]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.extend_from_slice(&r.seq.to_be_bytes());
        out.extend_from_slice(&r.hash);
        out.extend_from_slice(&(r.data.len() as u32).to_be_bytes());
        out.extend_from_slice(&r.data);
        match &r.chunk {
            None => out.push(0),
            Some(c) => {
                out.push(1);
                out.extend_from_slice(&(c.len() as u32).to_be_bytes());
                out.extend_from_slice(c);
            }
        }
    }
    out
}

impl PgStore {
    /// Enrolls `name` and returns its token (shown once: the store keeps only its hash).
    /// Refuses an invalid name, or one already enrolled (revoked or not: a name is one chain).
    pub fn enroll(&self, name: &str) -> Result<String, StoreError> {
        self.writable(&format!("enroll {name:?}"))?;
        if !valid_name(name) {
            return Err(self.central(format!(
                "cannot enroll {name:?}: a host name is 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )));
        }
        let mut random = [0u8; 32];
        getrandom::getrandom(&mut random)
            .map_err(|e| self.central(format!("no randomness for a token: {e}")))?;
        let token = format!(
            "tat1_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
        );
        let added = self
            .client
            .borrow_mut()
            .execute(
                "INSERT INTO hosts (name, token_hash) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &token_hash(&token)],
            )
            .map_err(self.pg_err())?;
        if added == 0 {
            return Err(self.central(format!(
                "host {name:?} is already enrolled (its chain stays under that name): enroll it under another name"
            )));
        }
        Ok(token)
    }

    /// Revokes `name`'s token: its collector connections are refused from now on; its chain
    /// stays.
    pub fn revoke(&self, name: &str) -> Result<(), StoreError> {
        self.writable(&format!("revoke {name:?}"))?;
        let n = self
            .client
            .borrow_mut()
            .execute(
                "UPDATE hosts SET revoked = now() WHERE name = $1 AND revoked IS NULL",
                &[&name],
            )
            .map_err(self.pg_err())?;
        if n == 0 {
            return Err(self.central(format!(
                "no enrolled, unrevoked host {name:?} (see the enrolled hosts)"
            )));
        }
        Ok(())
    }

    /// Every host row (enrolled hosts, and the center's own chain once it has one), by name.
    pub fn host_states(&self) -> Result<Vec<HostState>, StoreError> {
        let rows = self
            .client
            .borrow_mut()
            .query(
                "SELECT h.name, (extract(epoch FROM h.enrolled) * 1000000)::bigint,
                        (extract(epoch FROM h.revoked) * 1000000)::bigint, h.head_seq,
                        h.last_received, (SELECT count(*) FROM forks f WHERE f.host_id = h.id)
                 FROM hosts h ORDER BY h.name COLLATE \"C\"",
                &[],
            )
            .map_err(self.pg_err())?;
        Ok(rows
            .iter()
            .map(|r| HostState {
                name: r.get(0),
                enrolled: Timestamp(r.get(1)),
                revoked: micros(r.get(2)),
                head_seq: r.get::<_, i64>(3) as u64,
                last_received: micros(r.get(4)),
                forks: r.get::<_, i64>(5) as u64,
            })
            .collect())
    }

    /// When the center received the record at `seq` of the scoped host's chain (a seal's
    /// received time shows when the center first held it: a seal made later than it claims is
    /// seen late).
    pub fn received(&self, seq: u64) -> Result<Option<Timestamp>, StoreError> {
        let Some(id) = self.host_id("read when a record was received", false)? else {
            return Ok(None);
        };
        let row = self
            .client
            .borrow_mut()
            .query_opt(
                "SELECT received FROM events WHERE host_id = $1 AND seq = $2",
                &[&id, &(seq as i64)],
            )
            .map_err(self.pg_err())?;
        Ok(row.map(|r| Timestamp(r.get::<_, i64>(0))))
    }

    /// The batches of `host` refused as forks, oldest first.
    pub fn forks(&self, host: &str) -> Result<Vec<Fork>, StoreError> {
        let rows = self
            .client
            .borrow_mut()
            .query(
                "SELECT f.received, f.seq, f.why, f.digest FROM forks f
                 JOIN hosts h ON h.id = f.host_id WHERE h.name = $1 ORDER BY f.id",
                &[&host],
            )
            .map_err(self.pg_err())?;
        Ok(rows
            .iter()
            .map(|r| Fork {
                received: Timestamp(r.get(0)),
                seq: r.get::<_, i64>(1) as u64,
                why: r.get(2),
                digest: r.get(3),
            })
            .collect())
    }
}

impl Intake for PgStore {
    fn host_of_token(&self, token: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .client
            .borrow_mut()
            .query_opt(
                "SELECT name FROM hosts WHERE token_hash = $1 AND revoked IS NULL",
                &[&token_hash(token)],
            )
            .map_err(self.pg_err())?
            .map(|r| r.get(0)))
    }

    fn host_head(&self, host: &str) -> Result<HostHead, StoreError> {
        let row = self
            .client
            .borrow_mut()
            .query_opt(
                "SELECT head_seq, head_hash FROM hosts WHERE name = $1",
                &[&host],
            )
            .map_err(self.pg_err())?
            .ok_or_else(|| self.central(format!("no enrolled host {host:?}")))?;
        let hash: Vec<u8> = row.get(1);
        Ok(HostHead {
            seq: row.get::<_, i64>(0) as u64,
            hash: hash.try_into().unwrap_or([0; 32]),
        })
    }

    fn accept(
        &mut self,
        host: &str,
        batch: &[Shipped],
        text: &[Option<String>],
        received: Timestamp,
        peer: &str,
    ) -> Result<Verdict, StoreError> {
        self.writable("accept shipped records")?;
        if host == CENTER {
            return Err(self.central("the center's own chain takes no shipped records"));
        }
        // Partitions first, outside the transaction: for every record that decodes, and for a
        // chain-fork event of the center's made now.
        let times: Vec<i64> = batch
            .iter()
            .filter_map(|r| encoding::decode(&r.data).ok())
            .map(|(_, e)| e.time.as_micros())
            .chain([received.as_micros()])
            .collect();
        self.ensure_partitions(times)?;
        let center = self.center_id()?;
        let err = self.pg_err();
        let mut client = self.client.borrow_mut();
        let mut tx = client.transaction().map_err(&err)?;
        let row = tx
            .query_opt(
                "SELECT id FROM hosts WHERE name = $1 AND id <> $2",
                &[&host, &center],
            )
            .map_err(&err)?
            .ok_or_else(|| self.central(format!("no enrolled host {host:?}")))?;
        let id: i64 = row.get(0);
        let (seq, hash) = lock_head(&mut tx, id).map_err(&err)?;
        let mut head = HostHead { seq, hash };
        let mut linked = Batch::default();
        let mut added = 0;
        let mut refused = None;
        for (i, record) in batch.iter().enumerate() {
            if record.seq <= head.seq {
                // Already held: a resend after a lost acknowledgement, if identical.
                let held = tx
                    .query_opt(
                        "SELECT data, hash FROM events WHERE host_id = $1 AND seq = $2",
                        &[&id, &(record.seq as i64)],
                    )
                    .map_err(&err)?;
                let same = match held {
                    Some(r) => {
                        r.get::<_, &[u8]>(0) == record.data && r.get::<_, &[u8]>(1) == record.hash
                    }
                    // Dropped by retention: only the checkpoint's own hash is left to compare.
                    None => match self.checkpoint(&mut tx, id)? {
                        Some((seq, hash)) if record.seq == seq => record.hash == hash,
                        Some((seq, _)) => record.seq < seq,
                        None => false,
                    },
                };
                if !same {
                    refused = Some((i, LinkError::Differs { seq: record.seq }));
                    break;
                }
                continue;
            }
            if added == 0 && record.seq > head.seq + 1 {
                return Ok(Verdict::Gap { head });
            }
            match check_link(&head, record) {
                Ok(event) => {
                    let words = text.get(i).cloned().flatten().unwrap_or_default();
                    let output = record.chunk.as_deref().map(|c| (c, words.as_str()));
                    linked.push(record.seq, &event, &record.data, &record.hash, output);
                    head = HostHead {
                        seq: record.seq,
                        hash: record.hash,
                    };
                    added += 1;
                }
                Err(why) => {
                    refused = Some((i, why));
                    break;
                }
            }
        }
        if added > 0 {
            linked
                .store(&mut tx, id, received.as_micros())
                .map_err(&err)?;
            set_head(&mut tx, id, head.seq, &head.hash, received.as_micros()).map_err(&err)?;
        }
        let verdict = match refused {
            None => Verdict::Stored { head, added },
            Some((i, why)) => {
                record_fork(&mut tx, id, center, host, &batch[i..], &why, received, peer)
                    .map_err(&err)?;
                Verdict::Forked {
                    head,
                    seq: batch[i].seq,
                    why,
                }
            }
        };
        tx.commit().map_err(&err)?;
        Ok(verdict)
    }
}

impl PgStore {
    /// The id of the center's own chain's row, made if missing.
    fn center_id(&self) -> Result<i64, StoreError> {
        let mut client = self.client.borrow_mut();
        client
            .execute(
                "INSERT INTO hosts (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                &[&CENTER],
            )
            .map_err(self.pg_err())?;
        Ok(client
            .query_one("SELECT id FROM hosts WHERE name = $1", &[&CENTER])
            .map_err(self.pg_err())?
            .get(0))
    }
}

/// Keeps the refused records as evidence and appends a `chain-fork` event about them to the
/// center's chain (its row locked after the host's: always in that order, so no deadlock) —
/// once per forked seq: a host retrying the same fork (a sink backs off and tries again) adds
/// no alert and no evidence after the first.
#[allow(clippy::too_many_arguments)]
fn record_fork(
    tx: &mut Transaction<'_>,
    id: i64,
    center: i64,
    host: &str,
    refused: &[Shipped],
    why: &LinkError,
    received: Timestamp,
    peer: &str,
) -> Result<(), postgres::Error> {
    let known = tx.query_opt(
        "SELECT 1 FROM forks WHERE host_id = $1 AND seq = $2 LIMIT 1",
        &[&id, &(refused[0].seq as i64)],
    )?;
    if known.is_some() {
        return Ok(());
    }
    let kept = evidence(refused);
    let digest = blake3::hash(&kept).to_hex().to_string();
    tx.execute(
        "INSERT INTO forks (host_id, received, seq, why, batch, digest)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &id,
            &received.as_micros(),
            &(refused[0].seq as i64),
            &why.to_string(),
            &kept,
            &digest,
        ],
    )?;
    let mut event = Event::new(received, Kind::ChainFork, host, "");
    event.message = Some(why.to_string());
    event.digest = Some(digest);
    event.origin = Some(peer.to_owned());
    event.severity = Some(Severity::Alert);
    let (seq, prev) = lock_head(tx, center)?;
    let seq = seq + 1;
    let data = encoding::encode(seq, &event);
    let hash = chain::link(&prev, &data);
    let mut batch = Batch::default();
    batch.push(seq, &event, &data, &hash, None);
    batch.store(tx, center, received.as_micros())?;
    set_head(tx, center, seq, &hash, received.as_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_plain_and_never_the_center() {
        for ok in ["web-1", "a", "db.prod_2", &"x".repeat(63)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", CENTER, "-a", ".a", "a b", "a/b", "é", &"x".repeat(64)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
