//! Users and groups as the system knows them, behind a trait so tests and callers can supply
//! their own.
//!
//! `@group` in a policy means the group's members as `id USER` would list them: the user's
//! primary group and every supplementary group (`getgrouplist`). The system database is asked
//! through NSS, so LDAP or sssd groups count too.

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::Mutex;

use nix::unistd::{getgrouplist, Gid, Group, User};

/// The user and group database a policy is checked against.
pub trait Accounts {
    /// Whether `user` belongs to `group`, as its primary group or a supplementary one. Unknown
    /// users and unknown groups belong to nothing.
    fn is_member(&self, user: &str, group: &str) -> bool;
    /// Whether a user of this name exists (for load-time warnings only).
    fn user_exists(&self, user: &str) -> bool;
    /// Whether a group of this name exists (for load-time warnings only).
    fn group_exists(&self, group: &str) -> bool;
}

/// The system's database (`getpwnam`, `getgrnam`, `getgrouplist`), with answers cached for the
/// life of the value: `getgrouplist` walks the whole group database, and the daemon checks
/// every client change. Make a new one (e.g. on each policy load) to see changed memberships.
/// A failed lookup (an NSS error, not "no such name") is not cached and counts as "not a
/// member", so a broken directory produces violations rather than silently allowing.
#[derive(Debug, Default)]
pub struct SystemAccounts {
    /// User name → the gids of all their groups; `None` when no such user.
    users: Mutex<HashMap<String, Option<Vec<Gid>>>>,
    /// Group name → gid; `None` when no such group.
    groups: Mutex<HashMap<String, Option<Gid>>>,
}

impl SystemAccounts {
    /// An empty cache over the system database.
    pub fn new() -> SystemAccounts {
        SystemAccounts::default()
    }

    fn gids_of(&self, user: &str) -> Option<Vec<Gid>> {
        cached(&self.users, user, || {
            let Some(entry) = User::from_name(user).ok()? else {
                return Some(None);
            };
            let name = CString::new(user).ok()?;
            getgrouplist(&name, entry.gid).ok().map(Some)
        })
    }

    fn gid_of(&self, group: &str) -> Option<Gid> {
        cached(&self.groups, group, || {
            Group::from_name(group).ok().map(|g| g.map(|g| g.gid))
        })
    }
}

/// Looks `key` up in `cache`, else runs `lookup`: `None` from it is a failed lookup (not
/// cached), `Some(None)` a name that does not exist (cached).
fn cached<T: Clone>(
    cache: &Mutex<HashMap<String, Option<T>>>,
    key: &str,
    lookup: impl FnOnce() -> Option<Option<T>>,
) -> Option<T> {
    if key.is_empty() || key.contains('\0') {
        return None;
    }
    let mut cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(hit) = cache.get(key) {
        return hit.clone();
    }
    let found = lookup()?;
    cache.insert(key.to_owned(), found.clone());
    found
}

impl Accounts for SystemAccounts {
    fn is_member(&self, user: &str, group: &str) -> bool {
        match (self.gid_of(group), self.gids_of(user)) {
            (Some(gid), Some(gids)) => gids.contains(&gid),
            _ => false,
        }
    }

    fn user_exists(&self, user: &str) -> bool {
        self.gids_of(user).is_some()
    }

    fn group_exists(&self, group: &str) -> bool {
        self.gid_of(group).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::{Accounts, SystemAccounts};

    #[test]
    fn root_is_in_group_root_through_its_primary_group() {
        let accounts = SystemAccounts::new();
        assert!(accounts.is_member("root", "root"));
        // Asked twice: the second answer comes from the cache and must agree.
        assert!(accounts.is_member("root", "root"));
    }

    #[test]
    fn unknown_names_exist_nowhere_and_belong_to_nothing() {
        let accounts = SystemAccounts::new();
        assert!(!accounts.user_exists("no-such-user-tmux-audit"));
        assert!(!accounts.group_exists("no-such-group-tmux-audit"));
        assert!(!accounts.is_member("no-such-user-tmux-audit", "root"));
        assert!(!accounts.is_member("root", "no-such-group-tmux-audit"));
        assert!(!accounts.is_member("", "root"));
        assert!(!accounts.is_member("ro\0ot", "root"));
    }
}
