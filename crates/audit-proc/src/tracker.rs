//! Following process trees down from pane roots, and turning each exec'd program into a
//! [`Command`] when it ends.

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
    /// The program it exec'd under a pane root, if it did (a forked shell has not).
    running: Option<(ProcInfo, i64)>,
}

/// Processes under the registered pane roots.
pub struct Tracker<K> {
    procs: HashMap<u32, Tracked<K>>,
    proc_root: PathBuf,
}

impl<K: Clone> Default for Tracker<K> {
    fn default() -> Self {
        Tracker {
            procs: HashMap::new(),
            proc_root: PathBuf::from("/proc"),
        }
    }
}

impl<K: Clone> Tracker<K> {
    /// Follows the processes that `pid` (a pane's first process) will start, as `pane`'s.
    pub fn add_root(&mut self, pid: u32, pane: K) {
        self.procs.insert(
            pid,
            Tracked {
                pane,
                running: None,
            },
        );
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
                if let Some(pane) = self.procs.get(&parent).map(|p| p.pane.clone()) {
                    self.procs.insert(
                        child,
                        Tracked {
                            pane,
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
                if let Some(t) = self.procs.remove(&pid) {
                    if let Some((info, started)) = t.running {
                        out.push(Command {
                            pane: t.pane,
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
}
