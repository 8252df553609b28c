"""torch's CPU thread count, set for a block of work and restored after.

On a 2-core machine the right count depends on the work: many small ops (linear heads,
probe fits, a small MLP judge) run faster on one thread, since extra threads only
spin-wait each other, while extraction, generation and fine-tuning are big matmuls that
pay for every core. Measured (``bench/threads.py``; seconds, 1 thread vs 2):

- AVX2-only EPYC, fp32, quiet (threads-20261201T112307Z): extraction 12.8 vs 7.0,
  generation 5.0 vs 3.6, 3 fine-tuning steps 18.6 vs 11.5; a linear head 0.43 vs 0.53,
  CCS 0.33 vs 0.35.
- bf16-native CPU, bf16: a SmolLM2 fine-tuning step 6.0 vs 3.3 (quiet); on a loaded
  machine a 3-seed head test 0.9 vs 14.9 and CCS 28 vs 103 — a busy neighbour makes the
  second thread's cost far worse, hence ``ALIGNLAB_THREADS=1`` there.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


def env_threads() -> int | None:
    """``$ALIGNLAB_THREADS`` as a positive count; None when unset or empty."""
    from alignlab.errors import AlignlabError

    raw = os.environ.get("ALIGNLAB_THREADS", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise AlignlabError(f"ALIGNLAB_THREADS={raw!r}: expected a positive whole number of CPU threads (or unset it)")
    return int(raw)


@contextlib.contextmanager
def torch_threads(n: int | None = None) -> Iterator[int]:
    """Within the block torch uses ``n`` CPU threads (None: ``$ALIGNLAB_THREADS`` when
    set, else the current count); yields the count in force."""
    import torch

    previous = torch.get_num_threads()
    count = n or env_threads() or previous
    torch.set_num_threads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(previous)
