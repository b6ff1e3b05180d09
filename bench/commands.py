"""Cost of command tracking: a fork-heavy workload in a detached tmux pane, per configuration.

Run `bench/run-commands`. Issue 5's benchmark: what recording every program run in a pane
(the daemon as root, listening to the kernel's netlink process-events connector) costs a
workload that does nothing but start programs — BENCH_COMMANDS_EXECS (10,000) runs of
/bin/true — measured side by side in ONE run under:

  nothing    tmux alone, nothing recording
  listener   a bare listener to the kernel's process events (`audit-proc`'s example `listen`:
             the daemon's socket, buffer, BPF filter and real-time priority; it reads and
             decodes every event and records nothing): the floor of listening (root)
  listener+proc  the same, also reading /proc/PID at each exec as the tracker does (root)
  access     `tmux-audit --db D daemon -S SOCK --no-output --no-commands` (access only)
  commands   `tmux-audit --db D daemon -S SOCK --no-output` (access + commands; root)
  full       `tmux-audit --db D daemon -S SOCK` (access + commands + pane output: the full
             configuration; root)

Method:
- One measurement = one fresh tmux server on a private socket (`tmux -S TMP/commands.sock -f
  /dev/null`, TMUX_TMPDIR=TMP, TMUX unset; never the default server) with one detached 80x24
  session whose pane runs `exec /bin/sh SCRIPT` (dash here; the pane's first process is the
  script's shell, so its reaped children's CPU is what the pane ran). The script blocks on a
  FIFO, then takes `date +%s%N`, runs `i=0; while [ $i -lt N ]; do /bin/true; i=$((i+1));
  done`, takes `date +%s%N` again and writes both to a time file (`echo > F.tmp && mv F.tmp
  F`), then `exec sleep 3600`. The loop is timed from inside the pane; the harness polls for
  the time file (bounded) and never sleeps and hopes.
- For the daemon variants the daemon gets a fresh store (D/store/audit.db) and the FIFO is
  written only once the store holds its `audit-started` and the pane's `pane-created` (and, for
  `full`, tmux reports the pane piped, `#{pane_pipe}` = 1). For `commands` and `full` the
  `audit-started` event must carry no `message` (the daemon says there when it does not
  get the kernel's process events: not root, it scans /proc instead or records no commands);
  if it does, the measurement is reported as failed. Not root: those
  two variants are skipped and the report says so.
- After the loop (commands variants) the harness counts the store's `events` rows of kind
  `command` read-only (sqlite3) every 10 ms until it holds N + 1 of them — the script's first
  `date` and the N runs of /bin/true: the shell waits for each program before it starts the
  next, so they end, and are committed, in that order — and reports how long after the loop's
  end that was (*catch-up*; bounded: it gives up when no new command arrives for 10 s or after
  BENCH_COMMANDS_TIMEOUT). It counts rows only (decoding waits until after the stop). When all
  were committed already at the first count, right after the harness saw the time file (polled
  every 5 ms), the catch-up is reported as an upper bound (`≤`): the time from the loop's end
  to that moment.
- Noise: before each measurement the harness waits (at most BENCH_COMMANDS_QUIET, 120 s; 0
  skips it) for a quiet machine: under 10% of all CPUs busy over one second (/proc/stat) and no
  NETLINK_CONNECTOR socket in user space (/proc/net/netlink) — another process-events
  listener adds the kernel's side of the cost to every variant, `nothing` included, and its
  work competes for the CPUs. It notes the wait, the 1-minute load average and the other
  connector sockets as the loop starts; all are shown per round, and a measurement that
  started on a busy machine is listed as a problem. During each loop it measures the *other*
  CPU time: all CPUs' busy ticks (/proc/stat) minus what the pane's shell and its reaped
  programs, the tmux server, the daemon and the harness used; and the hypervisor's *steal*.
  A loop during which other work took more than 10% of one CPU (and 0.2 s) is *disturbed* and
  measured again at once (after the wait for quiet), at most BENCH_COMMANDS_REPEAT (2) times
  per slot; the report lists the samples set aside.
- Counting: the pane runs N + 3 programs (N x /bin/true, `date` twice, `mv`). A run of
  /bin/true is recorded *with argv* (`argv[0]` == "/bin/true") or *without* (it ended before
  the daemon read /proc/PID/cmdline): then the event has `comm` `true` when /proc still held
  the zombie, or no `comm` at all when it was already reaped. An event with neither names no
  program; those are counted as /bin/true once the script's other programs not named by argv
  or comm are set aside (at most 3). With argv + without should be N, the events N + 3.
- Daemon CPU: utime+stime of /proc/PID/stat (all threads; clock ticks) and the sum of its
  threads' schedstat (ns on CPU, also per thread name), read just before the FIFO is written
  and again at catch-up (`access`: right after the loop). The tmux server's CPU (schedstat)
  over the same window.
- Then SIGTERM to the daemon by its pid (timed; exit status 0 expected), WARN/ERROR lines of
  its log are listed as problems (e.g. the kernel dropped process events: ENOBUFS), and the
  final counts are taken with `tmux-audit --db D log --json --kind command` (the tool's own
  view; checked against the harness's own decoding of the rows, from the canonical TAE1
  encoding, which also checks the commit order) and `tmux-audit --db D verify` must exit 0.
- Rounds are interleaved: BENCH_COMMANDS_WARMUP (1) discarded rounds, then
  BENCH_COMMANDS_ROUNDS (5) rounds, each running every variant once, in an order rotated by one
  each round. Reported per variant: median, min, max, ratio of medians to `nothing`, the median
  of the per-round ratios (paired with that round's `nothing`) and every round's ratio, the
  added cost per exec; for the commands variants the counts, catch-up and CPU per round.

Every server is ended with `kill-server` on its own socket (lab.TmuxServer), every daemon with
SIGTERM by its pid, whatever happens. The servers' environment points TMUX_AUDIT_DB and
XDG_DATA_HOME into the temp dir, so nothing here can touch the user's store.
"""

