"""Synthetic pane output for the views benchmark (run-views): deterministic, varied, coloured.

Nothing here measures. It writes *spools* in the format `tmux-audit pane-pipe` writes
(audit-capture/src/spool.rs), so that a daemon started beside them ingests them as the leftovers
of a daemon that stopped before committing them:

    "TAS1", then records: kind u8 (1 output, 2 lost, 3 closed), time i64 BE (µs since the
    epoch), length u32 BE, bytes (output only)

Two kinds of stream, both from a seeded `random.Random`, so every run (and every machine)
writes the same bytes:

- `interactive()`: a person at a shell for a given time: a coloured prompt, a command typed one
  key every 60-220 ms (each key its own record, as the pty echoes it), then its output (a
  coloured `ls -la`, log lines, `git log`, `ps`, a build, SQL, a traceback) in writes of at most
  4 KiB, a few ms apart; a command every 2-9 s; and every 10-20 min a burst (a build or a
  `tail -f` of a busy log: 2-6 MiB within a few seconds, in 16-64 KiB writes).
- `log_stream()`: busy output for search: the same kinds of lines, mostly application logs
  with unique request ids, in 16-128 KiB writes (what pane-pipe reads during a burst), spread
  evenly over a time span; chosen lines can be planted at chosen byte offsets (rare words).

Text is ASCII plus SGR colours, CR LF line ends (what a pty gives). The vocabulary is a few
hundred English and technical words plus syllable-made words with a Zipf-like frequency, so
the full-text index sees a realistic number of distinct tokens (request ids, hashes and
numbers are unique, as in real logs).
"""

import random
import struct

MAGIC = b"TAS1"
OUTPUT, LOST, CLOSED = 1, 2, 3

# Words the generator must never produce by accident (the benchmark plants or looks for them).
RESERVED = ("defenestrate", "zyzzogeton", "panic", "quokka")

WORDS = """
the of and to in is for on that with as at by from this be are it or an was not have
but all can has had which their will one more when there out up about into than them
other some time only new could these two may first then do any like now over such our
after most also made over back through where much before must well even because each
request response server client connection timeout retry failed error warning info debug
started stopped listening accepted closed opened reading writing sending received user
session token cache hit miss database query table index insert update delete select
commit rollback transaction lock wait deadlock pool worker thread process memory disk
network socket port host address route gateway proxy upstream downstream backend
frontend service deploy release build compile link test check lint format install
package module import export config setting option value key secret certificate tls
handshake expired valid invalid denied allowed permission owner group file directory
path mount volume snapshot backup restore sync replica primary leader follower vote
term election heartbeat shard partition offset topic consumer producer queue message
event stream batch job schedule cron trigger hook pipeline stage artifact image
container pod node cluster namespace label selector ingress egress policy rule alert
metric gauge counter histogram latency throughput bandwidth load balance health probe
ready live restart crash signal exit status code output input parse decode encode
compress checksum hash digest signature verify audit trail record log entry line
peer reset refused unreachable resolved lookup dns record zone ttl serial kernel
""".split()

SYLLABLES = ("ka ro mi ne tu sa lo vi de ra po ki ma te no su ha ri ga be do fu ze la me "
             "qua stri ven tor bal cor dan fel gim hox jun kel mor nix pel quin rus sev tam "
             "ulf vor wex yal zum").split()

COLORS = ("\x1b[01;34m", "\x1b[01;32m", "\x1b[01;36m", "\x1b[00;31m", "\x1b[01;33m",
          "\x1b[01;35m")
RESET = "\x1b[0m"
PROGRAMS = ("python3", "postgres:", "nginx:", "node", "java", "sshd:", "bash", "vim")
LEVELS = (("INFO", "\x1b[32m", 70), ("DEBUG", "\x1b[36m", 18), ("WARN", "\x1b[33m", 9),
          ("ERROR", "\x1b[31m", 3))


