"""Views of recorded output: seek latency of `replay` in a 2-hour recording, and `search` over
at least 1 GB of recorded output.

Run `bench/run-views`. Issue 3's targets measured here: replay of a 2-hour recording from its
last minute starts drawing within 200 ms; a word query over 1 GB of recorded output answers in
under 1 s.

How the stores are made. A recording cannot be printed for two hours in a benchmark, so the
output is written as *leftover spools* (synth.py: the exact format `tmux-audit pane-pipe`
writes, with the times of a 2-hour or 3-day recording) in `DB.spool/synthetic/`, with a
`server` file naming the socket of a private tmux server that runs for the benchmark and has
those panes (200x50, running `sleep`). A daemon started with `-S` on that server ingests them
the way it ingests what a killed daemon left behind: the same renderer, chunking (1 MiB),
zstd and full-text index as live recording, at the speed the ingest thread manages (reported:
MB/s). The panes exist, as when a killed daemon's panes live on (at commit 6fed61b a leftover
whose pane was gone was read for 2 s and the rest of it dropped). Because the leftover's times
are older than the `server-started` the fresh store records, a recording is named with
absolute `--from`/`--to` times (`+OFFSET` would resolve against the server's current life).

A. Seek (`BENCH_RECORDING_HOURS`, 2): one pane, a person at a shell for two hours (a command
   every 2-9 s with a few KB of coloured output, typing echoed key by key, a 2-6 MiB burst
   every 10-20 min). Timed, interleaved, BENCH_SEEK_RUNS (10) times each: `replay %0 --from
   START+1h59m` with stdout a pipe (frames are then written at once, without delays) until its
   first byte of stdout and until it exits; the same from the start; from the end of the
   chunk with the most output (the most a seek can have to replay before its first frame);
   and `export --format raw` of the whole recording into a file, as a reference.
B. Search (`BENCH_SEARCH_MB`, 1024 MiB, over `BENCH_SEARCH_PANES`, 4 panes, three days each):
   busy, varied log-like output (synth.log_stream) with five planted lines holding a rare
   word. Timed, interleaved, BENCH_SEARCH_RUNS (5) times each, `search WORD --json` with the
   default `--limit` (100): the rare word, a common word, a word that occurs nowhere, and a
   phrase that occurs; then BENCH_SEARCH_SLOW_RUNS (1) run of a phrase of two common words
   that never stand together (the documented slow path: every candidate chunk is rendered).
   Also `replay` from the middle of one pane's 3-day recording (seek in a long recording).
   With BENCH_VIEWS_CACHE=DIR the search store is kept in DIR and reused by later runs with
   the same size, panes and generator (it takes minutes to build).

Every tmux server is private (lab.TmuxServer), every daemon is stopped by its pid (SIGTERM)
and checked with `verify`; nothing touches the user's servers or store.
"""

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

from blake3_short import folder_name

import synth
from lab import Daemon, TmuxServer, files_under, pane_output, poll, sqlite_pages
from report import machine, snapshot_binary

KNOBS = {"BENCH_RECORDING_HOURS": 2, "BENCH_SEEK_RUNS": 10, "BENCH_SEARCH_MB": 1024,
         "BENCH_SEARCH_PANES": 4, "BENCH_SEARCH_RUNS": 5, "BENCH_SEARCH_SLOW_RUNS": 1}
WIDTH, HEIGHT = 200, 50
RARE, ABSENT, COMMON = "defenestrate", "zyzzogeton", "info"
PHRASE, SLOW_PHRASE = "connection reset by peer", "root info"
PLANTS = ((0, 0.10), (1, 0.50), (2, 0.30), (3, 0.90), (3, 0.99))  # (pane, where) of RARE
CACHE_VERSION = 2  # of facts.json: a cached store with other facts is rebuilt


