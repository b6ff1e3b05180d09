"""2. Idle CPU: the daemon, its tmux control client and the tmux server, with nothing happening.

A server with 3 sessions and one attached pty client. Once the daemon has recorded the attach
and then not woken for 2 s (or 20 s have passed: a daemon that keeps waking is measured anyway,
and the report says so), window 1 (daemon recording) reads utime+stime, schedstat and
voluntary context switches (procstat) of each process before and after BENCH_IDLE_SECONDS.
The daemon is then stopped with SIGTERM and window 2 measures the same server alone.
"""

import select
import time

from lab import PtyClient, TmuxServer, poll, start_daemon, wait_event
from procstat import spent, usage


def idle_window(seconds, pids, clients):
    """What each named pid used over `seconds` of waiting (the clients' ptys drained)."""
    before = {name: usage(pid) for name, pid in pids.items()}
    start = time.monotonic()
    while (left := seconds - (time.monotonic() - start)) > 0:
        ready, _, _ = select.select([c.master for c in clients], [], [], left)
        for client in clients:
            if client.master in ready:
                client.drain()
    wall = time.monotonic() - start
    return {name: spent(before[name], usage(pid), wall) for name, pid in pids.items()}


def settle(pid, clients, quiet_s=2.0, timeout=20.0):
    """Waits (bounded) until `pid` has not woken for `quiet_s` s; returns True if it did.

    After an attach the daemon re-reads the server once more when tmux's 1 s subscription
    check fires; idle means after that.
    """
    last = {"count": None, "since": None}

    def quiet():
        for client in clients:
            client.drain()
        count = sum(usage(pid).voluntary.values())
        if count != last["count"]:
            last.update(count=count, since=time.monotonic())
            return None
        return True if time.monotonic() - last["since"] >= quiet_s else None

    return poll(quiet, timeout, interval=0.1)[0] is not None


def measure_idle(binary, tmp, seconds, progress):
    """Window 1: daemon, control client, server; window 2: the server after the daemon stopped."""
    server, daemon, client = TmuxServer(tmp, "idle"), None, None
    try:
        server.start("idle-0")
        for name in ("idle-1", "idle-2"):
            server.new_session(name)
        daemon, store, _ = start_daemon(binary, tmp, server, sessions=3)
        client = PtyClient(server.argv("attach-session", "-t", "idle-0"), server.env)
        if wait_event(store, client, "client-attached")[0] is None:
            raise RuntimeError(f"idle: the attach was not recorded\n{daemon.log_tail()}")
        # A daemon that keeps waking (a periodic timer) is measured anyway: that is the finding.
        settled = settle(daemon.pid, [client])
        pids = {"tmux-audit daemon": daemon.pid}
        pids.update({f"its child `{daemon.describe(k)}`": k for k in daemon.children()})
        pids["tmux server (daemon recording)"] = server.pid
        store.refresh()
        first = len(store.events)
        progress(f"idle window 1 of 2 ({seconds} s, daemon recording)")
        with_daemon = idle_window(seconds, pids, [client])
        store.refresh()
        events_during = [e["kind"] for e in store.events[first:]]
        stop_status = daemon.stop()
        gone, _ = poll(lambda: True if server.control_clients() == 0 else None, 5, 0.01)
        if not gone:
            raise RuntimeError("idle: the daemon's control client is still attached")
        progress(f"idle window 2 of 2 ({seconds} s, no daemon)")
        alone = idle_window(seconds, {"tmux server (no daemon)": server.pid}, [client])
        return {"windows": {**with_daemon, **alone}, "events_during": events_during,
                "seconds": seconds, "stop_status": stop_status, "settled": settled}
    finally:
        if client:
            client.close()
        if daemon:
            daemon.stop()
        server.kill()
