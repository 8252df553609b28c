"""torch's CPU thread count, set for a block of work and restored after.

On a 2-core machine the right count depends on the work: many small ops (linear heads,
probe fits, a small MLP judge) run several times faster on one thread, since extra
threads only spin-wait each other (measured: a 3-seed head test 14.9 s on 2 threads vs
0.9 s on 1; CCS 103 s vs 28 s, on a loaded machine), while fine-tuning's big matmuls
pay for threads on a quiet one (a SmolLM2 step: 3.3 s on 2, 6.0 s on 1).
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
