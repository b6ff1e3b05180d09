//! The system's user database: who a user is, and which groups they are in.
//!
//! Goes through libc (so NSS: files, LDAP, sssd…) with the reentrant calls, as the server
//! looks users up from several threads; buffers grow until the entry fits.

use std::ffi::{c_char, c_int, CStr, CString};
use std::mem::MaybeUninit;

/// Largest buffer offered to getpwnam_r/getgrnam_r: a group with thousands of members needs
/// a big one, but a broken NSS module must not make us allocate forever.
const MAX_BUF: usize = 1 << 22;

/// Most groups asked of getgrouplist; far above NGROUPS_MAX (65536).
const MAX_GROUPS: usize = 1 << 20;

/// A user of the system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The user name, as the database spells it.
    pub user: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary group.
    pub gid: u32,
}

/// The account named `user`; `None` when there is none (or the database cannot be read).
pub fn lookup(user: &str) -> Option<Account> {
    let name = CString::new(user).ok()?;
    let mut pwd = MaybeUninit::<libc::passwd>::uninit();
    with_growing_buffer(|buf, result: &mut *mut libc::passwd| {
        // SAFETY: `name` is NUL-terminated; `pwd`, `buf` (with its true length) and `result`
        // are valid for writes for the whole call; getpwnam_r writes only inside them.
        unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                pwd.as_mut_ptr(),
                buf.as_mut_ptr(),
                buf.len(),
                result,
            )
        }
    })
    .map(|(pw, _buf)| {
        // SAFETY: `pw` is the non-null result of a successful getpwnam_r, pointing at `pwd`,
        // whose strings live in `_buf`, which is still alive here.
        let pw = unsafe { &*pw };
        // SAFETY: pw_name is a NUL-terminated string inside the buffer.
        let user = unsafe { CStr::from_ptr(pw.pw_name) };
        Account {
            user: user.to_string_lossy().into_owned(),
            uid: pw.pw_uid,
            gid: pw.pw_gid,
        }
    })
}

/// The gid of the group `name`; `None` when there is no such group.
pub fn group(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    let mut grp = MaybeUninit::<libc::group>::uninit();
    with_growing_buffer(|buf, result: &mut *mut libc::group| {
        // SAFETY: as in `lookup`: every pointer is valid for the call, the length is true.
        unsafe {
            libc::getgrnam_r(
                name.as_ptr(),
                grp.as_mut_ptr(),
                buf.as_mut_ptr(),
                buf.len(),
                result,
            )
        }
    })
    // SAFETY: the non-null result of a successful getgrnam_r points at an initialised `grp`.
    .map(|(gr, _buf)| unsafe { (*gr).gr_gid })
}

/// Whether `account` is in group `gid`: as its primary group, or as a supplementary group
/// (the member lists of the group database, as `id` shows them).
pub fn in_group(account: &Account, gid: u32) -> bool {
    if account.gid == gid {
        return true;
    }
    let Ok(name) = CString::new(account.user.as_str()) else {
        return false;
    };
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut n = c_int::try_from(groups.len()).unwrap_or(c_int::MAX);
        // SAFETY: `name` is NUL-terminated; `groups` has room for `n` gids, and getgrouplist
        // writes at most `n` of them, storing the count it found in `n`.
        let rc =
            unsafe { libc::getgrouplist(name.as_ptr(), account.gid, groups.as_mut_ptr(), &mut n) };
        let found = usize::try_from(n).unwrap_or(0);
        if rc != -1 {
            return groups[..found.min(groups.len())].contains(&gid);
        }
        // -1: too small; glibc has set `n` to the number needed.
        let want = found.max(groups.len() * 2);
        if want > MAX_GROUPS || want <= groups.len() {
            return false;
        }
        groups.resize(want, 0);
    }
}

/// Runs a `get*_r` call with a buffer that doubles while the call says ERANGE.
/// Returns the result pointer and the buffer it points into (which must outlive its use).
fn with_growing_buffer<T>(
    mut call: impl FnMut(&mut [c_char], &mut *mut T) -> c_int,
) -> Option<(*mut T, Vec<c_char>)> {
    let mut buf: Vec<c_char> = vec![0; 1024];
    loop {
        let mut result: *mut T = std::ptr::null_mut();
        let rc = call(&mut buf, &mut result);
        if rc == 0 {
            // rc 0 with a null result: no such entry.
            return (!result.is_null()).then_some((result, buf));
        }
        if rc != libc::ERANGE || buf.len() >= MAX_BUF {
            // ENOENT, ESRCH, EBADF, EPERM… are how some NSS modules say "not found";
            // other errors mean the database cannot be read. Either way: no account.
            return None;
        }
        let len = buf.len() * 2;
        buf.resize(len, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::pam::tests::{TempUser, USERS};
    use std::process::Command;

    /// A local group that exists for the life of the guard.
    struct TempGroup(String);

    impl Drop for TempGroup {
        fn drop(&mut self) {
            match Command::new("groupdel").arg(&self.0).status() {
                Ok(s) if s.success() => {}
                other => eprintln!("groupdel {}: {other:?}", self.0),
            }
        }
    }

    fn run(cmd: &str, args: &[&str]) {
        let status = Command::new(cmd).args(args).status().expect(cmd);
        assert!(status.success(), "{cmd} {args:?}: {status}");
    }

    #[test]
    fn supplementary_group_membership() {
        let _lock = USERS.lock().unwrap_or_else(|e| e.into_inner());
        // Declared first, so dropped after the user that is a member of it.
        let name = format!("ta_acctest_{}", std::process::id());
        run("groupadd", &[&name]);
        let grp = TempGroup(name);
        let user = TempUser::create("g", "Correct-horse-7");
        let gid = group(&grp.0).expect("the new group");
        let account = lookup(&user.0).expect("the new user");
        assert_eq!(account.user, user.0);
        assert_ne!(account.gid, gid);
        assert!(!in_group(&account, gid), "not a member yet");
        run("usermod", &["-a", "-G", &grp.0, &user.0]);
        assert!(in_group(&account, gid), "a supplementary member");
    }

    #[test]
    fn root_is_uid_0() {
        let root = lookup("root").expect("root exists");
        assert_eq!(root.user, "root");
        assert_eq!((root.uid, root.gid), (0, 0));
    }

    #[test]
    fn nobody_exists_and_is_not_root() {
        let nobody = lookup("nobody").expect("nobody exists");
        assert_eq!(nobody.user, "nobody");
        assert_ne!(nobody.uid, 0);
        assert_ne!(nobody.gid, 0);
    }

    #[test]
    fn unknown_user_is_none() {
        assert_eq!(lookup("ta_no_such_user_xq7"), None);
        assert_eq!(lookup("bad\0name"), None);
        assert_eq!(lookup(""), None);
    }

    #[test]
    fn groups_by_name() {
        assert_eq!(group("root"), Some(0));
        assert_eq!(group("ta_no_such_group_xq7"), None);
    }

    #[test]
    fn membership() {
        let root = lookup("root").unwrap();
        assert!(in_group(&root, 0));
        let nobody = lookup("nobody").unwrap();
        assert!(in_group(&nobody, nobody.gid));
        // Not its primary group, so this goes through getgrouplist, which must say no.
        assert!(!in_group(&nobody, 0));
        let ghost = Account {
            user: "ta_no_such_user_xq7".into(),
            uid: 4242,
            gid: 4242,
        };
        assert!(!in_group(&ghost, 0));
    }
}
