//! Who did it: naming the person behind something done in a session, with the confidence the
//! record allows.
//!
//! tmux never records which client typed a key, so a command in a pane is given to the people
//! who could have typed it: the users of the clients attached to its session that could write
//! (not read-only — or a control-mode client, which read-only does not bind in tmux 3.3a). One
//! such user makes the attribution exact; several leave it unknown, with the candidates named;
//! none (a script, keys sent by `send-keys` from outside) leaves it unknown with none. Never a
//! silent guess.

use crate::event::{Event, Kind};
use crate::fold::World;
use crate::time::Timestamp;
use crate::values::names;
use serde::Serialize;
use std::collections::HashMap;

names! {
    /// How sure an attribution is (the `attribution` field).
    pub enum Confidence for "attribution" {
        /// One user could have done it.
        Exact = "exact",
        /// Several could; this one typed last before it (tmux's per-client key times, whole
        /// seconds): likely, not proven.
        Inferred = "inferred",
        /// Several could, or none was attached.
        Unknown = "unknown",
    }
}

/// Who did something in a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attribution {
    /// The user, when exact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// How sure.
    pub attribution: Confidence,
    /// The users who could have, sorted (empty: nobody attached could write).
    pub candidates: Vec<String>,
}

/// Who could have acted in session `session_id` of `server` as `world` stands.
pub fn in_session(world: &World, server: &str, session_id: &str) -> Attribution {
    let mut users: Vec<String> = world
        .clients
        .values()
        .filter(|c| c.server == server && c.session_id == session_id)
        .filter(|c| {
            !c.readonly
                || c.flags
                    .as_deref()
                    .is_some_and(|f| f.split(',').any(|x| x == "control-mode"))
        })
        .map(|c| {
            c.user
                .clone()
                .or_else(|| c.uid.map(|u| format!("uid {u}")))
                .unwrap_or_else(|| format!("client {}", c.client))
        })
        .collect();
    users.sort();
    users.dedup();
    match users.as_slice() {
        [one] => Attribution {
            actor: Some(one.clone()),
            attribution: Confidence::Exact,
            candidates: users,
        },
        _ => Attribution {
            actor: None,
            attribution: Confidence::Unknown,
            candidates: users,
        },
    }
}

/// `who`, narrowed by who typed last before the act (`last_typist`, from `client-active`
/// events) when several could have: [`Confidence::Inferred`], the candidates still listed.
pub fn inferred(mut who: Attribution, last_typist: Option<&str>) -> Attribution {
    if who.attribution == Confidence::Unknown && who.candidates.len() >= 2 {
        if let Some(user) = last_typist.filter(|u| who.candidates.iter().any(|c| c == u)) {
            who.actor = Some(user.to_owned());
            who.attribution = Confidence::Inferred;
        }
    }
    who
}

impl Attribution {
    /// The attribution an event carries, when the daemon stamped one.
    pub fn stored(e: &Event) -> Option<Attribution> {
        Some(Attribution {
            actor: e.actor.clone(),
            attribution: e.attribution?,
            candidates: e.candidates.clone().unwrap_or_default(),
        })
    }

    /// Writes this attribution into `e` (`actor`, `attribution`, `candidates`).
    pub fn stamp(&self, e: &mut Event) {
        e.actor = self.actor.clone();
        e.attribution = Some(self.attribution);
        e.candidates = Some(self.candidates.clone());
    }
}

/// Whether `kind` is something done that names who did it.
pub fn is_act(kind: Kind) -> bool {
    matches!(kind, Kind::Command | Kind::ShellCommand | Kind::TmuxCommand)
}

/// Typist changes kept per session: enough for the acts still waiting for their evidence.
const TYPISTS_KEPT: usize = 256;

/// Names who did each act from the events before it: who was attached and could type, and
/// who typed last (`client-active`). The daemon folds events through one as it records them
/// and stamps each act; `tmux-audit commands` does the same for acts recorded before stamping
/// existed.
#[derive(Debug, Default)]
pub struct Attributor {
    world: World,
    /// Each shared session's changes of last typist: (key time, user), in arrival order.
    typists: HashMap<(String, String), Vec<(Timestamp, String)>>,
}

impl Attributor {
    /// Starts from `world` (the state a replay of the log left).
    pub fn with_world(world: World) -> Self {
        Attributor {
            world,
            typists: HashMap::new(),
        }
    }

    /// Takes an event into account.
    pub fn observe(&mut self, e: &Event) {
        self.world.apply(e);
        if e.kind == Kind::ClientActive {
            if let (Some(id), Some(from), Some(user)) = (&e.session_id, e.from, &e.user) {
                let seen = self
                    .typists
                    .entry((e.server.clone(), id.clone()))
                    .or_default();
                seen.push((from, user.clone()));
                let excess = seen.len().saturating_sub(TYPISTS_KEPT);
                seen.drain(..excess);
            }
        }
    }

