"""``bootstrap``: supervise through an intermediate model (weak -> mid -> strong).

Burns et al. (2023) bootstrap across a ladder of model sizes so each step bridges a
smaller gap. Here the mid model is a head on the mid model's features trained on the
weak labels; its predictions relabel B for the strong student. The mid labels are
cross-fitted (trained on one half of B, predicted on the other, and vice versa), since
in-sample predictions would mostly echo the weak labels back. The mid model is always a head on
its frozen features (``C``, ``epochs``, ``lr`` are that head's), in either training mode.
"""

from __future__ import annotations

import numpy as np

from alignlab.generalization.methods import Method, register_method


def cross_fitted_labels(mid: np.ndarray, weak: np.ndarray, seed: int, C: float, epochs: int,
                        lr: float) -> np.ndarray:
    """Out-of-fold soft labels of a mid head trained on the weak labels."""
    from alignlab.generalization._head import fit_head  # torch: imported when used, not at registration

    perm = np.random.default_rng(seed).permutation(len(weak))
    folds = (perm[: len(weak) // 2], perm[len(weak) // 2:])
    out = np.empty(len(weak), dtype=np.float64)
    for train, held in (folds, folds[::-1]):
        head = fit_head(mid[train], weak[train], C=C, epochs=epochs, lr=lr, seed=seed)
        out[held] = head.predict_proba(mid[held])
    return out


@register_method("bootstrap")
class Bootstrap(Method):
    needs_mid = True

    def __init__(self, C: float = 1.0, epochs: int = 60, lr: float = 1e-2):
        self.C, self.epochs, self.lr = C, epochs, lr

    def targets(self, X, weak, seed, mid=None):
        if mid is None:
            raise ValueError("bootstrap needs the mid model's features on B (set `mid` in the W2S config)")
        relabelled = cross_fitted_labels(np.asarray(mid), np.asarray(weak), seed, self.C, self.epochs, self.lr)
        return np.arange(len(weak)), relabelled
