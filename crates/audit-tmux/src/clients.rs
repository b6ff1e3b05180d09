//! tmux clients the kernel saw run, waiting to be matched with tmux's message log.
//!
//! A command-only client (`tmux capture-pane -p -t prod`) produces no notification: tmux only
//! logs its command. The daemon's kernel source (root: the process-events connector) sees the
//! client's exec and exit, notes the run here ([`ClientRuns::started`], [`ClientRuns::ended`])
//! and asks the server's watcher to read the log ([`crate::conn::Nudger::clients`]). The
//! watcher matches each new log entry with the run that logged it ([`ClientRuns::claim`]: same
//! server, same client name — its tty, else `client-PID`) and times the `tmux-command` from
//! the kernel's exec (`timing: exec`). A run nobody claimed half a second after it ended (the
//! server died before its log could be read, or the log never had it: a refused client) is
//! recorded from the kernel alone ([`ClientRuns::unclaimed`], `confirmed: false`), once: an
//! entry met later for a run already recorded so is not recorded again.

use crate::messages::Entry;
use audit_core::{Bytes, Event, Kind, Observed, Timestamp};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// One run of a tmux client, as the kernel saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRun {
    /// The server it talked to (a watched socket, as its watcher names it).
    pub server: String,
    /// Its pid (kernel).
    pub pid: u32,
    /// Its real uid (kernel).
    pub uid: u32,
    /// The name tmux gives it: its terminal, else `client-PID`.
    pub name: String,
    /// Its arguments, exactly.
    pub argv: Vec<Vec<u8>>,
    /// Its working directory.
    pub cwd: Option<Vec<u8>>,
    /// Where its tmux command starts in `argv`.
    pub command_at: Option<usize>,
    /// How many commands it runs (tmux logs each).
    pub commands: usize,
    /// Its exec.
    pub started: Timestamp,
    /// Its exit, once it ended.
    pub ended: Option<Timestamp>,
}

impl ClientRun {
    /// The command words, as text (tmux's default `new-session` when there are none).
    pub fn command_text(&self) -> String {
        match self.command_at {
            Some(i) => (self.argv[i..].iter())
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect::<Vec<_>>()
                .join(" "),
            None => "new-session".into(),
        }
    }

    /// The `tmux-command` for a run tmux's log could not confirm.
    pub fn unconfirmed_event(&self, host: &str) -> Event {
        let mut e = Event::new(self.started, Kind::TmuxCommand, host, &self.server)
            .observed(Observed::Live);
        let command = self.command_text();
        e.client = Some(self.name.clone());
        e.pid = Some(i64::from(self.pid));
        e.uid = Some(i64::from(self.uid));
        e.user = crate::users::name_of(self.uid);
        e.argv = Some(self.argv.iter().cloned().map(Bytes).collect());
        e.cwd = self.cwd.clone().map(Bytes);
        // Every command it ran counts: `capture-pane ; kill-server` is an alert.
        e.severity = (command.split(';')).find_map(|c| crate::watcher::severity(c.trim()));
        e.command = Some(command);
        self.time(&mut e);
        e.confirmed = Some(false);
        let attaching = ["attach-session", "attach", "a", "new-session", "new"]
            .iter()
            .any(|c| {
                e.command
                    .as_deref()
                    .is_some_and(|t| t.split(' ').next() == Some(c))
            });
        let who = if attaching {
            "a tmux client"
        } else {
            "a command-only client"
        };
        e.message = Some(format!(
            "run by {who}, seen only by the kernel: its command was not in tmux's message log while the daemon could read it (the server went first, refused the client, or the daemon was too slow); `command` is its arguments"
        ));
        e
    }

    /// Times `e` from the kernel: `time` the exec, `from`/`until` the run.
    pub fn time(&self, e: &mut Event) {
        e.time = self.started;
        e.from = Some(self.started);
        e.until = self.ended;
        e.timing = Some("exec".into());
    }
}

/// How a log entry was matched with what the kernel saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The run that logged it.
    Run(ClientRun),
    /// Its run was recorded from the kernel already: not to be recorded again.
    Recorded,
    /// No run known (a key binding, an attached client's prompt, a client the kernel did not
    /// report).
    None,
}

struct Slot {
    run: ClientRun,
    /// Log entries matched with it.
    matched: usize,
    /// Recorded from the kernel alone.
    settled: bool,
}

