"""What every truth probe shares: input handling, probabilities and the sign.

A truth probe maps activations to p(label 1) — for contrast pairs, the probability
that the choice-1 completion (" True", " Yes") is the correct one. Subclasses implement
``fit`` and ``decision_function`` (a logit); this base turns the logit into
``predict_proba``, ``predict``, ``anomaly_score`` and sklearn's ``score``.

Unsupervised probes (CCS, CRC) find a direction only up to sign. They follow
scikit-learn's semi-supervised convention: ``fit(X, y)`` with ``y == -1`` for unlabelled
rows never lets labels into the objective; the few labelled rows only choose the sign
(majority agreement). With no labels the sign is left as found, and the label-free
number to report is max(acc, 1 - acc) — see ``best_sign_accuracy``.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from alignlab.interpretability._normalize import PairNormalizer, as_sides

UNLABELLED = -1


class TruthProbe(ClassifierMixin, BaseEstimator):
    """Base class; not registered itself."""

    def _fit_features(self, X, scale: str) -> Float[np.ndarray, "n d"]:
        """Fit the per-side normaliser on these (training) rows and return features."""
        self.normalizer_ = PairNormalizer(scale=scale).fit(X)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = as_sides(X).shape[2]
        return self._features(X)

    def _features(self, X) -> Float[np.ndarray, "n d"]:
        # Pairs become the difference of normalised sides (x⁺ − x⁻): what distinguishes
        # the two completions of one item, with the shared content cancelled.
        S = self.normalizer_.transform(X)  # (n, k, d)
        return S[:, 1] - S[:, 0] if S.shape[1] == 2 else S[:, 0]

    def _binary_labels(self, y) -> np.ndarray:
        """``y`` as an array, checked to hold both classes (supervised probes need them)."""
        y = np.asarray(y)
        if set(np.unique(y)) != {0, 1}:
            raise ValueError(f"{type(self).__name__} needs labels from both classes 0 and 1")
        return y

    def decision_function(self, X) -> Float[np.ndarray, " n"]:
        raise NotImplementedError

    def predict_proba(self, X) -> Float[np.ndarray, "n 2"]:
        check_is_fitted(self)
        p1 = 1.0 / (1.0 + np.exp(-np.clip(self.decision_function(X), -500, 500)))
        return np.stack([1 - p1, p1], axis=1)

    def predict(self, X) -> Int[np.ndarray, " n"]:
        return (self.decision_function(X) > 0).astype(np.int64)

    def anomaly_score(self, X) -> Float[np.ndarray, " n"]:
        """p(label 0): higher = more likely the statement/answer is false."""
        return self.predict_proba(X)[:, 0]


def labelled(y, n: int) -> np.ndarray:
    """Boolean mask of the rows whose label is known (y != -1); all False for y=None."""
    if y is None:
        return np.zeros(n, dtype=bool)
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},), got {y.shape}")
    return y != UNLABELLED


def resolve_sign(scores: Float[np.ndarray, " n"], y, n: int) -> int:
    """+1 or -1: the orientation under which ``scores > 0`` agrees with the labelled
    rows of ``y`` at least half the time; +1 when nothing is labelled."""
    known = labelled(y, n)
    if not known.any():
        return 1
    agree = np.mean((scores[known] > 0) == (np.asarray(y)[known] == 1))
    return 1 if agree >= 0.5 else -1


def best_sign_accuracy(y_true, y_pred) -> float:
    """max(acc, 1 − acc): accuracy of an unsupervised probe under whichever sign is
    better *on these very labels* — label-free for training, an upper bound on test."""
    acc = float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))
    return max(acc, 1.0 - acc)
