//! Commands: every program run in a recorded pane, from the kernel (`audit-proc`), as
//! `command` events.
//!
//! Pane roots (each pane's first process) come from the watchers' `pane-created` events, seen
//! on their way to the writer ([`TeeSink`]), and at start from the log. Processes already
//! running under a root when it is registered are followed too (found by walking `/proc`), so
//! what they start next is attributed to the pane; the programs already running are not
//! reported (their exec was not seen).

use crate::attributing::Nudgers;
use crate::clients::{Asking, TmuxClients};
use crate::writer::ChannelSink;
use audit_core::{Bytes, Event, Kind, Timestamp};
use audit_proc::connector::{Connector, ConnectorError, ProcEvent};
use audit_proc::{procfs, Command, Ending, Scan, Tracker};
use audit_tmux::clients::ClientRuns;
use audit_tmux::conn::Nudger;
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

/// Passes events on to the writer and tells the command source about new panes.
pub struct TeeSink<'a> {
    /// Where events go.
    pub inner: &'a ChannelSink,
    /// Where new pane roots go, when commands are recorded.
    pub roots: Option<&'a RootSender>,
    /// Where watchers leave their nudgers.
    pub nudgers: &'a Nudgers,
    /// The policy in force, checked against every batch.
    pub enforcer: &'a crate::enforce::Enforcer,
}

impl Sink for TeeSink<'_> {
    fn send(&self, mut events: Vec<Event>) {
        if let Some(roots) = self.roots {
            for root in events.iter().filter_map(Root::of) {
                roots.send(root);
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

/// Where new pane roots go: the channel, and a poke so the thread takes them at once.
#[derive(Clone)]
pub struct RootSender {
    tx: Sender<Root>,
    wake: Option<Wake>,
}

impl RootSender {
    /// Hands `root` to the commands thread.
    pub fn send(&self, root: Root) {
        let _ = self.tx.send(root);
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
        known: Vec<Root>,
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
                Err(e) => return Err(e),
            }
        };
        let note = connector.is_none().then(|| {
            "commands are found by scanning /proc every 200 ms (not root): programs shorter than that are missed, times are when a scan saw them, and exit statuses are unknown".to_owned()
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

    /// Where watchers' new pane roots go.
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
fn scan_loop(roots: Receiver<Root>, host: &str, sink: &ChannelSink, stop: &AtomicBool) {
    let mut scan: Scan<PaneKey> = Scan::default();
    let mut by_pid: HashMap<u32, PaneKey> = HashMap::new();
    let mut panes: HashMap<PaneKey, Root> = HashMap::new();
    let mut done = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        for root in roots.try_iter() {
            let key = (root.server.clone(), root.pane_id.clone());
            by_pid.insert(root.pid, key.clone());
            panes.insert(key, root);
        }
        // A pane whose first process is gone has nothing more to show.
        by_pid.retain(|pid, _| std::path::Path::new(&format!("/proc/{pid}")).exists());
        scan.poll(&by_pid, Timestamp::now().as_micros(), &mut done);
        send(host, sink, &panes, &mut done, true);
        std::thread::sleep(SCAN_EVERY);
    }
}

fn send(
    host: &str,
    sink: &ChannelSink,
    panes: &HashMap<PaneKey, Root>,
    done: &mut Vec<Command<PaneKey>>,
    scanned: bool,
) {
    if done.is_empty() {
        return;
    }
    let batch = done
        .drain(..)
        .map(|c| event(host, &c, panes.get(&c.pane), scanned))
        .collect();
    sink.send_now(batch);
}

type PaneKey = (String, String);

/// How often a server's watcher is asked who typed last, at most.
const ACTIVITY_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// What the commands thread listens to with the kernel's events.
struct Kernel {
    connector: Connector,
    /// Pokes for new roots and the stop (without one, the thread looks every 200 ms).
    wake: Option<Wake>,
    clients: TmuxClients,
}

fn run(
    kernel: Kernel,
    roots: Receiver<Root>,
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
    let mut tracker: Tracker<PaneKey> = Tracker::default();
    let mut panes: HashMap<PaneKey, Root> = HashMap::new();
    let mut events = Vec::new();
    let mut done: Vec<Command<PaneKey>> = Vec::new();
    let mut lost_reported = false;
    while !stop.load(Ordering::Relaxed) {
        asking.owed(nudgers);
        clients.tick(host, nudgers, sink);
        let soon = asking.owes() || clients.busy();
        let waited = match &wake {
            // Nothing owed: wait for the kernel or a poke, however long.
            Some(w) => connector.wait_or(if soon { 50 } else { -1 }, w.0.as_fd()),
            None => connector.wait(if soon { 50 } else { 200 }),
        };
        if let Some(w) = &wake {
            w.drain();
        }
        let ready = match waited {
            Ok(ready) => ready,
            Err(e) => {
                tracing::error!("process events: {e}; commands are no longer recorded");
                return;
            }
        };
        // Roots first: a pane's first fork may be what woke us.
        for root in roots.try_iter() {
            let key = (root.server.clone(), root.pane_id.clone());
            tracker.add_root(root.pid, key.clone());
            for pid in descendants(root.pid) {
                tracker.add_root(pid, key.clone());
            }
            panes.insert(key, root);
        }
        if !ready {
            continue;
        }
        events.clear();
        if let Err(e) = connector.recv(&mut events) {
            if e.raw_os_error() == Some(libc::ENOBUFS) {
                if !lost_reported {
                    tracing::warn!(
                        "process events came faster than they were read; some commands were missed"
                    );
                    lost_reported = true;
                }
                continue;
            }
            tracing::error!("process events: {e}; commands are no longer recorded");
            return;
        }
        let now = Timestamp::now().as_micros();
        for e in events.drain(..) {
            match e {
                ProcEvent::Exec { pid } => clients.exec(pid, now, nudgers),
                ProcEvent::Exit { pid, .. } => clients.exit(pid, now, nudgers),
                ProcEvent::Fork { .. } => {}
            }
            let Some((server, _)) = tracker.apply(e, now, &mut done) else {
                continue;
            };
            // A program started in a pane: who typed last is looked at while it is fresh.
            asking.ask(server, nudgers);
        }
        send(host, sink, &panes, &mut done, false);
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

/// The `command` event for a program that ended.
fn event(host: &str, c: &Command<PaneKey>, root: Option<&Root>, scanned: bool) -> Event {
    let (server, pane_id) = &c.pane;
    let mut e = Event::new(Timestamp(c.ended), Kind::Command, host, server);
    e.pane_id = Some(pane_id.clone());
    if let Some(r) = root {
        e.session = r.session.clone();
        e.session_id = r.session_id.clone();
        e.window = r.window.clone();
        e.window_id = r.window_id.clone();
    }
    e.pid = Some(i64::from(c.pid));
    e.ppid = c.info.ppid.map(i64::from);
    e.uid = c.info.uid.map(i64::from);
    e.user = c.info.uid.and_then(audit_tmux::users::name_of);
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
        Ending::Replaced => e.reason = Some("exec".into()),
        Ending::Unknown => {}
    }
    e
}
