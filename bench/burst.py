"""Recording cost: a 50 MB burst of coloured output in a detached 200x50 tmux pane, per recorder.

Run `bench/run-burst`. Issue 3's headline numbers: with tmux-audit recording, the burst must
finish within 1.05x the time it takes with nothing recording, measured side by side in one run,
and the store must keep at most 0.12 bytes per byte of output, everything included. This
harness measures, in ONE run, tmux alone and each recorder the same way:

  nothing      tmux alone
  pipe-pane    `pipe-pane -O 'cat > FILE'`
  script       `script -q -c 'cat BURST' FILE` inside the pane
  tlog-rec     `tlog-rec -o FILE cat BURST` inside the pane (Debian `tlog`)
  asciinema    `asciinema rec -q --overwrite -c 'cat BURST' FILE` inside the pane (Debian
               `asciinema`)
  neighbour    diagnostic: `nothing` with one CPU-bound `nice -n 10 sh -c 'while :; do :; done'`
               running during the burst (the priority of tmux-audit's ingest thread): what any
               busy thread at that priority costs the burst here (BENCH_NEIGHBOUR=0 drops it)
  pane-pipe    tmux-audit's capture half alone: `pipe-pane -O 'exec tmux-audit pane-pipe
               --spool FILE'`, once the release binary has `pane-pipe`
  daemon       tmux-audit recording for real: `tmux-audit --db D/store/audit.db daemon -S SOCK`
               (fresh store per round, default --flush-after 30), once its daemon records pane
               output (`daemon --help` mentions --flush-after)

Method:
- The burst is generated once per run: `ls -laR --color=always /usr`, repeated and cut to exactly
  BENCH_BURST_MB MiB (default 50 = 52,428,800 bytes), in the run's temp dir. The pane prints it
  with `cat`, so the producer is cheap and identical for every variant. The pane writes it with
  each LF turned into CR LF by the pty: those bytes (and their SHA-256) are what a recorder of
  the pane must keep.
- One measurement = one fresh tmux server on a private socket (`tmux -S TMP/burst.sock -f
  /dev/null`, TMUX_TMPDIR=TMP, TMUX unset), one detached 200x50 session with `history-limit`
  2000 (tmux's default), so no history or server memory carries over. The pane runs a small sh
  script that blocks on a FIFO; the harness opens the pipe-pane recorder (if any) or starts the
  daemon and waits (bounded) until tmux reports the pane piped (`#{pane_pipe}` = 1) and the
  store holds the pane's `pane-created`, then writes the FIFO. The pane then takes
  `date +%s%N`, runs the burst (`cat BURST`, or the recorder wrapping `cat BURST`), takes
  `date +%s%N` again and writes both to a time file. The harness polls that file (bounded),
  never sleeps and hopes.
- For pipe-pane recorders the timed region ends when `cat` has written its last byte to the pty;
  the recorder runs asynchronously. The harness then waits (bounded) until the recorder's file
  stops growing, reports how long after the burst's end that was, reads its size, and closes the
  pipe (`pipe-pane` with no command) before ending the server.
- For the daemon, after the burst the harness polls `tmux-audit log --json --kind pane-output`
  every 0.1 s until less than one chunk (1 MiB) of the pane's bytes is uncommitted (every full
  chunk committed; the last, partial one waits for --flush-after or the stop) and reports when
  that was; reads the daemon's CPU (schedstat) and peak RSS; stops it with SIGTERM and times
  its exit; then sums every file under the store's folder (DB, -wal, -shm, lock, spool dir;
  apparent sizes), reads the DB's page use (dbstat, freelist), checks that the committed bytes
  equal the pane's, runs `verify` (exit 0 expected) and compares `export --format raw` with
  the pane's bytes (size and SHA-256; the first differing offset if not identical). Problems
  are reported, never hidden. BENCH_KEEP_STORES=DIR copies each round's store there.
- Rounds are interleaved: BENCH_WARMUP (1) discarded rounds, then BENCH_ROUNDS (9) rounds, each
  running every variant once, in an order rotated by one each round. Reported per variant:
  median, min, max, the ratio of medians to `nothing`, and the median of the per-round ratios
  (paired with that round's `nothing`); bytes stored per byte of burst; the tmux server's CPU
  time (schedstat) and peak RSS (VmHWM of the fresh server).

Missing peers are installed at the start (`apt-get update && apt-get install -y tlog asciinema`,
only the missing ones, only as root; BENCH_NO_INSTALL=1 skips it); a peer still missing is
skipped and the report says so. tlog-rec needs /var/run/utmp to exist; as root it is created
(empty) if missing. Every server is ended with `kill-server` on its own socket (lab.TmuxServer),
every daemon and neighbour by its pid, whatever happens. The servers' environment points
TMUX_AUDIT_DB and XDG_DATA_HOME into the temp dir, so a tmux-audit run by pipe-pane can never
touch the user's store.
"""

import hashlib
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

from lab import Daemon, TmuxServer, files_under, pane_output, poll, sqlite_pages
from procstat import memory_kb, usage
from report import machine, snapshot_binary
from store import Store

