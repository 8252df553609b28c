"""``conf_filter``: learn only from the weak labels the supervisor is most sure of.

Confidence is |p - 0.5|; keep the top ``keep`` fraction (or, with ``threshold``, every
label with confidence above it), then cross-entropy on those. Fewer, cleaner labels.
"""

from __future__ import annotations

import numpy as np

from alignlab.generalization.methods import Method, register_method


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
class ConfFilter(Method):
    def __init__(self, keep: float = 0.5, threshold: float | None = None):
        self.keep, self.threshold = keep, threshold

    def targets(self, X, weak, seed, mid=None):
        rows = confident_rows(weak, self.keep, self.threshold)
        return rows, np.asarray(weak, dtype=np.float64)[rows]
