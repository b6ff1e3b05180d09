"""What command tracking costs an idle daemon on a busy host. Run `bench/run-busy-host` (root).

The kernel's process-events connector reports every fork, exec and exit on the host, not only
the panes'. This measures the daemon's CPU while nothing happens in tmux but the host is busy
with work outside it — BENCH_BUSY_THREADS threads started and joined per second (a thread pool's
churn) and BENCH_BUSY_EXECS programs (/bin/true) per second, both outside any pane — for:

  no-commands   `daemon -S SOCK --no-output --no-commands`
  commands      `daemon -S SOCK --no-output` (this build: the kernel drops thread events by a
                BPF filter on the socket)
  old           the same with BENCH_OLD_BINARY (an older build, e.g. without the filter), if set

Each variant: a fresh private tmux server (`tmux -S TMP/…`, one session), its daemon started and
ready, the load running, then BENCH_BUSY_SECONDS (20) of the daemon's utime+stime and voluntary
context switches (/proc) — rounds interleaved BENCH_BUSY_ROUNDS (3) times; medians reported.
The load generator is one process of ours, ended by pid; every wait is bounded.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from lab import Daemon, TmuxServer, poll
from procstat import spent, usage

SECONDS = float(os.environ.get("BENCH_BUSY_SECONDS", "20"))
ROUNDS = int(os.environ.get("BENCH_BUSY_ROUNDS", "3"))
THREADS = int(os.environ.get("BENCH_BUSY_THREADS", "2000"))
EXECS = int(os.environ.get("BENCH_BUSY_EXECS", "50"))
BINARY = os.environ.get("BENCH_BINARY", "target/release/tmux-audit")
OLD = os.environ.get("BENCH_OLD_BINARY")

LOAD = r"""
import os, sys, threading, time, subprocess
threads, execs = int(sys.argv[1]), int(sys.argv[2])
def churn():
    while True:
        start = time.monotonic()
        for _ in range(threads // 10):
            t = threading.Thread(target=lambda: None); t.start(); t.join()
        time.sleep(max(0, 0.1 - (time.monotonic() - start)))
def spawn():
    while True:
        start = time.monotonic()
        for _ in range(max(1, execs // 10)):
            subprocess.run(["/bin/true"])
        time.sleep(max(0, 0.1 - (time.monotonic() - start)))
threading.Thread(target=spawn, daemon=True).start()
churn()
"""


def measure(binary, extra, tmp, label):
    server = TmuxServer(tmp, label)
    daemon = None
    try:
        server.start("busy")
        db = os.path.join(tmp, f"{label}.db")
        daemon = Daemon(binary, db, server, db + ".log", extra=extra)
        ok, _ = poll(lambda: True if os.path.exists(db) else None, 10, 0.05)
        if not ok:
            raise RuntimeError(f"{label}: daemon not ready\n{daemon.log_tail()}")
        time.sleep(1)  # the daemon's start-up work is not part of the idle window
        before = usage(daemon.pid)
        start = time.monotonic()
        time.sleep(SECONDS)
        after = usage(daemon.pid)
        used = spent(before, after, time.monotonic() - start)
        return used.percent, used.wakeups_per_s
    finally:
        if daemon:
            daemon.stop()
        server.kill()


def main():
    if os.geteuid() != 0:
        print("bench/run-busy-host needs root (the kernel's process events)", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="tmux-audit-busy-")
    variants = [("no-commands", BINARY, ("--no-output", "--no-commands")),
                ("commands", BINARY, ("--no-output",))]
    if OLD:
        variants.append(("old", OLD, ("--no-output",)))
    load = subprocess.Popen([sys.executable, "-c", LOAD, str(THREADS), str(EXECS)])
    results = {name: [] for name, _, _ in variants}
    try:
        time.sleep(1)
        for r in range(ROUNDS):
            for name, binary, extra in variants:
                results[name].append(measure(binary, extra, tmp, f"{name}-{r}"))
    finally:
        load.kill()
        load.wait()
    print(f"# Idle daemon on a busy host: {THREADS} threads/s and {EXECS} execs/s outside tmux\n")
    print(f"{ROUNDS} rounds of {SECONDS:.0f} s, interleaved; medians.\n")
    print("| daemon | CPU (% of a core) | wake-ups/s |")
    print("|---|---|---|")
    for name, _, _ in variants:
        cpu = statistics.median(x[0] for x in results[name])
        wakes = statistics.median(x[1] for x in results[name])
        print(f"| {name} | {cpu:.2f} | {wakes:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
