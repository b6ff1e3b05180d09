//! tmux clients, from the kernel's process events (the commands thread, root): every exec of
//! tmux (or of a copy of it) that talks to a watched server is noted in the shared
//! [`ClientRuns`]; when it ends — or 200 ms after it started, for a client that stays — the
//! server's watcher is asked to read tmux's message log at once (at most every 100 ms per
//! server: a burst of clients costs a read per 100 ms, not one per client). A run no log
//! entry claimed soon after it ended — 300 ms once its server is gone, 800 ms while it lives —
//! is recorded from the kernel alone (`confirmed: false`): the server died first, refused the
//! client, or its watcher was too slow; either way within the second.

use crate::attributing::Nudgers;
use crate::writer::ChannelSink;
use audit_core::Timestamp;
use audit_proc::procfs;
use audit_proc::tmux_client::{self, Invocation, TmuxBinaries};
use audit_tmux::clients::{ClientRun, ClientRuns};
use audit_tmux::conn::Nudger;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a server's watcher is asked to read its log, at most.
pub const READ_EVERY: Duration = Duration::from_millis(100);

/// A client still running this long after its exec gets a read anyway (`tmux wait-for`,
/// `attach`: its command is logged when it starts).
const STAYING: Duration = Duration::from_millis(200);

/// How long after its end a run waits for the log before it is recorded from the kernel:
/// while its server lives (its watcher will read the log, if a busy machine lets it in time),
/// and once the server is gone (nobody can read that log any more).
const CONFIRM_US: i64 = 800_000;
const CONFIRM_GONE_US: i64 = 300_000;

/// Asks watchers to look, at most every `every` per server; an ask that comes sooner is owed
/// and made when the time is up.
pub struct Asking {
    every: Duration,
    act: fn(&Nudger),
    asked: HashMap<String, Instant>,
    owed: std::collections::HashSet<String>,
}

impl Asking {
    /// Asks by `act`, at most every `every` per server.
    pub fn new(every: Duration, act: fn(&Nudger)) -> Self {
        Asking {
            every,
            act,
            asked: HashMap::new(),
            owed: Default::default(),
        }
    }

    /// Asks `server`'s watcher now, or as soon as the interval allows.
    pub fn ask(&mut self, server: String, nudgers: &Nudgers) {
        if (self.asked.get(&server)).is_some_and(|t| t.elapsed() < self.every) {
            self.owed.insert(server);
            return;
        }
        if let Some(n) = nudgers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&server)
        {
            (self.act)(n);
        }
        self.owed.remove(&server);
        self.asked.insert(server, Instant::now());
    }

    /// Makes the owed asks whose time has come.
    pub fn owed(&mut self, nudgers: &Nudgers) {
        let due: Vec<String> = (self.owed.iter())
            .filter(|s| self.asked.get(*s).is_none_or(|t| t.elapsed() >= self.every))
            .cloned()
            .collect();
        for server in due {
            self.ask(server, nudgers);
        }
    }

    /// Whether an ask is owed.
    pub fn owes(&self) -> bool {
        !self.owed.is_empty()
    }
}

/// The tmux clients the commands thread follows.
pub struct TmuxClients {
    proc: PathBuf,
    runs: Arc<ClientRuns>,
    binaries: TmuxBinaries,
    /// The configured `tmux` program.
    tmux: PathBuf,
    /// `ClientRuns::servers`' generation the binaries were last refreshed at.
    generation: Option<u64>,
    /// Watched servers: socket as watched, the same socket with its folder resolved, pid.
    servers: Vec<(String, PathBuf, Option<u32>)>,
    /// Running clients: pid → server, and when a staying client gets its read.
    live: HashMap<u32, (String, Option<Instant>)>,
    asking: Asking,
    own: u32,
}

impl TmuxClients {
    /// Follows the clients of the servers `runs` lists; `tmux` is the configured program.
    pub fn new(runs: Arc<ClientRuns>, tmux: PathBuf) -> Self {
        TmuxClients {
            proc: PathBuf::from("/proc"),
            runs,
            binaries: TmuxBinaries::default(),
            tmux,
            generation: None,
            servers: Vec::new(),
            live: HashMap::new(),
            asking: Asking::new(READ_EVERY, Nudger::clients),
            own: std::process::id(),
        }
    }

    fn refresh(&mut self) {
        if self.generation == Some(self.runs.generation()) {
            return; // every exec of the machine passes here: one lock, no copy
        }
        let (generation, servers) = self.runs.servers();
        self.generation = Some(generation);
        if let Some(path) = find_program(&self.tmux) {
            self.binaries.add(&path);
        }
        for (_, pid) in &servers {
            if let Some(pid) = pid {
                self.binaries
                    .add(&self.proc.join(pid.to_string()).join("exe"));
            }
        }
        self.servers = (servers.into_iter())
            .map(|(s, pid)| {
                let resolved = resolve(Path::new(&s));
                (s, resolved, pid)
            })
            .collect();
    }

