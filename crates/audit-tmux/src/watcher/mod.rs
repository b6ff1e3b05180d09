//! One server, watched until it exits (or the daemon stops): connect, report what is there,
//! then report each change as tmux announces it.

use crate::capture::{CaptureConfig, Piping, Recorder};
use crate::conn::{ConnError, Connection, Next};
use crate::control::Notification;
use crate::diff::{self, Context, Departure};
use crate::messages::{self, Log};
use crate::origin;
use crate::shutdown::Shutdown;
use crate::snapshot::{self, ServerView};
use audit_core::{Event, Kind, Observed, Reason, Timestamp};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod activity;
mod explain;
mod kernel;
mod own;
mod tmux_commands;
use explain::Sighting;
pub use tmux_commands::severity;

/// Where events go. `send` blocks when the receiver is behind: events wait, none are dropped.
pub trait Sink: Send + Sync {
    /// Delivers events in order.
    fn send(&self, events: Vec<Event>);

    /// A control client is connected to `server`: `nudger` asks its watcher to look again
    /// (see [`crate::conn::Nudger::activity`]).
    fn connected(&self, _server: &str, _nudger: crate::conn::Nudger) {}

    /// The watcher of `server` listed its clients' key times at `at`: every `client-active`
    /// change up to then has been sent. Acts that started before `at` can be attributed.
    fn looked(&self, _server: &str, _at: Timestamp) {}
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
    /// Record pane output too (spools and the `pane-pipe` program).
    pub capture: Option<CaptureConfig>,
    /// Whom to run tmux clients for this server as (a root daemon watching a user's server).
    pub run_as: Option<crate::owner::Owner>,
    /// Host mode: the `tmux-UID` folder that must still be trusted
    /// ([`crate::discovery::trusted_folder`]) before each connection.
    pub trusted_folder: Option<PathBuf>,
    /// The tmux clients the kernel saw run (root), to time commands from ([`crate::clients`]).
    pub clients: Option<std::sync::Arc<crate::clients::ClientRuns>>,
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

/// Looks, 100 ms apart, at a socket that just appeared but refuses connections.
const NEW_SOCKET_RETRIES: u32 = 20;

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
    /// Per session shared by several clients that can type: the one that typed last, and when.
    typists: BTreeMap<String, (String, i64)>,
    /// Entries read since departures were last explained: a departure is explained by every
    /// command logged since (an attach and detach of a few milliseconds is two looks apart),
    /// and each entry explains at most one look's departures.
    unexplained: Vec<messages::Entry>,
    /// Our previous control client was detached: the next look explains departures that
    /// happened while we were away (a `detach-client -a` detaches us too).
    reconnected: bool,
    /// Our previous control client was detached at this time, by whom we may learn: recorded
    /// as an `audit-gap` once we are back.
    detached: Option<(Timestamp, String)>,
    /// Pane output pipes, when recording output.
    piping: Option<Piping<'a>>,
    /// What the kernel shows connected to the socket.
    kernel: kernel::KernelView,
    /// Sessions renamed since the last look (id, new name).
    renamed: Vec<(String, String)>,
    /// Clients we kicked for the policy, and when: a departure soon after is the kick's.
    kicked: BTreeMap<String, std::time::Instant>,
    /// The pane-birth hooks' subscription changed: check them at the next look.
    hooks_due: bool,
    /// When the message log was read before the last read, and at the last: a command found
    /// in it ran between the two.
    log_read: (Option<Timestamp>, Option<Timestamp>),
}

/// Log entries kept to explain departures (tmux's default `message-limit`).
pub(super) const UNEXPLAINED_KEPT: usize = 1000;

