//! Commands: every program run in a recorded pane, from the kernel (`audit-proc`), as
//! `command` events.
//!
//! Pane roots (each pane's first process) come from the watchers' `pane-created` events, seen
//! on their way to the writer ([`TeeSink`]), and at start from the log. Processes already
//! running under a root when it is registered are followed too (found by walking `/proc`), so
//! what they start next is attributed to the pane; the programs already running are not
//! reported (their exec was not seen).
//!
//! A program in a new pane can run and end before any watcher has listed the pane, so each
//! tmux server (`server-started`, or the log at start) is followed as a spawner: every process
//! it forks is followed from its birth, and what it runs is held ([`HOLD`]) until a
//! `pane-created` names the pane it is the first process of. What no pane claims in that time
//! was run by the server itself — `run-shell`, `if-shell`, `#()` in a format, a `pipe-pane`
//! command, or a pane too short-lived to be listed — and is recorded as such, without a pane.
//! The daemon's own copiers (`tmux-audit pane-pipe`, this program) are left out.

use crate::attributing::Nudgers;
use crate::clients::{Asking, TmuxClients};
use crate::writer::ChannelSink;
use audit_core::{Bytes, Event, Kind, Reason, Timestamp};
use audit_proc::connector::{Connector, ConnectorError, ProcEvent};
use audit_proc::{procfs, Command, Ending, Scan, Tracker};
use audit_tmux::clients::ClientRuns;
use audit_tmux::conn::Nudger;
use audit_tmux::users::NameCache;
use audit_tmux::watcher::Sink;
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A pane whose processes are followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    /// The server (socket path).
    pub server: String,
    /// `%N`.
    pub pane_id: String,
    /// Its first process.
    pub pid: u32,
    /// Session and window as the pane was created (names may change later; ids do not).
    pub session: Option<String>,
    /// Session id.
    pub session_id: Option<String>,
    /// Window name.
    pub window: Option<String>,
    /// Window id.
    pub window_id: Option<String>,
}

impl Root {
    /// The root a `pane-created` event names, if it carries the pane's process.
    pub fn of(e: &Event) -> Option<Root> {
        if e.kind != Kind::PaneCreated {
            return None;
        }
        Some(Root {
            server: e.server.clone(),
            pane_id: e.pane_id.clone()?,
            pid: u32::try_from(e.pid?).ok()?,
            session: e.session.clone(),
            session_id: e.session_id.clone(),
            window: e.window.clone(),
            window_id: e.window_id.clone(),
        })
    }
}

/// What the command source is told to follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Follow {
    /// A pane's first process.
    Pane(Root),
    /// A tmux server, whose children are followed from their birth.
    Server {
        /// The server (socket path).
        server: String,
        /// Its pid.
        pid: u32,
    },
}

impl Follow {
    /// What an event says to follow: a `pane-created` or `server-started` with its pid.
    pub fn of(e: &Event) -> Option<Follow> {
        match e.kind {
            Kind::PaneCreated => Root::of(e).map(Follow::Pane),
            Kind::ServerStarted => Some(Follow::Server {
                server: e.server.clone(),
                pid: u32::try_from(e.pid?).ok()?,
            }),
            _ => None,
        }
    }
}

/// Passes events on to the writer and tells the command source about new panes.
pub struct TeeSink<'a> {
    /// Where events go.
    pub inner: &'a ChannelSink,
    /// Where new pane roots and servers go, when commands are recorded.
    pub roots: Option<&'a RootSender>,
    /// Where watchers leave their nudgers.
    pub nudgers: &'a Nudgers,
    /// The policy in force, checked against every batch.
    pub enforcer: &'a crate::enforce::Enforcer,
}

impl Sink for TeeSink<'_> {
    fn send(&self, mut events: Vec<Event>) {
        if let Some(roots) = self.roots {
            for follow in events.iter().filter_map(Follow::of) {
                roots.send(follow);
            }
        }
        let violations = self.enforcer.check(&events, self.nudgers);
        events.extend(violations);
        self.inner.send_now(events);
    }

    fn connected(&self, server: &str, nudger: Nudger) {
        self.nudgers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(server.to_owned(), nudger);
    }

    fn looked(&self, server: &str, at: Timestamp) {
        self.inner.looked(server, at);
    }
}

