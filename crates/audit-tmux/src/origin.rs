//! Where a client came from: the SSH connection it runs under, or `local`.
//!
//! Read from `/proc`, so it needs the client's uid or root. First `SSH_CONNECTION` in the client
//! process's environment ("client-ip client-port server-ip server-port"); if that was scrubbed,
//! the nearest `sshd` ancestor's TCP peer. Both are facts about processes the client user owns,
//! so a determined user can dress them up; the uid is what the kernel attests.

use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The origin of a client that says it is process `pid` and that the kernel says is user `uid`:
/// [`of_pid`], but only if that process is the client's user's — the pid is what the client
/// reports, and a root daemon could otherwise be pointed at another user's SSH session.
pub fn of_client(pid: i64, uid: Option<i64>) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let real: i64 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    if Some(real) != uid {
        return None;
    }
    of_pid(pid)
}

/// The origin of the process `pid`: an SSH remote address, `local`, or `None` when the process
/// cannot be read (gone, or another user's without root).
pub fn of_pid(pid: i64) -> Option<String> {
    let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
    if let Some(addr) = ssh_connection(&environ) {
        return Some(addr);
    }
    let mut current = pid;
    for _ in 0..64 {
        let status = fs::read_to_string(format!("/proc/{current}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_owned())
        };
        if field("Name:").as_deref() == Some("sshd") {
            return Some(sshd_peer(current).unwrap_or_else(|| "ssh".to_owned()));
        }
        let ppid: i64 = field("PPid:")?.parse().ok()?;
        if ppid <= 1 {
            break;
        }
        current = ppid;
    }
    Some("local".to_owned())
}

fn ssh_connection(environ: &[u8]) -> Option<String> {
    environ.split(|&b| b == 0).find_map(|var| {
        let value = var.strip_prefix(b"SSH_CONNECTION=")?;
        let text = String::from_utf8_lossy(value);
        text.split_whitespace().next().map(str::to_owned)
    })
}

/// The remote address of a TCP socket held by `pid`.
fn sshd_peer(pid: i64) -> Option<String> {
    let mut inodes = Vec::new();
    for fd in fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        if let Ok(target) = fs::read_link(fd.path()) {
            let t = target.to_string_lossy();
            if let Some(inode) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
                inodes.push(inode.to_owned());
            }
        }
    }
    ["tcp", "tcp6"].iter().find_map(|table| {
        let text = fs::read_to_string(format!("/proc/{pid}/net/{table}")).ok()?;
        text.lines().skip(1).find_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let inode = cols.get(9)?;
            inodes
                .iter()
                .any(|i| i == inode)
                .then(|| remote_address(cols.get(2)?))
                .flatten()
        })
    })
}

/// Decodes `/proc/net/tcp`'s `HEXADDR:HEXPORT` (addresses in host byte order per 32-bit word).
fn remote_address(field: &str) -> Option<String> {
    let (addr, _port) = field.split_once(':')?;
    let words: Option<Vec<u32>> = (0..addr.len() / 8)
        .map(|i| u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16).ok())
        .collect();
    let words = words?;
    match words.as_slice() {
        [w] => Some(Ipv4Addr::from(w.to_le_bytes()).to_string()),
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
            }
            let v6 = Ipv6Addr::from(bytes);
            Some(match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => v6.to_string(),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ssh_connection() {
        let env = b"HOME=/root\0SSH_CONNECTION=203.0.113.9 52114 10.0.0.5 22\0TERM=xterm\0";
        assert_eq!(ssh_connection(env).as_deref(), Some("203.0.113.9"));
        assert_eq!(ssh_connection(b"HOME=/\0"), None);
    }

    #[test]
    fn decodes_proc_net_tcp_addresses() {
        // 127.0.0.1:22 as the kernel prints it on little-endian machines.
        assert_eq!(
            remote_address("0100007F:0016").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            remote_address("0000000000000000FFFF00000900710C:D0C2").as_deref(),
            Some("12.113.0.9")
        );
    }

    #[test]
    fn this_process_is_local_or_ssh() {
        let origin = of_pid(std::process::id() as i64).unwrap();
        assert!(!origin.is_empty());
    }
}
