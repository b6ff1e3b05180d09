//! tmux clients as the kernel sees them: whether an exec'd program is tmux, and what its
//! arguments say it will do (which server, how many commands).
//!
//! A command-only client (`tmux capture-pane -p -t prod` run from a shell) produces no
//! notification and no hook in tmux; only the server's message log names it, and only for
//! whoever reads the log next. The kernel reports its exec and exit the moment they happen, so
//! the daemon can read the log right after the client ran, and time the command from the
//! kernel.
//!
//! A program is taken for tmux when its executable is one of the known tmux binaries (same
//! device and inode), or when its first [`HEAD`] bytes are those of one: a copy of tmux under
//! another name (even with bytes appended) is still recognised. The verdict is kept per
//! executable file, so only the first exec of each program costs a read.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// How many leading bytes of an executable are compared with tmux's.
pub const HEAD: usize = 64 * 1024;

/// The first bytes, compared as they are before the whole head is read and hashed: ELF
/// headers differ between programs, so most executables are told apart by one small read.
const FIRST: usize = 4096;

/// Verdicts kept at most (one per distinct executable file seen).
const KEPT: usize = 4096;

/// An executable file: device, inode, size, change time (a file rewritten in place is judged
/// again).
type FileKey = (u64, u64, u64, i64);

/// The tmux binaries known, and what was decided about every other executable seen.
#[derive(Debug, Default)]
pub struct TmuxBinaries {
    /// (device, inode) of each known tmux binary.
    known: Vec<(u64, u64)>,
    /// BLAKE3 of each known binary's first [`HEAD`] bytes, and those bytes' first [`FIRST`].
    heads: Vec<([u8; 32], Vec<u8>)>,
    verdicts: HashMap<FileKey, bool>,
}

impl TmuxBinaries {
    /// Adds a tmux binary (a path, or `/proc/PID/exe` of a running server). False if it
    /// cannot be read.
    pub fn add(&mut self, path: &Path) -> bool {
        let Ok(meta) = std::fs::metadata(path) else {
            return false;
        };
        let id = (meta.dev(), meta.ino());
        if self.known.contains(&id) {
            return true;
        }
        let Some(head) = read_head(path, HEAD) else {
            return false;
        };
        self.known.push(id);
        let hash = *blake3::hash(&head).as_bytes();
        if !self.heads.iter().any(|(h, _)| *h == hash) {
            self.heads.push((hash, head[..FIRST].to_vec()));
        }
        // A program judged before it was known may be tmux after all.
        self.verdicts.clear();
        true
    }

    /// Whether no tmux binary is known yet.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Whether process `pid` (read under `proc`, normally `/proc`) runs tmux. False when it
    /// is gone already.
    pub fn runs_tmux(&mut self, proc: &Path, pid: u32) -> bool {
        let exe = proc.join(pid.to_string()).join("exe");
        let Ok(meta) = std::fs::metadata(&exe) else {
            return false;
        };
        if self.known.contains(&(meta.dev(), meta.ino())) {
            return true;
        }
        let key = (meta.dev(), meta.ino(), meta.size(), meta.ctime());
        if let Some(&v) = self.verdicts.get(&key) {
            return v;
        }
        if meta.size() < HEAD as u64 {
            return self.keep(key, false);
        }
        let Some(first) = read_head(&exe, FIRST) else {
            return false; // gone before it could be read: judged again next time
        };
        if !self.heads.iter().any(|(_, f)| *f == first) {
            return self.keep(key, false);
        }
        match read_head(&exe, HEAD) {
            Some(head) => {
                let hash = *blake3::hash(&head).as_bytes();
                let v = self.heads.iter().any(|(h, _)| *h == hash);
                self.keep(key, v)
            }
            None => false,
        }
    }

    fn keep(&mut self, key: FileKey, v: bool) -> bool {
        if self.verdicts.len() >= KEPT {
            self.verdicts.clear();
        }
        self.verdicts.insert(key, v);
        v
    }
}

/// The first `len` bytes of `path`; `None` if it is shorter or cannot be read.
fn read_head(path: &Path, len: usize) -> Option<Vec<u8>> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = vec![0; len];
    let mut got = 0;
    while got < len {
        match f.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    (got == len).then_some(buf)
}

