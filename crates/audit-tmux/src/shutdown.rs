//! Stopping cleanly: the control clients we started are ended by their pid, which wakes every
//! watcher blocked on its connection. Nothing else is ever signalled.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// Shared between the daemon and every watcher.
#[derive(Debug, Default)]
pub struct Shutdown {
    state: Mutex<(bool, BTreeSet<u32>)>,
}

impl Shutdown {
    /// Records a control client we started. `false` when already stopping: the caller must
    /// close it and return.
    pub fn register(&self, pid: u32) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.0 {
            return false;
        }
        s.1.insert(pid);
        true
    }

    /// Forgets a control client that has ended.
    pub fn unregister(&self, pid: u32) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.1.remove(&pid);
    }

    /// Whether a stop was requested.
    pub fn stopping(&self) -> bool {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    /// Requests a stop: ends every registered control client.
    pub fn trigger(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.0 = true;
        for &pid in &s.1 {
            // SAFETY: kill(2) has no memory-safety preconditions; the pid is a child we spawned
            // and have not yet reaped (its Connection still exists), so it cannot be reused.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        s.1.clear();
    }
}
