//! One server, watched until it exits (or the daemon stops): connect, report what is there,
//! then report each change as tmux announces it.

use crate::conn::{ConnError, Connection, Next};
use crate::control::Notification;
use crate::diff::{self, Context, Departure};
use crate::messages::{self, Cause, Departing, Log};
use crate::origin;
use crate::shutdown::Shutdown;
use crate::snapshot::{self, ServerView};
use audit_core::{Event, Kind, Observed, Reason, Timestamp};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where events go. `send` blocks when the receiver is behind: events wait, none are dropped.
pub trait Sink: Send + Sync {
    /// Delivers events in order.
    fn send(&self, events: Vec<Event>);
}

/// What to watch and how.
#[derive(Clone, Debug)]
pub struct Watch {
    /// The `tmux` program.
    pub tmux: PathBuf,
    /// The server's socket.
    pub socket: PathBuf,
    /// This host's name, for every event.
    pub host: String,
}

/// What the log said about this server when the daemon started.
#[derive(Clone, Debug, Default)]
pub struct Prior {
    /// Sessions, windows, panes and clients as last recorded.
    pub view: ServerView,
    /// The server's pid, if the log says it is running.
    pub running_pid: Option<Option<i64>>,
    /// Whether this watcher starts with the daemon (state is then reported `at-start`).
    pub at_daemon_start: bool,
}

/// Connections in a row that end within a second before the watcher gives up.
const QUICK_FAILURES: u32 = 10;

/// Looks, 200 ms apart, at a server that has no session yet before giving up on it.
const NO_SESSION_RETRIES: u32 = 25;

/// Oldest tmux whose control mode has what the watcher needs (`attach -f no-output`, format
/// subscriptions).
pub const MIN_VERSION: (u32, u32) = (3, 2);

struct State<'a> {
    watch: &'a Watch,
    sink: &'a dyn Sink,
    server: String,
    known: ServerView,
    running_pid: Option<Option<i64>>,
    log: Log,
    /// Our previous control client was detached: the next look explains departures that
    /// happened while we were away (a `detach-client -a` detaches us too).
    reconnected: bool,
    /// Our previous control client was detached at this time, by whom we may learn: recorded
    /// as an `audit-gap` once we are back.
    detached: Option<(Timestamp, String)>,
}

