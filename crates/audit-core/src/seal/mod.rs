//! Forward-secure seals: a MAC over the chain head, under a key that evolves one way per epoch.
//!
//! The chain proves a store consistent with itself; whoever can write the store can rebuild it
//! from scratch. A seal binds the chain head at a moment to a secret the forger lacks:
//!
//! ```text
//! key(0)   = the seed, 32 random bytes: the verification key, kept off the machine
//! key(n+1) = BLAKE3-derive-key("tmux-audit seal ratchet v1", key(n))
//! epoch(t) = floor((t - start) / interval)
//! seal     = BLAKE3-keyed(key(epoch), "TASEAL1" ‖ epoch ‖ seq ‖ head ‖ time)   (integers u64/i64 BE)
//! ```
//!
//! The machine keeps only the key of the current epoch and overwrites it as epochs pass, so
//! someone who takes it can forge seals from that epoch on, never for earlier ones: the ratchet
//! cannot be run backwards. The auditor's verification key (seed, start, interval) derives every
//! epoch's key — so it is a secret too: whoever holds it can forge any seal (the scheme is
//! symmetric, like a MAC; journald's sealing uses a public-key construction instead). **Frozen**
//! once seals are stored: the context string and the MAC input layout
//! must not change.

mod check;

pub use check::{check, LateSeal, SealProblem, SealReport, LATE_EPOCHS};

use crate::chain::{from_hex as unhex, ChainHash};
use crate::time::Timestamp;
use std::fmt;
use thiserror::Error;

const RATCHET: &str = "tmux-audit seal ratchet v1";
const MAC_TAG: &[u8] = b"TASEAL1";
const KEY_PREFIX: &str = "tavk1";
const KEY_ID: &str = "tmux-audit seal key id v1";

/// Names a verification key without revealing it: 8 bytes of a one-way derivation of the seed.
pub type KeyId = [u8; 8];

fn key_id_of(seed: &[u8; 32]) -> KeyId {
    blake3::derive_key(KEY_ID, seed)[..8]
        .try_into()
        .expect("8 bytes")
}

/// A 32-byte seal.
pub type Seal = [u8; 32];

/// The key of epoch `n + 1` from that of epoch `n`.
fn ratchet(key: &[u8; 32]) -> [u8; 32] {
    blake3::derive_key(RATCHET, key)
}

/// Moves `key`, the key of epoch `at`, forward to epoch `to`; never backwards.
fn ratchet_to(at: &mut u64, key: &mut [u8; 32], to: u64) -> Result<(), SealError> {
    if to < *at {
        return Err(SealError::Backwards {
            wanted: to,
            at: *at,
        });
    }
    while *at < to {
        *key = ratchet(key);
        *at += 1;
    }
    Ok(())
}

fn mac(key: &[u8; 32], epoch: u64, seq: u64, head: &ChainHash, time: Timestamp) -> Seal {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(MAC_TAG);
    h.update(&epoch.to_be_bytes());
    h.update(&seq.to_be_bytes());
    h.update(head);
    h.update(&time.as_micros().to_be_bytes());
    *h.finalize().as_bytes()
}

/// When epochs begin and how long they last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Start of epoch 0.
    pub start: Timestamp,
    /// Length of an epoch in microseconds (at least one second).
    pub interval_us: u64,
}

impl Schedule {
    /// The epoch `time` falls in (times before the start fall in epoch 0).
    pub fn epoch_at(&self, time: Timestamp) -> u64 {
        let since = time
            .as_micros()
            .saturating_sub(self.start.as_micros())
            .max(0) as u64;
        since / self.interval_us.max(1)
    }
}

