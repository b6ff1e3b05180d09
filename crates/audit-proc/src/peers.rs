//! Who is connected to a tmux server's socket, as the kernel — not tmux — reports it.
//!
//! tmux's own view of its clients (`list-clients`) is partly what each client *says* about
//! itself: `#{client_pid}` is whatever the client sent in `MSG_IDENTIFY_CLIENTPID`
//! (`client_send_identify` in tmux 3.3a's `client.c` sends `getpid()`, which an `LD_PRELOAD`
//! shim can replace), and a process that connects without speaking the protocol, or a
//! command-only client between connect and exit, is never listed at all. The kernel knows every
//! connection and who made it; [`peers`] asks it.
//!
//! How, and what was verified on Linux 6.18 with tmux 3.3a before relying on it:
//!
//! - A `NETLINK_SOCK_DIAG` dump (`SOCK_DIAG_BY_FAMILY`, `AF_UNIX`, all states, show
//!   `NAME|VFS|PEER`) lists every unix socket. The listening socket (state `LISTEN`) **and the
//!   server side of each accepted connection** (state `ESTABLISHED`) carry the socket's path as
//!   `UNIX_DIAG_NAME` (the bytes given to `bind`, NUL-terminated) and the socket file's inode
//!   and device as `UNIX_DIAG_VFS` (the device in the kernel's internal `major << 20 | minor`
//!   form, not `st_dev`'s); `UNIX_DIAG_PEER` on the server side is the client socket's inode.
//!   The client's own socket carries no name. (`UNIX_DIAG_UID` is not asked for: on the
//!   server-side socket it is the server's uid, not the client's.)
//! - `readlink /proc/PID/fd/N` is `socket:[INODE]` with the inode the dump reports, so the
//!   server's descriptor for each connection is found by inode. Matching on the server's
//!   descriptors is what ties a connection to *this* server even if another socket was later
//!   bound to the same path.
//! - `pidfd_getfd(pidfd_open(server), fd)` duplicates that descriptor, and `SO_PEERCRED` on it
//!   gives the pid, uid and gid of the process that called `connect` — the same call tmux makes
//!   at accept (`getpeereid`). A client running tmux with `getpid()` replaced by an
//!   `LD_PRELOAD` shim showed its fake pid in `#{client_pid}` (and in its name, `client-4242`)
//!   while `SO_PEERCRED` gave the real one. On the listening socket `SO_PEERCRED` gives the
//!   server itself; it is left out.
//! - `SO_PEERCRED`'s pid is the *connecting* process, frozen at connect: if it forked, handed
//!   the socket on and exited, the pid is dead (and may be reused). `SO_PEERPIDFD` (Linux 6.5+)
//!   returns a pidfd for that same process (`Pid: -1` in its fdinfo once it is gone), so
//!   `/proc/PID/{comm,cmdline}` are read and then kept only if that pidfd shows the process
//!   still alive: they describe the connecting process, never a later one with its pid. On older
//!   kernels the read is not guarded.
//!
//! Cost: one netlink dump, one read of `/proc/SERVER/fd`, and per connection a few syscalls and
//! two small `/proc` reads. Needs root, or the server's owner with ptrace rights over it (both
//! reading `/proc/PID/fd` and `pidfd_getfd` check `PTRACE_MODE_ATTACH`-class access).

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use thiserror::Error;

const NETLINK_SOCK_DIAG: libc::c_int = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const UDIAG_SHOW_NAME: u32 = 0x1;
const UDIAG_SHOW_VFS: u32 = 0x2;
const UDIAG_SHOW_PEER: u32 = 0x4;
const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_VFS: u16 = 1;
const UNIX_DIAG_PEER: u16 = 2;
/// `TCP_LISTEN`, which unix sockets reuse for their listening state.
const STATE_LISTEN: u8 = 10;
/// The asm-generic value, which these architectures use; libc 0.2 does not name it yet.
/// Linux 6.5+. Elsewhere (alpha, mips, parisc, sparc number socket options their own way) it
/// is not asked for at all: 77 could be another option there.
#[cfg(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "arm",
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "loongarch64",
    target_arch = "s390x",
    target_arch = "powerpc64"
))]
const SO_PEERPIDFD: Option<libc::c_int> = Some(77);
#[cfg(not(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "arm",
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "loongarch64",
    target_arch = "s390x",
    target_arch = "powerpc64"
)))]
const SO_PEERPIDFD: Option<libc::c_int> = None;
const NLMSG_HDR: usize = 16;
const UNIX_DIAG_MSG: usize = 16;

