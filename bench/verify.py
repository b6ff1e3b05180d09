"""Verify speed and whether verifying blocks recording (issue 4).

Run `bench/run-verify`. Issue 4's target: a verify of the whole store reads at least 500 MB/s
of stored data, and verifying does not block recording.

1. The store. BENCH_VERIFY_MB (1024) MiB of busy log-like pane output (synth.log_stream, the
   generator of run-views' search store) over BENCH_VERIFY_PANES (4) panes, three days each,
   written as leftover spools beside a fresh store and ingested by a daemon on a private tmux
   server that has those panes (views.ingest: the same renderer, 1 MiB chunks, zstd and
   full-text index as live recording). Sealing is on before the daemon first runs:
   `tmux-audit --db DB seal init --interval 15` prints the verification key (the line starting
   `tavk1:`), and the daemon seals the chain every 15 s while it ingests and when it stops.
   With BENCH_VERIFY_CACHE=DIR the store (and its key) is kept in DIR and reused by later runs
   with the same size, panes and generator; a run then works on a copy, so the cached store is
   never changed.
2. Speed. The store in the page cache (one warm-up read of the whole folder), timed
   BENCH_VERIFY_RUNS (5) times each, interleaved in an order rotated per round:
   `tmux-audit --db DB verify`, `verify --key KEY`, `verify --json`; a diagnostic row,
   `verify --key` with glibc's malloc told not to give freed heap back to the kernel
   (GLIBC_TUNABLES, see NO_TRIM), which shows how much of verify's time goes to faulting in
   fresh buffer pages for every chunk; as reference points `sha256sum DB`, `b2sum DB`
   (`b3sum DB` too where it is installed), `cat DB` into /dev/null; and, where journalctl is
   installed, in BENCH_VERIFY_JOURNAL_RUNS (3) of the rounds (each takes seconds),
   `journalctl --verify --file=X` on an unsealed journal and `journalctl --verify
   --verify-key=KEY --file=X` on a sealed one (Forward Secure Sealing, 15 s epochs: the
   counterpart of `verify --key`), each written by systemd-journald and of about the store's
   size. MB/s = (DB + its -wal) bytes / seconds for tmux-audit and the checksums, the journal
   files' bytes / seconds for journalctl. Every verify must exit 0. Time is from fork to
   reaping (wait4, polled every 1 ms); CPU is the child's user + system time, and its minor
   page faults are counted.
   The journals: a systemd-journald namespace instance (`systemd-journald bench`) run in a
   private mount namespace (`unshare -m`) with this run's temp dirs bound over
   /var/log/journal, /run/systemd and /etc/systemd, so it sees only its own config and writes
   only there (the FSS key from `journalctl --setup-keys` too); fed the same generator's lines,
   one entry each (MESSAGE, SYSLOG_IDENTIFIER, PRIORITY) through its native socket, until its
   file holds as many bytes as the store; ended by pid. It needs root and unshare; otherwise
   the report says why it is missing. BENCH_VERIFY_JOURNAL=0 leaves the journals out.
3. Recording while verifying. A daemon (`--flush-after 1`) records a live private tmux server
   into the same store: pane %0 prints a line every 10 ms, pane %1 (a second window) one every
   100 ms (Python loops), and a real pty client attaches to %0's window (`tmux attach`) and
   detaches (C-b d), one round every BENCH_VERIFY_ATTACH_MS (200) ms (latency.timed_attach: t0
   just before fork+exec of the client, then a 1 ms poll of the store, read-only, until its
   `client-attached` is committed). Windows of BENCH_VERIFY_LIVE_SECONDS (15) alternate,
   BENCH_VERIFY_LIVE_WINDOWS (2) pairs: without verify, then with `verify --key` run back to
   back. Every committed event is stamped with the wall time our poll (every 1-2 ms) first saw
   it; each latency counts in the window it lies in whole (one that straddles two is left
   out). Measured per window kind: attach-to-commit (t0 → seen), split at the event's `time`
   (client start-up, tmux and the daemon observing; then the daemon's commit delay), the commit
   delay of %1's output chunks and their output's age at commit (`until` → seen), how many
   chunks, seals and attaches were committed, the daemon's and the tmux server's CPU, and every
   concurrent verify's exit status and time. Then the daemon is stopped (SIGTERM), `verify
   --key` checks the whole store once more, and the report says when %0's output was
   committed: with `--flush-after 1` both panes should commit about every second (the
   `pane-pipe` copier writes a staged record within 200 ms even when the pane is never quiet).

Every tmux server is private (lab.TmuxServer, views.private_server), every process started here
is ended by its pid; nothing touches the user's servers, store or journal.
"""

import glob
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import synth
import views
from lab import Daemon, TmuxServer, poll, sqlite_pages
from latency import ATTACH_TIMEOUT, detach, timed_attach
from report import machine, snapshot_binary
from store import Store

KNOBS = {"BENCH_VERIFY_MB": 1024, "BENCH_VERIFY_PANES": 4, "BENCH_VERIFY_RUNS": 5,
         "BENCH_VERIFY_LIVE_SECONDS": 15, "BENCH_VERIFY_LIVE_WINDOWS": 2,
         "BENCH_VERIFY_ATTACH_MS": 200, "BENCH_VERIFY_JOURNAL": 1,
         "BENCH_VERIFY_JOURNAL_RUNS": 3}