/// Why sealing state or a verification key could not be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SealError {
    /// The text is not a verification key.
    #[error("not a tmux-audit verification key (expected `tavk1:…`, as `seal init` printed it)")]
    NotAKey,
    /// A character was mistyped or lost.
    #[error(
        "the verification key is damaged (its checksum does not match): check it was copied whole"
    )]
    Checksum,
    /// The interval is shorter than a second.
    #[error("sealing interval {0} µs is shorter than one second")]
    Interval(u64),
    /// Sealing state cannot go back to an earlier epoch (its key no longer exists).
    #[error(
        "cannot seal in epoch {wanted}: the key is already at epoch {at} (keys only move forward)"
    )]
    Backwards {
        /// The epoch asked for.
        wanted: u64,
        /// The epoch the key is at.
        at: u64,
    },
    /// The stored sealing state is not readable.
    #[error("sealing state is corrupt")]
    State,
}

/// What the auditor keeps: derives the key of every epoch.
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationKey {
    seed: [u8; 32],
    schedule: Schedule,
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret by accident.
        f.debug_struct("VerificationKey")
            .field("schedule", &self.schedule)
            .finish_non_exhaustive()
    }
}

impl VerificationKey {
    /// A key from a random `seed`, epochs of `interval_us` from `start`.
    pub fn new(seed: [u8; 32], schedule: Schedule) -> Result<Self, SealError> {
        if schedule.interval_us < 1_000_000 {
            return Err(SealError::Interval(schedule.interval_us));
        }
        Ok(VerificationKey { seed, schedule })
    }

    /// The schedule.
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// One line to print once and keep off the machine:
    /// `tavk1:SEED:START_US:INTERVAL_US:CHECK` (hex seed, decimal integers, 8 hex checksum).
    pub fn to_text(&self) -> String {
        let body = format!(
            "{KEY_PREFIX}:{}:{}:{}",
            hex(&self.seed),
            self.schedule.start.as_micros(),
            self.schedule.interval_us
        );
        let check = &blake3::hash(body.as_bytes()).to_hex()[..8];
        format!("{body}:{check}")
    }

    /// Reads what [`VerificationKey::to_text`] wrote (surrounding whitespace ignored).
    pub fn from_text(text: &str) -> Result<Self, SealError> {
        let text = text.trim();
        let (body, check) = text.rsplit_once(':').ok_or(SealError::NotAKey)?;
        let parts: Vec<&str> = body.split(':').collect();
        let [prefix, seed, start, interval] = parts[..] else {
            return Err(SealError::NotAKey);
        };
        if prefix != KEY_PREFIX {
            return Err(SealError::NotAKey);
        }
        if check.len() != 8 || blake3::hash(body.as_bytes()).to_hex()[..8] != *check {
            return Err(SealError::Checksum);
        }
        let seed = unhex(seed).ok_or(SealError::NotAKey)?;
        let start = start.parse().map_err(|_| SealError::NotAKey)?;
        let interval_us = interval.parse().map_err(|_| SealError::NotAKey)?;
        VerificationKey::new(
            seed,
            Schedule {
                start: Timestamp(start),
                interval_us,
            },
        )
    }

    /// The key's id, as seals record it (hex).
    pub fn key_id(&self) -> String {
        hex(&key_id_of(&self.seed))
    }

    /// The sealing key of epoch 0, for the machine to start from.
    pub fn sealing_key(&self) -> SealingKey {
        SealingKey {
            epoch: 0,
            key: self.seed,
            schedule: self.schedule,
            key_id: key_id_of(&self.seed),
            last_sealed: None,
        }
    }

    /// Walks the epochs forward, for checking seals in order without recomputing from 0.
    pub fn walker(&self) -> KeyWalker {
        KeyWalker {
            epoch: 0,
            key: self.seed,
        }
    }
}

/// The keys of successive epochs, computed on demand, moving forward only.
#[derive(Clone)]
pub struct KeyWalker {
    epoch: u64,
    key: [u8; 32],
}

impl KeyWalker {
    /// Whether `seal` is the seal of (`epoch`, `seq`, `head`, `time`). `epoch` must not be
    /// earlier than the last asked (the caller checks that seals go forward first).
    pub fn check(
        &mut self,
        epoch: u64,
        seq: u64,
        head: &ChainHash,
        time: Timestamp,
        seal: &Seal,
    ) -> Result<bool, SealError> {
        ratchet_to(&mut self.epoch, &mut self.key, epoch)?;
        let expected = mac(&self.key, epoch, seq, head, time);
        Ok(constant_time_eq(&expected, seal))
    }
}

