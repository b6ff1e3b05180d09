//! The kernel's process-events connector: a netlink socket (`NETLINK_CONNECTOR`, group
//! `CN_IDX_PROC`) on which the kernel multicasts a message for every fork, exec and exit.
//!
//! Messages are `nlmsghdr` ‖ `cn_msg` ‖ `proc_event` (linux/cn_proc.h), native-endian. Only the
//! three kinds tmux-audit needs are decoded; the rest (uid and sid changes, ptrace, comm, core
//! dumps) are skipped. Listening needs root or `CAP_NET_ADMIN`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use thiserror::Error;

const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_EVENT_FORK: u32 = 0x0000_0001;
const PROC_EVENT_EXEC: u32 = 0x0000_0002;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
const NLMSG_HDR: usize = 16;
const CN_MSG: usize = 20;

/// One process event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcEvent {
    /// `parent` created `child` (thread group ids; threads are not reported).
    Fork {
        /// The parent process.
        parent: u32,
        /// The new process.
        child: u32,
    },
    /// `pid` replaced its program.
    Exec {
        /// The process.
        pid: u32,
    },
    /// `pid` ended, with its wait status (exit code in bits 8-15, or the signal in bits 0-6).
    Exit {
        /// The process.
        pid: u32,
        /// As `waitpid` reports it.
        status: u32,
    },
}

/// Why the connector cannot be listened to.
#[derive(Debug, Error)]
pub enum ConnectorError {
    /// Not root nor `CAP_NET_ADMIN` (the kernel refuses the subscription).
    #[error("the kernel's process-events connector needs root or CAP_NET_ADMIN: {0}")]
    NotPermitted(io::Error),
    /// The kernel offers no process events here: it serves the connector only in the initial
    /// network namespace (a daemon in a container or `ip netns exec` is refused, even as root).
    #[error("the kernel's process-events connector is not offered here (it serves only the initial network namespace): {0}")]
    Unavailable(io::Error),
    /// Any other failure.
    #[error("cannot listen to the kernel's process-events connector: {0}")]
    Io(io::Error),
}

/// A subscription to process events.
pub struct Connector {
    fd: OwnedFd,
    buf: Vec<u8>,
    unfiltered: Option<io::Error>,
}

