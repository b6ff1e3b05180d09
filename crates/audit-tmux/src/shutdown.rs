//! Stopping cleanly. Each watcher is first asked to take one last look (so a client that left
//! a moment before the signal is still recorded) and to return; control clients that do not
//! finish in time are then ended by their pid. Nothing else is ever signalled.

use crate::conn::Stopper;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
struct State {
    stopping: bool,
    clients: BTreeMap<u32, Stopper>,
}

/// Shared between the daemon and every watcher.
#[derive(Default)]
pub struct Shutdown {
    state: Mutex<State>,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("Shutdown")
            .field("stopping", &s.stopping)
            .field("clients", &s.clients.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Shutdown {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a control client we started. `false` when already stopping: the caller must
    /// close it and return.
    pub fn register(&self, pid: u32, stopper: Stopper) -> bool {
        let mut s = self.lock();
        if s.stopping {
            return false;
        }
        s.clients.insert(pid, stopper);
        true
    }

    /// Forgets a control client that has ended.
    pub fn unregister(&self, pid: u32) {
        self.lock().clients.remove(&pid);
    }

    /// Whether a stop was requested.
    pub fn stopping(&self) -> bool {
        self.lock().stopping
    }

    /// Requests a stop: every watcher takes a last look and returns.
    pub fn trigger(&self) {
        let mut s = self.lock();
        s.stopping = true;
        for stopper in s.clients.values() {
            stopper.stop();
        }
    }

    /// Ends the control clients still registered (watchers that did not return in time).
    pub fn kill_remaining(&self) {
        let mut s = self.lock();
        for &pid in s.clients.keys() {
            // SAFETY: kill(2) has no memory-safety preconditions; the pid is a child we spawned
            // and have not yet reaped (its Connection still exists), so it cannot be reused.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        s.clients.clear();
    }
}
