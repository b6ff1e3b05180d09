//! Pane recording, the watcher's half: keep every pane's output flowing into a spool.
//!
//! For each pane the watcher runs, in one command line so that tmux handles no pane output in
//! between, `pipe-pane -O` (tmux starts `tmux-audit pane-pipe` on the pane's output), then
//! `capture-pane -e` and the cursor position: the picture the recording starts from, so a pane
//! that existed before the daemon, or printed before its pipe opened, replays from the right
//! screen. A pipe that closes while its pane lives (someone ran `pipe-pane`, or the copier
//! died) is an `output-gap`, and the pane is piped again at once.
//!
//! A pane made while the watcher is connected is piped at birth by tmux itself, through the
//! watcher's `after-*` hooks ([`crate::hooks`]): its copier names its spool `N-MICROS.tas` in
//! the server's spool folder, and the watcher, on its next look, finds that spool and hands it
//! over with a blank starting picture (the pane is new). A pane the hooks could not catch (made
//! by a command inside a hook, or while a hook was removed, or the first panes of a server that
//! started after the daemon) gets an `output-gap` with `reason: pane-start`, and what tmux
//! still holds of its past (`capture-pane -e -S -`) is recorded as the first output after it.
//! A pane id that was never seen at all (born and gone between two looks, not piped by a hook)
//! is a `pane-start` gap too: pane ids only grow, so a skipped one is a pane that existed.
//!
//! What happens to the spools is the [`Recorder`]'s business (the daemon's ingester); it tells
//! the watcher when one of our pipes ended, and the watcher hears about it through a
//! [`Nudger`].

use crate::conn::{ConnError, Connection, Nudger};
use crate::hooks::BirthHooks;
use crate::snapshot::{Pane, ServerView};
use crate::spool_watch::SpoolWatch;
use audit_core::{Event, Kind, Observed, Reason, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where spools go and what writes them.
#[derive(Clone, Debug)]
pub struct CaptureConfig {
    /// The `tmux-audit` program (run by tmux as `tmux-audit pane-pipe`).
    pub exe: PathBuf,
    /// A private folder for spool files (one subfolder per server).
    pub spool_dir: PathBuf,
}

/// Names and places of a pane, as carried by its `pane-output` events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaneMeta {
    /// Session name.
    pub session: Option<String>,
    /// Session id.
    pub session_id: Option<String>,
    /// Window name.
    pub window: Option<String>,
    /// Window id.
    pub window_id: Option<String>,
    /// Window index.
    pub window_index: Option<i64>,
    /// Pane index.
    pub pane_index: Option<i64>,
}

/// What the watcher tells the recorder about a server's panes.
#[derive(Debug)]
pub enum PaneNotice {
    /// A control client is connected; nudge it when one of our pipes ends.
    Connected {
        /// The server (socket path).
        server: String,
        /// Wakes the watcher.
        nudger: Nudger,
    },
    /// A pane's output now flows into `spool`, starting from `picture`.
    Started {
        /// The server.
        server: String,
        /// `%N`.
        pane_id: String,
        /// Names and places.
        meta: PaneMeta,
        /// The spool `pane-pipe` creates.
        spool: PathBuf,
        /// When the pipe opened.
        time: Timestamp,
        /// Columns and rows.
        size: (u16, u16),
        /// Bytes that draw what the pane showed when its pipe opened.
        picture: Vec<u8>,
        /// For a pane whose first bytes were not caught: what tmux still held of its past,
        /// redrawn (`capture-pane -e -S -`), to record as the first output after `picture`.
        history: Option<Vec<u8>>,
    },
    /// The pane moved or its session or window was renamed.
    Moved {
        /// The server.
        server: String,
        /// `%N`.
        pane_id: String,
        /// Its new names and places.
        meta: PaneMeta,
    },
    /// The pane was resized.
    Resized {
        /// The server.
        server: String,
        /// `%N`.
        pane_id: String,
        /// When it was seen.
        time: Timestamp,
        /// Columns and rows.
        size: (u16, u16),
    },
    /// The pane is gone, or will no longer be recorded (the daemon is stopping).
    Ended {
        /// The server.
        server: String,
        /// `%N`.
        pane_id: String,
        /// When.
        time: Timestamp,
    },
}

