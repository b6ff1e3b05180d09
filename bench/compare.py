"""Before and after: the view benchmarks (seek, search, verify) and attach-to-commit latency,
measured for two binaries in one run, in alternating order, each binary on stores its own
daemon made (a store of one version is not read by the other: schema 2 vs 3).

    BENCH_BEFORE=/path/old/tmux-audit BENCH_AFTER=target/release/tmux-audit bench/run-compare

Knobs as for run-views (BENCH_RECORDING_HOURS, BENCH_SEEK_RUNS, BENCH_SEARCH_MB,
BENCH_SEARCH_RUNS, ...) and BENCH_ATTACHES (attaches per binary). Writes the raw facts of both
to bench/results/compare-latest.json and prints them; the issue notes quote the medians.
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import latency  # noqa: E402
import views  # noqa: E402
from report import snapshot_binary  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    binaries = {"before": os.environ["BENCH_BEFORE"], "after": os.environ["BENCH_AFTER"]}
    knobs = {name: int(os.environ.get(name, default)) for name, default in views.KNOBS.items()}
    attaches = int(os.environ.get("BENCH_ATTACHES", "50"))
    facts = {name: {} for name in binaries}
    with tempfile.TemporaryDirectory(prefix="tmux-audit-compare-") as tmp:
        copies = {}
        for name, path in binaries.items():
            os.makedirs(os.path.join(tmp, name))
            copies[name], facts[name]["build"] = snapshot_binary(REPO, path, os.path.join(tmp, name))
        parts = [
            ("seek", ["before", "after"], lambda b, d: views.seek_part(b, d, knobs)),
            ("search", ["after", "before"], lambda b, d: views.search_part(b, d, knobs)),
            ("attach", ["before", "after"], lambda b, d: latency.measure_ours(b, d, attaches)),
        ]
        for part, order, run in parts:
            for name in order:
                work = os.path.join(tmp, name, part)
                os.makedirs(work)
                views.progress(f"{part}: {name}")
                facts[name][part] = run(copies[name], work)
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    out = os.path.join(REPO, "bench", "results", "compare-latest.json")
    with open(out, "w") as f:
        json.dump({"knobs": knobs, "attaches": attaches, "facts": facts}, f, indent=1,
                  default=str)
    print(out)


if __name__ == "__main__":
    main()
