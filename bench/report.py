"""Turns the benchmark's measurements into the Markdown report (no measuring happens here)."""

import os
import statistics
import subprocess
import tempfile
import time


def _run(*argv, cwd=None):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=cwd)
        return done.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def filesystem(path):
    """`FSTYPE on DEVICE` of the mount holding `path` (where the stores and sockets live)."""
    best = ("?", "?", "")
    with open("/proc/mounts") as f:
        for device, mount, fstype, *_ in (line.split() for line in f):
            inside = path == mount or path.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best[2]):
                best = (fstype, device, mount)
    return f"{best[0]} ({best[1]})"


def snapshot_binary(repo, binary, tmp):
    """Copies the release binary into the run's temp dir and returns (copy, what it is).

    The whole run uses the copy: target/release is shared with whoever builds in the checkout
    meanwhile, and a binary replaced mid-run would mix two builds in one table. What it is:
    the commit checked out when the run started (plus whether crates/ had uncommitted changes),
    the binary's build time and the start of its SHA-256.
    """
    import hashlib
    import shutil
    copy = os.path.join(tmp, "bin", "tmux-audit")
    os.makedirs(os.path.dirname(copy), exist_ok=True)
    shutil.copy2(binary, copy)
    with open(copy, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    changed = _run("git", "status", "--porcelain", "--", "crates", "Cargo.toml", "Cargo.lock",
                   cwd=repo)
    commit = _run("git", "rev-parse", "--short", "HEAD", cwd=repo)
    built = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(os.path.getmtime(binary)))
    return copy, (f"commit {commit}{' + uncommitted changes under crates/' if changed else ''}"
                  f" when the run started; binary built {built}, sha256 {digest}…, copied "
                  f"for the run")


def machine(repo, binary, build=None):
    """What ran the benchmark: CPU, kernel, tmux, tmux-audit build (`build`: from
    snapshot_binary; otherwise the checkout's commit now)."""
    with open("/proc/cpuinfo") as f:
        cpuinfo = f.read()
    model = next((l.split(":", 1)[1].strip() for l in cpuinfo.splitlines()
                  if l.startswith("model name")), "?")
    virtual = " (virtual machine)" if " hypervisor" in cpuinfo else ""
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    changed = _run("git", "status", "--porcelain", "--", "crates", "Cargo.toml", "Cargo.lock",
                   cwd=repo)
    dirty = " + uncommitted changes under crates/" if changed else ""
    return [
        ("CPU", f"{model}{virtual}, nproc {len(os.sched_getaffinity(0))}"),
        ("memory", f"{mem_kb / 1024 / 1024:.1f} GiB"),
        ("kernel", os.uname().release),
        ("temp dir (stores, sockets)", f"{tempfile.gettempdir()} on "
                                       f"{filesystem(tempfile.gettempdir())}"),
        ("tmux", _run("tmux", "-V")),
        ("tmux-audit", f"{_run(binary, '--version')}, release build, "
                       + (build or f"commit {_run('git', 'rev-parse', '--short', 'HEAD', cwd=repo)}"
                                   f"{dirty}")),
    ]


def _ms(v):
    return f"{v:.1f} ms"


def summary(values):
    """median, p90, p99 (inclusive quantiles), max and count of a list of ms."""
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"median": statistics.median(values), "p90": cuts[89], "p99": cuts[98],
            "max": max(values), "n": len(values)}


def _of(result, key):
    """The stats of one timing over a phase's samples (`key`: a field, or a function of one)."""
    pick = key if callable(key) else (lambda s: s[key])
    return summary([v for v in map(pick, result["samples"]) if v is not None])


def _after_screen(sample):
    """ms from the attached screen's first byte to the record being seen."""
    return None if sample["screen"] is None else sample["seen"] - sample["screen"]


def _row(label, stats):
    return (f"| {label} | {_ms(stats['median'])} | {_ms(stats['p90'])} | {_ms(stats['p99'])} "
            f"| {_ms(stats['max'])} | {stats['n']} |")


