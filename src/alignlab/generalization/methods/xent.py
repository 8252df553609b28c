"""``xent``: naive cross-entropy on the weak supervisor's soft labels (the baseline)."""

from __future__ import annotations

import numpy as np

from alignlab.generalization._head import LinearHead, fit_head
from alignlab.generalization.methods import register_method


@register_method("xent")
class Xent:
    def __init__(self, C: float = 1.0, epochs: int = 60, lr: float = 1e-2):
        self.C, self.epochs, self.lr = C, epochs, lr

    def fit_student(self, X: np.ndarray, weak: np.ndarray, seed: int) -> LinearHead:
        return fit_head(X, weak, C=self.C, epochs=self.epochs, lr=self.lr, seed=seed)