/// What a tmux command line says it does (tmux 3.3a's `getopt` string
/// `2c:CDdf:hlL:NqS:T:uUvV`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// `-S PATH`.
    pub socket_path: Option<Vec<u8>>,
    /// `-L NAME`.
    pub socket_name: Option<Vec<u8>>,
    /// Where the command starts in argv (`None`: no command, tmux runs `new-session`).
    pub command_at: Option<usize>,
    /// How many commands it runs (`;`-separated; at least 1).
    pub commands: usize,
    /// Whether it talks to a server at all (`-V`, `-h` and `-c` do not).
    pub connects: bool,
}

impl Invocation {
    /// Reads tmux's global options from `argv` (argv\[0\] is the program).
    pub fn parse(argv: &[Vec<u8>]) -> Invocation {
        let mut inv = Invocation {
            socket_path: None,
            socket_name: None,
            command_at: None,
            commands: 1,
            connects: true,
        };
        let mut i = 1;
        while i < argv.len() {
            let arg = &argv[i];
            if arg.as_slice() == b"--" {
                i += 1;
                break;
            }
            if arg.len() < 2 || arg[0] != b'-' {
                break;
            }
            let mut j = 1;
            while j < arg.len() {
                let f = arg[j];
                if b"cfLST".contains(&f) {
                    let value = if j + 1 < arg.len() {
                        Some(arg[j + 1..].to_vec())
                    } else {
                        i += 1;
                        argv.get(i).cloned()
                    };
                    match f {
                        b'S' => inv.socket_path = value,
                        b'L' => inv.socket_name = value,
                        b'c' => inv.connects = false,
                        _ => {}
                    }
                    break;
                }
                if f == b'V' || f == b'h' {
                    inv.connects = false;
                }
                j += 1;
            }
            i += 1;
        }
        if i < argv.len() {
            inv.command_at = Some(i);
            // tmux splits commands at an argument that is `;` or ends in an unescaped `;`.
            inv.commands += argv[i..]
                .iter()
                .filter(|a| a.as_slice() == b";" || (a.ends_with(b";") && !a.ends_with(b"\\;")))
                .count();
        }
        inv
    }

    /// The socket this client connects to, as tmux 3.3a works it out: `-S` (relative to the
    /// client's working directory `cwd`); else `$TMUX` (up to its first comma) unless `-L`
    /// names one; else `-L NAME` or `default` in `$TMUX_TMPDIR` (else `/tmp`) `/tmux-UID/`.
    pub fn socket(
        &self,
        cwd: Option<&Path>,
        uid: u32,
        env_tmux: Option<&[u8]>,
        env_tmpdir: Option<&[u8]>,
    ) -> Option<PathBuf> {
        use std::os::unix::ffi::OsStrExt;
        let path = |b: &[u8]| PathBuf::from(std::ffi::OsStr::from_bytes(b));
        if let Some(p) = &self.socket_path {
            let p = path(p);
            return Some(if p.is_absolute() { p } else { cwd?.join(p) });
        }
        if self.socket_name.is_none() {
            if let Some(t) = env_tmux.filter(|t| !t.is_empty()) {
                let end = t.iter().position(|&b| b == b',').unwrap_or(t.len());
                return Some(path(&t[..end]));
            }
        }
        let dir = env_tmpdir
            .filter(|d| !d.is_empty())
            .map_or_else(|| PathBuf::from("/tmp"), path);
        let name = self.socket_name.as_deref().unwrap_or(b"default");
        Some(dir.join(format!("tmux-{uid}")).join(path(name)))
    }
}

/// One variable of `/proc/PID/environ` (`NAME=value\0...`).
pub fn env_var<'a>(environ: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    environ.split(|&b| b == 0).find_map(|kv| {
        kv.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(b"="))
    })
}

/// The name tmux gives a client: its stdin's terminal (`ttyname(0)`), else `client-PID`.
pub fn client_name(proc: &Path, pid: u32) -> String {
    use std::os::unix::ffi::OsStrExt;
    let tty = std::fs::read_link(proc.join(pid.to_string()).join("fd/0")).ok();
    match tty {
        Some(t) if is_terminal(t.as_os_str().as_bytes()) => t.display().to_string(),
        _ => format!("client-{pid}"),
    }
}

