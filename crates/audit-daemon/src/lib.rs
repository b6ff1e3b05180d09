//! The recording daemon: wires sources to the store.
//!
//! ```text
//! discovery ──socket──▶ watcher (one thread per tmux server) ──Vec<Event>──▶ bounded channel
//!                                                                              │ (senders wait
//!                                                                              ▼  when full)
//!                                                     writer thread: group commit into the store
//! ```
//!
//! On start it folds the stored log into the last known state, records `audit-gap` if the
//! previous daemon died without `audit-stopped`, then `audit-started`, then what each server
//! holds now (`observed: "at-start"`). SIGTERM or SIGINT give each watcher a last look
//! (ending any control client still busy after 3 s), drain the channel and record
//! `audit-stopped`; SIGHUP puts the policy file in force again (or, if it is now broken, keeps
//! the one in force and says why). Committed events go on to the configured sinks
//! (`audit-forward`), each from its own cursor.
#![deny(missing_docs)]

mod attributing;
mod binary_watch;
mod clients;
mod commands;
mod control;
mod enforce;
mod ingest;
mod registry;
mod sealer;
mod writer;

use audit_core::fold::World;
use audit_core::{Event, Kind, Observed, Reason, Timestamp};
use audit_state::{LockError, StateDir};
use audit_store::{Access, EventStore, Filter, Location, StoreError};
use audit_tmux::capture::PaneMeta;
use audit_tmux::discovery::{self, Scope};
use audit_tmux::Shutdown;
use std::path::PathBuf;
use std::sync::Arc;
use thiserror::Error;

pub use sealer::SealerError;

/// What to record and where.
#[derive(Clone, Debug)]
pub struct Config {
    /// The store.
    pub db: Location,
    /// Which servers.
    pub scope: Scope,
    /// The `tmux` program used to talk to servers.
    pub tmux: PathBuf,
    /// This host's name.
    pub host: String,
    /// Record pane output too; `None` records access only.
    pub capture: Option<Capture>,
    /// Record every program run in a pane: from the kernel (root or CAP_NET_ADMIN), else by
    /// scanning `/proc`.
    pub commands: bool,
    /// Scan `/proc` for commands even when the kernel's events could be had.
    pub commands_by_scan: bool,
    /// The policy to enforce, read (and checked) before the daemon starts, and its file, read
    /// again on SIGHUP.
    pub policy: Option<(PathBuf, audit_policy::Policy)>,
    /// Where events are forwarded.
    pub sinks: Vec<audit_forward::SinkSpec>,
}

/// How pane output is recorded.
#[derive(Clone, Debug)]
pub struct Capture {
    /// The `tmux-audit` program tmux runs for each pane's pipe.
    pub exe: PathBuf,
    /// Longest time output waits in a spool before it is committed.
    pub flush_after: std::time::Duration,
}

impl Config {
    /// Where this daemon's own state lives (lock, spools, sealing state, control socket).
    pub fn state(&self) -> StateDir {
        StateDir::of(&self.db)
    }

    /// Where spools go: in the state, owner-only.
    pub fn spool_dir(&self) -> PathBuf {
        self.state().spool_dir().to_path_buf()
    }
}