/// Wakes the commands thread: an eventfd it polls beside the connector, so that it can wait
/// without a timeout (an idle daemon does not wake) and still take new roots and a stop at
/// once.
#[derive(Clone)]
struct Wake(Arc<OwnedFd>);

impl Wake {
    fn new() -> Option<Wake> {
        // SAFETY: eventfd with constant flags; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        // SAFETY: a fresh descriptor this process owns.
        (fd >= 0).then(|| Wake(Arc::new(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    fn poke(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: an 8-byte write to our eventfd; a full counter only means it is poked already.
        let _ = unsafe { libc::write(self.0.as_raw_fd(), one.as_ptr().cast(), 8) };
    }

    fn drain(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: an 8-byte read from our non-blocking eventfd.
        let _ = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
    }
}

/// Where new pane roots and servers go: the channel, and a poke so the thread takes them at
/// once.
#[derive(Clone)]
pub struct RootSender {
    tx: Sender<Follow>,
    wake: Option<Wake>,
}

impl RootSender {
    /// Hands `follow` to the commands thread.
    pub fn send(&self, follow: Follow) {
        let _ = self.tx.send(follow);
        if let Some(w) = &self.wake {
            w.poke();
        }
    }
}

/// The thread that listens to the kernel.
pub struct CommandSource {
    roots: RootSender,
    clients: Option<Arc<ClientRuns>>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// How often `/proc` is walked without the kernel's process events.
const SCAN_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

impl CommandSource {
    /// Starts following `known` panes: from the kernel's process events (root or
    /// `CAP_NET_ADMIN`), else — or with `scan` — by walking `/proc` every 200 ms. Returns a note
    /// for the log when commands are only scanned for. With the kernel's events, tmux clients
    /// (of the program `tmux`, or a copy) are followed too ([`crate::clients`]).
    pub fn start(
        host: &str,
        sink: ChannelSink,
        known: Vec<Follow>,
        scan: bool,
        nudgers: Arc<Nudgers>,
        tmux: PathBuf,
    ) -> Result<(CommandSource, Option<String>), ConnectorError> {
        let connector = if scan {
            None
        } else {
            match Connector::listen() {
                Ok(c) => {
                    if let Some(e) = c.unfiltered() {
                        tracing::warn!(
                            "cannot filter process events in the kernel ({e}): reading them all"
                        );
                    }
                    Some(c)
                }
                Err(ConnectorError::NotPermitted(e)) => {
                    tracing::warn!(
                        "the kernel's process events need root ({e}): scanning /proc instead"
                    );
                    None
                }
                Err(e @ ConnectorError::Unavailable(_)) => {
                    tracing::warn!("{e}: scanning /proc instead");
                    None
                }
                Err(e) => return Err(e),
            }
        };
        let note = connector.is_none().then(|| {
            "commands are found by scanning /proc every 200 ms (not root, or no process events here): programs shorter than that are missed, times are when a scan saw them, and exit statuses are unknown".to_owned()
        });
        let (tx, rx) = mpsc::channel();
        for root in known {
            let _ = tx.send(root);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let host = host.to_owned();
        let runs = connector.as_ref().map(|_| Arc::new(ClientRuns::default()));
        let clients = runs.clone().map(|r| TmuxClients::new(r, tmux));
        let wake = connector.as_ref().and_then(|_| Wake::new());
        let thread = {
            let stop = Arc::clone(&stop);
            let wake = wake.clone();
            std::thread::Builder::new()
                .name("commands".into())
                .spawn(move || match (connector, clients) {
                    (Some(c), Some(clients)) => {
                        let kernel = Kernel {
                            connector: c,
                            wake,
                            clients,
                        };
                        run(kernel, rx, &host, &sink, &stop, &nudgers)
                    }
                    _ => scan_loop(rx, &host, &sink, &stop),
                })
                .expect("spawn the commands thread")
        };
        Ok((
            CommandSource {
                roots: RootSender { tx, wake },
                clients: runs,
                stop,
                thread,
            },
            note,
        ))
    }

    /// Where watchers' new pane roots and servers go.
    pub fn roots(&self) -> &RootSender {
        &self.roots
    }

    /// The tmux clients the kernel reports, for the watchers (with the kernel's events only).
    pub fn client_runs(&self) -> Option<Arc<ClientRuns>> {
        self.clients.clone()
    }

    /// Stops listening; commands that ended before are recorded.
    pub fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = &self.roots.wake {
            w.poke();
        }
        let _ = self.thread.join();
    }
}

/// Without the kernel's events: walk `/proc` for the panes' programs every [`SCAN_EVERY`].
fn scan_loop(roots: Receiver<Follow>, host: &str, sink: &ChannelSink, stop: &AtomicBool) {
    let mut scan: Scan<PaneKey> = Scan::default();
    let mut by_pid: HashMap<u32, PaneKey> = HashMap::new();
    let mut panes: HashMap<PaneKey, Root> = HashMap::new();
    let mut done = Vec::new();
    let mut names = NameCache::default();
    while !stop.load(Ordering::Relaxed) {
        // A walk sees only what lives at the time: a server's children are found under the
        // panes they turn out to be.
        for root in roots.try_iter().filter_map(|f| match f {
            Follow::Pane(root) => Some(root),
            Follow::Server { .. } => None,
        }) {
            let key = (root.server.clone(), root.pane_id.clone());
            by_pid.insert(root.pid, key.clone());
            panes.insert(key, root);
        }
        // A pane whose first process is gone has nothing more to show.
        by_pid.retain(|pid, _| std::path::Path::new(&format!("/proc/{pid}")).exists());
        scan.poll(&by_pid, Timestamp::now().as_micros(), &mut done);
        send(host, sink, &panes, &mut done, true, &mut names);
        std::thread::sleep(SCAN_EVERY);
    }
}

fn send<K: Placed>(
    host: &str,
    sink: &ChannelSink,
    panes: &HashMap<PaneKey, Root>,
    done: &mut Vec<Command<K>>,
    scanned: bool,
    names: &mut NameCache,
) {
    if done.is_empty() {
        return;
    }
    let batch = done
        .drain(..)
        .map(|c| {
            let (server, pane) = c.pane.placed();
            let root = pane.and_then(|p| panes.get(&(server.to_owned(), p.to_owned())));
            event(host, server, pane, &c, root, scanned, names)
        })
        .collect();
    sink.send_now(batch);
}

/// A command's server and pane, if a pane claimed it.
trait Placed {
    fn placed(&self) -> (&str, Option<&str>);
}

impl Placed for PaneKey {
    fn placed(&self) -> (&str, Option<&str>) {
        (&self.0, Some(&self.1))
    }
}

impl Placed for Place {
    fn placed(&self) -> (&str, Option<&str>) {
        match self {
            Place::Pane(key) => key.placed(),
            Place::Server(server) => (server, None),
        }
    }
}

type PaneKey = (String, String);

/// How often a server's watcher is asked who typed last, at most.
const ACTIVITY_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Where a followed process belongs: a pane, or — until a pane claims its root — the server
/// that forked it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Place {
    Pane(PaneKey),
    Server(String),
}

impl Place {
    fn server(&self) -> &str {
        match self {
            Place::Pane((server, _)) | Place::Server(server) => server,
        }
    }
}

/// Datagrams read per wake-up at most, so new roots are taken in between during a storm.
const DRAIN_MAX: usize = 256;

/// How long what a server's child ran waits for a `pane-created` to name its pane.
pub const HOLD: std::time::Duration = std::time::Duration::from_secs(3);

/// What a server's children ran, by root, until their pane is named or [`HOLD`] passes.
#[derive(Default)]
struct Held(HashMap<u32, Vec<(Command<Place>, std::time::Instant)>>);

impl Held {
    fn hold(&mut self, c: Command<Place>) {
        self.0
            .entry(c.root)
            .or_default()
            .push((c, std::time::Instant::now()));
    }

    /// The pane whose first process is `root` is named: what it ran is that pane's.
    fn claim(&mut self, root: u32, key: &PaneKey) -> Vec<Command<Place>> {
        let held = self.0.remove(&root).unwrap_or_default();
        held.into_iter()
            .map(|(mut c, _)| {
                c.pane = Place::Pane(key.clone());
                c
            })
            .collect()
    }

    /// Whether anything waits for its pane.
    fn waiting(&self) -> bool {
        !self.0.is_empty()
    }

    /// What waited [`HOLD`] (everything, with `all`): no pane claimed it.
    fn expire(&mut self, all: bool) -> Vec<Command<Place>> {
        let mut out = Vec::new();
        self.0.retain(|_, held| {
            let (old, young): (Vec<_>, Vec<_>) = std::mem::take(held)
                .into_iter()
                .partition(|(_, at)| all || at.elapsed() >= HOLD);
            out.extend(old.into_iter().map(|(c, _)| c));
            *held = young;
            !held.is_empty()
        });
        out.sort_by_key(|c| c.ended);
        out
    }
}

/// What the commands thread listens to with the kernel's events.
struct Kernel {
    connector: Connector,
    /// Pokes for new roots and the stop (without one, the thread looks every 200 ms).
    wake: Option<Wake>,
    clients: TmuxClients,
}

fn run(
    kernel: Kernel,
    roots: Receiver<Follow>,
    host: &str,
    sink: &ChannelSink,
    stop: &AtomicBool,
    nudgers: &Nudgers,
) {
    let Kernel {
        mut connector,
        wake,
        mut clients,
    } = kernel;
    let mut asking = Asking::new(ACTIVITY_EVERY, Nudger::activity);
    run_ahead();
    let own = Own::find();
    let mut tracker: Tracker<Place> = Tracker::default();
    let mut panes: HashMap<PaneKey, Root> = HashMap::new();
    let mut held = Held::default();
    let mut events = Vec::new();
    let mut done: Vec<Command<Place>> = Vec::new();
    let mut ready: Vec<Command<Place>> = Vec::new();
    let mut lost = Lost::default();
    let mut names = NameCache::default();
    'listening: while !stop.load(Ordering::Relaxed) {
        asking.owed(nudgers);
        if let Some(gap) = lost.due(host) {
            sink.send_now(vec![gap]);
        }
        clients.tick(host, nudgers, sink);
        // Something is due soon: an owed look, a client's command, held programs waiting for
        // their pane, a loss to report. Else wait for the kernel or a poke, however long.
        let soon = asking.owes() || clients.busy() || held.waiting() || lost.open();
        let waited = match &wake {
            Some(w) => connector.wait_or(if soon { 50 } else { -1 }, w.0.as_fd()),
            None => connector.wait(if soon { 50 } else { 200 }),
        };
        if let Some(w) = &wake {
            w.drain();
        }
        let ready_to_read = match waited {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("process events: {e}; commands are no longer recorded");
                break 'listening;
            }
        };
        // Roots first: a pane's first fork may be what woke us.
        for follow in roots.try_iter() {
            match follow {
                Follow::Pane(root) => {
                    let key = (root.server.clone(), root.pane_id.clone());
                    // Born under a followed server, its whole tree is followed already: no
                    // walk of /proc (which would keep this thread from the panes' execs).
                    let born_seen = tracker.follows(root.pid);
                    tracker.add_root(root.pid, Place::Pane(key.clone()));
                    if !born_seen {
                        for pid in descendants(root.pid) {
                            tracker.add_root(pid, Place::Pane(key.clone()));
                        }
                    }
                    ready.extend(held.claim(root.pid, &key));
                    panes.insert(key, root);
                }
                Follow::Server { server, pid } => tracker.add_spawner(pid, Place::Server(server)),
            }
        }
        ready.extend(held.expire(false));
        // Everything queued, one datagram at a time (each exec's /proc read as soon as it is
        // read), before the batch goes to the writer: one wake-up and one send for a burst.
        let mut reads = 0;
        while ready_to_read && reads < DRAIN_MAX {
            reads += 1;
            events.clear();
            match connector.try_recv(&mut events) {
                Ok(true) => lost.read_at(Timestamp::now()),
                Ok(false) => break,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    lost.dropped();
                    continue;
                }
                Err(e) => {
                    tracing::error!("process events: {e}; commands are no longer recorded");
                    break 'listening;
                }
            }
            let now = Timestamp::now().as_micros();
            for e in events.drain(..) {
                let exec = match e {
                    ProcEvent::Exec { pid } => {
                        clients.exec(pid, now, nudgers);
                        Some(pid)
                    }
                    ProcEvent::Exit { pid, .. } => {
                        clients.exit(pid, now, nudgers);
                        None
                    }
                    ProcEvent::Fork { .. } => None,
                };
                let Some(place) = tracker.apply(e, now, &mut done) else {
                    continue;
                };
                if let (Some(pid), Place::Server(_)) = (exec, &place) {
                    if own.is_copier(pid, tracker.running(pid)) {
                        // Our own copier, and the shell tmux ran it with: not the user's.
                        tracker.forget(pid);
                        done.retain(|c| c.pid != pid || c.ended != now);
                        continue;
                    }
                }
                // A program started in a pane: who typed last is looked at while it is fresh.
                asking.ask(place.server().to_owned(), nudgers);
            }
        }
        for c in done.drain(..) {
            match c.pane {
                Place::Pane(_) => ready.push(c),
                Place::Server(_) => held.hold(c),
            }
        }
        send(host, sink, &panes, &mut ready, false, &mut names);
    }
    // Stopping: nothing held is lost.
    ready.extend(held.expire(true));
    send(host, sink, &panes, &mut ready, false, &mut names);
    if let Some(gap) = lost.take(host) {
        sink.send_now(vec![gap]);
    }
}

/// Process events the kernel dropped (its buffer for us overflowed: `ENOBUFS`): recorded as an
/// `audit-gap` (`reason: process-events-lost`) over the time they fell in, at most one a second.
#[derive(Default)]
struct Lost {
    /// When the last events before a loss were read.
    last_read: Option<Timestamp>,
    /// The loss being reported: from the last read before it to the last drop seen.
    open: Option<(Timestamp, Timestamp, std::time::Instant)>,
}

impl Lost {
    fn read_at(&mut self, at: Timestamp) {
        self.last_read = Some(at);
    }