import collections
import json
import os
import shlex
import shutil
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time

from burst import open_fifo_writer
from lab import Daemon, TmuxServer, poll
from procstat import TICK, usage
from report import machine, snapshot_binary
from store import Store

KNOBS = {"BENCH_COMMANDS_EXECS": 10000, "BENCH_COMMANDS_ROUNDS": 5, "BENCH_COMMANDS_WARMUP": 1,
         "BENCH_COMMANDS_TIMEOUT": 300, "BENCH_COMMANDS_QUIET": 120, "BENCH_COMMANDS_REPEAT": 2}
QUIET_BUSY = 0.10  # a quiet machine: under 10% of all CPUs busy over one second
DISTURBED = 0.10  # a loop is marked when other work took over 10% of one CPU meanwhile
DISTURBED_FLOOR = 0.2  # ... and over 0.2 s (the kernel's own work and 10 ms ticks stay below)
TRUE = "/bin/true"
SCRIPT_OTHERS = 3  # the pane script's other programs: date, date, mv
CATCHUP_QUIET = 10.0  # give up waiting for commands when none arrived for this long

# (name, label, daemon flags or None for no daemon, records commands, records output)
VARIANTS = (
    ("nothing", "nothing recording (tmux alone)", None, False, False),
    ("listener", "bare connector listener (`audit-proc` example `listen`: subscribes, reads, "
     "records nothing)", None, False, False),
    ("listener+proc", "bare listener that also reads /proc at each exec (`listen --read-proc`)",
     None, False, False),
    ("access", "`daemon --no-output --no-commands` (access only)",
     ["--no-output", "--no-commands"], False, False),
    ("commands", "`daemon --no-output` (access + **commands**)", ["--no-output"], True, False),
    ("full", "`daemon` (access + commands + output: full configuration)", [], True, True),
)

# The floor of listening: the bare listener's arguments, by variant (needs root).
LISTENERS = {"listener": [], "listener+proc": ["--read-proc"]}

PANE_SCRIPT = """\
read go < {go}
start=$(date +%s%N)
i=0; while [ $i -lt {n} ]; do {true}; i=$((i+1)); done
end=$(date +%s%N)
echo "$start $end" > {time}.tmp && mv {time}.tmp {time}
exec sleep 3600
"""


def progress(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Reading `command` events from the store (read-only)

# The canonical encoding's field types by tag (audit_core::encoding; tags only grow).
_STRING = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 14, 15, 16, 17, 18, 21, 23, 24, 25, 26, 30, 34, 35,
           42, 43, 44}
_INT = {10, 11, 19, 20, 22, 27, 28, 29, 31, 32, 33, 38, 39, 40}
_BOOL = {13}
_BYTES = {37, 41}
_LIST = {36}
_NAMES = {1: "kind", 8: "pane_id", 17: "reason", 19: "from", 20: "until", 22: "pid",
          25: "message", 36: "argv", 38: "exit_code", 39: "signal", 41: "comm"}


def decode(data):
    """The fields of one TAE1 event that this benchmark needs (argv items and comm as bytes)."""
    if data[:4] != b"TAE1":
        raise ValueError("not a TAE1 event")
    event, at = {}, 20

    def raw():
        nonlocal at
        (length,) = struct.unpack_from(">I", data, at)
        value = data[at + 4:at + 4 + length]
        at += 4 + length
        return value

    while at < len(data):
        tag, at = data[at], at + 1
        if tag in _STRING:
            value = raw().decode()
        elif tag in _BYTES:
            value = raw()
        elif tag in _INT:
            (value,) = struct.unpack_from(">q", data, at)
            at += 8
        elif tag in _BOOL:
            value, at = data[at] == 1, at + 1
        elif tag in _LIST:
            (count,) = struct.unpack_from(">I", data, at)
            at += 4
            value = [raw() for _ in range(count)]
        else:  # a field newer than this reader: everything needed comes before it
            break
        if tag in _NAMES:
            event[_NAMES[tag]] = value
    return event


def bucket(argv0, comm):
    """One `command`'s bucket: (argv[0], True) when its arguments were read; otherwise
    (comm, False), comm None when /proc had nothing left of it (it was already reaped)."""
    return (argv0, True) if argv0 is not None else (comm, False)


def tally(counts, execs):
    """What a Counter of buckets says about the script's programs: N runs of /bin/true plus
    SCRIPT_OTHERS (`date`, `date`, `mv`).

    A program recorded without argv and without comm cannot be named from its event; those are
    counted as /bin/true once the script's other programs that were not named are set aside
    (the script runs exactly SCRIPT_OTHERS of them, each between two runs of the loop's
    programs or outside the loop).
    """
    with_argv = counts[(TRUE, True)]
    comm_true = counts[("true", False)]
    gone = counts[(None, False)]
    others = {k: v for k, v in counts.items()
              if k not in ((TRUE, True), ("true", False), (None, False))}
    named_others = sum(others.values())
    unnamed_others = min(gone, max(0, SCRIPT_OTHERS - named_others))
    without = comm_true + gone - unnamed_others
    return {"with_argv": with_argv, "comm_true": comm_true, "gone": gone,
            "unnamed_others": unnamed_others, "without": without, "sum": with_argv + without,
            "others": others, "total": sum(counts.values())}


