//! Commands: every program run in a recorded pane, from the kernel (`audit-proc`), as
//! `command` events.
//!
//! Pane roots (each pane's first process) come from the watchers' `pane-created` events, seen
//! on their way to the writer ([`TeeSink`]), and at start from the log. Processes already
//! running under a root when it is registered are followed too (found by walking `/proc`), so
//! what they start next is attributed to the pane; the programs already running are not
//! reported (their exec was not seen).

use crate::writer::ChannelSink;
use audit_core::{Bytes, Event, Kind, Timestamp};
use audit_proc::connector::{Connector, ConnectorError};
use audit_proc::{Command, Ending, Tracker};
use audit_tmux::watcher::Sink;
use std::collections::HashMap;
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
    pub roots: Option<&'a Sender<Root>>,
}

impl Sink for TeeSink<'_> {
    fn send(&self, events: Vec<Event>) {
        if let Some(roots) = self.roots {
            for root in events.iter().filter_map(Root::of) {
                let _ = roots.send(root);
            }
        }
        self.inner.send_now(events);
    }
}

/// The thread that listens to the kernel.
pub struct CommandSource {
    roots: Sender<Root>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl CommandSource {
    /// Subscribes to the kernel's process events (root or `CAP_NET_ADMIN`) and starts
    /// following `known` panes.
    pub fn start(
        host: &str,
        sink: ChannelSink,
        known: Vec<Root>,
    ) -> Result<CommandSource, ConnectorError> {
        let connector = Connector::listen()?;
        let (tx, rx) = mpsc::channel();
        for root in known {
            let _ = tx.send(root);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let host = host.to_owned();
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("commands".into())
                .spawn(move || run(connector, rx, &host, &sink, &stop))
                .expect("spawn the commands thread")
        };
        Ok(CommandSource {
            roots: tx,
            stop,
            thread,
        })
    }

    /// Where watchers' new pane roots go.
    pub fn roots(&self) -> &Sender<Root> {
        &self.roots
    }

    /// Stops listening; commands that ended before are recorded.
    pub fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

type PaneKey = (String, String);

fn run(
    mut connector: Connector,
    roots: Receiver<Root>,
    host: &str,
    sink: &ChannelSink,
    stop: &AtomicBool,
) {
    run_ahead();
    let mut tracker: Tracker<PaneKey> = Tracker::default();
    let mut panes: HashMap<PaneKey, Root> = HashMap::new();
    let mut events = Vec::new();
    let mut done: Vec<Command<PaneKey>> = Vec::new();
    let mut lost_reported = false;
    while !stop.load(Ordering::Relaxed) {
        let ready = match connector.wait(200) {
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
            tracker.apply(e, now, &mut done);
        }
        if !done.is_empty() {
            let batch = done
                .drain(..)
                .map(|c| {
                    let root = panes.get(&c.pane);
                    event(host, &c, root)
                })
                .collect();
            sink.send_now(batch);
        }
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
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: HashMap<u32, u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect();
    parents
        .keys()
        .copied()
        .filter(|&pid| {
            let mut at = pid;
            // Bounded: a cycle cannot happen in the kernel's tree, but a racing read could.
            for _ in 0..64 {
                match parents.get(&at) {
                    Some(&p) if p == root => return true,
                    Some(&p) if p > 1 => at = p,
                    _ => return false,
                }
            }
            false
        })
        .collect()
}

/// The parent from `/proc/PID/stat` (field 4, after the parenthesised name).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The `command` event for a program that ended.
fn event(host: &str, c: &Command<PaneKey>, root: Option<&Root>) -> Event {
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
    e.from = Some(Timestamp(c.started));
    e.until = Some(Timestamp(c.ended));
    match c.ending {
        Ending::Exited(code) => e.exit_code = Some(i64::from(code)),
        Ending::Signalled(sig) => e.signal = Some(i64::from(sig)),
        Ending::Replaced => e.reason = Some("exec".into()),
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_of_this_process_is_read_from_proc() {
        // SAFETY: getppid cannot fail.
        let ppid = unsafe { libc::getppid() } as u32;
        assert_eq!(parent_of(std::process::id()), Some(ppid));
        assert!(descendants(ppid).contains(&std::process::id()));
    }
}
