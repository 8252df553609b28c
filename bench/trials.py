"""Benchmark: what the experiment protocol costs per trial, beside the bare work.

A trivial variant (``planted``'s ``mean_diff``) on the toy testbed, three ways:

- bare: ``open`` + ``solve`` + ``score`` called in this process (the work itself);
- inline: a ``kind: trial`` run through ``runtime.execute`` — the run's lock, record,
  index row, log, the Problem folder, and the variant in a forked worker process;
- local: the same trials as one spec on the local executor (worker processes).

Reports seconds per trial and the overhead over bare (target: inline overhead < 50 ms),
plus the one-time start of the worker fork server. Run from the repository (the record's
git state is part of what a run costs). Writes ``bench/results/trials-<UTC time>.json``.

    python bench/trials.py [--n 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _record import write_record

from alignlab.machine import machine_record


def bare(n: int, folder: Path) -> float:
    from alignlab.protocol import Problem
    from alignlab.protocol.testbeds import TESTBEDS

    testbed = TESTBEDS.create("planted")
    config, variant = testbed.Config(), testbed.variants.create("mean_diff")

    def one(seed: int) -> None:
        problem = Problem(folder / f"bare-{seed}")
        secret = testbed.open(config, seed, problem)
        testbed.score(config, secret, variant.solve(problem, seed), seed)

    one(10_000)  # first-use imports (scipy for the Wilson interval) are not per-trial work
    start = time.perf_counter()
    for seed in range(n):
        one(seed)
    return (time.perf_counter() - start) / n


def inline(n: int, root: Path) -> tuple[float, float]:
    from alignlab.protocol._trial import TrialConfig
    from alignlab.runtime._job import execute
    from alignlab.runtime._spec import Job

    def one(seed: int) -> None:
        out = execute(Job("trial", TrialConfig(variant="mean_diff", seed=seed).model_dump(mode="json"), str(root)))
        assert out["status"] == "finished", out

    start = time.perf_counter()
    one(10_000)  # starts the fork server
    first = time.perf_counter() - start
    start = time.perf_counter()
    for seed in range(n):
        one(seed)
    return (time.perf_counter() - start) / n, first


def local(n: int, root: Path) -> float:
    from alignlab.runtime import parse_spec, run_spec

    spec = parse_spec({"kind": "trial", "variant": "mean_diff", "sweep": {"seed": list(range(20_000, 20_000 + n))}})
    start = time.perf_counter()
    result = run_spec(spec, executor="local", root=root, workers=2)
    assert not result.failed, result.failed
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bare_s = bare(args.n, tmp)
        inline_s, first_s = inline(args.n, tmp / "runs")
        local_s = local(args.n, tmp / "runs-local")
    row = {"n_trials": args.n, "bare_s": bare_s, "inline_s": inline_s, "inline_overhead_s": inline_s - bare_s,
           "inline_ratio": inline_s / bare_s, "local_s": local_s, "local_overhead_s": local_s - bare_s,
           "local_ratio": local_s / bare_s, "fork_server_start_s": first_s - inline_s,
           "target_inline_overhead_s": 0.05}
    print(f"per trial: bare {1000 * bare_s:.1f} ms; inline {1000 * inline_s:.1f} ms (overhead "
          f"{1000 * row['inline_overhead_s']:.1f} ms, {row['inline_ratio']:.1f}x); local {1000 * local_s:.1f} ms "
          f"(overhead {1000 * row['local_overhead_s']:.1f} ms, {row['local_ratio']:.1f}x); fork server start "
          f"{row['fork_server_start_s']:.2f} s once")
    out = write_record("trials", {"benchmark": "trials", "time": datetime.now(timezone.utc).isoformat(),
                                  "machine": machine_record(), **row})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
