"""Benchmark: fitting every truth probe at every layer from cached activations, and
CCS's vectorised restarts against a straightforward one-restart-at-a-time loop.

In one run, on gemma3-270m (default) and N contrast pairs of a task (default 2,000
sarcasm headlines, both completions, last token, every block; extracted once and then
read from the activation cache):

- every probe (logistic, mass-mean, CCS with R restarts, CRC) is fitted at every layer
  and timed;
- the reference CCS — a plain PyTorch loop over restarts, each an ``nn.Linear`` +
  sigmoid trained with AdamW on the same loss, epochs, learning rate and data — is timed
  on the same layers as our vectorised CCS in the same run (``--ratio-layers``), so
  load from neighbours affects both alike. Target (issue 4): >= 3x faster.

Both run with one torch thread (fastest for these small matmuls on a shared CPU).
Writes ``bench/results/probes-<UTC time>.json``.

    python bench/probes.py [--model gemma3-270m] [--task sarcasm] [--n 2000] [--ratio-layers 3]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone

import numpy as np
import torch

from _record import write_record

from alignlab.activations import task_activations
from alignlab.data import contrast_tasks, load_task
from alignlab.interpretability import CCS, CRC, LogisticProbe, MassMeanProbe, PairNormalizer, ccs_loss
from alignlab.machine import machine_record
from alignlab.models import load_model
from alignlab.threads import torch_threads


def reference_ccs(X: np.ndarray, n_restarts: int, n_epochs: int, lr: float, weight_decay: float,
                  seed: int = 0) -> float:
    """The textbook loop: normalise, then one restart at a time, one probe module each.
    Returns the best final loss."""
    S = PairNormalizer(scale="norm").fit_transform(X)
    neg, pos = torch.tensor(S[:, 0], dtype=torch.float32), torch.tensor(S[:, 1], dtype=torch.float32)
    torch.manual_seed(seed)
    best = float("inf")
    for _ in range(n_restarts):
        probe = torch.nn.Sequential(torch.nn.Linear(pos.shape[1], 1), torch.nn.Sigmoid())
        opt = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=weight_decay)
        for _ in range(n_epochs):
            opt.zero_grad()
            loss = ccs_loss(probe(pos)[:, 0], probe(neg)[:, 0])
            loss.backward()
            opt.step()
        with torch.no_grad():
            best = min(best, float(ccs_loss(probe(pos)[:, 0], probe(neg)[:, 0])))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--task", default="sarcasm")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--restarts", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--ratio-layers", type=int, default=3, help="layers (evenly spaced) timed for the ratio")
    args = ap.parse_args()
    with torch_threads(1):  # many small fits: one thread is fastest (alignlab.threads)
        _bench(args)


def _bench(args) -> None:
    task = load_task(args.task).subset(args.n, seed=0)
    lm = load_model(args.model)
    t0 = time.perf_counter()
    acts = np.stack([task_activations(lm, side, range(lm.n_layers), "last").float().numpy()
                     for side in contrast_tasks(task)], axis=1)  # (n, 2, L, d)
    load_s = time.perf_counter() - t0
    y = task.labels
    n_layers = acts.shape[2]
    cfg = dict(n_restarts=args.restarts, n_epochs=args.epochs, lr=1e-2, weight_decay=0.01)

    per_probe = {name: 0.0 for name in ("logistic", "mass_mean", "ccs", "crc")}
    for layer in range(n_layers):
        X = acts[:, :, layer]
        for name, probe in (("logistic", LogisticProbe()), ("mass_mean", MassMeanProbe()),
                            ("ccs", CCS(**cfg)), ("crc", CRC())):
            t = time.perf_counter()
            probe.fit(X, y if name in ("logistic", "mass_mean") else None)
            per_probe[name] += time.perf_counter() - t

    ratio_layers = np.linspace(0, n_layers - 1, args.ratio_layers).round().astype(int).tolist()
    ours_s = ref_s = 0.0
    losses = []
    for layer in ratio_layers:
        X = acts[:, :, layer]
        t = time.perf_counter()
        ours = CCS(**cfg).fit(X)
        ours_s += time.perf_counter() - t
        t = time.perf_counter()
        ref_loss = reference_ccs(X, **cfg)
        ref_s += time.perf_counter() - t
        losses.append({"layer": layer, "ours": ours.loss_, "reference": ref_loss})

    record = {
        "benchmark": "probes", "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": lm.name, "task": task.name, "n_pairs": len(task), "n_layers": n_layers, "d_model": lm.d_model,
        "activations_load_s": load_s, "ccs": cfg,
        "fit_all_layers_s": per_probe, "fit_all_layers_total_s": sum(per_probe.values()),
        "ccs_ratio": {"layers": ratio_layers, "vectorised_s": ours_s, "reference_loop_s": ref_s,
                      "speedup": ref_s / ours_s, "target": 3.0, "best_losses": losses},
        "machine": machine_record(),
    }
    path = write_record("probes", record)
    print(json.dumps({k: record[k] for k in ("fit_all_layers_s", "ccs_ratio")}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