SEAL_INTERVAL = 15  # s, for tmux-audit and for journald's sealed journal
TARGET_MBS = 500
# A diagnostic: glibc's malloc told never to give heap memory back to the kernel (nor to mmap
# a chunk-sized block), so buffers freed after one chunk are reused for the next instead of
# being faulted in again.
NO_TRIM = "glibc.malloc.trim_threshold=1073741824:glibc.malloc.mmap_threshold=33554432"
DIAGNOSTIC = "diagnostic: `verify --key KEY`, glibc malloc not trimming"
CACHE_VERSION = 1  # of facts.json: a cached store with other facts is rebuilt
DAYS = 3
JOURNALD = ("/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald")
PRINTER = """import sys, time
every = float(sys.argv[1])
while True:
    print(f"{time.time():.6f} tick", flush=True)
    time.sleep(every)
"""

progress = views.progress
med = views.med


def load():
    return views.load()


def mb(n):
    return n / 1e6


# ---------------------------------------------------------------------------------------------
# 1. The store


def seal_init(binary, db):
    """`tmux-audit --db DB seal init --interval 15`: returns the verification key it printed."""
    done = subprocess.run([binary, "--db", db, "seal", "init", "--interval", str(SEAL_INTERVAL)],
                          capture_output=True, text=True, timeout=30)
    keys = [l.strip() for l in done.stdout.splitlines() if l.startswith("tavk1:")]
    if done.returncode != 0 or len(keys) != 1:
        raise RuntimeError(f"seal init failed ({done.returncode}): {done.stdout} {done.stderr}")
    return keys[0]


def cache_key(knobs):
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "synth.py"), "rb") as f:
        source = f.read()
    text = json.dumps([CACHE_VERSION, knobs["BENCH_VERIFY_MB"], knobs["BENCH_VERIFY_PANES"],
                       SEAL_INTERVAL, hashlib.sha256(source).hexdigest()])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def build_store(binary, tmp, work, knobs):
    """Seal init, leftover spools, a daemon ingesting them; facts (also kept in facts.json)."""
    panes = knobs["BENCH_VERIFY_PANES"]
    total = knobs["BENCH_VERIFY_MB"] << 20
    per = total // panes
    db = os.path.join(work, "store", "audit.db")
    key = seal_init(binary, db)
    server = views.private_server(tmp, "build", panes)
    # Named as the daemon names a server's folder (it ignores any other name).
    folder = os.path.join(work, "store", "audit.db.spool", views.folder_name(server.sock))
    os.makedirs(folder)
    try:
        with open(os.path.join(folder, "server"), "w") as f:
            f.write(server.sock)
        expected = {}
        t_gen = time.time()
        for p in range(panes):
            t0 = (int(time.time()) - DAYS * 86400 - 3600) * 1_000_000
            spool = synth.SpoolWriter(os.path.join(folder, f"{p}-{t0}.tas"))
            next_note = 128 << 20
            for t, data in synth.log_stream(300 + p, t0, DAYS * 86400, per):
                spool.output(t, data)
                if spool.output_bytes >= next_note:
                    progress(f"store: writing spools, pane %{p}: {spool.output_bytes >> 20} of "
                             f"{per >> 20} MiB")
                    next_note += 128 << 20
            spool.close(spool.last + 1_000_000)
            expected[f"%{p}"] = spool.output_bytes
        gen_s = time.time() - t_gen
        progress(f"store: {mb(sum(expected.values())):,.0f} MB of output written in "
                 f"{gen_s:.0f} s; a daemon (sealing every {SEAL_INTERVAL} s) ingests it now")
        ing = views.ingest(binary, server, db, expected, os.path.join(work, "daemon.log"),
                           "store", 2.0)
    finally:
        server.kill()
    facts = {"key": key, "expected": expected, "generate_s": gen_s,
             "ingest": {k: v for k, v in ing.items() if k != "log"},
             "built": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
             "built_by": views.first_line(binary, "--version")}
    with open(os.path.join(work, "facts.json"), "w") as f:
        json.dump(facts, f)
    return facts


def the_store(binary, tmp, knobs):
    """The store to measure, in tmp: built here, or copied from BENCH_VERIFY_CACHE."""
    cache = os.environ.get("BENCH_VERIFY_CACHE")
    if not cache:
        work = os.path.join(tmp, "verify-store")
        os.makedirs(work)
        facts = build_store(binary, tmp, work, knobs)
        facts["reused"] = False
        return os.path.join(work, "store", "audit.db"), facts
    work = os.path.join(os.path.abspath(cache), f"verify-{cache_key(knobs)}")
    facts_path = os.path.join(work, "facts.json")
    if os.path.exists(facts_path):
        with open(facts_path) as f:
            facts = json.load(f)
        facts["reused"] = True
        progress(f"store: reusing {work} (built {facts['built']})")
    else:
        if os.path.exists(work):
            shutil.rmtree(work)
        os.makedirs(work)
        facts = build_store(binary, tmp, work, knobs)
        facts["reused"] = False
    facts["cache"] = work
    copy = os.path.join(tmp, "verify-store", "store")
    t = time.time()
    shutil.copytree(os.path.join(work, "store"), copy)
    progress(f"store: copied to the run's temp dir in {time.time() - t:.1f} s (the cached "
             f"store is never written)")
    return os.path.join(copy, "audit.db"), facts


def db_bytes(db):
    """The stored data verify has to read: the DB file plus its -wal, if any."""
    wal = db + "-wal"
    return os.path.getsize(db) + (os.path.getsize(wal) if os.path.exists(wal) else 0)


# ---------------------------------------------------------------------------------------------
# The journald peer


def journal_files(folder):
    return sorted(glob.glob(os.path.join(folder, "log", "*.bench", "*.journal")))


