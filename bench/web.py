"""The auditor's web UI (issue 14): its sessions API and page on a central store of 10,000
sessions in 1,000,000 events, and the player's first frame after a seek near the end of a
2-hour recording. Run by `bench/run-web`; writes bench/results/web-latest.md.

Everything runs on this machine; nothing we did not start is touched; every process is ended by
its pid and every wait is bounded.

1. Central store. Our own PostgreSQL 15 cluster (fleet.Postgres), BENCH_WEB_HOSTS (10) hosts
   enrolled with `tmux-audit collector enroll`, then BENCH_WEB_EVENTS (1,000,000) records
   written by `fleet-load generate` over 35 days with BENCH_WEB_SESSION_SHARE (0.02) of them
   sessions created and closed (about 10,000 sessions), 1.5 % attaches and detaches,
   BENCH_WEB_OUTPUT_MIB (64) MiB of pane output; VACUUM ANALYZE.
2. A 2-hour recording of one pane in a host's SQLite store, made as bench/views.py makes it
   (views.seek_store: leftover spools ingested by a real daemon).
3. `tmux-audit web` (release build) on 127.0.0.1 over each store, a real local user in a group
   of our own (created here, removed at the end) logged in through PAM with urllib.
   Timed, BENCH_WEB_RUNS (20) times after one warm-up, wall clock of each HTTP request on a
   fresh connection, answer read to its end:
   - `GET /api/sessions?limit=50` (the first page, default sort), with `q=work-1` (free
     text), and sorted by time attached; beside them the CLI's `tmux-audit sessions --json`
     over the same store (process start to exit, BENCH_WEB_CLI_RUNS (5) times);
   - `GET /api/cast?from=OFFSET` one minute before the recording's end: time to the first
     byte and to the whole piece; beside it the CLI's `replay --from` the same moment
     (first byte of stdout).
4. In Chromium (web/test/bench.mjs, playwright-core, Debian's chromium, headless): the sessions
   page from navigation until the table's rows are drawn, and the player from a seek near the
   end until its first frame is drawn; BENCH_WEB_RUNS each.
"""

import http.cookiejar
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import views  # noqa: E402
from fleet import Postgres, Served, enroll, log, stats  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNOBS = {
    "BENCH_WEB_HOSTS": 10,
    "BENCH_WEB_EVENTS": 1_000_000,
    "BENCH_WEB_SESSION_SHARE": 0.02,
    "BENCH_WEB_OUTPUT_MIB": 64,
    "BENCH_WEB_RUNS": 20,
    "BENCH_WEB_CLI_RUNS": 5,
    "BENCH_RECORDING_HOURS": 2,
}


def knob(name):
    default = KNOBS[name]
    return type(default)(os.environ.get(name, default))


class Auditor:
    """A local user with a password in a group of its own, removed by `remove`."""

    def __init__(self):
        tag = f"{os.getpid() % 100000}"
        self.group, self.user = f"tabg{tag}", f"tabu{tag}"
        self.password = secrets.token_urlsafe(18)
        subprocess.run(["groupadd", self.group], check=True)
        subprocess.run(["useradd", "-M", "-N", "-G", self.group, "-s", "/usr/sbin/nologin",
                        self.user], check=True)
        subprocess.run(["chpasswd"], input=f"{self.user}:{self.password}\n", text=True,
                       check=True)

    def remove(self):
        subprocess.run(["userdel", self.user], capture_output=True)
        subprocess.run(["groupdel", self.group], capture_output=True)


class Web(Served):
    """`tmux-audit web --listen 127.0.0.1:0` over one store, ended by pid."""

    def __init__(self, binary, db, tmp, name, group):
        super().__init__([binary, "--db", db, "web", "--listen", "127.0.0.1:0",
                          "--auditors-group", group],
                         os.path.join(tmp, f"{name}.stderr"), r"web UI on (http://\S+)",
                         "tmux-audit web")
        self.base = self.found.rstrip("/")


