//! Folds: replaying the log into state.
//!
//! [`World`] is who and what was present at one moment — what `who --at` prints and what the
//! daemon diffs against when it restarts. [`SessionHistory`] sums each session's life: created,
//! closed, who took part and for how long — what `sessions` prints.
//!
//! Both are driven only by events, in `seq` order, so any view of the past is reproducible from
//! the log alone.

use crate::event::{Event, Kind, Observed};
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A client attached to a session, as last recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// Server socket path.
    pub server: String,
    /// Session name (kept current across renames).
    pub session: String,
    /// Session id.
    pub session_id: String,
    /// tmux client name.
    pub client: String,
    /// Kernel-attested user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Kernel-attested uid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<i64>,
    /// Attached since (for clients found at daemon start: when found).
    pub since: Timestamp,
    /// Read-only flag.
    pub readonly: bool,
    /// SSH remote address or `local`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Client tty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<String>,
    /// Client `TERM`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    /// Client pid (self-reported by the client).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_pid: Option<i64>,
    /// tmux's flags for the client when it attached (`control-mode` marks a control client).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
}

/// A live session as last recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionState {
    /// Name.
    pub name: String,
    /// When it was created (or first found).
    pub since: Timestamp,
}

/// A running server as last recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerState {
    /// When it was (first) seen.
    pub since: Timestamp,
    /// Its pid, which tells a restarted server from the same one.
    pub pid: Option<i64>,
}

/// A live window as last recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowState {
    /// Name.
    pub name: String,
    /// Session id.
    pub session_id: String,
}

/// A live pane as last recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaneState {
    /// Window id.
    pub window_id: String,
    /// Session id.
    pub session_id: String,
    /// Its pty.
    pub tty: Option<String>,
    /// Its first process (`pid` of `pane-created`).
    pub pid: Option<i64>,
}

/// Who and what was present, as of the last applied event.
#[derive(Clone, Debug, Default)]
pub struct World {
    /// Servers known running, by socket path.
    pub servers: BTreeMap<String, ServerState>,
    /// Live sessions by (server, session id).
    pub sessions: BTreeMap<(String, String), SessionState>,
    /// Live windows by (server, window id).
    pub windows: BTreeMap<(String, String), WindowState>,
    /// Live panes by (server, pane id).
    pub panes: BTreeMap<(String, String), PaneState>,
    /// Attached clients by (server, client name).
    pub clients: BTreeMap<(String, String), Attachment>,
}

fn key(server: &str, id: &Option<String>) -> Option<(String, String)> {
    id.as_ref().map(|id| (server.to_owned(), id.clone()))
}

impl World {
    /// Every kind [`World::apply`] reads: a store asked for only these (an indexed query)
    /// folds to the same world as the whole log, without reading output and commands.
    pub const KINDS: [Kind; 13] = [
        Kind::ServerStarted,
        Kind::ServerExited,
        Kind::WindowCreated,
        Kind::WindowRenamed,
        Kind::WindowClosed,
        Kind::PaneCreated,
        Kind::PaneExited,
        Kind::SessionCreated,
        Kind::SessionRenamed,
        Kind::SessionClosed,
        Kind::ClientAttached,
        Kind::ClientDetached,
        Kind::ClientReadonlyChanged,
    ];