/// One connection to a tmux server's socket, as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The tmux server's descriptor for the connection.
    pub server_fd: i32,
    /// The server-side socket's inode.
    pub inode: u64,
    /// The client's socket inode (`UNIX_DIAG_PEER`), to find which process holds it now.
    pub peer_inode: Option<u64>,
    /// `SO_PEERCRED`: the process that connected, as tmux saw it at accept. It may since have
    /// exited and its socket live on in a child ([`Peer::peer_inode`] finds the holder). 0 if
    /// it lives in a pid namespace this process cannot see into.
    pub pid: u32,
    /// `SO_PEERCRED`: the connecting process's effective uid (kernel-attested).
    pub uid: u32,
    /// `SO_PEERCRED`: the connecting process's effective gid.
    pub gid: u32,
    /// `/proc/PID/comm`, if the connecting process still exists.
    pub comm: Option<String>,
    /// `/proc/PID/cmdline`, exactly as bytes, if the connecting process still exists.
    pub argv: Option<Vec<Vec<u8>>>,
}

/// Why the connections could not be listed.
#[derive(Debug, Error)]
pub enum PeersError {
    /// The server process does not exist (any more).
    #[error("tmux server process {pid} is gone")]
    ServerGone {
        /// The pid asked about.
        pid: u32,
    },
    /// The process exists but does not hold the listening socket at that path.
    #[error("process {pid} is not the tmux server listening on {}", socket.display())]
    NotTheServer {
        /// The pid asked about.
        pid: u32,
        /// The socket asked about.
        socket: PathBuf,
    },
    /// The caller may not look into the server's descriptors.
    #[error(
        "not permitted to inspect tmux server {pid}'s connections \
         (run as root, or as the socket's owner with ptrace rights over the server): {source}"
    )]
    NotPermitted {
        /// The server pid.
        pid: u32,
        /// What the kernel said.
        source: io::Error,
    },
    /// The kernel offers no unix socket diagnostics (`CONFIG_UNIX_DIAG` off or its module not
    /// loadable).
    #[error(
        "the kernel's unix socket diagnostics (NETLINK_SOCK_DIAG for AF_UNIX) are unavailable \
         (load the unix_diag module): {0}"
    )]
    SockDiagUnavailable(io::Error),
    /// `pidfd_open` or `pidfd_getfd` is missing (Linux before 5.6).
    #[error("pidfd_open/pidfd_getfd are unavailable (Linux 5.6 or later is needed): {0}")]
    Unsupported(io::Error),
    /// Anything else.
    #[error("cannot list connections to tmux server {pid}: {what}: {source}")]
    Io {
        /// The server pid.
        pid: u32,
        /// The step that failed.
        what: &'static str,
        /// What the kernel said.
        source: io::Error,
    },
}

