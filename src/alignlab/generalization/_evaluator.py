"""The label holder of a weak-to-strong experiment.

The split is A (the weak supervisor's ground-truth training rows), B (the rows the
student learns from — with weak labels only) and test. The evaluator keeps every
label; each role asks for exactly what it may see, and test labels never leave: roles
hand in predictions and get scores back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alignlab.stats import Estimate, wilson


@dataclass(frozen=True)
class W2SSplit:
    """Disjoint row indices."""

    a: np.ndarray
    b: np.ndarray
    test: np.ndarray

    @classmethod
    def draw(cls, n: int, seed: int, test_fraction: float = 0.25) -> W2SSplit:
        """A seeded split: ``test_fraction`` held out, the rest halved into A and B."""
        perm = np.random.default_rng(seed).permutation(n)
        n_test = int(round(test_fraction * n))
        rest = perm[n_test:]
        half = len(rest) // 2
        return cls(np.sort(rest[:half]), np.sort(rest[half:]), np.sort(perm[:n_test]))


class W2SEvaluator:
    """Holds ground truth; hands each role only what it is allowed."""

    def __init__(self, labels: np.ndarray, split: W2SSplit):
        self._labels = np.asarray(labels).astype(np.int64)
        self.split = split
        parts = np.concatenate([split.a, split.b, split.test])
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
