"""``conf_filter``: learn only from the weak labels the supervisor is most sure of.

Confidence is |p - 0.5|; keep the top ``keep`` fraction (or, with ``threshold``, every
label with confidence above it), then cross-entropy on those. Fewer, cleaner labels.
"""

from __future__ import annotations

import numpy as np

from alignlab.generalization._head import LinearHead, fit_head
from alignlab.generalization.methods import register_method


def confident_rows(weak: np.ndarray, keep: float | None, threshold: float | None) -> np.ndarray:
    confidence = np.abs(np.asarray(weak) - 0.5)
    if threshold is not None:
        rows = np.flatnonzero(confidence >= threshold)
    else:
        n_keep = max(1, int(round(keep * len(weak))))
        rows = np.sort(np.argsort(-confidence, kind="stable")[:n_keep])
    if len(rows) == 0:
        raise ValueError("conf_filter kept no rows; lower the threshold")
    return rows


@register_method("conf_filter")
class ConfFilter:
    def __init__(self, keep: float = 0.5, threshold: float | None = None, C: float = 1.0, epochs: int = 60,
                 lr: float = 1e-2):
        self.keep, self.threshold, self.C, self.epochs, self.lr = keep, threshold, C, epochs, lr

    def fit_student(self, X: np.ndarray, weak: np.ndarray, seed: int) -> LinearHead:
        rows = confident_rows(weak, self.keep, self.threshold)
        return fit_head(np.asarray(X)[rows], np.asarray(weak)[rows], C=self.C, epochs=self.epochs,
                        lr=self.lr, seed=seed)
