"""Host mode: how fast a forbidden client is thrown out, and how fast the violation reaches
the sinks. Run `bench/run-host` (root: the forbidden user is `nobody`).

Side by side in ONE run, BENCH_HOST_TRIALS (30) times each, alternating:

  hook     tmux alone, enforcing with its own hook — the fastest in-tmux way there is:
           `set-hook -g client-attached 'if -F "#{==:#{client_user},nobody}"
           "detach-client -t #{hook_client}"'`
  daemon   `tmux-audit daemon -S SOCK --no-output --no-commands --policy P --config C`: the rule
           `sessions = ["prod*"], allow = ["root"], action = "detach"`, with three sinks — a
           JSON-lines file, RFC 5424 over TCP to a listener in this process, a webhook served by
           this process on loopback.

Each trial: `setpriv --reuid nobody … tmux -S SOCK attach -t prod` on a fresh pty; `kick` is the
wall time from just before its fork to its exit (it includes the client's own start-up: the
same for both). For the daemon, also from the store: attach → policy-violation → detach as
recorded, and for each sink the time from the violation's recorded time to its arrival here
(syslog, webhook: when the listener thread read it; jsonl: when a 1 ms poll saw the line).
Every wait is bounded; each server is private (`tmux -S TMP/…`), ended with kill-server.
"""

import http.server
import json
import os
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from lab import Daemon, PtyClient, TmuxServer, poll

TRIALS = int(os.environ.get("BENCH_HOST_TRIALS", "30"))
BINARY = os.environ.get("BENCH_BINARY", "target/release/tmux-audit")


class Arrivals:
    """Messages received by a listener, with the wall time each arrived."""

    def __init__(self):
        self.lock, self.items = threading.Lock(), []

    def add(self, text):
        with self.lock:
            self.items.append((time.time(), text))

    def first(self, needle):
        with self.lock:
            return next((t for t, m in self.items if needle in m), None)


def syslog_listener(arrivals):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def serve(conn):
        f = conn.makefile("rb")
        while True:
            length = b""
            while (c := f.read(1)) not in (b" ", b""):
                length += c
            if not length:
                return
            arrivals.add(f.read(int(length)).decode(errors="replace"))

    def accept():
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return f"tcp://127.0.0.1:{srv.getsockname()[1]}"


def webhook_server(arrivals):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            arrivals.add(body.decode(errors="replace"))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_):
            pass

    httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}/audit"


def open_to_nobody(server, tmp):
    os.chmod(tmp, 0o755)
    os.chmod(server.sock, 0o777)
    server.tmux("server-access", "-a", "nobody")


def attach_as_nobody(server):
    argv = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
            *server.argv("attach-session", "-t", "prod")]
    return PtyClient(argv, server.env)


def log_json(db, kind):
    done = subprocess.run([BINARY, "--db", db, "log", "--json", "--kind", kind],
                          capture_output=True, text=True, timeout=60)
    return [json.loads(line) for line in done.stdout.splitlines()]


