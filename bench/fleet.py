"""A fleet's central store (issue 13): ingest through a real collector against PostgreSQL's own
COPY, attach → visible centrally, views over millions of central events, search over its
output. Run by `bench/run-fleet`; writes bench/results/fleet.md.

Everything runs on this machine: a PostgreSQL 15 cluster of our own (initdb in a temp dir,
run as user `postgres`, 127.0.0.1 on its own port, fsync ON, synchronous_commit ON: every
acknowledged batch is durable), `tmux-audit collector` (release build) and the load generator
`fleet-load` (crates/audit-bench). Nothing we did not start is touched; everything is ended by
pid; every wait is bounded.

1. Ingest. BENCH_FLEET_HOSTS (20) hosts are enrolled with `tmux-audit collector enroll`; one
   thread per host ships BENCH_FLEET_EVENTS_PER_HOST (5,000) records of a valid chain in
   batches of at most 2000 records or 2 MiB (as the daemon's sink batches) over one keep-alive
   connection to the collector. Mix: about 79 % `command`, 10 % `tmux-command`, 4 %
   attaches/detaches, BENCH_FLEET_OUTPUT_SHARE (3 %) `pane-output` with real zstd chunks (64
   distinct chunks of 16–48 KiB of terminal text, some coloured, reused), 0.5 % `seal`,
   0.2 % session created/closed; then a second run with no pane output and
   BENCH_FLEET_EVENTS_ONLY_PER_HOST (20,000) records per host. All records are made before the clock starts; the clock
   runs from the first POST to the last acknowledgement. Afterwards the central row counts are
   checked against what was sent. CPU of the collector, of PostgreSQL (every backend) and of
   the load generator is read from /proc over the run.
   COPY: the very rows the collector stored are written out (`COPY … TO` binary files), a
   fresh database gets the same schema (by enrolling the same hosts through tmux-audit, and
   the same month partitions), and `COPY … FROM` (binary, server-side, one stream, tables one
   after another, every index in place) loads them: PostgreSQL's own limit for these rows.
2. Attach → central. A real tmux server, `tmux-audit daemon` with a `collector` sink, the
   collector, PostgreSQL. BENCH_FLEET_ATTACHES (40) real `tmux attach` clients on ptys, one
   after another; t0 just before the client is forked; `fleet-load watch` polls the central
   `events` every 2 ms (one prepared SELECT on a persistent connection) and prints when the
   client's `client-attached` row (matched by client_pid) is there. A few more rounds poll the
   real `tmux-audit --db URL --host H who --json` instead (process start included).
3. Views over BENCH_FLEET_BIG_EVENTS (2,000,000; 10M wants ~12 GB of free disk) central events, made with `fleet-load
   generate` (binary COPY; 20 hosts, 35 days, interleaved in time as a fleet sends them; mix:
   ~72 % command, 10 % tmux-command, 1.5 % attach/detach, pane-output carrying
   BENCH_FLEET_OUTPUT_MIB (256) MiB of output, 0.5 % seal), then VACUUM ANALYZE. Each view
   runs once to warm the cache, then BENCH_FLEET_RUNS (7) times; wall clock of the whole
   process. `log_min_duration_statement = 0` on that database captures the SQL the views
   issue; the slowest statements are then run under EXPLAIN (ANALYZE, BUFFERS).
4. Search of a rare word (in BENCH_FLEET_RARE (5) chunks of the same store) on one host and
   across all hosts.
"""

import json
import os
import pwd
import queue
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from lab import Daemon, PtyClient, TmuxServer, poll  # noqa: E402
from store import Store  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PGBIN = "/usr/lib/postgresql/15/bin"
KNOBS = {
    "BENCH_FLEET_HOSTS": 20,
    "BENCH_FLEET_EVENTS_PER_HOST": 5_000,
    "BENCH_FLEET_OUTPUT_SHARE": 0.03,
    "BENCH_FLEET_EVENTS_ONLY_PER_HOST": 20_000,
    "BENCH_FLEET_ATTACHES": 40,
    # 10M events and 1 GiB need ~12 GB of free disk; the run of docs/BENCHMARKS.md had 6 GB.
    "BENCH_FLEET_BIG_EVENTS": 2_000_000,
    "BENCH_FLEET_OUTPUT_MIB": 256,
    "BENCH_FLEET_RARE": 5,
    "BENCH_FLEET_RUNS": 7,
    "BENCH_FLEET_PHASES": "ingest,attach,views",
}