class Journald:
    """A systemd-journald namespace instance (`systemd-journald bench`) in a private mount
    namespace, with `folder`'s log/, run/ and etc/ bound over /var/log/journal, /run/systemd and
    /etc/systemd: it reads only our config and writes only into `folder`."""

    def __init__(self, program, folder, max_file, sealed):
        self.folder = folder
        for sub in ("log", "run", "etc"):
            os.makedirs(os.path.join(folder, sub), exist_ok=True)
        with open(os.path.join(folder, "etc", "journald@bench.conf"), "w") as f:
            f.write("[Journal]\nStorage=persistent\nCompress=yes\n"
                    f"Seal={'yes' if sealed else 'no'}\nRateLimitBurst=0\n"
                    f"SystemMaxFileSize={max_file}\nSystemMaxUse={max_file * 4}\n"
                    "SystemKeepFree=1G\nMaxLevelStore=debug\nForwardToSyslog=no\n"
                    "ForwardToKMsg=no\nForwardToConsole=no\nForwardToWall=no\n")
        self.key = None
        if sealed:
            with open("/etc/machine-id") as f:
                os.makedirs(os.path.join(folder, "log", f.read().strip()), exist_ok=True)
            done = self.private(["journalctl", "--setup-keys", f"--interval={SEAL_INTERVAL}s"],
                                run=True)
            lines = done.stdout.split()
            if done.returncode != 0 or not lines:
                raise RuntimeError(f"journalctl --setup-keys failed: {done.stderr.strip()}")
            self.key = lines[-1]
        self.log = open(os.path.join(folder, "journald.log"), "wb")
        self.proc = self.private([program, "bench"])
        self.socket = os.path.join(folder, "run", "journal.bench", "socket")
        up, _ = poll(lambda: True if os.path.exists(self.socket) or self.proc.poll() is not None
                     else None, 10, interval=0.01)
        if not up or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError(f"systemd-journald did not start: {self.log_tail()}")

    def private(self, argv, run=False):
        """ARGV in a new private mount namespace with our folders bound over the system's.

        unshare execs sh, which execs ARGV: one pid throughout, ours to end."""
        f = self.folder
        script = (f"mount --bind '{f}/log' /var/log/journal && "
                  f"mount --bind '{f}/run' /run/systemd && "
                  f"mount --bind '{f}/etc' /etc/systemd && exec \"$@\"")
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                *argv]
        if run:
            return subprocess.run(argv, capture_output=True, text=True, timeout=120)
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                stderr=self.log)

    def log_tail(self):
        with open(os.path.join(self.folder, "journald.log"), errors="replace") as f:
            return f.read()[-600:].strip()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def fill_journal(journald, target, seed):
    """Sends generated lines until the journal files hold `target` bytes; returns facts."""
    import socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.connect(journald.socket)
    entries = payload = 0
    t = time.time()
    last_note = t
    for _, piece in synth.log_stream(seed, 0, 86400, 1 << 40):
        for line in piece.split(b"\r\n"):
            if line:
                # A blocking datagram socket: when journald falls behind, send waits.
                sock.send(b"SYSLOG_IDENTIFIER=app\nPRIORITY=6\nMESSAGE=" + line + b"\n")
                entries += 1
                payload += len(line)
        size = sum(os.path.getsize(p) for p in journal_files(journald.folder))
        if size >= target:
            break
        if time.time() - last_note >= 10:
            progress(f"journal: {mb(size):,.0f} of {mb(target):,.0f} MB")
            last_note = time.time()
    sock.close()
    return {"entries": entries, "payload": payload, "fill_s": time.time() - t}


def build_journals(tmp, target, seed_base):
    """The unsealed and the sealed journal of about `target` bytes, or why there are none.

    Returns {"plain": facts, "sealed": facts} or {"missing": reason}."""
    if not shutil.which("journalctl"):
        return {"missing": "journalctl is not installed"}
    program = next((p for p in JOURNALD if os.path.exists(p)), None)
    if program is None:
        return {"missing": "journalctl is installed but systemd-journald is not, so there is "
                           "no journal file to check"}
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return {"missing": "the journal is written by a systemd-journald in a private mount "
                           "namespace, which needs root and unshare"}
    out = {}
    # One file: room for four times the target (journald sizes its hash tables from this).
    max_file = max(64 << 20, (4 * target) >> 20 << 20)
    for i, kind in enumerate(("plain", "sealed")):
        folder = os.path.join(tmp, f"journal-{kind}")
        progress(f"journal ({kind}): systemd-journald in a private mount namespace, filling "
                 f"to {mb(target):,.0f} MB")
        try:
            jd = Journald(program, folder, max_file, kind == "sealed")
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            return {"missing": f"systemd-journald could not be run here: {e}"}
        try:
            facts = fill_journal(jd, target, seed_base + i)
        finally:
            status = jd.stop()
        files = journal_files(folder)
        facts.update({"files": files, "bytes": sum(os.path.getsize(p) for p in files),
                      "key": jd.key, "status": status,
                      "version": views.first_line("journalctl", "--version")})
        out[kind] = facts
    return out


# ---------------------------------------------------------------------------------------------
# 2. Timing verify and its peers


def run_timed(argv, out_path, timeout=600, env=None):
    """Runs argv (stdout to `out_path`, or nowhere if None; stderr to out_path + ".err"):
    {"seconds" (fork to reaping), "cpu" (user + system s), "user", "sys", "status", "faults"
    (minor page faults), "rss_kb"}."""
    out = open(out_path, "wb") if out_path else subprocess.DEVNULL
    err = open(out_path + ".err", "wb") if out_path else subprocess.DEVNULL
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env=env)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, ru = os.wait4(proc.pid, 0)
                break
            time.sleep(0.001)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if out_path:
            out.close()
            err.close()
    return {"seconds": seconds, "cpu": ru.ru_utime + ru.ru_stime, "user": ru.ru_utime,
            "sys": ru.ru_stime, "status": proc.returncode, "rss_kb": ru.ru_maxrss,
            "faults": ru.ru_minflt}


