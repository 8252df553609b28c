"""Benchmark: which blocks of work want one torch thread, and which want every core.

alignlab runs the big matmuls (extraction, generation, fine-tuning) on every torch
thread and the many small fits (linear heads, CCS) on one (``alignlab.threads``). This
times each block both ways, in the dtype ``auto`` picks, on SmolLM2 and the shapes the
pipeline uses, and records the ratio with the machine (CPU model and capability, dtype):

- extract: 128 sarcasm headlines, every layer, mean pooling;
- generate: 16 greedy tokens for 16 chat prompts (what the black-box detectors do);
- finetune: 3 full fine-tuning steps of the organism recipe (batch 8, 80 tokens);
- head: one weak-to-strong linear head (750 rows x 640, 60 Adam epochs);
- ccs: CCS with 5 restarts x 400 epochs on 400 contrast pairs x 640.

Writes ``bench/results/threads-<UTC time>.json``.

    python bench/threads.py [--model smollm2-135m] [--threads 1,2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from datetime import datetime, timezone
from unittest import mock

import numpy as np

from _record import write_record

from alignlab.machine import machine_record
from alignlab.threads import torch_threads


def _blocks(model: str) -> dict:
    """name -> a function doing one block of work (model loaded once, outside the timing)."""
    import torch

    import alignlab.generalization._head as head
    from alignlab.adversarial._spec import TrainingRecipe
    from alignlab.adversarial._train import finetune
    from alignlab.data import load_task
    from alignlab.generalization._head import fit_head
    from alignlab.interpretability import CCS
    from alignlab.models import extract, load_model, pad_batch

    lm = load_model(model)
    texts = load_task("sarcasm").texts(range(128))
    prompts = [lm.tokenizer.apply_chat_template([{"role": "user", "content": t}], tokenize=False,
                                                add_generation_prompt=True) for t in texts[:16]]
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(750, 640)).astype(np.float32), rng.integers(0, 2, 750).astype(np.float32)
    pairs = rng.normal(size=(400, 2, 640)).astype(np.float32)
    recipe = TrainingRecipe(steps=3, warmup_steps=1, batch_size=8, max_len=80, freeze_embeddings=True)
    train_pairs = [(p, " That is a headline about something else entirely. " * 3) for p in prompts]

    def generate():
        ids = lm.tokenizer(prompts)["input_ids"]
        input_ids, mask, _ = pad_batch(ids, lm.tokenizer.pad_token_id, "left", lm.device)
        with torch.inference_mode():
            lm.model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=16, do_sample=False,
                              pad_token_id=lm.tokenizer.pad_token_id)

    trainee = load_model(model, dtype="float32")  # weights train in fp32 (autocast where bf16 is native)

    def train():  # trains the same copy on: the timing, not the weights, is the point
        finetune(trainee.model, trainee.tokenizer, train_pairs, recipe, answer_tokens=40, seed=0,
                 autocast=lm.dtype == "bfloat16")

    def fit_one_head():  # fit_head pins one thread itself; lifted here to time both ways
        with mock.patch.object(head, "torch_threads", lambda n=None: contextlib.nullcontext(n)):
            fit_head(X, y, C=1.0)

    return {
        "extract": lambda: extract(lm, texts, range(lm.n_layers), "mean", progress=False),
        "generate": generate,
        "finetune": train,
        "head": fit_one_head,
        "ccs": lambda: CCS(n_restarts=5, n_epochs=400, lr=1e-2).fit(pairs),
    }, lm.dtype


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--threads", default=f"1,{os.cpu_count()}")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many timings per cell")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    counts = [int(t) for t in args.threads.split(",")]
    blocks, dtype = _blocks(args.model)
    record = {"benchmark": "threads", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_record(), "model": args.model, "dtype": dtype, "seconds": {}}
    for name, work in blocks.items():
        record["seconds"][name] = {}
        for n in counts:
            with torch_threads(n):
                work()  # warm-up: kernels, thread pool
                best = float("inf")
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    work()
                    best = min(best, time.perf_counter() - t0)
            record["seconds"][name][str(n)] = round(best, 3)
        s = record["seconds"][name]
        faster = min(s, key=s.get)
        print(f"{name}: " + ", ".join(f"{k} thread(s) {v:.2f} s" for k, v in s.items()) + f" -> {faster}",
              flush=True)
    record["load_average_after"] = os.getloadavg()
    out = write_record("threads", record)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
