//! The running watchers, one per server socket, and how they are started and joined.

use crate::attributing::Nudgers;
use crate::commands::{RootSender, TeeSink};
use crate::ingest::IngestHandle;
use crate::writer::ChannelSink;
use crate::{observed_for, Config};
use audit_core::fold::World;
use audit_core::Observed;
use audit_tmux::capture::{CaptureConfig, Recorder};
use audit_tmux::discovery;
use audit_tmux::owner::Owner;
use audit_tmux::watcher::{self, Prior};
use audit_tmux::{prior, Shutdown, Watch};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

struct Slot {
    /// Discovery saw the socket (re)appear while this watcher ran: look again when it ends.
    rescan: bool,
}

/// What every watcher's events pass on their way to the writer ([`TeeSink`]).
pub struct Taps {
    /// Where new panes' first processes go, when commands are recorded.
    pub roots: Option<RootSender>,
    /// The tmux clients the kernel reports, for the watchers to time commands from.
    pub clients: Option<Arc<audit_tmux::clients::ClientRuns>>,
    /// Where watchers leave their nudgers.
    pub nudgers: Arc<Nudgers>,
    /// The policy in force.
    pub enforcer: Arc<crate::enforce::Enforcer>,
}

struct Inner {
    config: Config,
    sink: ChannelSink,
    recorder: Option<IngestHandle>,
    taps: Taps,
    shutdown: Arc<Shutdown>,
    /// What the log said at start; each server's part is taken by its first watcher.
    world: Mutex<Option<World>>,
    slots: Mutex<HashMap<PathBuf, Slot>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Shared handle to the watchers.
#[derive(Clone)]
pub struct Registry(Arc<Inner>);

impl Registry {
    /// A registry with nothing running yet.
    pub fn new(
        config: Config,
        world: World,
        sink: ChannelSink,
        recorder: Option<IngestHandle>,
        taps: Taps,
        shutdown: Arc<Shutdown>,
    ) -> Self {
        Registry(Arc::new(Inner {
            config,
            sink,
            recorder,
            taps,
            shutdown,
            world: Mutex::new(Some(world)),
            slots: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
        }))
    }

    /// Starts a watcher for every server in scope that the log believes running, so that one
    /// whose socket is gone is reported gone.
    pub fn start_known(&self) {
        let servers: Vec<PathBuf> = {
            let world = self.0.world.lock().unwrap_or_else(|e| e.into_inner());
            world
                .iter()
                .flat_map(|w| w.servers.keys())
                .map(PathBuf::from)
                .filter(|p| self.0.config.scope.contains(p))
                .collect()
        };
        for socket in servers {
            self.found(socket, true);
        }
    }

    /// A socket was found; start its watcher unless one runs.
    pub fn found(&self, socket: PathBuf, initial: bool) {
        if self.0.shutdown.stopping() {
            return;
        }
        {
            let mut slots = self.0.slots.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(slot) = slots.get_mut(&socket) {
                slot.rescan = true;
                return;
            }
            slots.insert(socket.clone(), Slot { rescan: false });
        }
        let prior = self.prior_for(&socket, initial);
        let this = self.clone();
        let name = format!("watch {}", socket.display());
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || this.watch(socket, prior));
        match handle {
            Ok(h) => self
                .0
                .threads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(h),
            Err(e) => tracing::error!("cannot start a watcher thread: {e}"),
        }
    }

    fn prior_for(&self, socket: &Path, initial: bool) -> Prior {
        let mut guard = self.0.world.lock().unwrap_or_else(|e| e.into_inner());
        let key = socket.display().to_string();
        let Some(world) = guard.as_mut() else {
            return Prior::default();
        };
        // The log's state of a server is the starting point of its first watcher only.
        if !world.servers.contains_key(&key) && !initial {
            return Prior::default();
        }
        let prior = Prior {
            view: prior::view_of(world, &key),
            running_pid: world.servers.get(&key).map(|s| s.pid),
            at_daemon_start: observed_for(initial) == Observed::AtStart,
        };
        world.forget_server(&key);
        prior
    }

    fn watch(&self, socket: PathBuf, mut prior: Prior) {
        let watch = Watch {
            tmux: self.0.config.tmux.clone(),
            socket: socket.clone(),
            host: self.0.config.host.clone(),
            capture: self.0.config.capture.as_ref().map(|c| CaptureConfig {
                exe: c.exe.clone(),
                spool_dir: self.0.config.spool_dir(),
            }),
            trusted_folder: matches!(self.0.config.scope, discovery::Scope::System(_))
                .then(|| socket.parent().map(Path::to_path_buf))
                .flatten(),
            clients: self.0.taps.clients.clone(),
            run_as: match Owner::for_socket(
                &socket,
                discovery::named_owner(&self.0.config.scope, &socket),
            ) {
                Ok(o) => o,
                Err(e) => {
                    // Not knowing whose it is, a root daemon does not talk to it at all.
                    tracing::error!(socket = %socket.display(), "cannot tell whose server this is, not watched: {e}");
                    self.0
                        .slots
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&socket);
                    return;
                }
            },
        };
        loop {
            let recorder = self.0.recorder.as_ref().map(|r| r as &dyn Recorder);
            let sink = TeeSink {
                inner: &self.0.sink,
                roots: self.0.taps.roots.as_ref(),
                nudgers: &self.0.taps.nudgers,
                enforcer: &self.0.taps.enforcer,
            };
            watcher::run(&watch, prior, &sink, recorder, &self.0.shutdown);
            let mut slots = self.0.slots.lock().unwrap_or_else(|e| e.into_inner());
            let again = !self.0.shutdown.stopping() && slots.get(&socket).is_some_and(|s| s.rescan);
            if !again {
                slots.remove(&socket);
                return;
            }
            slots.insert(socket.clone(), Slot { rescan: false });
            prior = Prior::default();
        }
    }

    /// Waits for every watcher to return (after [`Shutdown::trigger`]).
    pub fn join_all(&self) {
        loop {
            let handles: Vec<_> =
                std::mem::take(&mut *self.0.threads.lock().unwrap_or_else(|e| e.into_inner()));
            if handles.is_empty() {
                return;
            }
            for h in handles {
                let _ = h.join();
            }
        }
    }
}