def read_out(out_path):
    with open(out_path, errors="replace") as f:
        text = f.read().strip()
    with open(out_path + ".err", errors="replace") as f:
        return text, f.read().strip()


def speed_part(binary, db, key, journals, tmp, runs, journal_runs):
    """Times each case `runs` times, interleaved; returns facts."""
    size = db_bytes(db)
    folder = os.path.dirname(db)
    t = time.perf_counter()
    for p in sorted(glob.glob(os.path.join(folder, "audit.db*"))):
        if os.path.isfile(p):
            with open(p, "rb") as f:
                while f.read(1 << 20):
                    pass
    warm = time.perf_counter() - t
    base = [binary, "--db", db, "verify"]
    out = os.path.join(tmp, "out")
    # (name, argv, bytes it reads, keep its output (True: stdout, False: both, None: none),
    #  environment)
    cases = [("`verify`", base, size, True, None),
             ("`verify --key KEY`", [*base, "--key", key], size, True, None),
             ("`verify --json`", [*base, "--json"], size, True, None),
             (DIAGNOSTIC, [*base, "--key", key], size, True,
              dict(os.environ, GLIBC_TUNABLES=NO_TRIM)),
             ("`sha256sum DB`", ["sha256sum", db], size, False, None)]
    for tool in ("b2sum", "b3sum"):
        if shutil.which(tool):
            cases.append((f"`{tool} DB`", [tool, db], size, False, None))
    cases.append(("`cat DB > /dev/null`", ["cat", db], size, None, None))
    plain, sealed = journals.get("plain"), journals.get("sealed")
    if plain:
        cases.append(("`journalctl --verify --file=X` (unsealed journal)",
                      ["journalctl", "--verify", *[f"--file={p}" for p in plain["files"]]],
                      plain["bytes"], False, None))
    if sealed:
        cases.append(("`journalctl --verify --verify-key=KEY --file=X` (sealed journal)",
                      ["journalctl", "--verify", f"--verify-key={sealed['key']}",
                       *[f"--file={p}" for p in sealed["files"]]], sealed["bytes"], False,
                      None))
    samples = {name: [] for name, *_ in cases}
    texts = {}
    for r in range(runs):
        k = r % len(cases)
        for name, argv, _, keep, env in cases[k:] + cases[:k]:
            if name.startswith("`journalctl") and r >= journal_runs:
                continue  # slow: fewer runs
            s = run_timed(argv, None if keep is None else out, env=env)
            if keep is not None:
                text, err = read_out(out)
                if name not in texts or s["status"] != 0:
                    texts[name] = (text if keep else (text + "\n" + err).strip())[-600:], err
            samples[name].append(s)
        progress(f"speed: round {r + 1}/{runs} done")
    return {"size": size, "warm": warm, "samples": samples, "texts": texts,
            "bytes": {name: n for name, _, n, _, _ in cases}}


# ---------------------------------------------------------------------------------------------
# 3. Recording while verifying


class Follower(Store):
    """lab's Store, stamping each event with the wall time our poll first saw it (`seen`)."""

    def refresh(self):
        before = len(self.events)
        got = super().refresh()
        now = time.time()
        for e in self.events[before:]:
            e["seen"] = now
        return got


class Verifies:
    """`verify --key` run back to back while `on`: each run's (start, end, status, seconds)."""

    def __init__(self, argv):
        self.argv, self.proc, self.runs, self.on, self.text = argv, None, [], False, None

    def tick(self):
        """Reaps a finished verify and starts the next one while `on`."""
        if self.proc and self.proc.poll() is not None:
            end = time.time()
            out, err = self.proc.communicate()
            self.runs.append({"start": self.start, "end": end, "status": self.proc.returncode,
                              "seconds": end - self.start,
                              "text": (out + err).decode(errors="replace").strip()})
            self.proc = None
        if self.on and self.proc is None:
            self.start = time.time()
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def finish(self):
        self.on = False
        if self.proc:
            self.proc.wait(600)
            self.tick()

    def busy(self):
        return self.proc is not None


def last_seq(db):
    """The store's last seq (0 if there is no store yet)."""
    if not os.path.exists(db):
        return 0
    import sqlite3
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
    finally:
        conn.close()


def attach_round(server, store, problems, round_no):
    """latency.ours_round, keeping wall times: one timed attach, then C-b d.

    Returns {"t0" (wall s), "seen" (ms after t0), "commit" (ms from the event's `time` to
    seen)} or None."""
    client, event, sample = timed_attach(
        server, lambda c: store.find("client-attached", c.pid))
    try:
        if event is None:
            problems.append(f"round {round_no}: no `client-attached` with client_pid "
                            f"{client.pid} committed within {ATTACH_TIMEOUT:.0f} s")
            return None
        detach(client, problems, round_no,
               committed=lambda: poll(lambda: (client.drain(),
                                               store.find("client-detached", client.pid))[1],
                                      ATTACH_TIMEOUT)[0])
        return {"t0": client.t0, "seen": sample["seen"],
                "commit": (event["seen"] - event["time"] / 1e6) * 1000}
    finally:
        client.close()


def classify(start, end, windows):
    """The kind of window ('with', 'without') that [start, end] lies in whole, else None."""
    return next((kind for kind, a, b in windows if a <= start and end <= b), None)


