//! One control-mode connection to a tmux server: a `tmux -C attach` child process whose output
//! a reader thread turns into timestamped [`Message`]s.
//!
//! The client attaches with `no-output` (tmux sends it no pane output, so it costs nothing when
//! panes are busy) and `ignore-size` (it never changes a window's size). It is started with
//! arguments only — no shell ever sees a name.

use crate::control::{Message, Notification, Parser};
use audit_core::Timestamp;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

/// How long a command reply may take before the connection is treated as dead.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection could not be made or used.
#[derive(Debug, Error)]
pub enum ConnError {
    /// No tmux server listens on the socket.
    #[error("no tmux server at {socket}: {detail}")]
    NoServer {
        /// The socket.
        socket: String,
        /// What tmux said.
        detail: String,
    },
    /// The server runs but has no session to attach to (starting up, or `exit-empty off`).
    #[error("tmux server at {socket} has no sessions")]
    NoSessions {
        /// The socket.
        socket: String,
    },
    /// The `tmux` program could not be started.
    #[error("cannot run {program}: {error}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        error: std::io::Error,
    },
    /// The connection closed (server gone, or this client was detached).
    #[error("control client closed: {0}")]
    Closed(String),
    /// The server's tmux is too old to be watched.
    #[error("{0}")]
    Unsupported(String),
    /// tmux answered a command with an error.
    #[error("tmux refused `{command}`: {detail}")]
    Refused {
        /// The command.
        command: String,
        /// tmux's reply.
        detail: String,
    },
}

enum Incoming {
    Message(Timestamp, Message),
    Closed,
    Stop,
    Nudge,
    Activity,
    /// A tmux client ran against the server (the kernel saw it): read the message log.
    Clients,
    /// A kick waits in the queue.
    Kick,
}

/// A client the daemon's policy throws out: resolved by the watcher against the server's
/// current client list, run on its own control client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kick {
    /// The client's name as tmux listed it.
    pub client: String,
    /// Its kernel-attested user.
    pub user: Option<String>,
    /// Also remove the user from the server's access list (`server-access -d`).
    pub deny: bool,
}

/// Asks a connection's watcher to stop: queued behind whatever tmux already sent, so that is
/// handled first.
#[derive(Clone)]
pub struct Stopper(SyncSender<Incoming>);

impl Stopper {
    /// Sends the request (without waiting: if the queue is full the watcher is busy and will
    /// be ended by pid instead).
    pub fn stop(&self) {
        let _ = self.0.try_send(Incoming::Stop);
    }
}

/// A command's output lines.
pub type Reply = Vec<Vec<u8>>;

/// Wakes a connection's watcher to look at the server again (a pane's recording pipe ended).
#[derive(Clone)]
pub struct Nudger(SyncSender<Incoming>, Arc<Mutex<VecDeque<Kick>>>);

impl std::fmt::Debug for Nudger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Nudger")
    }
}

impl Nudger {
    /// Sends the request without waiting; a no-op once the connection is gone.
    pub fn nudge(&self) {
        let _ = self.0.try_send(Incoming::Nudge);
    }

    /// Asks for a look at who typed last (a program just started in a pane); a no-op once the
    /// connection is gone.
    pub fn activity(&self) {
        let _ = self.0.try_send(Incoming::Activity);
    }

    /// Asks for a read of tmux's message log: a tmux client just ran against the server (see
    /// [`crate::clients`]); a no-op once the connection is gone.
    pub fn clients(&self) {
        let _ = self.0.try_send(Incoming::Clients);
    }

    /// Asks the watcher to throw a client out, on its own control client (the daemon's acts
    /// are its own, not a new client's). False if it could not be queued.
    pub fn kick(&self, kick: Kick) -> bool {
        // Kicks wait in a queue of their own: the channel is shared with tmux's output, which
        // a flood of notifications can fill. The wake-up may fail then; the watcher takes the
        // queue at its next wait anyway.
        self.1
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(kick);
        let _ = self.0.try_send(Incoming::Kick);
        true
    }
}