/// The spool's consumer.
pub trait Recorder: Send + Sync {
    /// Takes a notice (never blocks for long).
    fn notice(&self, notice: PaneNotice);
    /// Spools of `server` that ended (their pipe closed) since the last call, with when.
    fn take_closed(&self, server: &str) -> Vec<(PathBuf, Timestamp)>;
}

struct Piped {
    spool: PathBuf,
    meta: PaneMeta,
    size: (u16, u16),
    /// Last time the pipe was seen open.
    seen_open: Timestamp,
}

/// One watcher's pipes.
pub struct Piping<'a> {
    config: &'a CaptureConfig,
    recorder: &'a dyn Recorder,
    server: String,
    host: String,
    folder: PathBuf,
    panes: BTreeMap<String, Piped>,
    run_as: Option<crate::owner::Owner>,
    /// The hooks that pipe new panes at birth.
    hooks: BirthHooks,
    /// When this watcher began: hook spools older than this are a killed daemon's leftovers
    /// (the ingester's), not ours.
    since: Timestamp,
    /// The panes of the next look were there before the daemon: recorded from the screen
    /// they show, no gap.
    at_daemon_start: bool,
    /// Spools handed to the recorder (ours and the hooks'), while they exist.
    handed: BTreeSet<PathBuf>,
    /// The highest pane number seen: a pane id above it that is never seen is a gap.
    highest: Option<u64>,
    /// Wakes the watcher when a copier creates a spool.
    spool_watch: Option<SpoolWatch>,
    /// The spool folder as listed just before the look's `list-panes`.
    listed: Option<BTreeMap<String, (PathBuf, Timestamp)>>,
}

/// How long a look waits for the spool of a pane the hooks piped (its copier starting).
const HOOK_SPOOL_WAIT: Duration = Duration::from_secs(2);

impl<'a> Piping<'a> {
    /// Pipes for the server at `server` (its socket path); `at_daemon_start` when its panes
    /// were there before the daemon.
    pub fn new(
        config: &'a CaptureConfig,
        recorder: &'a dyn Recorder,
        host: &str,
        server: &str,
        run_as: Option<crate::owner::Owner>,
        at_daemon_start: bool,
    ) -> Self {
        let folder = config
            .spool_dir
            .join(audit_capture::spool::folder_name(server));
        Piping {
            config,
            recorder,
            server: server.to_owned(),
            host: host.to_owned(),
            hooks: BirthHooks::new(&config.exe, &folder),
            folder,
            panes: BTreeMap::new(),
            run_as,
            since: Timestamp::now(),
            at_daemon_start,
            handed: BTreeSet::new(),
            highest: None,
            spool_watch: None,
            listed: None,
        }
    }

    /// A new control client: the recorder may nudge it, and the hooks are set through it
    /// (again: a previous client's may have been removed while we were away).
    pub fn connected(&mut self, conn: &mut Connection) -> Result<(), ConnError> {
        self.recorder.notice(PaneNotice::Connected {
            server: self.server.clone(),
            nudger: conn.nudger(),
        });
        if let Err(e) = self.spool_folder() {
            tracing::error!(folder = %self.folder.display(), "cannot create the spool folder, panes are not recorded: {e}");
            return Ok(());
        }
        if self.spool_watch.is_none() {
            match SpoolWatch::start(&self.folder) {
                Ok(w) => self.spool_watch = Some(w),
                Err(e) => {
                    tracing::warn!(folder = %self.folder.display(), "cannot watch the spool folder; a pane gone before the next look is recorded only at the look after: {e}")
                }
            }
        }
        if let Some(w) = &self.spool_watch {
            w.connected(conn.nudger());
        }
        self.hooks.install(conn, Timestamp::now())
    }

    /// The pane-birth hook's command as tmux prints and logs it, once set.
    pub fn hook_logged(&self) -> Option<&str> {
        self.hooks.shown()
    }

