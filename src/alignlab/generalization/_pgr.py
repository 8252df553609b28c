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


def seed_mean_pgr(units: list[dict], min_gap: float = 0.0) -> float:
    """PGR of seed-mean accuracies: (S̄ − W̄) / (C̄ − W̄), each role's accuracy averaged
    over seeds first (a ratio of means, not a mean of noisy per-seed ratios). ``units``:
    one dict per seed of per-row 0/1 correctness for ``weak``, ``student``, ``ceiling``."""
    mean = {r: sum(float(u[r].mean()) for u in units) / len(units) for r in ("weak", "student", "ceiling")}
    return pgr(mean["weak"], mean["student"], mean["ceiling"], min_gap)


def seed_mean_diff(units: list[dict], a: str, b: str) -> float:
    """Seed-mean accuracy of role ``a`` minus role ``b``'s."""
    return sum(float(u[a].mean()) - float(u[b].mean()) for u in units) / len(units)