/// What the machine keeps: the key of the current epoch only.
#[derive(Clone, PartialEq, Eq)]
pub struct SealingKey {
    epoch: u64,
    key: [u8; 32],
    schedule: Schedule,
    key_id: KeyId,
    /// The seq and time of the last seal made with this state, so that `verify` can tell a
    /// store whose sealed tail was cut off.
    last_sealed: Option<(u64, Timestamp)>,
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKey")
            .field("epoch", &self.epoch)
            .field("schedule", &self.schedule)
            .finish_non_exhaustive()
    }
}

/// Bytes of [`SealingKey::to_bytes`].
pub const STATE_LEN: usize = 4 + 8 + 32 + 8 + 8 + 8 + 8 + 8;
const STATE_MAGIC: &[u8; 4] = b"TSK1";

impl SealingKey {
    /// The epoch its key belongs to.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The schedule.
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// The verification key's id (hex), recorded in each seal.
    pub fn key_id(&self) -> String {
        hex(&self.key_id)
    }

    /// The seq and time of the last seal record made (after it was stored).
    pub fn last_sealed(&self) -> Option<(u64, Timestamp)> {
        self.last_sealed
    }

    /// Remembers that the seal record `seq`, made at `time`, is stored.
    pub fn sealed(&mut self, seq: u64, time: Timestamp) {
        self.last_sealed = Some((seq, time));
    }

    /// Moves the key forward to `epoch`, forgetting every earlier key.
    pub fn advance_to(&mut self, epoch: u64) -> Result<(), SealError> {
        ratchet_to(&mut self.epoch, &mut self.key, epoch)
    }

    /// Seals chain head `head` (the hash of record `seq`) at `time`, moving the key forward to
    /// `time`'s epoch first. Returns the epoch used and the seal.
    pub fn seal(
        &mut self,
        seq: u64,
        head: &ChainHash,
        time: Timestamp,
    ) -> Result<(u64, Seal), SealError> {
        self.advance_to(self.schedule.epoch_at(time))?;
        Ok((self.epoch, mac(&self.key, self.epoch, seq, head, time)))
    }

    /// The state file's bytes: magic, epoch, key, start, interval, key id, and the last seal's
    /// seq and time (0 and 0 before the first), integers big-endian.
    pub fn to_bytes(&self) -> [u8; STATE_LEN] {
        let mut out = [0u8; STATE_LEN];
        let (last_seq, last_time) = self.last_sealed.map_or((0, 0), |(s, t)| (s, t.as_micros()));
        out[..4].copy_from_slice(STATE_MAGIC);
        out[4..12].copy_from_slice(&self.epoch.to_be_bytes());
        out[12..44].copy_from_slice(&self.key);
        out[44..52].copy_from_slice(&self.schedule.start.as_micros().to_be_bytes());
        out[52..60].copy_from_slice(&self.schedule.interval_us.to_be_bytes());
        out[60..68].copy_from_slice(&self.key_id);
        out[68..76].copy_from_slice(&last_seq.to_be_bytes());
        out[76..84].copy_from_slice(&last_time.to_be_bytes());
        out
    }

    /// Reads [`SealingKey::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        if bytes.len() != STATE_LEN || &bytes[..4] != STATE_MAGIC {
            return Err(SealError::State);
        }
        let u64_at = |i: usize| u64::from_be_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        let interval_us = u64_at(52);
        if interval_us < 1_000_000 {
            return Err(SealError::State);
        }
        let last_seq = u64_at(68);
        Ok(SealingKey {
            epoch: u64_at(4),
            key: bytes[12..44].try_into().expect("32 bytes"),
            schedule: Schedule {
                start: Timestamp(u64_at(44) as i64),
                interval_us,
            },
            key_id: bytes[60..68].try_into().expect("8 bytes"),
            last_sealed: (last_seq > 0).then(|| (last_seq, Timestamp(u64_at(76) as i64))),
        })
    }
}

