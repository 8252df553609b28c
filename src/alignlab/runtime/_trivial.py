"""The ``trivial`` kind: a run that does almost nothing, on purpose.

It measures what an executor itself costs per run (``bench/executors.py``) and lets the
tests make runs slow (``seconds``), crash (``fail``) or exceed a memory limit
(``allocate_mb``) without loading a model. Standard library only, so its cost is the
executor's, not an import's.
"""

from __future__ import annotations

import math
import random
import time

from pydantic import BaseModel, ConfigDict, Field


class TrivialConfig(BaseModel):
    """A near-empty run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    """Seeds the numbers drawn."""
    n: int = Field(100, ge=2)
    """How many uniform numbers are drawn and averaged."""
    seconds: float = Field(0.0, ge=0)
    """Sleep this long before answering (a stand-in for real work)."""
    fail: bool = False
    """Raise instead of answering (tests the failure record)."""
    allocate_mb: int = Field(0, ge=0)
    """Allocate this much memory first (tests the memory limit)."""


def run_trivial(config: TrivialConfig, runs_root=None):
    from alignlab.store import write_run

    print(f"trivial run: seed={config.seed} n={config.n}", flush=True)  # lands in the run's log
    ballast = bytearray(config.allocate_mb * 2**20) if config.allocate_mb else None
    time.sleep(config.seconds)
    if config.fail:
        raise RuntimeError(f"trivial run failed on purpose (seed={config.seed})")
    rng = random.Random(config.seed)
    xs = [rng.random() for _ in range(config.n)]
    mean = sum(xs) / len(xs)
    half = 1.96 * math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1) / len(xs))
    del ballast
    result = {"mean": {"value": mean, "lo": mean - half, "hi": mean + half, "n": len(xs), "level": 0.95,
                       "method": "normal"}}
    return write_run("trivial", config.model_dump(mode="json"), result, root=runs_root)