    /// The hooks' subscription changed: checks them, puts back what was taken, and returns
    /// the alerts.
    pub fn check_hooks(
        &mut self,
        conn: &mut Connection,
        view: &ServerView,
        time: Timestamp,
    ) -> Result<Vec<Event>, ConnError> {
        self.hooks.check(conn, view, &self.host, &self.server, time)
    }

    /// Brings pipes in line with `view`: pipes new panes, re-pipes closed ones (returning the
    /// `output-gap` events that records), reports moves, resizes and ends.
    pub fn sync(
        &mut self,
        conn: &mut Connection,
        view: &ServerView,
        time: Timestamp,
    ) -> Result<Vec<Event>, ConnError> {
        let mut events = Vec::new();
        let closed: BTreeMap<PathBuf, Timestamp> = self
            .recorder
            .take_closed(&self.server)
            .into_iter()
            .collect();
        let gone: Vec<String> = self
            .panes
            .keys()
            .filter(|id| !view.panes.contains_key(*id))
            .cloned()
            .collect();
        for pane_id in gone {
            self.panes.remove(&pane_id);
            self.recorder.notice(PaneNotice::Ended {
                server: self.server.clone(),
                pane_id,
                time,
            });
        }
        let initial = std::mem::take(&mut self.at_daemon_start);
        let listed = self.listed.take();
        let mut spools = match listed {
            Some(listed) if self.hooks.active() && !initial => self.hook_spools(view, listed),
            _ => BTreeMap::new(),
        };
        events.extend(self.unseen(view, &mut spools, initial, time));
        for (pane_id, pane) in &view.panes {
            let meta = meta_of(view, pane);
            if !self.panes.contains_key(pane_id) {
                match spools.remove(pane_id) {
                    // Piped at birth by our hook: recorded from its first byte.
                    Some(found) => self.adopt(pane_id, meta.clone(), pane.size, found),
                    None => {
                        if !initial {
                            events.push(self.start_gap(pane_id, &meta, time));
                        }
                        // Not piped when the pane is already gone: its start gap stands.
                        self.start(conn, pane_id, pane, meta, time, !initial)?;
                        continue;
                    }
                }
            }
            let Some(piped) = self.panes.get_mut(pane_id) else {
                continue;
            };
            if piped.meta != meta {
                piped.meta = meta.clone();
                self.recorder.notice(PaneNotice::Moved {
                    server: self.server.clone(),
                    pane_id: pane_id.clone(),
                    meta: meta.clone(),
                });
            }
            if piped.size != pane.size {
                piped.size = pane.size;
                self.recorder.notice(PaneNotice::Resized {
                    server: self.server.clone(),
                    pane_id: pane_id.clone(),
                    time,
                    size: pane.size,
                });
            }
            let ours_closed = closed.get(&piped.spool).copied();
            if pane.piped && ours_closed.is_none() {
                piped.seen_open = time;
                continue;
            }
            // Our pipe ended while the pane lives: closed (`pipe-pane` with no command), or
            // replaced by someone else's pipe.
            let cause = if pane.piped {
                Reason::PipeReplaced
            } else {
                Reason::PipeClosed
            };
            let from = ours_closed.unwrap_or(piped.seen_open);
            let mut gap = Event::new(time, Kind::OutputGap, &self.host, &self.server)
                .observed(Observed::Live);
            set_meta(&mut gap, pane_id, &meta);
            gap.reason = Some(cause);
            gap.from = Some(from);
            gap.until = Some(time);
            gap.message = Some(if pane.piped {
                format!("someone replaced the recording pipe of pane {pane_id} with their own `pipe-pane`; output until tmux-audit took it back is not recorded")
            } else {
                format!("the recording pipe of pane {pane_id} was closed (`pipe-pane` with no command, or its copier was killed); output until it was re-opened is not recorded")
            });
            self.recorder.notice(PaneNotice::Ended {
                server: self.server.clone(),
                pane_id: pane_id.clone(),
                time,
            });
            self.panes.remove(pane_id);
            // A pane that exited after the look closed its pipe itself: nothing was lost. Only
            // a pane that is still there can be piped again.
            if self.start(conn, pane_id, pane, meta, time, false)? {
                tracing::warn!(server = %self.server, pane = %pane_id, "recording pipe {cause}; re-opened it");
                events.push(gap);
            }
        }
        // Hook spools of panes gone before any look saw them: their output is still theirs.
        for (pane_id, found) in spools {
            if self.panes.contains_key(&pane_id) {
                // A second copier for a pane we record: not made by a pane's birth.
                tracing::warn!(server = %self.server, pane = %pane_id, spool = %found.0.display(), "a spool not made at the pane's birth appeared; not recorded");
                self.handed.insert(found.0);
                continue;
            }
            self.adopt(&pane_id, PaneMeta::default(), (80, 24), found);
            self.panes.remove(&pane_id);
            self.recorder.notice(PaneNotice::Ended {
                server: self.server.clone(),
                pane_id,
                time,
            });
        }
        Ok(events)
    }