pub(crate) fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule {
            start: Timestamp::from_secs(1_000),
            interval_us: 15_000_000,
        }
    }

    fn key() -> VerificationKey {
        VerificationKey::new([7; 32], schedule()).unwrap()
    }

    #[test]
    fn a_seal_checks_with_the_verification_key_and_nothing_else() {
        let mut sealing = key().sealing_key();
        let head = [3u8; 32];
        let t = Timestamp::from_secs(1_000 + 47);
        let (epoch, seal) = sealing.seal(9, &head, t).unwrap();
        assert_eq!(epoch, 3);
        assert!(key().walker().check(3, 9, &head, t, &seal).unwrap());
        // Any change to what was sealed, or another key, fails.
        assert!(!key().walker().check(3, 10, &head, t, &seal).unwrap());
        assert!(!key().walker().check(3, 9, &[4; 32], t, &seal).unwrap());
        assert!(!key().walker().check(4, 9, &head, t, &seal).unwrap());
        assert!(!key()
            .walker()
            .check(3, 9, &head, Timestamp(t.as_micros() + 1), &seal)
            .unwrap());
        let other = VerificationKey::new([8; 32], schedule()).unwrap();
        assert!(!other.walker().check(3, 9, &head, t, &seal).unwrap());
    }

    #[test]
    fn keys_only_move_forward_and_a_later_key_cannot_seal_an_earlier_epoch() {
        let mut sealing = key().sealing_key();
        sealing.advance_to(5).unwrap();
        assert_eq!(
            sealing.advance_to(4),
            Err(SealError::Backwards { wanted: 4, at: 5 })
        );
        // Holding epoch 5's key, a forger's seal for epoch 2 does not verify: the honest key of
        // epoch 2 is not reachable from epoch 5's.
        let head = [1u8; 32];
        let t2 = Timestamp::from_secs(1_000 + 2 * 15 + 1);
        let forged = mac(&sealing.key, 2, 1, &head, t2);
        assert!(!key().walker().check(2, 1, &head, t2, &forged).unwrap());
        // The same key, asked for an epoch it has passed, refuses.
        assert!(sealing.seal(1, &head, t2).is_err());
    }

    #[test]
    fn the_verification_key_round_trips_as_one_line_and_catches_typos() {
        let text = key().to_text();
        assert!(text.starts_with("tavk1:0707"));
        assert_eq!(
            VerificationKey::from_text(&format!("  {text}\n")).unwrap(),
            key()
        );
        let mut typo = text.clone().into_bytes();
        typo[10] = if typo[10] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            VerificationKey::from_text(std::str::from_utf8(&typo).unwrap()),
            Err(SealError::Checksum)
        );
        assert_eq!(VerificationKey::from_text("hello"), Err(SealError::NotAKey));
        assert_eq!(
            VerificationKey::new(
                [0; 32],
                Schedule {
                    start: Timestamp(0),
                    interval_us: 10
                }
            ),
            Err(SealError::Interval(10))
        );
        assert!(
            !format!("{:?}", key()).contains("0707"),
            "Debug hides the seed"
        );
    }

    #[test]
    fn sealing_state_round_trips_and_rejects_garbage() {
        let mut sealing = key().sealing_key();
        sealing.advance_to(12).unwrap();
        let bytes = sealing.to_bytes();
        assert_eq!(SealingKey::from_bytes(&bytes).unwrap(), sealing);
        assert_eq!(SealingKey::from_bytes(&bytes[1..]), Err(SealError::State));
        let mut bad = bytes;
        bad[0] = b'X';
        assert_eq!(SealingKey::from_bytes(&bad), Err(SealError::State));
    }

    #[test]
    fn epochs_follow_the_schedule() {
        let s = schedule();
        assert_eq!(s.epoch_at(Timestamp::from_secs(0)), 0);
        assert_eq!(s.epoch_at(Timestamp::from_secs(1_000)), 0);
        assert_eq!(s.epoch_at(Timestamp::from_secs(1_014)), 0);
        assert_eq!(s.epoch_at(Timestamp::from_secs(1_015)), 1);
    }
}
