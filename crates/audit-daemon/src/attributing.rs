//! Who did it, stamped into the record: every `command`, `shell-command` and `tmux-command`
//! leaves the writer with `actor`, `attribution` and `candidates`.
//!
//! The evidence for a short program often arrives after the program's own event: the kernel
//! reports its end within a millisecond, while the watcher's look at the clients' key times
//! (asked for when it started) comes back a little later. So an act whose session has several
//! clients that could type waits here until its server's watcher has looked at key times after
//! the act began ([`audit_tmux::Sink::looked`]), then is stamped — `inferred` from the last
//! typist, with the candidates. If no look comes within [`WAIT_FOR_LOOK`] it is stamped
//! `unknown` with the candidates: evidence that predates the act would be a guess.

use audit_core::attribution::{is_act, Attributor, Confidence};
use audit_core::{Event, Timestamp};
use audit_tmux::conn::Nudger;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Each watched server's handle for asking its watcher who typed last.
pub type Nudgers = Mutex<HashMap<String, Nudger>>;

/// Longest an act waits for a look at key times before it is stamped without one.
pub const WAIT_FOR_LOOK: Duration = Duration::from_secs(2);

/// The stamping stage: folds every event passing to the store; holds acts that need a look.
pub struct Attributing {
    attributor: Attributor,
    /// Each server's latest look at its clients' key times.
    looked: HashMap<String, Timestamp>,
    /// Acts waiting for a look, oldest first, with when to give up waiting.
    held: VecDeque<(Event, Instant)>,
    nudgers: std::sync::Arc<Nudgers>,
}

impl Attributing {
    /// A stage that asks watchers through `nudgers` for the looks it waits for.
    pub fn new(attributor: Attributor, nudgers: std::sync::Arc<Nudgers>) -> Self {
        Attributing {
            attributor,
            looked: HashMap::new(),
            held: VecDeque::new(),
            nudgers,
        }
    }

    /// Takes `event`; pushes onto `ready` whatever can go to the store now, in order.
    pub fn admit(&mut self, mut event: Event, ready: &mut impl Extend<Event>) {
        self.attributor.observe(&event);
        if !is_act(event.kind) || event.attribution.is_some() {
            ready.extend([event]);
            return;
        }
        let who = self.attributor.could_have(&event);
        let contested = who.attribution == Confidence::Unknown && who.candidates.len() >= 2;
        if !contested || self.seen_since(&event) {
            self.attributor
                .attribute(&event, contested)
                .stamp(&mut event);
            ready.extend([event]);
            return;
        }
        if let Some(n) = self
            .nudgers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&event.server)
        {
            n.activity();
        }
        self.held.push_back((event, Instant::now() + WAIT_FOR_LOOK));
    }

    /// `server`'s watcher looked at key times at `at`: acts it covers are stamped.
    pub fn looked(&mut self, server: &str, at: Timestamp, ready: &mut impl Extend<Event>) {
        let last = self.looked.entry(server.to_owned()).or_insert(at);
        *last = (*last).max(at);
        self.release(Instant::now(), ready);
    }

    /// Stamps the acts whose look has come, and those that waited too long (without
    /// inference).
    pub fn release(&mut self, now: Instant, ready: &mut impl Extend<Event>) {
        let mut still = VecDeque::new();
        for (mut event, deadline) in std::mem::take(&mut self.held) {
            let seen = self.seen_since(&event);
            if seen || now >= deadline {
                self.attributor.attribute(&event, seen).stamp(&mut event);
                ready.extend([event]);
            } else {
                still.push_back((event, deadline));
            }
        }
        self.held = still;
    }

    /// Stamps everything held with what is known (the daemon is stopping).
    pub fn release_all(&mut self, ready: &mut impl Extend<Event>) {
        let far = Instant::now() + WAIT_FOR_LOOK * 2;
        self.release(far, ready);
    }

    /// When the oldest held act stops waiting.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.held.iter().map(|(_, d)| *d).min()
    }

    fn seen_since(&self, act: &Event) -> bool {
        let start = act.from.unwrap_or(act.time);
        self.looked.get(&act.server).is_some_and(|&at| at >= start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::Kind;

    fn attach(client: &str, user: &str) -> Event {
        let mut e = Event::new(Timestamp::from_secs(1), Kind::ClientAttached, "h", "/s");
        e.session = Some("prod".into());
        e.session_id = Some("$0".into());
        e.client = Some(client.into());
        e.user = Some(user.into());
        e.readonly = Some(false);
        e.flags = Some("attached".into());
        e
    }

    fn command(started: i64) -> Event {
        let mut e = Event::new(Timestamp::from_secs(started + 1), Kind::Command, "h", "/s");
        e.session_id = Some("$0".into());
        e.from = Some(Timestamp::from_secs(started));
        e
    }

    #[test]
    fn a_contested_act_waits_for_a_look_after_it_started() {
        let mut stage = Attributing::new(Attributor::default(), Default::default());
        let mut out: Vec<Event> = Vec::new();
        stage.admit(attach("/dev/pts/1", "alice"), &mut out);
        stage.admit(command(10), &mut out);
        assert_eq!(out.len(), 2, "one possible typist: stamped at once");
        assert_eq!(out[1].actor.as_deref(), Some("alice"));
        assert_eq!(out[1].attribution, Some(Confidence::Exact));

        stage.admit(attach("/dev/pts/2", "bob"), &mut out);
        let mut typed = Event::new(Timestamp::from_secs(20), Kind::ClientActive, "h", "/s");
        typed.session_id = Some("$0".into());
        typed.user = Some("bob".into());
        typed.from = Some(Timestamp::from_secs(19));
        stage.admit(command(20), &mut out);
        assert_eq!(out.len(), 3, "held: no look since it started");
        stage.looked("/s", Timestamp::from_secs(5), &mut out);
        assert_eq!(out.len(), 3, "a look from before it started proves nothing");
        stage.admit(typed, &mut out);
        stage.looked("/s", Timestamp::from_secs(21), &mut out);
        let act = out.last().unwrap();
        assert_eq!(act.kind, Kind::Command);
        assert_eq!(
            (act.actor.as_deref(), act.attribution),
            (Some("bob"), Some(Confidence::Inferred))
        );
        assert_eq!(
            act.candidates.as_deref(),
            Some(&["alice".into(), "bob".into()][..])
        );

        stage.admit(command(40), &mut out);
        assert!(stage.next_deadline().is_some());
        stage.release(Instant::now() + WAIT_FOR_LOOK, &mut out);
        let act = out.last().unwrap();
        assert_eq!(
            (act.actor.as_deref(), act.attribution),
            (None, Some(Confidence::Unknown)),
            "no look came: no guess"
        );
        assert_eq!(stage.next_deadline(), None);
    }
}