    /// Hands the recorder a spool our hook's copier made at the pane's birth.
    fn adopt(
        &mut self,
        pane_id: &str,
        meta: PaneMeta,
        size: (u16, u16),
        found: (PathBuf, Timestamp),
    ) {
        let (spool, opened) = found;
        tracing::debug!(server = %self.server, pane = pane_id, spool = %spool.display(), "piped at birth by the hook");
        let start = Start {
            spool,
            time: opened,
            size,
            picture: blank_picture(),
            history: None,
        };
        self.begin(pane_id, meta, start);
    }

    /// Tells the recorder about a pane's new spool and tracks it.
    fn begin(&mut self, pane_id: &str, meta: PaneMeta, start: Start) {
        self.handed.insert(start.spool.clone());
        self.recorder.notice(PaneNotice::Started {
            server: self.server.clone(),
            pane_id: pane_id.to_owned(),
            meta: meta.clone(),
            spool: start.spool.clone(),
            time: start.time,
            size: start.size,
            picture: start.picture,
            history: start.history,
        });
        self.panes.insert(
            pane_id.to_owned(),
            Piped {
                spool: start.spool,
                meta,
                size: start.size,
                seen_open: start.time,
            },
        );
    }

    /// Spools in the folder that nobody has been handed yet and were made since this watcher
    /// began, by pane: what our hooks' copiers made. Waits (bounded) for the spool of a new
    /// pane tmux says is piped, whose copier may still be starting.
    /// Lists the spool folder before the look reads tmux's panes: a spool listed then whose pane
    /// the look does not show belongs to a pane already gone, not to one made after the list.
    pub fn before_look(&mut self) {
        self.listed = (self.hooks.active() && !self.at_daemon_start).then(|| self.list_spools());
    }

