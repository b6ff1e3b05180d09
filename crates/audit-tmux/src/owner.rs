//! Whose server a socket is. A root daemon (`daemon --system`) talks to each user's server *as
//! that user*: a tmux server can make its clients run a shell command (`detach-client -E`), so a
//! root control client attached to a user's server would run that user's commands as root. As
//! the owner, the worst a server can make our client do is what its owner can do anyway.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A user to run tmux clients as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Its uid.
    pub uid: u32,
    /// Its primary group.
    pub gid: u32,
}

/// The owner of `socket` when this process is root and the socket is another user's: whom to
/// run tmux clients for it as. `None`: run as ourselves (our own server, or not root).
pub fn act_as(socket: &Path) -> Option<Owner> {
    // SAFETY: geteuid cannot fail and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let uid = std::fs::symlink_metadata(socket).ok()?.uid();
    if uid == 0 {
        return None;
    }
    Some(Owner {
        uid,
        gid: crate::users::group_of(uid).unwrap_or(uid),
    })
}

/// Applies [`act_as`] to a command about to run a tmux client for `socket`. Dropping from root
/// also drops root's supplementary groups (the standard library clears them when it sets uid).
pub fn confine(command: &mut std::process::Command, socket: &Path) {
    use std::os::unix::process::CommandExt;
    if let Some(o) = act_as(socket) {
        command.uid(o.uid).gid(o.gid);
    }
}

/// Gives `dir` to the owner of `socket` when we act for another user (their server's copiers,
/// run by tmux as them, write into it).
pub fn hand_over(dir: &Path, socket: &Path) -> std::io::Result<()> {
    match act_as(socket) {
        Some(o) => std::os::unix::fs::chown(dir, Some(o.uid), Some(o.gid)),
        None => Ok(()),
    }
}
