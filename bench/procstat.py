"""What the kernel says a process used: CPU time, wake-ups, memory — read from /proc.

- CPU: utime+stime of /proc/PID/stat (all threads, in clock ticks, usually 10 ms) plus
  cutime+cstime (children it has reaped), and the sum of /proc/PID/task/*/schedstat (ns on CPU,
  per thread) as a finer cross-check.
- Wake-ups: voluntary context switches summed over the threads in /proc/PID/task/*/status (a
  thread that blocks and is woken again counts one). A thread that ends during a window takes
  its count with it, so this can only undercount.
- Memory: VmRSS and VmHWM (peak RSS) of /proc/PID/status.
"""

import os
from dataclasses import dataclass, field

TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    """Fields 3.. of /proc/PID/stat (after the parenthesised command name)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def _status(path):
    """The `Key: value` lines of a /proc status file, as a dict of strings."""
    with open(path) as f:
        return dict(line.split(":", 1) for line in f if ":" in line)


@dataclass
class Usage:
    """One reading of a process's CPU use and wake-ups."""
    ticks: int                # utime + stime, all threads
    child_ticks: int          # cutime + cstime, reaped children
    run_ns: dict = field(default_factory=dict)     # thread id -> ns on CPU
    voluntary: dict = field(default_factory=dict)  # thread id -> voluntary ctx switches


def usage(pid):
    """Reads CPU use and wake-ups of `pid` now."""
    f = _stat_fields(pid)
    reading = Usage(ticks=int(f[11]) + int(f[12]), child_ticks=int(f[13]) + int(f[14]))
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as sf:
                reading.run_ns[tid] = int(sf.read().split()[0])
            reading.voluntary[tid] = int(
                _status(f"/proc/{pid}/task/{tid}/status")["voluntary_ctxt_switches"])
        except FileNotFoundError:  # the thread ended while we looked
            continue
    return reading


@dataclass
class Spent:
    """What a process used between two readings."""
    cpu_s: float        # utime+stime+cutime+cstime, seconds
    run_s: float        # schedstat, seconds
    wakeups: int        # voluntary context switches
    wall_s: float

    @property
    def percent(self):
        """Share of one core, from the exact schedstat time."""
        return 100.0 * self.run_s / self.wall_s

    @property
    def wakeups_per_s(self):
        return self.wakeups / self.wall_s


def spent(before, after, wall_s):
    """The difference of two `Usage` readings taken `wall_s` seconds apart."""
    def grown(a, b):  # threads present at the end; a new thread counts from zero
        return sum(v - a.get(tid, 0) for tid, v in b.items())

    ticks = (after.ticks - before.ticks) + (after.child_ticks - before.child_ticks)
    return Spent(cpu_s=ticks / TICK, run_s=grown(before.run_ns, after.run_ns) / 1e9,
                 wakeups=grown(before.voluntary, after.voluntary), wall_s=wall_s)


def memory_kb(pid):
    """(VmRSS, VmHWM) of `pid` in kB."""
    s = _status(f"/proc/{pid}/status")
    return int(s["VmRSS"].split()[0]), int(s["VmHWM"].split()[0])