class Text:
    """Line generators over one seeded random source."""

    def __init__(self, seed, made_words=20000):
        self.rng = random.Random(seed)
        rng = self.rng
        made = set()
        while len(made) < made_words:
            w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
            if not any(r in w for r in RESERVED):
                made.add(w)
        self.words = WORDS + sorted(made)
        # Zipf-like weights: the English/technical words first and most frequent.
        self.weights = [1.0 / (i + 1) ** 0.9 for i in range(len(self.words))]
        self.cum = []
        total = 0.0
        for w in self.weights:
            total += w
            self.cum.append(total)
        self.users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
                      "ivan", "judy", "mallory", "oscar", "root", "deploy", "postgres"]
        self.hosts = [f"{p}-{n}" for p in ("web", "db", "cache", "api", "worker", "edge")
                      for n in range(1, 9)]
        self.files = ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))) +
                      rng.choice((".py", ".rs", ".go", ".c", ".h", ".js", ".json", ".yaml",
                                  ".md", ".log", ".conf", ".sh", ".txt", ""))
                      for _ in range(3000)]
        # What programs print is mostly fixed messages with variable parts: a few thousand
        # templates (Zipf-frequent), some with a number or a name in them.
        self.messages = []
        for _ in range(3000):
            words = self.phrase(3, 11).split()
            if rng.random() < 0.5:
                words.insert(rng.randrange(len(words) + 1), "{n}")
            if rng.random() < 0.3:
                words.insert(rng.randrange(len(words) + 1), "{f}")
            self.messages.append(" ".join(words))
        self.messages[rng.randrange(40, 400)] = "upstream connection reset by peer after {n} bytes"
        self.message_cum = []
        total = 0.0
        for i in range(len(self.messages)):
            total += 1.0 / (i + 1) ** 1.1
            self.message_cum.append(total)
        self.seq = 0
        self.clock = 0  # seconds, advanced by callers for timestamps in lines

    def message(self):
        rng = self.rng
        m = rng.choices(self.messages, cum_weights=self.message_cum)[0]
        if "{" in m:
            m = m.replace("{n}", str(rng.randint(0, 99999))).replace("{f}", rng.choice(self.files))
        return m

    def phrase(self, lo, hi):
        rng = self.rng
        return " ".join(rng.choices(self.words, cum_weights=self.cum, k=rng.randint(lo, hi)))

    def stamp(self):
        self.seq += 1
        s = self.clock
        return (f"2026-11-{20 + (s // 86400) % 9:02d}T{(s // 3600) % 24:02d}:"
                f"{(s // 60) % 60:02d}:{s % 60:02d}.{self.seq % 1000:03d}Z")

    def app_log(self):
        rng = self.rng
        name, color, _ = rng.choices(LEVELS, weights=[w for _, _, w in LEVELS])[0]
        self.seq += 1
        rid = f"{rng.getrandbits(32):08x}"
        kind = rng.random()
        if kind < 0.45:
            method = rng.choice(("GET", "GET", "GET", "POST", "PUT", "DELETE"))
            status = rng.choice((200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 403, 404,
                                 409, 500, 502, 503))
            body = (f"{method} /api/v{rng.randint(1, 3)}/{rng.choice(self.words[40:200])}/"
                    f"{rng.randint(1, 99999)} {status} {rng.randint(1, 900)}ms "
                    f"user={rng.choice(self.users)}")
        else:
            body = self.message()
        return (f"{self.stamp()} {color}{name:<5}{RESET} [{rng.choice(self.hosts)}/"
                f"worker-{rng.randint(0, 15)}] {body} req={rid}")

    def ls_line(self):
        rng = self.rng
        is_dir = rng.random() < 0.2
        name = rng.choice(self.files)
        mode = "drwxr-xr-x" if is_dir else rng.choice(("-rw-r--r--", "-rwxr-xr-x", "-rw-------"))
        color = COLORS[0] if is_dir else (COLORS[1] if "x" in mode[3] else "")
        shown = f"{color}{name}{RESET}" if color else name
        return (f"{mode} {rng.randint(1, 40):>3} {rng.choice(self.users):<8} "
                f"{rng.choice(self.users):<8} {rng.randint(0, 9_999_999):>8} "
                f"{rng.choice(('Jan', 'Mar', 'Jun', 'Sep', 'Nov'))} {rng.randint(1, 28):>2} "
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d} {shown}")

    def build_line(self):
        rng = self.rng
        r = rng.random()
        f = rng.choice(self.files)
        if r < 0.4:
            return (f"\x1b[1m\x1b[32m   Compiling{RESET} {f.split('.')[0]} "
                    f"v{rng.randint(0, 3)}.{rng.randint(0, 40)}.{rng.randint(0, 20)}")
        if r < 0.75:
            return f"gcc -O2 -Wall -fPIC -c src/{f} -o build/{f.split('.')[0]}.o"
        if r < 0.9:
            return (f"\x1b[1m\x1b[33mwarning{RESET}\x1b[1m: {self.message()}{RESET}\r\n"
                    f"  --> src/{f}:{rng.randint(1, 900)}:{rng.randint(1, 80)}")
        name = self.phrase(1, 3).replace(" ", "_")
        return f"test {f.split('.')[0]}::{name} ... \x1b[32mok{RESET}"

    def ps_line(self):
        rng = self.rng
        return (f"{rng.choice(self.users):<9}{rng.randint(1, 99999):>6} "
                f"{rng.random() * 40:4.1f} {rng.random() * 20:4.1f} "
                f"{rng.randint(1000, 9_000_000):>8} {rng.randint(100, 900_000):>7} "
                f"pts/{rng.randint(0, 9)}    S    {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
                f"   0:{rng.randint(0, 59):02d} {rng.choice(PROGRAMS)} "
                f"{self.phrase(0, 3)}")

    def git_line(self):
        rng = self.rng
        return (f"\x1b[33m{rng.getrandbits(28):07x}{RESET} {self.phrase(3, 9).capitalize()} "
                f"({rng.choice(self.users)})")

    def sql_line(self):
        rng = self.rng
        return (f"{rng.choice(self.hosts)}=# SELECT {', '.join(rng.sample(self.words[40:300], 3))} "
                f"FROM {rng.choice(self.words[40:300])} WHERE id = {rng.randint(1, 10**6)};")

    def trace_line(self):
        rng = self.rng
        if rng.random() < 0.5:
            return (f'  File "/srv/app/{rng.choice(self.files)}", line {rng.randint(1, 2000)}, '
                    f"in {self.phrase(1, 2).replace(' ', '_')}")
        return f"    {self.phrase(2, 7).replace(' ', '.')}()"

    def dmesg_line(self):
        rng = self.rng
        return (f"[{rng.randint(0, 999999):>6}.{rng.randint(0, 999999):06d}] "
                f"{rng.choice(('eth0', 'nvme0n1', 'ext4', 'systemd', 'audit', 'usb 1-1'))}: "
                f"{self.message()}")

    def any_line(self):
        r = self.rng.random()
        if r < 0.62:
            return self.app_log()
        if r < 0.72:
            return self.ls_line()
        if r < 0.80:
            return self.build_line()
        if r < 0.85:
            return self.ps_line()
        if r < 0.89:
            return self.git_line()
        if r < 0.93:
            return self.sql_line()
        if r < 0.96:
            return self.trace_line()
        return self.dmesg_line()

    def block(self, size, maker=None):
        """About `size` bytes of whole CR LF lines."""
        maker = maker or self.any_line
        out, n = [], 0
        while n < size:
            line = maker() + "\r\n"
            out.append(line)
            n += len(line)
        return "".join(out).encode()