def progress(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def iso(us):
    """RFC 3339 with microseconds, as tmux-audit prints and takes times."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(us // 1_000_000)) + \
        f".{us % 1_000_000:06d}Z"


def load():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def first_line(*argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (done.stdout or done.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "?"


# ---------------------------------------------------------------------------------------------
# Building a store from leftover spools


def private_server(tmp, name, panes):
    """A private tmux server with `panes` panes %0.. (one window each, 200x50, `sleep`)."""
    server = TmuxServer(tmp, name)
    server.env["TMUX_AUDIT_DB"] = os.path.join(tmp, "never-used.db")
    server.env["XDG_DATA_HOME"] = os.path.join(tmp, "xdg")
    server.tmux("-f", "/dev/null", "new-session", "-d", "-s", name, "-x", str(WIDTH),
                "-y", str(HEIGHT), "exec sleep 86400")
    server.pid = int(server.tmux("display-message", "-p", "#{pid}"))
    for _ in range(panes - 1):
        server.tmux("new-window", "-d", "-t", name, "exec sleep 86400")
    ids = server.tmux("list-panes", "-a", "-F", "#{pane_id}").split()
    if ids != [f"%{i}" for i in range(panes)]:
        raise RuntimeError(f"expected panes %0..%{panes - 1}, tmux has {ids}")
    return server


def ingest(binary, server, db, expected, log_path, label, poll_s):
    """Starts a daemon on `server` with `db` (whose spool folder holds leftovers), waits until
    the store holds `expected` = {pane: output bytes}, stops it (SIGTERM).

    Returns facts: seconds from daemon start to all committed, stop time, exit status,
    and per-pane (bytes, chunks) committed.
    """
    total = sum(expected.values())
    started = time.time()
    daemon = Daemon(binary, db, server, log_path)
    state = {"last": started, "shown": 0}

    def done():
        if not daemon.running():
            raise RuntimeError(f"the daemon exited while ingesting:\n{daemon.log_tail()}")
        if not os.path.exists(db):
            return None
        got = pane_output(binary, db, server.env)
        have = sum(got.get(p, (0, 0))[0] for p in expected)
        now = time.time()
        if now - state["last"] >= 10:
            progress(f"{label}: {have / 1e6:,.0f} of {total / 1e6:,.0f} MB committed "
                     f"({have / 1e6 / (now - started):.1f} MB/s so far)")
            state["last"] = now
        if all(got.get(p, (0, 0))[0] >= n for p, n in expected.items()):
            return got
        return None

    try:
        # The ingest thread renders and compresses at some MB/s; allow 0.5 MB/s and 2 minutes.
        got, seen = poll(done, 120 + total / 0.5e6, interval=poll_s)
        if got is None:
            raise RuntimeError(f"{label}: not everything was committed in time:\n"
                               f"{daemon.log_tail()}")
        t = time.time()
        status = daemon.stop(timeout=60)
        stop = time.time() - t
    finally:
        daemon.stop()
    final = pane_output(binary, db, server.env)
    return {"seconds": seen - started, "stop": stop, "status": status, "panes": final,
            "bytes": total, "log": daemon.log_tail(40)}


def verify(binary, db):
    t = time.perf_counter()
    done = subprocess.run([binary, "--db", db, "verify"], capture_output=True, text=True,
                          timeout=3600)
    return {"status": done.returncode, "seconds": time.perf_counter() - t,
            "text": (done.stdout + done.stderr).strip().splitlines()[:2]}


def store_size(folder):
    files = files_under(folder)
    return sum(s for s, _ in files.values()), files


def pane_chunks(binary, db, pane, env):
    """The pane-output events of `pane`: [(from µs, until µs, bytes)], by start."""
    done = subprocess.run([binary, "--db", db, "log", "--json", "--kind", "pane-output"],
                          capture_output=True, text=True, timeout=300, env=env)
    out = []
    for line in done.stdout.splitlines():
        e = json.loads(line)
        if e["pane_id"] == pane:
            out.append((parse_time(e["from"]), parse_time(e["until"]), e["bytes"]))
    return sorted(out)


def parse_time(text):
    """µs since the epoch of `2026-11-29T03:06:00.660785Z`."""
    import calendar
    whole, _, frac = text.rstrip("Z").partition(".")
    secs = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return secs * 1_000_000 + int((frac or "0").ljust(6, "0")[:6])


# ---------------------------------------------------------------------------------------------
# Timing the views


def timed(argv, env=None):
    """Runs argv with stdout a pipe: (seconds to the first byte of stdout or None, seconds to
    exit, bytes written, exit status, stderr tail)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env, bufsize=0)
    first, total = None, 0
    while True:
        data = os.read(proc.stdout.fileno(), 1 << 16)
        if not data:
            break
        if first is None:
            first = time.perf_counter() - t0
        total += len(data)
    err = proc.stderr.read()
    status = proc.wait()
    end = time.perf_counter() - t0
    proc.stdout.close()
    proc.stderr.close()
    return {"first": first, "end": end, "bytes": total, "status": status,
            "stderr": err.decode(errors="replace").strip()[-300:]}