#[derive(Default)]
struct Inner {
    slots: Vec<Slot>,
    /// Opens (`true`) and closes of the tmux binary that inotify reported (unprivileged: no
    /// pid, no user, any server's client), oldest first.
    binary: std::collections::VecDeque<(bool, Timestamp)>,
    /// Called with each new server's pid (to watch its binary).
    on_server: Option<Box<dyn Fn(u32) + Send>>,
    /// Watched servers and their pids, as their watchers connected.
    servers: BTreeMap<String, Option<u32>>,
    /// Bumped when `servers` changes.
    generation: u64,
}

/// The runs, shared by the kernel source and the watchers.
#[derive(Default)]
pub struct ClientRuns(Mutex<Inner>);

impl std::fmt::Debug for ClientRuns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientRuns")
    }
}

/// Opens and closes of the tmux binary kept.
const BINARY_KEPT: usize = 256;

/// Runs kept at most; the oldest that ended go first.
const KEPT: usize = 4096;

/// How long after its start or end a run can still be the one a log entry came from: an entry
/// read later is an attached client's (a prompt command), not this run's.
const MATCH_WINDOW_US: i64 = 2_000_000;

/// How long an ended run is kept, so that a late log entry is known as already recorded.
const KEEP_ENDED_US: i64 = 5_000_000;

impl ClientRuns {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A watcher connected to `server`, whose process is `pid`.
    pub fn server_up(&self, server: &str, pid: Option<u32>) {
        let mut inner = self.inner();
        if inner.servers.get(server) != Some(&pid) {
            inner.servers.insert(server.to_owned(), pid);
            inner.generation += 1;
            if let (Some(f), Some(pid)) = (&inner.on_server, pid) {
                f(pid);
            }
        }
    }

    /// Calls `f` with the pid of each server a watcher connects to from now on.
    pub fn on_server(&self, f: Box<dyn Fn(u32) + Send>) {
        self.inner().on_server = Some(f);
    }

    /// The tmux binary was opened (an exec of tmux, by anyone) at `at`.
    pub fn binary_opened(&self, at: Timestamp) {
        self.binary_event(true, at);
    }

    /// The tmux binary was closed (a tmux process ended) at `at`.
    pub fn binary_closed(&self, at: Timestamp) {
        self.binary_event(false, at);
    }

    fn binary_event(&self, open: bool, at: Timestamp) {
        let mut inner = self.inner();
        if inner.binary.len() >= BINARY_KEPT {
            inner.binary.pop_front();
        }
        inner.binary.push_back((open, at));
    }

    /// When some tmux process ran between `since` and `until`: the first open of the binary
    /// after `since` and the last close by `until`.
    pub fn binary_window(
        &self,
        since: Option<Timestamp>,
        until: Timestamp,
    ) -> Option<(Timestamp, Timestamp)> {
        let inner = self.inner();
        let after = |t: Timestamp| since.is_none_or(|s| t > s) && t <= until;
        let close = (inner.binary.iter())
            .rev()
            .find(|(open, t)| !open && after(*t))?
            .1;
        let open = (inner.binary.iter())
            .find(|(open, t)| *open && after(*t) && *t <= close)
            .map_or(since.unwrap_or(close), |e| e.1);
        Some((open, close))
    }

    /// A number that changes when the watched servers do.
    pub fn generation(&self) -> u64 {
        self.inner().generation
    }

    /// The watched servers (socket, pid), and a number that changes when they do.
    pub fn servers(&self) -> (u64, Vec<(String, Option<u32>)>) {
        let inner = self.inner();
        let list = inner.servers.iter().map(|(s, p)| (s.clone(), *p)).collect();
        (inner.generation, list)
    }

    /// A client's exec.
    pub fn started(&self, run: ClientRun) {
        let mut inner = self.inner();
        if inner.slots.len() >= KEPT {
            // A flood of clients: forget the oldest that ended and were dealt with first.
            let at = (inner.slots.iter())
                .position(|s| s.run.ended.is_some() && (s.matched > 0 || s.settled))
                .unwrap_or(0);
            inner.slots.remove(at);
        }
        inner.slots.push(Slot {
            run,
            matched: 0,
            settled: false,
        });
    }

    /// A client's exit; returns its server.
    pub fn ended(&self, pid: u32, at: Timestamp) -> Option<String> {
        let mut inner = self.inner();
        let slot = (inner.slots.iter_mut())
            .rev()
            .find(|s| s.run.pid == pid && s.run.ended.is_none())?;
        slot.run.ended = Some(at);
        Some(slot.run.server.clone())
    }