def record(kind, time_us, data=b""):
    return struct.pack(">BqI", kind, time_us, len(data)) + data


class SpoolWriter:
    """Appends records to a spool file, buffered."""

    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(MAGIC)
        self.output_bytes = 0
        self.records = 0
        self.first = None
        self.last = None

    def output(self, time_us, data):
        self.f.write(record(OUTPUT, time_us, data))
        self.output_bytes += len(data)
        self.records += 1
        self.first = time_us if self.first is None else self.first
        self.last = time_us

    def close(self, time_us):
        """The `closed` record pane-pipe writes at end of input, then closes the file."""
        self.f.write(record(CLOSED, time_us))
        self.f.close()


PROMPT = "\x1b[01;32m{user}@{host}\x1b[00m:\x1b[01;34m~/{dir}\x1b[00m$ "
COMMANDS = (("ls -la", "ls"), ("git log --oneline -n 12", "git"), ("ps aux | head -40", "ps"),
            ("tail -n 40 /var/log/app/current", "log"), ("make -j2", "build"),
            ("psql -c 'select ...'", "sql"), ("python3 manage.py check", "trace"),
            ("dmesg | tail -n 30", "dmesg"), ("journalctl -u app -n 50 --no-pager", "log"),
            ("cargo test", "build"))


def interactive(seed, t0_us, seconds, plant=None):
    """Records (time µs, bytes) of a person working at a shell for `seconds`, from `t0_us`.

    `plant`: {second offset: text} lines printed by a command at about that time (used to put
    recognisable lines at known times).
    """
    text = Text(seed, made_words=4000)
    rng = text.rng
    plant = dict(plant or {})
    t = t0_us
    end = t0_us + int(seconds * 1e6)
    user, host = "ops", "web-3"
    next_burst = t0_us + int(rng.uniform(600, 1200) * 1e6)
    makers = {"ls": text.ls_line, "git": text.git_line, "ps": text.ps_line,
              "log": text.app_log, "build": text.build_line, "sql": text.sql_line,
              "trace": text.trace_line, "dmesg": text.dmesg_line}
    while t < end:
        text.clock = (t - t0_us) // 1_000_000 + 8 * 3600
        prompt = PROMPT.format(user=user, host=host,
                               dir=rng.choice(("deploy", "src/api", "srv", "logs")))
        yield t, ("\r\n" + prompt).encode()
        bursting = t >= next_burst
        if bursting:
            cmd, kind = rng.choice((("make -j2 2>&1 | tee build.log", "build"),
                                    ("tail -f /var/log/app/current", "log")))
        else:
            cmd, kind = rng.choice(COMMANDS)
        t += int(rng.uniform(0.4, 2.5) * 1e6)  # thinking
        for ch in cmd:  # typing, echoed one key at a time
            yield t, ch.encode()
            t += int(rng.uniform(0.06, 0.22) * 1e6)
        yield t, b"\r\n"
        t += int(rng.uniform(0.005, 0.05) * 1e6)
        due = [k for k in plant if t0_us + k * 1e6 <= t]
        if bursting:
            total = rng.randint(2 << 20, 6 << 20)
            done = 0
            while done < total:
                piece = text.block(rng.randint(16 << 10, 64 << 10), makers[kind])
                yield t, piece
                done += len(piece)
                t += int(rng.uniform(0.002, 0.04) * 1e6)
            if kind == "log":
                yield t, b"^C"
            next_burst = t + int(rng.uniform(600, 1200) * 1e6)
        else:
            out = text.block(rng.randint(300, 6000), makers[kind])
            for k in due:
                out += plant.pop(k).encode() + b"\r\n"
            for i in range(0, len(out), 4096):
                yield t, out[i:i + 4096]
                t += int(rng.uniform(0.001, 0.01) * 1e6)
        t += int(rng.uniform(2, 9) * 1e6)