    fn dropped(&mut self) {
        let now = Timestamp::now();
        match &mut self.open {
            Some((_, until, _)) => *until = now,
            None => {
                tracing::warn!("process events came faster than they were read; some commands were missed (recorded as an audit-gap)");
                self.open = Some((
                    self.last_read.unwrap_or(now),
                    now,
                    std::time::Instant::now(),
                ));
            }
        }
    }

    /// Whether a loss waits to be reported.
    fn open(&self) -> bool {
        self.open.is_some()
    }

    fn due(&mut self, host: &str) -> Option<Event> {
        let (_, _, since) = self.open.as_ref()?;
        if since.elapsed() < std::time::Duration::from_secs(1) {
            return None;
        }
        self.take(host)
    }

    fn take(&mut self, host: &str) -> Option<Event> {
        let (from, until, _) = self.open.take()?;
        let mut e = Event::new(until, Kind::AuditGap, host, "");
        e.reason = Some(Reason::ProcessEventsLost);
        e.from = Some(from);
        e.until = Some(until);
        e.message = Some("the kernel dropped process events before the daemon read them (its buffer overflowed): programs run in panes in this interval may be missing from the record".into());
        Some(e)
    }
}

/// This program, to tell the daemon's own copiers (`tmux-audit pane-pipe`, run by tmux for
/// `pipe-pane`) from the programs of the people it records: by the file the kernel ran (device
/// and inode of `/proc/PID/exe`, which a user cannot fake), not by name.
struct Own(Option<(u64, u64)>);

impl Own {
    fn find() -> Own {
        use std::os::unix::fs::MetadataExt;
        Own(std::fs::metadata("/proc/self/exe")
            .ok()
            .map(|m| (m.dev(), m.ino())))
    }

