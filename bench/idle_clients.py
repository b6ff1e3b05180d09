"""Idle cost of following tmux clients (issue 11): CPU and wake-ups over BENCH_IDLE_SECONDS (60)
of nothing happening, before and after.

A private tmux server with one session, no client attached. For each variant a fresh server and
store: the daemon starts, records the session, and once it has not woken for 2 s (or 20 s have
passed: a daemon that keeps waking is measured anyway) procstat reads utime+stime, schedstat and
voluntary context switches of the daemon (per thread, by thread name), its tmux control client
and the tmux server, before and after the window.

Variants (interleaved in one run): `before` (BENCH_BASELINE, the binary without this change) and
`after` (BENCH_BINARY), each with the default configuration (as root: the kernel's process
events) and with `--no-commands` (after: the tmux binary is watched with inotify instead).

As root the commands thread hears every process event of the machine, so on a shared host its
wake-ups measure the host's activity as much as the daemon; the report gives the machine's
process count growth (forks) during each window for that reason. The inotify thread wakes for
every exec of the tmux binary by anyone.
"""

import os
import sys
import tempfile
import time

from idle import idle_window, settle
from lab import Daemon, TmuxServer, poll
from procstat import spent, usage
from store import Store


def forks():
    """Processes created on the machine since boot (/proc/stat `processes`)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("processes "):
                return int(line.split()[1])
    return 0


def thread_names(pid):
    names = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                names[tid] = f.read().strip()
        except FileNotFoundError:
            continue
    return names


def per_thread(pid, seconds):
    """Wake-ups per thread name of `pid` over `seconds`."""
    names = thread_names(pid)
    before = usage(pid)
    time.sleep(seconds)
    after = usage(pid)
    out = {}
    for tid, v in after.voluntary.items():
        name = names.get(tid, tid)
        out[name] = out.get(name, 0) + v - before.voluntary.get(tid, 0)
    return out, spent(before, after, seconds)


def measure(label, binary, extra, tmp, seconds, progress):
    server = TmuxServer(tmp, f"idle-{label.replace(' ', '-')}")
    daemon = None
    try:
        server.start("prod")
        db = os.path.join(tmp, f"{label.replace(' ', '-')}.db")
        daemon = Daemon(binary, db, server, log_path=db + ".log", extra=extra)
        ok, _ = poll(lambda: True if os.path.exists(db) else None, 10)
        store = Store(db) if ok else None
        ok, _ = poll(lambda: True if store and store.count("session-created") >= 1 else None,
                     10, interval=0.01)
        if not ok:
            raise RuntimeError(f"{label}: the daemon did not record the session\n"
                               f"{daemon.log_tail()}")
        settled = settle(daemon.pid, [])
        kids = daemon.children()
        progress(f"{label}: {seconds} s idle")
        forks_before = forks()
        pids = {"server": server.pid, **{f"child {k}": k for k in kids}}
        before = {name: usage(pid) for name, pid in pids.items()}
        threads, total = per_thread(daemon.pid, seconds)
        others = {name: spent(before[name], usage(pid), seconds) for name, pid in pids.items()}
        return {"label": label, "daemon": total, "threads": threads, "others": others,
                "forks": forks() - forks_before, "settled": settled}
    finally:
        if daemon:
            daemon.stop()
        server.kill()


def render(results, seconds, baseline, binary):
    lines = [f"# Idle cost of following tmux clients ({seconds} s windows)", "",
             f"- before: `{baseline}`", f"- after: `{binary}`",
             f"- host: {os.uname().nodename}, {os.cpu_count()} CPUs, load "
             f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end", "",
             "| variant | daemon CPU ms | daemon wake-ups | by thread | control client wake-ups "
             "| tmux server wake-ups | processes started on the host | settled |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        d = r["daemon"]
        threads = ", ".join(f"{n} {v}" for n, v in sorted(r["threads"].items(),
                                                          key=lambda kv: -kv[1]) if v)
        kids = sum(s.wakeups for n, s in r["others"].items() if n.startswith("child"))
        server = r["others"]["server"].wakeups
        lines.append(f"| {r['label']} | {d.run_s * 1000:.1f} | {d.wakeups} | {threads or '-'} "
                     f"| {kids} | {server} | {r['forks']} | {'yes' if r['settled'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = os.environ.get("BENCH_BINARY") or os.path.join(repo, "target", "release",
                                                            "tmux-audit")
    baseline = os.environ["BENCH_BASELINE"]
    seconds = int(os.environ.get("BENCH_IDLE_SECONDS", 60))

    def progress(message):
        print(f"run-idle: {message}", file=sys.stderr, flush=True)

    variants = [("before", baseline, ()), ("after", binary, ()),
                ("before --no-commands", baseline, ("--no-commands",)),
                ("after --no-commands", binary, ("--no-commands",))]
    with tempfile.TemporaryDirectory(prefix="tmux-audit-idle-") as tmp:
        results = [measure(label, b, extra, tmp, seconds, progress)
                   for label, b, extra in variants]
    report = render(results, seconds, baseline, binary)
    sys.stdout.write(report)
    os.makedirs(os.path.join(repo, "bench", "results"), exist_ok=True)
    with open(os.path.join(repo, "bench", "results", "idle-latest.md"), "w") as f:
        f.write(report)


if __name__ == "__main__":
    main()
