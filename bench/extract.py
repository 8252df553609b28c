"""Benchmark: activation extraction throughput against a naive loop and the machine.

In one run, for each model, on the first N sarcasm headlines (rendered by the task's
template), every layer, mean pooling — the demo's workload:

- ``extract``: alignlab's batched path (length-bucketed, LM head skipped) in the dtype
  ``auto`` picks on this machine (bf16 where native, fp32 on an AVX2-only CPU);
- naive: one text at a time, fp32, the full model with ``output_hidden_states=True``;
- the limit: 2 x (non-embedding parameters) FLOPs per token at the matmul rate of the
  extract's dtype, measured in this same run just before and after the extract timing
  (the higher of the two, so neighbours slowing the machine do not flatter the ratio).

Writes ``bench/results/extract-<UTC time>.json`` with the machine (CPU model and
capability, the dtype and why). Targets: >= 5x the naive loop (issue 2) and >= 70% of
the limit of the dtype it picks (issue 12).

    python bench/extract.py [--models smollm2-135m,gemma3-270m] [--n 512] [--threads 2] [--dtype auto]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from alignlab.data import load_task
from alignlab.machine import machine_record
from alignlab.models import extract, load_model
from alignlab.models._dtype import matmul_gflops
from alignlab.threads import torch_threads

RESULTS = Path(__file__).resolve().parent / "results"


def matmul_rate(dtype: str, d_model: int, d_ff: int, tokens: int = 2048, seconds: float = 2.0) -> float:
    """Best GFLOP/s over forward-pass-shaped and square matmuls in ``dtype``."""
    shapes = ((tokens, d_model, d_ff), (tokens, d_ff, d_model), (2048, 2048, 2048))
    return max(matmul_gflops(dtype, seconds / 3, m, k, n) for m, k, n in shapes)


def non_embedding_params(model) -> int:
    skip = {id(p) for p in model.get_input_embeddings().parameters()}
    out = model.get_output_embeddings()
    if out is not None:
        skip |= {id(p) for p in out.parameters()}
    return sum(p.numel() for p in model.parameters() if id(p) not in skip)


@torch.inference_mode()
def naive_tokens_per_s(model, tokenizer, texts: list[str]) -> float:
    """One text at a time, fp32, full model with all hidden states, then mean pooling."""
    n_tokens, t0 = 0, time.perf_counter()
    for text in texts:
        ids = tokenizer(text, return_tensors="pt")
        hidden = model(**ids, output_hidden_states=True).hidden_states[1:]
        torch.stack([h[0].mean(0) for h in hidden])
        n_tokens += ids["input_ids"].shape[1]
    return n_tokens / (time.perf_counter() - t0)


def bench_model(name: str, texts: list[str], naive_n: int, batch_tokens: int, dtype: str) -> dict:
    lm = load_model(name, dtype=dtype)
    cfg = lm.model.config
    layers = list(range(lm.n_layers))
    n_tokens = sum(len(x) for x in lm.tokenizer(texts, truncation=True, max_length=512)["input_ids"])
    extract(lm, texts[:32], layers, "mean", progress=False, batch_tokens=batch_tokens)  # warm-up
    rate_before = matmul_rate(lm.dtype, cfg.hidden_size, cfg.intermediate_size)
    t0 = time.perf_counter()
    extract(lm, texts, layers, "mean", progress=False, batch_tokens=batch_tokens)
    seconds = time.perf_counter() - t0
    rate_after = matmul_rate(lm.dtype, cfg.hidden_size, cfg.intermediate_size)
    rate = max(rate_before, rate_after)
    params = non_embedding_params(lm.model)
    limit = rate * 1e9 / (2 * params)
    extract_dtype = lm.dtype
    del lm
    fp32 = load_model(name, dtype="float32")
    naive = naive_tokens_per_s(fp32.model, fp32.tokenizer, texts[:naive_n])
    del fp32
    tps = n_tokens / seconds
    return {
        "model": name, "dtype": extract_dtype, "texts": len(texts), "tokens": n_tokens, "layers": len(layers),
        "pooling": "mean",
        "batch_tokens": batch_tokens, "extract_seconds": round(seconds, 3),
        "extract_tokens_per_s": round(tps, 1),
        "naive_texts": naive_n, "naive_tokens_per_s": round(naive, 1), "speedup_vs_naive": round(tps / naive, 2),
        "non_embedding_params": params, "gflops_before": round(rate_before, 1),
        "gflops_after": round(rate_after, 1), "limit_tokens_per_s": round(limit, 1),
        "fraction_of_limit": round(tps / limit, 3),
        "meets_targets": {"speedup>=5": tps / naive >= 5, "fraction_of_limit>=0.7": tps / limit >= 0.7},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--n", type=int, default=512, help="headlines to extract")
    parser.add_argument("--naive-n", type=int, default=128, help="headlines for the (slow) naive loop")
    parser.add_argument("--batch-tokens", type=int, default=None, help="default: extract's default")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--dtype", default="auto", help="auto | bfloat16 | float32 (the naive loop is fp32)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import inspect

    batch_tokens = args.batch_tokens or inspect.signature(extract).parameters["batch_tokens"].default
    texts = load_task("sarcasm").texts(range(args.n))
    with torch_threads(args.threads):
        record = {"benchmark": "extract", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "machine": machine_record(), "results": []}
        for name in args.models.split(","):
            result = bench_model(name.strip(), texts, args.naive_n, batch_tokens, args.dtype)
            record["results"].append(result)
            print(json.dumps(result))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"extract-{record['when'].replace(':', '').replace('+0000', 'Z')}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