/// Watches one server until it is gone or `shutdown` is triggered.
pub fn run(
    watch: &Watch,
    prior: Prior,
    sink: &dyn Sink,
    recorder: Option<&dyn Recorder>,
    shutdown: &Shutdown,
) {
    let fresh_socket = !prior.at_daemon_start;
    let server = watch.socket.display().to_string();
    let piping = watch
        .capture
        .as_ref()
        .zip(recorder)
        .map(|(config, recorder)| {
            Piping::new(
                config,
                recorder,
                &watch.host,
                &server,
                watch.run_as,
                prior.at_daemon_start,
            )
        });
    let mut st = State {
        watch,
        sink,
        server,
        known: prior.view,
        running_pid: prior.running_pid,
        log: Log::default(),
        unexplained: Vec::new(),
        typists: BTreeMap::new(),
        reconnected: false,
        detached: None,
        piping,
        kernel: kernel::KernelView::default(),
        renamed: Vec::new(),
        kicked: BTreeMap::new(),
        hooks_due: false,
        log_read: (None, None),
    };
    let mut observed = if prior.at_daemon_start {
        Observed::AtStart
    } else {
        Observed::Live
    };
    let mut failures = 0;
    let mut quick_failures = 0u32;
    while !shutdown.stopping() {
        if let Some(folder) = &watch.trusted_folder {
            if !crate::discovery::trusted_folder(folder) {
                tracing::warn!(server = %st.server, folder = %folder.display(), "the server's folder is no longer one its named user owns and keeps private: not connecting");
                return;
            }
        }
        let mut conn = match Connection::open(&watch.tmux, &watch.socket, watch.run_as) {
            Ok(c) => c,
            Err(ConnError::NoSessions { .. }) if failures < NO_SESSION_RETRIES => {
                // A server still starting (no session yet), or between its last session closing and
                // exiting: look again shortly.
                failures += 1;
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            Err(ConnError::NoServer { .. })
                if fresh_socket && st.running_pid.is_none() && failures < NEW_SOCKET_RETRIES =>
            {
                // A socket that just appeared can refuse connections for a moment (tmux binds
                // before it listens): look again before deciding nobody is there.
                failures += 1;
                std::thread::sleep(Duration::from_millis(100));
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
        if let Some(runs) = &self.watch.clients {
            runs.server_up(&self.server, info.pid.and_then(|p| u32::try_from(p).ok()));
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
        if let Some(piping) = &mut self.piping {
            piping.connected(conn)?;
        }
        self.sink.connected(&self.server, conn.nudger());
        if self.log.is_empty() {
            // Prime the message log so only entries after this point explain detaches.
            self.read_log(conn)?;
        }
        let restate = observed == Observed::AtStart;
        self.refresh(conn, now, observed, restate, &[])?;
        loop {
            let mut sightings = Vec::new();
            let first = match conn.next(self.kernel.wait()) {
                Next::Notification(_, Notification::Exit(reason)) => {
                    return Err(ConnError::Closed(reason.unwrap_or_else(|| "exit".into())))
                }
                Next::Notification(at, n) if wakes(&n) => {
                    self.hooks_due |= hooks_changed(&n);
                    sightings.extend(Sighting::of(at, &n));
                    self.note_rename(&n);
                    at
                }
                Next::Notification(..) => continue,
                Next::Timeout => {
                    self.kernel_if_due(conn);
                    continue;
                }
                Next::Activity => {
                    self.activity_look(conn)?;
                    continue;
                }
                Next::Clients => {
                    self.clients_look(conn)?;
                    continue;
                }
                Next::Kick(kick) => {
                    self.kick(conn, &kick)?;
                    continue;
                }
                Next::Nudge => Timestamp::now(),
                Next::Closed => return Err(ConnError::Closed("connection closed".into())),
                Next::Stop => {
                    // One last look: a client that left just before the signal is recorded.
                    self.refresh(conn, Timestamp::now(), Observed::Live, false, &[])?;
                    if let Some(piping) = &mut self.piping {
                        piping.close_all(conn)?;
                    }
                    return Err(ConnError::Closed("stopping".into()));
                }
            };
            // Coalesce whatever else already arrived into the same refresh.
            let mut runs = Vec::new();
            let mut exit = false;
            let mut stop = false;
            loop {
                match conn.next(Duration::ZERO) {
                    Next::Notification(at, n) => {
                        exit |= matches!(n, Notification::Exit(_));
                        self.hooks_due |= hooks_changed(&n);
                        sightings.extend(Sighting::of(at, &n));
                        self.note_rename(&n);
                    }
                    Next::Stop => stop = true,
                    // The refresh below lists clients, activity included.
                    Next::Nudge | Next::Activity | Next::Clients => {}
                    Next::Kick(kick) => runs.push(kick),
                    Next::Timeout | Next::Closed => break,
                }
            }
            let result = self.refresh(conn, first, Observed::Live, false, &sightings);
            for kick in runs {
                self.kick(conn, &kick)?;
            }
            if stop && result.is_ok() {
                if let Some(piping) = &mut self.piping {
                    piping.close_all(conn)?;
                }
            }
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
        let looked_at = Timestamp::now();
        if let Some(piping) = &mut self.piping {
            piping.before_look();
        }
        let mut view = ServerView::default();
        let bad_panes = snapshot::read_panes(&mut view, &conn.command(&snapshot::panes_command())?);
        let bad_clients =
            snapshot::read_clients(&mut view, &conn.command(&snapshot::clients_command())?);
        for line in bad_panes.iter().chain(&bad_clients) {
            tracing::warn!(server = %self.server, "unreadable tmux list line: {line:?}");
        }
        self.drop_own(&mut view, conn.pid());
        let own_name = format!("client-{}", conn.pid());
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
        // The message log explains departures: read first when someone left. Otherwise it is
        // read after this look's events are sent, off the path from a change to its record.
        let live = observed == Observed::Live;
        let need_log = self.any_gone(&view) || !fleeting.is_empty() || self.detached.is_some();
        let mut fresh = if live && need_log {
            self.read_log(conn)?
        } else {
            Vec::new()
        };
        self.unexplained.extend(fresh.iter().cloned());
        let entries = if need_log {
            std::mem::take(&mut self.unexplained)
        } else {
            Vec::new()
        };
        // At start nobody saw how a client left: diff says `unknown`.
        let departures = if live {
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
            origin: &origin::of_client,
        };
        let mut events = self.tmux_commands(&fresh, &view, time);
        if let Some((from, ours)) = self.detached.take() {
            events.push(self.recorder_gap(from, time, &ours, &entries, &view));
        }
        let renamed = std::mem::take(&mut self.renamed);
        events.extend(diff::renamed_then_closed(
            &mut self.known,
            renamed,
            &view,
            &ctx,
        ));
        events.extend(diff::diff(&self.known, &view, &ctx));
        events.extend(self.latest_typists(&view, time));
        for s in fleeting {
            events.extend(self.fleeting(s, &entries, &view));
        }
        if let Some(piping) = &mut self.piping {
            if std::mem::take(&mut self.hooks_due) {
                events.extend(piping.check_hooks(conn, &view, time)?);
            }
            events.extend(piping.sync(conn, &view, time)?);
        }
        if !events.is_empty() {
            self.sink.send(events);
        }
        self.sink.looked(&self.server, looked_at);
        // The kernel's view of the socket is taken once nothing else waits (`kernel_if_due`):
        // it reads /proc and a socket dump, which neither this look's records nor the next
        // notification should wait for.
        self.kernel.due(Instant::now());
        if live && !need_log {
            // The commands run since the last look, each once; kept to explain departures.
            fresh = self.read_log(conn)?;
            self.unexplained.extend(fresh.iter().cloned());
            // As many as tmux keeps by default: older ones explain nothing tmux still shows.
            let excess = self.unexplained.len().saturating_sub(UNEXPLAINED_KEPT);
            self.unexplained.drain(..excess);
            let commands = self.tmux_commands(&fresh, &view, time);
            if !commands.is_empty() {
                self.sink.send(commands);
            }
        }
        self.known = view;
        // A kicked client's departure was recorded in this look once it is gone; one still
        // here after a few seconds was not the one that left.
        let known = &self.known;
        self.kicked.retain(|name, at| {
            known.clients.contains_key(name) && at.elapsed() < Duration::from_secs(5)
        });
        self.reconnected = false;
        Ok(())
    }

    fn note_rename(&mut self, n: &Notification) {
        if let Notification::SessionRenamed { session_id, name } = n {
            self.renamed.push((session_id.clone(), name.clone()));
        }
    }

    fn read_log(&mut self, conn: &mut Connection) -> Result<Vec<messages::Entry>, ConnError> {
        self.log_read = (self.log_read.1, Some(Timestamp::now()));
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
            origin: &|_, _| None,
        };
        let mut events = diff::diff(&self.known, &ServerView::default(), &ctx);
        let mut e = self.event(now, Kind::ServerExited, observed);
        e.pid = self.running_pid.flatten();
        e.message = message;
        if observed == Observed::AtStart {
            e.reason = Some(Reason::Unknown);
        }
        events.push(e);
        self.sink.send(events);
        if let Some(piping) = &mut self.piping {
            piping.forget_all(now);
        }
        self.known = ServerView::default();
        self.running_pid = None;
    }
}

/// Notifications after which the server is re-read.
fn wakes(n: &Notification) -> bool {
    match n {
        Notification::ClientDetached(_)
        | Notification::ClientSessionChanged { .. }
        | Notification::SessionRenamed { .. }
        | Notification::Structure => true,
        Notification::Subscription(name) => {
            name == snapshot::SUBSCRIPTION || name == crate::hooks::SUBSCRIPTION
        }
        Notification::Exit(_) | Notification::Other(_) => false,
    }
}

/// The pane-birth hooks may have been changed.
fn hooks_changed(n: &Notification) -> bool {
    matches!(n, Notification::Subscription(name) if name == crate::hooks::SUBSCRIPTION)
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