def rounds(cases, runs, label):
    """Runs every case `runs` times, interleaved, in an order rotated by one per round.

    `cases`: [(name, function returning a sample dict)]. Returns {name: [samples]}.
    """
    out = {name: [] for name, _ in cases}
    for r in range(runs):
        k = r % len(cases)
        for name, fn in cases[k:] + cases[:k]:
            out[name].append(fn())
        progress(f"{label}: round {r + 1}/{runs} done")
    return out


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ms(v):
    return "—" if v is None else f"{v * 1000:.0f} ms" if v < 10 else f"{v:.1f} s"


# ---------------------------------------------------------------------------------------------
# A. Seek in a 2-hour recording


def seek_store(binary, tmp, hours):
    """A store holding one pane's `hours`-hour recording (%0 on a private server, which the
    caller kills): (server, work folder, db, facts, sha256 of the output)."""
    seconds = hours * 3600
    work = os.path.join(tmp, "seek")
    os.makedirs(work)
    server = private_server(tmp, "seek", 1)
    try:
        db = os.path.join(work, "store", "audit.db")
        # Named as the daemon names a server's folder (it ignores any other name).
        folder = os.path.join(work, "store", "audit.db.spool", folder_name(server.sock))
        os.makedirs(folder)
        with open(os.path.join(folder, "server"), "w") as f:
            f.write(server.sock)
        t0 = (int(time.time()) - seconds - 600) * 1_000_000
        progress(f"seek: writing a {hours}-hour recording of one pane as a leftover spool")
        spool = synth.SpoolWriter(os.path.join(folder, f"0-{t0}.tas"))
        digest = hashlib.sha256()
        squeeze = zlib.compressobj(6)
        squeezed = 0
        for t, data in synth.interactive(2, t0, seconds):
            spool.output(t, data)
            digest.update(data)
            squeezed += len(squeeze.compress(data))
        squeezed += len(squeeze.flush())
        end = spool.last
        spool.close(end + 500_000)
        facts = {"t0": t0, "end": end, "output": spool.output_bytes, "records": spool.records,
                 "gzip": squeezed / spool.output_bytes}
        progress(f"seek: {spool.output_bytes / 1e6:.1f} MB in {spool.records:,} writes over "
                 f"{(end - t0) / 3.6e9:.2f} h; ingesting")
        facts["ingest"] = ingest(binary, server, db, {"%0": spool.output_bytes},
                                 os.path.join(work, "daemon.log"), "seek", 0.2)
        facts["verify"] = verify(binary, db)
        facts["size"], facts["files"] = store_size(os.path.join(work, "store"))
        chunks = pane_chunks(binary, db, "%0", server.env)
        leftover = [c for c in chunks if c[0] <= end]
        facts["chunks"] = len(leftover)
        last_minute = t0 + (seconds - 60) * 1_000_000
        # The chunk a seek to the last minute starts from, and how much of it comes before.
        holding = max((c for c in leftover if c[0] <= last_minute), default=None)
        facts["last_minute_chunk"] = holding
        biggest = max(leftover, key=lambda c: c[2])
        facts["biggest"] = biggest
        facts["last_minute"] = last_minute
        return server, work, db, facts, digest
    except BaseException:
        server.kill()
        raise


def seek_part(binary, tmp, knobs):
    hours = knobs["BENCH_RECORDING_HOURS"]
    server, work, db, facts, digest = seek_store(binary, tmp, hours)
    try:
        t0, end = facts["t0"], facts["end"]
        last_minute, biggest = facts["last_minute"], facts["biggest"]
        out_file = os.path.join(work, "export.raw")
        base = [binary, "--db", db]
        checked = {}

        def replay(frm):
            def run():
                return timed([*base, "replay", "%0", "--from", iso(frm)])
            return run

        def export():
            sample = timed([*base, "export", "%0", "--format", "raw", "--from", iso(t0),
                            "--to", iso(end), "-o", out_file])
            if "exact" not in checked and sample["status"] == 0:
                with open(out_file, "rb") as f:
                    got = f.read()
                checked["exact"] = hashlib.sha256(got).hexdigest() == digest.hexdigest()
                checked["size"] = len(got)
            return sample

        cases = [("last minute", replay(last_minute)), ("start", replay(t0)),
                 ("end of the biggest chunk", replay(biggest[1])),
                 ("export raw", export)]
        # The offset form, once: what a user would type.
        facts["offset_form"] = timed([*base, "replay", "%0", "--from",
                                      f"+{hours - 1}h59m" if hours > 1 else "+59m"])
        progress(f"seek: timing {len(cases)} cases x {knobs['BENCH_SEEK_RUNS']}, interleaved")
        facts["samples"] = rounds(cases, knobs["BENCH_SEEK_RUNS"], "seek")
        facts["export_check"] = checked
        return facts
    finally:
        server.kill()


