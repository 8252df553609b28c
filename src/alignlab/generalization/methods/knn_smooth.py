"""``knn_smooth`` — alignlab's own idea, not from the literature we reproduce.

Weak labels are noisy in ways the weak model's geometry explains, not the strong
model's. If the strong model's representation clusters examples by the true label
better than the weak supervisor does, averaging each weak label with those of its k
nearest neighbours *in the strong model's feature space* cancels label noise that is
independent of that geometry — label propagation with the student's own features,
before the student is trained (cross-entropy on the smoothed labels).

Neighbours use cosine similarity on standardised features; ``self_weight`` keeps part
of each example's own label.
"""

from __future__ import annotations

import numpy as np

from alignlab.generalization.methods import Method, register_method


def smooth_labels(X: np.ndarray, weak: np.ndarray, k: int, self_weight: float) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    Z = (X - X.mean(0)) / (X.std(0) + 1e-6)
    Z /= np.linalg.norm(Z, axis=1, keepdims=True) + 1e-12
    sim = Z @ Z.T  # (n, n)
    np.fill_diagonal(sim, -np.inf)  # neighbours exclude the example itself
    k = min(k, len(X) - 1)
    nbrs = np.argpartition(-sim, k, axis=1)[:, :k]  # (n, k)
    weak = np.asarray(weak, dtype=np.float64)
    return self_weight * weak + (1 - self_weight) * weak[nbrs].mean(1)


@register_method("knn_smooth")
class KnnSmooth(Method):
    def __init__(self, k: int = 15, self_weight: float = 0.3):
        self.k, self.self_weight = k, self_weight

    def targets(self, X, weak, seed, mid=None):
        return np.arange(len(weak)), smooth_labels(X, weak, self.k, self.self_weight)