class Listener:
    """The bare process-events listener (`audit-proc`'s example `listen`), started and ready."""

    def __init__(self, binary, args):
        self.proc = subprocess.Popen([binary, *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.stop()
            raise RuntimeError(f"the listener did not start: {line!r} {self.proc.stderr.read()!r}")

    def stop(self):
        """SIGTERM by its pid; what it said it read."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return (out or "").strip()


class Commands:
    """Follows the store's committed `command` events, counting them by bucket."""

    def __init__(self, db):
        self.conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
        self.last = 0
        self.counts = collections.Counter()
        self.named_others = []  # (position in commit order, name) of programs not /bin/true

    def refresh(self):
        rows = self.conn.execute("SELECT seq, data FROM events WHERE seq > ? AND kind = "
                                 "'command' ORDER BY seq", (self.last,)).fetchall()
        for seq, data in rows:
            self.last = seq
            e = decode(data)
            argv = e.get("argv")
            argv0 = argv[0].decode(errors="replace") if argv else None
            comm = e["comm"].decode(errors="replace") if e.get("comm") is not None else None
            key = bucket(argv0, comm)
            if key not in ((TRUE, True), ("true", False), (None, False)):
                self.named_others.append((self.total(), key[0]))
            self.counts[key] += 1
        return len(rows)

    def out_of_order(self):
        """The script's other programs not where its order puts them (first, last two)."""
        n = self.total()
        return [(at, name) for at, name in self.named_others if at not in (0, n - 2, n - 1)]

    def total(self):
        return sum(self.counts.values())

    def count(self):
        """How many `command` events are committed now (not decoded: cheap to poll)."""
        return self.conn.execute("SELECT COUNT(*) FROM events WHERE kind = 'command'"
                                 ).fetchone()[0]

    def close(self):
        self.conn.close()


def logged_commands(binary, db, env):
    """The final counts from `tmux-audit log --json --kind command`: Counter of buckets."""
    done = subprocess.run([binary, "--db", db, "log", "--json", "--kind", "command"],
                          capture_output=True, text=True, timeout=120, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"tmux-audit log --json --kind command failed ({done.returncode}): "
                           f"{done.stderr.strip()[-300:]}")

    def text(v):
        if v is None or isinstance(v, str):
            return v
        return bytes.fromhex(v["hex"]).decode(errors="replace")  # {"hex": "..."}

    counts = collections.Counter()
    for line in done.stdout.splitlines():
        e = json.loads(line)
        argv = e.get("argv")
        counts[bucket(text(argv[0]) if argv else None, text(e.get("comm")))] += 1
    return counts


# ---------------------------------------------------------------------------------------------
# One measurement


def start_daemon(binary, server, d, pane, flags, output, timeout=10):
    """Starts the daemon with a fresh store in D/store; returns (daemon, db, audit-started's
    message) once the store holds `audit-started` and the pane's `pane-created` (and tmux
    reports the pane piped, when output is recorded)."""
    store_dir = os.path.join(d, "store")
    os.mkdir(store_dir)
    db = os.path.join(store_dir, "audit.db")
    daemon = Daemon(binary, db, server, os.path.join(d, "daemon.log"), flags)
    state = {"store": None}

    def ready():
        if not daemon.running():
            return False
        if output and server.tmux("display-message", "-p", "-t", pane, "#{pane_pipe}") != "1":
            return None
        if state["store"] is None:
            if not os.path.exists(db):
                return None
            state["store"] = Store(db)
        s = state["store"]
        return True if s.count("audit-started") and s.count("pane-created", pane_id=pane) else None

    ok, _ = poll(ready, timeout, interval=0.01)
    message = None
    if state["store"] is not None:
        message = next((e.get("message") for e in state["store"].events
                        if e["kind"] == "audit-started"), None)
        state["store"].close()
    if not ok:
        daemon.stop()
        raise RuntimeError(f"the daemon was not ready within {timeout} s:\n{daemon.log_tail()}")
    return daemon, db, message


def connector_sockets():
    """How many user-space NETLINK_CONNECTOR sockets exist now (/proc/net/netlink, protocol
    11, port id not 0: the kernel's own has 0). A process-events listener holds one."""
    try:
        with open("/proc/net/netlink") as f:
            rows = [line.split() for line in f.readlines()[1:]]
    except OSError:
        return None
    return sum(1 for r in rows if len(r) > 2 and r[1] == "11" and r[2] != "0")


def system_ticks():
    """(busy ticks, steal ticks) summed over the CPUs, from /proc/stat: busy = user, nice,
    system, irq, softirq (guest time is already inside user and nice); steal = time the
    hypervisor ran something else while a CPU of this machine wanted to run."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6], v[7]


def own_ticks(pid):
    """utime + stime + cutime + cstime of `pid` (itself and the children it reaped)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15])


def self_ticks():
    """This harness's own CPU (and its reaped children's), in ticks."""
    t = os.times()
    return (t.user + t.system + t.children_user + t.children_system) * TICK


def cpu_busy(seconds=1.0):
    """The share of all CPUs that was busy (not idle, iowait or stolen) over `seconds`."""
    busy0, _ = system_ticks()
    time.sleep(seconds)
    busy1, _ = system_ticks()
    return (busy1 - busy0) / (seconds * TICK * os.cpu_count())


def wait_quiet(limit):
    """Waits (at most `limit` s) until the machine is quiet: under QUIET_BUSY of the CPUs busy
    over one second and no NETLINK_CONNECTOR socket in user space. Returns (seconds waited,
    quiet or not, busy share last seen, sockets last seen)."""
    start = time.monotonic()
    while True:
        busy, sockets = cpu_busy(1.0), connector_sockets()
        if busy < QUIET_BUSY and not sockets:
            return time.monotonic() - start, True, busy, sockets
        if time.monotonic() - start >= limit:
            return time.monotonic() - start, False, busy, sockets


