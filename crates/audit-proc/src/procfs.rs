//! What `/proc` still shows of a process: read the moment its exec is reported, because a
//! short command may be gone a millisecond later.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A process as `/proc/PID` shows it. Fields it could not read are `None` (the process ended,
/// or belongs to a user whose `/proc` entries this one may not read).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcInfo {
    /// The arguments, exactly as bytes (no encoding assumed; may hold newlines, escapes,
    /// invalid UTF-8).
    pub argv: Option<Vec<Vec<u8>>>,
    /// The working directory, exactly as bytes.
    pub cwd: Option<Vec<u8>>,
    /// The real uid.
    pub uid: Option<u32>,
    /// The parent process.
    pub ppid: Option<u32>,
    /// The kernel's short name for it (`comm`, at most 15 bytes).
    pub comm: Option<Vec<u8>>,
}

/// Reads `/proc/PID` under `root` (normally `/proc`).
pub fn read(root: &std::path::Path, pid: u32) -> ProcInfo {
    let dir: PathBuf = root.join(pid.to_string());
    let argv = std::fs::read(dir.join("cmdline")).ok().and_then(|raw| {
        // A kernel thread or a zombie has an empty cmdline: nothing to say.
        (!raw.is_empty()).then(|| split_argv(&raw))
    });
    let cwd = std::fs::read_link(dir.join("cwd"))
        .ok()
        .map(|p| p.as_os_str().as_bytes().to_vec());
    let status = std::fs::read(dir.join("status")).unwrap_or_default();
    let field = |name: &[u8]| {
        status
            .split(|&b| b == b'\n')
            .find_map(|line| line.strip_prefix(name))
            .map(|v| v.trim_ascii().to_vec())
    };
    let number = |name: &[u8]| {
        let v = field(name)?;
        let first = v.split(|b| b.is_ascii_whitespace()).next()?;
        std::str::from_utf8(first).ok()?.parse().ok()
    };
    ProcInfo {
        argv,
        cwd,
        uid: number(b"Uid:"),
        ppid: number(b"PPid:"),
        comm: field(b"Name:"),
    }
}

/// Whether process `pid` runs (exists and is not a zombie waiting for its parent).
pub fn alive(root: &Path, pid: u32) -> bool {
    let Ok(stat) = std::fs::read(root.join(pid.to_string()).join("stat")) else {
        return false;
    };
    let state = stat
        .iter()
        .rposition(|&b| b == b')')
        .and_then(|i| stat.get(i + 2));
    !matches!(state, Some(b'Z' | b'X') | None)
}

/// The parent of `pid`, from `/proc/PID/stat` (the field after the parenthesised name, which
/// may itself hold spaces and parentheses).
pub fn parent_of(root: &Path, pid: u32) -> Option<u32> {
    let stat = std::fs::read(root.join(pid.to_string()).join("stat")).ok()?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Every process's parent, as `/proc` lists them now.
pub fn parents(root: &Path) -> HashMap<u32, u32> {
    let Ok(dir) = std::fs::read_dir(root) else {
        return HashMap::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, parent_of(root, pid)?)))
        .collect()
}

/// The root among `roots` that `pid` descends from (not counting `pid` itself), if any.
pub fn root_of<T>(pid: u32, parents: &HashMap<u32, u32>, roots: &HashMap<u32, T>) -> Option<u32> {
    let mut at = pid;
    // Bounded: the kernel's tree has no cycles, but a racing read could make one.
    for _ in 0..64 {
        let parent = *parents.get(&at)?;
        if roots.contains_key(&parent) {
            return Some(parent);
        }
        if parent <= 1 {
            return None;
        }
        at = parent;
    }
    None
}

/// `cmdline` is the arguments each followed by a NUL.
pub(crate) fn split_argv(raw: &[u8]) -> Vec<Vec<u8>> {
    let raw = raw.strip_suffix(b"\0").unwrap_or(raw);
    raw.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_keeps_every_byte_and_empty_arguments() {
        assert_eq!(
            split_argv(b"printf\0a\nb\x1b[31m\xff\0\0"),
            vec![
                b"printf".to_vec(),
                b"a\nb\x1b[31m\xff".to_vec(),
                b"".to_vec()
            ]
        );
    }

    #[test]
    fn reads_this_process() {
        let me = read(std::path::Path::new("/proc"), std::process::id());
        assert!(me.argv.is_some_and(|a| !a.is_empty()));
        assert_eq!(
            me.cwd.as_deref(),
            Some(std::env::current_dir().unwrap().as_os_str().as_bytes())
        );
        // SAFETY: getuid and getppid cannot fail.
        assert_eq!(me.uid, Some(unsafe { libc::getuid() }));
        assert_eq!(me.ppid, Some(unsafe { libc::getppid() } as u32));
        assert!(me.comm.is_some());
    }

    #[test]
    fn this_process_descends_from_its_parent() {
        let proc = Path::new("/proc");
        // SAFETY: getppid cannot fail.
        let ppid = unsafe { libc::getppid() } as u32;
        assert_eq!(parent_of(proc, std::process::id()), Some(ppid));
        let roots = HashMap::from([(ppid, ())]);
        assert_eq!(
            root_of(std::process::id(), &parents(proc), &roots),
            Some(ppid)
        );
        assert_eq!(
            root_of(ppid, &parents(proc), &roots),
            None,
            "a root is not its own"
        );
    }

    #[test]
    fn a_process_that_is_gone_reads_as_nothing() {
        assert_eq!(
            read(std::path::Path::new("/proc"), u32::MAX),
            ProcInfo::default()
        );
    }
}