def shown_bytes(name, ok):
    if name == "export raw":
        return "— (to a file)"
    return f"{med([s['bytes'] for s in ok]) or 0:,.0f}"


def seek_section(f, knobs):
    hours = knobs["BENCH_RECORDING_HOURS"]
    ing = f["ingest"]
    rows = ["| replay/export | first byte of stdout (median) | min | max | until exit (median) "
            "| bytes written (median) | runs (failed) |", "|---|---|---|---|---|---|---|"]
    for name, samples in f["samples"].items():
        ok = [s for s in samples if s["status"] == 0]
        failed = len(samples) - len(ok)
        firsts = [s["first"] for s in ok if s["first"] is not None]
        rows.append(f"| {name} | {ms(med(firsts)) if name != 'export raw' else '— (to a file)'} "
                    f"| {ms(min(firsts)) if firsts and name != 'export raw' else '—'} "
                    f"| {ms(max(firsts)) if firsts and name != 'export raw' else '—'} "
                    f"| {ms(med([s['end'] for s in ok]))} "
                    f"| {shown_bytes(name, ok)} | {len(samples)} ({failed}) |")
    lm = f["samples"]["last minute"]
    lm_first = med([s["first"] for s in lm if s["status"] == 0])
    start_first = med([s["first"] for s in f["samples"]["start"] if s["status"] == 0])
    holding = f["last_minute_chunk"]
    verdict = ("met" if lm_first is not None and lm_first < 0.2 else "**not met**")
    check = f["export_check"]
    off = f["offset_form"]
    return [
        f"## A. Seek: `replay` in a {hours}-hour recording",
        "",
        f"One pane, {f['output'] / 1e6:.1f} MB of output in {f['records']:,} writes over "
        f"{(f['end'] - f['t0']) / 3.6e9:.2f} h (a shell session: a command every 2-9 s with a "
        f"few KB of coloured output, typing echoed key by key, a 2-6 MiB burst every 10-20 "
        f"min), ingested as a leftover spool: {ing['bytes'] / 1e6:.1f} MB committed in "
        f"{ing['seconds']:.1f} s (**{ing['bytes'] / 1e6 / ing['seconds']:.1f} MB/s**, "
        f"polled every 0.2 s), stop {ing['stop']:.2f} s, exit status {ing['status']}. Store: "
        f"{f['size'] / 1e6:.2f} MB ({f['size'] / f['output']:.3f} per byte; zlib level 6 "
        f"of the output alone: {f['gzip']:.3f}), "
        f"{f['chunks']} chunks; `verify` exit {f['verify']['status']} in "
        f"{f['verify']['seconds']:.2f} s. `export --format raw` of the whole recording: "
        f"{check.get('size', 0):,} bytes, "
        f"{'identical to' if check.get('exact') else '**not identical to**'} the spool's "
        f"output.",
        "",
        f"Timed {knobs['BENCH_SEEK_RUNS']} times each, interleaved (order rotated per round), "
        f"stdout a pipe (replay then writes its frames at once); *first byte* is from the "
        f"start of the process to the first byte read from its stdout, *until exit* to its "
        f"end (the whole rest of the recording). `--from` is absolute: START+{hours - 1}h59m = "
        f"{iso(f['last_minute'])}, which falls in a chunk starting "
        f"{(f['last_minute'] - holding[0]) / 1e6:.0f} s earlier that holds "
        f"{holding[2]:,} bytes; the biggest chunk holds {f['biggest'][2]:,} bytes and "
        f"spans {(f['biggest'][1] - f['biggest'][0]) / 1e6:.0f} s.",
        "",
        *rows,
        "",
        f"Target: replay of a 2-hour recording from its last minute starts drawing within "
        f"200 ms — {verdict}: {ms(lm_first)} (median first byte; from the start: "
        f"{ms(start_first)})."
        + ("" if verdict == "met" or lm_first is None
           else f" Missed by {ms(lm_first - 0.2)}."),
        "",
        f"The offset form, `replay %0 --from +{hours - 1}h59m`, exit status {off['status']}"
        + (f": `{off['stderr']}`" if off["status"] != 0 else
           f", first byte after {ms(off['first'])}, {off['bytes']:,} bytes written: it "
           f"resolves against the recording of the server's current life (the live pane's "
           f"picture since the daemon started), not the leftover") + ".",
    ]