class Client:
    """A logged-in API client: the session cookie, one request per connection."""

    def __init__(self, base, user, password):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        body = json.dumps({"user": user, "password": password}).encode()
        req = urllib.request.Request(f"{base}/api/login", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with self.opener.open(req, timeout=30) as r:
            self.csrf = json.loads(r.read())["csrf"]

    def timed_get(self, path):
        """(ms to the first byte, ms to the end, body)."""
        t = time.monotonic()
        with self.opener.open(f"{self.base}{path}", timeout=60) as r:
            first = r.read(1)
            t1 = time.monotonic()
            body = first + r.read()
            t2 = time.monotonic()
            if r.status != 200:
                raise RuntimeError(f"GET {path}: {r.status}")
        return (t1 - t) * 1000, (t2 - t) * 1000, body


def timed_cli(argv, first_byte=False):
    t = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    first = proc.stdout.read(1)
    t1 = time.monotonic()
    rest = proc.stdout.read()
    proc.wait(120)
    t2 = time.monotonic()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}")
    return ((t1 if first_byte else t2) - t) * 1000, first + rest


def central_store(binary, load, pg):
    hosts, events = knob("BENCH_WEB_HOSTS"), knob("BENCH_WEB_EVENTS")
    pg.createdb("web")
    url = pg.url("web")
    for i in range(1, hosts + 1):
        enroll(binary, url, f"web-{i:02}")
    log(f"central: generating {events:,} events")
    out = subprocess.run([load, "generate", "--db", url, "--events", str(events), "--days", "35",
                          "--output-mib", str(knob("BENCH_WEB_OUTPUT_MIB")),
                          "--session-share", str(knob("BENCH_WEB_SESSION_SHARE"))],
                         capture_output=True, text=True, timeout=7200)
    if out.returncode != 0:
        raise RuntimeError(f"generate: {out.stderr}")
    gen = json.loads(out.stdout)
    pg.sql("web", "VACUUM ANALYZE")
    gen["sessions"] = int(pg.sql("web", "SELECT count(*) FROM events WHERE kind = "
                                        "'session-created'"))
    return url, gen


def sessions_api(client, runs):
    cases = {
        "first page": "/api/sessions?limit=50",
        "free text q=work-1": "/api/sessions?limit=50&q=work-1",
        "sorted by time attached": "/api/sessions?limit=50&sort=attached&order=desc",
    }
    results = {}
    for name, path in cases.items():
        # Warm-up: the web UI's first answer folds every host's sessions (its index).
        _, first, body = client.timed_get(path)
        total = json.loads(body)["total"]
        samples = [client.timed_get(path)[1] for _ in range(runs)]
        results[name] = {"path": path, "total": total, "stats": stats(samples), "first": first}
    return results


def cast_api(client, server, facts, runs):
    offset = (facts["last_minute"] - facts["t0"]) / 1e6
    pane = urllib.parse.quote("%0")
    path = (f"/api/cast?server={urllib.parse.quote(server)}&pane={pane}"
            f"&at={urllib.parse.quote(views.iso(facts['last_minute']))}"
            f"&from={offset:.3f}&to={offset + 60:.3f}")
    client.timed_get(path)
    firsts, wholes, size = [], [], 0
    for _ in range(runs):
        first, whole, body = client.timed_get(path)
        firsts.append(first)
        wholes.append(whole)
        size = len(body)
    return {"path": path, "first_byte": stats(firsts), "whole": stats(wholes), "bytes": size}