    /// The state folded so far.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// Who could have done `act`, before any inference: the client tmux logged for a tmux
    /// command, else whoever could type in its session.
    pub fn could_have(&self, act: &Event) -> Attribution {
        if act.kind == Kind::TmuxCommand {
            let named = if act.pane_id.is_some() {
                act.by_user.clone()
            } else {
                act.user.clone()
            };
            if let Some(user) = named {
                return Attribution {
                    actor: Some(user.clone()),
                    attribution: Confidence::Exact,
                    candidates: vec![user],
                };
            }
        }
        match &act.session_id {
            Some(id) => in_session(&self.world, &act.server, id),
            None => in_session(&World::default(), "", ""),
        }
    }

    /// Who did `act`: [`Attributor::could_have`], narrowed to the last typist before it
    /// started when several could have. Pass `typists_seen: false` when no look at the
    /// clients' key times was made after it started: then nothing is inferred.
    pub fn attribute(&self, act: &Event, typists_seen: bool) -> Attribution {
        let who = self.could_have(act);
        if !typists_seen {
            return who;
        }
        let start = act.from.unwrap_or(act.time);
        let last_typist = act.session_id.as_ref().and_then(|id| {
            let seen = self.typists.get(&(act.server.clone(), id.clone()))?;
            // Key times are whole seconds: the last change at or before the second it started.
            let second = Timestamp::from_secs(start.as_micros().div_euclid(1_000_000));
            seen.iter()
                .filter(|(t, _)| *t <= second)
                .max_by_key(|(t, _)| *t)
                .map(|(_, u)| u.as_str())
        });
        inferred(who, last_typist)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Kind};
    use crate::time::Timestamp;

    fn attach(world: &mut World, client: &str, user: &str, readonly: bool, flags: &str) {
        let mut e = Event::new(Timestamp(1), Kind::ClientAttached, "h", "/s");
        e.session = Some("prod".into());
        e.session_id = Some("$0".into());
        e.client = Some(client.into());
        e.user = Some(user.into());
        e.uid = Some(1000);
        e.readonly = Some(readonly);
        e.flags = Some(flags.into());
        world.apply(&e);
    }

    #[test]
    fn one_writer_is_exact_several_are_named_none_is_unknown() {
        let mut w = World::default();
        assert_eq!(in_session(&w, "/s", "$0").attribution, Confidence::Unknown);
        attach(&mut w, "/dev/pts/1", "alice", false, "attached");
        attach(&mut w, "/dev/pts/2", "alice", false, "attached");
        attach(&mut w, "/dev/pts/3", "bob", true, "attached,read-only");
        let a = in_session(&w, "/s", "$0");
        assert_eq!(
            (a.actor.as_deref(), a.attribution),
            (Some("alice"), Confidence::Exact),
            "two clients of one user, and a read-only watcher"
        );
        attach(&mut w, "client-9", "bob", true, "control-mode,read-only");
        let a = in_session(&w, "/s", "$0");
        assert_eq!(a.attribution, Confidence::Unknown);
        assert_eq!(
            a.candidates,
            ["alice", "bob"],
            "read-only binds no control client"
        );
        assert_eq!(in_session(&w, "/s", "$1").candidates, Vec::<String>::new());
        let guess = inferred(a.clone(), Some("bob"));
        assert_eq!(
            (guess.actor.as_deref(), guess.attribution),
            (Some("bob"), Confidence::Inferred)
        );
        assert_eq!(guess.candidates, ["alice", "bob"], "still listed");
        assert_eq!(
            inferred(a.clone(), Some("mallory")),
            a,
            "not a candidate: no guess"
        );
        assert_eq!(inferred(a.clone(), None), a);
    }

    #[test]
    fn an_act_goes_to_the_last_typist_only_once_key_times_were_looked_at() {
        let mut a = Attributor::default();
        let mut w = World::default();
        attach(&mut w, "/dev/pts/1", "alice", false, "attached");
        attach(&mut w, "/dev/pts/2", "bob", false, "attached");
        a.world = w;
        let typed = |user: &str, secs: i64| {
            let mut e = Event::new(Timestamp::from_secs(secs), Kind::ClientActive, "h", "/s");
            e.session_id = Some("$0".into());
            e.user = Some(user.into());
            e.from = Some(Timestamp::from_secs(secs));
            e
        };
        a.observe(&typed("alice", 100));
        a.observe(&typed("bob", 105));
        let mut act = Event::new(Timestamp::from_secs(110), Kind::Command, "h", "/s");
        act.session_id = Some("$0".into());
        act.from = Some(Timestamp::from_secs(103));
        let who = a.attribute(&act, true);
        assert_eq!(
            (who.actor.as_deref(), who.attribution),
            (Some("alice"), Confidence::Inferred),
            "bob typed after it started"
        );
        let unseen = a.attribute(&act, false);
        assert_eq!(unseen.attribution, Confidence::Unknown, "no look: no guess");
        assert_eq!(unseen.candidates, ["alice", "bob"]);
        let mut stamped = act.clone();
        who.stamp(&mut stamped);
        assert_eq!(Attribution::stored(&stamped), Some(who));
        assert_eq!(Attribution::stored(&act), None);
    }
}
