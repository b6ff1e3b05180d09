//! Failed-login limits: at most 5 failures per client address and 10 per user name within a
//! sliding 10-minute window. Beyond that a login is refused without asking PAM, so a password
//! cannot be guessed fast and PAM's failure delay is not a lever to tie up the server.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// Most addresses (and, separately, user names) tracked; a flood from many addresses can
/// then not grow memory without bound.
const MAX_TRACKED: usize = 100_000;

/// Longest user name kept as a key. Longer names cannot log in (PAM is not even asked), so
/// merging them under one truncated key loses nothing and bounds the memory per key.
const MAX_USER_KEY: usize = 256;

/// The recent failures, per client address and per user name.
pub struct FailedLogins {
    per_addr: HashMap<IpAddr, VecDeque<Instant>>,
    per_user: HashMap<String, VecDeque<Instant>>,
    addr_limit: usize,
    user_limit: usize,
    window: Duration,
    cap: usize,
}

impl Default for FailedLogins {
    fn default() -> Self {
        Self::new()
    }
}

impl FailedLogins {
    /// 5 failures per address, 10 per user name, in 10 minutes.
    pub fn new() -> FailedLogins {
        Self::with_limits(5, 10, Duration::from_secs(600))
    }

    /// Other limits (tests, or a site that wants them stricter).
    pub fn with_limits(per_addr: usize, per_user: usize, window: Duration) -> FailedLogins {
        FailedLogins {
            per_addr: HashMap::new(),
            per_user: HashMap::new(),
            addr_limit: per_addr,
            user_limit: per_user,
            window,
            cap: MAX_TRACKED,
        }
    }

    /// `Err(wait)` when this address or user name is at its limit: how long until its oldest
    /// counted failure leaves the window (at least a second, so the answer is never "retry now").
    pub fn check(&mut self, addr: IpAddr, user: &str, now: Instant) -> Result<(), Duration> {
        let a = wait(
            &mut self.per_addr,
            &addr_key(addr),
            self.addr_limit,
            self.window,
            now,
        );
        let u = wait(
            &mut self.per_user,
            user_key(user),
            self.user_limit,
            self.window,
            now,
        );
        match a.max(u) {
            None => Ok(()),
            Some(w) => Err(w.max(Duration::from_secs(1))),
        }
    }

    /// Counts a failed login against the address and the user name.
    pub fn failed(&mut self, addr: IpAddr, user: &str, now: Instant) {
        let (window, cap) = (self.window, self.cap);
        let key = addr_key(addr);
        record(&mut self.per_addr, key, self.addr_limit, window, cap, now);
        let key = user_key(user).to_owned();
        record(&mut self.per_user, key, self.user_limit, window, cap, now);
    }

    /// A successful login clears that user's and that address's failures.
    pub fn succeeded(&mut self, addr: IpAddr, user: &str) {
        self.per_addr.remove(&addr_key(addr));
        self.per_user.remove(user_key(user));
    }
}