    /// Matches `entries` (new in `server`'s log, oldest first, read at `looked`) with runs.
    pub fn claim(&self, server: &str, entries: &[Entry], looked: Timestamp) -> Vec<Claim> {
        let mut inner = self.inner();
        let recent = |r: &ClientRun| {
            r.server == server
                && r.started <= looked
                && looked.0 - r.ended.unwrap_or(r.started).0 <= MATCH_WINDOW_US
        };
        entries
            .iter()
            .map(|entry| {
                if entry.key.is_some() || entry.command.is_none() {
                    return Claim::None;
                }
                let named: Vec<usize> = (inner.slots.iter().enumerate())
                    .filter(|(_, s)| recent(&s.run) && s.run.name == entry.client)
                    .map(|(i, _)| i)
                    .collect();
                let open = |s: &Slot| s.matched < s.run.commands;
                let pick = (named.iter().copied())
                    .find(|&i| open(&inner.slots[i]))
                    .or_else(|| named.last().copied())
                    .or_else(|| {
                        // A client that gave tmux another pid than its own (a modified
                        // client) is logged under another name: the one run of the same user
                        // not matched yet is its.
                        let user = entry.user.as_deref()?;
                        let same: Vec<usize> = (inner.slots.iter().enumerate())
                            .filter(|(_, s)| recent(&s.run) && s.matched == 0 && !s.settled)
                            .filter(|(_, s)| {
                                s.run.name.starts_with("client-")
                                    && crate::users::name_of(s.run.uid).as_deref() == Some(user)
                            })
                            .map(|(i, _)| i)
                            .collect();
                        match same.as_slice() {
                            [one] if entry.client.starts_with("client-") => Some(*one),
                            _ => None,
                        }
                    });
                let Some(i) = pick else {
                    return Claim::None;
                };
                let slot = &mut inner.slots[i];
                slot.matched += 1;
                tracing::debug!(
                    pid = slot.run.pid,
                    client = entry.client,
                    "log entry matched"
                );
                if slot.settled {
                    Claim::Recorded
                } else {
                    Claim::Run(slot.run.clone())
                }
            })
            .collect()
    }

    /// Runs that ended at least `after_us(server)` before `now` with no log entry matched:
    /// each is returned once, to be recorded from the kernel alone. Forgets runs long dealt
    /// with.
    pub fn unclaimed(&self, now: Timestamp, after_us: impl Fn(&str) -> i64) -> Vec<ClientRun> {
        let mut inner = self.inner();
        let mut out = Vec::new();
        for s in &mut inner.slots {
            let Some(ended) = s.run.ended else { continue };
            if s.matched == 0 && !s.settled && now.0 - ended.0 >= after_us(&s.run.server) {
                s.settled = true;
                tracing::debug!(pid = s.run.pid, "not in the log");
                out.push(s.run.clone());
            }
        }
        inner.slots.retain(|s| {
            s.run
                .ended
                .is_none_or(|e| now.0 - e.0 < KEEP_ENDED_US || (s.matched == 0 && !s.settled))
        });
        out
    }

