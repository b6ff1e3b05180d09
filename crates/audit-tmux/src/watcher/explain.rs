//! Explaining what the watcher sees: why a client left (detached itself, was kicked, its
//! session closed), who ran the command (a `tmux` typed in a pane is logged under the pane's
//! tty), clients too brief to be listed, and our own control client being detached.

use super::State;
use crate::control::Notification;
use crate::diff::Departure;
use crate::messages::{self, Cause, Departing};
use crate::snapshot::{self, ServerView};
use audit_core::{Event, Kind, Observed, Reason, Timestamp};
use std::collections::BTreeMap;

impl State<'_> {
    fn gone<'v>(&'v self, view: &'v ServerView) -> impl Iterator<Item = &'v snapshot::Client> {
        self.known
            .clients
            .values()
            .filter(|c| view.clients.get(&c.name).map(|n| n.pid) != Some(c.pid))
    }

    pub(super) fn any_gone(&self, view: &ServerView) -> bool {
        self.gone(view).next().is_some()
    }

    /// Why each client that vanished since the last look left.
    pub(super) fn departures(
        &self,
        entries: &[messages::Entry],
        view: &ServerView,
    ) -> BTreeMap<String, Departure> {
        self.gone(view)
            .map(|c| {
                let d = self.departure_of(&c.name, &c.session_id, entries, view);
                (c.name.clone(), d)
            })
            .collect()
    }

    /// Why `client`, last in session `session_id`, left: its session closed, it detached
    /// itself, someone kicked it (and who), or — with no command to explain it — it exited.
    fn departure_of(
        &self,
        client: &str,
        session_id: &str,
        entries: &[messages::Entry],
        view: &ServerView,
    ) -> Departure {
        let plain = |reason| Departure {
            reason,
            by: None,
            by_user: None,
            note: None,
        };
        if !view.sessions.contains_key(session_id) {
            return plain(Reason::SessionClosed);
        }
        if self.kicked.contains_key(client) {
            return Departure {
                reason: Reason::Kicked,
                by: Some("tmux-audit".into()),
                by_user: None,
                note: Some(
                    "kicked by tmux-audit for the policy (see the policy-violation before)".into(),
                ),
            };
        }
        let own_ttys: Vec<String> = (self.known.panes.values().chain(view.panes.values()))
            .filter(|p| p.session_id == session_id)
            .map(|p| p.tty.clone())
            .collect();
        let session = (self.known.sessions.get(session_id))
            .or_else(|| view.sessions.get(session_id))
            .map_or("", |s| s.name.as_str());
        let departing = Departing {
            client,
            session,
            session_id,
            own_ttys: &own_ttys,
            all_kicked: self.reconnected,
        };
        match messages::detach_cause(entries, &departing) {
            Some(Cause::Detached) => plain(Reason::Detach),
            Some(Cause::Kicked { by, by_user }) => {
                let (by, by_user, note) = self.actor(by, by_user, client, view);
                Departure {
                    reason: Reason::Kicked,
                    by: Some(by),
                    by_user,
                    note,
                }
            }
            None => plain(Reason::Exit),
        }
    }

    /// A client tmux announced that was gone again before we could list it (an attach of a
    /// few milliseconds, say to grab a screen): recorded with what is known.
    pub(super) fn fleeting(
        &self,
        s: &Sighting,
        entries: &[messages::Entry],
        view: &ServerView,
    ) -> Vec<Event> {
        // The attach command in the message log names the user when it is not the owner.
        let attach = entries.iter().rev().find(|e| {
            e.client == s.client
                && e.command.as_deref().is_some_and(|c| {
                    c.starts_with("attach") || c.starts_with("new") || c.starts_with("switch")
                })
        });
        let user = attach.map(|e| e.user.clone().or_else(|| self.owner()));
        let mut attached = self.event(s.at, Kind::ClientAttached, Observed::Live);
        attached.session_id = Some(s.session_id.clone());
        attached.session = Some(s.session.clone());
        attached.client = Some(s.client.clone());
        attached.user = user.flatten();
        attached.message = Some(
            "left again before it could be listed: uid, pid and read-only flag unknown; user from tmux's message log when shown".into(),
        );
        let d = self.departure_of(&s.client, &s.session_id, entries, view);
        let mut detached = attached.clone();
        detached.kind = Kind::ClientDetached;
        detached.time = Timestamp::now();
        detached.reason = Some(d.reason);
        detached.by = d.by;
        detached.by_user = d.by_user;
        detached.message = d.note.or(detached.message);
        vec![attached, detached]
    }

    /// Who ran a command that the message log names by `name`. A `tmux` command typed in a
    /// pane is logged under the pane's tty; if exactly one other client was attached to that
    /// pane's session — or exactly one of them is still there now (`detach-client -a` spares
    /// whoever ran it) — that client's user typed it.
    fn actor(
        &self,
        name: String,
        user: Option<String>,
        departing: &str,
        now: &ServerView,
    ) -> (String, Option<String>, Option<String>) {
        // tmux shows [user] only when it differs from the server owner's.
        let Some((pane_id, pane)) = self.known.panes.iter().find(|(_, p)| p.tty == name) else {
            return (name, user.or_else(|| self.owner()), None);
        };
        let attached: Vec<_> = self
            .known
            .clients
            .values()
            .filter(|c| c.session_id == pane.session_id && c.name != departing)
            .collect();
        let staying: Vec<_> = attached
            .iter()
            .copied()
            .filter(|c| now.clients.get(&c.name).is_some_and(|n| n.pid == c.pid))
            .collect();
        let candidates = if attached.len() > 1 && staying.len() == 1 {
            staying
        } else {
            attached
        };
        match candidates.as_slice() {
            [only] => (
                only.name.clone(),
                user.or_else(|| only.user.clone()),
                Some(format!(
                    "detach-client was run in pane {pane_id} (tty {name}), where {} was the one client attached (or left attached)",
                    only.name
                )),
            ),
            _ => (
                name.clone(),
                user.or_else(|| self.owner()),
                Some(format!(
                    "detach-client was run in pane {pane_id} (tty {name}); {} clients were attached to its session",
                    candidates.len()
                )),
            ),
        }
    }

    /// Our control client was detached and we came back: the interval is recorded, with who
    /// did it when the message log tells. What changed meanwhile follows as ordinary events.
    pub(super) fn recorder_gap(
        &self,
        from: Timestamp,
        until: Timestamp,
        ours: &str,
        entries: &[messages::Entry],
        view: &ServerView,
    ) -> Event {
        let mut e = self.event(Timestamp::now(), Kind::AuditGap, Observed::Live);
        e.from = Some(from);
        e.until = Some(until.max(from));
        e.reason = Some(Reason::RecorderDetached);
        let departing = Departing {
            client: ours,
            session: "",
            session_id: "",
            own_ttys: &[],
            all_kicked: true,
        };
        let mut message = "the daemon's control client on this server was detached; it reconnected and re-read the server, so changes in between are recorded, but their times are when they were found".to_owned();
        if let Some(Cause::Kicked { by, by_user }) = messages::detach_cause(entries, &departing) {
            let (by, by_user, note) = self.actor(by, by_user, ours, view);
            e.by = Some(by);
            e.by_user = by_user;
            if let Some(note) = note {
                message.push_str("; ");
                message.push_str(&note);
            }
        }
        e.message = Some(message);
        e
    }

    /// The server owner's name: the owner of the socket.
    pub(super) fn owner(&self) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata(&self.watch.socket).ok()?.uid();
        crate::users::name_of(uid)
    }
}

/// A client tmux said attached (or switched), with when and where.
#[derive(Clone, Debug)]
pub(super) struct Sighting {
    pub(super) at: Timestamp,
    pub(super) client: String,
    pub(super) session_id: String,
    pub(super) session: String,
}

impl Sighting {
    pub(super) fn of(at: Timestamp, n: &Notification) -> Option<Self> {
        match n {
            Notification::ClientSessionChanged {
                client,
                session_id,
                session,
            } => Some(Sighting {
                at,
                client: client.clone(),
                session_id: session_id.clone(),
                session: session.clone(),
            }),
            _ => None,
        }
    }
}