/// Why the daemon could not run.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another daemon records into the same store.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// Watching for servers failed.
    #[error("cannot watch {what} for tmux servers: {error}")]
    Watch {
        /// The socket or folder.
        what: String,
        /// Why.
        error: std::io::Error,
    },
    /// The sealing state is unusable.
    #[error(transparent)]
    Seal(#[from] SealerError),
    /// Signals could not be set up.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// A sink could not be started.
    #[error(transparent)]
    Forward(#[from] audit_forward::ForwardError),
}

/// How long watchers get for their last look when the daemon stops.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Records until SIGTERM or SIGINT (SIGHUP reads the policy file again). Returns after
/// `audit-stopped` is committed.
pub fn run(config: Config) -> Result<(), DaemonError> {
    let store = audit_store::open(&config.db, Access::Create)?;
    let state = config.state();
    let _lock = audit_state::Lock::take(&state)?;
    let (world, previous) = replay(store.as_ref())?;
    let (running, stop) = start(&config, &state, store, world, previous)?;
    let _ = stop.recv();
    running.stop(&config)
}

/// Starts everything that records, in order: the writer (and sinks), commands, the opening
/// events, signals, output, the watchers, the control socket, discovery. Returns what runs and
/// where SIGTERM or SIGINT will be reported.
fn start(
    config: &Config,
    state: &StateDir,
    store: Box<dyn EventStore>,
    world: World,
    previous: Option<Previous>,
) -> Result<(Running, std::sync::mpsc::Receiver<()>), DaemonError> {
    let scope_name = config.scope.display();
    let now = Timestamp::now();
    let sealer = sealer::Sealer::load(state, &config.host, &scope_name)?;
    let seal_every = sealer.as_ref().map(sealer::Sealer::interval);
    // Who did each act is stamped on its way to the store; watchers are asked for looks.
    let nudgers: Arc<attributing::Nudgers> = Arc::default();
    let (writer, forwarder) = start_writer(config, store, sealer, &world, &nudgers)?;
    let enforcer = Arc::new(start_enforcer(config, &world));
    if let Some(every) = seal_every {
        start_seal_timer(writer.sink(), every);
    }
    let (commands, commands_note) = start_commands(config, &writer, &world, &nudgers);
    let opening = opening(config, &scope_name, previous, now, commands_note);
    writer.sink().send_now(opening);

    let shutdown = Arc::new(Shutdown::default());
    let signals = watch_signals(config, &scope_name, &shutdown, &enforcer, &nudgers, &writer)?;
    let ingester = start_ingester(config, &world, &writer);
    let taps = registry::Taps {
        roots: commands.as_ref().map(|c| c.roots().clone()),
        clients: Some(client_runs(config, commands.as_ref(), &nudgers)),
        nudgers,
        enforcer,
    };
    let registry = registry::Registry::new(
        config.clone(),
        world,
        writer.sink(),
        ingester.as_ref().map(|i| i.handle()),
        taps,
        Arc::clone(&shutdown),
    );
    let control = start_control(state, config, &writer, ingester.as_ref());
    // Servers the log believes running but whose socket is gone are reported gone.
    registry.start_known();
    start_discovery(&config.scope, &registry, &shutdown)?;
    tracing::info!(db = %config.db, scope = %scope_name, "recording");
    let running = Running {
        scope_name,
        signals: signals.handle,
        control,
        registry,
        shutdown,
        ingester,
        commands,
        writer,
        forwarder,
    };
    Ok((running, signals.stop))
}

/// What the daemon records first, at `now`: a gap after a `previous` daemon that did not stop
/// cleanly, `audit-started` (saying how commands are recorded), and the policy in force.
fn opening(
    config: &Config,
    scope_name: &str,
    previous: Option<Previous>,
    now: Timestamp,
    commands_note: Option<String>,
) -> Vec<Event> {
    let mut events = Vec::new();
    if let Some(previous) = previous.filter(|p| p.head.kind != Kind::AuditStopped) {
        let mut gap = Event::new(now, Kind::AuditGap, &config.host, scope_name);
        gap.from = Some(previous.latest);
        gap.until = Some(now);
        gap.reason = Some(Reason::UncleanStop);
        gap.message = Some(format!(
            "the previous daemon stopped without recording audit-stopped (killed, crashed or power lost); nothing was observed between its last event ({}) and this start",
            previous.latest
        ));
        events.push(gap);
    }
    let mut started = Event::new(now, Kind::AuditStarted, &config.host, scope_name);
    started.pid = Some(i64::from(std::process::id()));
    started.version = Some(env!("CARGO_PKG_VERSION").to_owned());
    started.message = commands_note;
    events.push(started);
    events.extend(
        config
            .policy
            .as_ref()
            .map(|(path, policy)| enforce::loaded(config, scope_name, path, policy, now)),
    );
    events
}

/// Starts the writer (which owns the store, the sealer and the attribution stage) and, when
/// there are sinks, the forwarder it wakes after each commit.
fn start_writer(
    config: &Config,
    store: Box<dyn EventStore>,
    sealer: Option<sealer::Sealer>,
    world: &World,
    nudgers: &Arc<attributing::Nudgers>,
) -> Result<(writer::Writer, Option<audit_forward::Forwarder>), DaemonError> {
    let stage = attributing::Attributing::new(
        audit_core::attribution::Attributor::with_world(world.clone()),
        Arc::clone(nudgers),
    );
    // The forwarder wakes on each commit; it starts once the writer can record its reports.
    let forward_wake: Arc<std::sync::OnceLock<audit_forward::Waker>> = Arc::default();
    let committed: writer::Committed = {
        let wake = Arc::clone(&forward_wake);
        Box::new(move || {
            if let Some(w) = wake.get() {
                w.wake();
            }
        })
    };
    let writer = writer::Writer::start(store, sealer, stage, committed);
    if config.sinks.is_empty() {
        return Ok((writer, None));
    }
    let sink = writer.sink();
    let report: audit_forward::Report = Arc::new(move |e: Event| sink.send_now(vec![e]));
    let forwarder = audit_forward::Forwarder::start(
        config.db.clone(),
        config.host.clone(),
        config.sinks.clone(),
        report,
    )?;
    let _ = forward_wake.set(forwarder.waker());
    Ok((writer, Some(forwarder)))
}

/// The policy in force, and who is attached where — which matters to the enforcer only when
/// there is a policy to enforce.
fn start_enforcer(config: &Config, world: &World) -> enforce::Enforcer {
    enforce::Enforcer::new(
        config.policy.as_ref().map(|(_, p)| p.clone()),
        if config.policy.is_some() {
            world.clone()
        } else {
            World::default()
        },
    )
}

/// Asks the writer for a seal every `every`, for as long as it runs.
fn start_seal_timer(sink: writer::ChannelSink, every: std::time::Duration) {
    std::thread::Builder::new()
        .name("seal-timer".into())
        .spawn(move || {
            while sink.request_seal() {
                std::thread::sleep(every);
            }
        })
        .expect("spawn seal timer");
    tracing::info!("sealing the chain every {every:?}");
}

/// Commands: from the kernel, when it lets us listen. Returns the source, if any, and what
/// `audit-started` says about it (the log says when commands are not recorded).
fn start_commands(
    config: &Config,
    writer: &writer::Writer,
    world: &World,
    nudgers: &Arc<attributing::Nudgers>,
) -> (Option<commands::CommandSource>, Option<String>) {
    if !config.commands {
        return (None, None);
    }
    match commands::CommandSource::start(
        &config.host,
        writer.sink(),
        known_roots(world),
        config.commands_by_scan,
        Arc::clone(nudgers),
        config.tmux.clone(),
    ) {
        Ok((source, note)) => (Some(source), note),
        Err(e) => {
            tracing::warn!("{e}: commands run in panes are not recorded");
            let note = format!("commands run in panes are not recorded: {e}");
            (None, Some(note))
        }
    }
}

/// The signal thread's ends: `stop` receives once SIGTERM or SIGINT came; `handle` closes it.
struct Signals {
    stop: std::sync::mpsc::Receiver<()>,
    handle: signal_hook::iterator::Handle,
}

/// Listens for signals: SIGHUP puts the policy file in force again (everyone attached is
/// judged by it), SIGTERM and SIGINT tell every watcher to stop and `stop` to return.
fn watch_signals(
    config: &Config,
    scope_name: &str,
    shutdown: &Arc<Shutdown>,
    enforcer: &Arc<enforce::Enforcer>,
    nudgers: &Arc<attributing::Nudgers>,
    writer: &writer::Writer,
) -> Result<Signals, DaemonError> {
    let (stop_tx, stop) = std::sync::mpsc::channel::<()>();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])
    .map_err(DaemonError::Signals)?;
    let handle = signals.handle();
    let shutdown = Arc::clone(shutdown);
    let enforcer = Arc::clone(enforcer);
    let nudgers = Arc::clone(nudgers);
    let sink = writer.sink();
    let config = config.clone();
    let scope_name = scope_name.to_owned();
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if sig == signal_hook::consts::SIGHUP {
                let loaded = enforce::reload(&config, &scope_name, &enforcer);
                let replaced = loaded.reason.is_none();
                let mut events = vec![loaded];
                if replaced {
                    // Everyone attached now is judged by the policy now in force.
                    events.extend(enforcer.recheck_all(&config.host, &nudgers));
                }
                sink.send_now(events);
                continue;
            }
            tracing::info!("signal {sig}: stopping");
            shutdown.trigger();
            let _ = stop_tx.send(());
            return;
        }
    });
    Ok(Signals { stop, handle })
}

