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
    /// Every user's tmux folder (`tmux-UID`) in these folders (`/tmp`), those made later too:
    /// `daemon --system`.
    System(Vec<PathBuf>),
}

impl Scope {
    /// Whether `socket` belongs to this scope.
    pub fn contains(&self, socket: &Path) -> bool {
        match self {
            Scope::Socket(p) => p == socket,
            Scope::Folder(dir) => socket.parent() == Some(dir.as_path()),
            Scope::System(bases) => socket
                .parent()
                .and_then(|f| Some((f.parent()?, f.file_name()?.to_str()?)))
                .is_some_and(|(base, name)| {
                    folder_uid(name).is_some() && bases.iter().any(|b| b == base)
                }),
        }
    }

    /// The path events of the daemon itself (`audit-*`) name as their `server`.
    pub fn display(&self) -> String {
        match self {
            Scope::Socket(p) | Scope::Folder(p) => p.display().to_string(),
            Scope::System(bases) => {
                let bases: Vec<String> = bases
                    .iter()
                    .map(|b| format!("{}/tmux-*", b.display()))
                    .collect();
                format!("system:{}", bases.join(","))
            }
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
        Scope::System(bases) => return run_system(bases, found),
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

/// The uid the trusted `tmux-UID` folder holding `socket` names, in host mode; `None` in other
/// scopes.
pub fn named_owner(scope: &Scope, socket: &Path) -> Option<u32> {
    match scope {
        Scope::System(_) => folder_uid(socket.parent()?.file_name()?.to_str()?),
        Scope::Socket(_) | Scope::Folder(_) => None,
    }
}

/// The uid a tmux folder's name claims (`tmux-1000`).
fn folder_uid(name: &str) -> Option<u32> {
    name.strip_prefix("tmux-")?.parse().ok()
}

/// Whether `folder` is a tmux folder tmux itself would use: a real folder (not a link) owned by
/// the uid its name claims, closed to others. Anything else — say a user's `/tmp/tmux-0` made
/// to look like root's — is not watched. The watcher asks again before each connection: a
/// folder removed and made again by someone else stops being trusted.
pub fn trusted_folder(folder: &Path) -> bool {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Some(uid) = folder
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(folder_uid)
    else {
        return false;
    };
    match std::fs::symlink_metadata(folder) {
        Ok(m) => m.is_dir() && m.uid() == uid && m.permissions().mode() & 0o077 == 0,
        Err(_) => false,
    }
}

/// [`run`] for [`Scope::System`]: every trusted `tmux-UID` folder in `bases`, now and later,
/// and every socket in them.
fn run_system(bases: &[PathBuf], mut found: impl FnMut(PathBuf, bool)) -> std::io::Result<()> {
    let mut inotify = Inotify::init()?;
    let mut folders: std::collections::HashMap<inotify::WatchDescriptor, PathBuf> =
        std::collections::HashMap::new();
    let mut base_of: std::collections::HashMap<inotify::WatchDescriptor, PathBuf> =
        std::collections::HashMap::new();
    for base in bases {
        let wd = inotify.watches().add(
            base,
            WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::ONLYDIR,
        )?;
        base_of.insert(wd, base.clone());
    }
    let watch_folder = |inotify: &mut Inotify,
                        folders: &mut std::collections::HashMap<_, _>,
                        folder: PathBuf,
                        initial: bool,
                        found: &mut dyn FnMut(PathBuf, bool)| {
        if !trusted_folder(&folder) {
            tracing::warn!(folder = %folder.display(), "not a tmux folder its named user owns and keeps private: not watched");
            return;
        }
        match inotify.watches().add(
            &folder,
            WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::ONLYDIR,
        ) {
            Ok(wd) => {
                folders.insert(wd, folder.clone());
            }
            Err(e) => {
                tracing::warn!(folder = %folder.display(), "cannot watch: {e}");
                return;
            }
        }
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            if entry.file_type().map(|t| t.is_socket()).unwrap_or(false) {
                found(entry.path(), initial);
            }
        }
    };
    for base in bases {
        for entry in std::fs::read_dir(base)?.flatten() {
            let name = entry.file_name();
            if name.to_str().and_then(folder_uid).is_some() {
                watch_folder(&mut inotify, &mut folders, entry.path(), true, &mut found);
            }
        }
    }
    let mut buffer = [0u8; 4096];
    loop {
        let mut new_folders = Vec::new();
        let mut overflowed = false;
        for event in inotify.read_events_blocking(&mut buffer)? {
            // Events were dropped (a flood of files in /tmp, say): look at everything again.
            overflowed |= event.mask.contains(inotify::EventMask::Q_OVERFLOW);
            // A folder removed (its watch ended): forgotten, so no rescan reaches it by path.
            if event.mask.contains(inotify::EventMask::IGNORED) {
                folders.remove(&event.wd);
                continue;
            }
            let Some(name) = event.name else { continue };
            if let Some(base) = base_of.get(&event.wd) {
                if name.to_str().and_then(folder_uid).is_some() {
                    new_folders.push(base.join(name));
                }
            } else if let Some(folder) = folders.get(&event.wd) {
                let p = folder.join(name);
                if is_socket(&p) {
                    found(p, false);
                }
            }
        }
        if overflowed {
            tracing::warn!("inotify dropped events: looking at every tmux folder again");
            let watched: std::collections::BTreeSet<PathBuf> = folders.values().cloned().collect();
            for base in bases {
                for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
                    let path = entry.path();
                    let named = entry.file_name().to_str().and_then(folder_uid).is_some();
                    if named && !watched.contains(&path) {
                        new_folders.push(path);
                    }
                }
            }
            for folder in watched.iter().filter(|f| trusted_folder(f)) {
                for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
                    if entry.file_type().map(|t| t.is_socket()).unwrap_or(false) {
                        found(entry.path(), false);
                    }
                }
            }
        }
        for folder in new_folders {
            watch_folder(&mut inotify, &mut folders, folder, false, &mut found);
        }
    }
}
