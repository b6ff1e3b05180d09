//! Wakes a watcher when a spool appears in its server's spool folder (inotify, no polling).
//!
//! A pane the hooks piped may print, exit and be gone before the watcher's next look, and its
//! copier may create its spool after that look: with nothing else happening on the server, no
//! notification would ever bring the watcher back to hand that spool over. So a thread blocks
//! on inotify for files created in the folder and nudges the watcher's current connection.
//! Idle, it never wakes.

use crate::conn::Nudger;
use inotify::{Inotify, WatchDescriptor, WatchMask, Watches};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The thread, while it runs; stopped when dropped.
pub struct SpoolWatch {
    nudger: Arc<Mutex<Option<Nudger>>>,
    stop: Arc<AtomicBool>,
    watches: Watches,
    wd: WatchDescriptor,
}

impl SpoolWatch {
    /// Watches `folder` (which must exist) for new `.tas` files.
    pub fn start(folder: &Path) -> std::io::Result<Self> {
        let mut inotify = Inotify::init()?;
        let mut watches = inotify.watches();
        let wd = watches.add(folder, WatchMask::CREATE | WatchMask::ONLYDIR)?;
        let nudger: Arc<Mutex<Option<Nudger>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (to_nudge, stopping) = (Arc::clone(&nudger), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("spool-watch".into())
            .spawn(move || {
                let mut buffer = [0u8; 4096];
                while !stopping.load(Ordering::Relaxed) {
                    let Ok(events) = inotify.read_events_blocking(&mut buffer) else {
                        return;
                    };
                    let spool = events.into_iter().any(|e| {
                        e.name
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.ends_with(".tas"))
                    });
                    if spool {
                        if let Some(n) = to_nudge.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
                        {
                            n.nudge();
                        }
                    }
                }
            })?;
        Ok(SpoolWatch {
            nudger,
            stop,
            watches,
            wd,
        })
    }

    /// Nudges this connection from now on.
    pub fn connected(&self, nudger: Nudger) {
        *self.nudger.lock().unwrap_or_else(|e| e.into_inner()) = Some(nudger);
    }
}

impl Drop for SpoolWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Removing the watch queues IN_IGNORED, which ends the thread's blocking read.
        let _ = self.watches.remove(self.wd.clone());
    }
}