def log_stream(seed, t0_us, seconds, total, plants=(), pool_lines=200_000):
    """Records of busy output: about `total` bytes spread evenly over `seconds` from `t0_us`.

    Lines come from a pool of `pool_lines` generated lines (so that a gigabyte takes seconds,
    not minutes, to write), each use of a log line with its own request id and the time of
    its write: every line is varied, every request id unique, as in a real log.
    `plants`: (byte offset, line) pairs; each line is put into the stream at about that
    offset. Yields (time µs, bytes).
    """
    text = Text(seed)
    rng = text.rng
    pool = []
    for _ in range(pool_lines):
        text.clock = rng.randint(0, 86400 * 8)
        line = text.any_line().replace("%", "%%")
        if " req=" in line and line[:4] == "2026":
            # The stamp and the request id become fresh for every use of the line.
            line = "%(t)s" + line[24:line.rindex(" req=") + 5] + "%(r)s"
        pool.append(line + "\r\n")
    plants = sorted(plants)
    step_us = seconds * 1e6 / max(1, total)
    done = 0
    while done < total:
        size = min(total - done, rng.randint(16 << 10, 128 << 10))
        t = t0_us + int(done * step_us)
        s = int(done * step_us / 1e6) + 8 * 3600
        stamp = (f"2026-11-{20 + (s // 86400) % 9:02d}T{(s // 3600) % 24:02d}:"
                 f"{(s // 60) % 60:02d}:{s % 60:02d}.")
        at = rng.randrange(len(pool))
        lines, n, i = [], 0, 0
        room = size // 30 + 64  # more ids than lines
        ids = rng.getrandbits(32 * room).to_bytes(4 * room, "big").hex()
        while n < size:
            line = pool[(at + i) % len(pool)] % {"t": f"{stamp}{i % 1000:03d}Z",
                                                  "r": ids[8 * i:8 * i + 8]}
            lines.append(line)
            n += len(line)
            i += 1
        piece = "".join(lines).encode()
        while plants and plants[0][0] <= done + len(piece):
            _, line = plants.pop(0)
            cut = piece.rfind(b"\r\n", 0, len(piece) // 2) + 2
            piece = piece[:cut] + line.encode() + b"\r\n" + piece[cut:]
        yield t, piece
        done += len(piece)