def cpu_since(before, after):
    """(utime+stime seconds, schedstat seconds) between two procstat.usage readings."""
    ticks = after.ticks - before.ticks
    run = sum(v - before.run_ns.get(t, 0) for t, v in after.run_ns.items())
    return ticks / TICK, run / 1e9


def catch_up(cmds, end_s, seen_s, execs, timeout, result):
    """Follows the store until every run of /bin/true is committed (bounded): until it holds
    execs + 1 `command` events — the script's first `date` and the loop's runs. The shell
    waits for each program before starting the next, so they end, and are committed, in that
    order; the second `date` and `mv` come after. Counts only (one indexed-free COUNT, a few
    ms): decoding the events waits until after. If all were committed when the harness first
    saw the time file (`seen_s`), the figure is an upper bound."""
    state = {"count": -1, "changed": time.monotonic()}
    first = cmds.count()
    result["at_end"] = min(execs, max(0, first - 1))
    if first >= execs + 1:
        result["caught_up"] = max(0.0, seen_s - end_s)
        result["caught_up_bound"] = True
        return

    def check():
        n = cmds.count()
        if n >= execs + 1:
            return True
        if n != state["count"]:
            state.update(count=n, changed=time.monotonic())
        elif time.monotonic() - state["changed"] >= CATCHUP_QUIET:
            return False
        return None

    done, seen = poll(check, timeout, interval=0.01)
    if done:
        result["caught_up"] = max(0.0, seen - end_s)
        return
    why = f"none new for {CATCHUP_QUIET:.0f} s" if done is False else f"{timeout} s passed"
    result["problems"].append(f"the store held {cmds.count():,} `command` events, not the "
                              f"{execs + 1:,} expected by the loop's end, when the harness "
                              f"stopped waiting ({why})")


def thread_cpu(pid, before, after):
    """Seconds on CPU (schedstat) per thread name of `pid` between two usage readings."""
    out = collections.Counter()
    for tid, ns in after.run_ns.items():
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
        except OSError:
            name = "?"
        out[name] += (ns - before.run_ns.get(tid, 0)) / 1e9
    return dict(out)