/// The key an address is counted under. IPv4-mapped IPv6 is the IPv4 address; other IPv6
/// addresses count per /64, since one host usually holds a whole /64 and could otherwise
/// pick a fresh address for every guess.
fn addr_key(addr: IpAddr) -> IpAddr {
    match addr.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

fn user_key(user: &str) -> &str {
    if user.len() <= MAX_USER_KEY {
        return user;
    }
    let mut end = MAX_USER_KEY;
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    &user[..end]
}

/// Forgets failures that left the window.
fn prune(times: &mut VecDeque<Instant>, window: Duration, now: Instant) {
    while times
        .front()
        .is_some_and(|&t| now.saturating_duration_since(t) >= window)
    {
        times.pop_front();
    }
}

/// How long `key` must wait, if it has `limit` failures in the window.
fn wait<K, Q>(
    map: &mut HashMap<K, VecDeque<Instant>>,
    key: &Q,
    limit: usize,
    window: Duration,
    now: Instant,
) -> Option<Duration>
where
    K: std::borrow::Borrow<Q> + Hash + Eq,
    Q: Hash + Eq + ?Sized,
{
    let times = map.get_mut(key)?;
    prune(times, window, now);
    if times.is_empty() {
        map.remove(key);
        return None;
    }
    if times.len() < limit {
        return None;
    }
    let oldest = *times.front()?;
    Some(window.saturating_sub(now.saturating_duration_since(oldest)))
}

/// Adds a failure. Only the newest `limit` failures are kept: the oldest of those is all that
/// decides the wait, and it bounds each key's memory.
fn record<K: Hash + Eq + Clone>(
    map: &mut HashMap<K, VecDeque<Instant>>,
    key: K,
    limit: usize,
    window: Duration,
    cap: usize,
    now: Instant,
) {
    if !map.contains_key(&key) && map.len() >= cap {
        make_room(map, window, cap, now);
    }
    let times = map.entry(key).or_default();
    prune(times, window, now);
    times.push_back(now);
    while times.len() > limit.max(1) {
        times.pop_front();
    }
}

/// Frees a slot: first forgets keys whose failures all left the window, then, if the map is
/// still full, the key whose newest failure is the oldest.
fn make_room<K: Hash + Eq + Clone>(
    map: &mut HashMap<K, VecDeque<Instant>>,
    window: Duration,
    cap: usize,
    now: Instant,
) {
    map.retain(|_, times| {
        prune(times, window, now);
        !times.is_empty()
    });
    if map.len() < cap {
        return;
    }
    let stalest = map
        .iter()
        .min_by_key(|(_, times)| times.back().copied())
        .map(|(k, _)| k.clone());
    if let Some(k) = stalest {
        map.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_address_limit() {
        let mut f = FailedLogins::with_limits(3, 100, 600 * S);
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(f.check(ip("192.0.2.1"), "u", t0).is_ok(), "failure {i}");
            f.failed(ip("192.0.2.1"), &format!("user{i}"), t0 + i * S);
        }
        // Refused whatever the user name; another address is not affected.
        assert_eq!(f.check(ip("192.0.2.1"), "other", t0 + 10 * S), Err(590 * S));
        assert!(f.check(ip("192.0.2.2"), "other", t0 + 10 * S).is_ok());
    }

    #[test]
    fn per_user_limit_across_addresses() {
        let mut f = FailedLogins::with_limits(100, 2, 600 * S);
        let t0 = Instant::now();
        f.failed(ip("192.0.2.1"), "root", t0);
        assert!(f.check(ip("192.0.2.9"), "root", t0).is_ok());
        f.failed(ip("192.0.2.2"), "root", t0 + 5 * S);
        assert_eq!(f.check(ip("192.0.2.9"), "root", t0 + 5 * S), Err(595 * S));
        assert!(f.check(ip("192.0.2.9"), "alice", t0 + 5 * S).is_ok());
    }

    #[test]
    fn window_slides() {
        let mut f = FailedLogins::with_limits(2, 100, 60 * S);
        let t0 = Instant::now();
        let a = ip("198.51.100.7");
        f.failed(a, "u", t0);
        f.failed(a, "u", t0 + 30 * S);
        assert_eq!(f.check(a, "u", t0 + 40 * S), Err(20 * S));
        // The first failure leaves the window at t0+60: one more try is allowed…
        assert!(f.check(a, "u", t0 + 60 * S).is_ok());
        f.failed(a, "u", t0 + 61 * S);
        // …and then the wait is counted from the second failure.
        assert_eq!(f.check(a, "u", t0 + 62 * S), Err(28 * S));
        assert!(f.check(a, "u", t0 + 121 * S).is_ok());
    }

    #[test]
    fn wait_is_at_least_a_second() {
        let mut f = FailedLogins::with_limits(1, 100, 60 * S);
        let t0 = Instant::now();
        f.failed(ip("192.0.2.1"), "u", t0);
        let almost = t0 + 60 * S - Duration::from_millis(10);
        assert_eq!(f.check(ip("192.0.2.1"), "u", almost), Err(S));
    }

    #[test]
    fn success_clears_user_and_address() {
        let mut f = FailedLogins::with_limits(2, 2, 600 * S);
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        f.failed(a, "alice", t0);
        f.failed(a, "alice", t0);
        assert!(f.check(a, "alice", t0).is_err());
        f.succeeded(a, "alice");
        assert!(f.check(a, "alice", t0).is_ok());
        assert!(f.per_addr.is_empty() && f.per_user.is_empty());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let mut f = FailedLogins::with_limits(2, 100, 600 * S);
        let t0 = Instant::now();
        f.failed(ip("2001:db8:1:2::1"), "a", t0);
        f.failed(ip("2001:db8:1:2:ffff::9"), "b", t0);
        assert!(f.check(ip("2001:db8:1:2::77"), "c", t0).is_err());
        assert!(f.check(ip("2001:db8:1:3::1"), "c", t0).is_ok());
        f.failed(ip("192.0.2.5"), "a", t0);
        f.failed(ip("::ffff:192.0.2.5"), "b", t0);
        assert!(f.check(ip("192.0.2.5"), "c", t0).is_err());
    }

    #[test]
    fn memory_is_bounded() {
        let mut f = FailedLogins::with_limits(3, 3, 60 * S);
        f.cap = 4;
        let t0 = Instant::now();
        for i in 0..20u8 {
            f.failed(IpAddr::from([10, 0, 0, i]), "u", t0 + u32::from(i) * S);
        }
        assert!(f.per_addr.len() <= 4);
        assert_eq!(
            f.per_user["u"].len(),
            3,
            "only the newest `limit` failures are kept"
        );
        // The newest address survived the evictions and is still counted.
        f.failed(IpAddr::from([10, 0, 0, 19]), "v", t0 + 20 * S);
        f.failed(IpAddr::from([10, 0, 0, 19]), "v", t0 + 20 * S);
        assert!(f
            .check(IpAddr::from([10, 0, 0, 19]), "w", t0 + 20 * S)
            .is_err());
        // Long user names share one bounded key.
        let long = "x".repeat(1000);
        f.failed(ip("192.0.2.1"), &long, t0);
        assert!(f.per_user.keys().all(|k| k.len() <= MAX_USER_KEY));
    }
}