# ---------------------------------------------------------------------------------------------
# B. Search over at least 1 GB


def search_key(knobs):
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "synth.py"), "rb") as f:
        source = f.read()
    text = json.dumps([CACHE_VERSION, knobs["BENCH_SEARCH_MB"], knobs["BENCH_SEARCH_PANES"],
                       PLANTS, hashlib.sha256(source).hexdigest()])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def build_search_store(binary, work, server, knobs):
    """Writes the leftover spools, ingests them; returns facts (also kept in work/facts.json)."""
    panes = knobs["BENCH_SEARCH_PANES"]
    total = knobs["BENCH_SEARCH_MB"] << 20
    per = total // panes
    days = 3
    db = os.path.join(work, "store", "audit.db")
    folder = os.path.join(work, "store", "audit.db.spool", folder_name(server.sock))
    os.makedirs(folder)
    with open(os.path.join(folder, "server"), "w") as f:
        f.write(server.sock)
    expected, counts, spans = {}, {RARE: 0, ABSENT: 0, PHRASE: 0, SLOW_PHRASE: 0}, {}
    sample = bytearray()
    t_gen = time.time()
    for p in range(panes):
        t0 = (int(time.time()) - days * 86400 - 3600) * 1_000_000
        plants = [(int(where * per), "2026-11-24T12:00:00.000Z "
                   f"\x1b[33mWARN \x1b[0m [db-{k}/worker-2] ops asked to {RARE} the stale "
                   f"replica db-{k} before failover")
                  for k, (pp, where) in enumerate(PLANTS) if pp % panes == p]
        spool = synth.SpoolWriter(os.path.join(folder, f"{p}-{t0}.tas"))
        next_note = 64 << 20
        for t, data in synth.log_stream(100 + p, t0, days * 86400, per, plants):
            spool.output(t, data)
            if len(sample) < 8 << 20:
                sample += data
            low = data.lower()
            for word in counts:
                counts[word] += low.count(word.encode())
            if spool.output_bytes >= next_note:
                progress(f"search: writing spools, pane %{p}: {spool.output_bytes >> 20} of "
                         f"{per >> 20} MiB")
                next_note += 64 << 20
        spool.close(spool.last + 1_000_000)
        expected[f"%{p}"] = spool.output_bytes
        spans[f"%{p}"] = (t0, spool.last)
    gen_s = time.time() - t_gen
    progress(f"search: {sum(expected.values()) / 1e6:,.0f} MB written in {gen_s:.0f} s; the "
             f"daemon ingests it now (progress every 10 s)")
    ing = ingest(binary, server, db, expected, os.path.join(work, "daemon.log"), "search", 2.0)
    facts = {"expected": expected, "counts": counts, "spans": spans, "generate_s": gen_s,
             "gzip": len(zlib.compress(bytes(sample), 6)) / len(sample),
             "ingest": {k: v for k, v in ing.items() if k != "log"},
             "built": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
             "built_by": first_line(binary, "--version")}
    facts["verify"] = verify(binary, db)
    with open(os.path.join(work, "facts.json"), "w") as f:
        json.dump(facts, f)
    return facts