    /// Applies one event.
    pub fn apply(&mut self, e: &Event) {
        match e.kind {
            Kind::ServerStarted => {
                let state = ServerState {
                    since: e.time,
                    pid: e.pid,
                };
                let known = self.servers.entry(e.server.clone()).or_insert(state);
                if known.pid != e.pid {
                    known.pid = e.pid;
                    known.since = e.time;
                }
            }
            Kind::ServerExited => self.forget_server(&e.server),
            Kind::WindowCreated | Kind::WindowRenamed => {
                if let (Some(k), Some(session_id)) = (key(&e.server, &e.window_id), &e.session_id) {
                    self.windows.insert(
                        k,
                        WindowState {
                            name: e.window.clone().unwrap_or_default(),
                            session_id: session_id.clone(),
                        },
                    );
                }
            }
            Kind::WindowClosed => {
                if let Some(k) = key(&e.server, &e.window_id) {
                    self.windows.remove(&k);
                }
            }
            Kind::PaneCreated => {
                if let (Some(k), Some(w), Some(s)) =
                    (key(&e.server, &e.pane_id), &e.window_id, &e.session_id)
                {
                    self.panes.insert(
                        k,
                        PaneState {
                            window_id: w.clone(),
                            session_id: s.clone(),
                            tty: e.tty.clone(),
                            pid: e.pid,
                        },
                    );
                }
            }
            Kind::PaneExited => {
                if let Some(k) = key(&e.server, &e.pane_id) {
                    self.panes.remove(&k);
                }
            }
            Kind::SessionCreated | Kind::SessionRenamed => {
                if let (Some(k), Some(name)) = (key(&e.server, &e.session_id), &e.session) {
                    for c in self.clients.values_mut() {
                        if c.server == k.0 && c.session_id == k.1 {
                            c.session = name.clone();
                        }
                    }
                    self.sessions
                        .entry(k)
                        .and_modify(|s| s.name = name.clone())
                        .or_insert(SessionState {
                            name: name.clone(),
                            since: e.time,
                        });
                }
            }
            Kind::SessionClosed => {
                if let Some(k) = key(&e.server, &e.session_id) {
                    self.clients
                        .retain(|_, c| !(c.server == k.0 && c.session_id == k.1));
                    self.sessions.remove(&k);
                }
            }
            Kind::ClientAttached => self.attach(e),
            Kind::ClientDetached => {
                if let Some(k) = key(&e.server, &e.client) {
                    self.clients.remove(&k);
                }
            }
            Kind::ClientReadonlyChanged => {
                if let (Some(k), Some(ro)) = (key(&e.server, &e.client), e.readonly) {
                    if let Some(c) = self.clients.get_mut(&k) {
                        c.readonly = ro;
                    }
                }
            }
            _ => {}
        }
    }

    /// Drops everything known about `server`.
    pub fn forget_server(&mut self, server: &str) {
        self.servers.remove(server);
        self.sessions.retain(|(s, _), _| s != server);
        self.windows.retain(|(s, _), _| s != server);
        self.panes.retain(|(s, _), _| s != server);
        self.clients.retain(|(s, _), _| s != server);
    }

    fn attach(&mut self, e: &Event) {
        let (Some(k), Some(session_id)) = (key(&e.server, &e.client), &e.session_id) else {
            return;
        };
        // A client re-reported at daemon start keeps the time it was first seen attached.
        let since = match self.clients.get(&k) {
            Some(old) if &old.session_id == session_id && old.client_pid == e.client_pid => {
                old.since
            }
            _ => e.time,
        };
        self.clients.insert(
            k,
            Attachment {
                server: e.server.clone(),
                session: e.session.clone().unwrap_or_default(),
                session_id: session_id.clone(),
                client: e.client.clone().unwrap_or_default(),
                user: e.user.clone(),
                uid: e.uid,
                since,
                readonly: e.readonly.unwrap_or(false),
                origin: e.origin.clone(),
                tty: e.tty.clone(),
                term: e.term.clone(),
                client_pid: e.client_pid,
                flags: e.flags.clone(),
            },
        );
    }
}

/// One session's life, summed from the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionSummary {
    /// Server socket path.
    pub server: String,
    /// Session id (unique within one server run).
    pub session_id: String,
    /// Last known name.
    pub session: String,
    /// Earlier names, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub former_names: Vec<String>,
    /// Created (or first found, if it existed before recording began).
    pub created: Timestamp,
    /// Whether `created` is when it was first found rather than when it was made.
    pub created_observed_at_start: bool,
    /// Closed, if it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed: Option<Timestamp>,
    /// Users who attached, by name (or `uid N` when the name is unknown).
    pub participants: BTreeSet<String>,
    /// Seconds each participant was attached (summed over clients; open attachments count up
    /// to the fold's end time).
    pub attached_seconds: BTreeMap<String, i64>,
    /// Number of attaches.
    pub attaches: u64,
}

