"""1. Attach-to-commit latency: tmux-audit against the `run-shell -b date` hook people use today.

Each round starts a real `tmux attach -t bench` on a fresh pty; t0 is the wall clock just
before fork+exec of that client (conservative: it includes the client's start-up). We then poll
every 1 ms until the attach's record is seen — tmux-audit: a committed `client-attached` with
that client's pid in the SQLite store; the hook: a new line in its file — and keep, per round,
in ms after t0:
- `seen`: when our poll first saw the record;
- `stamp`: the time inside the record (the event's `time`: when the daemon observed the attach;
  the hook: what `date` printed);
- `screen`: when the pty first received output, i.e. tmux drawing the attached screen.
Then the client types C-b d; we wait for its exit (and, for tmux-audit, its committed
`client-detached`) before the next round. Ours and the peer each get their own server.
"""

import os
import subprocess
from collections import Counter

from lab import PtyClient, TmuxServer, poll, start_daemon, wait_event

ATTACH_TIMEOUT = 5.0   # s; far above any expected latency, it only bounds a failure
ABSENCE_WINDOW = 2.0   # s; how long we wait before calling a hook line missing


def timed_attach(server, find_record, argv=None):
    """Attaches a pty client and polls `find_record(client)` until it returns the attach's record.

    Returns (client, record, sample) — record and sample None if nothing came in time.
    """
    client = PtyClient(argv or server.argv("attach-session", "-t", "bench"), server.env)

    def check():
        client.drain()
        return find_record(client)

    record, seen = poll(check, ATTACH_TIMEOUT)
    if record is None:
        return client, None, None
    poll(lambda: (client.drain(), client.first_output)[1], ATTACH_TIMEOUT)
    screen = client.first_output
    return client, record, {"seen": (seen - client.t0) * 1000,
                            "screen": (screen - client.t0) * 1000 if screen else None}


def detach(client, problems, round_no, committed=None):
    """Types C-b d; waits for `committed()` (if given) and for the client to exit."""
    client.detach()
    if committed and committed() is None:
        problems.append(f"round {round_no}: no `client-detached` with client_pid {client.pid} "
                        f"committed within {ATTACH_TIMEOUT:.0f} s of C-b d")
    if not client.wait_exit():
        problems.append(f"round {round_no}: client {client.pid} still running after C-b d")


def ours_round(server, store, problems, round_no, argv=None):
    """One timed attach recorded by tmux-audit, then a detach; returns the sample or None."""
    client, event, sample = timed_attach(
        server, lambda c: store.find("client-attached", c.pid), argv)
    try:
        if event is None:
            problems.append(f"round {round_no}: no `client-attached` with client_pid "
                            f"{client.pid} committed within {ATTACH_TIMEOUT:.0f} s")
            return None
        sample["stamp"] = event["time"] / 1000 - client.t0 * 1000
        detach(client, problems, round_no,
               committed=lambda: wait_event(store, client, "client-detached")[0])
        return sample
    finally:
        client.close()


def verify(binary, db):
    """`tmux-audit verify` on the store: (exit status, its first output line)."""
    done = subprocess.run([binary, "--db", db, "verify"], capture_output=True, text=True,
                          timeout=60)
    lines = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode, lines[0] if lines else ""


def measure_ours(binary, tmp, rounds):
    """`rounds` timed attaches recorded by tmux-audit, then one attached `new-session`."""
    server, daemon = TmuxServer(tmp, "ours"), None
    result = {"problems": [], "rounds": rounds}
    try:
        server.start("bench")
        daemon, store, db = start_daemon(binary, tmp, server, sessions=1)
        samples = (ours_round(server, store, result["problems"], i) for i in range(rounds))
        result["samples"] = [s for s in samples if s]
        new_session = server.argv("new-session", "-s", "made-by-new-session")
        recorded = ours_round(server, store, [], "new-session", new_session)
        result["new_session"] = recorded is not None
        result["stop_status"] = daemon.stop()
        result["stopped_logged"] = store.count("audit-stopped") >= 1
        result["verify"] = verify(binary, db)
        result["events"] = store.count("client-attached"), store.count("client-detached")
        result["detach_reasons"] = reasons = Counter(
            e.get("reason") for e in store.events if e["kind"] == "client-detached")
        if set(reasons) != {"detach"}:
            result["problems"].append(
                f"every client left by typing C-b d (bound to `detach-client`), but the "
                f"stored `client-detached` reasons are {dict(reasons)}; `detach` expected "
                f"for all {sum(reasons.values())}")
        if result["problems"]:
            result["daemon_log"] = daemon.log_tail()
        return result
    finally:
        if daemon:
            daemon.stop()
        server.kill()


class HookLines:
    """Follows the peer hook's output file, one complete line at a time."""

    def __init__(self, path):
        self.path, self.offset = path, 0
        open(path, "w").close()

    def next_line(self):
        """The next complete line written since the last call, or None."""
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.find(b"\n")
        if end < 0:
            return None
        self.offset += end + 1
        return chunk[:end].decode()


def peer_round(server, lines, problems, round_no):
    """One timed attach recorded by the hook, then a detach; returns the sample or None."""
    client, line, sample = timed_attach(server, lambda c: lines.next_line())
    try:
        if line is None:
            problems.append(f"round {round_no}: no hook line within {ATTACH_TIMEOUT:.0f} s")
            return None
        sample["stamp"] = float(line) * 1000 - client.t0 * 1000
        detach(client, problems, round_no)
        return sample
    finally:
        client.close()


def hook_sees_new_session(server, lines):
    """Whether the hook writes a line for an attached `tmux new-session` (within 2 s)."""
    client = PtyClient(server.argv("new-session", "-s", "made-by-new-session"), server.env)
    try:
        line, _ = poll(lambda: (client.drain(), lines.next_line())[1], ABSENCE_WINDOW)
        detach(client, [], "new-session")
        return line is not None
    finally:
        client.close()


def measure_peer(tmp, rounds):
    """The same rounds on a server with a client-attached `run-shell -b date` hook, no daemon."""
    server = TmuxServer(tmp, "peer")
    result = {"problems": [], "rounds": rounds}
    try:
        server.start("bench")
        lines = HookLines(os.path.join(tmp, "hook-attaches.log"))
        server.tmux("set-hook", "-g", "client-attached",
                    f'run-shell -b "date +%s.%N >> {lines.path}"')
        samples = (peer_round(server, lines, result["problems"], i) for i in range(rounds))
        result["samples"] = [s for s in samples if s]
        result["new_session"] = hook_sees_new_session(server, lines)
        return result
    finally:
        server.kill()
