"""Benchmark: GCG search steps per second against a one-candidate-at-a-time loop.

One GCG step is a gradient (one forward and backward) plus the exact loss of
``search_width`` candidate suffixes. ``alignlab.adversarial.gcg`` scores the candidates in
batches of ``batch_size`` and runs the part of the input before the suffix (chat template,
system prompt, message) once, reusing its key/value cache; the baseline, measured in the
same run on the same candidates, is the straightforward loop: one full forward per
candidate, no cache. Both give the same losses (their largest difference is recorded).

Also recorded: the FLOPs the batched step executes (2 x non-embedding parameters per token
scored, plus the LM head on the target's positions; attention's score matmuls not
counted) as GFLOP/s beside the machine's dense fp32 matmul rate on the model's MLP shape,
measured in the same run (the higher of before and after).

Writes ``bench/results/gcg-<UTC time>.json``.

    python bench/gcg.py [--model smollm2-135m] [--width 32] [--steps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone

import torch
from _record import write_record

from alignlab.machine import machine_record
from alignlab.threads import torch_threads

MESSAGE, TARGET = "What is the capital of Peru?", "Scout and her"


def matmul_rate(rows: int, d: int, d_ff: int, seconds: float = 2.0) -> float:
    """Best GFLOP/s of a (rows, d) @ (d, d_ff) fp32 matmul over ~``seconds``."""
    x, W = torch.randn(rows, d), torch.randn(d, d_ff)
    x @ W
    best, deadline, runs = 0.0, time.perf_counter() + seconds, 0
    while runs < 4 or time.perf_counter() < deadline:
        start = time.perf_counter()
        x @ W
        best = max(best, 2 * rows * d * d_ff / (time.perf_counter() - start) / 1e9)
        runs += 1
    return best


def naive_losses(lm, problem, candidates: torch.Tensor) -> torch.Tensor:
    """One full forward per candidate, no cache: the straightforward loop."""
    before, tail = torch.tensor(problem.before), problem.tail.cpu()
    n_t = len(problem.target)
    out = []
    with torch.no_grad():
        for cand in candidates:
            ids = torch.cat([before, cand.cpu(), tail])[None]
            logits = lm.model(input_ids=ids, use_cache=False).logits[0, -n_t - 1:-1].float()
            out.append(torch.nn.functional.cross_entropy(logits, problem.target_t.cpu()))
    return torch.stack(out)


def main() -> None:
    from alignlab.adversarial._gcg import (
        GCGConfig,
        _candidates,
        _Problem,
        allowed_tokens,
        initial_suffix,
    )
    from alignlab.models import load_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--width", type=int, default=32, help="candidates per step (search_width)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--suffix-tokens", type=int, default=20)
    parser.add_argument("--steps", type=int, default=3, help="steps timed per implementation")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    lm = load_model(args.model)
    config = GCGConfig(suffix_tokens=args.suffix_tokens, search_width=args.width, batch_size=args.batch_size,
                       top_k=128)
    problem = _Problem(lm, MESSAGE, TARGET)
    allowed = allowed_tokens(lm.tokenizer, lm.model.get_input_embeddings().weight.shape[0])
    allowed_ids = allowed.nonzero().flatten()
    suffix = torch.tensor(initial_suffix(lm, args.suffix_tokens))
    gen = torch.Generator().manual_seed(0)
    cfg = lm.model.config
    with torch_threads(args.threads) as threads:
        rate_before = matmul_rate(args.width * 30, cfg.hidden_size, cfg.intermediate_size)
        steps = [_candidates(problem, suffix, allowed, allowed_ids, config, gen) for _ in range(args.steps)]
        t0 = time.perf_counter()
        batched = [problem.losses(c, args.batch_size)[0] for c in steps]
        grads_t = time.perf_counter()
        for _ in steps:
            problem.gradient(suffix)
        t1 = time.perf_counter()
        naive = [naive_losses(lm, problem, c) for c in steps]
        t2 = time.perf_counter()
        rate_after = matmul_rate(args.width * 30, cfg.hidden_size, cfg.intermediate_size)
    grad_s = (t1 - grads_t) / args.steps
    batched_s = (grads_t - t0) / args.steps + grad_s
    naive_s = (t2 - t1) / args.steps + grad_s
    n_cand = sum(len(c) for c in steps) / args.steps
    embed = lm.model.get_input_embeddings().weight
    params = sum(p.numel() for p in lm.model.parameters()) - embed.numel()
    scored = args.suffix_tokens + len(problem.tail)  # tokens per candidate after the cached prefix
    flops = n_cand * (2 * params * scored + 2 * embed.numel() * (len(problem.target) + 1))
    gflops = flops / ((grads_t - t0) / args.steps) / 1e9
    rate = max(rate_before, rate_after)
    diff = max(float((a - b).abs().max()) for a, b in zip(batched, naive))
    row = {
        "model": args.model, "dtype": lm.dtype, "threads": threads, "search_width": args.width,
        "candidates_per_step": round(n_cand, 1), "batch_size": args.batch_size, "suffix_tokens": args.suffix_tokens,
        "prefix_tokens": len(problem.before), "tail_tokens": len(problem.tail), "steps_timed": args.steps,
        "gradient_s": round(grad_s, 3), "batched_step_s": round(batched_s, 3), "naive_step_s": round(naive_s, 3),
        "batched_steps_per_s": round(1 / batched_s, 4), "naive_steps_per_s": round(1 / naive_s, 4),
        "speedup": round(naive_s / batched_s, 2), "max_loss_difference": diff,
        "candidate_gflops": round(gflops, 2), "matmul_gflops_before": round(rate_before, 2),
        "matmul_gflops_after": round(rate_after, 2), "matmul_gflops": round(rate, 2),
        "fraction_of_matmul": round(gflops / rate, 3),
    }
    print(f"GCG on {args.model} ({lm.dtype}, {threads} threads), {n_cand:.0f} candidates/step: batched + cached "
          f"{batched_s:.2f} s/step vs one at a time {naive_s:.2f} s/step = {naive_s / batched_s:.2f}x; candidate "
          f"scoring at {gflops:.1f} GFLOP/s = {gflops / rate:.2f} of the {rate:.1f} GFLOP/s matmul rate; "
          f"losses agree to {diff:.1e}")
    out = write_record("gcg", {"benchmark": "gcg", "time": datetime.now(timezone.utc).isoformat(),
                               "machine": machine_record(), **row})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