def measure(tmp, index, variant, binary, knobs):
    """One fresh server, one run of the loop under `variant`. Returns a dict of what was seen."""
    name, _, flags, records_commands, output = variant
    execs, timeout = knobs["BENCH_COMMANDS_EXECS"], knobs["BENCH_COMMANDS_TIMEOUT"]
    d = os.path.join(tmp, f"run-{index:03d}")
    os.mkdir(d)
    go, timefile = os.path.join(d, "go"), os.path.join(d, "time")
    os.mkfifo(go)
    script = os.path.join(d, "pane.sh")
    with open(script, "w") as f:
        f.write(PANE_SCRIPT.format(go=shlex.quote(go), n=execs, true=TRUE,
                                   time=shlex.quote(timefile)))
    server = TmuxServer(tmp, "commands")
    server.env["TMUX_AUDIT_DB"] = os.path.join(tmp, "audit.db")
    server.env["XDG_DATA_HOME"] = os.path.join(tmp, "xdg")
    result = {"variant": name, "error": None, "problems": []}
    if knobs["BENCH_COMMANDS_QUIET"] > 0:
        waited, quiet, busy, sockets = wait_quiet(knobs["BENCH_COMMANDS_QUIET"])
        result.update(waited=waited, quiet=quiet)
        if not quiet:
            result["problems"].append(
                f"the machine was not quiet after {waited:.0f} s of waiting ({busy:.0%} of the "
                f"CPUs busy, {sockets} NETLINK_CONNECTOR socket(s)); measured anyway")
    daemon = cmds = listener = None
    try:
        server.tmux("-f", "/dev/null", "new-session", "-d", "-s", "bench", "-x", "80", "-y", "24",
                    f"exec /bin/sh {shlex.quote(script)}")
        server.pid = int(server.tmux("display-message", "-p", "#{pid}"))
        pane = server.tmux("display-message", "-p", "-t", "bench", "#{pane_id}")
        if flags is not None:
            daemon, db, message = start_daemon(binary, server, d, pane, flags, output)
            if message:
                result["started_message"] = message
                if records_commands:
                    raise RuntimeError(f"audit-started says: {message}")
            if records_commands:
                cmds = Commands(db)
        if name in LISTENERS:
            listener = Listener(knobs["listener_binary"], LISTENERS[name])
        fd = open_fifo_writer(go, 10)
        if fd is None:
            raise RuntimeError("the pane's script never opened its start FIFO")
        result["load"] = float(open("/proc/loadavg").read().split()[0])
        sockets = connector_sockets()
        if sockets is not None:
            ours_listening = 1 if records_commands or listener else 0
            result["foreign_listeners"] = sockets - ours_listening
        shell = int(server.tmux("display-message", "-p", "-t", pane, "#{pane_pid}"))
        server_before = usage(server.pid)
        recorder = daemon or listener
        daemon_before = usage(recorder.pid) if recorder else None
        ours = [(own_ticks, shell), (own_ticks, server.pid)] + (
            [(own_ticks, recorder.pid)] if recorder else [])
        mine_before = sum(f(pid) for f, pid in ours) + self_ticks()
        system_before = system_ticks()
        os.write(fd, b"go\n")
        os.close(fd)

        def finished():
            try:
                with open(timefile) as f:
                    return f.read().split()
            except FileNotFoundError:
                return None

        fields, seen_s = poll(finished, timeout, interval=0.005)
        system_after = system_ticks()
        mine_after = sum(f(pid) for f, pid in ours) + self_ticks()
        if fields is None:
            text = server.tmux("capture-pane", "-p", "-t", "bench", "-S", "-5")
            raise RuntimeError(f"no time file after {timeout} s; pane shows: {text[-300:]!r}")
        start_ns, end_ns = (int(v) for v in fields)
        result["seconds"] = (end_ns - start_ns) / 1e9
        # What else the machine did meanwhile: all CPUs' busy time minus the pane's shell and
        # every program it ran (reaped: cutime), the tmux server, the daemon and this harness.
        busy = system_after[0] - system_before[0]
        result["other_cpu"] = max(0.0, (busy - (mine_after - mine_before)) / TICK)
        result["steal"] = (system_after[1] - system_before[1]) / TICK
        if cmds:
            catch_up(cmds, end_ns / 1e9, seen_s, execs, timeout, result)
        result["server_cpu"] = cpu_since(server_before, usage(server.pid))[1]
        if listener:
            after = usage(listener.pid)
            result["daemon_cpu"], result["daemon_run"] = cpu_since(daemon_before, after)
            result["listener_said"] = listener.stop()
            listener = None
        if daemon:
            daemon_after = usage(daemon.pid)
            result["daemon_cpu"], result["daemon_run"] = cpu_since(daemon_before, daemon_after)
            result["daemon_threads"] = thread_cpu(daemon.pid, daemon_before, daemon_after)
            t = time.monotonic()
            status = daemon.stop(timeout=60)
            result["stop"] = time.monotonic() - t
            if status != 0:
                result["problems"].append(f"daemon exit status {status} on SIGTERM: "
                                          f"{daemon.log_tail(5).strip()[-300:]}")
            with open(daemon.log_path, errors="replace") as f:
                for line in f:
                    if " WARN " in line or " ERROR " in line:
                        result["problems"].append(f"daemon log: {line.strip()[:300]}")
            done = subprocess.run([binary, "--db", db, "verify"], capture_output=True,
                                  text=True, timeout=120)
            result["verify"] = done.returncode
            if done.returncode != 0:
                result["problems"].append(f"`verify` exit status {done.returncode}: "
                                          f"{(done.stdout + done.stderr).strip()[-300:]}")
        if cmds:
            cmds.refresh()  # what the stop committed too
            logged = logged_commands(binary, db, server.env)
            result["logged"] = dict(logged)
            if logged != cmds.counts:
                result["problems"].append(f"`log --json --kind command` counts {dict(logged)} "
                                          f"differ from the store's rows {dict(cmds.counts)}")
            misplaced = cmds.out_of_order()
            if misplaced:
                result["problems"].append(f"programs other than {TRUE} committed inside the "
                                          f"loop's run (position, name): {misplaced[:5]}; the "
                                          f"catch-up time assumes commit order")
            t = tally(logged, execs)
            result["tally"] = t
            if t["total"] != execs + SCRIPT_OTHERS:
                result["problems"].append(f"{t['total']:,} `command` events recorded, not the "
                                          f"{execs + SCRIPT_OTHERS:,} programs the pane ran "
                                          f"({t['total'] - execs - SCRIPT_OTHERS:+,})")
            if t["sum"] != execs:
                result["problems"].append(f"{t['sum']:,} runs of /bin/true recorded, not "
                                          f"{execs:,} ({t['sum'] - execs:+,})")
    except (RuntimeError, OSError, subprocess.TimeoutExpired, sqlite3.Error, ValueError) as e:
        result["error"] = str(e)
    finally:
        if cmds is not None:
            cmds.close()
        if daemon is not None:
            daemon.stop()
        if listener is not None:
            listener.stop()
        if server.pid is None:  # started but never learned its pid: still end it by socket
            try:
                server.pid = int(server.tmux("display-message", "-p", "#{pid}"))
            except (RuntimeError, subprocess.TimeoutExpired, ValueError):
                pass
        server.kill()
        shutil.rmtree(d, ignore_errors=True)
    return result


# ---------------------------------------------------------------------------------------------
# The report


def summarise(results, names):
    by_round = {}
    for r in results:
        by_round.setdefault(r["round"], {})[r["variant"]] = r
    out = {}
    for name in names:
        runs = [r for r in results if r["variant"] == name]
        ok = [r for r in runs if r["error"] is None]
        times = [r["seconds"] for r in ok]
        paired = {rnd: rs[name]["seconds"] / rs["nothing"]["seconds"]
                  for rnd, rs in by_round.items()
                  if name in rs and "nothing" in rs and rs[name]["error"] is None
                  and rs["nothing"]["error"] is None}
        out[name] = {
            "n": len(ok), "failed": [r["error"] for r in runs if r["error"]], "times": times,
            "median": statistics.median(times) if times else None,
            "min": min(times) if times else None, "max": max(times) if times else None,
            "paired_by_round": paired,
            "paired": statistics.median(paired.values()) if paired else None,
            "runs": ok,
            "problems": [p for r in runs for p in r.get("problems", [])],
        }
    return out


def is_disturbed(r):
    """Other work on the machine took more than DISTURBED of one CPU during the loop (and more
    than DISTURBED_FLOOR seconds)."""
    return r.get("other_cpu", 0.0) > max(DISTURBED * r["seconds"], DISTURBED_FLOOR)


def sample(r):
    """One loop's seconds, with the other CPU time during it."""
    if "other_cpu" not in r:
        return f"{r['seconds']:.3f}"
    mark = " **disturbed**" if is_disturbed(r) else ""
    return f"{r['seconds']:.3f} (other {r['other_cpu']:.2f} s, steal {r['steal']:.2f} s{mark})"