KNOBS = {"BENCH_BURST_MB": 50, "BENCH_ROUNDS": 9, "BENCH_WARMUP": 1, "BENCH_RUN_TIMEOUT": 120}
WIDTH, HEIGHT = 200, 50
HISTORY_LIMIT = 2000  # tmux's default
PEERS = (("tlog", "tlog-rec"), ("asciinema", "asciinema"))
UTMP = "/var/run/utmp"
CHUNK = 1 << 20  # the daemon seals a chunk at 1 MiB of output (audit-daemon ingest/pane.rs)
# The diagnostic neighbour: one CPU-bound process at the ingest thread's priority (nice 10).
NEIGHBOUR = ["nice", "-n", "10", "sh", "-c", "while :; do :; done"]

PANE_SCRIPT = """\
read go < {go}
start=$(date +%s%N)
{body} 2> {err}
rc=$?
end=$(date +%s%N)
echo "$start $end $rc" > {time}.tmp && mv {time}.tmp {time}
exec sleep 3600
"""


def progress(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def first_line(*argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        text = (done.stdout or done.stderr).strip()
        return text.splitlines()[0] if text else f"? (exit status {done.returncode})"
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"


def path_size(path):
    """Bytes in a file, or in all files under a directory (a spool); 0 if it does not exist."""
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f))
                   for d, _, files in os.walk(path) for f in files)
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


# ---------------------------------------------------------------------------------------------
# Setup: peers, utmp, the burst, the variants


def ensure_peers():
    """Installs missing peers if we may; returns notes for the report."""
    missing = [pkg for pkg, exe in PEERS if not shutil.which(exe)]
    if not missing:
        return ["tlog and asciinema were already installed"]
    if os.geteuid() != 0 or os.environ.get("BENCH_NO_INSTALL") == "1":
        why = "not root" if os.geteuid() != 0 else "BENCH_NO_INSTALL=1"
        return [f"missing and not installed ({why}): {', '.join(missing)}"]
    progress(f"installing {' '.join(missing)} (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", *missing]):
        done = subprocess.run(argv, env=env, stdout=sys.stderr, stderr=sys.stderr, timeout=900)
        if done.returncode != 0:
            return [f"`{' '.join(argv)}` failed with exit status {done.returncode}"]
    still = [pkg for pkg, exe in PEERS if not shutil.which(exe)]
    notes = [f"installed by this run with apt-get: {', '.join(p for p in missing if p not in still)}"]
    if still:
        notes.append(f"still missing after apt-get: {', '.join(still)}")
    return notes


def ensure_utmp():
    """tlog-rec fails ("Failed setting up the I/O tap") without a utmp file."""
    if os.path.exists(UTMP):
        return None
    if os.geteuid() != 0:
        return f"{UTMP} is missing and we are not root: tlog-rec may fail"
    with open(UTMP, "ab"):
        pass
    os.chmod(UTMP, 0o664)
    return f"created an empty {UTMP} (tlog-rec needs one)"