fn is_terminal(path: &[u8]) -> bool {
    path.starts_with(b"/dev/pts/") || path.starts_with(b"/dev/tty")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn reads_the_socket_and_the_commands_from_the_arguments() {
        let inv = Invocation::parse(&argv(&[
            "tmux",
            "-S",
            "s",
            "capture-pane",
            "-p",
            "-t",
            "prod",
        ]));
        assert_eq!(inv.socket_path.as_deref(), Some(&b"s"[..]));
        assert_eq!(inv.command_at, Some(3));
        assert_eq!(inv.commands, 1);
        assert!(inv.connects);
        let sock = inv.socket(Some(Path::new("/home/a")), 1000, None, None);
        assert_eq!(sock, Some(PathBuf::from("/home/a/s")));

        let inv = Invocation::parse(&argv(&["tmux", "-Lwork", "-N", "ls", ";", "kill-server"]));
        assert_eq!(inv.socket_name.as_deref(), Some(&b"work"[..]));
        assert_eq!(inv.commands, 2);
        let sock = inv.socket(
            None,
            65534,
            Some(b"/tmp/tmux-0/default,1,0"),
            Some(b"/run/t"),
        );
        assert_eq!(sock, Some(PathBuf::from("/run/t/tmux-65534/work")));

        let inv = Invocation::parse(&argv(&["tmux", "send-keys", "a;", "b\\;", "x;"]));
        assert_eq!(inv.commands, 3);
        // Inside tmux, $TMUX names the server.
        let sock = inv.socket(None, 0, Some(b"/tmp/x/sock,77,3"), None);
        assert_eq!(sock, Some(PathBuf::from("/tmp/x/sock")));
        let sock = Invocation::parse(&argv(&["tmux"])).socket(None, 5, None, None);
        assert_eq!(sock, Some(PathBuf::from("/tmp/tmux-5/default")));
        assert_eq!(Invocation::parse(&argv(&["tmux"])).command_at, None);
    }

    #[test]
    fn version_help_and_shell_mode_do_not_connect() {
        for words in [
            &["tmux", "-V"][..],
            &["tmux", "-h"],
            &["tmux", "-c", "ls"],
            &["tmux", "-uV"],
        ] {
            assert!(!Invocation::parse(&argv(words)).connects, "{words:?}");
        }
        assert!(Invocation::parse(&argv(&["tmux", "-f", "-V", "ls"])).connects);
    }

    #[test]
    fn environ_variables_are_found_exactly() {
        let env = b"TMUXX=1\0TMUX=/tmp/s,1,2\0TMUX_TMPDIR=/r\0";
        assert_eq!(env_var(env, b"TMUX"), Some(&b"/tmp/s,1,2"[..]));
        assert_eq!(env_var(env, b"TMUX_TMPDIR"), Some(&b"/r"[..]));
        assert_eq!(env_var(env, b"HOME"), None);
    }

    #[test]
    fn a_copy_of_tmux_under_another_name_is_still_tmux() {
        let dir = tempfile::tempdir().unwrap();
        let tmux = dir.path().join("tmux");
        let mut body = vec![7u8; HEAD + 100];
        body[..4].copy_from_slice(b"\x7fELF");
        std::fs::write(&tmux, &body).unwrap();
        let copy = dir.path().join("not-tmux");
        body.extend_from_slice(b"appended");
        std::fs::write(&copy, &body).unwrap();
        let other = dir.path().join("other");
        body[100] = 8;
        std::fs::write(&other, &body).unwrap();
        // Same first 4 KiB, another head: told apart by the hash.
        let late = dir.path().join("late");
        body[100] = 7;
        body[FIRST + 1] = 9;
        std::fs::write(&late, &body).unwrap();
        let mut bins = TmuxBinaries::default();
        assert!(bins.add(&tmux));
        // runs_tmux reads /proc/PID/exe; a fake proc tree points exe at each file.
        let proc = dir.path().join("proc");
        for (pid, target) in [(1, &tmux), (2, &copy), (3, &other), (5, &late)] {
            std::fs::create_dir_all(proc.join(pid.to_string())).unwrap();
            std::os::unix::fs::symlink(target, proc.join(pid.to_string()).join("exe")).unwrap();
        }
        assert!(bins.runs_tmux(&proc, 1));
        assert!(bins.runs_tmux(&proc, 2));
        assert!(!bins.runs_tmux(&proc, 3));
        assert!(!bins.runs_tmux(&proc, 5));
        assert!(!bins.runs_tmux(&proc, 4), "gone");
    }
}