/// The connections to `socket` held by the tmux server `server_pid`, listening socket excluded.
///
/// A connection that closes while it is being looked at is left out (it is gone); the next
/// call shows the current state. The order is the kernel's.
pub fn peers(server_pid: u32, socket: &Path) -> Result<Vec<Peer>, PeersError> {
    let io_err = |what: &'static str| {
        move |source: io::Error| match source.raw_os_error() {
            Some(libc::ESRCH) => PeersError::ServerGone { pid: server_pid },
            Some(libc::EPERM | libc::EACCES) => PeersError::NotPermitted {
                pid: server_pid,
                source,
            },
            Some(libc::ENOSYS) => PeersError::Unsupported(source),
            _ => PeersError::Io {
                pid: server_pid,
                what,
                source,
            },
        }
    };
    if server_pid == 0 || server_pid > i32::MAX as u32 {
        return Err(PeersError::ServerGone { pid: server_pid });
    }
    // The pidfd first: from here on, "the server" is this process even if its pid is reused.
    let server = pidfd_open(server_pid).map_err(|e| match e.raw_os_error() {
        // EINVAL: a thread id, not a process.
        Some(libc::EINVAL) => PeersError::ServerGone { pid: server_pid },
        _ => io_err("pidfd_open")(e),
    })?;
    let fds = socket_fds(server_pid).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => PeersError::ServerGone { pid: server_pid },
        _ => io_err("reading /proc/PID/fd")(e),
    })?;
    let sockets = dump(|inode| fds.contains_key(&inode)).map_err(|e| match e {
        DumpError::Unavailable(e) => PeersError::SockDiagUnavailable(e),
        DumpError::Io(e) => io_err("sock_diag dump")(e),
    })?;
    let file = FileId::of(socket);
    let ours = |s: &&UnixSocket| s.is_at(socket, file);
    if !sockets.iter().filter(ours).any(|s| s.state == STATE_LISTEN) {
        if exited(&server) {
            return Err(PeersError::ServerGone { pid: server_pid });
        }
        return Err(PeersError::NotTheServer {
            pid: server_pid,
            socket: socket.to_path_buf(),
        });
    }
    let mut out = Vec::new();
    for s in sockets
        .iter()
        .filter(ours)
        .filter(|s| s.state != STATE_LISTEN)
    {
        let server_fd = fds[&s.inode];
        let conn = match pidfd_getfd(&server, server_fd) {
            Ok(fd) => fd,
            // Closed since /proc was read: the connection ended.
            Err(e) if e.raw_os_error() == Some(libc::EBADF) => continue,
            // A failure for one connection while the server lives says nothing about the
            // server: that connection is left out of this look.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) && !exited(&server) => continue,
            Err(e) => return Err(io_err("pidfd_getfd")(e)),
        };
        // The number may have been reused by a newer connection since /proc was read: only the
        // inode says which connection this is.
        if inode_of(&conn).map_err(io_err("fstat"))? != s.inode {
            continue;
        }
        let cred = peer_cred(&conn).map_err(io_err("SO_PEERCRED"))?;
        let client = peer_pidfd(&conn);
        drop(conn);
        let (comm, argv) = describe(cred.pid as u32, client);
        out.push(Peer {
            server_fd,
            inode: s.inode,
            peer_inode: s.peer,
            pid: cred.pid as u32,
            uid: cred.uid,
            gid: cred.gid,
            comm,
            argv,
        });
    }
    // Descriptors read from a server that died meanwhile may describe nothing.
    if exited(&server) {
        return Err(PeersError::ServerGone { pid: server_pid });
    }
    Ok(out)
}

/// `comm` and `argv` of the connecting process, or `None`s once it is gone.
///
/// `client` is its pidfd from `SO_PEERPIDFD`: `Ok(None)` when the kernel has no such option
/// (read unguarded), `Err` when it could give none (the process is gone).
fn describe(
    pid: u32,
    client: io::Result<Option<OwnedFd>>,
) -> (Option<String>, Option<Vec<Vec<u8>>>) {
    let Ok(client) = client else {
        return (None, None);
    };
    if client.as_ref().is_some_and(exited) {
        return (None, None);
    }
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let comm = std::fs::read(dir.join("comm"))
        .ok()
        .map(|c| String::from_utf8_lossy(c.strip_suffix(b"\n").unwrap_or(&c)).into_owned());
    let argv = std::fs::read(dir.join("cmdline"))
        .ok()
        .filter(|raw| !raw.is_empty())
        .map(|raw| crate::procfs::split_argv(&raw));
    // Alive after the reads means it was alive before them: the pid was still its own.
    if client.as_ref().is_some_and(exited) {
        return (None, None);
    }
    (comm, argv)
}

/// The socket file's identity, to match `UNIX_DIAG_VFS`. `None` if it cannot be stat'ed
/// (removed: then only the name can match).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct FileId {
    ino: u64,
    dev: u64,
}

impl FileId {
    fn of(path: &Path) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(FileId {
            ino: m.ino(),
            dev: m.dev(),
        })
    }
}

