//! Following process trees down from pane roots, and turning each exec'd program into a
//! [`Command`] when it ends.
//!
//! A pane's first process is only known once tmux has been asked about the pane, and a
//! program in a new pane may have run and ended by then. So a *spawner* (a tmux server) can be
//! registered too: each process it forks is followed from its birth as a root of its own, under
//! the spawner's key, and is re-keyed once the caller learns which pane it is
//! ([`Tracker::add_root`] on a process already followed). Every [`Command`] names its root, so
//! the caller can hold the commands of a root it cannot place yet.

use crate::connector::ProcEvent;
use crate::procfs::{self, ProcInfo};
use std::collections::HashMap;
use std::path::PathBuf;

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It exited with this status.
    Exited(i32),
    /// A signal killed it.
    Signalled(i32),
    /// It exec'd another program (which is a command of its own).
    Replaced,
    /// It ended, how is not known (seen by scanning `/proc`, not from the kernel's events).
    Unknown,
}

impl Ending {
    /// From a wait status as the kernel reports it.
    pub fn from_wait_status(status: u32) -> Ending {
        let signal = (status & 0x7f) as i32;
        if signal == 0 {
            Ending::Exited(((status >> 8) & 0xff) as i32)
        } else {
            Ending::Signalled(signal)
        }
    }
}

/// One program run under a pane, from exec to exit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command<K> {
    /// The pane (whatever key the caller registered its root with).
    pub pane: K,
    /// The first process of its tree: a registered root, or a process a spawner forked.
    pub root: u32,
    /// The process.
    pub pid: u32,
    /// What `/proc` showed at its exec (fields it could not read are `None`).
    pub info: ProcInfo,
    /// When its exec was reported (µs since the epoch).
    pub started: i64,
    /// When it ended (µs since the epoch).
    pub ended: i64,
    /// How.
    pub ending: Ending,
}

struct Tracked<K> {
    pane: K,
    root: u32,
    /// The program it exec'd under a pane root, if it did (a forked shell has not).
    running: Option<(ProcInfo, i64)>,
}

/// Processes under the registered pane roots.
pub struct Tracker<K> {
    procs: HashMap<u32, Tracked<K>>,
    spawners: HashMap<u32, K>,
    proc_root: PathBuf,
}

impl<K: Clone> Default for Tracker<K> {
    fn default() -> Self {
        Tracker {
            procs: HashMap::new(),
            spawners: HashMap::new(),
            proc_root: PathBuf::from("/proc"),
        }
    }
}

impl<K: Clone> Tracker<K> {
    /// Follows the processes that `pid` (a pane's first process) will start, as `pane`'s. A
    /// process already followed as a root of its own (a spawner forked it) keeps what it runs,
    /// and it and everything under it are `pane`'s from now on.
    /// A process already followed as part of a tree keeps its place (what it runs is not
    /// forgotten).
    pub fn add_root(&mut self, pid: u32, pane: K) {
        match self.procs.get(&pid) {
            Some(t) if t.root == pid => {
                for t in self.procs.values_mut().filter(|t| t.root == pid) {
                    t.pane = pane.clone();
                }
                return;
            }
            Some(_) => return,
            None => {}
        }
        self.procs.insert(
            pid,
            Tracked {
                pane,
                root: pid,
                running: None,
            },
        );
    }

    /// Follows every process `pid` forks from now on, each as a root of its own under `key`
    /// (until [`add_root`](Self::add_root) names its pane). `pid` itself is not followed.
    pub fn add_spawner(&mut self, pid: u32, key: K) {
        self.spawners.insert(pid, key);
    }

    /// What the followed process `pid` runs now, as `/proc` showed it at its exec.
    pub fn running(&self, pid: u32) -> Option<&ProcInfo> {
        self.procs.get(&pid)?.running.as_ref().map(|(info, _)| info)
    }

    /// Stops following `pid` and what it runs: its program is no command (the caller's own).
    pub fn forget(&mut self, pid: u32) {
        self.procs.remove(&pid);
    }

    /// Whether `pid` is followed.
    pub fn follows(&self, pid: u32) -> bool {
        self.procs.contains_key(&pid)
    }

    /// How many processes are followed now.
    pub fn followed(&self) -> usize {
        self.procs.len()
    }

