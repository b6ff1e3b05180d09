//! The ingester: turns the spools `pane-pipe` writes into compressed, chained chunks.
//!
//! Watchers tell it about panes ([`PaneNotice`]); one thread, at lowered priority so recording
//! never competes with the panes it records, reads every spool a few times a second, feeds a
//! terminal per pane (for the picture each chunk starts with and the text search indexes),
//! seals a chunk at 1 MiB of output or when it has waited `flush_after`, and hands it to the
//! writer. Once a chunk is committed the spool bytes it came from are given back to the disk.
//! A spool whose pipe closed while its pane lives is reported back to the watcher, which
//! records the `output-gap` and opens a new pipe.

mod pane;
mod plain;
mod tail;
mod wake;

use crate::writer::{ChannelSink, OnCommit};
use audit_core::{Event, Timestamp};
use audit_tmux::capture::{PaneMeta, PaneNotice, Recorder};
use audit_tmux::conn::Nudger;
use pane::{Found, PaneTrack};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often spools are read while output flows (inotify says when it starts)...
const TICK: Duration = Duration::from_millis(100);
/// ...and how often when spools cannot be watched, or the store must be retried.
const IDLE_TICK: Duration = Duration::from_secs(1);
/// A pane whose spool grows by more than this per look is in a burst: rendering and compressing
/// it then would compete with tmux for the CPU, slowing the very pane being recorded, so it waits
/// in the spool until the burst pauses...
const BURST_BYTES: u64 = 256 << 10;
/// ...unless this much waits unread (the spool's disk use stays bounded).
const BURST_BACKLOG: u64 = 256 << 20;
/// A pane that ended but whose copier never wrote its closing record is finished after its
/// spool has had nothing new for this long.
const END_QUIET: Duration = Duration::from_secs(2);
/// How long a spool left by a killed daemon waits for a watcher to report its pane's size.
const LEFTOVER_WAIT: Duration = Duration::from_secs(3);
/// When stopping, how long to wait for copiers to write their closing records.
const FINISH_GRACE: Duration = Duration::from_secs(3);
/// Views may ask for pending output to be committed now ([`IngestHandle::flush`]); requests
/// that come sooner than this after the last flush wait for the next, so viewers (or a hostile
/// local user) cannot make chunks — each with its own screen snapshot — more often than this.
pub const FLUSH_FLOOR: Duration = Duration::from_secs(1);
/// A flush reads the spools no sooner than this after it was asked for: the copier spools what
/// it read within 50 ms of a pause and 200 ms during steady output, so what the pane printed
/// before the view asked is in the spool by then.
pub const FLUSH_SETTLE: Duration = Duration::from_millis(250);

enum Msg {
    Notice(Box<PaneNotice>),
    /// A spool changed.
    Wake,
    /// Spools cannot be watched: look on a timer.
    NoWatch,
    Finish,
    /// Commit every pane's pending output, then this event; run the callback once it is stored.
    Flush(Box<Event>, OnCommit),
}

struct Shared {
    tx: Mutex<Sender<Msg>>,
    closed: Mutex<BTreeMap<String, Vec<(PathBuf, Timestamp)>>>,
}

/// What watchers hold: sends notices, hands back closed pipes.
#[derive(Clone)]
pub struct IngestHandle(Arc<Shared>);

impl Recorder for IngestHandle {
    fn notice(&self, notice: PaneNotice) {
        let tx = self.0.tx.lock().unwrap_or_else(|e| e.into_inner());
        let _ = tx.send(Msg::Notice(Box::new(notice)));
    }

    fn take_closed(&self, server: &str) -> Vec<(PathBuf, Timestamp)> {
        let mut closed = self.0.closed.lock().unwrap_or_else(|e| e.into_inner());
        closed.remove(server).unwrap_or_default()
    }
}

impl IngestHandle {
    /// Seals and commits what every pane printed until now (within [`FLUSH_FLOOR`] of the last
    /// flush), then `event`; `on_commit` runs once that is stored.
    pub fn flush(&self, event: Event, on_commit: OnCommit) {
        let tx = self.0.tx.lock().unwrap_or_else(|e| e.into_inner());
        let _ = tx.send(Msg::Flush(Box::new(event), on_commit));
    }
}

/// The ingester thread.
pub struct Ingester {
    handle: IngestHandle,
    thread: JoinHandle<()>,
}