    /// Whether a run that ended waits to be matched or recorded.
    pub fn waiting(&self) -> bool {
        (self.inner().slots.iter()).any(|s| s.run.ended.is_some() && s.matched == 0 && !s.settled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pid: u32, name: &str, commands: usize, started: i64) -> ClientRun {
        ClientRun {
            server: "/s".into(),
            pid,
            uid: 0,
            name: name.into(),
            argv: vec![b"tmux".to_vec(), b"capture-pane".to_vec(), b"-p".to_vec()],
            cwd: None,
            command_at: Some(1),
            commands,
            started: Timestamp(started),
            ended: None,
        }
    }

    fn entry(client: &str, command: &str) -> Entry {
        Entry {
            client: client.into(),
            user: None,
            key: None,
            command: Some(command.into()),
        }
    }

    #[test]
    fn each_entry_gets_the_run_that_logged_it() {
        let runs = ClientRuns::default();
        runs.started(run(10, "client-10", 2, 1_000));
        runs.started(run(11, "/dev/pts/3", 1, 2_000));
        runs.started(run(12, "/dev/pts/3", 1, 3_000));
        assert_eq!(runs.ended(10, Timestamp(1_500)).as_deref(), Some("/s"));
        let got = runs.claim(
            "/s",
            &[
                entry("client-10", "list-panes"),
                entry("client-10", "kill-window"),
                entry("/dev/pts/3", "ls"),
                entry("/dev/pts/3", "capture-pane"),
                entry("client-99", "x"),
                Entry {
                    key: Some("d".into()),
                    ..entry("/dev/pts/3", "detach-client")
                },
            ],
            Timestamp(4_000),
        );
        let pids: Vec<Option<u32>> = (got.iter())
            .map(|c| match c {
                Claim::Run(r) => Some(r.pid),
                _ => None,
            })
            .collect();
        assert_eq!(pids, [Some(10), Some(10), Some(11), Some(12), None, None]);
        // Other servers' entries are never this server's runs.
        assert_eq!(
            runs.claim("/t", &[entry("client-10", "ls")], Timestamp(4_000)),
            [Claim::None]
        );
    }

    #[test]
    fn a_run_the_log_never_showed_is_recorded_once_from_the_kernel() {
        let runs = ClientRuns::default();
        runs.started(run(20, "client-20", 1, 1_000_000));
        assert!(
            runs.unclaimed(Timestamp(5_000_000), |_| 500_000).is_empty(),
            "still running"
        );
        runs.ended(20, Timestamp(1_010_000));
        assert!(
            runs.unclaimed(Timestamp(1_200_000), |_| 500_000).is_empty(),
            "not yet due"
        );
        let due = runs.unclaimed(Timestamp(1_600_000), |_| 500_000);
        assert_eq!(due.len(), 1);
        let e = due[0].unconfirmed_event("h");
        assert_eq!(e.time, Timestamp(1_000_000));
        assert_eq!(e.until, Some(Timestamp(1_010_000)));
        assert_eq!(e.confirmed, Some(false));
        assert_eq!(e.timing.as_deref(), Some("exec"));
        assert_eq!(e.command.as_deref(), Some("capture-pane -p"));
        assert!(
            runs.unclaimed(Timestamp(1_700_000), |_| 500_000).is_empty(),
            "only once"
        );
        // The log, read late after all, does not record it a second time.
        let late = runs.claim(
            "/s",
            &[entry("client-20", "capture-pane -p")],
            Timestamp(1_800_000),
        );
        assert_eq!(late, [Claim::Recorded]);
        assert!(!runs.waiting());
    }

    #[test]
    fn a_client_that_lies_about_its_pid_is_paired_with_its_users_one_run() {
        let Some(nobody) = crate::users::name_of(65534) else {
            return; // no such user here: nothing to pair by
        };
        let runs = ClientRuns::default();
        runs.started(ClientRun {
            uid: 65534,
            ..run(100, "client-100", 1, 1_000)
        });
        runs.ended(100, Timestamp(2_000));
        let lie = Entry {
            user: Some(nobody),
            ..entry("client-4242", "capture-pane -p")
        };
        let got = runs.claim("/s", &[lie], Timestamp(3_000));
        assert!(
            matches!(&got[..], [Claim::Run(r)] if r.pid == 100),
            "{got:?}"
        );
    }

    #[test]
    fn the_binary_window_is_the_first_open_and_last_close_since_the_last_read() {
        let runs = ClientRuns::default();
        assert_eq!(runs.binary_window(None, Timestamp(10)), None);
        runs.binary_opened(Timestamp(5));
        runs.binary_closed(Timestamp(8));
        runs.binary_opened(Timestamp(20));
        runs.binary_opened(Timestamp(21));
        runs.binary_closed(Timestamp(30));
        runs.binary_closed(Timestamp(31));
        assert_eq!(
            runs.binary_window(None, Timestamp(10)),
            Some((Timestamp(5), Timestamp(8)))
        );
        let read = Some(Timestamp(10));
        assert_eq!(
            runs.binary_window(read, Timestamp(40)),
            Some((Timestamp(20), Timestamp(31)))
        );
        // Still running (opened, not closed) at the read: no window yet.
        assert_eq!(runs.binary_window(Some(Timestamp(31)), Timestamp(40)), None);
    }

    #[test]
    fn a_claimed_run_is_not_recorded_from_the_kernel() {
        let runs = ClientRuns::default();
        runs.started(run(30, "client-30", 1, 1_000_000));
        runs.ended(30, Timestamp(1_010_000));
        let got = runs.claim(
            "/s",
            &[entry("client-30", "capture-pane -p")],
            Timestamp(1_020_000),
        );
        assert!(matches!(&got[..], [Claim::Run(r)] if r.pid == 30));
        assert!(runs.unclaimed(Timestamp(9_000_000), |_| 500_000).is_empty());
        // An entry long after the run is an attached client's prompt, not this run's.
        let old = runs.claim("/s", &[entry("client-30", "ls")], Timestamp(9_000_000));
        assert_eq!(old, [Claim::None]);
    }
}