/// Builds a [`SessionSummary`] per session from events applied in order. Cloned to finish a
/// copy while the original folds on (a view that keeps its place in the log).
#[derive(Clone, Debug, Default)]
pub struct SessionHistory {
    sessions: Vec<SessionSummary>,
    live: BTreeMap<(String, String), usize>,
    /// Open attachments: (server, client) → (session index, participant, since).
    open: BTreeMap<(String, String), (usize, String, Timestamp)>,
}

fn participant(e: &Event) -> String {
    match (&e.user, e.uid) {
        (Some(u), _) => u.clone(),
        (None, Some(uid)) => format!("uid {uid}"),
        (None, None) => "unknown".to_owned(),
    }
}

impl SessionHistory {
    /// Every kind [`SessionHistory::apply`] reads (see [`World::KINDS`]).
    pub const KINDS: [Kind; 6] = [
        Kind::SessionCreated,
        Kind::SessionRenamed,
        Kind::SessionClosed,
        Kind::ServerExited,
        Kind::ClientAttached,
        Kind::ClientDetached,
    ];

    /// Applies one event.
    pub fn apply(&mut self, e: &Event) {
        match e.kind {
            Kind::SessionCreated | Kind::SessionRenamed => self.named(e),
            Kind::SessionClosed => {
                if let Some(i) = key(&e.server, &e.session_id).and_then(|k| self.live.remove(&k)) {
                    self.close_clients(|_, idx| idx == i, e.time);
                    self.sessions[i].closed = Some(e.time);
                }
            }
            Kind::ServerExited => {
                let server = e.server.clone();
                self.close_clients(|(s, _), _| s == &server, e.time);
                let closing: Vec<_> = self
                    .live
                    .keys()
                    .filter(|(s, _)| s == &e.server)
                    .cloned()
                    .collect();
                for k in closing {
                    if let Some(i) = self.live.remove(&k) {
                        self.sessions[i].closed = Some(e.time);
                    }
                }
            }
            Kind::ClientAttached => {
                let (Some(k), Some(sk)) =
                    (key(&e.server, &e.client), key(&e.server, &e.session_id))
                else {
                    return;
                };
                let Some(&i) = self.live.get(&sk) else { return };
                if let Some((old_i, _, _)) = self.open.get(&k) {
                    if *old_i == i {
                        return; // re-reported at daemon start: still the same attachment
                    }
                }
                self.end(&k, e.time);
                let who = participant(e);
                let s = &mut self.sessions[i];
                s.participants.insert(who.clone());
                s.attaches += 1;
                self.open.insert(k, (i, who, e.time));
            }
            Kind::ClientDetached => {
                if let Some(k) = key(&e.server, &e.client) {
                    self.end(&k, e.time);
                }
            }
            _ => {}
        }
    }

    fn named(&mut self, e: &Event) {
        let (Some(k), Some(name)) = (key(&e.server, &e.session_id), &e.session) else {
            return;
        };
        match self.live.get(&k) {
            Some(&i) => {
                let s = &mut self.sessions[i];
                if &s.session != name {
                    let old = std::mem::replace(&mut s.session, name.clone());
                    s.former_names.push(old);
                }
            }
            None => {
                self.sessions.push(SessionSummary {
                    server: e.server.clone(),
                    session_id: k.1.clone(),
                    session: name.clone(),
                    former_names: Vec::new(),
                    created: e.time,
                    created_observed_at_start: e.observed == Some(Observed::AtStart),
                    closed: None,
                    participants: BTreeSet::new(),
                    attached_seconds: BTreeMap::new(),
                    attaches: 0,
                });
                self.live.insert(k, self.sessions.len() - 1);
            }
        }
    }

    fn end(&mut self, client: &(String, String), at: Timestamp) {
        if let Some((i, who, since)) = self.open.remove(client) {
            let secs = (at.as_secs() - since.as_secs()).max(0);
            *self.sessions[i].attached_seconds.entry(who).or_default() += secs;
        }
    }

    fn close_clients(&mut self, pred: impl Fn(&(String, String), usize) -> bool, at: Timestamp) {
        let ending: Vec<_> = self
            .open
            .iter()
            .filter(|(k, (i, _, _))| pred(k, *i))
            .map(|(k, _)| k.clone())
            .collect();
        for k in ending {
            self.end(&k, at);
        }
    }