    /// Process `pid` exec'd at `now` (µs).
    pub fn exec(&mut self, pid: u32, now: i64, nudgers: &Nudgers) {
        if self.live.contains_key(&pid) {
            // A client that replaced itself with another program has ended as a client.
            self.exit(pid, now, nudgers);
        }
        self.refresh();
        if self.servers.is_empty() || !self.binaries.runs_tmux(&self.proc, pid) {
            return;
        }
        let info = procfs::read(&self.proc, pid);
        let (Some(argv), Some(uid)) = (info.argv, info.uid) else {
            return;
        };
        if info.ppid == Some(self.own) {
            return; // the daemon's own tmux clients
        }
        let inv = Invocation::parse(&argv);
        if !inv.connects {
            return;
        }
        let environ = std::fs::read(self.proc.join(pid.to_string()).join("environ"));
        let environ = environ.unwrap_or_default();
        let cwd = info.cwd.as_deref().map(|c| {
            use std::os::unix::ffi::OsStrExt;
            PathBuf::from(std::ffi::OsStr::from_bytes(c))
        });
        let socket = inv.socket(
            cwd.as_deref(),
            uid,
            tmux_client::env_var(&environ, b"TMUX"),
            tmux_client::env_var(&environ, b"TMUX_TMPDIR"),
        );
        let Some(server) = socket.and_then(|s| self.watched(&s)) else {
            return; // a server nobody here watches
        };
        tracing::debug!(pid, server, "a tmux client started");
        self.runs.started(ClientRun {
            server: server.clone(),
            pid,
            uid,
            name: tmux_client::client_name(&self.proc, pid),
            argv,
            cwd: info.cwd,
            command_at: inv.command_at,
            commands: inv.commands,
            started: Timestamp(now),
            ended: None,
        });
        self.live
            .insert(pid, (server, Some(Instant::now() + STAYING)));
    }

    /// Process `pid` ended at `now` (µs).
    pub fn exit(&mut self, pid: u32, now: i64, nudgers: &Nudgers) {
        if self.live.remove(&pid).is_none() {
            return;
        }
        if let Some(server) = self.runs.ended(pid, Timestamp(now)) {
            self.asking.ask(server, nudgers);
        }
    }

    /// The periodic part: owed and staying clients' reads, and runs the log never showed,
    /// recorded from the kernel.
    pub fn tick(&mut self, host: &str, nudgers: &Nudgers, sink: &ChannelSink) {
        self.asking.owed(nudgers);
        let now = Instant::now();
        let staying: Vec<String> = (self.live.values_mut())
            .filter(|(_, due)| due.is_some_and(|d| d <= now))
            .map(|(server, due)| {
                *due = None;
                server.clone()
            })
            .collect();
        for server in staying {
            self.asking.ask(server, nudgers);
        }
        if !self.runs.waiting() {
            return;
        }
        let gone: Vec<&str> = (self.servers.iter())
            .filter(|(_, _, pid)| pid.is_none_or(|p| !procfs::alive(&self.proc, p)))
            .map(|(s, _, _)| s.as_str())
            .collect();
        let after = |server: &str| {
            if gone.contains(&server) {
                CONFIRM_GONE_US
            } else {
                CONFIRM_US
            }
        };
        let unconfirmed: Vec<_> = (self.runs.unclaimed(Timestamp::now(), after).iter())
            .map(|r| r.unconfirmed_event(host))
            .collect();
        if !unconfirmed.is_empty() {
            sink.send_now(unconfirmed);
        }
    }

    /// Whether something is due soon (the thread then waits 50 ms at most, not 200).
    pub fn busy(&self) -> bool {
        self.asking.owes()
            || self.live.values().any(|(_, due)| due.is_some())
            || self.runs.waiting()
    }

    fn watched(&self, socket: &Path) -> Option<String> {
        let resolved = resolve(socket);
        (self.servers.iter())
            .find(|(s, r, _)| *r == resolved || Path::new(s) == socket)
            .map(|(s, _, _)| s.clone())
    }
}

/// A socket path with its folder's links and `..` resolved (the socket itself may be gone).
fn resolve(socket: &Path) -> PathBuf {
    match (socket.parent(), socket.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or_else(|_| socket.to_path_buf()),
        _ => socket.to_path_buf(),
    }
}

/// `program` as exec would find it: a path, or a name looked up in `$PATH`.
pub(crate) fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return Some(program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
