"""Performance Gap Recovered (Burns et al. 2023): how much of the gap between a weak
supervisor and a strong ceiling a student trained on the weak labels closes."""

from __future__ import annotations

import math


def pgr(weak: float, student: float, ceiling: float, min_gap: float = 0.0) -> float:
    """(student - weak) / (ceiling - weak); NaN when the ceiling does not beat the weak
    supervisor by more than ``min_gap`` — PGR is then meaningless, not huge.

    0 at the weak baseline, 1 at the ceiling; can be < 0 or > 1.
    """
    gap = ceiling - weak
    if not gap > min_gap:  # also catches NaN inputs
        return math.nan
    return (student - weak) / gap
