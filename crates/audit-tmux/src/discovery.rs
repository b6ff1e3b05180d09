//! Finding tmux servers: their sockets, now and as they appear. Event-driven (inotify): an idle
//! daemon does not wake up to look.

use inotify::{Inotify, WatchMask};
use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt};
use std::path::{Path, PathBuf};

/// Which sockets to watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One server's socket (`-S`, `-L`).
    Socket(PathBuf),
    /// Every socket in a folder (the user's tmux folder).
    Folder(PathBuf),
}

impl Scope {
    /// Whether `socket` belongs to this scope.
    pub fn contains(&self, socket: &Path) -> bool {
        match self {
            Scope::Socket(p) => p == socket,
            Scope::Folder(dir) => socket.parent() == Some(dir.as_path()),
        }
    }

    /// The path events of the daemon itself (`audit-*`) name as their `server`.
    pub fn display(&self) -> String {
        match self {
            Scope::Socket(p) | Scope::Folder(p) => p.display().to_string(),
        }
    }
}

/// tmux's folder for `uid`: `$TMUX_TMPDIR/tmux-UID`, else `/tmp/tmux-UID`.
pub fn default_folder(uid: u32) -> PathBuf {
    let base = std::env::var_os("TMUX_TMPDIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join(format!("tmux-{uid}"))
}

/// The socket tmux's `-L NAME` means.
pub fn named_socket(uid: u32, name: &str) -> PathBuf {
    default_folder(uid).join(name)
}

fn is_socket(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .map(|m| m.file_type().is_socket())
        .unwrap_or(false)
}

/// Calls `found(socket, true)` for every socket in scope now and, until the process ends,
/// `found(socket, false)` for every socket that appears later (servers started, or restarted,
/// after the daemon). Blocks.
pub fn run(scope: &Scope, mut found: impl FnMut(PathBuf, bool)) -> std::io::Result<()> {
    let (dir, only): (PathBuf, Option<OsString>) = match scope {
        Scope::Socket(p) => (
            p.parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
            p.file_name().map(|n| n.to_os_string()),
        ),
        Scope::Folder(d) => {
            // tmux accepts a folder it did not make if it is ours and 0700.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(d)?;
            (d.clone(), None)
        }
    };
    let mut inotify = Inotify::init()?;
    inotify
        .watches()
        .add(&dir, WatchMask::CREATE | WatchMask::MOVED_TO)?;
    // Look only after the watch is in place, so nothing created in between is missed.
    match &only {
        Some(name) => {
            let p = dir.join(name);
            if is_socket(&p) {
                found(p, true);
            }
        }
        None => {
            for entry in std::fs::read_dir(&dir)?.flatten() {
                if entry.file_type().map(|t| t.is_socket()).unwrap_or(false) {
                    found(entry.path(), true);
                }
            }
        }
    }
    let mut buffer = [0u8; 4096];
    loop {
        for event in inotify.read_events_blocking(&mut buffer)? {
            let Some(name) = event.name else { continue };
            if only.as_deref().is_some_and(|o| o != name) {
                continue;
            }
            let p = dir.join(name);
            if is_socket(&p) {
                found(p, false);
            }
        }
    }
}