def fmt_s(v):
    return f"{v:.3f} s"


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def commands_section(stats, chosen, execs):
    rows = ["| variant | round | loop | /bin/true with argv | without argv (comm `true` + "
            "nothing left) | **sum** | other programs named | `command` events | /bin/true "
            "committed when the loop's end was seen | all committed after the loop's end "
            "| daemon CPU utime+stime (schedstat) | daemon CPU per exec | tmux server CPU "
            "| SIGTERM → exit |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    summary = []
    for name, _, flags, records_commands, _ in chosen:
        if not records_commands:
            continue
        s = stats[name]
        for i, r in enumerate(s["runs"], 1):
            t = r.get("tally")
            if t is None:
                continue
            others = ", ".join(f"{k[0] or '?'}{'' if k[1] else ' (no argv)'} x{v}"
                               for k, v in sorted(t["others"].items(), key=str)) or "—"
            caught = (("≤ " if r.get("caught_up_bound") else "") + f"{r['caught_up']:.3f} s"
                      if "caught_up" in r else "**no**")
            total = f"{t['sum']:,}" if t["sum"] == execs else f"**{t['sum']:,} ≠ {execs:,}**"
            events = (f"{t['total']:,}" if t["total"] == execs + SCRIPT_OTHERS
                      else f"**{t['total']:,} ≠ {execs + SCRIPT_OTHERS:,}**")
            rows.append(
                f"| {name} | {i} | {fmt_s(r['seconds'])} | {t['with_argv']:,} "
                f"| {t['without']:,} ({t['comm_true']:,} + {t['gone'] - t['unnamed_others']:,}) "
                f"| {total} | {others} | {events} | {r.get('at_end', 0):,} | {caught} "
                f"| {r['daemon_cpu']:.2f} s ({r['daemon_run']:.3f} s) "
                f"| {r['daemon_run'] / execs * 1e6:.1f} µs | {r['server_cpu']:.3f} s "
                f"| {r['stop']:.2f} s |")
        runs = [r for r in s["runs"] if r.get("tally")]
        if runs:
            caught = med([r.get("caught_up") for r in runs])
            bound = all(r.get("caught_up_bound") for r in runs if "caught_up" in r)
            caught = ("never (see problems)" if caught is None else
                      f"≤ {caught:.3f} s after the loop ended (an upper bound: in every round "
                      f"all were committed when the harness saw the time file)" if bound else
                      f"{caught:.3f} s after the loop ended")
            run_s = med([r["daemon_run"] for r in runs])
            names = sorted({n for r in runs for n in r.get("daemon_threads", {})})
            threads = ", ".join(
                f"{n} {med([r.get('daemon_threads', {}).get(n, 0.0) for r in runs]):.3f} s"
                for n in names
                if med([r.get("daemon_threads", {}).get(n, 0.0) for r in runs]) >= 0.0005)
            summary.append(
                f"- `{name}` (medians over {len(runs)} rounds): /bin/true recorded with argv "
                f"{med([r['tally']['with_argv'] for r in runs]):,.0f}, without "
                f"{med([r['tally']['without'] for r in runs]):,.0f} (of {execs:,}); all "
                f"committed {caught} "
                f"({med([r.get('at_end', 0) for r in runs]):,.0f} already committed when the "
                f"harness saw the loop's end); daemon CPU "
                f"{med([r['daemon_cpu'] for r in runs]):.2f} s utime+stime, {run_s:.3f} s "
                f"schedstat = {run_s / execs * 1e6:.1f} µs per exec; by thread (schedstat): "
                f"{threads or '—'}.")
    access = stats.get("access")
    if access and access["runs"]:
        summary.append(f"- `access` for comparison: daemon CPU "
                       f"{med([r['daemon_cpu'] for r in access['runs']]):.2f} s utime+stime, "
                       f"{med([r['daemon_run'] for r in access['runs']]):.3f} s schedstat over "
                       f"the loop.")
    if len(rows) == 2:
        return []
    return [
        "## Commands recorded",
        "",
        f"Counted from `tmux-audit --db D log --json --kind command` after the daemon stopped. "
        f"The pane ran {execs + SCRIPT_OTHERS:,} programs: {execs:,} runs of `{TRUE}` and the "
        f"script's own `date` (twice) and `mv`. *With argv*: `argv[0]` = `{TRUE}`. *Without "
        f"argv*: the program ended before the daemon read `/proc/PID/cmdline` — its `comm` was "
        f"still readable (`true`: a zombie), or nothing was left (already reaped: no `comm`; "
        f"such an event names no program, and those are counted as `{TRUE}` once the script's "
        f"programs not named otherwise are set aside). The sum should be {execs:,}. *All "
        f"committed*: when the harness (counting the store's `command` rows read-only every "
        f"10 ms) first saw {execs + 1:,} of them — the first `date` and every run of the loop, "
        f"which end in that order — minus the loop's end as `date +%s%N` took it; `≤` when "
        f"they were all there already at the first count, right after the harness saw the "
        f"time file (polled every 5 ms; the script writes it after the second `date` and an "
        f"`mv`): then the figure is an upper bound set by that. Daemon CPU: from "
        f"just before the loop was started to all committed, all threads; utime+stime has "
        f"clock-tick resolution ({1000 // TICK} ms), schedstat is exact. The tmux server's CPU "
        f"(schedstat) over the same window. The daemon's own tmux control client is not "
        f"counted.",
        "",
        *rows,
        "",
        *summary,
        "",
    ]


def render(host, started, knobs, facts, skipped, chosen, stats, order):
    execs = knobs["BENCH_COMMANDS_EXECS"]
    base = stats["nothing"]["median"]
    when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(started))
    rows = ["| variant | runs | median | min | max | ratio to nothing (medians) | ratio to "
            "nothing (paired, median) | added per exec (medians) | runs disturbed |",
            "|---|---|---|---|---|---|---|---|---|"]
    rounds = sorted({rnd for name, *_ in chosen for rnd in stats[name]["paired_by_round"]})
    paired = [f"| round | nothing | {' | '.join(n for n, *_ in chosen if n != 'nothing')} "
              f"| other process-events listeners (max) | load average, 1 min (max) "
              f"| waited for quiet (max) |",
              "|---|---|" + "---|" * (len(chosen) - 1) + "---|---|---|"]
    by_round = {}
    for name, *_ in chosen:
        for r in stats[name]["runs"]:
            by_round.setdefault(r["round"], []).append(r)
    nothing_by_round = {r["round"]: r["seconds"] for r in stats["nothing"]["runs"]}
    for i, rnd in enumerate(rounds, 1):
        cells = [f"{stats[n]['paired_by_round'][rnd]:.3f}x"
                 if rnd in stats[n]["paired_by_round"] else "—"
                 for n, *_ in chosen if n != "nothing"]
        others = [r.get("foreign_listeners") for r in by_round.get(rnd, [])]
        others = max((o for o in others if o is not None), default=None)
        load = max((r.get("load", 0.0) for r in by_round.get(rnd, [])), default=0.0)
        waits = [r for r in by_round.get(rnd, []) if "waited" in r]
        waited = (f"{max(r['waited'] for r in waits):.0f} s"
                  + ("" if all(r["quiet"] for r in waits) else " (**not quiet**)")
                  if waits else "—")
        paired.append(f"| {i} | {fmt_s(nothing_by_round[rnd])} | {' | '.join(cells)} "
                      f"| {'?' if others is None else others} | {load:.2f} | {waited} |")
    samples = []
    for name, label, *_ in chosen:
        s = stats[name]
        if s["median"] is None:
            rows.append(f"| {label} | 0 of {len(s['failed'])} | failed | | | | | | |")
            continue
        ratio = f"{s['median'] / base:.3f}x" if base else "?"
        pr = f"{s['paired']:.3f}x" if s["paired"] is not None else "?"
        added = (f"{(s['median'] - base) / execs * 1e6:+.1f} µs" if base and name != "nothing"
                 else "—")
        runs = f"{s['n']}" + (f" ({len(s['failed'])} failed)" if s["failed"] else "")
        disturbed = sum(1 for r in s["runs"] if is_disturbed(r))
        rows.append(f"| {label} | {runs} | {fmt_s(s['median'])} | {fmt_s(s['min'])} "
                    f"| {fmt_s(s['max'])} | {ratio} | {pr} | {added} | {disturbed} |")
        samples.append(f"- {name}: " + ", ".join(sample(r) for r in s["runs"]))
    problems = []
    for name, *_ in chosen:
        problems += [f"- {name}: {e}" for e in stats[name]["failed"]]
        problems += [f"- {name}: {p}" for p in stats[name]["problems"]]
    notes = sorted({f"- `{r['variant']}`: audit-started says: {r['started_message']}"
                    for name, *_ in chosen for r in stats[name]["runs"]
                    if r.get("started_message")})
    foreign = [r["foreign_listeners"] for name, *_ in chosen for r in stats[name]["runs"]
               if r.get("foreign_listeners") is not None]
    listeners = ("not known (/proc/net/netlink unreadable)" if not foreign else
                 "none (no other NETLINK_CONNECTOR socket in /proc/net/netlink when any loop "
                 "started: `nothing` had no process-events listener)" if max(foreign) == 0 else
                 f"up to {max(foreign)} other NETLINK_CONNECTOR socket(s) when a loop started "
                 f"(another process-events listener makes the kernel's side of the cost appear "
                 f"in `nothing` too)")
    lines = [
        f"# Cost of command tracking: {execs:,} execs of {TRUE} in a detached tmux pane",
        "",
        f"`bench/run-commands`, {when}, took {time.time() - started:.0f} s. Knobs: "
        f"{', '.join(f'{k}={v}' for k, v in knobs.items())}.",
        "",
        *[f"- {k}: {v}" for k, v in host],
        f"- /bin/sh: {facts['sh']}; run as uid {os.geteuid()}",
        f"- load average (1, 5, 15 min) at start: {facts['load_start']}; at end: "
        f"{facts['load_end']} (a shared machine: read the spread, not only the medians)",
        f"- other process-events listeners on the machine: {listeners}",
        "",
        "## Wall time of the loop, per variant",
        "",
        f"Each measurement: a fresh tmux server on a private socket (`tmux -S TMP/commands.sock "
        f"-f /dev/null`), one detached 80x24 session whose pane runs `exec /bin/sh SCRIPT`; the "
        f"script waits on a FIFO, then runs `i=0; while [ $i -lt {execs} ]; do {TRUE}; "
        f"i=$((i+1)); done` between two `date +%s%N` (timed inside the pane). Daemon variants get "
        f"a fresh store, and the loop starts once the store holds the daemon's `audit-started` "
        f"and the pane's `pane-created` (for `full` also `#{{pane_pipe}}` = 1). "
        f"{knobs['BENCH_COMMANDS_WARMUP']} warm-up round(s) discarded, then "
        f"{knobs['BENCH_COMMANDS_ROUNDS']} rounds, each running every variant once in an order "
        f"rotated by one per round (first round: {', '.join(order)}). *Paired* = the median over "
        f"rounds of (variant / that round's `nothing`). *Added per exec* = (median − nothing's "
        f"median) / {execs:,}.",
        "",
        *rows,
        "",
        "Paired ratios, per round (variant / that round's `nothing`), and what else the machine "
        "was doing: the most NETLINK_CONNECTOR sockets of other processes and the highest "
        "1-minute load average seen as the round's loops started, and the longest wait for a "
        f"quiet machine (under {QUIET_BUSY:.0%} of the CPUs busy over 1 s and no other "
        f"connector socket; at most BENCH_COMMANDS_QUIET = {knobs['BENCH_COMMANDS_QUIET']} s) "
        "before one of them:",
        "",
        *paired,
        "",
        f"Samples in run order (s), each with the *other* CPU time the machine spent during the "
        f"loop — all CPUs' busy time (/proc/stat: user, nice, system, irq, softirq) minus the "
        f"pane's shell and every program it ran, the tmux server, the daemon and this harness "
        f"(utime+stime, with reaped children; interrupt work stays in) — and the time the "
        f"hypervisor stole from this virtual machine's CPUs meanwhile (*steal*). "
        f"*Disturbed*: other work took more than {DISTURBED:.0%} of one CPU over the loop (and "
        f"more than {DISTURBED_FLOOR} s).",
        "",
        *samples,
        "",
        *([f"Measured again because disturbed (up to BENCH_COMMANDS_REPEAT = "
           f"{knobs['BENCH_COMMANDS_REPEAT']} times per slot, at once, after the wait for quiet; "
           f"these samples are not in the tables): "
           + ", ".join(f"{r['variant']} {sample(r)}" for r in facts["repeated"]) + ".", ""]
          if facts["repeated"] else
          [f"No measurement had to be repeated (BENCH_COMMANDS_REPEAT = "
           f"{knobs['BENCH_COMMANDS_REPEAT']}).", ""]),
        *commands_section(stats, chosen, execs),
        "## Not measured",
        "",
        *([f"- {s}" for s in skipped] or ["- nothing was skipped"]),
    ]
    if notes:
        lines += ["", "## Notes", "", *notes]
    if problems:
        lines += ["", "## Problems seen during the run", "", *problems]
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------