def search_part(binary, tmp, knobs):
    panes = knobs["BENCH_SEARCH_PANES"]
    cache = os.environ.get("BENCH_VIEWS_CACHE")
    key = search_key(knobs)
    work = os.path.join(cache, f"search-{key}") if cache else os.path.join(tmp, "search")
    facts_path = os.path.join(work, "facts.json")
    reused = cache is not None and os.path.exists(facts_path)
    if reused:
        with open(facts_path) as f:
            facts = json.load(f)
        progress(f"search: reusing the store in {work} (built {facts['built']})")
    else:
        if os.path.exists(work):
            shutil.rmtree(work)
        os.makedirs(work)
        server = private_server(tmp, "search", panes)
        try:
            facts = build_search_store(binary, work, server, knobs)
        finally:
            server.kill()
    facts["reused"] = reused
    facts["where"] = work
    db = os.path.join(work, "store", "audit.db")
    facts["size"], facts["files"] = store_size(os.path.join(work, "store"))
    facts["pages"] = sqlite_pages(db)
    facts["verify"] = verify(binary, db)
    base = [binary, "--db", db, "search"]
    queries = [("rare word", RARE), ("common word", COMMON), ("absent word", ABSENT),
               ("phrase", PHRASE)]

    def counted(pattern):
        def run():
            t0 = time.perf_counter()
            done = subprocess.run([*base, pattern, "--json"], capture_output=True, text=True,
                                  timeout=3600)
            return {"end": time.perf_counter() - t0, "status": done.returncode,
                    "hits": len(done.stdout.splitlines()),
                    "stderr": done.stderr.strip()[-300:]}
        return run

    # The middle of pane %1's (or %0's) recording: seek in a long recording.
    pane = "%1" if panes > 1 else "%0"
    t0, t1 = facts["spans"][pane]
    middle = (t0 + t1) // 2

    def replay_middle():
        return timed([binary, "--db", db, "replay", pane, "--from", iso(middle)])

    cases = [(name, counted(pattern)) for name, pattern in queries]
    cases.append((f"replay {pane} --from the middle", replay_middle))
    progress(f"search: timing {len(cases)} cases x {knobs['BENCH_SEARCH_RUNS']}, interleaved")
    facts["samples"] = rounds(cases, knobs["BENCH_SEARCH_RUNS"], "search")
    slow = []
    for i in range(knobs["BENCH_SEARCH_SLOW_RUNS"]):
        progress(f"search: the slow path, '{SLOW_PHRASE}' (every candidate chunk is rendered; "
                 f"minutes), run {i + 1}/{knobs['BENCH_SEARCH_SLOW_RUNS']}")
        slow.append(counted(SLOW_PHRASE)())
    facts["slow"] = slow
    facts["middle"] = middle
    facts["pane"] = pane
    return facts


