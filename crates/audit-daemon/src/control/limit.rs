//! How often each user may ask the daemon to record a view: a token bucket per uid, so one
//! local user can neither fill the disk with `audit-access` events nor keep the daemon busy.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Requests a user may make at once...
const BURST: f64 = 20.0;
/// ...and one more every this long.
const REFILL: Duration = Duration::from_secs(2);
/// Users tracked at most (a full table forgets the fullest buckets).
const USERS: usize = 4096;

/// Tokens per uid.
#[derive(Default)]
pub struct Limiter {
    buckets: HashMap<u32, (f64, Instant)>,
}

impl Limiter {
    /// Takes one token of `uid`'s at `now`; `Err(wait)` when it has none left.
    pub fn take(&mut self, uid: u32, now: Instant) -> Result<(), Duration> {
        if self.buckets.len() >= USERS && !self.buckets.contains_key(&uid) {
            // Buckets that refilled completely say nothing; drop them.
            self.buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() / REFILL.as_secs_f64() < BURST
            });
        }
        let (tokens, at) = self.buckets.entry(uid).or_insert((BURST, now));
        let refilled = now.duration_since(*at).as_secs_f64() / REFILL.as_secs_f64();
        *tokens = (*tokens + refilled).min(BURST);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(REFILL.mul_f64(1.0 - *tokens))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_a_burst_then_one_request_per_refill() {
        let mut l = Limiter::default();
        let t = Instant::now();
        for _ in 0..20 {
            assert!(l.take(1000, t).is_ok());
        }
        assert!(l.take(1000, t).is_err(), "burst used up");
        assert!(l.take(65534, t).is_ok(), "another user has their own");
        assert!(l.take(1000, t + REFILL).is_ok(), "one more after a refill");
        assert!(l.take(1000, t + REFILL).is_err());
    }
}
