//! Whose server a socket is. A root daemon talks to each user's server *as that user*: a tmux
//! server can make its clients run a shell command (`detach-client -E`), so a root control
//! client attached to a user's server would run that user's commands as root. As the owner,
//! the worst a server can make our client do is what its owner can do anyway.
//!
//! The owner is decided once, when the server is found ([`Owner::for_socket`]) — in host mode
//! from the trusted `tmux-UID` folder the socket is in (checked by discovery) — never from the
//! socket file at each connection, which its owner could swap for a root-owned one in between.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

/// A user to run tmux clients as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Its uid.
    pub uid: u32,
    /// Its primary group.
    pub gid: u32,
}

impl Owner {
    /// Whom to act as for `socket`; `None`: as ourselves (not root, or root's own server).
    /// `named_uid` is the uid a trusted `tmux-UID` folder names (host mode); without one the
    /// socket file's owner is read now, once. `Err` when it cannot be told: then the server is
    /// not watched rather than watched as root.
    pub fn for_socket(socket: &Path, named_uid: Option<u32>) -> std::io::Result<Option<Owner>> {
        // SAFETY: geteuid cannot fail and touches no memory.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(None);
        }
        let uid = match named_uid {
            Some(uid) => uid,
            None => std::fs::symlink_metadata(socket)?.uid(),
        };
        Ok((uid != 0).then(|| Owner {
            uid,
            gid: crate::users::group_of(uid).unwrap_or(uid),
        }))
    }

    /// Makes `command` run as this user. Dropping from root also drops root's supplementary
    /// groups (the standard library clears them when it sets the uid).
    pub fn confine(self, command: &mut std::process::Command) {
        command.uid(self.uid).gid(self.gid);
    }

    /// Gives `dir` to this user (their server's copiers, run by tmux as them, write in it).
    pub fn hand_over(self, dir: &Path) -> std::io::Result<()> {
        std::os::unix::fs::lchown(dir, Some(self.uid), Some(self.gid))
    }
}