impl Connector {
    /// Subscribes. Events from before this call are not delivered.
    pub fn listen() -> Result<Connector, ConnectorError> {
        let io_err = |e: io::Error| match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => ConnectorError::NotPermitted(e),
            Some(libc::ECONNREFUSED) => ConnectorError::Unavailable(e),
            _ => ConnectorError::Io(e),
        };
        // SAFETY: plain socket creation; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_CONNECTOR,
            )
        };
        if raw < 0 {
            return Err(io_err(io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // A large receive buffer: a fork storm must not overflow it before we read.
        let size: libc::c_int = 8 << 20;
        // SAFETY: setsockopt with a pointer to a live c_int and its size. SO_RCVBUFFORCE needs
        // CAP_NET_ADMIN; when refused, SO_RCVBUF (capped by rmem_max) is the fallback.
        unsafe {
            let p = &size as *const libc::c_int as *const libc::c_void;
            let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            if libc::setsockopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, p, len) != 0 {
                libc::setsockopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, p, len);
            }
        }
        // SAFETY: zeroed sockaddr_nl is a valid value; fields set below.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = CN_IDX_PROC;
        // Port id 0: the kernel assigns one.
        addr.nl_pid = 0;
        // SAFETY: bind with a pointer to a live sockaddr_nl and its size.
        let rc = unsafe {
            libc::bind(
                raw,
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io_err(io::Error::last_os_error()));
        }
        let mut msg = Vec::with_capacity(NLMSG_HDR + CN_MSG + 4);
        let total = (NLMSG_HDR + CN_MSG + 4) as u32;
        msg.extend_from_slice(&total.to_ne_bytes());
        msg.extend_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
        msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: ours, assigned at bind
        msg.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        msg.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
        msg.extend_from_slice(&0u32.to_ne_bytes()); // ack
        msg.extend_from_slice(&4u16.to_ne_bytes()); // len of data
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
        // SAFETY: send from a live buffer of the length given.
        let sent = unsafe { libc::send(raw, msg.as_ptr().cast(), msg.len(), 0) };
        if sent < 0 {
            return Err(io_err(io::Error::last_os_error()));
        }
        // Threads starting and ending, and changes of uid, sid or name, are most of what a
        // busy host reports and nothing tmux-audit follows: the kernel drops them unread.
        let unfiltered = attach_filter(raw).err();
        Ok(Connector {
            fd,
            buf: vec![0; 64 << 10],
            unfiltered,
        })
    }

    /// Waits for the next datagram and returns the events in it. `Err` with
    /// [`io::ErrorKind::OutOfMemory`]-like `ENOBUFS` means events were dropped (the caller
    /// should say so); the subscription goes on.
    pub fn recv(&mut self, out: &mut Vec<ProcEvent>) -> io::Result<()> {
        // SAFETY: recv into a live buffer of the length given.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                self.buf.as_mut_ptr().cast(),
                self.buf.len(),
                0,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        parse(&self.buf[..n as usize], out);
        Ok(())
    }

    /// Reads the next datagram if one is queued, without waiting: `Ok(false)` when none is.
    /// `ENOBUFS` as for [`recv`](Self::recv).
    pub fn try_recv(&mut self, out: &mut Vec<ProcEvent>) -> io::Result<bool> {
        // SAFETY: recv into a live buffer of the length given.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                self.buf.as_mut_ptr().cast(),
                self.buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Ok(false);
            }
            return Err(e);
        }
        parse(&self.buf[..n as usize], out);
        Ok(true)
    }

    /// Why the kernel could not be told to drop what is not followed, if it could not: then
    /// every event is read (and skipped here), which works at a higher cost.
    pub fn unfiltered(&self) -> Option<&io::Error> {
        self.unfiltered.as_ref()
    }

    /// Waits at most `timeout_ms` (-1: without end) for something to read here or on `other`
    /// (a file descriptor that wakes the caller); true if the connector has something.
    pub fn wait_or(&self, timeout_ms: i32, other: std::os::fd::BorrowedFd) -> io::Result<bool> {
        use std::os::fd::AsRawFd as _;
        let mut pfds = [
            libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: other.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll on two live pollfds.
        let rc = unsafe { libc::poll(pfds.as_mut_ptr(), 2, timeout_ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        Ok(pfds[0].revents != 0)
    }

    /// Waits at most `timeout_ms` for something to read; false on timeout.
    pub fn wait(&self, timeout_ms: i32) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one live pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        Ok(rc > 0)
    }
}

/// Offsets in a datagram (`nlmsghdr` ‖ `cn_msg` ‖ `proc_event`) of what the filter reads.
const AT_WHAT: u32 = (NLMSG_HDR + CN_MSG) as u32;
const AT_DATA: u32 = AT_WHAT + 16;

/// A classic BPF socket filter that keeps only process forks, execs and process exits (a
/// thread's fork or exit has its pid ≠ its thread group id). Classic BPF reads words in network
/// byte order while the kernel writes these native-endian, so constants are compared as the
/// filter will see them, and pid/tgid pairs are compared to each other, which byte order does
/// not change.
fn filter_program() -> [libc::sock_filter; 14] {
    let seen = |v: u32| u32::from_be_bytes(v.to_ne_bytes());
    let op = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let ld = |at: u32| op(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, at);
    let tax = op(libc::BPF_MISC | libc::BPF_TAX, 0, 0, 0);
    let jeq_k = |k: u32, jt: u8, jf: u8| op(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, jt, jf, k);
    let jeq_x = |jt: u8, jf: u8| op(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_X, jt, jf, 0);
    let ret = |k: u32| op(libc::BPF_RET | libc::BPF_K, 0, 0, k);
    [
        /* 0 */ ld(AT_WHAT),
        /* 1 */ jeq_k(seen(PROC_EVENT_FORK), 2, 0), // → 4
        /* 2 */ jeq_k(seen(PROC_EVENT_EXEC), 9, 0), // → 12 keep
        /* 3 */ jeq_k(seen(PROC_EVENT_EXIT), 4, 9), // → 8, else 13 drop
        /* 4 */ ld(AT_DATA + 8), // fork: child pid
        /* 5 */ tax,
        /* 6 */ ld(AT_DATA + 12), // child tgid
        /* 7 */ jeq_x(4, 5), // → 12 keep, 13 drop
        /* 8 */ ld(AT_DATA), // exit: pid
        /* 9 */ tax,
        /* 10 */ ld(AT_DATA + 4), // tgid
        /* 11 */ jeq_x(0, 1), // → 12 keep, 13 drop
        /* 12 */ ret(u32::MAX),
        /* 13 */ ret(0),
    ]
}

fn attach_filter(fd: libc::c_int) -> io::Result<()> {
    let program = filter_program();
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: setsockopt with a pointer to a live sock_fprog whose program outlives the call
    // (the kernel copies it).
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&prog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Decodes the netlink messages in one datagram.
pub fn parse(datagram: &[u8], out: &mut Vec<ProcEvent>) {
    let mut at = 0;
    while let Some(len) = u32_at(datagram, at) {
        let len = len as usize;
        if len < NLMSG_HDR || at + len > datagram.len() {
            return;
        }
        let msg = &datagram[at..at + len];
        at += (len + 3) & !3;
        let cn = &msg[NLMSG_HDR..];
        if u32_at(cn, 0) != Some(CN_IDX_PROC) || u32_at(cn, 4) != Some(CN_VAL_PROC) {
            continue;
        }
        let ev = &cn[CN_MSG.min(cn.len())..];
        // proc_event: what u32, cpu u32, timestamp u64, then the union.
        let Some(what) = u32_at(ev, 0) else { continue };
        let data = 16;
        let field = |i: usize| u32_at(ev, data + 4 * i);
        let event = match what {
            PROC_EVENT_FORK => match (field(1), field(2), field(3)) {
                // A new process, not a thread: its pid is its thread group id.
                (Some(parent), Some(pid), Some(child)) if pid == child => {
                    Some(ProcEvent::Fork { parent, child })
                }
                _ => None,
            },
            PROC_EVENT_EXEC => field(1).map(|pid| ProcEvent::Exec { pid }),
            PROC_EVENT_EXIT => match (field(0), field(1), field(2)) {
                (Some(pid), Some(tgid), Some(status)) if pid == tgid => {
                    Some(ProcEvent::Exit { pid: tgid, status })
                }
                _ => None,
            },
            _ => None,
        };
        out.extend(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(what: u32, fields: &[u32]) -> Vec<u8> {
        let mut ev = Vec::new();
        ev.extend_from_slice(&what.to_ne_bytes());
        ev.extend_from_slice(&0u32.to_ne_bytes());
        ev.extend_from_slice(&0u64.to_ne_bytes());
        for f in fields {
            ev.extend_from_slice(&f.to_ne_bytes());
        }
        let mut cn = Vec::new();
        for v in [CN_IDX_PROC, CN_VAL_PROC, 0, 0] {
            cn.extend_from_slice(&v.to_ne_bytes());
        }
        cn.extend_from_slice(&(ev.len() as u16).to_ne_bytes());
        cn.extend_from_slice(&0u16.to_ne_bytes());
        cn.extend(ev);
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDR + cn.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&[0; 12]);
        m.extend(cn);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    #[test]
    fn decodes_fork_exec_and_exit_and_skips_threads_and_others() {
        let mut datagram = message(PROC_EVENT_FORK, &[10, 10, 11, 11]);
        datagram.extend(message(PROC_EVENT_FORK, &[10, 10, 12, 11])); // a thread of 11
        datagram.extend(message(PROC_EVENT_EXEC, &[11, 11]));
        datagram.extend(message(0x0000_0004, &[11, 11, 0, 0])); // uid change
        datagram.extend(message(PROC_EVENT_EXIT, &[11, 11, 256, 17]));
        datagram.extend(message(PROC_EVENT_EXIT, &[12, 11, 0, 17])); // a thread ending
        let mut out = Vec::new();
        parse(&datagram, &mut out);
        assert_eq!(
            out,
            vec![
                ProcEvent::Fork {
                    parent: 10,
                    child: 11
                },
                ProcEvent::Exec { pid: 11 },
                ProcEvent::Exit {
                    pid: 11,
                    status: 256
                }
            ]
        );
    }

    #[test]
    fn a_truncated_datagram_yields_what_is_whole() {
        let mut datagram = message(PROC_EVENT_EXEC, &[7, 7]);
        let whole = datagram.len();
        datagram.extend(message(PROC_EVENT_EXEC, &[8, 8]));
        let mut out = Vec::new();
        parse(&datagram[..whole + 10], &mut out);
        assert_eq!(out, vec![ProcEvent::Exec { pid: 7 }]);
    }
}
