//! Who did it: naming the person behind something done in a session, with the confidence the
//! record allows.
//!
//! tmux never records which client typed a key, so a command in a pane is given to the people
//! who could have typed it: the users of the clients attached to its session that could write
//! (not read-only — or a control-mode client, which read-only does not bind in tmux 3.3a). One
//! such user makes the attribution exact; several leave it unknown, with the candidates named;
//! none (a script, keys sent by `send-keys` from outside) leaves it unknown with none. Never a
//! silent guess.

use crate::fold::World;
use serde::Serialize;

/// How sure an attribution is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confidence {
    /// One user could have done it.
    Exact,
    /// Several could; this one typed last before it (tmux's per-client key times, whole
    /// seconds): likely, not proven.
    Inferred,
    /// Several could, or none was attached.
    Unknown,
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
}
