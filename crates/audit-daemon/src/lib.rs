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
use audit_core::{Event, Kind, Observed, Timestamp};
use audit_state::{LockError, StateDir};
use audit_store::{Access, EventStore, Location, Range, StoreError};
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
    let scope_name = config.scope.display();
    let now = Timestamp::now();

    let mut opening = Vec::new();
    if let Some(previous) = previous.filter(|p| p.head.kind != Kind::AuditStopped) {
        let mut gap = Event::new(now, Kind::AuditGap, &config.host, &scope_name);
        gap.from = Some(previous.latest);
        gap.until = Some(now);
        gap.reason = Some("unclean-stop".into());
        gap.message = Some(format!(
            "the previous daemon stopped without recording audit-stopped (killed, crashed or power lost); nothing was observed between its last event ({}) and this start",
            previous.latest
        ));
        opening.push(gap);
    }
    let mut started = Event::new(now, Kind::AuditStarted, &config.host, &scope_name);
    started.pid = Some(i64::from(std::process::id()));
    started.version = Some(env!("CARGO_PKG_VERSION").to_owned());

    let sealer = sealer::Sealer::load(&state, &config.host, &scope_name)?;
    let seal_every = sealer.as_ref().map(sealer::Sealer::interval);
    // Who did each act is stamped on its way to the store; watchers are asked for looks.
    let nudgers: Arc<attributing::Nudgers> = Arc::default();
    let stage = attributing::Attributing::new(
        audit_core::attribution::Attributor::with_world(world.clone()),
        Arc::clone(&nudgers),
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
    let forwarder = if config.sinks.is_empty() {
        None
    } else {
        let sink = writer.sink();
        let report: audit_forward::Report = Arc::new(move |e: Event| sink.send_now(vec![e]));
        let f = audit_forward::Forwarder::start(
            config.db.clone(),
            config.host.clone(),
            config.sinks.clone(),
            report,
        )?;
        let _ = forward_wake.set(f.waker());
        Some(f)
    };
    // Who is attached where matters to the enforcer only when there is a policy to enforce.
    let enforcer = Arc::new(enforce::Enforcer::new(
        config.policy.as_ref().map(|(_, p)| p.clone()),
        if config.policy.is_some() {
            world.clone()
        } else {
            World::default()
        },
    ));
    let policy_event = config
        .policy
        .as_ref()
        .map(|(path, policy)| enforce::loaded(&config, &scope_name, path, policy, now));
    if let Some(every) = seal_every {
        let sink = writer.sink();
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
    // Commands: from the kernel, when it lets us listen; the log says when it does not.
    let commands = if config.commands {
        match commands::CommandSource::start(
            &config.host,
            writer.sink(),
            known_roots(&world),
            config.commands_by_scan,
            Arc::clone(&nudgers),
            config.tmux.clone(),
        ) {
            Ok((source, note)) => {
                started.message = note;
                Some(source)
            }
            Err(e) => {
                tracing::warn!("{e}: commands run in panes are not recorded");
                started.message = Some(format!("commands run in panes are not recorded: {e}"));
                None
            }
        }
    } else {
        None
    };
    opening.push(started);
    opening.extend(policy_event);
    writer.sink().send_now(opening);

    let shutdown = Arc::new(Shutdown::default());
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])
    .map_err(DaemonError::Signals)?;
    let signal_handle = signals.handle();
    {
        let shutdown = Arc::clone(&shutdown);
        let enforcer = Arc::clone(&enforcer);
        let nudgers = Arc::clone(&nudgers);
        let sink = writer.sink();
        let config = config.clone();
        let scope_name = scope_name.clone();
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
    }

    let ingester = config.capture.as_ref().map(|capture| {
        ingest::Ingester::start(
            ingest::IngestConfig {
                host: config.host.clone(),
                spool_dir: config.spool_dir(),
                flush_after: capture.flush_after,
                known_panes: known_panes(&world),
            },
            writer.sink(),
            writer.healthy(),
        )
    });
    // tmux clients: from the kernel's process events with the commands thread; else woken by
    // the tmux binary's opens and closes (inotify).
    let client_runs = match commands.as_ref().and_then(|c| c.client_runs()) {
        Some(runs) => runs,
        None => {
            let runs = Arc::new(audit_tmux::clients::ClientRuns::default());
            binary_watch::start(Arc::clone(&runs), config.tmux.clone(), Arc::clone(&nudgers));
            runs
        }
    };
    let registry = registry::Registry::new(
        config.clone(),
        world,
        writer.sink(),
        ingester.as_ref().map(|i| i.handle()),
        registry::Taps {
            roots: commands.as_ref().map(|c| c.roots().clone()),
            clients: Some(client_runs),
            nudgers,
            enforcer: Arc::clone(&enforcer),
        },
        Arc::clone(&shutdown),
    );
    // Views ask here to have their access recorded and pending output committed first.
    let control = {
        let sink = writer.sink();
        let flusher = ingester.as_ref().map(|i| i.handle());
        let record: control::Record = Arc::new(move |event, on_commit| match &flusher {
            Some(f) => f.flush(event, on_commit),
            None => sink.send_then(event, on_commit),
        });
        control::Control::start(&state, &config.host, record)
    };
    // Servers the log believes running but whose socket is gone are reported gone.
    registry.start_known();
    {
        let registry = registry.clone();
        let scope = config.scope.clone();
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
    }
    tracing::info!(db = %config.db, scope = %scope_name, "recording");

    let _ = stop_rx.recv();
    signal_handle.close();
    if let Some(control) = &control {
        control.stop();
    }
    // Watchers take a last look and return; any still busy after a while are cut off.
    let (joined_tx, joined_rx) = std::sync::mpsc::channel();
    {
        let registry = registry.clone();
        std::thread::spawn(move || {
            registry.join_all();
            let _ = joined_tx.send(());
        });
    }
    if joined_rx.recv_timeout(STOP_GRACE).is_err() {
        tracing::warn!("watchers still busy after {STOP_GRACE:?}: ending their control clients");
        shutdown.kill_remaining();
        let _ = joined_rx.recv();
    }
    if let Some(ingester) = ingester {
        // Output the copiers wrote before their pipes closed is committed before the stop.
        ingester.finish();
    }
    if let Some(commands) = commands {
        commands.finish();
    }
    let mut stopped = Event::new(
        Timestamp::now(),
        Kind::AuditStopped,
        &config.host,
        &scope_name,
    );
    stopped.pid = Some(i64::from(std::process::id()));
    stopped.reason = Some("signal".into());
    writer.sink().send_now(vec![stopped]);
    writer.finish()?;
    if let Some(f) = forwarder {
        // What was committed goes out before the daemon ends (bounded when a sink is down).
        f.stop();
    }
    Ok(())
}

/// Folds the whole log: the state it describes, and its last event that is not a seal.
fn replay(store: &dyn EventStore) -> Result<(World, Option<Previous>), StoreError> {
    let mut world = World::default();
    let mut last: Option<Previous> = None;
    store.scan(Range::default(), &mut |s| {
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
