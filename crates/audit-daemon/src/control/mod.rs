//! The daemon's local control socket (`DB.ctl`, named by `audit_state`): how a viewer
//! that cannot write the store gets its view of the log recorded (`audit-access`), and how any
//! viewer gets the output panes printed a moment ago committed before it reads.
//!
//! Who asks is taken from the kernel (`SO_PEERCRED` of the connection), never from the request.
//! The socket is connectable by whoever may read the store (its mode follows the store's read
//! bits, its group the store's group). One request per connection, at most [`MAX_CLIENTS`]
//! connections served at once (more are closed unanswered), each given
//! [`protocol::MAX_REQUEST`] bytes and one second to send them, and each user a small budget of
//! requests ([`limit`]); a slow or stuck client holds only its own thread, never the recording
//! path (the ingester and the writer only ever receive from it through channels).
//!
//! This is the server half; the messages and the viewer's half are `audit_state::control`.

mod limit;

use audit_core::{Bytes, Event, Kind, Observed, Timestamp};
use audit_state::control::{self as protocol, Reply, Request};
use audit_state::StateDir;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Connections served at once.
pub const MAX_CLIENTS: usize = 16;
/// How long a client has to send its request, and to take the reply.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a request waits for its event (and the output flushed before it) to be committed.
pub const COMMIT_WAIT: Duration = Duration::from_millis(1500);

/// Records one event and runs the callback once it is committed (after the pending output of
/// every pane, when output is recorded).
pub type Record = Arc<dyn Fn(Event, crate::writer::OnCommit) + Send + Sync>;

/// The listening socket; removed when stopped.
pub struct Control {
    path: PathBuf,
    stopping: Arc<AtomicBool>,
}

struct Ctx {
    host: String,
    db: String,
    record: Record,
    limiter: Mutex<limit::Limiter>,
    clients: AtomicUsize,
    stopping: Arc<AtomicBool>,
}

impl Control {
    /// Listens on `state`'s control socket. `None` (with a warning) when the socket cannot be
    /// made: views then record their access themselves when they can write the store, and say
    /// so when not.
    pub fn start(state: &StateDir, host: &str, record: Record) -> Option<Control> {
        let path = state.control_socket().to_path_buf();
        match listen(state.store().path(), &path) {
            Ok(listener) => {
                let stopping = Arc::new(AtomicBool::new(false));
                let ctx = Arc::new(Ctx {
                    host: host.to_owned(),
                    db: state.store().to_string(),
                    record,
                    limiter: Mutex::default(),
                    clients: AtomicUsize::new(0),
                    stopping: Arc::clone(&stopping),
                });
                let spawned = std::thread::Builder::new()
                    .name("control".into())
                    .spawn(move || accept_loop(&listener, &ctx));
                if let Err(e) = spawned {
                    tracing::warn!("cannot start the control socket thread: {e}");
                    let _ = std::fs::remove_file(&path);
                    return None;
                }
                Some(Control { path, stopping })
            }
            Err(e) => {
                tracing::warn!(socket = %path.display(), "no control socket (views that cannot write the store cannot have their access recorded, and see output only once committed): {e}");
                None
            }
        }
    }

