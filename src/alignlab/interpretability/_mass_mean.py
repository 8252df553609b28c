"""Supervised, closed form: the difference of the class means (Marks & Tegmark 2023).

θ = μ₁ − μ₀ over normalised features (x̃⁺ − x̃⁻ for pairs). The logit is the projection
onto θ measured from the midpoint of the two means, divided by the spread of the
training projections so that probabilities are on a sensible scale. No optimiser, no
regularisation constant: a useful check that a direction is *there*, not fitted.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float

from alignlab.interpretability._normalize import Scale
from alignlab.interpretability._truth_probe import TruthProbe


class MassMeanProbe(TruthProbe):
    """Difference-of-means truth probe.

    Args:
        scale: per-side normalisation (see ``PairNormalizer``).
    """

    def __init__(self, scale: Scale = "norm"):
        self.scale = scale

    def fit(self, X, y) -> MassMeanProbe:
        F = self._fit_features(X, self.scale)  # (n, d)
        y = self._binary_labels(y)
        mu0, mu1 = F[y == 0].mean(axis=0), F[y == 1].mean(axis=0)
        self.coef_ = mu1 - mu0  # (d,)
        self.midpoint_ = float((mu0 + mu1) @ self.coef_ / 2)
        spread = float(np.std(F @ self.coef_))
        self.temperature_ = spread if spread > 1e-12 else 1.0
        return self

    def decision_function(self, X) -> Float[np.ndarray, " n"]:
        return (self._features(X) @ self.coef_ - self.midpoint_) / self.temperature_
