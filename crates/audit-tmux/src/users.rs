//! User names for uids, through the system's user database (NSS), for the few places tmux does
//! not name the user itself.

/// The name of `uid`, if the user database knows it.
pub fn name_of(uid: u32) -> Option<String> {
    entry_of(uid).map(|(name, _)| name)
}

/// Names of uids, looked up once a minute at most per uid: for paths that name a user per
/// event (every program run in a pane), where asking NSS each time (it reads `/etc/passwd`)
/// would cost more than the rest of the event.
#[derive(Debug, Default)]
pub struct NameCache(std::collections::HashMap<u32, (Option<String>, std::time::Instant)>);

impl NameCache {
    /// How long a looked-up name is trusted (a renamed or new user shows within this).
    pub const FRESH: std::time::Duration = std::time::Duration::from_secs(60);

    /// The name of `uid`, if the user database knew it when last asked.
    pub fn name_of(&mut self, uid: u32) -> Option<String> {
        match self.0.get(&uid) {
            Some((name, at)) if at.elapsed() < Self::FRESH => name.clone(),
            _ => {
                let name = name_of(uid);
                self.0
                    .insert(uid, (name.clone(), std::time::Instant::now()));
                name
            }
        }
    }
}

/// The primary group of `uid`, if the user database knows it.
pub fn group_of(uid: u32) -> Option<u32> {
    entry_of(uid).map(|(_, gid)| gid)
}

/// `uid`'s name and primary group.
fn entry_of(uid: u32) -> Option<(String, u32)> {
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: `pwd` and `buf` outlive the call and `buf.len()` is its true size; on success
    // `pw_name` points into `buf`, which we read before it is dropped.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        Some((
            std::ffi::CStr::from_ptr(pwd.pw_name)
                .to_string_lossy()
                .into_owned(),
            pwd.pw_gid,
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_is_root() {
        assert_eq!(super::name_of(0).as_deref(), Some("root"));
        let mut cache = super::NameCache::default();
        assert_eq!(cache.name_of(0).as_deref(), Some("root"));
        assert_eq!(cache.name_of(0).as_deref(), Some("root"), "from the cache");
    }
}