def knob(name):
    default = KNOBS[name]
    return type(default)(os.environ.get(name, default))


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, q):
    v = sorted(values)
    return v[round((len(v) - 1) * q)]


def stats(values):
    return {"n": len(values), "median": statistics.median(values), "p90": pct(values, 0.9),
            "p99": pct(values, 0.99), "min": min(values), "max": max(values)}


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds; 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except FileNotFoundError:
        return 0.0


def children_of(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                pass
    return kids


class Postgres:
    """Our own cluster: initdb in `tmp`, run as `postgres`, on 127.0.0.1:port."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "pg")
        self.sock = os.path.join(tmp, "pgsock")
        self.log = os.path.join(tmp, "pg.log")
        self.port = free_port()
        pw = pwd.getpwnam("postgres")
        os.makedirs(self.sock)
        for p in (tmp, self.sock):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chmod(tmp, 0o755)
        self.as_pg([f"{PGBIN}/initdb", "-D", self.dir, "-U", "postgres", "--auth=trust",
                    "-E", "UTF8", "--locale=C.UTF-8"], quiet=True)
        with open(os.path.join(self.dir, "postgresql.conf"), "a") as f:
            f.write(f"""
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.sock}'
fsync = on
synchronous_commit = on
shared_buffers = '2GB'
work_mem = '64MB'
maintenance_work_mem = '1GB'
max_wal_size = '1GB'
checkpoint_timeout = '15min'
log_line_prefix = '%m [%p] %d '
""")
        self.as_pg([f"{PGBIN}/pg_ctl", "-D", self.dir, "-l", self.log, "-w", "-t", "60",
                    "start"], quiet=True)
        with open(os.path.join(self.dir, "postmaster.pid")) as f:
            self.pid = int(f.readline())

    @staticmethod
    def as_pg(argv, quiet=False, **kw):
        return subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True,
                              capture_output=quiet, timeout=kw.pop("timeout", 600), **kw)

    def url(self, db):
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def sql(self, db, text, timeout=3600):
        out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                              "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db,
                              "-c", text], capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"psql {text[:200]!r}: {out.stderr}")
        return out.stdout.strip()

    def createdb(self, name):
        self.sql("postgres", f"CREATE DATABASE {name}")

    def dropdb(self, name):
        self.sql("postgres", f"DROP DATABASE IF EXISTS {name}")

    def backends_cpu(self):
        return sum(cpu_seconds(p) for p in children_of(self.pid)) + cpu_seconds(self.pid)

    def stop(self):
        self.as_pg([f"{PGBIN}/pg_ctl", "-D", self.dir, "-m", "fast", "-w", "-t", "60", "stop"],
                   quiet=True)


class Served:
    """A tmux-audit server process started on 127.0.0.1:0 (the collector, the web UI): `found`
    is what `pattern` captured in its stderr once it listens; ended by pid."""

    def __init__(self, argv, err_path, pattern, what):
        self.err = err_path
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.err, "wb"))

        def listening():
            text = open(self.err, errors="replace").read()
            if self.proc.poll() is not None:
                raise RuntimeError(f"{what} exited: {text}")
            m = re.search(pattern, text)
            return m.group(1) if m else None

        self.found, _ = poll(listening, 30, 0.02)
        if not self.found:
            raise RuntimeError(f"{what} did not listen within 30 s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Collector(Served):
    """`tmux-audit --db URL collector --listen 127.0.0.1:0`, ended by pid."""

    def __init__(self, binary, url, tmp, name):
        super().__init__([binary, "--db", url, "collector", "--listen", "127.0.0.1:0"],
                         os.path.join(tmp, f"{name}.stderr"), r"collector listening on (\S+)",
                         "the collector")
        self.addr = self.found


def enroll(binary, url, name):
    out = subprocess.run([binary, "--db", url, "collector", "enroll", name],
                         capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip()


def run_timed(argv, timeout=120):
    t = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    ms = (time.monotonic() - t) * 1000
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {out.stderr[-500:]}")
    return ms, out.stdout


# ---------------------------------------------------------------------------------------- 1


def ingest(binary, load, pg, tmp, share, per_host):
    hosts = knob("BENCH_FLEET_HOSTS")
    pg.createdb("ingest")
    url = pg.url("ingest")
    names = [f"host-{i:02}" for i in range(1, hosts + 1)]
    tokens = os.path.join(tmp, "tokens")
    with open(tokens, "w") as f:
        for n in names:
            f.write(f"{n} {enroll(binary, url, n)}\n")
    col = Collector(binary, url, tmp, "collector-ingest")
    log(f"ingest: {hosts} hosts x {per_host} records into {col.addr}")
    before = {"collector": cpu_seconds(col.proc.pid), "postgres": pg.backends_cpu()}
    t = time.monotonic()
    proc = subprocess.Popen([load, "ingest", "--collector", col.addr, "--tokens", tokens,
                             "--events-per-host", str(per_host), "--output-share",
                             str(share)],
                            stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=1800)
    wall_total = time.monotonic() - t
    usage = os.wait4  # noqa: F841 (the child is reaped by communicate; rusage below)
    after = {"collector": cpu_seconds(col.proc.pid), "postgres": pg.backends_cpu()}
    if proc.returncode != 0:
        raise RuntimeError(f"fleet-load ingest failed ({proc.returncode})")
    r = json.loads(out)
    col_err = open(col.err, errors="replace").read()
    col.stop()
    r["cpu"] = {k: after[k] - before[k] for k in before}
    r["process_wall_s"] = wall_total
    ids = "(SELECT id FROM hosts WHERE name NOT LIKE '@%')"
    r["central"] = {
        "events": int(pg.sql("ingest", f"SELECT count(*) FROM events WHERE host_id IN {ids}")),
        "chunks": int(pg.sql("ingest", f"SELECT count(*) FROM chunks WHERE host_id IN {ids}")),
        "chunk_text": int(pg.sql("ingest",
                                 f"SELECT count(*) FROM chunk_text WHERE host_id IN {ids}")),
        "heads": pg.sql("ingest", "SELECT string_agg(head_seq::text, ',') FROM hosts "
                                  "WHERE name NOT LIKE '@%'"),
        "size": int(pg.sql("ingest", "SELECT pg_database_size('ingest')")),
    }
    r["collector_warnings"] = [line for line in col_err.splitlines()
                               if "WARN" in line or "ERROR" in line][:5]
    # COPY: the same rows into a fresh database with the same schema.
    r["share"] = share
    dump = os.path.join(tmp, "dump")
    os.makedirs(dump)
    shutil.chown(dump, "postgres", "postgres")
    tables = {
        "events": "host_id, seq, time, kind, server, session, session_id, pane, \"user\", "
                  "data, hash, received",
        "chunks": "host_id, seq, data",
        "chunk_text": "host_id, seq, tsv",
    }
    for table, cols in tables.items():
        pg.sql("ingest", f"COPY (SELECT {cols} FROM {table} WHERE host_id IN {ids}) "
                         f"TO '{dump}/{table}.bin' (FORMAT binary)")
    bounds = pg.sql("ingest", "SELECT c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid) "
                              "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                              "WHERE i.inhparent = 'events'::regclass AND c.relname <> "
                              "'events_default'").splitlines()
    pg.createdb("copied")
    curl = pg.url("copied")
    for n in names:
        enroll(binary, curl, n)
    for b in bounds:
        name, bound = b.split(" ", 1)
        pg.sql("copied", f"CREATE TABLE {name} PARTITION OF events {bound}")
    pg.sql("copied", "CHECKPOINT")
    copy = {}
    t_all = time.monotonic()
    for table, cols in tables.items():
        t = time.monotonic()
        pg.sql("copied", f"COPY {table} ({cols}) FROM '{dump}/{table}.bin' (FORMAT binary)")
        copy[table] = time.monotonic() - t
    copy["total"] = time.monotonic() - t_all
    copy["rows"] = int(pg.sql("copied", "SELECT count(*) FROM events"))
    r["copy"] = copy
    shutil.rmtree(dump)
    pg.dropdb("ingest")
    pg.dropdb("copied")
    return r


# ---------------------------------------------------------------------------------------- 2


def attach(binary, load, pg, tmp):
    rounds = knob("BENCH_FLEET_ATTACHES")
    pg.createdb("attach")
    url = pg.url("attach")
    token = enroll(binary, url, "lab-1")
    col = Collector(binary, url, tmp, "collector-attach")
    server = TmuxServer(tmp, "fleet")
    server.start("bench")
    tok = os.path.join(tmp, "lab-1.token")
    with open(tok, "w") as f:
        f.write(token + "\n")
    os.chmod(tok, 0o600)
    cfg = os.path.join(tmp, "host.toml")
    with open(cfg, "w") as f:
        f.write(f'host_name = "lab-1"\n[[sink]]\ntype = "collector"\n'
                f'url = "http://{col.addr}"\ntoken_file = "{tok}"\n')
    db = os.path.join(tmp, "lab-1.db")
    daemon = Daemon(binary, db, server, os.path.join(tmp, "daemon.log"), extra=("--config", cfg))
    store = None
    watcher = None
    samples, local, who_samples, problems = [], [], [], []
    try:
        made, _ = poll(lambda: True if os.path.exists(db) else None, 10, 0.01)
        store = Store(db)
        ok, _ = poll(lambda: True if store.count("session-created") >= 1 else None, 10, 0.01)
        if not ok:
            raise RuntimeError(f"daemon not ready:\n{daemon.log_tail()}")
        # Wait until the daemon's first records are central (the sink is running).
        ok, _ = poll(lambda: True if int(pg.sql("attach", "SELECT count(*) FROM events e JOIN "
                                                "hosts h ON h.id = e.host_id WHERE h.name = "
                                                "'lab-1'")) > 0 else None, 30, 0.1)
        if not ok:
            raise RuntimeError(f"nothing shipped within 30 s:\n{daemon.log_tail()}")
        watcher = subprocess.Popen([load, "watch", "--db", url, "--host", "lab-1"],
                                   stdout=subprocess.PIPE, text=True)
        lines = queue.Queue()

        def read():
            for line in watcher.stdout:
                lines.put(line.split())

        threading.Thread(target=read, daemon=True).start()
        first = lines.get(timeout=10)
        assert first == ["ready"], first
        seen_pids = {}
        log(f"attach: {rounds} rounds, central poll")
        for i in range(rounds):
            client = PtyClient(server.argv("attach-session", "-t", "bench"), server.env)
            deadline = time.monotonic() + 10
            while client.pid not in seen_pids and time.monotonic() < deadline:
                client.drain()
                try:
                    seen_us, seq, pid = lines.get(timeout=0.005)
                    seen_pids[int(pid)] = int(seen_us)
                except queue.Empty:
                    pass
            if client.pid in seen_pids:
                samples.append(seen_pids[client.pid] / 1e6 * 1000 - client.t0 * 1000)
                ev = store.find("client-attached", client.pid)
                if ev:
                    local.append(ev["time"] / 1000 - client.t0 * 1000)
            else:
                problems.append(f"round {i}: client {client.pid} not central within 10 s")
            client.detach()
            ok, _ = poll(lambda: store.find("client-detached", client.pid), 5)
            if not ok:
                problems.append(f"round {i}: no local client-detached")
            client.wait_exit()
            client.close()
        # The real view: `tmux-audit --db URL --host lab-1 who --json` polled until it lists
        # the new client (each run a whole process: connect, query, fold, print).
        for i in range(5):
            client = PtyClient(server.argv("attach-session", "-t", "bench"), server.env)

            def listed():
                client.drain()
                out = subprocess.run([binary, "--db", url, "--host", "lab-1", "who",
                                      "--json"], capture_output=True, text=True, timeout=30)
                return True if f'"client_pid":{client.pid}' in out.stdout.replace(" ", "") \
                    else None

            _, at = poll(listed, 10, 0.001)
            if at:
                who_samples.append((at - client.t0) * 1000)
            else:
                problems.append(f"who round {i}: client {client.pid} not listed within 10 s")
            client.detach()
            poll(lambda: store.find("client-detached", client.pid), 5)
            client.wait_exit()
            client.close()
    finally:
        if watcher:
            watcher.kill()
            watcher.wait()
        status = daemon.stop()
        server.kill()
        col.stop()
        if store:
            store.close()
    pg.dropdb("attach")
    return {"central": stats(samples) if samples else None,
            "local": stats(local) if local else None,
            "who": stats(who_samples) if who_samples else None,
            "problems": problems, "daemon_status": status}


# ---------------------------------------------------------------------------------------- 3+4


def statements_since(pg, offset):
    """(duration ms, SQL with its parameters put in) of every statement logged after offset."""
    with open(pg.log, errors="replace") as f:
        f.seek(offset)
        text = f.read()
    entries = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", text)
    out = []
    for i, entry in enumerate(entries):
        m = re.search(r"duration: ([\d.]+) ms\s+(?:execute [^:]*|statement): (.*)", entry, re.S)
        if not m:
            continue
        sql = m.group(2)
        nxt = entries[i + 1] if i + 1 < len(entries) else ""
        p = re.search(r"DETAIL:\s+parameters: (.*)", nxt, re.S)
        if p:
            values = dict(re.findall(r"\$(\d+) = ('(?:[^']|'')*'|NULL)", p.group(1)))
            for n in sorted(values, key=int, reverse=True):
                sql = sql.replace(f"${n}", values[n])
        out.append((float(m.group(1)), " ".join(sql.split())))
    return out


def views(binary, load, pg, tmp):
    hosts, total = knob("BENCH_FLEET_HOSTS"), knob("BENCH_FLEET_BIG_EVENTS")
    runs = knob("BENCH_FLEET_RUNS")
    need = total * 900 + knob("BENCH_FLEET_OUTPUT_MIB") * 2**20 * 4 + 1.5 * 2**30
    free = shutil.disk_usage(tmp).free
    if free < need:
        raise RuntimeError(f"views: {total:,} events and {knob('BENCH_FLEET_OUTPUT_MIB')} MiB "
                           f"need about {need / 2**30:.1f} GiB of disk, {free / 2**30:.1f} free: "
                           f"lower BENCH_FLEET_BIG_EVENTS / BENCH_FLEET_OUTPUT_MIB")
    pg.createdb("big")
    url = pg.url("big")
    names = [f"fleet-{i:02}" for i in range(1, hosts + 1)]
    for n in names:
        enroll(binary, url, n)
    log(f"views: generating {total} events, {knob('BENCH_FLEET_OUTPUT_MIB')} MiB of output")
    t = time.monotonic()
    out = subprocess.run([load, "generate", "--db", url, "--events", str(total), "--days", "35",
                          "--output-mib", str(knob("BENCH_FLEET_OUTPUT_MIB")),
                          "--rare-chunks", str(knob("BENCH_FLEET_RARE"))],
                         capture_output=True, text=True, timeout=7200)
    if out.returncode != 0:
        raise RuntimeError(f"generate: {out.stderr}")
    gen = json.loads(out.stdout)
    gen["load_s"] = time.monotonic() - t
    log(f"views: loaded in {gen['load_s']:.0f} s; VACUUM ANALYZE")
    t = time.monotonic()
    pg.sql("big", "VACUUM ANALYZE")
    gen["vacuum_s"] = time.monotonic() - t
    gen["db_size"] = int(pg.sql("big", "SELECT pg_database_size('big')"))
    gen["text_table"] = int(pg.sql("big", "SELECT pg_total_relation_size('chunk_text')"))
    gen["chunks_table"] = int(pg.sql("big", "SELECT pg_total_relation_size('chunks')"))
    pg.sql("postgres", "ALTER DATABASE big SET log_min_duration_statement = 0")
    host = names[len(names) // 2]
    rare_hosts = sorted({r["host"] for r in gen["rare_at"]})
    search_host = rare_hosts[0] if rare_hosts else host
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(gen["until_us"] / 1e6 - 3 * 86400))
    word = gen["rare"]
    cases = {
        "log": [binary, "--db", url, "log", "--host", host, "--session", "main", "--since",
                "1d", "--json"],
        "who": [binary, "--db", url, "--host", host, "who", "--at", at],
        "search-host": [binary, "--db", url, "--host", search_host, "search", word, "--json"],
        "search-all": [binary, "--db", url, "search", word, "--json"],
    }
    results = {}
    for name, argv in cases.items():
        log(f"views: {name}")
        run_timed(argv)  # warm-up
        offset = os.path.getsize(pg.log)
        ms, stdout = run_timed(argv)
        stmts = statements_since(pg, offset)
        times = [ms] + [run_timed(argv)[0] for _ in range(runs - 1)]
        slow = sorted(stmts, reverse=True)[:3]
        explains = []
        for d, sql in slow:
            if sql.lstrip().upper().startswith("SELECT") and d >= 1.0:
                try:
                    plan = pg.sql("big", f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                except RuntimeError as e:
                    plan = f"(EXPLAIN failed: {e})"
                explains.append({"ms": d, "sql": sql, "plan": plan})
        results[name] = {"argv": argv, "stats": stats(times), "lines": len(stdout.splitlines()),
                         "statements": len(stmts),
                         "sql_ms": sum(d for d, _ in stmts), "explains": explains}
    pg.sql("postgres", "ALTER DATABASE big RESET log_min_duration_statement")
    return {"gen": gen, "host": host, "at": at, "search_host": search_host,
            "rare_hosts": rare_hosts, "results": results}


# ---------------------------------------------------------------------------------------- report


def ms(v):
    return f"{v:,.1f} ms" if v < 1000 else f"{v / 1000:,.2f} s"


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pgv = subprocess.run([f"{PGBIN}/postgres", "--version"], capture_output=True,
                         text=True).stdout.strip()
    tmux = subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{cpu}, nproc {os.cpu_count()}, {mem:.1f} GiB, kernel {os.uname().release}, "
            f"{pgv} (own cluster: fsync on, synchronous_commit on, shared_buffers 2GB), {tmux}, "
            f"commit {commit}, load average {os.getloadavg()[0]:.2f}")


def render(started, res):
    out = [f"# Fleet benchmark (issue 13): the central store\n",
           f"`bench/run-fleet`, {started}. Machine: {machine()}.\n",
           "Knobs: " + ", ".join(f"{k}={knob(k)}" for k in KNOBS) + "\n"]
    runs = res.get("ingest") or []
    if runs:
        out.append("## 1. Ingest through the collector vs PostgreSQL COPY\n")
    for r in runs:
            ev, wall = r["events"], r["wall_s"]
            c = r["copy"]
            rate, crate = ev / wall, c["rows"] / c["total"]
            out.append(f"### {'mix with pane output' if r['share'] else 'events only (no pane output)'}: "
                       f"pane-output share {r['share']:.0%}\n")
            out.append(f"{r['hosts']} hosts, {ev:,} records ({r['chunks']:,} pane-output chunks: "
                       f"{r['output_bytes'] / 1e6:,.1f} MB of output, {r['chunk_bytes'] / 1e6:,.1f} MB "
                       f"compressed), {r['batches']:,} batches, {r['body_bytes'] / 1e6:,.1f} MB of "
                       f"request bodies.\n")
            out.append("| what | seconds | events/s | output MB/s |\n|---|---|---|---|")
            out.append(f"| **collector**: first POST → last ack | {wall:.2f} | **{rate:,.0f}** | "
                       f"{r['output_bytes'] / 1e6 / wall:,.1f} |")
            out.append(f"| COPY FROM (binary; events, chunks, chunk_text in turn) | {c['total']:.2f} | "
                       f"**{crate:,.0f}** | {r['output_bytes'] / 1e6 / c['total']:,.1f} |")
            out.append(f"| — of which events / chunks / chunk_text | {c['events']:.2f} / "
                       f"{c['chunks']:.2f} / {c['chunk_text']:.2f} | | |\n")
            out.append(f"Ratio ingest / COPY: **{rate / crate:.2f}** (target ≥ 0.5); target ≥ 50,000 "
                       f"events/s: **{'met' if rate >= 50000 else 'not met'}**.\n")
            b = r["batch_ms"]
            out.append(f"Per batch (POST → answer): median {ms(b['median'])}, p90 {ms(b['p90'])}, "
                       f"p99 {ms(b['p99'])}, max {ms(b['max'])}.\n")
            cpu = r["cpu"]
            out.append(f"CPU during the run ({wall:.1f} s wall, 2 cores = {2 * wall:.1f} CPU-s): "
                       f"collector {cpu['collector']:.1f} s, PostgreSQL (all backends) "
                       f"{cpu['postgres']:.1f} s.\n")
            cen = r["central"]
            ok = cen["events"] == ev and cen["chunks"] == r["chunks"]
            out.append(f"Central rows: events {cen['events']:,} (sent {ev:,}), chunks "
                       f"{cen['chunks']:,} (sent {r['chunks']:,}), chunk_text {cen['chunk_text']:,}; "
                       f"acknowledged heads {sorted(set(r['acked']))}: "
                       f"**{'all stored' if ok else 'MISMATCH'}**. Database size "
                       f"{cen['size'] / 2**20:,.0f} MiB.\n")
            if r["collector_warnings"]:
                out.append("Collector warnings: " + "; ".join(r["collector_warnings"]) + "\n")
    a = res.get("attach")
    if a:
        out.append("## 2. Attach → visible in the central store\n")
        out.append("| t0 (client forked) → | n | median | p90 | p99 | max |\n|---|---|---|---|---|---|")
        for label, key in (("the event's `time` (local daemon saw it)", "local"),
                           ("**row in central `events`** (2 ms SQL poll)", "central"),
                           ("`tmux-audit --db URL --host H who --json` lists it", "who")):
            s = a[key]
            if s:
                out.append(f"| {label} | {s['n']} | {ms(s['median'])} | {ms(s['p90'])} | "
                           f"{ms(s['p99'])} | {ms(s['max'])} |")
        out.append(f"\nDaemon exit status {a['daemon_status']}. Problems: "
                   f"{'; '.join(a['problems']) or 'none'}.\n")
    v = res.get("views")
    if v:
        g = v["gen"]
        out.append("## 3–4. Views over the central store\n")
        out.append(f"{g['events']:,} events over {g['hosts']} hosts and {g['days']} days, "
                   f"{g['chunks']:,} chunks holding {g['output_bytes'] / 2**30:.2f} GiB of output "
                   f"({g['text_bytes'] / 2**30:.2f} GiB of text; stored compressed "
                   f"{g['stored_chunk_bytes'] / 2**20:,.0f} MiB), loaded with COPY in "
                   f"{g['load_s']:.0f} s (+ VACUUM ANALYZE {g['vacuum_s']:.0f} s); database "
                   f"{g['db_size'] / 2**30:.2f} GiB (chunks {g['chunks_table'] / 2**20:,.0f} MiB, "
                   f"chunk_text {g['text_table'] / 2**20:,.0f} MiB). Kinds: "
                   + ", ".join(f"{k} {n:,}" for k, n in sorted(g["kinds"].items(),
                                                              key=lambda x: -x[1])) + ".\n")
        out.append(f"Rare word `{g['rare']}` in {len(g['rare_at'])} chunks (hosts "
                   f"{', '.join(v['rare_hosts'])}). Warm cache: one unmeasured run first, then "
                   f"{knob('BENCH_FLEET_RUNS')} runs; wall clock of the whole process.\n")
        out.append("| view | median | p90 | min | max | lines out | SQL statements | their "
                   "server time |\n|---|---|---|---|---|---|---|---|")
        for name, x in v["results"].items():
            s = x["stats"]
            cmd = " ".join(a if " " not in a else repr(a) for a in x["argv"][1:])
            cmd = cmd.replace(x["argv"][2], "URL")
            out.append(f"| `tmux-audit {cmd}` | **{ms(s['median'])}** | {ms(s['p90'])} | "
                       f"{ms(s['min'])} | {ms(s['max'])} | {x['lines']} | {x['statements']} | "
                       f"{ms(x['sql_ms'])} |")
        out.append("")
        for name, x in v["results"].items():
            for e in x["explains"]:
                out.append(f"<details><summary>{name}: {e['ms']:.1f} ms — "
                           f"<code>{e['sql'][:140]}…</code></summary>\n\n```\n{e['sql']}\n\n"
                           f"{e['plan']}\n```\n</details>\n")
    return "\n".join(out)


def main():
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    binary, load = sys.argv[1], sys.argv[2]
    phases = knob("BENCH_FLEET_PHASES").split(",")
    tmp = tempfile.mkdtemp(prefix="fleet-bench-")
    res = {}
    pg = Postgres(tmp)
    try:
        if "ingest" in phases:
            res["ingest"] = [
                ingest(binary, load, pg, tmp, knob("BENCH_FLEET_OUTPUT_SHARE"),
                       knob("BENCH_FLEET_EVENTS_PER_HOST")),
                ingest(binary, load, pg, tmp, 0.0, knob("BENCH_FLEET_EVENTS_ONLY_PER_HOST"))]
        if "attach" in phases:
            res["attach"] = attach(binary, load, pg, tmp)
        if "views" in phases:
            res["views"] = views(binary, load, pg, tmp)
    finally:
        try:
            with open(os.path.join(REPO, "bench", "results", "fleet.json"), "w") as f:
                json.dump(res, f, indent=1, default=str)
        except OSError:
            pass
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    report = render(started, res)
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    with open(os.path.join(REPO, "bench", "results", "fleet.md"), "w") as f:
        f.write(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
