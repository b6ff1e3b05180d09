//! Who is connected to a real tmux 3.3a server, as the kernel says — compared with what tmux's
//! `list-clients` says. Each test runs its own server on a private socket in a temp dir and
//! kills only that server and the clients it started. Needs root (CI runs as root) for the
//! second user, `nobody`.

use audit_proc::peers::{peers, Peer, PeersError};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Polls `f` until it gives `Some`, for at most 10 s.
fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A tmux server of our own, killed (`kill-server` on its socket) when dropped.
struct Server {
    dir: tempfile::TempDir,
    sock: PathBuf,
    pid: u32,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("sock");
        let ok = Command::new("tmux")
            .arg("-S")
            .arg(&sock)
            .args(["-f", "/dev/null", "new-session", "-d", "-s", "s"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux server started");
        let mut server = Server { dir, sock, pid: 0 };
        server.pid = server
            .tmux(&["display-message", "-p", "#{pid}"])
            .trim()
            .parse()
            .unwrap();
        server
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.sock)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// `#{client_pid}` of each client, as tmux reports it (that is, as each client claimed).
    fn listed_pids(&self) -> Vec<u32> {
        self.tmux(&["list-clients", "-F", "#{client_pid}"])
            .lines()
            .map(|l| l.parse().unwrap())
            .collect()
    }

    fn peers(&self) -> Vec<Peer> {
        peers(self.pid, &self.sock).unwrap()
    }

    /// Waits until the kernel shows a connection from `pid`, and returns it.
    fn peer_from(&self, pid: u32) -> Peer {
        until(&format!("a connection from {pid}"), || {
            self.peers().into_iter().find(|p| p.pid == pid)
        })
    }

    /// Lets `nobody` connect: on the allow list, and the folder and socket opened to others.
    fn open_to_nobody(&self) {
        self.tmux(&["server-access", "-a", "nobody"]);
        let mode = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
        mode(self.dir.path(), 0o755).unwrap();
        mode(&self.sock, 0o777).unwrap();
    }

    /// An attached control-mode client, run through `prefix` (e.g. `setpriv …`) with `env`.
    /// Its stdin is a pipe this holds open: closing it makes the client exit.
    fn control_client(&self, prefix: &[&str], env: &[(&str, &Path)]) -> Client {
        let (program, rest) = match prefix {
            [] => ("tmux", &[][..]),
            [p, rest @ ..] => (*p, rest),
        };
        let mut cmd = Command::new(program);
        cmd.args(rest);
        if !prefix.is_empty() {
            cmd.arg("tmux");
        }
        cmd.arg("-S")
            .arg(&self.sock)
            .args(["-C", "attach", "-t", "s"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Client {
            child: cmd.spawn().unwrap(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.sock)
            .arg("kill-server")
            .stderr(Stdio::null())
            .status();
    }
}

/// A client process we started, killed by pid when dropped.
struct Client {
    child: Child,
}

impl Client {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes its stdin (a control client then detaches and exits) and reaps it.
    fn exit(mut self) {
        drop(self.child.stdin.take());
        self.child.wait().unwrap();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds C `source` with gcc into `dir`: a shared object when `shared`, else a program.
fn compile(dir: &Path, name: &str, source: &str, shared: bool) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    let out = dir.join(if shared {
        format!("{name}.so")
    } else {
        name.to_string()
    });
    std::fs::write(&src, source).unwrap();
    let mut gcc = Command::new("gcc");
    if shared {
        gcc.args(["-shared", "-fPIC"]);
    }
    let built = gcc.arg("-o").arg(&out).arg(&src).status().unwrap();
    assert!(built.success(), "gcc built {name}");
    out
}

fn uid_of(user: &str) -> u32 {
    let out = Command::new("id").args(["-u", user]).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

const AS_NOBODY: &[&str] = &[
    "setpriv",
    "--reuid",
    "nobody",
    "--regid",
    "nogroup",
    "--clear-groups",
];

#[test]
fn an_attached_control_client_is_seen_with_the_pid_tmux_lists_and_uid_root() {
    if !is_root() {
        return;
    }
    let server = Server::start();
    let client = server.control_client(&[], &[]);
    until("tmux to list the client", || {
        server.listed_pids().contains(&client.pid()).then_some(())
    });
    let peer = server.peer_from(client.pid());
    assert_eq!(peer.uid, 0);
    assert_eq!(peer.gid, 0);
    assert_eq!(peer.comm.as_deref(), Some("tmux: client"));
    let argv = peer.argv.as_ref().unwrap();
    assert_eq!(argv[0], b"tmux");
    assert!(argv.iter().any(|a| a == b"-C"), "{argv:?}");
    assert!(peer.peer_inode.is_some());
    assert!(peer.server_fd > 2);
    assert!(
        server.peers().iter().all(|p| p.pid != server.pid),
        "the listening socket is not a peer"
    );
}

#[test]
fn a_client_of_another_user_is_seen_with_that_users_uid() {
    if !is_root() {
        return;
    }
    let server = Server::start();
    server.open_to_nobody();
    let client = server.control_client(AS_NOBODY, &[]);
    until("tmux to list nobody's client", || {
        server.listed_pids().contains(&client.pid()).then_some(())
    });
    let peer = server.peer_from(client.pid());
    let nobody = uid_of("nobody");
    assert_eq!(peer.uid, nobody);
    assert_eq!(
        server
            .tmux(&["list-clients", "-F", "#{client_pid} #{client_uid}"])
            .lines()
            .find(|l| l.starts_with(&format!("{} ", client.pid()))),
        Some(format!("{} {nobody}", client.pid()).as_str())
    );
}

#[test]
fn a_raw_connection_tmux_never_lists_is_seen_with_our_own_pid() {
    if !is_root() {
        return;
    }
    let server = Server::start();
    // Connects and says nothing: tmux has a client for it but no session, so never lists it —
    // the same as a command-only client between connect and exit.
    let stream = UnixStream::connect(&server.sock).unwrap();
    let me = std::process::id();
    let peer = server.peer_from(me);
    assert_eq!(peer.uid, 0);
    use std::os::unix::fs::MetadataExt;
    let our_inode = std::fs::metadata(format!("/proc/self/fd/{}", {
        use std::os::fd::AsRawFd;
        stream.as_raw_fd()
    }))
    .unwrap()
    .ino();
    assert_eq!(peer.peer_inode, Some(our_inode), "the peer is our socket");
    assert!(!server.listed_pids().contains(&me));
    drop(stream);
}

#[test]
fn a_client_that_exits_is_gone_from_the_list() {
    if !is_root() {
        return;
    }
    let server = Server::start();
    let stays = server.control_client(&[], &[]);
    let leaves = server.control_client(&[], &[]);
    let leaving = leaves.pid();
    let inode = server.peer_from(leaving).inode;
    server.peer_from(stays.pid());
    leaves.exit();
    until("the connection to close", || {
        let now = server.peers();
        (!now.iter().any(|p| p.pid == leaving || p.inode == inode)).then_some(())
    });
    assert!(server.peers().iter().any(|p| p.pid == stays.pid()));
}

/// Connects to the socket in argv[1], forks, and exits, leaving the connection to the child,
/// which prints nothing and holds it until its stdin closes. Prints the child's pid.
const HAND_OFF: &str = r#"
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
int main(int argc, char **argv) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strncpy(sa.sun_path, argv[1], sizeof sa.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (argc != 2 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return 1;
    pid_t child = fork();
    if (child < 0)
        return 1;
    if (child == 0) {
        char c;
        close(1);
        while (read(0, &c, 1) > 0)
            ;
        return 0;
    }
    printf("%d\n", (int)child);
    return 0;
}
"#;

#[test]
fn a_connection_handed_to_a_child_keeps_the_dead_connectors_pid_and_no_stale_details() {
    if !is_root() {
        return;
    }
    let server = Server::start();
    let program = compile(server.dir.path(), "handoff", HAND_OFF, false);
    let mut connector = Command::new(&program)
        .arg(&server.sock)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut printed = String::new();
    use std::io::Read;
    connector
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut printed)
        .unwrap();
    let holder: u32 = printed.trim().parse().unwrap();
    // The holder exits when its stdin closes: taken out of `connector`, as `Child::wait` would
    // close it, and closed on drop even on a panic.
    let hold = connector.stdin.take();
    assert!(connector.wait().unwrap().success());
    // SO_PEERCRED keeps the pid that connected, now reaped; what ran under it is not guessed.
    let peer = server.peer_from(connector.id());
    assert_eq!((peer.comm, peer.argv), (None, None));
    // The client-side inode finds who holds the connection now.
    let held = std::fs::read_dir(format!("/proc/{holder}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .any(|l| l.to_str() == Some(&format!("socket:[{}]", peer.peer_inode.unwrap())));
    assert!(held, "the child holds the client socket");
    drop(hold);
    until("the holder to let go", || {
        (!server.peers().iter().any(|p| p.inode == peer.inode)).then_some(())
    });
}

#[test]
fn a_wrong_or_gone_server_is_a_clear_error() {
    if !is_root() {
        return;
    }
    let server = Server::start();
    let me = std::process::id();
    let err = peers(me, &server.sock).unwrap_err();
    assert!(
        matches!(&err, PeersError::NotTheServer { pid, .. } if *pid == me),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .contains("is not the tmux server listening on"));
    let err = peers(server.pid, &server.dir.path().join("other")).unwrap_err();
    assert!(matches!(err, PeersError::NotTheServer { .. }), "{err:?}");
    for pid in [0, u32::MAX, i32::MAX as u32] {
        let err = peers(pid, &server.sock).unwrap_err();
        assert!(
            matches!(err, PeersError::ServerGone { .. }),
            "{pid}: {err:?}"
        );
    }
    let pid = server.pid;
    server.tmux(&["kill-server"]);
    // While it shuts down it may briefly still hold, or have just closed, its socket.
    let err = until("the server to be gone", || match peers(pid, &server.sock) {
        Err(e @ PeersError::ServerGone { .. }) => Some(e),
        _ => None,
    });
    assert_eq!(
        err.to_string(),
        format!("tmux server process {pid} is gone")
    );
}

#[test]
fn a_client_that_lies_about_its_pid_is_caught() {
    if !is_root() {
        return;
    }
    // tmux 3.3a's client sends getpid() as MSG_IDENTIFY_CLIENTPID (client.c,
    // client_send_identify), through the dynamic libc: a preloaded getpid is believed.
    const FAKE: u32 = 4242;
    let server = Server::start();
    let shim = compile(
        server.dir.path(),
        "fakepid",
        &format!("#include <sys/types.h>\npid_t getpid(void) {{ return {FAKE}; }}\n"),
        true,
    );
    let liar = server.control_client(&[], &[("LD_PRELOAD", &shim)]);
    assert_ne!(liar.pid(), FAKE);
    until("tmux to list the fake pid", || {
        server.listed_pids().contains(&FAKE).then_some(())
    });
    assert!(
        !server.listed_pids().contains(&liar.pid()),
        "tmux believed it"
    );
    let peer = server.peer_from(liar.pid());
    assert_eq!(peer.uid, 0);
    assert!(server.peers().iter().all(|p| p.pid != FAKE));
}

#[test]
fn someone_without_rights_over_the_server_is_refused_clearly() {
    if !is_root() {
        return;
    }
    let server = Server::start();
    // This test binary, re-run as nobody, runs only the helper below.
    let exe = server.dir.path().join("peers-test");
    // Copied by `cp`, not here: a writable descriptor open in this process would leak into a
    // child another test forks meanwhile, and exec of the copy would fail with ETXTBSY.
    let copied = Command::new("cp")
        .arg(std::env::current_exe().unwrap())
        .arg(&exe)
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::set_permissions(server.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(AS_NOBODY[0])
        .args(&AS_NOBODY[1..])
        .arg(&exe)
        .args([
            "--exact",
            "as_nobody_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            "PEERS_AS_NOBODY",
            format!("{} {}", server.pid, server.sock.display()),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("refused: not permitted to inspect tmux server"),
        "{stdout}"
    );
}

/// Not a test of its own: run as nobody by the one above, which passes it a root-owned server.
#[test]
fn as_nobody_helper() {
    let Ok(arg) = std::env::var("PEERS_AS_NOBODY") else {
        return;
    };
    let (pid, sock) = arg.split_once(' ').unwrap();
    match peers(pid.parse().unwrap(), Path::new(sock)) {
        Err(e @ PeersError::NotPermitted { .. }) => println!("refused: {e}"),
        other => panic!("expected NotPermitted, got {other:?}"),
    }
}

#[test]
fn one_look_at_a_server_with_five_clients_is_cheap() {
    if !is_root() {
        return;
    }
    let server = Server::start();
    let clients: Vec<Client> = (0..5).map(|_| server.control_client(&[], &[])).collect();
    for c in &clients {
        server.peer_from(c.pid());
    }
    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        assert!(server.peers().len() >= 5);
    }
    let each = start.elapsed() / n;
    eprintln!("peers() with 5 clients: {each:?} per call");
    assert!(each < Duration::from_millis(50), "{each:?} per call");
    // A busy desktop has a thousand or more unix sockets, and the dump lists them all.
    let others: Vec<_> = (0..1000).map(|_| UnixStream::pair().unwrap()).collect();
    let start = Instant::now();
    for _ in 0..n {
        assert!(server.peers().len() >= 5);
    }
    let each = start.elapsed() / n;
    eprintln!("peers() with 5 clients, 2000 other unix sockets: {each:?} per call");
    assert!(each < Duration::from_millis(100), "{each:?} per call");
    drop(others);
}