def ts(text):
    """RFC 3339 with µs → epoch seconds."""
    from datetime import datetime
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def kick(server):
    """One forbidden attach; returns (ms from fork to exit, client pid) or (None, pid)."""
    client = attach_as_nobody(server)
    try:
        if not client.wait_exit(timeout=10):
            return None, client.pid
        return (time.time() - client.t0) * 1000, client.pid
    finally:
        client.close()


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def main():
    if os.geteuid() != 0:
        print("bench/run-host needs root (the forbidden user is nobody)", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="tmux-audit-host-")
    syslog_got, hook_got = Arrivals(), Arrivals()
    jsonl = os.path.join(tmp, "events.jsonl")
    policy = os.path.join(tmp, "policy.toml")
    config = os.path.join(tmp, "config.toml")
    with open(policy, "w") as f:
        f.write('[[rule]]\nname = "prod is for root"\nsessions = ["prod*"]\nallow = ["root"]\n'
                'action = "detach"\n')
    with open(config, "w") as f:
        f.write(f'[[sink]]\ntype = "jsonl"\npath = "{jsonl}"\n\n'
                f'[[sink]]\ntype = "syslog"\naddress = "{syslog_listener(syslog_got)}"\n\n'
                f'[[sink]]\ntype = "webhook"\nurl = "{webhook_server(hook_got)}"\n')
    hooked, policed = TmuxServer(tmp, "hook"), TmuxServer(tmp, "daemon")
    daemon = None
    results = {"hook": [], "daemon": []}
    failures = {"hook": 0, "daemon": 0}
    try:
        for s in (hooked, policed):
            s.start("prod")
            open_to_nobody(s, tmp)
        hooked.tmux("set-hook", "-g", "client-attached",
                    'if -F "#{==:#{client_user},nobody}" "detach-client -t #{hook_client}"')
        db = os.path.join(tmp, "daemon.db")
        daemon = Daemon(BINARY, db, policed, db + ".log",
                        extra=("--no-output", "--no-commands", "--policy", policy,
                               "--config", config))
        ready, _ = poll(lambda: True if os.path.exists(db) and log_json(db, "session-created")
                        else None, 10, interval=0.05)
        if not ready:
            raise RuntimeError(f"daemon not ready:\n{daemon.log_tail()}")
        pids = []
        for _ in range(TRIALS):
            for name, server in (("hook", hooked), ("daemon", policed)):
                ms, pid = kick(server)
                if ms is None:
                    failures[name] += 1
                else:
                    results[name].append(ms)
                if name == "daemon":
                    pids.append(pid)
        # What the store recorded, and when each sink had each violation.
        poll(lambda: True if len(log_json(db, "policy-violation")) >= TRIALS else None, 30, 0.1)
        recorded, lags = [], {"jsonl": [], "syslog": [], "webhook": []}
        attaches = {e.get("client_pid"): e for e in log_json(db, "client-attached")}
        detaches = {e.get("client_pid"): e for e in log_json(db, "client-detached")}
        violations = {e.get("client_pid"): e for e in log_json(db, "policy-violation")}
        for pid in pids:
            a, v, d = attaches.get(pid), violations.get(pid), detaches.get(pid)
            if not (a and v and d):
                continue
            recorded.append((ts(d["time"]) - ts(a["time"])) * 1000)
            needle = f'"seq":{v["seq"]},'
            for sink, got in (("syslog", syslog_got), ("webhook", hook_got)):
                seen, _ = poll(lambda: got.first(needle), 10, 0.001)
                if seen:
                    lags[sink].append((seen - ts(v["time"])) * 1000)
        with open(jsonl) as f:
            lines = f.read()
        lags["jsonl_lines"] = lines.count('"policy-violation"')
    finally:
        if daemon:
            daemon.stop()
        for s in (hooked, policed):
            s.kill()
    report(results, failures, recorded, lags)
    return 0


def report(results, failures, recorded, lags):
    print(f"# Host mode: kicking a forbidden client ({TRIALS} trials each, interleaved)\n")
    print("| enforcement | kicked | median ms | p90 ms | ratio of medians |")
    print("|---|---|---|---|---|")
    base = median(results["hook"])
    for name in ("hook", "daemon"):
        xs = results[name]
        print(f"| {name} | {len(xs)}/{len(xs) + failures[name]} | {median(xs):.1f} | "
              f"{pct(xs, 90):.1f} | {median(xs) / base:.2f}x |")
    print("\n(fork of the client to its exit; includes the tmux client's own start-up)\n")
    print(f"Recorded attach → detach (daemon): median {median(recorded):.1f} ms, "
          f"p90 {pct(recorded, 90):.1f} ms, max {max(recorded, default=float('nan')):.1f} ms "
          f"over {len(recorded)} kicks\n")
    for sink in ("syslog", "webhook"):
        xs = lags[sink]
        print(f"Violation recorded → at the {sink} listener: median {median(xs):.1f} ms, "
              f"p90 {pct(xs, 90):.1f} ms ({len(xs)} of {len(recorded)})")
    print(f"\nJSON-lines file: {lags['jsonl_lines']} policy-violation lines")


if __name__ == "__main__":
    sys.exit(main())
