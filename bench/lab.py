"""The benchmark's laboratory: private tmux servers, real pty clients, a tmux-audit daemon.

Isolation rules, kept by every class here:
- each tmux server lives on a socket in the run's own temp dir (`tmux -S DIR/NAME.sock`), and
  every child gets TMUX_TMPDIR=DIR and no TMUX, so the user's default server is never touched;
- everything started here is ended by its pid, or with `kill-server` on our own socket;
- every wait is a bounded poll (`poll`), never a sleep that hopes something is ready.
"""

import fcntl
import json
import os
import signal
import struct
import subprocess
import termios
import time

from store import Store

TMUX = "tmux"
ROWS, COLS = 24, 80
DETACH_KEYS = b"\x02d"  # the default prefix C-b, then d


def child_env(tmp):
    """The environment for every process we start: private TMUX_TMPDIR, no TMUX, TERM=xterm."""
    env = dict(os.environ)
    for name in ("TMUX", "TMUX_PANE"):
        env.pop(name, None)
    env["TMUX_TMPDIR"] = tmp
    env["TERM"] = "xterm"
    env["SHELL"] = "/bin/sh"  # panes run a plain, quiet shell
    return env


def poll(check, timeout, interval=0.001):
    """Calls `check()` every `interval` s until it returns something other than None.

    Returns (value, wall-clock time.time() at which it was first seen), or (None, None) once
    `timeout` seconds have passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value, time.time()
        if time.monotonic() >= deadline:
            return None, None
        time.sleep(interval)


def pid_alive(pid):
    """Whether `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class TmuxServer:
    """One tmux server on a private socket, with no config file (`-f /dev/null`)."""

    def __init__(self, tmp, name):
        self.sock = os.path.join(tmp, f"{name}.sock")
        self.env = child_env(tmp)
        self.pid = None

    def tmux(self, *args):
        """Runs `tmux -S SOCK ARGS...` and returns its stdout, stripped; raises on failure."""
        done = subprocess.run(
            [TMUX, "-S", self.sock, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if done.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout.strip()

    def start(self, first_session):
        """Starts the server with one detached session and learns the server's pid."""
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", first_session,
                  "-x", str(COLS), "-y", str(ROWS))
        self.pid = int(self.tmux("display-message", "-p", "#{pid}"))

    def new_session(self, name):
        """Creates one more detached session."""
        self.tmux("new-session", "-d", "-s", name, "-x", str(COLS), "-y", str(ROWS))

    def argv(self, *args):
        """The argument vector of a tmux client of this server."""
        return [TMUX, "-S", self.sock, *args]

    def control_clients(self):
        """How many control-mode clients (a recorder's) are attached now."""
        out = self.tmux("list-clients", "-F", "#{client_control_mode}")
        return out.split().count("1")

    def kill(self):
        """`kill-server` on our own socket; SIGKILL by pid only if that did not end it."""
        if self.pid is None:
            return
        try:
            self.tmux("kill-server")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        gone, _ = poll(lambda: True if not pid_alive(self.pid) else None, timeout=5, interval=0.01)
        if not gone:
            os.kill(self.pid, signal.SIGKILL)
        self.pid = None


class PtyClient:
    """A real terminal client: ARGV exec'd on a fresh pty of ROWSxCOLS as its controlling tty.

    `t0` is the wall clock taken in the parent just before fork+exec: a conservative start, since
    it includes fork, exec and the tmux client's own start-up.
    """

    def __init__(self, argv, env):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.t0 = time.time()
        pid = os.fork()
        if pid == 0:  # child: new session, pty as controlling terminal and stdio, exec
            try:
                os.close(master)
                os.setsid()
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
                for fd in (0, 1, 2):
                    os.dup2(slave, fd)
                os.close(slave)
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        os.close(slave)
        os.set_blocking(master, False)
        self.pid, self.master, self.status, self.first_output = pid, master, None, None

    def drain(self):
        """Reads and drops whatever the client wrote, so it never blocks on a full pty.

        The first time anything arrives is kept in `first_output`: tmux writing the attached
        screen (the server writes to the client's terminal once the attach is done).
        """
        while True:
            try:
                if not os.read(self.master, 65536):
                    return
            except (BlockingIOError, OSError):
                return
            if self.first_output is None:
                self.first_output = time.time()

    def detach(self):
        """Types the detach key binding, as a person would."""
        os.write(self.master, DETACH_KEYS)

    def exited(self):
        """True once the client process has exited (reaps it)."""
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
        return self.status is not None

    def wait_exit(self, timeout=5):
        """Waits (bounded) for the client to exit, draining its output; True if it did."""
        def gone():
            self.drain()
            return True if self.exited() else None

        done, _ = poll(gone, timeout)
        return done is not None

    def close(self):
        """Ends the client by pid if it still runs, and closes the pty."""
        if not self.exited():
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.status = -signal.SIGKILL
        os.close(self.master)


class Daemon:
    """`tmux-audit --db DB daemon -S SOCK` in the foreground, logging to a file."""

    def __init__(self, binary, db, server, log_path, extra=()):
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [binary, "--db", db, "daemon", "-S", server.sock, *extra],
                env=server.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        self.pid = self.proc.pid

    def children(self):
        """Pids of the daemon's live child processes (its tmux control client)."""
        kids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == self.pid and fields[0] != "Z":
                kids.append(int(entry))
        return kids

    @staticmethod
    def describe(pid):
        """A child's command line without the socket path, for the report."""
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().decode(errors="replace").split("\0")[:-1]
        if "-S" in argv:
            i = argv.index("-S")
            del argv[i:i + 2]
        return " ".join([os.path.basename(argv[0]), *argv[1:]])

    def running(self):
        return self.proc.poll() is None

    def log_tail(self, lines=20):
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def stop(self, timeout=10):
        """SIGTERM (a clean stop), then SIGKILL by pid if it does not end; returns exit status."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def pane_output(binary, db, env=None):
    """What the store has committed of pane output, from `tmux-audit log --json --kind
    pane-output`: {pane id: (bytes, chunks)}. Raises if the command fails."""
    done = subprocess.run([binary, "--db", db, "log", "--json", "--kind", "pane-output"],
                          capture_output=True, text=True, timeout=120, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"tmux-audit log --json failed ({done.returncode}): "
                           f"{done.stderr.strip()[-300:]}")
    panes = {}
    for line in done.stdout.splitlines():
        e = json.loads(line)
        got = panes.get(e["pane_id"], (0, 0))
        panes[e["pane_id"]] = (got[0] + e.get("bytes", 0), got[1] + 1)
    return panes


def files_under(path):
    """{relative path: (apparent size, bytes allocated on disk)} of every file under `path`."""
    out = {}
    for d, _, files in os.walk(path):
        for f in files:
            full = os.path.join(d, f)
            try:
                st = os.stat(full)
            except FileNotFoundError:
                continue
            out[os.path.relpath(full, path)] = (st.st_size, st.st_blocks * 512)
    return out


def sqlite_pages(db):
    """How the SQLite file's pages are used, read-only: {"page_size", "pages", "free" (pages
    on the freelist: space the file keeps but nothing uses), "tables": {table or index name:
    bytes of its pages}}. "tables" is empty if this sqlite3 lacks the dbstat table."""
    import sqlite3
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = {"page_size": conn.execute("PRAGMA page_size").fetchone()[0],
               "pages": conn.execute("PRAGMA page_count").fetchone()[0],
               "free": conn.execute("PRAGMA freelist_count").fetchone()[0], "tables": {}}
        try:
            out["tables"] = dict(conn.execute(
                "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"))
        except sqlite3.Error:
            pass
        return out
    finally:
        conn.close()


def start_daemon(binary, tmp, server, sessions):
    """Starts a daemon on `server`; waits until the store holds its `sessions` sessions.

    Returns (daemon, store, db path).
    """
    db = os.path.join(tmp, f"{os.path.basename(server.sock)}.db")
    daemon = Daemon(binary, db, server, log_path=db + ".log")
    created, _ = poll(lambda: True if os.path.exists(db) or not daemon.running() else None, 10)
    store = Store(db) if created and daemon.running() else None

    def ready():
        if not daemon.running():
            return False
        return True if store.count("session-created") >= sessions else None

    ok, _ = poll(ready, 10, interval=0.01) if store else (False, None)
    if not ok:
        daemon.stop()
        raise RuntimeError(f"daemon did not report the server within 10 s:\n{daemon.log_tail()}")
    return daemon, store, db


def wait_event(store, client, kind, timeout=5.0):
    """Polls the store every 1 ms (draining the client's pty) for `kind` naming the client's pid.

    Returns (event, wall time it was seen) or (None, None).
    """
    def check():
        client.drain()
        return store.find(kind, client.pid)

    return poll(check, timeout)
