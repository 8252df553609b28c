"""Benchmark: what each executor costs per run, on runs that do (almost) nothing.

A sweep of N ``trivial`` runs (no sleep, a hundred random numbers) goes through the
inline, local (2 workers) and Ray (local instance, 2 CPUs) executors, each into an
empty runs folder. Reported per executor: the wall time of the sweep, the start-up cost
(the first run's completion), the steady per-run overhead, and the time to answer the
same sweep again from disk (every run finished: the resume path). Every run writes
config.yaml, env.json (with a git call), result.json and the index row, so "inline"
is the floor any executor pays.

Writes ``bench/results/executors-<UTC time>.json``. Timings on a machine shared with
other jobs are noisy: the record carries the load average before and after.

    python bench/executors.py [--n 40] [--executors inline,local,ray]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import datetime, timezone

from _record import write_record

from alignlab.machine import machine_record
from alignlab.runtime import parse_spec, run_spec

OPTIONS = {"inline": {}, "local": {"workers": 2}, "ray": {"num_cpus": 2}}


def measure(executor: str, n: int) -> dict:
    spec = parse_spec({"kind": "trivial", "sweep": {"seed": list(range(n))}})
    with tempfile.TemporaryDirectory() as tmp:
        done_at: list[float] = []
        start = t0 = time.perf_counter()
        result = run_spec(spec, executor=executor, root=tmp, on_done=lambda o: done_at.append(time.perf_counter()),
                          **OPTIONS[executor])
        wall = time.perf_counter() - start
        assert all(o["status"] == "finished" for o in result.outcomes), result.failed
        inside = sum(o["seconds"] for o in result.outcomes)  # time inside execute(), per run, summed
        start = time.perf_counter()
        again = run_spec(spec, executor=executor, root=tmp, **OPTIONS[executor])
        resume = time.perf_counter() - start
        assert all(o["cached"] for o in again.outcomes)
    first = done_at[0] - t0
    steady = (done_at[-1] - done_at[0]) / (n - 1) if n > 1 else None
    return {"n_runs": n, "options": OPTIONS[executor], "wall_s": wall, "per_run_s": wall / n,
            "startup_s": first, "steady_per_run_s": steady, "seconds_inside_runs_sum": inside,
            "rerun_all_finished_s": resume}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--executors", default="inline,local,ray")
    args = parser.parse_args()
    import scipy.stats  # noqa: F401 — the sweep record's t-intervals import it once; not an executor's cost

    load_before = os.getloadavg()
    results = {name: measure(name, args.n) for name in args.executors.split(",")}
    record = {
        "benchmark": "executors", "time": datetime.now(timezone.utc).isoformat(), "machine": machine_record(),
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "note": ("per_run_s = sweep wall / n (start-up included); steady_per_run_s = spacing of completions after "
                 "the first (workers running in parallel: 2 of them); startup_s = time to the first completion. "
                 "The machine is shared with other engineers' jobs: compare executors within one record only."),
        "results": results,
    }
    out = write_record("executors", record)
    for name, r in results.items():
        print(f"{name:>7}: {r['wall_s']:.2f} s for {r['n_runs']} runs = {1000 * r['per_run_s']:.0f} ms/run "
              f"(first run after {r['startup_s']:.2f} s, then {1000 * (r['steady_per_run_s'] or 0):.0f} ms apart); "
              f"re-run from disk {1000 * r['rerun_all_finished_s']:.0f} ms")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