/// What [`Connection::next`] found.
#[derive(Debug)]
pub enum Next {
    /// A notification, with the time it was read.
    Notification(Timestamp, Notification),
    /// Nothing within the timeout.
    Timeout,
    /// The connection is gone.
    Closed,
    /// The daemon is stopping.
    Stop,
    /// Something outside asked for a fresh look ([`Nudger`]).
    Nudge,
    /// A program started in a pane: who typed last ([`Nudger::activity`]).
    Activity,
    /// A tmux client ran: read the message log ([`Nudger::clients`]).
    Clients,
    /// A client to throw out ([`Nudger::kick`]).
    Kick(Kick),
}

/// A live control client.
pub struct Connection {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Incoming>,
    pending: VecDeque<(Timestamp, Notification)>,
    socket: String,
    sent: usize,
    stopper: Stopper,
    stop_requested: bool,
    nudged: bool,
    /// A look at client activity was asked for while a command ran.
    activity: bool,
    /// A read of the message log was asked for while a command ran.
    clients: bool,
    /// Kicks asked for ([`Nudger::kick`]).
    kicks: Arc<Mutex<VecDeque<Kick>>>,
}

impl Connection {
    /// Attaches a control client to the server at `socket` (to tmux's choice of session), run
    /// as `run_as` when given (see [`crate::owner`]).
    pub fn open(
        tmux: &Path,
        socket: &Path,
        run_as: Option<crate::owner::Owner>,
    ) -> Result<Self, ConnError> {
        let socket_text = socket.display().to_string();
        // tmux 3.3a: a control client attaching while a server is still starting (no session
        // yet) can make the starting user's `tmux new-session` fail with "server exited
        // unexpectedly". A plain list does not, so attach only once a session exists.
        let mut list = Command::new(tmux);
        if let Some(o) = run_as {
            o.confine(&mut list);
        }
        let listed = list
            .arg("-S")
            .arg(socket)
            .args(["-N", "list-sessions", "-F", "#{session_id}"])
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .output()
            .map_err(|error| ConnError::Spawn {
                program: tmux.display().to_string(),
                error,
            })?;
        if !listed.status.success() || listed.stdout.is_empty() {
            let said = String::from_utf8_lossy(&listed.stderr).trim().to_owned();
            return Err(if listed.status.success() || said.contains("no sessions") {
                ConnError::NoSessions {
                    socket: socket_text,
                }
            } else {
                ConnError::NoServer {
                    socket: socket_text,
                    detail: said,
                }
            });
        }
        let mut control = Command::new(tmux);
        if let Some(o) = run_as {
            o.confine(&mut control);
        }
        let mut child = control
            .arg("-S")
            .arg(socket)
            // -N: never start a server (attach-session would, racing a user starting theirs).
            .args(["-N", "-C", "attach-session", "-f", "no-output,ignore-size"])
            .env_remove("TMUX")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| ConnError::Spawn {
                program: tmux.display().to_string(),
                error,
            })?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, incoming) = mpsc::sync_channel(4096);
        let stopper = Stopper(tx.clone());
        std::thread::Builder::new()
            .name("tmux-control-reader".into())
            .spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut parser = Parser::default();
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    if line.last() == Some(&b'\n') {
                        line.pop();
                    }
                    if let Some(m) = parser.feed(&line) {
                        // Blocks when the daemon is behind: tmux then holds the data, nothing
                        // is dropped here.
                        if tx.send(Incoming::Message(Timestamp::now(), m)).is_err() {
                            return;
                        }
                    }
                }
                let _ = tx.send(Incoming::Closed);
            })
            .map_err(|error| ConnError::Spawn {
                program: "reader thread".into(),
                error,
            })?;
        let mut conn = Connection {
            child,
            stdin,
            incoming,
            pending: VecDeque::new(),
            socket: socket_text.clone(),
            sent: 0,
            stopper,
            stop_requested: false,
            nudged: false,
            activity: false,
            clients: false,
            kicks: Arc::default(),
        };
        // The first reply is the attach itself.
        match conn.reply("attach-session") {
            Ok(_) => Ok(conn),
            Err(ConnError::Closed(detail)) | Err(ConnError::Refused { detail, .. }) => {
                Err(ConnError::NoServer {
                    socket: socket_text,
                    detail,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The pid of the control client process, to recognise (and hide) it in client lists.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A handle to wake this connection's watcher.
    pub fn nudger(&self) -> Nudger {
        Nudger(self.stopper.0.clone(), Arc::clone(&self.kicks))
    }

    /// A handle to ask this connection's watcher to stop.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// How many commands this client has sent (tmux logs each under its name).
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// Runs one tmux command and returns its output lines.
    pub fn command(&mut self, command: &str) -> Result<Vec<Vec<u8>>, ConnError> {
        self.sent += 1;
        let mut line = command.as_bytes().to_vec();
        line.push(b'\n');
        self.stdin
            .write_all(&line)
            .and_then(|()| self.stdin.flush())
            .map_err(|e| ConnError::Closed(e.to_string()))?;
        self.reply(command)
    }

    /// Runs several commands as one command line, so tmux runs them back to back with no pane
    /// output processed in between; returns each command's result. tmux does not run the rest
    /// of a line after a command fails, and answers nothing for them (verified on 3.3a): they
    /// are refused here without waiting for a reply.
    pub fn command_list(
        &mut self,
        commands: &[String],
    ) -> Result<Vec<Result<Reply, ConnError>>, ConnError> {
        let line = commands.join(" ; ");
        self.sent += commands.len();
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        self.stdin
            .write_all(&bytes)
            .and_then(|()| self.stdin.flush())
            .map_err(|e| ConnError::Closed(e.to_string()))?;
        let mut results = Vec::with_capacity(commands.len());
        let mut failed: Option<String> = None;
        for command in commands {
            if let Some(first) = &failed {
                // tmux 3.3a drops the rest of a command line after a command fails (the
                // queue removes its group): no reply comes for these, and tmux does not log
                // them.
                self.sent -= 1;
                results.push(Err(ConnError::Refused {
                    command: command.clone(),
                    detail: format!("not run: `{first}` before it in the same line failed"),
                }));
                continue;
            }
            match self.reply(command) {
                Err(e @ ConnError::Refused { .. }) => {
                    failed = Some(command.clone());
                    results.push(Err(e));
                }
                other => results.push(Ok(other?)),
            }
        }
        Ok(results)
    }

    fn reply(&mut self, command: &str) -> Result<Vec<Vec<u8>>, ConnError> {
        loop {
            match self.incoming.recv_timeout(REPLY_TIMEOUT) {
                Ok(Incoming::Message(_, Message::Reply { ok: true, lines })) => return Ok(lines),
                Ok(Incoming::Message(_, Message::Reply { ok: false, lines })) => {
                    let detail = lines
                        .iter()
                        .map(|l| String::from_utf8_lossy(l).into_owned())
                        .collect::<Vec<_>>()
                        .join("; ");
                    return Err(ConnError::Refused {
                        command: command.to_owned(),
                        detail,
                    });
                }
                Ok(Incoming::Message(at, Message::Notification(n))) => {
                    if let Notification::Exit(reason) = &n {
                        let reason = reason.clone().unwrap_or_else(|| "exit".into());
                        self.pending.push_back((at, n));
                        return Err(ConnError::Closed(reason));
                    }
                    self.pending.push_back((at, n));
                }
                Ok(Incoming::Closed) => return Err(ConnError::Closed(self.stderr())),
                Ok(Incoming::Stop) => {
                    // Answer this command first; the stop is seen at the next wait.
                    self.stop_requested = true;
                }
                Ok(Incoming::Nudge) => self.nudged = true,
                Ok(Incoming::Activity) => self.activity = true,
                Ok(Incoming::Clients) => self.clients = true,
                Ok(Incoming::Kick) => {}
                Err(RecvTimeoutError::Timeout) => {
                    return Err(ConnError::Closed(format!(
                        "no reply to `{command}` in 10 s"
                    )))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(ConnError::Closed(self.stderr()))
                }
            }
        }
    }

    fn take_kick(&self) -> Option<Kick> {
        self.kicks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }

    /// Waits up to `timeout` for the next notification.
    pub fn next(&mut self, timeout: Duration) -> Next {
        if let Some((at, n)) = self.pending.pop_front() {
            return Next::Notification(at, n);
        }
        if std::mem::take(&mut self.stop_requested) {
            return Next::Stop;
        }
        if std::mem::take(&mut self.nudged) {
            return Next::Nudge;
        }
        if let Some(k) = self.take_kick() {
            return Next::Kick(k);
        }
        if std::mem::take(&mut self.activity) {
            return Next::Activity;
        }
        if std::mem::take(&mut self.clients) {
            return Next::Clients;
        }
        match self.incoming.recv_timeout(timeout) {
            Ok(Incoming::Message(at, Message::Notification(n))) => Next::Notification(at, n),
            // A reply nobody waits for (cannot happen: commands are synchronous); ignore it.
            Ok(Incoming::Message(_, Message::Reply { .. })) => Next::Timeout,
            Ok(Incoming::Closed) | Err(RecvTimeoutError::Disconnected) => Next::Closed,
            Ok(Incoming::Stop) => Next::Stop,
            Ok(Incoming::Nudge) => Next::Nudge,
            Ok(Incoming::Activity) => Next::Activity,
            Ok(Incoming::Clients) => Next::Clients,
            Ok(Incoming::Kick) => self.take_kick().map_or(Next::Timeout, Next::Kick),
            Err(RecvTimeoutError::Timeout) => Next::Timeout,
        }
    }

    /// What tmux printed on stderr, once the client has exited.
    fn stderr(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        let text = text.trim().to_owned();
        if text.is_empty() {
            format!("connection to {} closed", self.socket)
        } else {
            text
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Our own child, ended by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private tmux server with one session, killed (by its socket) when dropped.
    struct Server(tempfile::TempDir);

    impl Server {
        fn start() -> Server {
            let dir = tempfile::tempdir().unwrap();
            let ok = Command::new("tmux")
                .arg("-S")
                .arg(dir.path().join("sock"))
                .args(["-f", "/dev/null", "new-session", "-d", "-s", "x"])
                .env_remove("TMUX")
                .status()
                .unwrap()
                .success();
            assert!(ok, "tmux new-session");
            Server(dir)
        }

        fn sock(&self) -> std::path::PathBuf {
            self.0.path().join("sock")
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = Command::new("tmux")
                .arg("-S")
                .arg(self.sock())
                .arg("kill-server")
                .status();
        }
    }

    #[test]
    fn a_failing_command_in_a_line_does_not_wait_for_replies_tmux_never_sends() {
        // Regression: tmux drops the rest of a line after a failed command; command_list
        // waited 10 s for their replies (a pane closed while being piped hung the watcher).
        let server = Server::start();
        let mut conn = Connection::open(Path::new("tmux"), &server.sock(), None).unwrap();
        let sent = conn.sent();
        let line = [
            "display-message -p a".to_owned(),
            "pipe-pane -t %99 -O \"cat\"".to_owned(),
            "display-message -p c".to_owned(),
        ];
        let started = std::time::Instant::now();
        let results = conn.command_list(&line).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(results[0].as_ref().unwrap(), &vec![b"a".to_vec()]);
        assert!(
            matches!(&results[1], Err(ConnError::Refused { detail, .. }) if detail.contains("%99"))
        );
        assert!(
            matches!(&results[2], Err(ConnError::Refused { detail, .. }) if detail.contains("not run"))
        );
        // tmux logged the two it ran, and only those.
        assert_eq!(conn.sent(), sent + 2);
        assert_eq!(
            conn.command("display-message -p d").unwrap(),
            vec![b"d".to_vec()]
        );
    }
}
