//! The table of logged-in browsers.
//!
//! A token is 32 random bytes (base64 URL-safe, no padding) handed to the browser once; the
//! table is keyed by its blake3 hash, so whoever reads the table (a core dump, a debugger)
//! still cannot present a valid cookie.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use zeroize::Zeroizing;

/// At most this many logins are kept; beyond it the oldest are dropped, so a stream of
/// successful logins that never log out cannot grow the table without bound.
const MAX_LOGINS: usize = 10_000;

/// Length of an encoded token: 32 bytes in unpadded base64. Anything else cannot be ours,
/// and is refused before hashing.
const TOKEN_LEN: usize = 43;

/// One logged-in browser, as the request handlers see it.
#[derive(Clone, Debug)]
pub struct Login {
    /// The user name that logged in.
    pub user: String,
    /// Its uid at login time (kept so logs name the account even if it is renamed).
    pub uid: u32,
    /// The CSRF token that state-changing requests must carry.
    pub csrf: String,
    /// When the login was made; logins older than the table's life are ended.
    pub since: Instant,
}

struct Entry {
    login: Login,
    last_used: Instant,
}

/// The logins, keyed by blake3(token).
pub struct Logins {
    idle: Duration,
    life: Duration,
    cap: usize,
    table: HashMap<[u8; 32], Entry>,
}

impl Logins {
    /// A table whose logins end after `idle` without use, or `life` after they were made.
    pub fn new(idle: Duration, life: Duration) -> Logins {
        Logins {
            idle,
            life,
            cap: MAX_LOGINS,
            table: HashMap::new(),
        }
    }

    /// Makes a login. Returns the cookie token (to send once; it is not kept) and the login.
    pub fn create(&mut self, user: String, uid: u32, now: Instant) -> (String, Login) {
        if self.table.len() >= self.cap {
            self.sweep(now);
            self.drop_oldest(self.cap.saturating_sub(1));
        }
        let token = random_token();
        let login = Login {
            user,
            uid,
            csrf: random_token(),
            since: now,
        };
        self.table.insert(
            key(&token),
            Entry {
                login: login.clone(),
                last_used: now,
            },
        );
        (token, login)
    }

    /// The login of a token, if it has not expired; marks it used. An expired login is
    /// removed, so its token stays dead even if the clock were to disagree later.
    pub fn check(&mut self, token: &str, now: Instant) -> Option<Login> {
        if token.len() != TOKEN_LEN {
            return None;
        }
        let k = key(token);
        let entry = self.table.get_mut(&k)?;
        if expired(entry, self.idle, self.life, now) {
            self.table.remove(&k);
            return None;
        }
        entry.last_used = entry.last_used.max(now);
        Some(entry.login.clone())
    }

    /// Ends the login of a token (logout); unknown tokens are ignored.
    pub fn remove(&mut self, token: &str) {
        self.table.remove(&key(token));
    }

    /// Drops expired logins, then the oldest ones beyond the cap. Meant to be called now and
    /// then, as [`check`](Self::check) only removes the logins that are presented.
    pub fn sweep(&mut self, now: Instant) {
        let (idle, life) = (self.idle, self.life);
        self.table.retain(|_, e| !expired(e, idle, life, now));
        self.drop_oldest(self.cap);
    }

    /// How many logins the table holds.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the table holds no login.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Keeps at most `keep` logins, dropping those made first.
    fn drop_oldest(&mut self, keep: usize) {
        if self.table.len() <= keep {
            return;
        }
        let mut by_age: Vec<([u8; 32], Instant)> = self
            .table
            .iter()
            .map(|(k, e)| (*k, e.login.since))
            .collect();
        by_age.sort_unstable_by_key(|&(_, since)| since);
        let excess = self.table.len() - keep;
        for (k, _) in by_age.into_iter().take(excess) {
            self.table.remove(&k);
        }
    }
}

fn expired(entry: &Entry, idle: Duration, life: Duration, now: Instant) -> bool {
    now.saturating_duration_since(entry.last_used) > idle
        || now.saturating_duration_since(entry.login.since) > life
}

fn key(token: &str) -> [u8; 32] {
    blake3::hash(token.as_bytes()).into()
}

/// 32 bytes from the kernel's random source, encoded for a cookie or a header.
fn random_token() -> String {
    let mut bytes = Zeroizing::new([0u8; 32]);
    // getrandom(2) only fails before the kernel's pool is seeded on very old kernels, or when
    // seccomp forbids it; a login without a secure random token must not be made.
    getrandom::getrandom(bytes.as_mut()).expect("the kernel's random source (getrandom) failed");
    URL_SAFE_NO_PAD.encode(bytes.as_ref())
}