    fn is_copier(&self, pid: u32, info: Option<&procfs::ProcInfo>) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Some(own) = self.0 else { return false };
        let copier = info
            .and_then(|i| i.argv.as_ref())
            .is_some_and(|argv| argv.get(1).is_some_and(|a| a == b"pane-pipe"));
        copier
            && std::fs::metadata(format!("/proc/{pid}/exe"))
                .is_ok_and(|m| (m.dev(), m.ino()) == own)
    }
}

/// Read `/proc` before a short command is gone: this thread should run the moment the kernel
/// reports an exec, ahead of the panes' work. The lowest real-time priority does that (it only
/// ever waits on the socket, and Linux caps real-time threads at 95 % of a core); without it,
/// the highest niceness.
fn run_ahead() {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: sched_setscheduler and setpriority on this thread (0 / gettid) with valid
    // arguments; failure leaves the thread as it was, which is harmless.
    unsafe {
        if libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) != 0 {
            libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, -10);
        }
    }
}

/// Processes whose ancestry reaches `root`, found by walking `/proc`.
fn descendants(root: u32) -> Vec<u32> {
    let proc = std::path::Path::new("/proc");
    let parents = procfs::parents(proc);
    let roots = HashMap::from([(root, ())]);
    parents
        .keys()
        .copied()
        .filter(|&pid| procfs::root_of(pid, &parents, &roots).is_some())
        .collect()
}