/// How the ingester runs.
pub struct IngestConfig {
    /// This host's name.
    pub host: String,
    /// Where spools are (leftovers of a killed daemon are read at start).
    pub spool_dir: PathBuf,
    /// Longest time recorded output waits before its chunk is committed.
    pub flush_after: Duration,
    /// Panes the log knows, with their names: for spools a killed daemon left behind.
    pub known_panes: BTreeMap<(String, String), PaneMeta>,
}

impl Ingester {
    /// Starts the thread; chunks go to `sink`, and wait while `healthy` is false.
    pub fn start(config: IngestConfig, sink: ChannelSink, healthy: Arc<AtomicBool>) -> Self {
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            tx: Mutex::new(tx),
            closed: Mutex::new(BTreeMap::new()),
        });
        let handle = IngestHandle(Arc::clone(&shared));
        let waker = {
            let tx = shared.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let spool_dir = config.spool_dir.clone();
            std::thread::Builder::new()
                .name("spool-watch".into())
                .spawn(move || {
                    if let Err(e) = wake::watch(&spool_dir, || tx.send(Msg::Wake).is_ok()) {
                        tracing::warn!(folder = %spool_dir.display(), "cannot watch spools, looking every second instead: {e}");
                        let _ = tx.send(Msg::NoWatch);
                    }
                })
                .is_ok()
        };
        let thread = std::thread::Builder::new()
            .name("ingest".into())
            .spawn(move || {
                lower_priority();
                let mut state = State {
                    config,
                    sink,
                    healthy,
                    shared,
                    panes: BTreeMap::new(),
                    nudgers: BTreeMap::new(),
                    watched: waker,
                    flushes: Vec::new(),
                    flush_asked: None,
                    last_flush: None,
                };
                state.adopt_leftovers();
                state.run(rx);
            })
            .expect("spawn ingest thread");
        Ingester { handle, thread }
    }

    /// What watchers use.
    pub fn handle(&self) -> IngestHandle {
        self.handle.clone()
    }

    /// Reads what is left (waiting briefly for copiers to close), commits it, and ends.
    pub fn finish(self) {
        {
            let tx = self.handle.0.tx.lock().unwrap_or_else(|e| e.into_inner());
            let _ = tx.send(Msg::Finish);
        }
        let _ = self.thread.join();
    }
}

struct State {
    config: IngestConfig,
    sink: ChannelSink,
    healthy: Arc<AtomicBool>,
    shared: Arc<Shared>,
    panes: BTreeMap<(String, String), (PaneTrack, Option<Instant>)>,
    nudgers: BTreeMap<String, Nudger>,
    /// inotify wakes us when a spool changes.
    watched: bool,
    /// Views waiting for pending output to be committed, with their `audit-access` events.
    flushes: Vec<(Event, OnCommit)>,
    /// When the oldest waiting flush was asked for.
    flush_asked: Option<Instant>,
    last_flush: Option<Instant>,
}

