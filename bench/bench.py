"""tmux-audit benchmark: attach-to-commit latency (vs a tmux hook), idle CPU, memory.

Run `bench/run` (it builds the release binary first). One run measures, in this order:

1. latency.py — attach-to-commit latency over BENCH_ATTACHES (200) real pty attaches: t0 just
   before fork+exec of `tmux attach`, then a 1 ms poll of the SQLite store (read-only) until
   the client's `client-attached` is committed. Peer: a `client-attached` hook running
   `run-shell -b "date +%s.%N >> FILE"`, timed the same way, on its own server.
2. idle.py — idle CPU and wake-ups over BENCH_IDLE_SECONDS (60) of the daemon, its tmux control
   client and the tmux server; then the same server with the daemon stopped.
3. memory.py — VmRSS/VmHWM with BENCH_SESSIONS (50) sessions and BENCH_CLIENTS (20) clients.

It prints a Markdown report (report.py) and writes it to bench/results/latest.md. Every tmux
server is private (`tmux -S TMP/NAME.sock`, TMUX_TMPDIR=TMP, TMUX unset); everything started
is ended by pid or by kill-server on its own socket (lab.py).
"""

import os
import sys
import tempfile
import time

from idle import measure_idle
from latency import measure_ours, measure_peer
from memory import measure_memory
from report import render

RSS_TARGET_KB = 20 * 1024
KNOBS = {"BENCH_ATTACHES": 200, "BENCH_IDLE_SECONDS": 60, "BENCH_SESSIONS": 50,
         "BENCH_CLIENTS": 20}


def env_int(name, default):
    return int(os.environ.get(name, default))


def progress(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = os.path.join(repo, "target", "release", "tmux-audit")
    knobs = {name: env_int(name, default) for name, default in KNOBS.items()}
    rounds, idle_s = knobs["BENCH_ATTACHES"], knobs["BENCH_IDLE_SECONDS"]
    sessions, clients = knobs["BENCH_SESSIONS"], knobs["BENCH_CLIENTS"]
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="tmux-audit-bench-") as tmp:
        progress(f"attach latency, tmux-audit ({rounds} attaches)")
        ours = measure_ours(binary, tmp, rounds)
        progress(f"attach latency, hook peer ({rounds} attaches)")
        peer = measure_peer(tmp, rounds)
        idle = measure_idle(binary, tmp, idle_s, progress)
        progress(f"memory ({sessions} sessions, {clients} clients)")
        memory = measure_memory(binary, tmp, sessions, clients)
    report = render(repo, binary, started, knobs, ours, peer, idle, memory, RSS_TARGET_KB)
    sys.stdout.write(report)
    os.makedirs(os.path.join(repo, "bench", "results"), exist_ok=True)
    with open(os.path.join(repo, "bench", "results", "latest.md"), "w") as f:
        f.write(report)


if __name__ == "__main__":
    main()
