"""Per-side normalisation of contrast-pair activations, fitted on training rows only.

The two sides of a contrast pair differ by a constant — the activation of " True"
versus " False" — that says nothing about which completion is right. Centring each
side on its own mean removes it; dividing by a scale makes probe hyperparameters
comparable across layers and models. The statistics are learned in ``fit`` and applied
unchanged by ``transform``: re-centring evaluation rows on their own mean (a bug
EleutherAI's elk users hit) leaks the test distribution into the probe and changes
the numbers.

Inputs are (n, 2, d) pairs — side 0 completed with choice 0, side 1 with choice 1 —
or plain (n, d) activations, treated as a single side.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from jaxtyping import Float
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

Scale = Literal["norm", "std", "none"]


def as_sides(X) -> Float[np.ndarray, "n k d"]:
    """(n, d) -> (n, 1, d); (n, 2, d) unchanged; float64 for stable fitting."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 2:
        return X[:, None, :]
    if X.ndim != 3 or X.shape[1] not in (1, 2):
        raise ValueError(f"expected (n, d) activations or (n, 2, d) contrast pairs, got shape {X.shape}")
    return X


class PairNormalizer(TransformerMixin, BaseEstimator):
    """Centre each side on its training mean and divide by its training scale.

    Args:
        scale: ``"norm"`` divides each side by one number, the RMS norm of its centred
            rows over sqrt(d) (keeps directions: a probe direction found here is the
            same direction in raw coordinates); ``"std"`` divides each dimension by its
            standard deviation (what ``StandardScaler`` does); ``"none"`` only centres.
    """

    def __init__(self, scale: Scale = "norm"):
        self.scale = scale

    def fit(self, X, y=None) -> PairNormalizer:
        S = as_sides(X)  # (n, k, d)
        if self.scale not in ("norm", "std", "none"):
            raise ValueError(f"scale must be 'norm', 'std' or 'none', got {self.scale!r}")
        self.mean_ = S.mean(axis=0)  # (k, d)
        centred = S - self.mean_
        if self.scale == "std":
            scale = centred.std(axis=0)  # (k, d)
        elif self.scale == "norm":
            rms = np.sqrt((centred**2).sum(axis=2).mean(axis=0) / S.shape[2])  # (k,)
            scale = np.repeat(rms[:, None], S.shape[2], axis=1)
        else:
            scale = np.ones_like(self.mean_)
        # A constant feature has zero spread; leave it unscaled rather than divide by 0.
        self.scale_ = np.where(scale > 1e-12, scale, 1.0)
        self.n_sides_ = S.shape[1]
        return self

    def transform(self, X) -> Float[np.ndarray, "n k d"]:
        check_is_fitted(self, "mean_")
        S = as_sides(X)
        if S.shape[1:] != self.mean_.shape:
            raise ValueError(f"fitted on shape (n, {self.mean_.shape[0]}, {self.mean_.shape[1]}), "
                             f"got {S.shape}")
        return (S - self.mean_) / self.scale_
