"""The label holder of a weak-to-strong experiment.

The split is A (the weak supervisor's ground-truth training rows), B (the rows the
student learns from — with weak labels only) and test. The evaluator keeps every
label; each role asks for exactly what it may see, and test labels never leave: roles
hand in predictions and get scores back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from alignlab.stats import Estimate, wilson


@dataclass(frozen=True)
class W2SSplit:
    """Disjoint row indices: A (the weak supervisor's ground truth), B (the student's
    rows, the ceiling's ground truth), val (for establishing the gap; empty unless asked
    for) and test."""

    a: np.ndarray
    b: np.ndarray
    test: np.ndarray
    val: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @classmethod
    def draw(cls, n: int, seed: int, test_fraction: float = 0.25, groups=None, val_fraction: float = 0.0) -> W2SSplit:
        """A seeded split: ``test_fraction`` (then ``val_fraction``) of the groups held out,
        the rest halved into A and B. ``groups`` (one key per row) keep a group's rows on
        one side — a fact's true and false statement never straddle A, B and test. Without
        groups every row is its own group (the same split as before groups existed)."""
        keys = list(range(n)) if groups is None else list(groups)
        if len(keys) != n:
            raise ValueError(f"W2SSplit: {len(keys)} group keys for {n} rows")
        unique = list(dict.fromkeys(keys))
        perm = np.random.default_rng(seed).permutation(len(unique))
        n_test = int(round(test_fraction * len(unique)))
        n_val = int(round(val_fraction * len(unique)))
        rest = perm[n_test + n_val:]
        half = len(rest) // 2
        part = np.empty(len(unique), dtype=np.int64)
        part[perm[:n_test]], part[perm[n_test:n_test + n_val]], part[rest[:half]], part[rest[half:]] = 3, 2, 0, 1
        index = {k: i for i, k in enumerate(unique)}
        owner = part[[index[k] for k in keys]]
        a, b, val, test = (np.flatnonzero(owner == p) for p in range(4))
        if min(len(a), len(b), len(test)) == 0 or (val_fraction > 0 and len(val) == 0):
            raise ValueError(f"W2SSplit: {len(unique)} groups are too few for A, B, val and test "
                             f"({len(a)}, {len(b)}, {len(val)}, {len(test)} rows); use a larger task")
        return cls(a, b, test, val)


class W2SEvaluator:
    """Holds ground truth; hands each role only what it is allowed."""

    def __init__(self, labels: np.ndarray, split: W2SSplit):
        self._labels = np.asarray(labels).astype(np.int64)
        self.split = split
        parts = np.concatenate([split.a, split.b, split.test, split.val])
        if len(np.unique(parts)) != len(parts):
            raise ValueError("W2S split parts overlap")

    def supervisor_labels(self) -> np.ndarray:
        """Ground truth of A: what the weak supervisor is trained on."""
        return self._labels[self.split.a].copy()

    def ceiling_labels(self) -> np.ndarray:
        """Ground truth of B: for the ceiling only, never the student."""
        return self._labels[self.split.b].copy()

    def test_accuracy(self, predictions: np.ndarray) -> Estimate:
        """Accuracy of 0/1 predictions on the test rows (predictions in, score out)."""
        predictions = np.asarray(predictions)
        if predictions.shape != self.split.test.shape:
            raise ValueError(f"expected {self.split.test.shape} test predictions, got {predictions.shape}")
        correct = int((predictions == self._labels[self.split.test]).sum())
        return wilson(correct, len(self.split.test))

    def test_correct(self, predictions: np.ndarray) -> np.ndarray:
        """Per-row correctness on test (for paired bootstraps); labels stay inside."""
        return np.asarray(predictions) == self._labels[self.split.test]