/// One unix socket from the dump, with what [`peers`] needs of it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct UnixSocket {
    inode: u64,
    state: u8,
    name: Option<Vec<u8>>,
    file: Option<FileId>,
    peer: Option<u64>,
}

impl UnixSocket {
    /// Bound to `path`: the same socket file, or (file gone or unreadable) the same name.
    fn is_at(&self, path: &Path, file: Option<FileId>) -> bool {
        match (file, self.file) {
            (Some(want), Some(have)) => want == have,
            _ => self.name.as_deref() == Some(path.as_os_str().as_bytes()),
        }
    }
}

/// The server's socket descriptors by inode.
fn socket_fds(pid: u32) -> io::Result<HashMap<u64, RawFd>> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let entry = entry?;
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        // A descriptor closed between the listing and the readlink is simply skipped.
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let inode = target
            .as_os_str()
            .as_bytes()
            .strip_prefix(b"socket:[")
            .and_then(|t| t.strip_suffix(b"]"))
            .and_then(|t| std::str::from_utf8(t).ok()?.parse().ok());
        if let Some(inode) = inode {
            out.insert(inode, fd);
        }
    }
    Ok(out)
}

enum DumpError {
    Unavailable(io::Error),
    Io(io::Error),
}

/// The unix sockets whose inode `keep` accepts, from one sock_diag dump of every unix socket
/// on the machine (in this network namespace). Filtering as it decodes keeps what is kept
/// proportional to the server's descriptors, not to the machine's sockets.
fn dump(keep: impl Fn(u64) -> bool) -> Result<Vec<UnixSocket>, DumpError> {
    // SAFETY: plain socket creation; the result is checked before use.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    };
    if raw < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT) => DumpError::Unavailable(e),
            _ => DumpError::Io(e),
        });
    }
    // SAFETY: `raw` is a fresh descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let req = request(1);
    // SAFETY: send from a live buffer of the length given; netlink's default destination is
    // the kernel.
    if unsafe { libc::send(raw, req.as_ptr().cast(), req.len(), 0) } < 0 {
        return Err(DumpError::Io(io::Error::last_os_error()));
    }
    let mut buf = vec![0u8; 64 << 10];
    let mut out = Vec::new();
    loop {
        // SAFETY: recv into a live buffer of the length given.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(DumpError::Io(e));
        }
        match parse(&buf[..n as usize], 1, &keep, &mut out) {
            Parsed::More => {}
            Parsed::Done => return Ok(out),
            Parsed::Error(errno) => {
                let e = io::Error::from_raw_os_error(errno);
                // ENOENT: no handler registered for AF_UNIX (unix_diag absent).
                return Err(if errno == libc::ENOENT {
                    DumpError::Unavailable(e)
                } else {
                    DumpError::Io(e)
                });
            }
        }
    }
}