    fn hook_spools(
        &mut self,
        view: &ServerView,
        mut found: BTreeMap<String, (PathBuf, Timestamp)>,
    ) -> BTreeMap<String, (PathBuf, Timestamp)> {
        // New panes tmux says are piped, and skipped pane ids (panes already gone): a hook
        // piped them if their spools show up.
        let mut waiting: Vec<String> = view
            .panes
            .iter()
            .filter(|(id, p)| p.piped && !self.panes.contains_key(*id))
            .map(|(id, _)| id.clone())
            .collect();
        // The highest id includes spools listed before the look: a pane made and gone by then
        // whose copier was quick, above one whose copier is still starting.
        let top = view
            .panes
            .keys()
            .chain(found.keys())
            .filter_map(|id| pane_number(id))
            .max();
        if let (Some(highest), Some(top)) = (self.highest, top) {
            waiting.extend(
                (highest + 1..top)
                    .map(|n| format!("%{n}"))
                    .filter(|id| !view.panes.contains_key(id)),
            );
        }
        let deadline = Instant::now() + HOOK_SPOOL_WAIT;
        loop {
            let missing = waiting.iter().any(|id| !found.contains_key(id));
            if !missing || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(5));
            // Only the panes waited for: others may be newer than the look.
            for (id, spool) in self.list_spools() {
                if waiting.contains(&id) {
                    found.entry(id).or_insert(spool);
                }
            }
        }
    }

    fn list_spools(&mut self) -> BTreeMap<String, (PathBuf, Timestamp)> {
        let mut found: BTreeMap<String, (PathBuf, Timestamp)> = BTreeMap::new();
        let mut present = BTreeSet::new();
        for entry in std::fs::read_dir(&self.folder)
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = entry.path();
            let Some((number, micros)) = audit_capture::spool::name_of(&path) else {
                continue;
            };
            present.insert(path.clone());
            if self.handed.contains(&path) || micros < self.since.as_micros() {
                continue;
            }
            // Only a plain file (the ingester checks more when it opens it).
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let pane_id = format!("%{number}");
            // The first spool of a pane is its birth's; a later one is handled when it shows.
            if found
                .get(&pane_id)
                .is_none_or(|(_, t)| t.as_micros() > micros)
            {
                found.insert(pane_id, (path, Timestamp(micros)));
            }
        }
        // A spool still tracked may not exist yet (its copier is starting): keep its name.
        let panes = &self.panes;
        self.handed
            .retain(|p| present.contains(p) || panes.values().any(|piped| &piped.spool == p));
        found
    }

    /// `pane-start` gaps for pane ids above the highest seen that neither this look nor a
    /// hook spool shows: panes that were born and gone between two looks, unrecorded.
    fn unseen(
        &mut self,
        view: &ServerView,
        spools: &mut BTreeMap<String, (PathBuf, Timestamp)>,
        initial: bool,
        time: Timestamp,
    ) -> Vec<Event> {
        let seen: BTreeSet<u64> = view
            .panes
            .keys()
            .chain(spools.keys())
            .filter_map(|id| pane_number(id))
            .collect();
        let Some(&top) = seen.last() else {
            return Vec::new();
        };
        let mut events = Vec::new();
        if let (Some(highest), false) = (self.highest, initial) {
            for n in (highest + 1..top).filter(|n| !seen.contains(n)) {
                let pane_id = format!("%{n}");
                let mut gap = self.start_gap(&pane_id, &PaneMeta::default(), time);
                gap.message = Some(format!(
                    "pane {pane_id} was made and gone between two looks of tmux-audit without being piped at birth (made by a command inside a hook, or while tmux-audit's hook was missing): its output is not recorded"
                ));
                events.push(gap);
            }
        }
        self.highest = Some(self.highest.map_or(top, |h| h.max(top)));
        events
    }

    /// An `output-gap` for a pane whose first bytes were not caught.
    fn start_gap(&self, pane_id: &str, meta: &PaneMeta, time: Timestamp) -> Event {
        let mut gap =
            Event::new(time, Kind::OutputGap, &self.host, &self.server).observed(Observed::Live);
        set_meta(&mut gap, pane_id, meta);
        gap.reason = Some(Reason::PaneStart);
        gap.until = Some(time);
        gap.message = Some(format!(
            "pane {pane_id} was not piped at birth (made by a command inside a hook, before tmux-audit watched its server, or while tmux-audit's hook was missing): its first output is recorded only as the history tmux still held when tmux-audit piped it, redrawn, not as the bytes it printed"
        ));
        gap
    }

    /// Removes the hooks and closes every pipe we opened (the daemon is stopping), so no
    /// copier outlives it.
    pub fn close_all(&mut self, conn: &mut Connection) -> Result<(), ConnError> {
        self.hooks.remove(conn)?;
        let time = Timestamp::now();
        // One line each: a pane gone meanwhile fails, and tmux would skip the rest of a line.
        for id in self.panes.keys() {
            match conn.command(&format!("pipe-pane -t {id}")) {
                Err(ConnError::Refused { .. }) => {}
                other => {
                    other?;
                }
            }
        }
        self.forget_all(time);
        Ok(())
    }

    /// The server is gone: every pane ended.
    pub fn forget_all(&mut self, time: Timestamp) {
        for (pane_id, _) in std::mem::take(&mut self.panes) {
            self.recorder.notice(PaneNotice::Ended {
                server: self.server.clone(),
                pane_id,
                time,
            });
        }
    }

    fn start(
        &mut self,
        conn: &mut Connection,
        pane_id: &str,
        pane: &Pane,
        meta: PaneMeta,
        time: Timestamp,
        with_history: bool,
    ) -> Result<bool, ConnError> {
        if let Err(e) = self.spool_folder() {
            tracing::error!(folder = %self.folder.display(), "cannot create the spool folder, pane {pane_id} is not recorded: {e}");
            return Ok(false);
        }
        if pane.piped {
            tracing::warn!(server = %self.server, pane = %pane_id, "pane already has a pipe-pane; tmux-audit replaces it to record the pane");
        }
        let number = pane_id.trim_start_matches('%');
        let spool = self
            .folder
            .join(audit_capture::spool::file_name(number, time.as_micros()));
        let mut commands = vec![
            format!(
                "pipe-pane -O -t {pane_id} {}",
                tmux_quote(&pipe_command(&self.config.exe, &spool))
            ),
            format!("capture-pane -p -e -t {pane_id}"),
            format!(
                r##"display-message -p -t {pane_id} "#{{cursor_x}} #{{cursor_y}} #{{cursor_flag}}""##
            ),
        ];
        if with_history {
            commands.push(format!("capture-pane -p -e -S - -E -1 -t {pane_id}"));
        }
        let results = conn.command_list(&commands)?;
        let mut results = results.into_iter();
        if let Some(Err(e)) = results.next() {
            // The pane went between the list and now: nothing to record.
            tracing::debug!(server = %self.server, pane = %pane_id, "not piped: {e}");
            return Ok(false);
        }
        let screen = results.next().and_then(Result::ok).unwrap_or_default();
        let cursor = results.next().and_then(Result::ok).unwrap_or_default();
        let history = results
            .next()
            .and_then(Result::ok)
            .map(|lines| history_bytes(&lines, &screen, cursor.first().map(Vec::as_slice)));
        let (picture, history) = match history {
            // The history and the screen, drawn as output after a blank start.
            Some(history) => (blank_picture(), Some(history)),
            None => (picture(&screen, cursor.first().map(Vec::as_slice)), None),
        };
        let start = Start {
            spool,
            time,
            size: pane.size,
            picture,
            history,
        };
        self.begin(pane_id, meta, start);
        Ok(true)
    }
}