    /// Where the live session `session_id` of `server` is in what [`SessionHistory::finish`]
    /// returns (its creation order), if it is live.
    pub fn live(&self, server: &str, session_id: &str) -> Option<usize> {
        self.live
            .get(&(server.to_owned(), session_id.to_owned()))
            .copied()
    }

    /// The summaries, counting still-open attachments up to `now`.
    pub fn finish(mut self, now: Timestamp) -> Vec<SessionSummary> {
        let open: Vec<_> = self.open.keys().cloned().collect();
        for k in open {
            self.end(&k, now);
        }
        self.sessions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: i64, kind: Kind) -> Event {
        let mut e = Event::new(Timestamp::from_secs(t), kind, "h", "/s");
        e.session_id = Some("$1".into());
        e.session = Some("prod".into());
        e
    }

    fn attach(t: i64, client: &str, user: &str) -> Event {
        let mut e = ev(t, Kind::ClientAttached);
        e.client = Some(client.into());
        e.user = Some(user.into());
        e.client_pid = Some(t);
        e
    }

    fn detach(t: i64, client: &str) -> Event {
        let mut e = ev(t, Kind::ClientDetached);
        e.client = Some(client.into());
        e
    }

    /// What `KINDS` promises: an event of any other kind, however full, changes nothing.
    #[test]
    fn the_folds_read_only_their_kinds() {
        let mut w = World::default();
        let mut h = SessionHistory::default();
        for e in [
            ev(0, Kind::SessionCreated),
            attach(10, "/dev/pts/1", "alice"),
        ] {
            w.apply(&e);
            h.apply(&e);
        }
        let (world, history) = (format!("{w:?}"), format!("{h:?}"));
        for kind in Kind::ALL {
            let mut e = attach(20, "/dev/pts/1", "bob");
            e.kind = kind;
            e.window_id = Some("@1".into());
            e.pane_id = Some("%1".into());
            e.readonly = Some(true);
            e.pid = Some(7);
            if !World::KINDS.contains(&kind) {
                let mut w = w.clone();
                w.apply(&e);
                assert_eq!(format!("{w:?}"), world, "{kind:?}");
            }
            if !SessionHistory::KINDS.contains(&kind) {
                let mut h2 = SessionHistory::default();
                for e in [
                    ev(0, Kind::SessionCreated),
                    attach(10, "/dev/pts/1", "alice"),
                ] {
                    h2.apply(&e);
                }
                h2.apply(&e);
                assert_eq!(format!("{h2:?}"), history, "{kind:?}");
            }
        }
    }

    #[test]
    fn world_tracks_attach_detach_and_renames() {
        let mut w = World::default();
        w.apply(&ev(0, Kind::SessionCreated));
        w.apply(&attach(10, "/dev/pts/1", "alice"));
        w.apply(&attach(20, "/dev/pts/2", "bob"));
        let mut r = ev(30, Kind::SessionRenamed);
        r.session = Some("prod-2".into());
        w.apply(&r);
        w.apply(&detach(40, "/dev/pts/1"));
        let clients: Vec<_> = w.clients.values().collect();
        assert_eq!(clients.len(), 1);
        assert_eq!(clients[0].user.as_deref(), Some("bob"));
        assert_eq!(clients[0].session, "prod-2");
        w.apply(&ev(50, Kind::SessionClosed));
        assert!(w.clients.is_empty() && w.sessions.is_empty());
    }

    #[test]
    fn history_sums_attached_time_per_user() {
        let mut h = SessionHistory::default();
        h.apply(&ev(0, Kind::SessionCreated));
        h.apply(&attach(10, "/dev/pts/1", "alice"));
        h.apply(&attach(15, "/dev/pts/2", "bob"));
        h.apply(&detach(70, "/dev/pts/1"));
        h.apply(&ev(100, Kind::SessionClosed));
        let s = h.finish(Timestamp::from_secs(1000));
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].attached_seconds["alice"], 60);
        assert_eq!(s[0].attached_seconds["bob"], 85);
        assert_eq!(s[0].closed, Some(Timestamp::from_secs(100)));
        assert_eq!(s[0].attaches, 2);
    }
}
