//! Without the kernel's process events (not root): the programs under pane roots, found by
//! walking `/proc` at an interval.
//!
//! What this misses, and why the connector is preferred: a program that starts and ends
//! between two walks is never seen; times are when a walk saw it; the exit status is gone by the
//! time a walk notices the process is (it was reaped); a process of another user whose `/proc`
//! entries are not readable shows no arguments.

use crate::procfs::{self, ProcInfo};
use crate::tracker::{Command, Ending};
use std::collections::HashMap;
use std::path::PathBuf;

struct Seen<K> {
    pane: K,
    root: u32,
    info: ProcInfo,
    first: i64,
}

/// Walks `/proc` for the descendants of pane roots.
pub struct Scan<K> {
    seen: HashMap<u32, Seen<K>>,
    proc_root: PathBuf,
}

impl<K> Default for Scan<K> {
    fn default() -> Self {
        Scan {
            seen: HashMap::new(),
            proc_root: PathBuf::from("/proc"),
        }
    }
}

impl<K: Clone> Scan<K> {
    /// One walk at `now` (µs) over the descendants of `roots` (pid → pane): programs that went
    /// away, or exec'd another, are pushed to `out`.
    pub fn poll(&mut self, roots: &HashMap<u32, K>, now: i64, out: &mut Vec<Command<K>>) {
        let parents = procfs::parents(&self.proc_root);
        let mut alive: HashMap<u32, (K, u32)> = HashMap::new();
        for &pid in parents.keys() {
            if let Some(root) = procfs::root_of(pid, &parents, roots) {
                alive.insert(pid, (roots[&root].clone(), root));
            }
        }
        let gone: Vec<u32> = self
            .seen
            .keys()
            .copied()
            .filter(|pid| !alive.contains_key(pid))
            .collect();
        for pid in gone {
            let s = self.seen.remove(&pid).expect("listed above");
            out.push(command(pid, s, now, Ending::Unknown));
        }
        for (pid, (pane, root)) in alive {
            let info = procfs::read(&self.proc_root, pid);
            match self.seen.get_mut(&pid) {
                Some(s) if s.info.argv == info.argv || info.argv.is_none() => {}
                Some(s) => {
                    // Same process, another program: it exec'd.
                    let before = std::mem::replace(
                        s,
                        Seen {
                            pane,
                            root,
                            info,
                            first: now,
                        },
                    );
                    out.push(command(pid, before, now, Ending::Replaced));
                }
                None => {
                    self.seen.insert(
                        pid,
                        Seen {
                            pane,
                            root,
                            info,
                            first: now,
                        },
                    );
                }
            }
        }
    }
}

fn command<K>(pid: u32, s: Seen<K>, now: i64, ending: Ending) -> Command<K> {
    Command {
        pane: s.pane,
        root: s.root,
        pid,
        info: s.info,
        started: s.first,
        ended: now,
        ending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command as Process, Stdio};
    use std::time::{SystemTime, UNIX_EPOCH};

    fn now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64
    }

    #[test]
    fn a_program_under_a_root_is_seen_while_it_runs_and_reported_when_gone() {
        // A root (sh) whose child sleeps long enough to be seen by two walks. The child runs two
        // commands, so it cannot exec its last one in its own place (dash does that), which a
        // walk that saw it before would rightly report as replaced.
        let mut root = Process::new("sh")
            .args(["-c", "sh -c 'sleep 0.6; true' seen-by-scan; sleep 0.3"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let roots = HashMap::from([(root.id(), "%1")]);
        let mut scan = Scan::default();
        let mut out = Vec::new();
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_secs(5) {
            scan.poll(&roots, now(), &mut out);
            if out.iter().any(|c| {
                c.info
                    .argv
                    .as_ref()
                    .is_some_and(|a| a.last().map(Vec::as_slice) == Some(b"seen-by-scan"))
            }) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        root.wait().unwrap();
        let c = out
            .iter()
            .find(|c| {
                c.info
                    .argv
                    .as_ref()
                    .is_some_and(|a| a.last().map(Vec::as_slice) == Some(b"seen-by-scan"))
            })
            .expect("the program was seen and reported once gone");
        assert_eq!(c.pane, "%1");
        assert_eq!(c.ending, Ending::Unknown);
        assert!(c.ended > c.started);
    }
}
