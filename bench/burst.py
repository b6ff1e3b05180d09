"""Recording cost: a 50 MB burst of coloured output in a detached 200x50 tmux pane, per recorder.

Run `bench/run-burst`. Issue 3's headline number: with tmux-audit recording, the burst must finish
within 1.05x the time it takes with nothing recording, measured side by side in one run. This
harness measures, in ONE run, tmux alone and each peer recorder the same way:

  nothing      tmux alone
  pipe-pane    `pipe-pane -O 'cat > FILE'`
  script       `script -q -c 'cat BURST' FILE` inside the pane
  tlog-rec     `tlog-rec -o FILE cat BURST` inside the pane (Debian `tlog`)
  asciinema    `asciinema rec -q --overwrite -c 'cat BURST' FILE` inside the pane (Debian
               `asciinema`)
  tmux-audit   `pipe-pane -O 'exec tmux-audit pane-pipe --spool FILE'`, only once the release
               binary has a `pane-pipe` subcommand (`tmux-audit pane-pipe --help` exits 0)

Method:
- The burst is generated once per run: `ls -laR --color=always /usr`, repeated and cut to exactly
  BENCH_BURST_MB MiB (default 50 = 52,428,800 bytes), in the run's temp dir. The pane prints it
  with `cat`, so the producer is cheap and identical for every variant.
- One measurement = one fresh tmux server on a private socket (`tmux -S TMP/burst.sock -f
  /dev/null`, TMUX_TMPDIR=TMP, TMUX unset), one detached 200x50 session with `history-limit`
  2000 (tmux's default), so no history or server memory carries over. The pane runs a small sh
  script that blocks on a FIFO; the harness opens the pipe-pane recorder (if any), then writes the
  FIFO. The pane then takes `date +%s%N`, runs the burst (`cat BURST`, or the recorder wrapping
  `cat BURST`), takes `date +%s%N` again and writes both to a time file. The harness polls that
  file (bounded), never sleeps and hopes.
- For pipe-pane recorders the timed region ends when `cat` has written its last byte to the pty;
  the recorder runs asynchronously. The harness then waits (bounded) until the recorder's file
  stops growing, reports how long after the burst's end that was, reads its size, and closes the
  pipe (`pipe-pane` with no command) before ending the server.
- Rounds are interleaved: BENCH_WARMUP (1) discarded rounds, then BENCH_ROUNDS (5) rounds, each
  running every variant once, in an order rotated by one each round. Reported per variant:
  median, min, max, the ratio of medians to `nothing`, and the median of the per-round ratios
  (paired with that round's `nothing`); bytes stored per byte of burst; the tmux server's CPU
  time (schedstat) and peak RSS (VmHWM of the fresh server).

Missing peers are installed at the start (`apt-get update && apt-get install -y tlog asciinema`,
only the missing ones, only as root; BENCH_NO_INSTALL=1 skips it); a peer still missing is
skipped and the report says so. tlog-rec needs /var/run/utmp to exist; as root it is created
(empty) if missing. Every server is ended with `kill-server` on its own socket (lab.TmuxServer),
whatever happens. The servers' environment points TMUX_AUDIT_DB and XDG_DATA_HOME into the temp
dir, so a tmux-audit run by pipe-pane can never touch the user's store.
"""

import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from lab import TmuxServer, poll
from procstat import memory_kb, usage
from report import machine

KNOBS = {"BENCH_BURST_MB": 50, "BENCH_ROUNDS": 5, "BENCH_WARMUP": 1, "BENCH_RUN_TIMEOUT": 120}
WIDTH, HEIGHT = 200, 50
HISTORY_LIMIT = 2000  # tmux's default
PEERS = (("tlog", "tlog-rec"), ("asciinema", "asciinema"))
UTMP = "/var/run/utmp"

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
    ok, why = tmux_audit_status(binary)
    if ok:
        out.append(("tmux-audit", "`pipe-pane -O 'exec tmux-audit pane-pipe --spool FILE'`",
                    "pipe", f"exec {shlex.quote(binary)} pane-pipe --spool {{out}}"))
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