def choose(binary, skipped):
    """The variants this binary and this user can run."""
    done = subprocess.run([binary, "daemon", "--help"], capture_output=True, text=True,
                          timeout=10)
    has_flag = "--no-commands" in done.stdout
    out = []
    for v in VARIANTS:
        name, _, flags, records_commands, _ = v
        if flags is not None and not has_flag:
            skipped.append(f"{name}: this binary's daemon has no --no-commands")
            continue
        if (records_commands or name in LISTENERS) and os.geteuid() != 0:
            skipped.append(f"{name}: needs root (the kernel's process events need CAP_NET_ADMIN)")
            continue
        out.append(v)
    return out


def main():
    # Read-only git calls (report.py's `git status`) must never take the index lock of a
    # checkout someone else is working in.
    os.environ["GIT_OPTIONAL_LOCKS"] = "0"
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    given = os.environ.get("BENCH_BINARY")
    binary = given or os.path.join(repo, "target", "release", "tmux-audit")
    knobs = {name: int(os.environ.get(name, default)) for name, default in KNOBS.items()}
    knobs["listener_binary"] = os.environ.get(
        "BENCH_LISTENER", os.path.join(repo, "target", "release", "examples", "listen"))
    started = time.time()
    facts = {"sh": os.path.realpath("/bin/sh"), "repeated": [],
             "load_start": " ".join(open("/proc/loadavg").read().split()[:3])}
    results = []
    with tempfile.TemporaryDirectory(prefix="tmux-audit-commands-") as tmp:
        binary, build = snapshot_binary(repo, binary, tmp)
        if given:
            build = f"BENCH_BINARY={given} (not built by this run); " + build.split("; ", 1)[1]
        host = machine(repo, binary, build)
        skipped = []
        chosen = choose(binary, skipped)
        for s in skipped:
            progress(f"skipped {s}")
        warm, rounds = knobs["BENCH_COMMANDS_WARMUP"], knobs["BENCH_COMMANDS_ROUNDS"]
        first_order = [v[0] for v in chosen]
        index = 0
        for rnd in range(warm + rounds):
            k = rnd % len(chosen)
            order = chosen[k:] + chosen[:k]
            if rnd == warm:
                first_order = [v[0] for v in order]
            label = (f"warm-up {rnd + 1}/{warm}" if rnd < warm
                     else f"round {rnd - warm + 1}/{rounds}")
            for variant in order:
                for attempt in range(knobs["BENCH_COMMANDS_REPEAT"] + 1):
                    index += 1
                    r = measure(tmp, index, variant, binary, knobs)
                    r["round"] = rnd
                    if (r["error"] is None and is_disturbed(r)
                            and attempt < knobs["BENCH_COMMANDS_REPEAT"]):
                        progress(f"{label} {variant[0]}: {sample(r)}: measuring again")
                        if rnd >= warm:
                            facts["repeated"].append(r)
                        continue
                    break
                shown = (f"{r['seconds']:.3f} s" if r["error"] is None
                         else f"FAILED: {r['error']}")
                if "tally" in r:
                    t = r["tally"]
                    shown += (f", /bin/true with argv {t['with_argv']:,}, without "
                              f"{t['without']:,} ({t['total']:,} events), caught up "
                              f"{r.get('caught_up', float('nan')):.3f} s after, daemon CPU "
                              f"{r['daemon_cpu']:.2f} s")
                for p in r.get("problems", []):
                    progress(f"  problem: {p}")
                progress(f"{label} {variant[0]}: {shown}")
                if rnd >= warm:
                    results.append(r)
    facts["load_end"] = " ".join(open("/proc/loadavg").read().split()[:3])
    stats = summarise(results, [v[0] for v in chosen])
    report = render(host, started, knobs, facts, skipped, chosen, stats, first_order)
    sys.stdout.write(report)
    os.makedirs(os.path.join(repo, "bench", "results"), exist_ok=True)
    with open(os.path.join(repo, "bench", "results", "commands-latest.md"), "w") as f:
        f.write(report)


if __name__ == "__main__":
    main()