/// `nlmsghdr` ‖ `unix_diag_req`, native-endian (linux/unix_diag.h).
fn request(seq: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(NLMSG_HDR + 24);
    m.extend_from_slice(&((NLMSG_HDR + 24) as u32).to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills ours in
    m.push(libc::AF_UNIX as u8); // sdiag_family
    m.push(0); // sdiag_protocol
    m.extend_from_slice(&0u16.to_ne_bytes()); // pad
    m.extend_from_slice(&u32::MAX.to_ne_bytes()); // udiag_states: all
    m.extend_from_slice(&0u32.to_ne_bytes()); // udiag_ino: any (dump)
    let show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER;
    m.extend_from_slice(&show.to_ne_bytes());
    m.extend_from_slice(&u32::MAX.to_ne_bytes()); // udiag_cookie: none
    m.extend_from_slice(&u32::MAX.to_ne_bytes());
    m
}

enum Parsed {
    More,
    Done,
    Error(i32),
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Decodes one datagram of the dump's answer into `out`, skipping sockets `keep` refuses.
fn parse(
    datagram: &[u8],
    seq: u32,
    keep: &impl Fn(u64) -> bool,
    out: &mut Vec<UnixSocket>,
) -> Parsed {
    let mut at = 0;
    while let (Some(len), Some(kind)) = (u32_at(datagram, at), u16_at(datagram, at + 4)) {
        let len = len as usize;
        if len < NLMSG_HDR || at + len > datagram.len() {
            break;
        }
        let msg = &datagram[at..at + len];
        at += (len + 3) & !3;
        if u32_at(msg, 8) != Some(seq) {
            continue;
        }
        match kind as i32 {
            libc::NLMSG_DONE => return Parsed::Done,
            libc::NLMSG_ERROR => {
                let errno = u32_at(msg, NLMSG_HDR).map_or(0, |e| -(e as i32));
                // An error of 0 is an acknowledgement, not a failure.
                if errno != 0 {
                    return Parsed::Error(errno);
                }
                continue;
            }
            _ if kind == SOCK_DIAG_BY_FAMILY => {}
            _ => continue,
        }
        let body = &msg[NLMSG_HDR..];
        // unix_diag_msg: family u8, type u8, state u8, pad u8, ino u32, cookie [u32; 2].
        let (Some(&state), Some(inode)) = (body.get(2), u32_at(body, 4)) else {
            continue;
        };
        if !keep(inode.into()) {
            continue;
        }
        let mut s = UnixSocket {
            inode: inode.into(),
            state,
            name: None,
            file: None,
            peer: None,
        };
        let mut a = UNIX_DIAG_MSG;
        while let (Some(alen), Some(atype)) = (u16_at(body, a), u16_at(body, a + 2)) {
            let alen = alen as usize;
            if alen < 4 || a + alen > body.len() {
                break;
            }
            let data = &body[a + 4..a + alen];
            a += (alen + 3) & !3;
            match atype {
                UNIX_DIAG_NAME => {
                    // The bound path with its NUL (a filesystem name never holds one).
                    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                    s.name = Some(data[..end].to_vec());
                }
                UNIX_DIAG_VFS => {
                    if let (Some(ino), Some(kdev)) = (u32_at(data, 0), u32_at(data, 4)) {
                        s.file = Some(FileId {
                            ino: ino.into(),
                            dev: user_dev(kdev),
                        });
                    }
                }
                UNIX_DIAG_PEER => s.peer = u32_at(data, 0).map(u64::from),
                _ => {}
            }
        }
        out.push(s);
    }
    Parsed::More
}

/// The kernel's internal `dev_t` (`major << 20 | minor`, as `UNIX_DIAG_VFS` reports it) in
/// the form `stat` gives.
fn user_dev(kdev: u32) -> u64 {
    libc::makedev(kdev >> 20, kdev & 0xf_ffff)
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0u32) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as RawFd) })
}

/// A duplicate of the process's descriptor `fd` in this process (close-on-exec).
fn pidfd_getfd(pidfd: &OwnedFd, fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_getfd takes a live pidfd, a descriptor number in that process and flags,
    // and returns a new descriptor in ours or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0u32) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as RawFd) })
}

/// Whether the process behind `pidfd` has exited (a pidfd polls readable from then on).
fn exited(pidfd: &OwnedFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll on one live pollfd, without waiting.
    let rc = unsafe { libc::poll(&mut pfd, 1, 0) };
    rc > 0 && pfd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
}

fn inode_of(fd: &OwnedFd) -> io::Result<u64> {
    // SAFETY: zeroed stat is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on a live descriptor into a live stat.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.st_ino)
}

fn peer_cred(sock: &OwnedFd) -> io::Result<libc::ucred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt on a live socket into a live ucred of the length given.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cred)
}

