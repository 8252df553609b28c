"""Benchmark: TopK SAE training throughput against the machine's dense matmul rate.

Trains ``alignlab.interpretability.train_sae`` on random Gaussian activations shaped like
SmolLM2-135M's residual stream (d_in 576, stored fp16 like an activation cache), expansion
8, k 32, batch 4096, one epoch, and reports training tokens/s and the achieved GFLOP/s of
the training step beside the dense fp32 matmul rate of the encoder's own shape, a
(batch, 576) @ (576, 4608) matmul, measured in the same run just before and after the
training (the higher of the two, so a neighbour slowing the machine does not flatter the
ratio).

FLOPs counted are those the step executes (multiply-adds x 2), per token:

- encoder forward, dense: 2·d_in·d_sae (the one dense matmul; the top-k needs every
  pre-activation);
- encoder backward, sparse on the k chosen latents: 2·k·d_in for W_enc's gradient and
  2·k·d_in for the gradient to the input (b_dec);
- decoder forward and backward on the k codes: 2·k·d_in, then 2·k·d_in each for W_dec's
  and the codes' gradients;
- AuxK, on steps with dead latents: the same five sparse terms with k_aux latents.

Not counted: the top-k selection, biases, the loss, Adam, the projections and norms. A
dense trainer would execute about 6·d_in·d_sae per token for the same step; that
``dense_equivalent_gflops`` is recorded too, as the speed a dense implementation would need.

Writes ``bench/results/sae-<UTC time>.json``.

    python bench/sae.py [--tokens 100000] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone

import torch
from _record import write_record

from alignlab.interpretability import SAETrainConfig, train_sae
from alignlab.machine import machine_record
from alignlab.threads import torch_threads


def matmul_rate(batch: int, d_in: int, d_sae: int, seconds: float = 2.0) -> float:
    """Best GFLOP/s of ``x @ W_enc``, (batch, d_in) @ (d_in, d_sae), fp32, over ~``seconds``.

    Timed both into a fresh result and into a reused one (the trainer reuses its buffer;
    a fresh 75 MB result pays first-touch page faults), and the faster counts: the limit
    is the kernel's own rate.
    """
    x, W, out = torch.randn(batch, d_in), torch.randn(d_in, d_sae), torch.empty(batch, d_sae)
    x @ W  # warm-up: kernel choice, thread pool
    best, deadline, runs = 0.0, time.perf_counter() + seconds, 0
    while runs < 4 or time.perf_counter() < deadline:
        start = time.perf_counter()
        if runs % 2:
            torch.mm(x, W, out=out)
        else:
            x @ W
        best = max(best, 2 * batch * d_in * d_sae / (time.perf_counter() - start) / 1e9)
        runs += 1
    return best


def step_flops(n: int, d_in: int, d_sae: int, k: int, k_aux: int, aux: bool) -> float:
    """FLOPs one training step executes on ``n`` tokens (see the module docstring)."""
    sparse = 5 * 2 * n * k * d_in
    return 2 * n * d_in * d_sae + sparse + (5 * 2 * n * k_aux * d_in if aux else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=100_000, help="training rows (one epoch)")
    parser.add_argument("--d-in", type=int, default=576, help="SmolLM2-135M's d_model")
    parser.add_argument("--expansion", type=int, default=8)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    d_sae = args.expansion * args.d_in
    X = torch.randn(args.tokens, args.d_in, generator=torch.Generator().manual_seed(0)).half()
    config = SAETrainConfig(expansion=args.expansion, k=args.k, batch_size=args.batch_size, seed=0)
    with torch_threads(args.threads) as threads:
        rate_before = matmul_rate(args.batch_size, args.d_in, d_sae)
        sae, history = train_sae(X, config)
        rate_after = matmul_rate(args.batch_size, args.d_in, d_sae)
    s = history["summary"]
    # the steps' own batch sizes (equal-ish splits of the rows) and whether AuxK ran
    sizes = [len(rows) for rows in torch.tensor_split(torch.arange(args.tokens), s["steps"])]
    flops = sum(step_flops(n, args.d_in, d_sae, args.k, s["k_aux"], dead > 0)
                for n, dead in zip(sizes, history["dead_fraction"], strict=True))
    gflops = flops / s["seconds"] / 1e9
    rate = max(rate_before, rate_after)
    row = {
        "tokens": s["tokens"], "steps": s["steps"], "d_in": args.d_in, "d_sae": d_sae, "k": args.k,
        "k_aux": s["k_aux"], "batch_size": s["batch_size"], "threads": threads, "storage_dtype": "float16",
        "compute_dtype": str(sae.W_enc.dtype).removeprefix("torch."), "seconds": round(s["seconds"], 3),
        "tokens_per_s": round(s["tokens_per_s"], 1), "aux_steps": sum(d > 0 for d in history["dead_fraction"]),
        "final_dead_fraction": s["dead_fraction"], "final_fvu": history["fvu"][-1],
        "achieved_gflops": round(gflops, 2),
        "dense_equivalent_gflops": round(6 * s["tokens"] * args.d_in * d_sae / s["seconds"] / 1e9, 2),
        "matmul_gflops_before": round(rate_before, 2), "matmul_gflops_after": round(rate_after, 2),
        "matmul_gflops": round(rate, 2), "fraction_of_matmul": round(gflops / rate, 3),
    }
    print(f"TopK SAE d_in {args.d_in} x{args.expansion} k {args.k}: {row['tokens_per_s']:.0f} tokens/s, "
          f"{gflops:.1f} GFLOP/s executed ({row['dense_equivalent_gflops']:.1f} dense-equivalent) vs "
          f"{rate:.1f} GFLOP/s fp32 matmul ({args.batch_size}x{args.d_in} @ {args.d_in}x{d_sae}) = "
          f"{gflops / rate:.2f} of the matmul rate; {threads} threads, {s['steps']} steps")
    out = write_record("sae", {"benchmark": "sae", "time": datetime.now(timezone.utc).isoformat(),
                               "machine": machine_record(), **row})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