def cpu_seconds(pid):
    """utime + stime of a process so far, in seconds (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def chunks_of(binary, db, server):
    """The live server's `pane-output` events, from `log --json -S SOCK`: {pane: [event]}."""
    done = subprocess.run([binary, "--db", db, "log", "--json", "--kind", "pane-output",
                           "-S", server.sock], capture_output=True, text=True, timeout=300,
                          env=server.env)
    out = {}
    for line in done.stdout.splitlines():
        e = json.loads(line)
        out.setdefault(e["pane_id"], []).append(e)
    return out


def live_part(binary, db, key, tmp, knobs):
    seconds, pairs = knobs["BENCH_VERIFY_LIVE_SECONDS"], knobs["BENCH_VERIFY_LIVE_WINDOWS"]
    every = knobs["BENCH_VERIFY_ATTACH_MS"] / 1000
    server = TmuxServer(tmp, "live")
    server.env["TMUX_AUDIT_DB"] = os.path.join(tmp, "never-used.db")
    server.env["XDG_DATA_HOME"] = os.path.join(tmp, "xdg")
    printer = os.path.join(tmp, "printer.py")
    with open(printer, "w") as f:
        f.write(PRINTER)
    daemon = None
    facts = {"problems": [], "seconds": seconds, "pairs": pairs, "every": every}
    try:
        # %0: a line every 10 ms, in the window an attaching client shows; %1 (a second
        # window): a line every 100 ms.
        server.tmux("-f", "/dev/null", "new-session", "-d", "-s", "bench", "-x", "80", "-y",
                    "24", f"exec python3 -u {printer} 0.01")
        server.pid = int(server.tmux("display-message", "-p", "#{pid}"))
        server.tmux("new-window", "-d", "-t", "bench", f"exec python3 -u {printer} 0.1")
        first_seq = last_seq(db)
        daemon = Daemon(binary, db, server, os.path.join(tmp, "live-daemon.log"),
                        extra=("--flush-after", "1"))
        poll(lambda: True if os.path.exists(db) or not daemon.running() else None, 10)
        store = Follower(db)
        store.last_seq = first_seq  # follow only what this daemon adds

        def ready():
            if not daemon.running():
                return False
            return True if store.count("session-created", server=server.sock) else None

        ok, _ = poll(ready, 20, interval=0.01)
        if not ok:
            raise RuntimeError(f"the live daemon did not record the server:\n"
                               f"{daemon.log_tail()}")
        # Recording is under way once a chunk of %1 holds output (its pane picture comes first).
        first, _ = poll(lambda: True if store.count("pane-output", pane_id="%1",
                                                    server=server.sock) >= 2 else None,
                        20, interval=0.01)
        if not first:
            facts["problems"].append("no output chunk of pane %1 within 20 s")
        verifies = Verifies([binary, "--db", db, "verify", "--key", key])
        windows, samples, wal_max, cpu = [], [], 0, []
        round_no = 0
        progress(f"live: {pairs} x ({seconds} s without verify, {seconds} s with verify --key "
                 f"back to back), attaching and detaching throughout")
        for pair in range(pairs):
            for kind in ("without", "with"):
                verifies.on = kind == "with"
                before = (cpu_seconds(daemon.pid), cpu_seconds(server.pid))
                verifies.tick()
                start = time.time()
                while time.time() - start < seconds:
                    slot = time.time()
                    round_no += 1
                    sample = attach_round(server, store, facts["problems"], round_no)
                    verifies.tick()
                    if sample:
                        samples.append(sample)
                    wal = db + "-wal"
                    if os.path.exists(wal):
                        wal_max = max(wal_max, os.path.getsize(wal))
                    while time.time() < slot + every:  # the next attach's slot
                        store.refresh()
                        verifies.tick()
                        time.sleep(0.002)
                verifies.finish()
                end = time.time()
                windows.append((kind, start, end))
                cpu.append((kind, end - start, cpu_seconds(daemon.pid) - before[0],
                            cpu_seconds(server.pid) - before[1]))
                progress(f"live: window {len(windows)}/{2 * pairs} ({kind} verify) done")
        # Let the last chunk of %1 commit, then stop the daemon cleanly.
        time.sleep(1.5)
        store.refresh()
        t = time.time()
        facts["stop_status"] = daemon.stop(timeout=60)
        facts["stop_s"] = time.time() - t
        facts["stopped_at"] = t
        store.refresh()
        facts["daemon_log"] = daemon.log_tail(10)
        facts["chunks"] = chunks_of(binary, db, server)
    finally:
        if daemon:
            daemon.stop()
        server.kill()
    facts.update({"windows": windows, "verifies": verifies.runs, "samples": samples,
                  "events": [e for e in store.events if e["seq"] > first_seq], "cpu": cpu,
                  "server": server.sock, "wal_max": wal_max, "rounds": round_no})
    facts["final"] = run_timed([binary, "--db", db, "verify", "--key", key],
                               os.path.join(tmp, "final"))
    facts["final"]["text"] = read_out(os.path.join(tmp, "final"))
    return facts


def live_stats(f):
    """Latencies and counts by window kind ('without', 'with')."""
    windows = f["windows"]
    out = {k: {"attach": [], "attach_commit": [], "attach_observed": [], "chunk_commit": [],
               "chunk_age": [], "chunks": 0, "fast_chunks": 0, "seals": 0, "attached": 0}
           for k in ("without", "with")}
    straddled = 0
    for s in f["samples"]:
        kind = classify(s["t0"], s["t0"] + s["seen"] / 1000, windows)
        if kind is None:
            straddled += 1
            continue
        out[kind]["attach"].append(s["seen"])
        out[kind]["attach_commit"].append(s["commit"])
        out[kind]["attach_observed"].append(s["seen"] - s["commit"])
    for e in f["events"]:
        if e.get("server") != f["server"]:
            continue
        at = e["time"] / 1e6
        kind = classify(at, e["seen"], windows)
        if kind is None:
            continue
        o = out[kind]
        if e["kind"] == "pane-output" and e.get("pane_id") == "%1":
            o["chunks"] += 1
            o["chunk_commit"].append((e["seen"] - at) * 1000)
            o["chunk_age"].append((e["seen"] - e["until"] / 1e6) * 1000)
        elif e["kind"] == "pane-output":
            o["fast_chunks"] += 1
        elif e["kind"] == "seal":
            o["seals"] += 1
        elif e["kind"] == "client-attached":
            o["attached"] += 1
    return out, straddled


