"""Read-only view of a tmux-audit SQLite store, cheap enough to poll every millisecond.

A row's `data` is the event's frozen canonical encoding (see audit_core::encoding, "TAE1"):
magic, seq u64, time i64 µs, then tagged fields (u8 tag; string = u32 length + UTF-8,
int = i64, bool = u8), all big-endian. We decode it here only to learn which client an event
names (`client_pid`, tag 10), so that a latency sample waits for *its* client's event. Tags
only grow (new fields get higher tags), so decoding stops at the first tag it does not know.
"""

import sqlite3
import struct

STRING_TAGS = {1: "kind", 2: "host", 3: "server", 4: "session", 5: "session_id", 6: "window",
               7: "window_id", 8: "pane_id", 9: "client", 12: "user", 14: "tty", 15: "term",
               16: "origin", 17: "reason", 18: "observed", 21: "version", 23: "by",
               24: "by_user", 25: "message", 26: "flags"}
INT_TAGS = {10: "client_pid", 11: "uid", 19: "from", 20: "until", 22: "pid"}
BOOL_TAGS = {13: "readonly"}


def decode(data):
    """The fields of one canonical event encoding, as a dict (plus `seq` and `time` in µs)."""
    if data[:4] != b"TAE1":
        raise ValueError("not a TAE1 event")
    seq, time_us = struct.unpack_from(">Qq", data, 4)
    event, at = {"seq": seq, "time": time_us}, 20
    while at < len(data):
        tag, at = data[at], at + 1
        if tag in STRING_TAGS:
            (length,) = struct.unpack_from(">I", data, at)
            event[STRING_TAGS[tag]] = data[at + 4:at + 4 + length].decode()
            at += 4 + length
        elif tag in INT_TAGS:
            (event[INT_TAGS[tag]],) = struct.unpack_from(">q", data, at)
            at += 8
        elif tag in BOOL_TAGS:
            event[BOOL_TAGS[tag]], at = data[at] == 1, at + 1
        else:  # a field newer than this reader; tags only grow, so all we need is read
            break
    return event


class Store:
    """Follows the store's committed events in order, indexing them by kind and client pid.

    Each `refresh()` reads only rows after the last one seen: one indexed SELECT, which in WAL
    mode sees exactly what the daemon has committed.
    """

    def __init__(self, path):
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        self.last_seq = 0
        self.events = []
        self.by_client = {}

    def refresh(self):
        """Reads newly committed events; returns how many arrived."""
        try:
            rows = self.conn.execute(
                "SELECT data FROM events WHERE seq > ? ORDER BY seq", (self.last_seq,)
            ).fetchall()
        except sqlite3.OperationalError:  # the daemon has not created the schema yet
            return 0
        for (data,) in rows:
            event = decode(data)
            self.last_seq = event["seq"]
            self.events.append(event)
            if "client_pid" in event:
                self.by_client.setdefault((event["kind"], event["client_pid"]), event)
        return len(rows)

    def find(self, kind, client_pid):
        """The first committed `kind` event of the client with this pid, or None."""
        self.refresh()
        return self.by_client.get((kind, client_pid))

    def count(self, kind, **fields):
        """How many committed events of `kind` match all `fields`."""
        self.refresh()
        return sum(1 for e in self.events
                   if e["kind"] == kind and all(e.get(k) == v for k, v in fields.items()))

    def close(self):
        self.conn.close()
