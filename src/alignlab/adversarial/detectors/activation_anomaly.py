"""``activation_anomaly``: distance of an input's activation from clean calibration ones.

Mahalanobis distance with a Ledoit-Wolf shrunk covariance (calibration sets are
small next to d_model, so the raw covariance is singular), or the reconstruction
error outside the top principal components of the clean activations. Read at the
last prompt token, where the model decides how to answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from jaxtyping import Float

from alignlab.adversarial.detectors._base import Detector, last_token_acts, layer_at


class ActivationAnomaly(Detector):
    """Anomaly score of last-token activations against clean calibration prompts.

    Args:
        layer_fraction: relative depth of the residual stream read.
        method: ``mahalanobis`` (Ledoit-Wolf shrinkage) or ``pca`` (reconstruction error).
        n_components: principal components kept by ``pca``.
    """

    def __init__(self, layer_fraction: float = 0.5, method: Literal["mahalanobis", "pca"] = "mahalanobis",
                 n_components: int = 8):
        self.layer_fraction = layer_fraction
        self.method = method
        self.n_components = n_components

    def features(self, subject: Any, messages: Sequence[str]) -> Float[np.ndarray, "n d_model"]:
        return last_token_acts(subject, [subject.render(m) for m in messages], layer_at(subject, self.layer_fraction))

    def fit(self, X: Float[np.ndarray, "n d_model"], y: None = None) -> ActivationAnomaly:
        X = np.asarray(X, dtype=float)
        if self.method not in ("mahalanobis", "pca"):
            raise ValueError(f"unknown method {self.method!r}; choose mahalanobis or pca")
        self.mean_ = X.mean(axis=0)
        centred = X - self.mean_
        if self.method == "mahalanobis":
            from sklearn.covariance import LedoitWolf

            lw = LedoitWolf(assume_centered=True).fit(centred)
            self.precision_, self.shrinkage_ = lw.precision_, float(lw.shrinkage_)
        else:
            k = min(self.n_components, X.shape[0] - 1, X.shape[1])
            _, _, vt = np.linalg.svd(centred, full_matrices=False)
            self.components_ = vt[:k]  # (k, d)
        return self

    def anomaly_score(self, X: Float[np.ndarray, "n d_model"]) -> Float[np.ndarray, " n"]:
        self._check("mean_")
        centred = np.asarray(X, dtype=float) - self.mean_
        if self.method == "mahalanobis":
            return np.sqrt(np.maximum(np.einsum("nd,de,ne->n", centred, self.precision_, centred), 0.0))
        residual = centred - (centred @ self.components_.T) @ self.components_
        return np.linalg.norm(residual, axis=1)