/// Where a pane's recording starts: its spool, when and at what size the pipe opened, and
/// what it showed then.
struct Start {
    spool: PathBuf,
    time: Timestamp,
    size: (u16, u16),
    picture: Vec<u8>,
    history: Option<Vec<u8>>,
}

/// Copies a pane's names and places into an event.
pub fn set_meta(e: &mut Event, pane_id: &str, meta: &PaneMeta) {
    e.pane_id = Some(pane_id.to_owned());
    e.session = meta.session.clone();
    e.session_id = meta.session_id.clone();
    e.window = meta.window.clone();
    e.window_id = meta.window_id.clone();
    e.window_index = meta.window_index;
    e.pane_index = meta.pane_index;
}

fn meta_of(view: &ServerView, pane: &Pane) -> PaneMeta {
    PaneMeta {
        session: view.sessions.get(&pane.session_id).map(|s| s.name.clone()),
        session_id: Some(pane.session_id.clone()),
        window: view.windows.get(&pane.window_id).map(|w| w.name.clone()),
        window_id: Some(pane.window_id.clone()),
        window_index: pane.window_index,
        pane_index: pane.pane_index,
    }
}

impl Piping<'_> {
    /// The server's spool folder, owner-only, inside a spool folder others may pass through
    /// but not list (0711: a root daemon's users reach their own folder, and only it). Made
    /// once: the `server` file is written while the folder is still ours, then the folder is
    /// handed to the server's owner, whose copiers write in it. Nothing is written in it again
    /// as root — its owner could have put a link there.
    fn spool_folder(&self) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        if let Some(top) = self.folder.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o711)
                .create(top)?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(&self.folder) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Made by an earlier look or daemon: it must be a real folder of the owner's.
                use std::os::unix::fs::MetadataExt;
                let meta = std::fs::symlink_metadata(&self.folder)?;
                // SAFETY: geteuid cannot fail and touches no memory.
                let owner = self
                    .run_as
                    .map_or_else(|| unsafe { libc::geteuid() }, |o| o.uid);
                if !meta.is_dir() || meta.uid() != owner {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::PermissionDenied,
                        "the spool folder is not a folder of the server's owner",
                    ));
                }
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        // Names the server, for spools a killed daemon leaves behind.
        std::fs::write(self.folder.join("server"), &self.server)?;
        match self.run_as {
            Some(owner) => owner.hand_over(&self.folder),
            None => Ok(()),
        }
    }
}