/// A pidfd for the connecting process; `Ok(None)` if the kernel predates `SO_PEERPIDFD`.
fn peer_pidfd(sock: &OwnedFd) -> io::Result<Option<OwnedFd>> {
    let Some(option) = SO_PEERPIDFD else {
        return Ok(None);
    };
    let mut raw: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt on a live socket into a live c_int of the length given.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&mut raw as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOPROTOOPT) => Ok(None),
            _ => Err(e),
        };
    }
    if raw < 0 || len as usize != std::mem::size_of::<libc::c_int>() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: on success the kernel installed a fresh descriptor for us, which nothing else
    // owns.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(raw) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(data);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        a
    }

    fn message(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDR + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        m
    }

    fn socket(state: u8, ino: u32, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut b = vec![libc::AF_UNIX as u8, libc::SOCK_STREAM as u8, state, 0];
        b.extend_from_slice(&ino.to_ne_bytes());
        b.extend_from_slice(&[0xff; 8]);
        for a in attrs {
            b.extend_from_slice(a);
        }
        message(SOCK_DIAG_BY_FAMILY, 1, &b)
    }

    #[test]
    fn decodes_name_vfs_and_peer_and_stops_at_done() {
        let mut vfs = 77u32.to_ne_bytes().to_vec();
        vfs.extend_from_slice(&((254u32 << 20) | 3).to_ne_bytes());
        let mut d = socket(
            1,
            500,
            &[
                attr(UNIX_DIAG_NAME, b"/tmp/t/sock\0"),
                attr(UNIX_DIAG_VFS, &vfs),
                attr(UNIX_DIAG_PEER, &499u32.to_ne_bytes()),
                attr(6, &[0]),
            ],
        );
        d.extend(socket(
            1,
            499,
            &[attr(UNIX_DIAG_PEER, &500u32.to_ne_bytes())],
        ));
        d.extend(message(libc::NLMSG_DONE as u16, 1, &0i32.to_ne_bytes()));
        let mut out = Vec::new();
        assert!(matches!(parse(&d, 1, &|_| true, &mut out), Parsed::Done));
        assert_eq!(
            out,
            vec![
                UnixSocket {
                    inode: 500,
                    state: 1,
                    name: Some(b"/tmp/t/sock".to_vec()),
                    file: Some(FileId {
                        ino: 77,
                        dev: libc::makedev(254, 3)
                    }),
                    peer: Some(499),
                },
                UnixSocket {
                    inode: 499,
                    state: 1,
                    name: None,
                    file: None,
                    peer: Some(500),
                },
            ]
        );
    }

    #[test]
    fn sockets_not_kept_are_skipped() {
        let mut d = socket(1, 7, &[attr(UNIX_DIAG_NAME, b"/x\0")]);
        d.extend(socket(1, 8, &[]));
        let mut out = Vec::new();
        assert!(matches!(parse(&d, 1, &|i| i == 8, &mut out), Parsed::More));
        assert_eq!(out.iter().map(|s| s.inode).collect::<Vec<_>>(), vec![8]);
    }

    #[test]
    fn a_kernel_error_is_reported_and_other_sequences_ignored() {
        let mut d = socket(1, 9, &[]);
        d[8..12].copy_from_slice(&5u32.to_ne_bytes());
        d.extend(message(
            libc::NLMSG_ERROR as u16,
            1,
            &(-libc::ENOENT).to_ne_bytes(),
        ));
        let mut out = Vec::new();
        assert!(matches!(
            parse(&d, 1, &|_| true, &mut out),
            Parsed::Error(libc::ENOENT)
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn a_truncated_datagram_is_not_read_past() {
        let d = socket(1, 9, &[attr(UNIX_DIAG_NAME, b"/x\0")]);
        let mut out = Vec::new();
        assert!(matches!(
            parse(&d[..d.len() - 3], 1, &|_| true, &mut out),
            Parsed::More
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn the_kernel_device_number_matches_stat() {
        use std::os::unix::fs::MetadataExt;
        // /proc/self/mountinfo gives major:minor as stat encodes them; check the round trip.
        let dev = std::fs::metadata("/").unwrap().dev();
        let (major, minor) = (libc::major(dev), libc::minor(dev));
        assert_eq!(user_dev((major << 20) | minor), dev);
    }

    #[test]
    fn a_socket_matches_by_file_or_else_by_name() {
        let file = FileId { ino: 1, dev: 2 };
        let s = UnixSocket {
            inode: 3,
            state: 1,
            name: Some(b"/a/sock".to_vec()),
            file: Some(file),
            peer: None,
        };
        assert!(s.is_at(Path::new("/elsewhere"), Some(file)));
        assert!(!s.is_at(Path::new("/a/sock"), Some(FileId { ino: 9, dev: 2 })));
        assert!(s.is_at(Path::new("/a/sock"), None));
        assert!(!s.is_at(Path::new("/b/sock"), None));
    }
}
