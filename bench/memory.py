"""3. Memory with many sessions and clients: VmRSS and VmHWM once the daemon has caught up.

With the daemon running, BENCH_SESSIONS sessions are created and BENCH_CLIENTS pty clients
attached, spread evenly over them. Once the store holds every session and a `client-attached`
for every client (bounded poll), we read /proc/PID/status of the daemon, its control client
and the tmux server.
"""

from lab import PtyClient, TmuxServer, poll, start_daemon
from procstat import memory_kb

CATCH_UP_TIMEOUT = 30.0


def measure_memory(binary, tmp, sessions, clients):
    """RSS and peak RSS with `sessions` sessions and `clients` attached pty clients."""
    server, daemon, ptys = TmuxServer(tmp, "mem"), None, []
    try:
        server.start("mem-00")
        daemon, store, _ = start_daemon(binary, tmp, server, sessions=1)
        for i in range(1, sessions):
            server.new_session(f"mem-{i:02}")
        for j in range(clients):
            target = f"mem-{j * sessions // clients:02}"
            ptys.append(PtyClient(server.argv("attach-session", "-t", target), server.env))

        def caught_up():
            for p in ptys:
                p.drain()
            attached = sum(1 for p in ptys if store.find("client-attached", p.pid))
            done = attached == clients and store.count("session-created") >= sessions
            return True if done else None

        ok, seen = poll(caught_up, CATCH_UP_TIMEOUT, interval=0.005)
        if not ok:
            raise RuntimeError(f"memory: the daemon did not record all {clients} attaches "
                               f"within {CATCH_UP_TIMEOUT:.0f} s\n{daemon.log_tail()}")
        procs = {"tmux-audit daemon": daemon.pid}
        procs.update({f"its child `{daemon.describe(k)}`": k for k in daemon.children()})
        procs["tmux server"] = server.pid
        return {"memory": {name: memory_kb(pid) for name, pid in procs.items()},
                "sessions": sessions, "clients": clients,
                "catch_up_ms": (seen - ptys[-1].t0) * 1000}
    finally:
        for p in ptys:
            p.close()
        if daemon:
            daemon.stop()
        server.kill()