/// Watches one server until it is gone or `shutdown` is triggered.
pub fn run(watch: &Watch, prior: Prior, sink: &dyn Sink, shutdown: &Shutdown) {
    let mut st = State {
        watch,
        sink,
        server: watch.socket.display().to_string(),
        known: prior.view,
        running_pid: prior.running_pid,
        log: Log::default(),
        reconnected: false,
        detached: None,
    };
    let mut observed = if prior.at_daemon_start {
        Observed::AtStart
    } else {
        Observed::Live
    };
    let mut failures = 0;
    let mut quick_failures = 0u32;
    while !shutdown.stopping() {
        let mut conn = match Connection::open(&watch.tmux, &watch.socket) {
            Ok(c) => c,
            Err(ConnError::NoSessions { .. }) if failures < NO_SESSION_RETRIES => {
                // A server still starting (no session yet), or between its last session closing and
                // exiting: look again shortly.
                failures += 1;
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            Err(e) => {
                tracing::debug!(server = %st.server, "not connected: {e}");
                if st.running_pid.is_some() && !shutdown.stopping() {
                    st.server_gone(observed, None);
                }
                return;
            }
        };
        failures = 0;
        if !shutdown.register(conn.pid(), conn.stopper()) {
            return;
        }
        st.log.add_own_client(format!("client-{}", conn.pid()));
        let connected = Instant::now();
        let result = st.session(&mut conn, observed);
        shutdown.unregister(conn.pid());
        let refused = match result {
            Err(ConnError::Unsupported(why)) => {
                tracing::warn!(server = %st.server, "not recording this server: {why}");
                return;
            }
            // Detached (perhaps by someone who wants us blind) or the server went: reconnect
            // at once, however often.
            Err(ConnError::Closed(why)) => {
                tracing::debug!(server = %st.server, "control client ended: {why}");
                st.detached = Some((Timestamp::now(), format!("client-{}", conn.pid())));
                false
            }
            Err(e) => {
                tracing::warn!(server = %st.server, "control client failed: {e}");
                true
            }
            Ok(()) => false,
        };
        // A connection that keeps failing at once must not become a busy loop.
        if refused && connected.elapsed() < Duration::from_secs(1) {
            quick_failures += 1;
            if quick_failures >= QUICK_FAILURES {
                tracing::warn!(server = %st.server, "control client keeps failing; giving up on this server until its socket is recreated");
                return;
            }
            std::thread::sleep(Duration::from_millis(200 * u64::from(quick_failures)));
        } else {
            quick_failures = 0;
        }
        observed = Observed::Live;
        st.reconnected = true;
    }
}

impl State<'_> {
    fn event(&self, time: Timestamp, kind: Kind, observed: Observed) -> Event {
        Event::new(time, kind, &self.watch.host, &self.server).observed(observed)
    }

    /// One control-client connection's life.
    fn session(&mut self, conn: &mut Connection, observed: Observed) -> Result<(), ConnError> {
        let info = snapshot::read_server(&conn.command(&snapshot::server_command())?);
        let now = Timestamp::now();
        if self.running_pid != Some(info.pid) {
            if self.running_pid.is_some() {
                // A different server process answers now. If we were connected to the old one
                // we saw it go; otherwise (daemon start) it ended unobserved.
                let how = if self.reconnected {
                    Observed::Live
                } else {
                    Observed::AtStart
                };
                self.server_gone(how, None);
            }
            // A new server explains why our client went; nothing was missed on this one.
            self.detached = None;
            let mut e = self.event(now, Kind::ServerStarted, observed);
            e.pid = info.pid;
            e.version = Some(info.version.clone());
            e.message = version_note(&info.version);
            if let Some(note) = &e.message {
                tracing::warn!(server = %self.server, "{note}");
            }
            self.sink.send(vec![e]);
            self.running_pid = Some(info.pid);
        }
        if snapshot::version_number(&info.version).is_some_and(|v| v < MIN_VERSION) {
            // Without no-output and subscriptions we would slow every pane; refuse instead.
            return Err(ConnError::Unsupported(format!(
                "tmux {} is older than 3.2",
                info.version
            )));
        }
        // Subscriptions exist from 3.2; without one, changes in other sessions' panes are
        // seen at the next notification instead.
        if let Err(e) = conn.command(&snapshot::subscribe_command()) {
            tracing::warn!(server = %self.server, "no format subscription: {e}");
        }
        if self.log.is_empty() {
            // Prime the message log so only entries after this point explain detaches.
            self.read_log(conn)?;
        }
        let restate = observed == Observed::AtStart;
        self.refresh(conn, now, observed, restate, &[])?;
        loop {
            let mut sightings = Vec::new();
            let first = match conn.next(Duration::from_secs(3600)) {
                Next::Notification(_, Notification::Exit(reason)) => {
                    return Err(ConnError::Closed(reason.unwrap_or_else(|| "exit".into())))
                }
                Next::Notification(at, n) if wakes(&n) => {
                    sightings.extend(Sighting::of(at, &n));
                    at
                }
                Next::Notification(..) | Next::Timeout => continue,
                Next::Closed => return Err(ConnError::Closed("connection closed".into())),
                Next::Stop => {
                    // One last look: a client that left just before the signal is recorded.
                    self.refresh(conn, Timestamp::now(), Observed::Live, false, &[])?;
                    return Err(ConnError::Closed("stopping".into()));
                }
            };
            // Coalesce whatever else already arrived into the same refresh.
            let mut exit = false;
            let mut stop = false;
            loop {
                match conn.next(Duration::ZERO) {
                    Next::Notification(at, n) => {
                        exit |= matches!(n, Notification::Exit(_));
                        sightings.extend(Sighting::of(at, &n));
                    }
                    Next::Stop => stop = true,
                    Next::Timeout | Next::Closed => break,
                }
            }
            let result = self.refresh(conn, first, Observed::Live, false, &sightings);
            if exit || stop {
                return Err(ConnError::Closed("exit".into()));
            }
            result?;
        }
    }

    /// Re-reads the server and reports the difference. `sightings` are the clients tmux said
    /// attached since the last look: one already gone again is still recorded.
    fn refresh(
        &mut self,
        conn: &mut Connection,
        time: Timestamp,
        observed: Observed,
        restate: bool,
        sightings: &[Sighting],
    ) -> Result<(), ConnError> {
        let mut view = ServerView::default();
        let bad_panes = snapshot::read_panes(&mut view, &conn.command(&snapshot::panes_command())?);
        let bad_clients =
            snapshot::read_clients(&mut view, &conn.command(&snapshot::clients_command())?);
        for line in bad_panes.iter().chain(&bad_clients) {
            tracing::warn!(server = %self.server, "unreadable tmux list line: {line:?}");
        }
        let own = i64::from(conn.pid());
        view.clients.retain(|_, c| c.pid != Some(own));
        let own_name = format!("client-{own}");
        let fleeting: Vec<&Sighting> = sightings
            .iter()
            .filter(|s| s.client != own_name)
            .filter(|s| {
                let here = |v: &ServerView| {
                    v.clients
                        .get(&s.client)
                        .is_some_and(|c| c.session_id == s.session_id)
                };
                !here(&view) && !here(&self.known)
            })
            .collect();
        let need_log = self.any_gone(&view) || !fleeting.is_empty() || self.detached.is_some();
        let entries = if observed == Observed::Live && need_log {
            self.read_log(conn)?
        } else {
            Vec::new()
        };
        // At start nobody saw how a client left: diff says `unknown`.
        let departures = if observed == Observed::Live {
            self.departures(&entries, &view)
        } else {
            BTreeMap::new()
        };
        let ctx = Context {
            host: &self.watch.host,
            server: &self.server,
            time,
            observed,
            restate,
            departures: &departures,
            origin: &origin::of_pid,
        };
        let mut events = Vec::new();
        if let Some((from, ours)) = self.detached.take() {
            events.push(self.recorder_gap(from, time, &ours, &entries, &view));
        }
        events.extend(diff::diff(&self.known, &view, &ctx));
        for s in fleeting {
            events.extend(self.fleeting(s, &entries, &view));
        }
        if !events.is_empty() {
            self.sink.send(events);
        }
        self.known = view;
        self.reconnected = false;
        Ok(())
    }

    fn gone<'v>(&'v self, view: &'v ServerView) -> impl Iterator<Item = &'v snapshot::Client> {
        self.known
            .clients
            .values()
            .filter(|c| view.clients.get(&c.name).map(|n| n.pid) != Some(c.pid))
    }

    fn any_gone(&self, view: &ServerView) -> bool {
        self.gone(view).next().is_some()
    }

    /// Why each client that vanished since the last look left.
    fn departures(
        &self,
        entries: &[messages::Entry],
        view: &ServerView,
    ) -> BTreeMap<String, Departure> {
        let gone: Vec<_> = self.gone(view).cloned().collect();
        let mut out = BTreeMap::new();
        for c in gone {
            let departure = |reason| Departure {
                reason,
                by: None,
                by_user: None,
                note: None,
            };
            let d = if !view.sessions.contains_key(&c.session_id) {
                departure(Reason::SessionClosed)
            } else {
                let own_ttys: Vec<String> = self
                    .known
                    .panes
                    .values()
                    .filter(|p| p.session_id == c.session_id)
                    .map(|p| p.tty.clone())
                    .collect();
                let session = self.known.sessions.get(&c.session_id);
                let departing = Departing {
                    client: &c.name,
                    session: session.map_or("", |s| s.name.as_str()),
                    session_id: &c.session_id,
                    own_ttys: &own_ttys,
                    all_kicked: self.reconnected,
                };
                match messages::detach_cause(entries, &departing) {
                    Some(Cause::Detached) => departure(Reason::Detach),
                    Some(Cause::Kicked { by, by_user }) => {
                        let (by, by_user, note) = self.actor(by, by_user, &c.name, view);
                        Departure {
                            reason: Reason::Kicked,
                            by: Some(by),
                            by_user,
                            note,
                        }
                    }
                    None => departure(Reason::Exit),
                }
            };
            out.insert(c.name.clone(), d);
        }
        out
    }

    /// A client tmux announced that was gone again before we could list it (an attach of a
    /// few milliseconds, say to grab a screen): recorded with what is known.
    fn fleeting(&self, s: &Sighting, entries: &[messages::Entry], view: &ServerView) -> Vec<Event> {
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
        let mut detached = attached.clone();
        detached.kind = Kind::ClientDetached;
        detached.time = Timestamp::now();
        let departing = Departing {
            client: &s.client,
            session: &s.session,
            session_id: &s.session_id,
            own_ttys: &[],
            all_kicked: self.reconnected,
        };
        let (reason, by, by_user) = if !view.sessions.contains_key(&s.session_id) {
            (Reason::SessionClosed, None, None)
        } else {
            match messages::detach_cause(entries, &departing) {
                Some(Cause::Detached) => (Reason::Detach, None, None),
                Some(Cause::Kicked { by, by_user }) => {
                    let (by, by_user, note) = self.actor(by, by_user, &s.client, view);
                    detached.message = note.or(detached.message);
                    (Reason::Kicked, Some(by), by_user)
                }
                None => (Reason::Exit, None, None),
            }
        };
        detached.reason = Some(reason.as_str().to_owned());
        detached.by = by;
        detached.by_user = by_user;
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
    fn recorder_gap(
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
        e.reason = Some("recorder-detached".into());
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
    fn owner(&self) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata(&self.watch.socket).ok()?.uid();
        crate::users::name_of(uid)
    }

    fn read_log(&mut self, conn: &mut Connection) -> Result<Vec<messages::Entry>, ConnError> {
        let lines = conn
            .command("show-messages")?
            .into_iter()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .collect();
        Ok(self.log.new_entries(lines, conn.pid(), conn.sent()))
    }

    /// The server is gone: everyone left, everything closed.
    fn server_gone(&mut self, observed: Observed, message: Option<String>) {
        let reason = match observed {
            Observed::Live => Reason::ServerExit,
            Observed::AtStart => Reason::Unknown,
        };
        let departures = self
            .known
            .clients
            .keys()
            .map(|k| {
                let d = Departure {
                    reason,
                    by: None,
                    by_user: None,
                    note: None,
                };
                (k.clone(), d)
            })
            .collect();
        let now = Timestamp::now();
        let ctx = Context {
            host: &self.watch.host,
            server: &self.server,
            time: now,
            observed,
            restate: false,
            departures: &departures,
            origin: &|_| None,
        };
        let mut events = diff::diff(&self.known, &ServerView::default(), &ctx);
        let mut e = self.event(now, Kind::ServerExited, observed);
        e.pid = self.running_pid.flatten();
        e.message = message;
        if observed == Observed::AtStart {
            e.reason = Some(Reason::Unknown.as_str().to_owned());
        }
        events.push(e);
        self.sink.send(events);
        self.known = ServerView::default();
        self.running_pid = None;
    }
}

/// A client tmux said attached (or switched), with when and where.
#[derive(Clone, Debug)]
struct Sighting {
    at: Timestamp,
    client: String,
    session_id: String,
    session: String,
}

impl Sighting {
    fn of(at: Timestamp, n: &Notification) -> Option<Self> {
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

/// Notifications after which the server is re-read.
fn wakes(n: &Notification) -> bool {
    match n {
        Notification::ClientDetached(_)
        | Notification::ClientSessionChanged { .. }
        | Notification::Structure => true,
        Notification::Subscription(name) => name == snapshot::SUBSCRIPTION,
        Notification::Exit(_) | Notification::Other(_) => false,
    }
}

/// What an old tmux cannot give, said once in its `server-started` event.
fn version_note(version: &str) -> Option<String> {
    match snapshot::version_number(version) {
        None => Some(format!("unrecognised tmux version {version:?}; assuming 3.2 or later")),
        Some(v) if v < MIN_VERSION => Some(format!(
            "tmux {version} is older than 3.2: control mode lacks no-output and subscriptions, so this server is not recorded (upgrade tmux)"
        )),
        Some(v) if v < (3, 3) => Some(format!(
            "tmux {version} does not report client_uid/client_user: users are unknown (3.3 or later reports them)"
        )),
        Some(_) => None,
    }
}
