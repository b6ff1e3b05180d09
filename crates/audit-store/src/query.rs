//! What a query asks for: one [`Filter`] every view and every backend shares.
//!
//! A backend answers a filter with its own indexes (SQLite: `WHERE` clauses over indexed
//! columns); [`Filter::admits`] says the same thing about one event, the oracle the conformance
//! suite checks every backend against.

use audit_core::{Event, Kind, Timestamp};
use std::path::Path;

/// Which events a query visits. Every field set narrows; unset fields match anything. Time
/// bounds are inclusive and apply to the event's `time`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only events of this host (the daemon's host name; for a central store, the enrolled
    /// name).
    pub host: Option<String>,
    /// Only events of this tmux server: its socket path, or (without a `/`) its socket's file
    /// name, the `-L` name.
    pub server: Option<String>,
    /// Only events of a session that ever had this name or id (`$N`), followed by its id
    /// through renames: what a person means by "the session prod".
    pub session: Option<String>,
    /// Only events about this pane id (`%N`).
    pub pane: Option<String>,
    /// Only events of these kinds (empty: every kind).
    pub kinds: Vec<Kind>,
    /// Only events naming this user (the kernel-attested `user` of a client).
    pub user: Option<String>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events at or before this time.
    pub until: Option<Timestamp>,
}

impl Filter {
    /// Every event.
    pub fn all() -> Self {
        Filter::default()
    }

    /// Only events of `kinds`.
    pub fn kinds(kinds: &[Kind]) -> Self {
        Filter {
            kinds: kinds.to_vec(),
            ..Filter::default()
        }
    }

    /// The same filter, only on the server `server` (socket path or name).
    pub fn on_server(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }

    /// The same filter, only for the pane `pane`.
    pub fn on_pane(mut self, pane: impl Into<String>) -> Self {
        self.pane = Some(pane.into());
        self
    }

    /// The same filter, only from `since` on.
    pub fn since(mut self, since: Option<Timestamp>) -> Self {
        self.since = since;
        self
    }

    /// The same filter, only up to `until`.
    pub fn until(mut self, until: Option<Timestamp>) -> Self {
        self.until = until;
        self
    }

    /// Whether `event` passes every field but `session`, whose match needs the session's other
    /// names and ids, which only the store knows.
    pub fn admits(&self, event: &Event) -> bool {
        let eq = |want: &Option<String>, got: &Option<String>| {
            want.as_ref().is_none_or(|w| got.as_ref() == Some(w))
        };
        self.host.as_ref().is_none_or(|h| &event.host == h)
            && self
                .server
                .as_deref()
                .is_none_or(|s| server_matches(&event.server, s))
            && eq(&self.pane, &event.pane_id)
            && (self.kinds.is_empty() || self.kinds.contains(&event.kind))
            && eq(&self.user, &event.user)
            && self.since.is_none_or(|t| event.time >= t)
            && self.until.is_none_or(|t| event.time <= t)
    }
}

/// Whether the socket path `server` is the server `want` names: the path itself, or (when
/// `want` has no `/`) a socket of that file name.
pub fn server_matches(server: &str, want: &str) -> bool {
    server == want
        || (!want.contains('/')
            && Path::new(server)
                .file_name()
                .is_some_and(|name| name == std::ffi::OsStr::new(want)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_named_by_path_or_socket_name() {
        assert!(server_matches("/tmp/tmux-0/default", "/tmp/tmux-0/default"));
        assert!(server_matches("/tmp/tmux-0/default", "default"));
        assert!(!server_matches("/tmp/tmux-0/default", "defaul"));
        assert!(!server_matches("/tmp/tmux-0/default", "tmux-0/default"));
        assert!(!server_matches("/tmp/tmux-0/other", "/tmp/tmux-0/default"));
    }

    #[test]
    fn unset_fields_match_anything_and_set_ones_narrow() {
        let mut e = Event::new(Timestamp::from_secs(5), Kind::ClientAttached, "h", "/s/x");
        e.user = Some("alice".into());
        e.pane_id = Some("%1".into());
        assert!(Filter::all().admits(&e));
        assert!(Filter::kinds(&[Kind::ClientAttached]).admits(&e));
        assert!(!Filter::kinds(&[Kind::ClientDetached]).admits(&e));
        assert!(Filter::all().on_server("x").on_pane("%1").admits(&e));
        assert!(!Filter::all().on_pane("%2").admits(&e));
        let time = |s, u| Filter::all().since(s).until(u);
        assert!(time(Some(Timestamp::from_secs(5)), Some(Timestamp::from_secs(5))).admits(&e));
        assert!(!time(Some(Timestamp::from_secs(6)), None).admits(&e));
        let user = |u: &str| Filter {
            user: Some(u.into()),
            ..Filter::default()
        };
        assert!(user("alice").admits(&e) && !user("bob").admits(&e));
        let host = |h: &str| Filter {
            host: Some(h.into()),
            ..Filter::default()
        };
        assert!(host("h").admits(&e) && !host("g").admits(&e));
    }
}