def search_section(f, knobs):
    ing = f["ingest"]
    total = sum(f["expected"].values())
    expect = {"rare word": (RARE, f["counts"][RARE]), "common word": (COMMON, 100),
              "absent word": (ABSENT, 0), "phrase": (PHRASE, min(100, f["counts"][PHRASE]))}
    rows = ["| query | median | min | max | hits (expected) | runs (failed) |",
            "|---|---|---|---|---|---|"]
    word_medians = []
    for name, samples in f["samples"].items():
        ok = [s for s in samples if s["status"] == 0]
        failed = len(samples) - len(ok)
        if name.startswith("replay"):
            firsts = [s["first"] for s in ok if s["first"] is not None]
            rows.append(f"| `replay {f['pane']} --from {iso(f['middle'])}` (first byte; until "
                        f"exit {ms(med([s['end'] for s in ok]))}) | {ms(med(firsts))} "
                        f"| {ms(min(firsts)) if firsts else '—'} "
                        f"| {ms(max(firsts)) if firsts else '—'} | — "
                        f"| {len(samples)} ({failed}) |")
            continue
        pattern, want = expect[name]
        ends = [s["end"] for s in ok]
        hits = sorted({s["hits"] for s in ok})
        if name.endswith("word"):
            word_medians.append((name, med(ends)))
        rows.append(f"| {name}: `search '{pattern}' --json` | {ms(med(ends))} "
                    f"| {ms(min(ends)) if ends else '—'} | {ms(max(ends)) if ends else '—'} "
                    f"| {', '.join(map(str, hits))} ({want}) | {len(samples)} ({failed}) |")
    for s in f["slow"]:
        rows.append(f"| slow path: `search '{SLOW_PHRASE}' --json` (both words in nearly "
                    f"every chunk, never together) | {ms(s['end'])} | | | {s['hits']} (0) "
                    f"| 1 ({0 if s['status'] == 0 else 1}) |")
    worst = max(word_medians, key=lambda x: x[1] or 0) if word_medians else None
    verdict = "met" if worst and worst[1] is not None and worst[1] < 1.0 else "**not met**"
    pages = f["pages"]
    comp_text = " In the SQLite file: " + ", ".join(
        f"`{n}` {b / 1e6:,.1f} MB" for n, b in pages["tables"].items() if b >= 1e6) + \
        f", free pages {pages['free'] * pages['page_size'] / 1e6:,.1f} MB."
    ver = f["verify"]
    return [
        "## B. Search over recorded output",
        "",
        f"{len(f['expected'])} panes, {total:,} bytes ({total / 1e9:.2f} GB) of output over "
        f"three days each: busy log-like text (synth.log_stream: application logs with unique "
        f"request ids, `ls -la`, builds, `ps`, `git log`, SQL, tracebacks, dmesg; SGR colours; "
        f"zlib level 6 keeps {f['gzip']:.3f} of its first 8 MiB), "
        + ("reused from BENCH_VIEWS_CACHE (built " + f["built"] + " by " + f["built_by"]
           + "; the figures of that build follow): " if f["reused"] else "")
        + (f"written in {f['generate_s']:.0f} s and ingested as leftover spools: "
           f"**{ing['bytes'] / 1e6 / ing['seconds']:.1f} MB/s** ({ing['seconds']:.0f} s for "
           f"{ing['bytes'] / 1e6:,.0f} MB, polled every 2 s), stop {ing['stop']:.2f} s, exit "
           f"status {ing['status']}")
        + f". Store: **{f['size'] / 1e6:,.1f} MB** ({f['size'] / total:.3f} per byte of "
        f"output), {sum(c for _, c in ing['panes'].values())} chunks.{comp_text} `verify`: exit "
        f"{ver['status']} in {ver['seconds']:.1f} s. In the output: `{RARE}` "
        f"{f['counts'][RARE]} times (planted), `{ABSENT}` {f['counts'][ABSENT]}, "
        f"`{PHRASE}` {f['counts'][PHRASE]:,}, `{SLOW_PHRASE}` {f['counts'][SLOW_PHRASE]}.",
        "",
        f"Timed {knobs['BENCH_SEARCH_RUNS']} times each, interleaved, the store in the page "
        f"cache (it was just written or read), stdout a pipe, default `--limit` (100). Time = "
        f"process start to exit.",
        "",
        *rows,
        "",
        f"Target: a word query over 1 GB of recorded output answers in under 1 s — {verdict}"
        + (f": slowest word query median {ms(worst[1])} ({worst[0]})." if worst else "."),
    ]


# ---------------------------------------------------------------------------------------------


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = os.path.join(repo, "target", "release", "tmux-audit")
    knobs = {name: int(os.environ.get(name, default)) for name, default in KNOBS.items()}
    only = os.environ.get("BENCH_VIEWS_ONLY", "")
    started = time.time()
    loads = [("start", load())]
    with tempfile.TemporaryDirectory(prefix="tmux-audit-views-") as tmp:
        binary, build = snapshot_binary(repo, binary, tmp)
        host = machine(repo, binary, build)
        seek = None if only == "search" else seek_part(binary, tmp, knobs)
        loads.append(("after seek", load()))
        search = None if only == "seek" else search_part(binary, tmp, knobs)
        loads.append(("end", load()))
    mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.strip()
    when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(started))
    lines = [
        "# Views of recorded output: seek and search",
        "",
        f"`bench/run-views`, {when}, took {time.time() - started:.0f} s. Knobs: "
        f"{', '.join(f'{k}={v}' for k, v in knobs.items())}"
        + (f", BENCH_VIEWS_CACHE={os.environ['BENCH_VIEWS_CACHE']}"
           if os.environ.get("BENCH_VIEWS_CACHE") else "")
        + (f", BENCH_VIEWS_ONLY={only}" if only else "") + ".",
        "",
        *[f"- {k}: {v}" for k, v in host],
        f"- load average (1, 5, 15 min): "
        + "; ".join(f"{w} {v}" for w, v in loads),
        "",
        "```",
        mem,
        "```",
        "",
    ]
    if seek:
        lines += seek_section(seek, knobs) + [""]
    if search:
        lines += search_section(search, knobs) + [""]
    lines += ["Method and its limits: the docstring of `bench/views.py`."]
    report = "\n".join(lines).rstrip() + "\n"
    sys.stdout.write(report)
    os.makedirs(os.path.join(repo, "bench", "results"), exist_ok=True)
    with open(os.path.join(repo, "bench", "results", "views-latest.md"), "w") as f:
        f.write(report)


if __name__ == "__main__":
    main()
