//! Who typed last in a shared session: tmux records no keystroke's client, but it keeps each
//! client's last key time (`#{client_activity}`, whole seconds). When a program starts in a pane,
//! the daemon asks for a look; in a session where several clients can type, a `client-active`
//! event records each change of the client that typed last. `tmux-audit commands` infers from
//! these who started a program when several could have — and says it is inferred.

use super::State;
use crate::conn::{ConnError, Connection};
use crate::snapshot::{self, Client, ServerView};
use audit_core::{Event, Kind, Observed, Timestamp};

/// Whether a client can type: not read-only, or a control client (read-only does not bind
/// those in tmux 3.3a).
fn can_type(c: &Client) -> bool {
    !c.readonly || c.control
}

impl State<'_> {
    /// A look at the clients only, when a program started in a pane: cheap (one command), and
    /// only where it can matter — some session has several clients that can type.
    pub(super) fn activity_look(&mut self, conn: &mut Connection) -> Result<(), ConnError> {
        let looked_at = Timestamp::now();
        if !shared(&self.known) {
            // Nobody shares a session: no typist to tell apart, nothing to wait for.
            self.sink.looked(&self.server, looked_at);
            return Ok(());
        }
        let mut view = ServerView::default();
        let bad = snapshot::read_clients(&mut view, &conn.command(&snapshot::clients_command())?);
        for line in &bad {
            tracing::warn!(server = %self.server, "unreadable tmux list line: {line:?}");
        }
        self.drop_own(&mut view, conn.pid());
        view.sessions = self.known.sessions.clone();
        let events = self.latest_typists(&view, Timestamp::now());
        if !events.is_empty() {
            self.sink.send(events);
        }
        self.sink.looked(&self.server, looked_at);
        Ok(())
    }

    /// `client-active` for each shared session whose last typist changed.
    pub(super) fn latest_typists(&mut self, view: &ServerView, time: Timestamp) -> Vec<Event> {
        let mut events = Vec::new();
        let mut sessions: Vec<&String> = view.clients.values().map(|c| &c.session_id).collect();
        sessions.sort();
        sessions.dedup();
        for session_id in sessions {
            let typists: Vec<&Client> = view
                .clients
                .values()
                .filter(|c| &c.session_id == session_id && can_type(c))
                .collect();
            if typists.len() < 2 {
                self.typists.remove(session_id);
                continue;
            }
            let Some(last) = typists
                .iter()
                .filter(|c| c.activity.is_some())
                .max_by_key(|c| (c.activity, c.name.clone()))
            else {
                continue;
            };
            let at = last.activity.expect("filtered");
            let known = self.typists.get(session_id);
            if known.is_some_and(|(name, when)| *name == last.name || *when > at) {
                if let Some(k) = self.typists.get_mut(session_id) {
                    if k.0 == last.name {
                        k.1 = at;
                    }
                }
                continue;
            }
            self.typists
                .insert(session_id.clone(), (last.name.clone(), at));
            let mut e = Event::new(time, Kind::ClientActive, &self.watch.host, &self.server)
                .observed(Observed::Live);
            e.session_id = Some(session_id.clone());
            e.session = view.sessions.get(session_id).map(|s| s.name.clone());
            e.client = Some(last.name.clone());
            e.user = last.user.clone();
            e.uid = last.uid;
            e.from = Some(Timestamp::from_secs(at));
            events.push(e);
        }
        events
    }
}

/// Whether some session has several clients that can type.
fn shared(view: &ServerView) -> bool {
    let mut counts = std::collections::BTreeMap::new();
    for c in view.clients.values().filter(|c| can_type(c)) {
        *counts.entry(&c.session_id).or_insert(0) += 1;
    }
    counts.values().any(|&n| n >= 2)
}