/// Starts reading the panes' spools, when output is recorded.
fn start_ingester(
    config: &Config,
    world: &World,
    writer: &writer::Writer,
) -> Option<ingest::Ingester> {
    let capture = config.capture.as_ref()?;
    Some(ingest::Ingester::start(
        ingest::IngestConfig {
            host: config.host.clone(),
            spool_dir: config.spool_dir(),
            flush_after: capture.flush_after,
            known_panes: known_panes(world),
        },
        writer.sink(),
        writer.healthy(),
    ))
}

/// tmux clients: from the kernel's process events with the commands thread; else woken by
/// the tmux binary's opens and closes (inotify).
fn client_runs(
    config: &Config,
    commands: Option<&commands::CommandSource>,
    nudgers: &Arc<attributing::Nudgers>,
) -> Arc<audit_tmux::clients::ClientRuns> {
    if let Some(runs) = commands.and_then(|c| c.client_runs()) {
        return runs;
    }
    let runs = Arc::new(audit_tmux::clients::ClientRuns::default());
    binary_watch::start(Arc::clone(&runs), config.tmux.clone(), Arc::clone(nudgers));
    runs
}

/// The control socket, where views ask to have their access recorded and pending output
/// committed first.
fn start_control(
    state: &StateDir,
    config: &Config,
    writer: &writer::Writer,
    ingester: Option<&ingest::Ingester>,
) -> Option<control::Control> {
    let sink = writer.sink();
    let flusher = ingester.map(|i| i.handle());
    let record: control::Record = Arc::new(move |event, on_commit| match &flusher {
        Some(f) => f.flush(event, on_commit),
        None => sink.send_then(event, on_commit),
    });
    control::Control::start(state, &config.host, record)
}

