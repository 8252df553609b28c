"""Benchmark: the sparse-pixel debate at k=6 over 300 test images, 1,000 rollouts per move.

Target: under 10 minutes on 2 cores. In the same run it measures judge evaluations per
second of the batched search (one judge call scores a leaf of every game in the batch)
against an unbatched search (one game at a time, one leaf per judge call), on the same
machine under the same load, and the judge alone at batch 1 vs batch 450.

    python bench/debate.py            # writes bench/results/debate.json and a run record

Pass --quick for a smoke run (a few images; its JSON goes to bench/results/debate-quick.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from alignlab.machine import machine_record
from alignlab.oversight.debate import MCTS, DebateBatch, DebateConfig, SparseJudge, load_split, play
from alignlab.oversight.debate._judge import sample_pixels

TARGET_S = 600.0


def _unbatched(judge: SparseJudge, split, n_images: int, rollouts: int) -> dict:
    """Full games, one game at a time: each simulation is one judge call on one leaf."""
    images, labels = split.test_x[:n_images], split.test_y[:n_images]
    bound = judge.bind(images)
    logw = np.where(images > 0, np.log(5.0), 0.0)
    t0 = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):  # same threading as the batched run
        _play_one_at_a_time(bound, labels, logw, n_images, rollouts)
    dt = time.perf_counter() - t0
    return {"games": n_images, "seconds": dt, "judge_evals": bound.n_evals,
            "judge_calls": bound.n_calls, "judge_evals_per_second": bound.n_evals / dt}


def _play_one_at_a_time(bound, labels, logw, n_images: int, rollouts: int) -> None:
    for i in range(n_images):
        batch = DebateBatch(bound, np.array([i]), labels[i:i + 1], (labels[i:i + 1] + 1) % 10,
                            6, "honest", np.ones(64, bool), logw[i:i + 1])
        play(batch, MCTS(rollouts, seed=0), MCTS(rollouts, seed=1))


def _judge_only(judge: SparseJudge, split, batch: int, reps: int) -> float:
    """Judge evaluations per second at a fixed batch size, no search around it."""
    bound = judge.bind(split.test_x)
    rng = np.random.default_rng(0)
    rows = rng.integers(0, len(split.test_x), batch)
    pix = sample_pixels(split.test_x[rows], 6, rng)
    t0 = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):  # as run_debate's search does
        for _ in range(reps):
            bound.logits(rows, pix)
    return batch * reps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    from alignlab.oversight.debate import record_debate

    cfg = DebateConfig(k=6, images=12 if args.quick else 300, rollouts=1000)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    rec = record_debate(cfg)
    wall = time.perf_counter() - t0
    r = rec.result

    split = load_split()
    judge = SparseJudge(k=6, epochs=50).fit(split.train_x, split.train_y)  # speed only
    unb = _unbatched(judge, split, 2 if args.quick else 4, cfg.rollouts)
    batched_eps = r["timing"]["judge_evals_per_second"]
    out = {
        "benchmark": "debate",
        "config": cfg.model_dump(mode="json"),
        "wall_seconds": wall,
        "target_seconds": TARGET_S,
        "meets_target": wall < TARGET_S,
        "seconds_judge_training": r["timing"]["seconds_judge_training"],
        "seconds_debate": r["timing"]["seconds_debate"],
        "games": r["n_games"],
        "judge_evals": r["timing"]["judge_evals"],
        "judge_calls": r["timing"]["judge_calls"],
        "batched_judge_evals_per_second": batched_eps,
        "unbatched": unb,
        "speedup_batched_over_unbatched": batched_eps / unb["judge_evals_per_second"],
        "judge_only_evals_per_second": {"batch_1": _judge_only(judge, split, 1, 20000),
                                        "batch_450": _judge_only(judge, split, 450, 400)},
        "judge_alone": r["judge_alone"],
        "debate": r["debate"],
        "run_record": str(rec.path),
        "machine": {**machine_record(), "python": sys.version.split()[0], "loadavg_before": load_before,
                    "loadavg_after": os.getloadavg(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
        "git_commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True,
                                     text=True).stdout.strip(),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = Path(__file__).parent / "results" / ("debate-quick.json" if args.quick else "debate.json")
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"k=6, {r['n_images']} images, {r['n_games']} games, {cfg.rollouts} rollouts/move: "
          f"{wall:.0f}s wall (target {TARGET_S:.0f}s)")
    print(f"judge alone {r['judge_alone']['value']:.3f}  debate {r['debate']['value']:.3f}")
    print(f"batched search {batched_eps:,.0f} judge evals/s; unbatched "
          f"{unb['judge_evals_per_second']:,.0f}/s; x{out['speedup_batched_over_unbatched']:.1f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
