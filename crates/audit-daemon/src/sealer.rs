//! Sealing the chain: the daemon's half of forward-secure seals (`audit_core::seal`).
//!
//! The state file (`DB.seal`, owner-only, read and written through `audit_state`) holds only
//! the current epoch's key. Each tick the key is moved to the current epoch and written back — the old key is overwritten, so a thief gets
//! no earlier epoch's key — and, when the chain grew since the last seal, a `seal` record is
//! appended over the head, in the same transaction that reads it. Then the state records that
//! seal's seq and time, so that `verify` can tell a store whose sealed tail was cut off.

use audit_core::seal::SealingKey;
use audit_core::{Event, Kind, Timestamp};
use audit_state::{SealStateError, StateDir};
use audit_store::{EventStore, StoreError};
use thiserror::Error;

/// Why sealing failed.
#[derive(Debug, Error)]
pub enum SealerError {
    /// The state file could not be read or written, or is not sealing state.
    #[error(transparent)]
    State(#[from] SealStateError),
    /// The store refused the seal.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The daemon's sealer.
pub struct Sealer {
    key: SealingKey,
    state: StateDir,
    host: String,
    scope: String,
    /// The seq the last seal covered.
    sealed: Option<u64>,
}

impl Sealer {
    /// Loads the sealing state in `state`, if `seal init` made one.
    pub fn load(state: &StateDir, host: &str, scope: &str) -> Result<Option<Sealer>, SealerError> {
        let Some(key) = state.sealing_key()? else {
            return Ok(None);
        };
        Ok(Some(Sealer {
            key,
            state: state.clone(),
            host: host.to_owned(),
            scope: scope.to_owned(),
            sealed: None,
        }))
    }

    /// The sealing interval.
    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.key.schedule().interval_us)
    }

    /// Moves the key to now's epoch (erasing older keys) and seals the head if the chain grew.
    pub fn tick(&mut self, store: &mut dyn EventStore) -> Result<(), SealerError> {
        let now = Timestamp::now();
        let epoch = self.key.schedule().epoch_at(now);
        if epoch < self.key.epoch() {
            tracing::warn!(
                "the clock is before the sealing key's epoch {}: not sealing until it catches up",
                self.key.epoch()
            );
            return Ok(());
        }
        if epoch > self.key.epoch() {
            self.key.advance_to(epoch).expect("forward");
            self.state.write_sealing_key(&self.key)?;
        }
        let head = store.head()?.map(|h| h.seq);
        if head.is_none() || head == self.sealed {
            return Ok(());
        }
        let key = &mut self.key;
        let (host, scope) = (&self.host, &self.scope);
        let stored = store.append_after_head(&mut |seq, head| {
            let (epoch, seal) = key.seal(seq, head, now).expect("key at now's epoch");
            let mut e = Event::new(now, Kind::Seal, host, scope);
            e.epoch = Some(epoch as i64);
            e.seal = Some(audit_core::chain::to_hex(&seal));
            e.key_id = Some(key.key_id());
            e
        })?;
        self.sealed = Some(stored.seq);
        // Only once the seal is stored: the state must never claim a seal the store lacks, or
        // `verify` would take an honest store for a cut one.
        self.key.sealed(stored.seq, now);
        self.state.write_sealing_key(&self.key)?;
        Ok(())
    }
}