    /// Refuses further requests and removes the socket.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds the socket (replacing a stale one: we hold the store's lock, so no other daemon
/// listens there) and opens it to those who may read the store.
fn listen(db: Option<&Path>, path: &Path) -> std::io::Result<UnixListener> {
    let db = db.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "the daemon records into a local SQLite store, not a server",
        )
    })?;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "something that is not a socket is in the way; not removed",
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    let store = std::fs::metadata(db)?;
    // Connecting needs write permission on the socket: give it to whoever may read the store.
    let read = store.mode() & 0o044;
    let mode = 0o600 | (read & 0o040) >> 1 | (read & 0o040) | (read & 0o004) >> 1 | (read & 0o004);
    std::os::unix::fs::chown(path, None, Some(store.gid()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

fn accept_loop(listener: &UnixListener, ctx: &Arc<Ctx>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            // EMFILE and the like: do not spin.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        if ctx.clients.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
            ctx.clients.fetch_sub(1, Ordering::AcqRel);
            continue; // closed unanswered
        }
        let ctx2 = Arc::clone(ctx);
        let spawned = std::thread::Builder::new()
            .name("control-client".into())
            .spawn(move || {
                serve(&stream, &ctx2);
                ctx2.clients.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            ctx.clients.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The kernel's word on who is at the other end: pid, uid.
fn peer_cred(stream: &UnixStream) -> std::io::Result<(i32, u32)> {
    // SAFETY: zeroed ucred is a valid value of a plain C struct.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, which lives across the call.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((cred.pid, cred.uid))
}

fn serve(stream: &UnixStream, ctx: &Ctx) {
    let Ok((pid, uid)) = peer_cred(stream) else {
        return;
    };
    let reply = answer(stream, ctx, pid, uid);
    let mut line = serde_json::to_vec(&reply).unwrap_or_default();
    line.push(b'\n');
    let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
    let mut out = stream;
    let _ = out.write_all(&line);
}

fn refused(why: String) -> Reply {
    Reply {
        error: Some(why),
        ..Reply::default()
    }
}

fn answer(stream: &UnixStream, ctx: &Ctx, pid: i32, uid: u32) -> Reply {
    if ctx.stopping.load(Ordering::Relaxed) {
        return refused("the daemon is stopping".into());
    }
    // The whole request within the timeout: a client trickling bytes gets a second in all.
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let mut line = Vec::new();
    let mut reader = BufReader::new(stream.take(protocol::MAX_REQUEST as u64 + 1));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return refused("request not received in time".into());
        }
        match reader.read_until(b'\n', &mut line) {
            Ok(_) if line.ends_with(b"\n") => break,
            Ok(0) => return refused("request not complete".into()),
            Ok(_) if line.len() > protocol::MAX_REQUEST => {
                return refused(protocol::BadRequest::TooLong.to_string())
            }
            Ok(_) => continue,
            Err(_) => return refused("request not received in time".into()),
        }
    }
    line.pop();
    let request = match Request::parse(&line) {
        Ok(r) => r,
        Err(e) => return refused(e.to_string()),
    };
    let limited = ctx
        .limiter
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take(uid, Instant::now());
    if let Err(wait) = limited {
        return refused(format!(
            "too many requests from uid {uid}: try again in {} s",
            wait.as_secs_f64().ceil()
        ));
    }
    let event = access_event(ctx, &request, pid, uid);
    let (tx, rx) = mpsc::channel();
    (ctx.record)(
        event,
        Box::new(move || {
            let _ = tx.send(());
        }),
    );
    match rx.recv_timeout(COMMIT_WAIT) {
        Ok(()) => Reply {
            recorded: true,
            flushed: true,
            ..Reply::default()
        },
        Err(mpsc::RecvTimeoutError::Timeout) => Reply {
            queued: true,
            error: Some(format!(
                "not committed within {COMMIT_WAIT:?} (the store is busy or refuses writes); it will be"
            )),
            ..Reply::default()
        },
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            refused("the daemon stopped before recording it".into())
        }
    }
}

/// The `audit-access` event for a request from the process `pid` of `uid`.
fn access_event(ctx: &Ctx, r: &Request, pid: i32, uid: u32) -> Event {
    // `server` names what was accessed: the store (a view's -S/--server is in its argv).
    let mut e = Event::new(Timestamp::now(), Kind::AuditAccess, &ctx.host, &ctx.db)
        .observed(Observed::Live);
    e.uid = Some(i64::from(uid));
    e.user = audit_tmux::users::name_of(uid);
    e.pid = Some(i64::from(pid));
    e.view = Some(r.view.clone());
    e.query = r.query.clone().or_else(|| r.pane.clone());
    e.pane_id = r.pane.clone().filter(|p| p.starts_with('%'));
    e.argv = Some(
        r.argv
            .iter()
            .map(|a| Bytes(a.clone().into_bytes()))
            .collect(),
    );
    e.recorded_by = Some("daemon".into());
    e.message = Some(
        "recorded by the daemon for the process that asked over its control socket: uid and pid are the kernel's (SO_PEERCRED); view, query and argv are as the viewer reported them".into(),
    );
    e
}