def chromium(base, auditor, pane, runs):
    env = dict(os.environ, BASE_URL=base, AUDIT_USER=auditor.user,
               AUDIT_PASSWORD=auditor.password, BENCH_PANE=pane, BENCH_RUNS=str(runs))
    out = subprocess.run(["node", os.path.join(REPO, "web", "test", "bench.mjs")], env=env,
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"bench.mjs: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt(s):
    return f"{s['median']:,.1f} ms (p99 {s['p99']:,.1f}, min {s['min']:,.1f}, n {s['n']})"


def render(started, res):
    gen, lines = res["gen"], []
    when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(started))
    lines += [
        "# The web UI: sessions API and page, player seek",
        "",
        f"`bench/run-web`, {when}, took {time.time() - started:.0f} s. Knobs: "
        + ", ".join(f"{k}={knob(k)}" for k in KNOBS) + ".",
        "",
        f"Central store: {gen['events']:,} events over {gen['hosts']} hosts, "
        f"{gen['sessions']:,} sessions created; 2-hour recording: "
        f"{res['facts']['output'] / 1e6:.1f} MB of output in {res['facts']['chunks']} chunks.",
        "",
        "| what | median (p99, min, n) |",
        "|---|---|",
    ]
    first = next(iter(res["sessions"].values()))
    lines.append(f"| the web UI's first `/api/sessions` after its start (folds every session: "
                 f"the index later answers build on) | {first['first']:,.1f} ms (n 1) |")
    for name, r in res["sessions"].items():
        lines.append(f"| `{r['path']}` ({name}; total {r['total']:,}) | {fmt(r['stats'])} |")
    lines.append(f"| CLI `tmux-audit sessions --json` (all {res['cli_rows']:,} rows) | "
                 f"{fmt(res['cli_sessions'])} |")
    c = res["cast"]
    lines += [
        f"| `/api/cast` one minute before the end: first byte | {fmt(c['first_byte'])} |",
        f"| `/api/cast` one minute before the end: whole piece ({c['bytes']:,} bytes) | "
        f"{fmt(c['whole'])} |",
        f"| CLI `replay --from` the same moment: first byte | {fmt(res['cli_replay'])} |",
    ]
    for name, key in (("sessions page drawn in Chromium (central store)", "central"),
                      ("player's first frame after a seek near the end, in Chromium",
                       "recording")):
        r = res["chromium"].get(key)
        if r:
            metric = "sessions_page_ms" if key == "central" else "player_seek_ms"
            if metric in r:
                lines.append(f"| {name} | {fmt(r[metric])} |")
    lines += ["", "Method and its limits: the docstring of `bench/web.py`."]
    return "\n".join(lines) + "\n"


def main():
    binary, load = sys.argv[1], sys.argv[2]
    started = time.time()
    runs = knob("BENCH_WEB_RUNS")
    tmp = tempfile.mkdtemp(prefix="tmux-audit-web-bench-")
    os.chmod(tmp, 0o755)
    pg = auditor = None
    webs, res = [], {}
    server = None
    try:
        pg = Postgres(tmp)
        url, res["gen"] = central_store(binary, load, pg)
        log("recording: a 2-hour pane")
        server, _work, db, facts, _digest = views.seek_store(binary, tmp, knob(
            "BENCH_RECORDING_HOURS"))
        res["facts"] = facts
        auditor = Auditor()
        central = Web(binary, url, tmp, "web-central", auditor.group)
        webs.append(central)
        local = Web(binary, db, tmp, "web-local", auditor.group)
        webs.append(local)
        log("timing /api/sessions")
        res["sessions"] = sessions_api(Client(central.base, auditor.user, auditor.password),
                                       runs)
        cli = [timed_cli([binary, "--db", url, "sessions", "--json"])
               for _ in range(knob("BENCH_WEB_CLI_RUNS"))]
        res["cli_sessions"] = stats([ms for ms, _ in cli])
        res["cli_rows"] = len(cli[-1][1].splitlines())
        log("timing /api/cast")
        res["cast"] = cast_api(Client(local.base, auditor.user, auditor.password),
                               server.sock, facts, runs)
        replay = [binary, "--db", db, "replay", "%0", "--from", views.iso(facts["last_minute"])]
        res["cli_replay"] = stats([timed_cli(replay, first_byte=True)[0] for _ in range(runs)])
        log("timing in Chromium")
        res["chromium"] = {
            "central": chromium(central.base, auditor, "", runs),
            "recording": chromium(local.base, auditor,
                                  f"{server.sock}|%0|{(facts['last_minute'] - facts['t0']) / 1e6:.0f}|"
                                  f"{views.iso(facts['last_minute'])}",
                                  runs),
        }
    finally:
        for w in webs:
            w.stop()
        if server:
            server.kill()
        if auditor:
            auditor.remove()
        if pg:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    report = render(started, res)
    sys.stdout.write(report)
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    with open(os.path.join(REPO, "bench", "results", "web-latest.md"), "w") as f:
        f.write(report)


if __name__ == "__main__":
    main()
