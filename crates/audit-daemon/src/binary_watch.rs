//! Without the kernel's process events (not root, `--commands-by-scan`, `--no-commands`): a
//! wake-up from the tmux binary itself. inotify reports `IN_OPEN` when anyone execs it and
//! `IN_CLOSE_NOWRITE` when that process ends (checked on Linux 6.18: the close comes at the
//! process's exit), unprivileged and at no cost while nothing runs. At each close every
//! watcher is asked to read its server's message log (at most every 100 ms per server), and
//! the times are kept in [`ClientRuns`] so that a command found then is timed by the close
//! (`timing: trigger`). inotify names no process: a tmux run for another server wakes the
//! watchers too (a read that finds nothing), and a copy of tmux elsewhere is not seen.

use crate::attributing::Nudgers;
use crate::clients::{find_program, Asking, READ_EVERY};
use audit_core::Timestamp;
use audit_tmux::clients::ClientRuns;
use audit_tmux::conn::Nudger;
use inotify::{EventMask, Inotify, WatchMask};
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;

const MASK: WatchMask = WatchMask::OPEN.union(WatchMask::CLOSE_NOWRITE);

/// Starts the thread; `tmux` is the configured program. Logs and returns if inotify fails.
pub fn start(runs: Arc<ClientRuns>, tmux: PathBuf, nudgers: Arc<Nudgers>) {
    let mut inotify = match Inotify::init() {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!("cannot watch the tmux binary ({e}): command-only clients are found at the next look");
            return;
        }
    };
    let watches = inotify.watches();
    let mut paths: HashMap<inotify::WatchDescriptor, PathBuf> = HashMap::new();
    if let Some(path) = find_program(&tmux).and_then(|p| std::fs::canonicalize(p).ok()) {
        match inotify.watches().add(&path, MASK) {
            Ok(wd) => {
                paths.insert(wd, path);
            }
            Err(e) => tracing::warn!(path = %path.display(), "cannot watch the tmux binary: {e}"),
        }
    }
    // A server run from another binary: watch that one too (read at its watcher's connect).
    runs.on_server(Box::new(move |pid| {
        if let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) {
            let _ = watches.clone().add(exe, MASK);
        }
    }));
    let spawned = std::thread::Builder::new()
        .name("tmux-binary".into())
        .spawn(move || run(&mut inotify, paths, &runs, &nudgers));
    if let Err(e) = spawned {
        tracing::warn!("cannot start the tmux-binary thread: {e}");
    }
}

fn run(
    inotify: &mut Inotify,
    mut paths: HashMap<inotify::WatchDescriptor, PathBuf>,
    runs: &ClientRuns,
    nudgers: &Nudgers,
) {
    let mut asking = Asking::new(READ_EVERY, Nudger::clients);
    let mut buffer = [0u8; 4096];
    loop {
        // Wait for the binary — forever while nothing is owed: an idle daemon never wakes.
        let timeout = if asking.owes() { 50 } else { -1 };
        let mut pfd = libc::pollfd {
            fd: inotify.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut pfd, 1, timeout) };
        asking.owed(nudgers);
        if ready <= 0 {
            continue;
        }
        let events = match inotify.read_events(&mut buffer) {
            Ok(events) => events,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                tracing::warn!("watching the tmux binary failed ({e}): command-only clients are found at the next look");
                return;
            }
        };
        let now = Timestamp::now();
        let mut closed = false;
        let mut lost = Vec::new();
        for event in events {
            if event.mask.contains(EventMask::OPEN) {
                runs.binary_opened(now);
            }
            if event.mask.contains(EventMask::CLOSE_NOWRITE)
                || event.mask.contains(EventMask::Q_OVERFLOW)
            {
                runs.binary_closed(now);
                closed = true;
            }
            if event.mask.contains(EventMask::IGNORED) {
                // Replaced (an upgrade) or removed: watch what is at the path now.
                lost.extend(paths.remove(&event.wd));
            }
        }
        for path in lost {
            if let Ok(wd) = inotify.watches().add(&path, MASK) {
                paths.insert(wd, path);
            }
        }
        if closed {
            let servers: Vec<String> = (nudgers.lock().unwrap_or_else(|e| e.into_inner()))
                .keys()
                .cloned()
                .collect();
            for server in servers {
                asking.ask(server, nudgers);
            }
        }
    }
}