# ---------------------------------------------------------------------------------------------
# The report


def s3(v):
    return "—" if v is None else f"{v:.3f}"


def speed_section(sp, store_facts, pages):
    size = sp["size"]
    sha = med([s["seconds"] for s in sp["samples"]["`sha256sum DB`"] if s["status"] == 0])
    rows = ["| command | median s | min s | max s | MB/s (median) | × sha256sum's speed "
            "| CPU s (median, user + sys) | minor page faults (median) | exit 0 |",
            "|---|---|---|---|---|---|---|---|---|"]
    verify_mbs = []
    for name, samples in sp["samples"].items():
        ok = [s for s in samples if s["status"] == 0]
        t = [s["seconds"] for s in ok]
        m = med(t)
        n = sp["bytes"][name]
        mbs = mb(n) / m if m else None
        if name.startswith("`verify"):  # the diagnostic row does not count
            verify_mbs.append((name, mbs))
        cpu = med([s["cpu"] for s in ok])
        user = med([s["user"] for s in ok])
        sys_ = med([s["sys"] for s in ok])
        rows.append(f"| {'**' + name + '**' if name.startswith('`verify') else name} "
                    f"| {s3(m)} | {s3(min(t) if t else None)} | {s3(max(t) if t else None)} "
                    f"| {'—' if mbs is None else f'{mbs:,.0f}'} "
                    f"| {'—' if not m or not sha else f'{sha / m:.2f}'} "
                    f"| {'—' if cpu is None else f'{cpu:.3f} ({user:.3f} + {sys_:.3f})'} "
                    f"| {med([s['faults'] for s in ok]) or 0:,.0f} "
                    f"| {len(ok)}/{len(samples)} |")
    worst = min(verify_mbs, key=lambda x: x[1] or 0) if verify_mbs else None
    tables = pages["tables"]
    chunks = sum(c for _, c in store_facts["ingest"]["panes"].values())
    keyed = [x for x in sp["samples"]["`verify --key KEY`"] if x["status"] == 0]
    diag = [x for x in sp["samples"].get(DIAGNOSTIC, []) if x["status"] == 0]
    where = []
    if keyed and diag:
        k_t, d_t = med([x["seconds"] for x in keyed]), med([x["seconds"] for x in diag])
        where = [
            f"Where the time goes: the diagnostic row is `verify --key` with "
            f"`GLIBC_TUNABLES={NO_TRIM}` (malloc keeps freed heap memory instead of giving it "
            f"back to the kernel). It took {s3(d_t)} s instead of {s3(k_t)} s "
            f"({k_t / d_t:.2f}× the speed, {mb(size) / d_t:,.0f} MB/s), with "
            f"{med([x['faults'] for x in diag]):,.0f} minor page faults instead of "
            f"{med([x['faults'] for x in keyed]):,.0f} and {med([x['sys'] for x in diag]):.3f} s "
            f"of system time instead of {med([x['sys'] for x in keyed]):.3f}: each stored chunk "
            f"({mb(tables.get('chunks', 0)) / max(1, chunks) * 1000:,.0f} KB on average) is "
            f"read into freshly allocated buffers whose pages are faulted in and zeroed, then "
            f"handed back to the kernel, once per chunk. The rest is SQLite reading "
            f"{pages['page_size'] // 1024} KiB pages one `pread` at a time, and BLAKE3 "
            f"(user time).", ""]
    verdict = "met" if worst and worst[1] and worst[1] >= TARGET_MBS else "**not met**"
    tables = pages["tables"]
    read_by_verify = sum(b for n, b in tables.items()
                         if n in ("events", "chunks") or n.startswith("sqlite_autoindex_events"))
    parts = ", ".join(f"`{n}` {mb(b):,.1f} MB" for n, b in tables.items() if b >= 1e6)
    journal_runs = max((len(v) for n, v in sp["samples"].items()
                        if n.startswith("`journalctl")), default=0)
    texts = sp["texts"]
    shown = []
    for name in ("`verify`", "`verify --key KEY`", "`verify --json`"):
        if name in texts:
            shown += [f"{name}:", "", "```", texts[name][0].replace(store_facts["key"], "KEY"),
                      "```", ""]
    return [
        "## 2. Verify speed",
        "",
        f"Store: DB + -wal = **{size:,} bytes ({mb(size):,.1f} MB)**; in the file: {parts}, "
        f"free pages {mb(pages['free'] * pages['page_size']):,.1f} MB. Of it, `verify` has to "
        f"read the `events` and `chunks` tables ({mb(read_by_verify):,.1f} MB, "
        f"{read_by_verify / size:.0%}); the full-text index is derived data it skips. "
        f"MB/s below is of the whole DB + -wal, as the target counts it. Warm-up read of the "
        f"store folder: {sp['warm']:.2f} s.",
        "",
        f"Timed {len(sp['samples']['`verify`'])} times each (journalctl, slow, "
        f"{journal_runs}), "
        f"interleaved (order rotated per round), the store in the page cache; time is fork to "
        f"reaping; MB/s of the journal rows counts the journal files' bytes.",
        "",
        *rows,
        "",
        f"Target: a verify of the whole store reads at least {TARGET_MBS} MB/s of stored "
        f"data — {verdict}"
        + (f": slowest verify median {worst[1]:,.0f} MB/s ({worst[0]})." if worst and worst[1]
           else "."),
        "",
        *where,
        *shown,
    ]