/// The `command` event for a program that ended: in `pane`, or run by the server outside any
/// pane it listed.
fn event<K>(
    host: &str,
    server: &str,
    pane: Option<&str>,
    c: &Command<K>,
    root: Option<&Root>,
    scanned: bool,
    names: &mut NameCache,
) -> Event {
    let mut e = Event::new(Timestamp(c.ended), Kind::Command, host, server);
    e.pane_id = pane.map(str::to_owned);
    if let Some(r) = root {
        e.session = r.session.clone();
        e.session_id = r.session_id.clone();
        e.window = r.window.clone();
        e.window_id = r.window_id.clone();
    }
    e.pid = Some(i64::from(c.pid));
    e.ppid = c.info.ppid.map(i64::from);
    e.uid = c.info.uid.map(i64::from);
    e.user = c.info.uid.and_then(|uid| names.name_of(uid));
    e.argv = c
        .info
        .argv
        .as_ref()
        .map(|a| a.iter().cloned().map(Bytes).collect());
    e.cwd = c.info.cwd.clone().map(Bytes);
    if e.argv.is_none() {
        e.comm = c.info.comm.clone().map(Bytes);
        e.message = Some(
            "the program ended before its arguments could be read; pid, times and exit status are what the kernel reported"
                .into(),
        );
    }
    if pane.is_none() {
        let outside = "run by the tmux server outside any pane it listed: run-shell, if-shell, #() in a format, a pipe-pane command, or a pane too short-lived to be listed";
        e.message = Some(match e.message.take() {
            Some(m) => format!("{outside}; {m}"),
            None => outside.to_owned(),
        });
    }
    if scanned {
        e.message = Some(
            "seen by scanning /proc (daemon not root): times are when a scan saw it, its exit status is unknown"
                .into(),
        );
    }
    e.from = Some(Timestamp(c.started));
    e.until = Some(Timestamp(c.ended));
    match c.ending {
        Ending::Exited(code) => e.exit_code = Some(i64::from(code)),
        Ending::Signalled(sig) => e.signal = Some(i64::from(sig)),
        Ending::Replaced => e.reason = Some(Reason::Exec),
        Ending::Unknown => {}
    }
    e
}