/// Starts looking for servers in `scope`, each found one handed to `registry`; fails when the
/// scope cannot be watched (ending what watchers already started).
fn start_discovery(
    scope: &Scope,
    registry: &registry::Registry,
    shutdown: &Shutdown,
) -> Result<(), DaemonError> {
    let registry = registry.clone();
    let scope = scope.clone();
    let what = scope.display();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("discovery".into())
        .spawn(move || {
            let result = discovery::run(&scope, |socket, initial| {
                registry.found(socket, initial);
            });
            let _ = ready_tx.send(result);
        })
        .map_err(|error| DaemonError::Watch {
            what: what.clone(),
            error,
        })?;
    // discovery::run only returns on failure; give it a moment to fail on a bad path.
    if let Ok(Err(error)) = ready_rx.recv_timeout(std::time::Duration::from_millis(200)) {
        shutdown.trigger();
        shutdown.kill_remaining();
        return Err(DaemonError::Watch { what, error });
    }
    Ok(())
}

/// What runs while the daemon records, stopped in order by [`Running::stop`].
struct Running {
    /// What the daemon's events name as their server.
    scope_name: String,
    signals: signal_hook::iterator::Handle,
    control: Option<control::Control>,
    registry: registry::Registry,
    shutdown: Arc<Shutdown>,
    ingester: Option<ingest::Ingester>,
    commands: Option<commands::CommandSource>,
    writer: writer::Writer,
    forwarder: Option<audit_forward::Forwarder>,
}

impl Running {
    /// Stops taking requests, lets the watchers take their last look, commits what the
    /// sources still hold, then `audit-stopped`, and lets the sinks deliver it.
    fn stop(self, config: &Config) -> Result<(), DaemonError> {
        self.signals.close();
        if let Some(control) = &self.control {
            control.stop();
        }
        join_watchers(&self.registry, &self.shutdown);
        if let Some(ingester) = self.ingester {
            // Output the copiers wrote before their pipes closed is committed before the stop.
            ingester.finish();
        }
        if let Some(commands) = self.commands {
            commands.finish();
        }
        let mut stopped = Event::new(
            Timestamp::now(),
            Kind::AuditStopped,
            &config.host,
            &self.scope_name,
        );
        stopped.pid = Some(i64::from(std::process::id()));
        stopped.reason = Some(Reason::Signal);
        self.writer.sink().send_now(vec![stopped]);
        self.writer.finish()?;
        if let Some(f) = self.forwarder {
            // What was committed goes out before the daemon ends (bounded when a sink is down).
            f.stop();
        }
        Ok(())
    }
}