def journal_lines(journals, size):
    if "missing" in journals:
        return [f"journald peer: not measured — {journals['missing']}."]
    out = []
    for kind, j in journals.items():
        out.append(
            f"- {kind} journal ({j['version']}): {len(j['files'])} file(s), "
            f"{j['bytes']:,} bytes ({j['bytes'] / size:.2f} of the store), {j['entries']:,} "
            f"entries holding {mb(j['payload']):,.1f} MB of message text, written by "
            f"systemd-journald in {j['fill_s']:.0f} s"
            + (f"; sealed every {SEAL_INTERVAL} s (FSS key from `journalctl --setup-keys`)"
               if j["key"] else "")
            + f"; journald exit status {j['status']}.")
    return out


def ms(v):
    return "—" if v is None else f"{v:.1f} ms" if v < 10_000 else f"{v / 1000:.1f} s"


def pct(values, q):
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def fast_pane_lines(f):
    """What became of %0's output (a line every 10 ms, never 50 ms quiet)."""
    chunks = [c for c in f["chunks"].get("%0", []) if c.get("bytes")]
    if not chunks:
        return ["Pane %0 (a line every 10 ms): **none of its output was committed**."]
    stop = f["stopped_at"]
    at = [views.parse_time(c["time"]) / 1e6 - stop for c in chunks]
    span = (views.parse_time(chunks[-1]["until"]) - views.parse_time(chunks[0]["from"])) / 1e6
    total = sum(c["bytes"] for c in chunks)
    return [
        f"Pane %0 (a line every 10 ms, the window the attaching client shows): "
        f"{total:,} bytes printed over {span:.0f} s, committed in {len(chunks)} chunk(s), "
        f"the last at {at[-1]:+.1f} s from the daemon's stop (a chunk of %1, a line every "
        f"100 ms, was committed about every second). The copier writes a staged record within "
        f"200 ms even when the pane never pauses, so both follow `--flush-after`."]


def live_section(f, baseline_verify_s):
    stats, straddled = live_stats(f)
    w, v = stats["without"], stats["with"]
    rows = ["| | without verify: median | p90 | n | with `verify --key` running: median "
            "| p90 | n |", "|---|---|---|---|---|---|---|"]
    for label, key in (("attach-to-commit: t0 (fork of `tmux attach`) → `client-attached` "
                        "seen in the store", "attach"),
                       ("of which t0 → the event's `time` (client start-up, tmux, the "
                        "daemon observing the attach)", "attach_observed"),
                       ("of which the daemon's commit delay: event `time` → seen",
                        "attach_commit"),
                       ("the daemon's commit delay, output chunks of %1: event `time` → seen",
                        "chunk_commit"),
                       ("output age at commit, %1: the chunk's `until` (its last read) → seen",
                        "chunk_age")):
        a, b = w[key], v[key]
        rows.append(f"| {label} | {ms(med(a))} | {ms(pct(a, 90))} | {len(a)} | {ms(med(b))} "
                    f"| {ms(pct(b, 90))} | {len(b)} |")
    secs = {k: sum(b - a for kind, a, b in f["windows"] if kind == k) for k in stats}
    cpu = {k: (sum(d for kind, _, d, _ in f["cpu"] if kind == k),
               sum(t for kind, _, _, t in f["cpu"] if kind == k)) for k in stats}

    def per_s(o, k):
        return (f"{o['chunks'] / secs[k]:.2f} / {o['fast_chunks']} / {o['seals']} / "
                f"{o['attached'] / secs[k]:.1f}")

    rows.append(f"| committed: chunks of %1 per s / chunks of %0 / seals / attaches per s "
                f"| {per_s(w, 'without')} | | | {per_s(v, 'with')} | | |")
    rows.append(f"| CPU, % of one core: daemon / tmux server | "
                f"{100 * cpu['without'][0] / secs['without']:.1f} / "
                f"{100 * cpu['without'][1] / secs['without']:.1f} | | | "
                f"{100 * cpu['with'][0] / secs['with']:.1f} / "
                f"{100 * cpu['with'][1] / secs['with']:.1f} | | |")
    runs = f["verifies"]
    bad = [r for r in runs if r["status"] != 0]
    busy = sum(r["end"] - r["start"] for r in runs)
    vt = [r["seconds"] for r in runs]
    final = f["final"]
    am, bm = med(w["attach"]), med(v["attach"])
    ok = v["chunks"] and v["attached"] and not bad and final["status"] == 0
    verdict = ("verifying did not block recording: attaches and output chunks were committed "
               "while `verify --key` ran, and every verify passed" if ok else
               "**commits stopped or a verify failed**")
    lines = [
        "## 3. Recording while verifying",
        "",
        f"A daemon (`--flush-after 1`) recorded a private tmux server into the same store: "
        f"pane %0 prints a line every 10 ms, pane %1 (another window) one every 100 ms, and a "
        f"pty client attaches to %0's window and detaches (C-b d), one round every "
        f"{f['every'] * 1000:.0f} ms ({f['rounds']} rounds, {len(f['samples'])} timed). "
        f"{f['pairs']} pair(s) of {f['seconds']} s windows, without then with `verify --key` "
        f"run back to back ({len(runs)} verifies, busy {busy:.1f} s of {secs['with']:.1f} s). "
        f"Each latency counts in the window it lies in whole ({straddled} attaches straddled "
        f"two and are left out); *seen* is when our 1-2 ms poll of the store first found it. "
        f"The machine has {len(os.sched_getaffinity(0))} cores: a verify keeps one busy.",
        "",
        *rows,
        "",
        f"Concurrent `verify --key`: **{len(runs) - len(bad)}/{len(runs)} exited 0**; median "
        f"{s3(med(vt))} s (min {s3(min(vt) if vt else None)}, max "
        f"{s3(max(vt) if vt else None)}), against {s3(baseline_verify_s)} s with nothing "
        f"recording (section 2). " + (f"Failed: {'; '.join(r['text'][-200:] for r in bad[:3])}. "
                                      if bad else "")
        + (f"The last one said: `{runs[-1]['text'].splitlines()[-1]}`." if runs else ""),
        "",
        f"Result: {verdict}. Attach-to-commit median {ms(am)} without verify, {ms(bm)} with"
        + (f" ({bm / am:.2f}×)" if am and bm else "") + f". Largest -wal seen: "
        f"{mb(f['wal_max']):.1f} MB. Daemon stop: exit {f.get('stop_status')} in "
        f"{f.get('stop_s', 0):.2f} s. Then `verify --key` on the whole store: exit "
        f"{final['status']} in {final['seconds']:.2f} s: "
        f"`{' / '.join(final['text'][0].splitlines())}`.",
        "",
        *fast_pane_lines(f),
    ]
    if f["problems"]:
        lines += ["", "Problems:", "", *[f"- {p}" for p in f["problems"][:20]]]
    return lines