def measure(tmp, index, variant, burst, raw_expected, timeout):
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
    result = {"variant": name, "error": None}
    try:
        server.tmux("-f", "/dev/null", "set-option", "-g", "history-limit", str(HISTORY_LIMIT),
                    ";", "new-session", "-d", "-s", "burst", "-x", str(WIDTH), "-y", str(HEIGHT),
                    f"sh {shlex.quote(script)}")
        server.pid = int(server.tmux("display-message", "-p", "#{pid}"))
        size = server.tmux("display-message", "-p", "-t", "burst",
                           "#{pane_width}x#{pane_height} #{history_limit}")
        if size != f"{WIDTH}x{HEIGHT} {HISTORY_LIMIT}":
            raise RuntimeError(f"pane is {size}, expected {WIDTH}x{HEIGHT} {HISTORY_LIMIT}")
        if kind == "pipe":
            server.tmux("pipe-pane", "-O", "-t", "burst", template.format(out=shlex.quote(out)))
            if server.tmux("display-message", "-p", "-t", "burst", "#{pane_pipe}") != "1":
                raise RuntimeError("pipe-pane did not open a pipe")
            poll(lambda: True if os.path.exists(out) else None, 5, interval=0.005)
        fd = open_fifo_writer(go, 10)
        if fd is None:
            raise RuntimeError("the pane's script never opened its start FIFO")
        cpu_before = usage(server.pid)
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
            pane = server.tmux("capture-pane", "-p", "-t", "burst", "-S", "-5")
            raise RuntimeError(f"no time file after {timeout} s; pane shows: {pane[-300:]!r}")
        start_ns, end_ns, rc = (int(v) for v in fields)
        result["seconds"] = (end_ns - start_ns) / 1e9
        if rc != 0:
            with open(err, errors="replace") as f:
                raise RuntimeError(f"exit status {rc}: {f.read().strip()[-300:]}")
        if kind != "none":
            expected = raw_expected if kind == "pipe" else 1
            stored, last_growth, settled = settle(out, expected)
            result.update(stored=stored, settled=settled)
            if kind == "pipe":
                result["lag"] = max(0.0, last_growth - end_ns / 1e9)
        after = usage(server.pid)
        result["server_cpu"] = sum(v - cpu_before.run_ns.get(t, 0)
                                   for t, v in after.run_ns.items()) / 1e9
        result["server_hwm_kb"] = memory_kb(server.pid)[1]
        if kind == "pipe":
            server.tmux("pipe-pane", "-t", "burst")  # close the pipe
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        result["error"] = str(e)
    finally:
        if server.pid is None:  # started but never learned its pid: still end it by socket
            try:
                server.pid = int(server.tmux("display-message", "-p", "#{pid}"))
            except (RuntimeError, subprocess.TimeoutExpired, ValueError):
                pass
        server.kill()
        shutil.rmtree(d, ignore_errors=True)
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
        }
    return out


def render(repo, binary, started, knobs, facts, setup_notes, skipped, chosen, stats, order):
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
        if kind == "none":
            stored, per = "0", "—"
        else:
            med = statistics.median(s["stored"])
            stored, per = fmt_mb(med), f"{med / burst_bytes:.3f}"
        runs = f"{s['n']}" + (f" ({len(s['failed'])} failed)" if s["failed"] else "")
        rows.append(f"| {label} | {runs} | {fmt_s(s['median'])} | {fmt_s(s['min'])} "
                    f"| {fmt_s(s['max'])} | {ratio} | {paired} | {stored} | {per} |")
        lag = (f"≤ {statistics.median(s['lag']):.3f} s, ≤ {max(s['lag']):.3f} s"
               if s["lag"] else "— (the recorder wraps the burst: inside the timed region)"
               if kind == "wrap" else "—")
        details.append(f"| {label} | {statistics.median(s['cpu']):.3f} s "
                       f"| {statistics.median(s['hwm']) / 1024:.1f} MiB | {lag} "
                       f"| {', '.join(f'{t:.3f}' for t in s['times'])} |")
    problems = []
    for name, _, _, _ in chosen:
        for e in stats[name]["failed"]:
            problems.append(f"- {name}: {e}")
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
        *[f"- {k}: {v}" for k, v in machine(repo, binary)],
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
        f"that round's `nothing`).",
        "",
        *rows,
        "",
        f"Bytes stored are divided by the {burst_bytes:,} bytes `cat` wrote. The pty turns each "
        f"LF into CR LF, so the raw pane stream is {raw:,} bytes "
        f"({raw / burst_bytes:.3f} per byte of burst).{pipe_note}"
        + (" For tmux-audit the bytes stored are the spool `pane-pipe` wrote (what a pane costs "
           "while it is recorded), not what the store keeps after compression."
           if "tmux-audit" in stats else ""),
        "",
        *details,
        "",
        "tmux server CPU: schedstat of the (fresh) server from the start signal until the "
        "recorder's file stopped growing. Peak RSS: VmHWM of that server. *Pipe file complete*: "
        "when the harness (polling every 10 ms, after seeing the time file every 20 ms) last "
        "saw the file grow, minus the burst's end: an upper bound.",
        "",
        "## Not measured",
        "",
        *([f"- {s}" for s in skipped] or ["- nothing was skipped"]),
        "",
        "Target (issue 3): tmux-audit recording within 1.05x of `nothing`, at most 0.12 bytes "
        "stored per byte of output.",
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
        burst = os.path.join(tmp, "burst")
        size = knobs["BENCH_BURST_MB"] * 2**20
        progress(f"generating the burst ({size:,} bytes)")
        facts["listing"], facts["lines"] = make_burst(burst, size)
        facts["burst"] = size
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
                r = measure(tmp, index, variant, burst, size + facts["lines"],
                            knobs["BENCH_RUN_TIMEOUT"])
                r["round"] = rnd
                shown = (f"{r['seconds']:.3f} s" if r["error"] is None
                         else f"FAILED: {r['error']}")
                extra = f", stored {r['stored']:,} B" if r.get("stored") is not None else ""
                progress(f"{label} {variant[0]}: {shown}{extra}")
                if rnd >= warm:
                    results.append(r)
        if not rounds:
            first_order = names
    facts["load_end"] = " ".join(open("/proc/loadavg").read().split()[:3])
    stats = summarise(results, names)
    report = render(repo, binary, started, knobs, facts, setup_notes, skipped, chosen, stats,
                    first_order)
    sys.stdout.write(report)
    os.makedirs(os.path.join(repo, "bench", "results"), exist_ok=True)
    with open(os.path.join(repo, "bench", "results", "burst-latest.md"), "w") as f:
        f.write(report)


if __name__ == "__main__":
    main()
