"""Print -> visible latency (issue 11): how long after a line shows in a pane `search` (default
flags, the daemon at its default --flush-after of 30 s) first finds it, and how long
`export --follow` takes to write it.

A private tmux server and a daemon recording it; for each of BENCH_VISIBLE_LINES (20) lines:
`send-keys` a printf, poll `capture-pane` (5 ms) until tmux shows the line (t0), then run
`search LINE --json` back to back until a hit has that line (t1): t1 - t0. Searches follow one
another at once, so most wait for the daemon's 1 s flush floor; that is the figure a user
repeating a search sees. Then the same lines printed while one `export --follow` writes a cast:
the time from t0 until the line is in the file. Prints median, p99 and min; standard library
only. Uses target/release/tmux-audit when built, else target/debug.
"""
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B = next(
    p
    for p in (f"{ROOT}/target/release/tmux-audit", f"{ROOT}/target/debug/tmux-audit")
    if os.path.exists(p)
)
LINES = int(os.environ.get("BENCH_VISIBLE_LINES", "20"))


def main():
    tmp = tempfile.mkdtemp(prefix="tmux-audit-visible.")
    env = dict(os.environ, TMUX_TMPDIR=tmp, XDG_DATA_HOME=f"{tmp}/xdg")
    env.pop("TMUX", None)
    sock, db = f"{tmp}/sock", f"{tmp}/a.db"

    def tmux(*args):
        return subprocess.run(
            ["tmux", "-S", sock, *args], env=env, capture_output=True, text=True
        ).stdout

    def shown(word):
        while not any(l.strip() == word for l in tmux("capture-pane", "-p", "-t", "work").splitlines()):
            time.sleep(0.005)
        return time.monotonic()

    def say(word):
        half = len(word) // 2
        tmux("send-keys", "-t", "work", f"printf '%s%s\\n' {word[:half]} {word[half:]}", "Enter")
        return shown(word)

    tmux("new-session", "-d", "-s", "work")
    daemon = subprocess.Popen(
        [B, "--db", db, "daemon", "-S", sock], env=env,
        stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/daemon.stderr", "w"),
    )
    try:
        deadline = time.monotonic() + 15
        while tmux("display", "-p", "-t", "work", "#{pane_pipe}").strip() != "1":
            assert time.monotonic() < deadline, "pane never piped"
            time.sleep(0.05)
        search, searches = [], 0
        for n in range(LINES):
            word = f"visible{n}x42"
            t0 = say(word)
            while True:
                searches += 1
                out = subprocess.run(
                    [B, "--db", db, "search", word, "--json"], env=env, capture_output=True, text=True
                ).stdout
                if any(json.loads(l).get("line") == word for l in out.splitlines() if l.strip()):
                    break
            search.append(time.monotonic() - t0)
        cast = f"{tmp}/live.cast"
        follow = subprocess.Popen(
            [B, "--db", db, "export", "%0", "--follow", "-o", cast], env=env,
            stderr=subprocess.DEVNULL,
        )
        while "visible" not in (open(cast).read() if os.path.exists(cast) else ""):
            time.sleep(0.01)
        export = []
        for n in range(LINES):
            word = f"followed{n}x42"
            t0 = say(word)
            while word not in open(cast).read():
                time.sleep(0.002)
            export.append(time.monotonic() - t0)
        follow.send_signal(signal.SIGINT)
        follow.wait(10)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(15)
        tmux("kill-server")
    for name, v in (("search (default flags)", search), ("export --follow", export)):
        v.sort()
        p99 = v[min(len(v) - 1, int(len(v) * 0.99))]
        print(f"print -> {name}: median {statistics.median(v)*1000:.0f} ms, p99 {p99*1000:.0f} ms, min {v[0]*1000:.0f} ms ({len(v)} lines)")
    print(f"searches run: {searches} for {LINES} lines; binary {B}; files in {tmp}")


if __name__ == "__main__":
    main()
