"""Benchmark: every weak-to-strong method x 5 seeds for one pair and task, from cached
activations (issue 3 target: under 60 s on 2 cores).

In one run, for ``--weak`` -> ``--strong`` on ``--task`` (``--mid`` for bootstrap):

- activations are made cached first (that time is reported, not counted);
- then each method runs through ``run_w2s(force=True)`` into a temporary runs folder,
  timed end to end, with the time inside model loading, activation-cache reads and
  model forward passes (extraction; zero when the cache is warm) measured by wrapping
  those functions — the rest is the protocol itself (heads, methods, bootstraps);
- as a reference in the same run, the same number of heads is fitted with
  scikit-learn's ``LogisticRegression`` (lbfgs) on the same features, and the ratio of
  our Adam heads' time to it is reported.

Writes ``bench/results/w2s-<UTC time>.json``.

    python bench/w2s.py [--weak minilm-l6] [--strong gemma3-270m] [--mid smollm2-135m] [--task sarcasm]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone

import numpy as np

from _record import write_record

from alignlab.machine import machine_record

METHODS = ("xent", "aux_conf", "conf_filter", "bootstrap", "knn_smooth")


@contextmanager
def timed(module, name: str, totals: dict):
    """Wrap ``module.name`` so calls add their wall time to ``totals[name]``."""
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - start

    setattr(module, name, wrapper)
    try:
        yield
    finally:
        setattr(module, name, original)


def sklearn_reference(X: np.ndarray, y: np.ndarray, n_heads: int) -> float:
    """Seconds to fit ``n_heads`` LogisticRegression(C=1) heads on standardised rows."""
    from sklearn.linear_model import LogisticRegression

    Z = (X - X.mean(0)) / (X.std(0) + 1e-6)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(n_heads):
        rows = rng.permutation(len(y))[: len(y) * 3 // 8]  # a B-sized draw
        LogisticRegression(C=1.0, max_iter=1000).fit(Z[rows], y[rows])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weak", default="minilm-l6")
    parser.add_argument("--strong", default="gemma3-270m")
    parser.add_argument("--mid", default="smollm2-135m")
    parser.add_argument("--task", default="sarcasm")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()

    import alignlab.activations
    import alignlab.models
    from alignlab.generalization import W2SConfig, run_w2s

    base = W2SConfig(weak=args.weak, strong=args.strong, task=args.task, n_examples=args.n,
                     seeds=tuple(range(args.seeds)))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run_w2s(base.model_copy(update={"method": "xent"}), tmp, force=True)  # makes the cache warm
        run_w2s(base.model_copy(update={"method": "bootstrap", "mid": args.mid}), tmp, force=True)
        warmup = time.perf_counter() - start

        per_method, totals = {}, {}
        with (timed(alignlab.models, "load_model", totals), timed(alignlab.activations, "task_activations", totals),
              timed(alignlab.models, "extract", totals)):
            start = time.perf_counter()
            for method in METHODS:
                config = base.model_copy(update={"method": method, "mid": args.mid if method == "bootstrap" else None})
                t0 = time.perf_counter()
                record = run_w2s(config, tmp, force=True)
                per_method[method] = {"seconds": round(time.perf_counter() - t0, 2),
                                      "pgr": record.result["summary"]["pgr"],
                                      "student": record.result["summary"]["student"]["value"]}
            total = time.perf_counter() - start

    from alignlab.activations import task_activations
    from alignlab.data import load_task
    from alignlab.models import load_model

    lm = load_model(args.strong)
    task = load_task(args.task).subset(args.n, seed=0)
    layer = int(round(base.layer_fraction * (lm.n_layers - 1)))
    X = task_activations(lm, task, layers=[layer], pooling=base.pooling, progress=False)[:, 0].float().numpy()
    n_heads = args.seeds * (3 * len(METHODS) + 2)  # weak, ceiling, student per method + bootstrap's 2 mid heads
    ours_heads = total - sum(totals.values())
    reference = sklearn_reference(X, task.labels, n_heads)

    record = {
        "benchmark": "w2s", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_record(),
        "setup": {"weak": args.weak, "strong": args.strong, "mid": args.mid, "task": args.task, "n": args.n,
                  "seeds": args.seeds, "methods": list(METHODS)},
        "warmup_seconds_not_counted": round(warmup, 1),
        "total_seconds_all_methods": round(total, 2),
        "target_seconds": 60,
        "breakdown_seconds": {"load_model": round(totals.get("load_model", 0.0), 2),
                              "activation_cache_reads": round(totals.get("task_activations", 0.0)
                                                              - totals.get("extract", 0.0), 2),
                              "model_forward_passes": round(totals.get("extract", 0.0), 2),
                              "protocol_heads_methods": round(ours_heads, 2)},
        "fraction_outside_forward_passes": round(1 - totals.get("extract", 0.0) / total, 4),
        "per_method": per_method,
        "reference_sklearn_lbfgs": {"heads": n_heads, "seconds": round(reference, 2),
                                    "ours_over_reference": round(ours_heads / reference, 2)},
        "note": "measured on a shared 2-core machine; other processes' load shows in load_average_1m",
    }
    out = write_record("w2s", record)
    print(json.dumps({k: record[k] for k in ("total_seconds_all_methods", "breakdown_seconds",
                                             "fraction_outside_forward_passes", "reference_sklearn_lbfgs")}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
