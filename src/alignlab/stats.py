"""Confidence intervals: every aggregate alignlab reports carries n and an interval."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its denominator and a confidence interval."""

    value: float
    lo: float
    hi: float
    n: int
    level: float = 0.95
    method: str = ""

    def as_dict(self) -> dict[str, float | int | str]:
        return {"value": self.value, "lo": self.lo, "hi": self.hi, "n": self.n,
                "level": self.level, "method": self.method}

    def __str__(self) -> str:
        return f"{self.value:.3f} {interval_text(self.as_dict())} (n={self.n})"


def _bound(x) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


def interval_text(e: dict, digits: int = 3, scale: float = 1.0) -> str:
    """``[lo, hi]`` of an estimate (an ``Estimate.as_dict()`` or a record's copy of one),
    or ``(one value: no interval)`` where it has none (a mean over one seed)."""
    lo, hi = _bound(e.get("lo")), _bound(e.get("hi"))
    if lo is None or hi is None:
        return "(one value: no interval)" if e.get("n") == 1 else "(no interval)"
    return f"[{scale * lo:.{digits}f}, {scale * hi:.{digits}f}]"


def error_bar(e: dict) -> tuple[float, float]:
    """(below, above) the value for a plot's error bar; (0, 0) where there is no interval."""
    lo, hi, v = _bound(e.get("lo")), _bound(e.get("hi")), float(e["value"])
    return (0.0, 0.0) if lo is None or hi is None else (v - lo, hi - v)


def wilson(successes: int, n: int, level: float = 0.95) -> Estimate:
    """Wilson score interval for a proportion; well-behaved at 0, 1 and small n."""
    if n <= 0:
        raise ValueError("wilson: n must be positive (no items were scored)")
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the edges, where
    hi = 1.0 if successes == n else min(1.0, centre + half)  # rounding would miss 0 / 1
    return Estimate(p, lo, hi, n, level, "wilson")


def mean_ci(values: Sequence[float], level: float = 0.95) -> Estimate:
    """Mean with a Student-t interval (across seeds). A single value has no interval: its
    bounds are NaN (null in a record) and ``interval_text`` says "one value: no interval",
    never a zero-width interval that reads as certainty."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("mean_ci: no values")
    m = float(x.mean())
    if x.size == 1:
        return Estimate(m, math.nan, math.nan, 1, level, "t: one value, no interval")
    from scipy.stats import t

    half = float(t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return Estimate(m, m - half, m + half, int(x.size), level, "t")


def bootstrap_ci(
    statistic: Callable[..., float],
    *arrays: np.ndarray,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Percentile bootstrap over rows shared by ``arrays`` (resampled together)."""
    arrays = tuple(np.asarray(a) for a in arrays)
    n = len(arrays[0])
    if n == 0:
        raise ValueError("bootstrap_ci: no rows")
    rng = np.random.default_rng(seed)
    point = float(statistic(*arrays))
    idx = rng.integers(0, n, size=(n_boot, n))
    boots = np.array([statistic(*(a[i] for a in arrays)) for i in idx], dtype=float)
    boots = boots[np.isfinite(boots)]
    a = (1 - level) / 2
    lo, hi = (np.quantile(boots, [a, 1 - a]) if boots.size else (math.nan, math.nan))
    return Estimate(point, float(lo), float(hi), n, level, "bootstrap")


def accuracy_ci(correct: np.ndarray, groups: Sequence | None = None, level: float = 0.95,
                n_boot: int = 2000, seed: int = 0) -> Estimate:
    """Accuracy of 0/1 ``correct`` with a CI that respects clustering: Wilson when every
    item is its own group, else a cluster bootstrap that resamples whole groups (items
    of one group — a country's true and false statement, one question's answers — are
    not independent, and a per-item interval would be too narrow)."""
    correct = np.asarray(correct, dtype=float)
    if correct.size == 0:
        raise ValueError("accuracy_ci: no items were scored")
    if groups is None or len(set(groups)) == len(correct):
        return wilson(int(correct.sum()), len(correct), level)
    _, cluster = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    hits, sizes = np.bincount(cluster, weights=correct), np.bincount(cluster).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(sizes), size=(n_boot, len(sizes)))
    boots = hits[draws].sum(1) / sizes[draws].sum(1)
    a = (1 - level) / 2
    lo, hi = np.quantile(boots, [a, 1 - a])
    return Estimate(float(correct.mean()), float(lo), float(hi), len(correct), level,
                    f"cluster bootstrap over {len(sizes)} groups")



def hierarchical_bootstrap(
    statistic: Callable[[list[dict[str, np.ndarray]]], float],
    units: Sequence[dict[str, np.ndarray]],
    groups: Sequence[Sequence] | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[Estimate, int]:
    """A percentile bootstrap over two levels: the units (seeds) are resampled, then the
    rows of each drawn unit — by whole groups where ``groups[i]`` gives each row's group
    (a fact's true and false statement are not independent), else one by one. Each unit
    is a dict of equal-length arrays (roles' per-row correctness), resampled together.

    Returns the estimate and how many replicates the statistic left undefined (NaN): they
    are counted, never dropped silently — a caller reports the count beside the interval."""
    units = [{k: np.asarray(v) for k, v in u.items()} for u in units]
    if not units:
        raise ValueError("hierarchical_bootstrap: no units")
    rng = np.random.default_rng(seed)
    clusters = []
    for i, unit in enumerate(units):
        n = len(next(iter(unit.values())))
        keys = list(range(n)) if groups is None else list(groups[i])
        index: dict = {}
        for row, key in enumerate(keys):
            index.setdefault(key, []).append(row)
        clusters.append([np.asarray(rows) for rows in index.values()])
    point = float(statistic(units))
    boots = np.empty(n_boot)
    for b in range(n_boot):
        drawn = []
        for u in rng.integers(0, len(units), size=len(units)):
            parts = clusters[u]
            rows = np.concatenate([parts[c] for c in rng.integers(0, len(parts), size=len(parts))])
            drawn.append({k: v[rows] for k, v in units[u].items()})
        boots[b] = statistic(drawn)
    finite = boots[np.isfinite(boots)]
    a = (1 - level) / 2
    lo, hi = np.quantile(finite, [a, 1 - a]) if finite.size else (math.nan, math.nan)
    return Estimate(point, float(lo), float(hi), len(units), level, "hierarchical bootstrap"), \
        int(n_boot - finite.size)