/// Whether a CSRF token presented by a request is the expected one, in time that does not
/// depend on where they differ (so the token cannot be found byte by byte). The length may
/// leak: every token has the same length.
pub fn same_token(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn created_login_checks_and_is_distinct() {
        let mut logins = Logins::new(10 * MIN, 60 * MIN);
        let t0 = Instant::now();
        let (token, login) = logins.create("alice".into(), 1000, t0);
        assert_eq!(token.len(), TOKEN_LEN);
        assert_eq!(login.csrf.len(), TOKEN_LEN);
        assert_ne!(token, login.csrf);
        let got = logins.check(&token, t0 + MIN).expect("fresh login");
        assert_eq!((got.user.as_str(), got.uid), ("alice", 1000));
        assert_eq!(got.csrf, login.csrf);
        let (other, _) = logins.create("alice".into(), 1000, t0);
        assert_ne!(token, other);
        assert!(logins.check("x".repeat(TOKEN_LEN).as_str(), t0).is_none());
        assert!(logins.check("short", t0).is_none());
    }

    #[test]
    fn table_holds_the_hash_not_the_token() {
        let mut logins = Logins::new(10 * MIN, 60 * MIN);
        let (token, _) = logins.create("alice".into(), 1000, Instant::now());
        assert_eq!(logins.len(), 1);
        let (k, _) = logins.table.iter().next().unwrap();
        assert_eq!(*k, <[u8; 32]>::from(blake3::hash(token.as_bytes())));
        // Neither the token's text nor its decoded bytes are kept as the key.
        assert!(!k.starts_with(&token.as_bytes()[..32]));
        let raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        assert_ne!(k.as_slice(), raw.as_slice());
    }

    #[test]
    fn expires_when_idle_and_use_keeps_it_alive() {
        let mut logins = Logins::new(10 * MIN, 60 * MIN);
        let t0 = Instant::now();
        let (token, _) = logins.create("bob".into(), 1001, t0);
        // Used every 9 minutes: stays alive past the idle limit counted from creation.
        for i in 1..=3 {
            assert!(logins.check(&token, t0 + 9 * i * MIN).is_some(), "use {i}");
        }
        // 10 minutes since last use is still inside; a moment after it is not.
        assert!(logins.check(&token, t0 + 37 * MIN).is_some());
        assert!(logins
            .check(&token, t0 + 47 * MIN + Duration::from_secs(1))
            .is_none());
        assert!(logins.is_empty(), "an expired login is removed");
        // Removed means removed: an earlier time does not bring it back.
        assert!(logins.check(&token, t0 + 40 * MIN).is_none());
    }

    #[test]
    fn expires_at_end_of_life_even_when_used() {
        let mut logins = Logins::new(10 * MIN, 30 * MIN);
        let t0 = Instant::now();
        let (token, _) = logins.create("carol".into(), 1002, t0);
        for i in 1..=6 {
            assert!(logins.check(&token, t0 + 5 * i * MIN).is_some(), "use {i}");
        }
        assert!(logins
            .check(&token, t0 + 30 * MIN + Duration::from_secs(1))
            .is_none());
        assert!(logins.is_empty());
    }

    #[test]
    fn remove_ends_only_that_login() {
        let mut logins = Logins::new(10 * MIN, 60 * MIN);
        let t0 = Instant::now();
        let (a, _) = logins.create("a".into(), 1, t0);
        let (b, _) = logins.create("b".into(), 2, t0);
        logins.remove(&a);
        logins.remove("not a token");
        assert!(logins.check(&a, t0).is_none());
        assert_eq!(logins.check(&b, t0).map(|l| l.user), Some("b".into()));
    }

    #[test]
    fn sweep_drops_expired_then_oldest_beyond_cap() {
        let mut logins = Logins::new(10 * MIN, 60 * MIN);
        let t0 = Instant::now();
        let stale = logins.create("stale".into(), 0, t0).0;
        let tokens: Vec<String> = (1..=5u32)
            .map(|i| logins.create(format!("u{i}"), i, t0 + 20 * MIN + i * MIN).0)
            .collect();
        logins.cap = 3;
        logins.sweep(t0 + 26 * MIN);
        assert_eq!(logins.len(), 3);
        assert!(logins.check(&stale, t0 + 26 * MIN).is_none());
        let alive: Vec<bool> = tokens
            .iter()
            .map(|t| logins.check(t, t0 + 26 * MIN).is_some())
            .collect();
        assert_eq!(alive, [false, false, true, true, true]);
    }

    #[test]
    fn create_at_cap_drops_the_oldest() {
        let mut logins = Logins::new(10 * MIN, 60 * MIN);
        logins.cap = 2;
        let t0 = Instant::now();
        let first = logins.create("a".into(), 1, t0).0;
        let second = logins.create("b".into(), 2, t0 + MIN).0;
        let third = logins.create("c".into(), 3, t0 + 2 * MIN).0;
        assert_eq!(logins.len(), 2);
        let now = t0 + 3 * MIN;
        assert!(logins.check(&first, now).is_none());
        assert!(logins.check(&second, now).is_some());
        assert!(logins.check(&third, now).is_some());
    }

    #[test]
    fn same_token_compares_whole_tokens() {
        assert!(same_token("abcdef", "abcdef"));
        assert!(!same_token("abcdef", "abcdeg"));
        assert!(!same_token("abcdef", "Abcdef"));
        assert!(!same_token("abcdef", "abcde"));
        assert!(!same_token("abcdef", ""));
        assert!(same_token("", ""));
    }
}