/// Watchers take a last look and return; any still busy after [`STOP_GRACE`] are cut off.
fn join_watchers(registry: &registry::Registry, shutdown: &Shutdown) {
    let (joined_tx, joined_rx) = std::sync::mpsc::channel();
    let registry = registry.clone();
    std::thread::spawn(move || {
        registry.join_all();
        let _ = joined_tx.send(());
    });
    if joined_rx.recv_timeout(STOP_GRACE).is_err() {
        tracing::warn!("watchers still busy after {STOP_GRACE:?}: ending their control clients");
        shutdown.kill_remaining();
        let _ = joined_rx.recv();
    }
}

/// Folds the whole log: the state it describes, and its last event that is not a seal.
fn replay(store: &dyn EventStore) -> Result<(World, Option<Previous>), StoreError> {
    let mut world = World::default();
    let mut last: Option<Previous> = None;
    store.events(&Filter::all(), &mut |s| {
        world.apply(&s.event);
        // A seal is made after `audit-stopped` on a clean stop, and a view may record its
        // `audit-access` after it: the last event is what precedes them.
        if !matches!(s.event.kind, Kind::Seal | Kind::AuditAccess) {
            let latest = match &last {
                Some(p) if s.event.kind != Kind::AuditStarted => p.latest.max(s.event.time),
                _ => s.event.time,
            };
            last = Some(Previous {
                head: s.event,
                latest,
            });
        }
        true
    })?;
    Ok((world, last))
}

/// What the previous daemon left: its last event, and the latest time among its events — an
/// event timed from the kernel (a client's exec) is stored after events observed later, so
/// the last stored is not always the last observed.
struct Previous {
    head: Event,
    latest: Timestamp,
}

/// The servers the log believes running, and their panes with their first process: whose
/// commands to follow.
fn known_roots(world: &World) -> Vec<commands::Follow> {
    let servers = world.servers.iter().filter_map(|(server, s)| {
        Some(commands::Follow::Server {
            server: server.clone(),
            pid: u32::try_from(s.pid?).ok()?,
        })
    });
    let panes = world
        .panes
        .iter()
        .filter_map(|((server, pane_id), p)| {
            let session = world.sessions.get(&(server.clone(), p.session_id.clone()));
            let window = world.windows.get(&(server.clone(), p.window_id.clone()));
            Some(commands::Root {
                server: server.clone(),
                pane_id: pane_id.clone(),
                pid: u32::try_from(p.pid?).ok()?,
                session: session.map(|s| s.name.clone()),
                session_id: Some(p.session_id.clone()),
                window: window.map(|w| w.name.clone()),
                window_id: Some(p.window_id.clone()),
            })
        })
        .map(commands::Follow::Pane);
    servers.chain(panes).collect()
}

/// Names of the panes the log believes open, for spools a killed daemon left behind.
fn known_panes(world: &World) -> std::collections::BTreeMap<(String, String), PaneMeta> {
    world
        .panes
        .iter()
        .map(|((server, pane_id), p)| {
            let session = world.sessions.get(&(server.clone(), p.session_id.clone()));
            let window = world.windows.get(&(server.clone(), p.window_id.clone()));
            let meta = PaneMeta {
                session: session.map(|s| s.name.clone()),
                session_id: Some(p.session_id.clone()),
                window: window.map(|w| w.name.clone()),
                window_id: Some(p.window_id.clone()),
                window_index: None,
                pane_index: None,
            };
            ((server.clone(), pane_id.clone()), meta)
        })
        .collect()
}

/// `observed` for a server found by discovery.
fn observed_for(initial: bool) -> Observed {
    if initial {
        Observed::AtStart
    } else {
        Observed::Live
    }
}