def make_burst(path, size):
    """`ls -laR --color=always /usr`, repeated and cut to exactly `size` bytes.

    Returns (listing size, number of LFs in the burst).
    """
    listing = subprocess.run(["ls", "-laR", "--color=always", "/usr"], capture_output=True,
                             timeout=300).stdout
    if not listing:
        raise RuntimeError("ls -laR --color=always /usr printed nothing")
    data = (listing * (size // len(listing) + 1))[:size]
    with open(path, "wb") as f:
        f.write(data)
    return len(listing), data.count(b"\n")


def asciinema_flags():
    """`-q` and `--overwrite` if this asciinema's `rec` knows them."""
    help_text = subprocess.run(["asciinema", "rec", "--help"], capture_output=True, text=True,
                               timeout=20).stdout
    return [flag for flag in ("--quiet", "--overwrite") if flag in help_text]


def tmux_audit_status(binary):
    """(True, None) if the binary has `pane-pipe`; else (False, why not)."""
    if os.environ.get("BURST_BUILD_FAILED") == "1":
        return False, "not yet measured (the release build failed; see the build output)"
    if not os.access(binary, os.X_OK):
        return False, "not yet measured (no release binary at target/release/tmux-audit)"
    done = subprocess.run([binary, "pane-pipe", "--help"], capture_output=True, timeout=10)
    if done.returncode != 0:
        return False, "not yet measured (no pane-pipe subcommand)"
    return True, None


def daemon_status(binary):
    """(True, None) if the binary's daemon records pane output; else (False, why not)."""
    done = subprocess.run([binary, "daemon", "--help"], capture_output=True, text=True,
                          timeout=10)
    if done.returncode != 0 or "--flush-after" not in done.stdout:
        return False, "not measured (this daemon does not record pane output)"
    return True, None


def variants(burst, binary, skipped):
    """The variants to run: (name, label, kind, command template). OUT is the recorder's file.

    kind "pipe": the template is the pipe-pane command, the pane runs `cat BURST`;
    kind "wrap": the template is the pane's timed command; kind "none": `cat BURST` alone.
    """
    b = shlex.quote(burst)
    out = [("nothing", "nothing (tmux alone)", "none", None),
           ("pipe-pane", "`pipe-pane -O 'cat > FILE'`", "pipe", "cat > {out}"),
           ("script", "`script -q -c CMD FILE`", "wrap",
            "script -q -c " + shlex.quote(f"cat {b}") + " {out}")]
    if shutil.which("tlog-rec"):
        out.append(("tlog-rec", "`tlog-rec -o FILE CMD`", "wrap", f"tlog-rec -o {{out}} cat {b}"))
    else:
        skipped.append("tlog-rec: skipped (Debian package `tlog` is not installed)")
    if shutil.which("asciinema"):
        flags = " ".join(asciinema_flags())
        out.append(("asciinema", f"`asciinema rec {flags} -c CMD FILE`", "wrap",
                    f"asciinema rec {flags} -c " + shlex.quote(f"cat {b}") + " {out}"))
    else:
        skipped.append("asciinema: skipped (Debian package `asciinema` is not installed)")
    if os.environ.get("BENCH_NEIGHBOUR", "1") != "0":
        out.append(("neighbour", "nothing, beside a CPU-bound `nice -n 10` loop (diagnostic)",
                    "neighbour", NEIGHBOUR))
    ok, why = tmux_audit_status(binary)
    if ok:
        out.append(("pane-pipe", "tmux-audit capture only: `pipe-pane -O 'exec tmux-audit "
                    "pane-pipe --spool FILE'`", "pipe",
                    f"exec {shlex.quote(binary)} pane-pipe --spool {{out}}"))
        ok, why = daemon_status(binary)
    if ok:
        out.append(("daemon", "**tmux-audit recording: `tmux-audit daemon -S SOCK`** "
                    "(capture, ingest, store)", "daemon", None))
    else:
        skipped.append(f"tmux-audit: {why}")
    return out


# ---------------------------------------------------------------------------------------------
# One measurement


def open_fifo_writer(path, timeout):
    """Opens the FIFO for writing once the pane's shell has it open for reading (bounded)."""
    def attempt():
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            return None

    fd, _ = poll(attempt, timeout, interval=0.005)
    return fd


def settle(path, expected, quiet_complete=0.1, quiet_short=2.0, timeout=60.0):
    """Waits until `path` stops growing: unchanged for `quiet_complete` s once it holds at least
    `expected` bytes, or for `quiet_short` s otherwise (a compressing recorder). Bounded.

    Returns (size, wall time the last growth was seen, whether it settled).
    """
    state = {"size": -1, "changed": time.time()}

    def check():
        size, now = path_size(path), time.time()
        if size != state["size"]:
            state.update(size=size, changed=now)
        quiet = now - state["changed"]
        if quiet >= (quiet_complete if size >= expected else quiet_short):
            return True
        return None

    done, _ = poll(check, timeout, interval=0.01)
    return state["size"], state["changed"], done is not None


def start_recording(binary, server, d, pane, timeout=10):
    """Starts `tmux-audit daemon` on the round's server with a fresh store in D/store; returns
    (daemon, store dir, db) once the daemon has piped `pane` (`#{pane_pipe}` is 1) and
    committed the pane's `pane-created` (its start-up is over)."""
    store_dir = os.path.join(d, "store")
    os.mkdir(store_dir)
    db = os.path.join(store_dir, "audit.db")
    daemon = Daemon(binary, db, server, os.path.join(d, "daemon.log"))
    state = {"store": None}

    def ready():
        if not daemon.running():
            return False
        if server.tmux("display-message", "-p", "-t", pane, "#{pane_pipe}") != "1":
            return None
        if state["store"] is None:
            if not os.path.exists(db):
                return None
            state["store"] = Store(db)
        return True if state["store"].count("pane-created", pane_id=pane) else None

    ok, _ = poll(ready, timeout, interval=0.01)
    if state["store"] is not None:
        state["store"].close()
    if not ok:
        daemon.stop()
        raise RuntimeError(f"the daemon did not pipe {pane} within {timeout} s:\n"
                           f"{daemon.log_tail()}")
    return daemon, store_dir, db


def first_difference(path, expected):
    """Offset of the first byte where the file at `path` differs from `expected`."""
    with open(path, "rb") as f:
        got = f.read()
    n = min(len(got), len(expected))
    step = 1 << 16
    for at in range(0, n, step):
        if got[at:at + step] != expected[at:at + step]:
            return next(i for i in range(at, min(at + step, n)) if got[i] != expected[i])
    return n


def catch_up(binary, server, daemon, store_dir, db, pane, end_s, expected, timeout, result):
    """After the burst: waits (bounded) until the store holds every full chunk of the burst;
    notes how long after the burst's end that was, the store's files then, and the daemon's
    CPU and peak RSS."""
    raw = expected["raw_len"]
    state = {"committed": (0, 0)}

    def caught_up():
        state["committed"] = pane_output(binary, db, server.env).get(pane, (0, 0))
        # Chunks are sealed at 1 MiB: once less than that is missing, every full chunk is
        # committed and the rest waits for --flush-after (or the stop).
        return True if raw - state["committed"][0] < CHUNK else None

    done, seen = poll(caught_up, timeout, interval=0.1)
    if done:
        result["caught_up"] = max(0.0, seen - end_s)
    else:
        result["problems"].append(f"the store had {state['committed'][0]:,} of {raw:,} bytes "
                                  f"{timeout} s after the burst")
    result["running_files"] = files_under(store_dir)
    result["daemon_cpu"] = sum(v - result["daemon_before"].run_ns.get(t, 0)
                               for t, v in usage(daemon.pid).run_ns.items()) / 1e9
    result["daemon_hwm_kb"] = memory_kb(daemon.pid)[1]


def stop_and_check(binary, server, daemon, store_dir, db, pane, expected, result):
    """SIGTERM and how long the daemon took to exit; then what is left on disk, what the store
    committed, `verify`, and `export --format raw` against the bytes the pane wrote."""
    raw = expected["raw_len"]
    t = time.time()
    status = daemon.stop(timeout=60)
    result["stop"] = time.time() - t
    result["stop_status"] = status
    if status != 0:
        result["problems"].append(f"daemon exit status {status} on SIGTERM: "
                                  f"{daemon.log_tail(5).strip()[-300:]}")
    with open(daemon.log_path, errors="replace") as f:
        for line in f:
            if " WARN " in line or " ERROR " in line:
                result["problems"].append(f"daemon log: {line.strip()[:300]}")
    result["files"] = files_under(store_dir)
    result["stored"] = sum(size for size, _ in result["files"].values())
    try:
        result["pages"] = sqlite_pages(db)
    except Exception as e:  # noqa: BLE001 - a report detail, never worth failing a round
        result["problems"].append(f"could not read the store's pages: {e}")
    keep = os.environ.get("BENCH_KEEP_STORES")
    if keep:  # for looking into a store afterwards
        shutil.copytree(store_dir, os.path.join(keep, os.path.basename(os.path.dirname(store_dir))))
    committed = pane_output(binary, db, server.env)
    result["committed"] = committed.get(pane, (0, 0))
    if result["committed"][0] != raw:
        result["problems"].append(f"committed {result['committed'][0]:,} bytes of output "
                                  f"for {pane} after the stop, not the {raw:,} it wrote")
    others = {p: v for p, v in committed.items() if p != pane}
    if others:
        result["problems"].append(f"output of other panes in the store: {others}")
    done = subprocess.run([binary, "--db", db, "verify"], capture_output=True, text=True,
                          timeout=120)
    result["verify"] = done.returncode
    if done.returncode != 0:
        result["problems"].append(f"`verify` exit status {done.returncode}: "
                                  f"{(done.stdout + done.stderr).strip()[-300:]}")
    out = os.path.join(os.path.dirname(store_dir), "export.raw")
    done = subprocess.run([binary, "--db", db, "export", pane, "--format", "raw", "-o", out],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        result["export"] = None
        result["problems"].append(f"`export --format raw` exit status {done.returncode}: "
                                  f"{done.stderr.strip()[-300:]}")
        return
    size = os.path.getsize(out)
    with open(out, "rb") as f:
        same = hashlib.sha256(f.read()).hexdigest() == expected["raw_sha256"]
    result["export"] = size
    result["export_exact"] = same
    if size != raw:
        result["problems"].append(f"`export --format raw` gave {size:,} bytes, the pane wrote "
                                  f"{raw:,} ({size - raw:+,})")
    if not same:
        at = first_difference(out, expected["raw"])
        result["problems"].append(f"`export --format raw` differs from the bytes the pane "
                                  f"wrote, first at byte {at:,}")


def measure(tmp, index, variant, burst, expected, timeout, binary):
    """One fresh server, one burst under `variant`. Returns a dict of what was seen."""
    name, _, kind, template = variant
    d = os.path.join(tmp, f"run-{index:03d}")
    os.mkdir(d)
    go, timefile, err = (os.path.join(d, n) for n in ("go", "time", "err"))
    out = os.path.join(d, "recording")
    os.mkfifo(go)
    if kind == "wrap":
        body = template.format(out=shlex.quote(out))
    else:
        body = f"cat {shlex.quote(burst)}"
    script = os.path.join(d, "pane.sh")
    with open(script, "w") as f:
        f.write(PANE_SCRIPT.format(go=shlex.quote(go), body=body, err=shlex.quote(err),
                                   time=shlex.quote(timefile)))
    server = TmuxServer(tmp, "burst")
    # Anything tmux-audit might open by default stays in the temp dir, never the user's store.
    server.env["TMUX_AUDIT_DB"] = os.path.join(tmp, "audit.db")
    server.env["XDG_DATA_HOME"] = os.path.join(tmp, "xdg")
    result = {"variant": name, "error": None, "problems": []}
    daemon = neighbour = None
    try:
        server.tmux("-f", "/dev/null", "set-option", "-g", "history-limit", str(HISTORY_LIMIT),
                    ";", "new-session", "-d", "-s", "burst", "-x", str(WIDTH), "-y", str(HEIGHT),
                    f"sh {shlex.quote(script)}")
        server.pid = int(server.tmux("display-message", "-p", "#{pid}"))
        size = server.tmux("display-message", "-p", "-t", "burst",
                           "#{pane_width}x#{pane_height} #{history_limit}")
        if size != f"{WIDTH}x{HEIGHT} {HISTORY_LIMIT}":
            raise RuntimeError(f"pane is {size}, expected {WIDTH}x{HEIGHT} {HISTORY_LIMIT}")
        pane = server.tmux("display-message", "-p", "-t", "burst", "#{pane_id}")
        if kind == "pipe":
            server.tmux("pipe-pane", "-O", "-t", "burst", template.format(out=shlex.quote(out)))
            if server.tmux("display-message", "-p", "-t", "burst", "#{pane_pipe}") != "1":
                raise RuntimeError("pipe-pane did not open a pipe")
            poll(lambda: True if os.path.exists(out) else None, 5, interval=0.005)
        if kind == "daemon":
            daemon, store_dir, db = start_recording(binary, server, d, pane)
        fd = open_fifo_writer(go, 10)
        if fd is None:
            raise RuntimeError("the pane's script never opened its start FIFO")
        cpu_before = usage(server.pid)
        if daemon:
            result["daemon_before"] = usage(daemon.pid)
        if kind == "neighbour":
            neighbour = subprocess.Popen(template, stdin=subprocess.DEVNULL)
        os.write(fd, b"go\n")
        os.close(fd)

        def finished():
            try:
                with open(timefile) as f:
                    return f.read().split()
            except FileNotFoundError:
                return None

        fields, _ = poll(finished, timeout, interval=0.02)
        if fields is None:
            pane_text = server.tmux("capture-pane", "-p", "-t", "burst", "-S", "-5")
            raise RuntimeError(f"no time file after {timeout} s; pane shows: {pane_text[-300:]!r}")
        start_ns, end_ns, rc = (int(v) for v in fields)
        result["seconds"] = (end_ns - start_ns) / 1e9
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
            neighbour = None
        if rc != 0:
            with open(err, errors="replace") as f:
                raise RuntimeError(f"exit status {rc}: {f.read().strip()[-300:]}")
        if kind in ("pipe", "wrap"):
            expect = expected["raw_len"] if kind == "pipe" else 1
            stored, last_growth, settled = settle(out, expect)
            result.update(stored=stored, settled=settled)
            if kind == "pipe":
                result["lag"] = max(0.0, last_growth - end_ns / 1e9)
        if kind == "daemon":
            catch_up(binary, server, daemon, store_dir, db, pane, end_ns / 1e9, expected,
                     timeout, result)
        after = usage(server.pid)
        result["server_cpu"] = sum(v - cpu_before.run_ns.get(t, 0)
                                   for t, v in after.run_ns.items()) / 1e9
        result["server_hwm_kb"] = memory_kb(server.pid)[1]
        if kind == "daemon":
            stop_and_check(binary, server, daemon, store_dir, db, pane, expected, result)
        if kind == "pipe":
            server.tmux("pipe-pane", "-t", "burst")  # close the pipe
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        result["error"] = str(e)
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
        if daemon is not None:
            daemon.stop()
        if server.pid is None:  # started but never learned its pid: still end it by socket
            try:
                server.pid = int(server.tmux("display-message", "-p", "#{pid}"))
            except (RuntimeError, subprocess.TimeoutExpired, ValueError):
                pass
        server.kill()
        shutil.rmtree(d, ignore_errors=True)
    result.pop("daemon_before", None)
    return result


# ---------------------------------------------------------------------------------------------
# The report


def fmt_s(v):
    return f"{v:.3f} s"


def fmt_mb(n):
    return f"{n / 1e6:.1f} MB"


def summarise(results, names):
    """Per variant: timings, paired ratios to that round's `nothing`, stored bytes, server use."""
    by_round = {}
    for r in results:
        by_round.setdefault(r["round"], {})[r["variant"]] = r
    out = {}
    for name in names:
        runs = [r for r in results if r["variant"] == name]
        ok = [r for r in runs if r["error"] is None]
        paired = [rs[name]["seconds"] / rs["nothing"]["seconds"] for rs in by_round.values()
                  if name in rs and "nothing" in rs and rs[name]["error"] is None
                  and rs["nothing"]["error"] is None]
        times = [r["seconds"] for r in ok]
        out[name] = {
            "n": len(ok), "failed": [r["error"] for r in runs if r["error"]],
            "times": times,
            "median": statistics.median(times) if times else None,
            "min": min(times) if times else None, "max": max(times) if times else None,
            "paired": statistics.median(paired) if paired else None,
            "stored": [r["stored"] for r in ok if "stored" in r],
            "unsettled": sum(1 for r in ok if r.get("settled") is False),
            "lag": [r["lag"] for r in ok if "lag" in r],
            "cpu": [r["server_cpu"] for r in ok],
            "hwm": [r["server_hwm_kb"] for r in ok],
            "recordings": [r for r in ok if "stop" in r],
            "problems": [p for r in runs for p in r.get("problems", [])],
        }
    return out


def daemon_section(stats, chosen, burst_bytes, raw, base):
    """The store the daemon left after each round: what it holds, what it took, checks."""
    if not any(kind == "daemon" for _, _, kind, _ in chosen):
        return []
    recs = stats["daemon"]["recordings"]
    if not recs:
        return ["## tmux-audit recording: the store", "", "No round completed.", ""]
    rows = ["| round | burst | store caught up after burst end | SIGTERM → exit | DB file "
            "| of which free pages | `chunks` | full-text index | WAL + SHM | lock + spool dir "
            "| **total** | **per byte of burst** | chunks | `verify` | `export --format raw` |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def part(files, pick):
        return sum(v[0] for k, v in files.items() if pick(k))

    free_less = []
    for i, r in enumerate(recs, 1):
        f = r["files"]
        db = part(f, lambda k: k == "audit.db")
        wal = part(f, lambda k: k in ("audit.db-wal", "audit.db-shm"))
        rest = part(f, lambda k: k == "audit.db.lock" or k.startswith("audit.db.spool"))
        pages = r.get("pages") or {}
        free = pages.get("free", 0) * pages.get("page_size", 0)
        tables = pages.get("tables", {})
        chunks = tables.get("chunks", 0)
        fts = sum(v for k, v in tables.items() if k.startswith("chunk_text"))
        free_less.append((r["stored"] - free) / burst_bytes)
        caught = f"{r['caught_up']:.1f} s" if "caught_up" in r else "**no**"
        export = ("—" if r.get("export") is None else
                  f"{r['export']:,} B, {'identical' if r.get('export_exact') else '**differs**'}")
        rows.append(f"| {i} | {r['seconds']:.3f} s | {caught} | {r['stop']:.2f} s "
                    f"| {db:,} | {free:,} | {chunks:,} | {fts:,} | {wal:,} | {rest:,} "
                    f"| {r['stored']:,} | {r['stored'] / burst_bytes:.4f} | {r['committed'][1]} "
                    f"| exit {r['verify']} | {export} |")
    running = [sum(a for _, a in r["running_files"].values()) for r in recs]
    running_apparent = [sum(s for s, _ in r["running_files"].values()) for r in recs]
    per = [r["stored"] / burst_bytes for r in recs]
    cpu = [r["daemon_cpu"] for r in recs]
    hwm = [r["daemon_hwm_kb"] for r in recs]
    return [
        "## tmux-audit recording: the store",
        "",
        "The daemon variant: a fresh store per round (`tmux-audit --db D/store/audit.db daemon "
        "-S SOCK`, default `--flush-after` 30), started on the round's server before the burst; "
        "the burst starts once tmux reports the pane piped (`#{pane_pipe}` = 1) and the daemon "
        "has committed the pane's `pane-created`. After the burst the harness polls `tmux-audit "
        "log --json --kind pane-output` every 0.1 s and sums `bytes`: *caught up* is when less "
        "than one chunk (1 MiB) of the pane's "
        f"{raw:,} bytes was missing — every full chunk committed, the rest waiting for "
        "`--flush-after` or the stop. Then SIGTERM, and the time until the daemon exited (it "
        "closes its pipes, reads the spools to their end, commits the last chunk).",
        "",
        "*Stored* counts every file under the store's folder after the daemon exited: the "
        "SQLite file, its `-wal` and `-shm` (SQLite removes both when the last connection "
        "closes cleanly; they are counted whenever present: the `-shm` is only a cache of "
        "the WAL index, but it is disk the store uses), the 5-byte `audit.db.lock`, and "
        "everything left in `audit.db.spool/` (the `server` file naming the socket; finished "
        "spools are removed after commit). Apparent sizes (`st_size`). The daemon's log is "
        "kept outside that folder and not counted. Inside the DB file (`dbstat`): the "
        "compressed chunks, the full-text index (`chunk_text*`), and pages on SQLite's "
        "freelist.",
        "",
        *rows,
        "",
        f"Medians: stored {statistics.median(per):.4f} bytes per byte of burst "
        f"({statistics.median([r['stored'] for r in recs]) / raw:.4f} per byte the pane "
        f"wrote); the store caught up "
        f"{statistics.median([r['caught_up'] for r in recs if 'caught_up' in r] or [0]):.1f} s "
        f"after the burst ended; the stop took "
        f"{statistics.median([r['stop'] for r in recs]):.2f} s. "
        f"Without the free pages SQLite keeps in the file (left by full-text index merges; "
        f"`PRAGMA freelist_count`) the total would be {statistics.median(free_less):.4f} per "
        f"byte (median). "
        f"While running, at that point, the store's folder used "
        f"{statistics.median(running) / 1e6:.1f} MB on disk (allocated blocks; "
        f"{statistics.median(running_apparent) / 1e6:.1f} MB apparent: the spool keeps its "
        f"length while committed bytes are punched out). Daemon CPU from the start signal to "
        f"caught up (schedstat, all threads): {statistics.median(cpu):.2f} s (median); its peak "
        f"RSS {statistics.median(hwm) / 1024:.1f} MiB. `pane-pipe`'s own CPU is not counted "
        f"(it is a child of the tmux server).",
        "",
    ]


def targets(stats, burst_bytes):
    """Issue 3's two recording targets, met or not, from this run."""
    out = ["## Targets (issue 3)", ""]
    s = stats.get("daemon")
    if not s or s["median"] is None:
        return out + ["- tmux-audit recording was not measured in this run."]
    paired = s["paired"]
    verdict = "met" if paired is not None and paired <= 1.05 else "**not met**"
    out.append(f"- Burst within 1.05x of nothing: paired median {paired:.2f}x, ratio of "
               f"medians {s['median'] / stats['nothing']['median']:.2f}x — {verdict}"
               + ("" if verdict == "met" else f" (by {paired - 1.05:+.2f}x)") + ".")
    if s["recordings"]:
        per = statistics.median([r["stored"] / burst_bytes for r in s["recordings"]])
        verdict = "met" if per <= 0.12 else "**not met**"
        out.append(f"- At most 0.12 bytes stored per byte of output, everything included: "
                   f"{per:.4f} (median) — {verdict}"
                   + ("" if verdict == "met" else f" (by {per - 0.12:+.4f})") + ".")
    return out


def render(host, started, knobs, facts, setup_notes, skipped, chosen, stats, order):
    burst_bytes, listing_bytes, lines = facts["burst"], facts["listing"], facts["lines"]
    raw = burst_bytes + lines
    base = stats["nothing"]["median"]
    when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(started))
    rows = ["| recorder | runs | median | min | max | ratio to nothing (medians) "
            "| ratio to nothing (paired, median) | bytes stored (median) "
            "| stored per byte of burst |",
            "|---|---|---|---|---|---|---|---|---|"]
    details = ["| recorder | tmux server CPU (median) | tmux server peak RSS (median) "
               "| pipe file complete after burst end (median, max) | samples in run order |",
               "|---|---|---|---|---|"]
    for name, label, kind, _ in chosen:
        s = stats[name]
        if s["median"] is None:
            rows.append(f"| {label} | 0 of {s['n'] + len(s['failed'])} | failed | | | | | | |")
            continue
        ratio = f"{s['median'] / base:.2f}x" if base else "?"
        paired = f"{s['paired']:.2f}x" if s["paired"] is not None else "?"
        if kind in ("none", "neighbour"):
            stored, per = "0", "—"
        else:
            med = statistics.median(s["stored"])
            stored, per = fmt_mb(med), f"{med / burst_bytes:.3f}"
        runs = f"{s['n']}" + (f" ({len(s['failed'])} failed)" if s["failed"] else "")
        rows.append(f"| {label} | {runs} | {fmt_s(s['median'])} | {fmt_s(s['min'])} "
                    f"| {fmt_s(s['max'])} | {ratio} | {paired} | {stored} | {per} |")
        caught = [r["caught_up"] for r in s["recordings"] if "caught_up" in r]
        lag = (f"≤ {statistics.median(s['lag']):.3f} s, ≤ {max(s['lag']):.3f} s"
               if s["lag"] else "— (the recorder wraps the burst: inside the timed region)"
               if kind == "wrap" else
               f"store: ≤ {statistics.median(caught):.1f} s, ≤ {max(caught):.1f} s "
               f"(every full chunk committed; below)" if caught else "—")
        details.append(f"| {label} | {statistics.median(s['cpu']):.3f} s "
                       f"| {statistics.median(s['hwm']) / 1024:.1f} MiB | {lag} "
                       f"| {', '.join(f'{t:.3f}' for t in s['times'])} |")
    problems = []
    for name, _, _, _ in chosen:
        for e in stats[name]["failed"]:
            problems.append(f"- {name}: {e}")
        for p in stats[name]["problems"]:
            problems.append(f"- {name}: {p}")
        if stats[name]["unsettled"]:
            problems.append(f"- {name}: {stats[name]['unsettled']} run(s) where the recorder's "
                            f"file was still growing after 60 s; its size was read anyway")
    pipe = stats.get("pipe-pane")
    pipe_note = ""
    if pipe and pipe["stored"]:
        got = statistics.median(pipe["stored"])
        pipe_note = (f" `pipe-pane` into `cat` stored {got:,.0f} bytes (median), "
                     f"{'exactly' if got == raw else 'against'} the {raw:,} bytes expected.")
    lines_out = [
        f"# Recording cost: a {burst_bytes / 2**20:.0f} MiB burst in a detached "
        f"{WIDTH}x{HEIGHT} tmux pane",
        "",
        f"`bench/run-burst`, {when}, took {time.time() - started:.0f} s. Knobs: "
        f"{', '.join(f'{k}={v}' for k, v in knobs.items())}.",
        "",
        *[f"- {k}: {v}" for k, v in host],
        f"- script: {facts['script']}",
        f"- tlog-rec: {facts['tlog']}",
        f"- asciinema: {facts['asciinema']}",
        f"- load average (1, 5, 15 min) at start: {facts['load_start']}; at end: "
        f"{facts['load_end']} (a shared machine: read the spread, not only the medians)",
        *[f"- setup: {n}" for n in setup_notes],
        "",
        "## Wall time of the burst, per recorder",
        "",
        f"Each measurement: a fresh tmux server on a private socket, one detached {WIDTH}x"
        f"{HEIGHT} session (`history-limit` {HISTORY_LIMIT}, tmux's default), whose pane prints "
        f"the burst with `cat` of a file generated once for the run: `ls -laR --color=always "
        f"/usr` ({listing_bytes:,} bytes here) repeated and cut to exactly {burst_bytes:,} bytes "
        f"({lines:,} lines). `cat` of a precomputed file keeps the producer cheap and identical "
        f"for every variant. The time is taken inside the pane with `date +%s%N` around `cat` — "
        f"for script, tlog-rec and asciinema around the recorder wrapping `cat`, so their own "
        f"start, recording and final flush are inside it. For pipe-pane recorders the timed "
        f"region ends when `cat` has written its last byte to the pty; the recorder runs "
        f"asynchronously, and the second table shows when its file stopped growing. "
        f"{knobs['BENCH_WARMUP']} warm-up round(s) discarded, then {knobs['BENCH_ROUNDS']} "
        f"rounds, each running every variant once in an order rotated by one per round "
        f"(first round: {', '.join(order)}). *Paired* = the median over rounds of (variant / "
        f"that round's `nothing`)."
        + (" The *diagnostic* row is `nothing` with one CPU-bound process (`sh -c 'while :; do "
           ":; done'`) at nice 10, the priority of tmux-audit's ingest thread, running during "
           "the burst: what any busy thread at that priority costs the burst on this machine."
           if "neighbour" in stats else ""),
        "",
        *rows,
        "",
        f"Bytes stored are divided by the {burst_bytes:,} bytes `cat` wrote. The pty turns each "
        f"LF into CR LF, so the raw pane stream is {raw:,} bytes "
        f"({raw / burst_bytes:.3f} per byte of burst).{pipe_note} For scale: zlib level 6 "
        f"compresses that stream to {facts['gzip']:.3f} per byte of burst."
        + (" For tmux-audit's capture only (`pane-pipe`) the bytes stored are its spool (what a "
           "pane costs on disk while the daemon has not yet committed it); for the daemon they "
           "are everything the store keeps, below." if "pane-pipe" in stats else ""),
        "",
        *details,
        "",
        "tmux server CPU: schedstat of the (fresh) server from the start signal until the "
        "recorder's file stopped growing (for the daemon: until the store caught up). Peak RSS: "
        "VmHWM of that server. *Pipe file complete*: when the harness (polling every 10 ms, "
        "after seeing the time file every 20 ms) last saw the file grow, minus the burst's end: "
        "an upper bound.",
        "",
        *daemon_section(stats, chosen, burst_bytes, raw, base),
        "## Not measured",
        "",
        *([f"- {s}" for s in skipped] or ["- nothing was skipped"]),
        "",
        *targets(stats, burst_bytes),
    ]
    if problems:
        lines_out += ["", "## Problems seen during the run", "", *problems]
    return "\n".join(lines_out).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = os.path.join(repo, "target", "release", "tmux-audit")
    knobs = {name: int(os.environ.get(name, default)) for name, default in KNOBS.items()}
    started = time.time()
    setup_notes = ensure_peers()
    if shutil.which("tlog-rec"):
        note = ensure_utmp()
        if note:
            setup_notes.append(note)
    facts = {"script": first_line("script", "--version"),
             "tlog": first_line("tlog-rec", "--version") if shutil.which("tlog-rec")
             else "not installed",
             "asciinema": first_line("asciinema", "--version") if shutil.which("asciinema")
             else "not installed",
             "load_start": " ".join(open("/proc/loadavg").read().split()[:3])}
    results = []
    with tempfile.TemporaryDirectory(prefix="tmux-audit-burst-") as tmp:
        build = None
        if os.access(binary, os.X_OK):
            binary, build = snapshot_binary(repo, binary, tmp)
        host = machine(repo, binary, build)
        burst = os.path.join(tmp, "burst")
        size = knobs["BENCH_BURST_MB"] * 2**20
        progress(f"generating the burst ({size:,} bytes)")
        facts["listing"], facts["lines"] = make_burst(burst, size)
        facts["burst"] = size
        with open(burst, "rb") as f:
            raw = f.read().replace(b"\n", b"\r\n")  # what the pane writes: the pty's ONLCR
        expected = {"raw": raw, "raw_len": len(raw),
                    "raw_sha256": hashlib.sha256(raw).hexdigest()}
        facts["gzip"] = len(zlib.compress(raw, 6)) / size
        skipped = []
        chosen = variants(burst, binary, skipped)
        for s in skipped:
            progress(s)
        names = [v[0] for v in chosen]
        warm, rounds = knobs["BENCH_WARMUP"], knobs["BENCH_ROUNDS"]
        index = 0
        for rnd in range(warm + rounds):
            k = rnd % len(chosen)
            order = chosen[k:] + chosen[:k]
            if rnd == warm:
                first_order = [v[0] for v in order]
            label = f"warm-up {rnd + 1}/{warm}" if rnd < warm else f"round {rnd - warm + 1}/{rounds}"
            for variant in order:
                index += 1
                r = measure(tmp, index, variant, burst, expected, knobs["BENCH_RUN_TIMEOUT"],
                            binary)
                r["round"] = rnd
                shown = (f"{r['seconds']:.3f} s" if r["error"] is None
                         else f"FAILED: {r['error']}")
                extra = f", stored {r['stored']:,} B" if r.get("stored") is not None else ""
                if "stop" in r:
                    extra += (f", caught up {r.get('caught_up', float('nan')):.2f} s after, "
                              f"stop {r['stop']:.2f} s, verify {r['verify']}, export "
                              f"{'exact' if r.get('export_exact') else 'MISMATCH'}")
                for p in r.get("problems", []):
                    progress(f"  problem: {p}")
                progress(f"{label} {variant[0]}: {shown}{extra}")
                if rnd >= warm:
                    results.append(r)
        if not rounds:
            first_order = names
    facts["load_end"] = " ".join(open("/proc/loadavg").read().split()[:3])
    stats = summarise(results, names)
    report = render(host, started, knobs, facts, setup_notes, skipped, chosen, stats,
                    first_order)
    sys.stdout.write(report)
    os.makedirs(os.path.join(repo, "bench", "results"), exist_ok=True)
    with open(os.path.join(repo, "bench", "results", "burst-latest.md"), "w") as f:
        f.write(report)


if __name__ == "__main__":
    main()