impl State {
    fn run(&mut self, rx: Receiver<Msg>) {
        let mut finishing: Option<Instant> = None;
        // Whether the last look found output (or a burst left waiting): look again soon.
        let mut active = false;
        let mut last_look = Instant::now();
        loop {
            let wait = if finishing.is_some() || active {
                Some(TICK)
            } else if let Some(due) = self.flush_due_in() {
                Some(
                    due.max(TICK)
                        .min(self.next_deadline().unwrap_or(Duration::MAX)),
                )
            } else if !self.watched || !self.healthy.load(Ordering::Relaxed) {
                // No inotify, or a store to retry: look on a timer.
                (!self.panes.is_empty()).then_some(IDLE_TICK)
            } else {
                // Spool changes wake us; otherwise only a chunk or a pane's end falls due.
                self.next_deadline()
            };
            let first = match wait {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(t) => rx.recv_timeout(t),
            };
            // At most one look per tick, so a burst's growth is measured over a whole tick.
            if let Some(rest) = TICK.checked_sub(last_look.elapsed()) {
                std::thread::sleep(rest);
            }
            let mut msgs = Vec::new();
            match first {
                Ok(m) => msgs.push(m),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    finishing = finishing.or(Some(Instant::now()))
                }
            }
            msgs.extend(rx.try_iter());
            let mut found = Found::default();
            for m in msgs {
                match m {
                    Msg::Notice(n) => {
                        // A spool may be new: look again soon.
                        found.active = true;
                        self.apply(*n, &mut found);
                    }
                    Msg::Wake => {}
                    Msg::NoWatch => self.watched = false,
                    Msg::Finish => finishing = finishing.or(Some(Instant::now())),
                    Msg::Flush(event, f) => {
                        self.flush_asked.get_or_insert_with(Instant::now);
                        self.flushes.push((*event, f));
                    }
                }
            }
            let flushing = self.flush_due_in().is_some_and(|d| d.is_zero());
            if self.healthy.load(Ordering::Relaxed) || finishing.is_some() {
                self.read_all(&mut found, flushing);
            }
            if flushing {
                self.last_flush = Some(Instant::now());
                for (track, _) in self.panes.values_mut() {
                    track.seal_if_older(Duration::ZERO, &mut found);
                }
            }
            last_look = Instant::now();
            active = found.active;
            let last = finishing.is_some_and(|t| {
                t.elapsed() >= FINISH_GRACE || self.panes.values().all(|(p, _)| p.finished())
            });
            if last {
                for (track, _) in self.panes.values_mut() {
                    track.seal(&mut found);
                }
            }
            self.deliver(found);
            if flushing || last {
                // After the chunks just sealed: committed means they are too.
                for (event, f) in self.flushes.drain(..) {
                    self.sink.send_then(event, f);
                }
                self.flush_asked = None;
            }
            if last {
                return;
            }
        }
    }

    /// How long until waiting views are due their flush, if any wait.
    fn flush_due_in(&self) -> Option<Duration> {
        let asked = self.flush_asked?;
        let floor = self
            .last_flush
            .map_or(Duration::ZERO, |t| FLUSH_FLOOR.saturating_sub(t.elapsed()));
        Some(floor.max(FLUSH_SETTLE.saturating_sub(asked.elapsed())))
    }

    /// How long until a chunk is due to be sealed or an ended pane to be let go, if ever.
    fn next_deadline(&self) -> Option<Duration> {
        let flush_after = self.config.flush_after;
        self.panes
            .values()
            .flat_map(|(track, ended)| {
                let seal = track.seal_due_in(flush_after);
                let end = ended.map(|t| END_QUIET.saturating_sub(t.elapsed()));
                seal.into_iter().chain(end)
            })
            .min()
    }

    fn apply(&mut self, notice: PaneNotice, found: &mut Found) {
        match notice {
            PaneNotice::Connected { server, nudger } => {
                self.nudgers.insert(server, nudger);
            }
            PaneNotice::Started {
                server,
                pane_id,
                meta,
                spool,
                time,
                size,
                picture,
                history,
            } => {
                let host = self.config.host.clone();
                let (track, ended) = self
                    .panes
                    .entry((server.clone(), pane_id.clone()))
                    .or_insert_with(|| {
                        (
                            PaneTrack::new(&host, &server, &pane_id, meta.clone(), size),
                            None,
                        )
                    });
                track.meta = meta;
                *ended = None;
                // Output a killed daemon left for this pane was most likely printed at the size
                // the pane has now.
                track.adopt_size(size);
                track.awaiting_watcher = None;
                track.add_spool(spool, time, size, picture, history);
            }
            PaneNotice::Moved {
                server,
                pane_id,
                meta,
            } => {
                if let Some((track, _)) = self.panes.get_mut(&(server, pane_id)) {
                    // The chunk being built is named by where the pane was when it began.
                    track.seal(found);
                    track.meta = meta;
                }
            }
            PaneNotice::Resized {
                server,
                pane_id,
                time,
                size,
            } => {
                if let Some((track, _)) = self.panes.get_mut(&(server, pane_id)) {
                    track.resize(time, size, found);
                }
            }
            PaneNotice::Ended {
                server,
                pane_id,
                time,
            } => {
                if let Some((track, ended)) = self.panes.get_mut(&(server, pane_id)) {
                    track.ended = Some(time);
                    *ended = Some(Instant::now());
                }
            }
        }
    }

    /// Reads every pane's spools; `force` reads panes in a burst too (a view waits for them).
    fn read_all(&mut self, found: &mut Found, force: bool) {
        let flush_after = self.config.flush_after;
        let mut done = Vec::new();
        for (key, (track, ended)) in &mut self.panes {
            let mut mine = Found::default();
            if track
                .awaiting_watcher
                .is_some_and(|t| t.elapsed() < LEFTOVER_WAIT)
            {
                continue;
            }
            if track.bursting(BURST_BYTES, BURST_BACKLOG) && !force {
                found.active = true;
                continue;
            }
            track.read(&mut mine);
            for (spool, time) in mine.closed.drain(..) {
                if track.ended.is_none() {
                    // Our pipe closed while the pane lives: the watcher re-opens it.
                    let mut closed = self.shared.closed.lock().unwrap_or_else(|e| e.into_inner());
                    closed.entry(key.0.clone()).or_default().push((spool, time));
                    if let Some(n) = self.nudgers.get(&key.0) {
                        n.nudge();
                    }
                }
            }
            track.seal_if_older(flush_after, &mut mine);
            if mine.active {
                // Still reading what the copier wrote: the quiet period starts over.
                if let Some(t) = ended.as_mut() {
                    *t = Instant::now();
                }
            }
            if track.finished() || ended.is_some_and(|t| t.elapsed() >= END_QUIET) {
                track.abandon(&mut mine);
                done.push(key.clone());
            }
            found.sealed.append(&mut mine.sealed);
            found.events.append(&mut mine.events);
            found.active |= mine.active;
        }
        for key in done {
            self.panes.remove(&key);
        }
    }

    fn deliver(&self, found: Found) {
        if !found.events.is_empty() {
            self.sink.send_now(found.events);
        }
        for sealed in found.sealed {
            let releases = sealed.releases;
            self.sink.send_output(
                sealed.event,
                sealed.attachment,
                Box::new(move || releases.into_iter().for_each(|r| r.run())),
            );
        }
    }

    /// Spools a killed daemon left behind: recorded now rather than lost.
    fn adopt_leftovers(&mut self) {
        let Ok(folders) = std::fs::read_dir(&self.config.spool_dir) else {
            return;
        };
        for folder in folders.flatten() {
            let dir = folder.path();
            let Some(server) = read_server_name(&dir.join("server")) else {
                continue;
            };
            // The folder is named by the server's hash; a `server` file that names another
            // server (its owner may write it, under a root daemon) is not believed.
            if dir.file_name().and_then(|n| n.to_str())
                != Some(audit_capture::spool::folder_name(&server).as_str())
            {
                tracing::warn!(folder = %dir.display(), "spool folder names a server whose hash is not its name: ignored");
                continue;
            }
            let mut spools: Vec<(String, i64, PathBuf)> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|f| {
                    audit_capture::spool::name_of(&f.path()).map(|(p, t)| (p, t, f.path()))
                })
                .collect();
            spools.sort_by_key(|(_, t, _)| *t);
            for (pane, _, path) in spools {
                let pane_id = format!("%{pane}");
                // Names from the log; where the pane was is not known.
                let meta = self
                    .config
                    .known_panes
                    .get(&(server.clone(), pane_id.clone()))
                    .cloned()
                    .unwrap_or_default();
                tracing::info!(spool = %path.display(), "recording output a previous daemon left in its spool");
                let host = self.config.host.clone();
                let (track, ended) = self
                    .panes
                    .entry((server.clone(), pane_id.clone()))
                    .or_insert_with(|| {
                        (
                            PaneTrack::new(&host, &server, &pane_id, meta.clone(), (80, 24)),
                            None,
                        )
                    });
                track.add_leftover(path);
                // A watcher reports live panes within moments, with their size; wait for it.
                track.awaiting_watcher = Some(Instant::now());
                // Until a watcher says the pane is alive, treat it as gone.
                track.ended = Some(Timestamp::now());
                *ended = Some(Instant::now());
            }
        }
    }
}

/// Runs this thread at nice 10: the panes come first.
fn lower_priority() {
    // SAFETY: gettid and setpriority take plain integers and touch no memory.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// The `server` file the daemon wrote in a spool folder (before handing the folder over): a
/// plain file of ours, at most a path's length. Anything else names no server.
fn read_server_name(path: &Path) -> Option<String> {
    use std::io::Read;
    // SAFETY: geteuid cannot fail and touches no memory.
    let ours = unsafe { libc::geteuid() };
    let file = match plain::open_plain(path, false, ours) {
        Ok(f) => f,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(file = %path.display(), "not a server name this daemon wrote, ignored: {e}");
            }
            return None;
        }
    };
    let mut name = String::new();
    file.take(4096).read_to_string(&mut name).ok()?;
    Some(name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_server_name_is_read_only_from_a_plain_file_of_ours() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("server");
        std::fs::write(&plain, "/tmp/tmux-0/default").unwrap();
        assert_eq!(
            super::read_server_name(&plain).as_deref(),
            Some("/tmp/tmux-0/default")
        );
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&plain, &link).unwrap();
        assert_eq!(super::read_server_name(&link), None, "not through a link");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(
            super::read_server_name(&fifo),
            None,
            "a FIFO, without blocking"
        );
    }
}
