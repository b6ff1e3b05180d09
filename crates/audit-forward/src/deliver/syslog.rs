//! Syslog transports: TCP with octet counting (RFC 6587 §3.4.1), UDP datagrams, and a local
//! unix socket (datagrams, or newline-framed when the path is a stream socket).
//!
//! TCP has no application-level acknowledgement: a batch counts as delivered once the kernel
//! took all its bytes. Before each batch an idle connection is checked for a receiver that
//! went away (a restarted rsyslog), so the common loss — writing into a dead connection — is
//! avoided; a receiver that dies mid-batch can still lose what the kernel had buffered.

use super::Deliver;
use crate::config::{Facility, SyslogAddress};
use crate::encode::SyslogFormat;
use crate::error::DeliverError;
use audit_core::Stored;
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest datagram sent (UDP over IPv4 carries at most 65,507 bytes).
const DATAGRAM_MAX: usize = 65_000;
/// Largest stream message: receivers cut far shorter ones, but a frame must stay sane.
const STREAM_MAX: usize = 1024 * 1024;

enum Conn {
    Tcp(TcpStream),
    Udp(UdpSocket),
    UnixDgram(UnixDatagram),
    UnixStream(UnixStream),
}

pub(crate) struct Syslog {
    address: SyslogAddress,
    format: SyslogFormat,
    conn: Option<Conn>,
    pending: Vec<Vec<u8>>,
}

impl Syslog {
    pub(crate) fn new(address: SyslogAddress, facility: Facility, app_name: &str) -> Self {
        let max_len = match address {
            SyslogAddress::Tcp(_) => STREAM_MAX,
            SyslogAddress::Udp(_) | SyslogAddress::Unix(_) => DATAGRAM_MAX,
        };
        Syslog {
            address,
            format: SyslogFormat {
                facility,
                app_name: app_name.to_owned(),
                procid: std::process::id(),
                max_len,
            },
            conn: None,
            pending: Vec::new(),
        }
    }

    fn connect(&self) -> Result<Conn, DeliverError> {
        let doing = format!("connect to syslog {}", self.address);
        match &self.address {
            SyslogAddress::Tcp(host_port) => {
                let mut last = None;
                for addr in resolve(host_port).map_err(DeliverError::io(doing.clone()))? {
                    match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                        Ok(stream) => {
                            stream
                                .set_write_timeout(Some(WRITE_TIMEOUT))
                                .map_err(DeliverError::io(doing.clone()))?;
                            let _ = stream.set_nodelay(true);
                            return Ok(Conn::Tcp(stream));
                        }
                        Err(e) => last = Some(e),
                    }
                }
                let error = last.unwrap_or_else(|| ErrorKind::NotFound.into());
                Err(DeliverError::Io { doing, error })
            }
            SyslogAddress::Udp(host_port) => {
                let io = DeliverError::io;
                let addr = resolve(host_port).map_err(io(doing.clone()))?;
                let addr = addr
                    .into_iter()
                    .next()
                    .ok_or_else(|| io(doing.clone())(ErrorKind::NotFound.into()))?;
                let local: SocketAddr = if addr.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    ([0u16; 8], 0).into()
                };
                let socket = UdpSocket::bind(local).map_err(io(doing.clone()))?;
                socket.connect(addr).map_err(io(doing))?;
                Ok(Conn::Udp(socket))
            }
            SyslogAddress::Unix(path) => {
                let socket = UnixDatagram::unbound().map_err(DeliverError::io(doing.clone()))?;
                match socket.connect(path) {
                    Ok(()) => {
                        let _ = socket.set_write_timeout(Some(WRITE_TIMEOUT));
                        Ok(Conn::UnixDgram(socket))
                    }
                    // The socket is a stream socket (EPROTOTYPE): newline framing instead.
                    Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
                        let stream =
                            UnixStream::connect(path).map_err(DeliverError::io(doing.clone()))?;
                        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
                        Ok(Conn::UnixStream(stream))
                    }
                    Err(error) => Err(DeliverError::Io { doing, error }),
                }
            }
        }
    }

    fn write_pending(&mut self, pending: &[Vec<u8>]) -> Result<(), DeliverError> {
        if self.conn.as_ref().is_some_and(receiver_gone) {
            self.conn = None;
        }
        if self.conn.is_none() {
            self.conn = Some(self.connect()?);
        }
        let doing = format!("send to syslog {}", self.address);
        let conn = self.conn.as_mut().expect("connected above");
        let result = match conn {
            Conn::Tcp(stream) => {
                let mut framed = Vec::new();
                for msg in pending {
                    framed.extend_from_slice(format!("{} ", msg.len()).as_bytes());
                    framed.extend_from_slice(msg);
                }
                stream.write_all(&framed).and_then(|()| stream.flush())
            }
            Conn::UnixStream(stream) => {
                let mut framed = Vec::new();
                for msg in pending {
                    framed.extend_from_slice(msg);
                    framed.push(b'\n');
                }
                stream.write_all(&framed)
            }
            Conn::Udp(socket) => pending.iter().try_for_each(|m| socket.send(m).map(drop)),
            Conn::UnixDgram(socket) => pending.iter().try_for_each(|m| socket.send(m).map(drop)),
        };
        result.map_err(|error| {
            self.conn = None;
            DeliverError::Io { doing, error }
        })
    }
}

impl Deliver for Syslog {
    fn send(&mut self, stored: &Stored) -> Result<(), DeliverError> {
        self.pending.push(self.format.encode(stored));
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DeliverError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        self.write_pending(&pending)
    }
}

fn resolve(host_port: &str) -> std::io::Result<Vec<SocketAddr>> {
    Ok(host_port.to_socket_addrs()?.collect())
}

/// Whether a stream's receiver closed it (or reset it) while it sat idle.
fn receiver_gone(conn: &Conn) -> bool {
    let peek = |nonblocking: &dyn Fn(bool) -> std::io::Result<()>,
                peek: &dyn Fn(&mut [u8]) -> std::io::Result<usize>| {
        if nonblocking(true).is_err() {
            return true;
        }
        let gone = match peek(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != ErrorKind::WouldBlock,
        };
        nonblocking(false).is_err() || gone
    };
    match conn {
        Conn::Tcp(s) => peek(&|on| s.set_nonblocking(on), &|buf| s.peek(buf)),
        Conn::UnixStream(s) => peek(&|on| s.set_nonblocking(on), &|buf| {
            // UnixStream has no peek on stable: a receiver sends nothing, so a read is as good.
            use std::io::Read;
            (&*s).read(buf)
        }),
        Conn::Udp(_) | Conn::UnixDgram(_) => false,
    }
}
