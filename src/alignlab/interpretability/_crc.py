"""Contrast-Representation Clustering (EleutherAI's CRC-TPC): CCS in closed form.

Take the per-side normalised contrast differences dᵢ = x̃ᵢ⁺ − x̃ᵢ⁻ of the training
pairs. If the model represents truth, the true completion moves along one direction
and the false one the other way, so truth is the direction of greatest variance of d:
its top principal component. A feature that is the same on both sides of a pair (the
topic, the sentence length) cancels in d, however strong it is in the raw activations.
No optimiser, no restarts, deterministic. Found up to sign, like CCS. The share of the
differences' variance along that direction (``explained_variance_ratio_``, scale-free)
is what chooses CRC's layer in the unsupervised setting: a layer where one direction
dominates the contrast is the one where the clustering is most clear-cut.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float

from alignlab.interpretability._normalize import Scale
from alignlab.interpretability._truth_probe import TruthProbe, resolve_sign


class CRC(TruthProbe):
    """Top principal direction of normalised contrast differences.

    Args:
        scale: per-side normalisation (see ``PairNormalizer``).
    """

    def __init__(self, scale: Scale = "norm"):
        self.scale = scale

    def fit(self, X, y=None) -> CRC:
        """Fit on (n, 2, d) contrast pairs; ``y`` (-1 = unlabelled) only picks the sign."""
        D = self._fit_features(X, self.scale)  # (n, d) differences, mean ≈ 0 by construction
        if self.normalizer_.n_sides_ != 2:
            raise ValueError("CRC needs (n, 2, d) contrast pairs")
        D = D - D.mean(axis=0)
        # Top right-singular vector of the centred differences = top principal direction.
        _, sv, Vt = np.linalg.svd(D, full_matrices=False)
        self.coef_ = Vt[0]  # (d,) unit norm
        self.explained_variance_ratio_ = float(sv[0] ** 2 / max((sv**2).sum(), 1e-300))
        spread = float(np.std(D @ self.coef_))
        self.temperature_ = spread if spread > 1e-12 else 1.0
        self.sign_ = 1
        self.sign_ = resolve_sign(self.decision_function(X), y, len(D))
        return self

    @property
    def label_free_score_(self) -> float:
        """Share of the training differences' variance along the found direction: how
        much one direction dominates the contrast, without labels and independent of the
        sign — the layer-selection criterion of the unsupervised setting (largest wins)."""
        return self.explained_variance_ratio_

    @property
    def direction_(self) -> Float[np.ndarray, " d"]:
        """Unit truth direction in normalised coordinates, oriented by ``sign_``."""
        return self.sign_ * self.coef_

    def decision_function(self, X) -> Float[np.ndarray, " n"]:
        return self.sign_ * (self._features(X) @ self.coef_) / self.temperature_
