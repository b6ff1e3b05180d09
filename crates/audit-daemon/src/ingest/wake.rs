//! Waking the ingester when a spool changes (inotify), so an idle daemon sleeps instead of
//! looking at quiet spools on a timer.

use inotify::{EventMask, Inotify, WatchMask};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// Watches `spool_dir` and every server folder in it (those created later too), calling `wake`
/// after each batch of changes, until `wake` returns false. Returns early only if inotify cannot
/// be set up; the ingester then looks on a timer instead.
pub fn watch(spool_dir: &Path, wake: impl Fn() -> bool) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(spool_dir)?;
    let mut inotify = Inotify::init()?;
    let spools = WatchMask::MODIFY | WatchMask::CLOSE_WRITE | WatchMask::CREATE;
    let top = inotify.watches().add(spool_dir, WatchMask::CREATE)?;
    // Folders already there (after the watch, so none created in between is missed).
    for entry in std::fs::read_dir(spool_dir)?.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            inotify.watches().add(entry.path(), spools)?;
        }
    }
    let mut buffer = [0u8; 4096];
    loop {
        let mut new_folders = Vec::new();
        for event in inotify.read_events_blocking(&mut buffer)? {
            if event.wd == top && event.mask.contains(EventMask::ISDIR) {
                if let Some(name) = event.name {
                    new_folders.push(spool_dir.join(name));
                }
            }
        }
        for folder in new_folders {
            inotify.watches().add(folder, spools)?;
        }
        if !wake() {
            return Ok(());
        }
    }
}