/// `N` of `%N`.
fn pane_number(id: &str) -> Option<u64> {
    id.strip_prefix('%').and_then(|n| n.parse().ok())
}

/// The starting picture of a pane recorded from its birth: nothing drawn yet.
fn blank_picture() -> Vec<u8> {
    b"\x1b[0m\x1b[H\x1b[2J".to_vec()
}

/// The lines of a pane's history (`capture-pane -e -S - -E -1`) followed by its screen, drawn
/// as output: the history scrolls off the top, as it did when it was printed.
fn history_bytes(history: &[Vec<u8>], screen: &[Vec<u8>], cursor: Option<&[u8]>) -> Vec<u8> {
    let lines: Vec<Vec<u8>> = history.iter().chain(screen).cloned().collect();
    picture(&lines, cursor)
}

/// The shell command tmux runs for the pipe: `exec` so no shell stays behind.
fn pipe_command(exe: &Path, spool: &Path) -> String {
    format!(
        "exec {} pane-pipe --spool {}",
        sh_quote(&exe.to_string_lossy()),
        sh_quote(&spool.to_string_lossy())
    )
}

/// Quotes for `sh -c`: single quotes, each `'` written as `'\''`.
pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Quotes one argument for a tmux command line. tmux parses double quotes (expanding `\`, `$`
/// and `~`), and `pipe-pane` expands formats (`#`) in its command: all are escaped.
pub fn tmux_quote(s: &str) -> String {
    parser_quote(&format_escape(s))
}

/// `#` doubled: what a format expansion turns back into the text.
pub(crate) fn format_escape(s: &str) -> String {
    s.replace('#', "##")
}

/// Double quotes for tmux's command parser, with `\`, `"`, `$` and newlines escaped.
pub(crate) fn parser_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' | '"' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Bytes that draw a `capture-pane -e` screen and put the cursor where it was.
fn picture(lines: &[Vec<u8>], cursor: Option<&[u8]>) -> Vec<u8> {
    let mut out = b"\x1b[0m\x1b[H\x1b[2J".to_vec();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\x1b[0m\r\n");
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b"\x1b[0m");
    let text = cursor.map(String::from_utf8_lossy).unwrap_or_default();
    let mut parts = text.split(' ').map(|p| p.parse::<u32>().ok());
    if let (Some(Some(x)), Some(Some(y))) = (parts.next(), parts.next()) {
        out.extend_from_slice(format!("\x1b[{};{}H", y + 1, x + 1).as_bytes());
    }
    if parts.next() == Some(Some(0)) {
        out.extend_from_slice(b"\x1b[?25l");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_command_survives_hostile_paths() {
        let cmd = pipe_command(
            Path::new("/opt/it's $HOME/#{pane_id}/tmux-audit"),
            Path::new("/data/a \"b\"\\c/1-2.tas"),
        );
        assert_eq!(
            cmd,
            r#"exec '/opt/it'\''s $HOME/#{pane_id}/tmux-audit' pane-pipe --spool '/data/a "b"\c/1-2.tas'"#
        );
        assert_eq!(
            tmux_quote(&cmd),
            r#""exec '/opt/it'\\''s \$HOME/##{pane_id}/tmux-audit' pane-pipe --spool '/data/a \"b\"\\c/1-2.tas'""#
        );
    }

    #[test]
    fn picture_draws_lines_and_places_the_cursor() {
        let p = picture(
            &[b"\x1b[31mred\x1b[39m".to_vec(), b"two".to_vec()],
            Some(b"4 1 1"),
        );
        assert_eq!(
            p,
            b"\x1b[0m\x1b[H\x1b[2J\x1b[31mred\x1b[39m\x1b[0m\r\ntwo\x1b[0m\x1b[2;5H".to_vec()
        );
        let hidden = picture(&[], Some(b"0 0 0"));
        assert!(hidden.ends_with(b"\x1b[?25l"));
    }
}