def latency_section(ours, peer):
    o, p = _of(ours, "seen"), _of(peer, "seen")
    yes = {True: "recorded", False: "**not recorded**"}
    return [
        f"## 1. Attach-to-commit latency ({ours['rounds']} attaches each)",
        "",
        "t0 = wall clock just before fork+exec of a real `tmux attach` client on a pty (80x24, "
        "TERM=xterm), so t0-based times include the client's own start-up. *Seen* = when our "
        "1 ms poll first found the record (the SQLite store read-only, or the hook's file). "
        "*Screen* = when the pty first received output: tmux drawing the attached screen.",
        "",
        "| what | median | p90 | p99 | max | samples |",
        "|---|---|---|---|---|---|",
        _row("**tmux-audit**: t0 → `client-attached` committed (seen in store)", o),
        _row("tmux-audit: t0 → the event's `time` (daemon observed the attach)",
             _of(ours, "stamp")),
        _row("**hook** `run-shell -b 'date >> FILE'`: t0 → line seen in file", p),
        _row("hook: t0 → the time `date` wrote", _of(peer, "stamp")),
        _row("tmux alone (tmux-audit's server): t0 → screen", _of(ours, "screen")),
        _row("tmux alone (hook's server): t0 → screen", _of(peer, "screen")),
        _row("tmux-audit: screen → committed (seen)", _of(ours, _after_screen)),
        _row("hook: screen → line seen", _of(peer, _after_screen)),
        "",
        f"Ratio tmux-audit / hook, t0 → seen: median {o['median'] / p['median']:.2f}, "
        f"p90 {o['p90'] / p['p90']:.2f}, p99 {o['p99'] / p['p99']:.2f}; medians "
        f"{_ms(o['median'])} vs {_ms(p['median'])}.",
        "",
        f"Stored by tmux-audit: {ours['events'][0]} `client-attached` and {ours['events'][1]} "
        f"`client-detached` (expected {ours['rounds'] + 1} each: the rounds and one attached "
        f"`tmux new-session`); detach reasons: "
        f"{', '.join(f'`{r}` x{n}' for r, n in ours['detach_reasons'].items())}. "
        f"That `new-session` attach: tmux-audit "
        f"{yes[ours['new_session']]}; hook {yes[peer['new_session']]} (waited 2 s for a line).",
        "",
        f"After the rounds: daemon exit status on SIGTERM {ours['stop_status']}, "
        f"`audit-stopped` {'stored' if ours['stopped_logged'] else '**missing**'}; "
        f"`tmux-audit verify` exit status {ours['verify'][0]}: `{ours['verify'][1]}`.",
        "",
        "The hook keeps no durable record (no fsync; a plain file the user can edit), misses "
        "attaches by `new-session`, and names no client unless told to; tmux-audit commits each "
        "event to SQLite (WAL, `synchronous = FULL`: fsync'd at commit) in a hash chain, with "
        "client, user, tty and origin.",
    ]


def idle_section(idle):
    rows = ["| process | CPU, utime+stime | on CPU, schedstat | % of one core (schedstat) | "
            "wake-ups/s (voluntary ctx switches) |", "|---|---|---|---|---|"]
    for name, s in idle["windows"].items():
        rows.append(f"| {name} | {s.cpu_s:.2f} s | {s.run_s * 1000:.1f} ms "
                    f"| {s.percent:.4f} % "
                    f"| {s.wakeups_per_s:.2f} ({s.wakeups} in {s.wall_s:.0f} s) |")
    return [
        f"## 2. Idle CPU ({idle['seconds']} s per window)",
        "",
        "A server with 3 sessions (`sh` in each pane) and one attached pty client, nothing typed; "
        "tmux's default status line (clock) stays on. Window 1 starts once the daemon has not "
        "woken for 2 s after recording the attach, and has the daemon recording; window 2, "
        "right after: the daemon stopped with SIGTERM, the same server and client. "
        f"utime+stime has clock-tick resolution ({1000 // os.sysconf('SC_CLK_TCK')} ms); "
        "schedstat is exact.",
        "",
        *rows,
        "",
        *([] if idle.get("settled", True) else [
            "**The daemon never went 2 s without waking** in the 20 s after the attach "
            "(a periodic timer); window 1 was measured anyway.", ""]),
        f"Events committed during window 1: {len(idle['events_during'])}"
        f"{' ' + str(idle['events_during']) if idle['events_during'] else ''}. "
        f"Daemon exit status on "
        f"SIGTERM: {idle['stop_status']}.",
    ]


def memory_section(memory, target_kb):
    rows = ["| process | VmRSS | VmHWM (peak) |", "|---|---|---|"]
    for name, (rss, hwm) in memory["memory"].items():
        rows.append(f"| {name} | {rss / 1024:.1f} MiB | {hwm / 1024:.1f} MiB |")
    rss, hwm = memory["memory"]["tmux-audit daemon"]
    verdict = "met" if hwm < target_kb else "**not met**"
    return [
        f"## 3. Memory with {memory['sessions']} sessions and {memory['clients']} clients",
        "",
        f"Sessions created and pty clients attached while the daemon ran; read once the store "
        f"held a `client-attached` for every client ({_ms(memory['catch_up_ms'])} after the "
        f"last client was started).",
        "",
        *rows,
        "",
        f"Target: daemon under 20 MB — {verdict} (RSS {rss / 1024:.1f} MiB, peak "
        f"{hwm / 1024:.1f} MiB).",
    ]


def problems_section(ours, peer):
    lines = [f"- tmux-audit: {p}" for p in ours["problems"]]
    lines += [f"- hook: {p}" for p in peer["problems"]]
    if not lines:
        return []
    out = ["## Problems seen during the run", "", *lines]
    if ours.get("daemon_log"):
        out += ["", "Daemon log (last lines):", "", "```", ours["daemon_log"].rstrip(), "```"]
    return out


def render(repo, binary, started, knobs, ours, peer, idle, memory, target_kb):
    """The whole report as Markdown."""
    when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(started))
    lines = [
        "# tmux-audit benchmark",
        "",
        f"`bench/run`, {when}, took {time.time() - started:.0f} s. Knobs: "
        f"{', '.join(f'{k}={v}' for k, v in knobs.items())}.",
        "",
        *[f"- {k}: {v}" for k, v in machine(repo, binary)],
        "",
        *latency_section(ours, peer),
        "",
        *idle_section(idle),
        "",
        *memory_section(memory, target_kb),
        "",
        *problems_section(ours, peer),
    ]
    return "\n".join(lines).rstrip() + "\n"