    /// Applies one kernel event at `now` (µs); a command that ended is pushed to `out`. Returns
    /// the pane of a followed process that just exec'd (a program started there).
    pub fn apply(&mut self, event: ProcEvent, now: i64, out: &mut Vec<Command<K>>) -> Option<K> {
        match event {
            ProcEvent::Fork { parent, child } => {
                let tracked = match self.procs.get(&parent) {
                    Some(p) => Some((p.pane.clone(), p.root)),
                    None => self.spawners.get(&parent).map(|k| (k.clone(), child)),
                };
                if let Some((pane, root)) = tracked {
                    self.procs.insert(
                        child,
                        Tracked {
                            pane,
                            root,
                            running: None,
                        },
                    );
                }
                None
            }
            ProcEvent::Exec { pid } => {
                let root = &self.proc_root;
                let t = self.procs.get_mut(&pid)?;
                // Read at once: a short command is gone a moment later.
                let info = procfs::read(root, pid);
                if let Some((before, started)) = t.running.replace((info, now)) {
                    out.push(Command {
                        pane: t.pane.clone(),
                        root: t.root,
                        pid,
                        info: before,
                        started,
                        ended: now,
                        ending: Ending::Replaced,
                    });
                }
                Some(t.pane.clone())
            }
            ProcEvent::Exit { pid, status } => {
                self.spawners.remove(&pid);
                if let Some(t) = self.procs.remove(&pid) {
                    if let Some((info, started)) = t.running {
                        out.push(Command {
                            pane: t.pane,
                            root: t.root,
                            pid,
                            info,
                            started,
                            ended: now,
                            ending: Ending::from_wait_status(status),
                        });
                    }
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_statuses_are_read_like_waitpid() {
        assert_eq!(Ending::from_wait_status(0), Ending::Exited(0));
        assert_eq!(Ending::from_wait_status(3 << 8), Ending::Exited(3));
        assert_eq!(Ending::from_wait_status(9), Ending::Signalled(9));
    }

    #[test]
    fn only_descendants_of_roots_are_followed_and_each_exec_is_a_command() {
        let mut t: Tracker<&str> = Tracker::default();
        t.add_root(100, "%1");
        let mut out = Vec::new();
        t.apply(
            ProcEvent::Fork {
                parent: 100,
                child: 101,
            },
            1,
            &mut out,
        );
        t.apply(
            ProcEvent::Fork {
                parent: 7,
                child: 8,
            },
            1,
            &mut out,
        );
        assert_eq!(t.followed(), 2, "the root and its child, not 8");
        t.apply(ProcEvent::Exec { pid: 101 }, 2, &mut out);
        t.apply(ProcEvent::Exec { pid: 101 }, 3, &mut out);
        t.apply(
            ProcEvent::Exit {
                pid: 101,
                status: 2 << 8,
            },
            5,
            &mut out,
        );
        t.apply(ProcEvent::Exec { pid: 8 }, 5, &mut out);
        t.apply(ProcEvent::Exit { pid: 8, status: 0 }, 6, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|c| (c.pane, c.pid, c.started, c.ended, c.ending))
            .collect();
        assert_eq!(
            got,
            vec![
                ("%1", 101, 2, 3, Ending::Replaced),
                ("%1", 101, 3, 5, Ending::Exited(2))
            ]
        );
        // A forked child that never exec'd is no command.
        t.apply(
            ProcEvent::Fork {
                parent: 100,
                child: 102,
            },
            7,
            &mut out,
        );
        t.apply(
            ProcEvent::Exit {
                pid: 102,
                status: 0,
            },
            8,
            &mut out,
        );
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn a_spawners_children_are_roots_of_their_own_until_their_pane_is_named() {
        let mut t: Tracker<&str> = Tracker::default();
        t.add_spawner(10, "server");
        let mut out = Vec::new();
        let fork = |parent, child| ProcEvent::Fork { parent, child };
        // The server forks a pane's first process, which runs a program that forks another.
        t.apply(fork(10, 11), 1, &mut out);
        assert_eq!(
            t.apply(ProcEvent::Exec { pid: 11 }, 2, &mut out),
            Some("server")
        );
        t.apply(fork(11, 12), 3, &mut out);
        t.apply(ProcEvent::Exec { pid: 12 }, 4, &mut out);
        t.apply(ProcEvent::Exit { pid: 12, status: 0 }, 5, &mut out);
        assert_eq!(
            out.iter()
                .map(|c| (c.pane, c.root, c.pid))
                .collect::<Vec<_>>(),
            vec![("server", 11, 12)],
            "what ran before the pane was named is the spawner's, with its root"
        );
        // Now the pane is known: its root keeps what it runs, and all under it is the pane's
        // (registering a process already followed, as a walk of /proc does, changes nothing).
        t.add_root(11, "%3");
        t.add_root(11, "%3");
        assert!(t.running(11).is_some());
        t.apply(fork(11, 13), 6, &mut out);
        t.apply(ProcEvent::Exec { pid: 13 }, 7, &mut out);
        t.apply(ProcEvent::Exit { pid: 13, status: 0 }, 8, &mut out);
        t.apply(ProcEvent::Exit { pid: 11, status: 0 }, 9, &mut out);
        assert_eq!(
            out[1..]
                .iter()
                .map(|c| (c.pane, c.root, c.pid))
                .collect::<Vec<_>>(),
            vec![("%3", 11, 13), ("%3", 11, 11)]
        );
        // Another fork of the server is a new root; the server's own exit ends spawning.
        t.apply(fork(10, 14), 10, &mut out);
        t.apply(ProcEvent::Exit { pid: 10, status: 0 }, 11, &mut out);
        t.apply(fork(10, 15), 12, &mut out);
        assert_eq!(t.followed(), 1, "14 only");
        // A forgotten process's program is no command.
        t.apply(ProcEvent::Exec { pid: 14 }, 13, &mut out);
        t.forget(14);
        t.apply(ProcEvent::Exit { pid: 14, status: 0 }, 14, &mut out);
        assert_eq!(out.len(), 3);
    }
}