def build_section(facts, knobs, journals, size):
    ing = facts["ingest"]
    total = sum(facts["expected"].values())
    return [
        "## 1. The store",
        "",
        f"{len(facts['expected'])} panes, {total:,} bytes ({mb(total):,.0f} MB) of busy "
        f"log-like output over {DAYS} days each (synth.log_stream), sealing on (`seal init "
        f"--interval {SEAL_INTERVAL}` before the daemon first ran), "
        + (f"reused from BENCH_VERIFY_CACHE ({facts['cache']}, built {facts['built']} by "
           f"{facts['built_by']}; copied for this run): " if facts["reused"] else "")
        + f"written as leftover spools in {facts['generate_s']:.0f} s and ingested at "
        f"**{mb(ing['bytes']) / ing['seconds']:.1f} MB/s** ({ing['seconds']:.0f} s), stop "
        f"{ing['stop']:.2f} s, exit status {ing['status']}. Store (DB + -wal): "
        f"**{mb(size):,.1f} MB** ({size / total:.3f} per byte of output), "
        f"{sum(c for _, c in ing['panes'].values())} chunks.",
        "",
        *journal_lines(journals, size),
    ]


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    given = os.environ.get("BENCH_BINARY")
    binary = given or os.path.join(repo, "target", "release", "tmux-audit")
    knobs = {name: int(os.environ.get(name, default)) for name, default in KNOBS.items()}
    started = time.time()
    loads = [("start", load())]
    with tempfile.TemporaryDirectory(prefix="tmux-audit-verify-") as tmp:
        binary, build = snapshot_binary(repo, binary, tmp)
        if given:
            build = f"BENCH_BINARY={given} (not built by this run); " + build.split("; ", 1)[1]
        host = machine(repo, binary, build)
        db, facts = the_store(binary, tmp, knobs)
        size = db_bytes(db)
        pages = sqlite_pages(db)
        journals = {}
        if knobs["BENCH_VERIFY_JOURNAL"]:
            journals = build_journals(tmp, size, 900)
        else:
            journals = {"missing": "left out (BENCH_VERIFY_JOURNAL=0)"}
        loads.append(("store built", load()))
        progress(f"speed: {knobs['BENCH_VERIFY_RUNS']} rounds")
        speed = speed_part(binary, db, facts["key"], journals if "missing" not in journals
                           else {}, tmp, knobs["BENCH_VERIFY_RUNS"],
                           knobs["BENCH_VERIFY_JOURNAL_RUNS"])
        loads.append(("after speed", load()))
        live = live_part(binary, db, facts["key"], tmp, knobs)
        loads.append(("end", load()))
    baseline = med([s["seconds"] for s in speed["samples"]["`verify --key KEY`"]])
    mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.strip()
    when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(started))
    lines = [
        "# Verify: speed, and recording while verifying",
        "",
        f"`bench/run-verify`, {when}, took {time.time() - started:.0f} s. Knobs: "
        f"{', '.join(f'{k}={v}' for k, v in knobs.items())}"
        + (f", BENCH_VERIFY_CACHE={os.environ['BENCH_VERIFY_CACHE']}"
           if os.environ.get("BENCH_VERIFY_CACHE") else "") + ".",
        "",
        *[f"- {k}: {v}" for k, v in host],
        f"- sha256sum, b2sum: {views.first_line('sha256sum', '--version')}; b3sum: "
        f"{'installed' if shutil.which('b3sum') else 'not installed'}",
        "- load average (1, 5, 15 min): " + "; ".join(f"{w} {v}" for w, v in loads),
        "",
        "```",
        mem,
        "```",
        "",
        *build_section(facts, knobs, journals, size),
        "",
        *speed_section(speed, facts, pages),
        *live_section(live, baseline),
        "",
        "Method and its limits: the docstring of `bench/verify.py`.",
    ]
    report = "\n".join(lines).rstrip() + "\n"
    sys.stdout.write(report)
    os.makedirs(os.path.join(repo, "bench", "results"), exist_ok=True)
    with open(os.path.join(repo, "bench", "results", "verify-latest.md"), "w") as f:
        f.write(report)


if __name__ == "__main__":
    main()
