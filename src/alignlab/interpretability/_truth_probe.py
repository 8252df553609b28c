"""What every truth probe shares: input handling, probabilities and the sign.

A truth probe maps activations to p(label 1) — for contrast pairs, the probability
that the choice-1 completion (" True", " Yes") is the correct one. Subclasses implement
``fit`` and ``decision_function`` (a logit); this base turns the logit into
``predict_proba``, ``predict``, ``anomaly_score`` and sklearn's ``score``.

Unsupervised probes (CCS, CRC) find a direction only up to sign. They follow
scikit-learn's semi-supervised convention: ``fit(X, y)`` with ``y == -1`` for unlabelled
rows never lets labels into the objective; the few labelled rows only choose the sign
(majority agreement). With no labels the sign is left as found, and the label-free
number to report is max(acc, 1 - acc) — see ``best_sign_accuracy``. Their layer is
chosen without labels too: each exposes ``label_free_score_``, a score of its fit on the
training rows alone (higher = better) — CCS its loss, CRC its explained variance.

The scoring functions at the end (balanced accuracy, AUROC, with intervals over groups)
are shared by the ``elicit`` run kind and its protocol testbed.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from alignlab.interpretability._normalize import PairNormalizer, as_sides
from alignlab.stats import Estimate

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

    @property
    def label_free_score_(self) -> float:
        """How well the fit explains its own training rows without labels, comparable
        across layers (higher = better): what chooses an unsupervised probe's layer.
        NaN for probes that have none (the supervised ones)."""
        return float("nan")

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


# --- scoring: accuracy is misleading on an imbalanced task --------------------------------
# A probe that always answers the majority class scores the majority rate in accuracy
# (75.9% on TruthfulQA) but exactly 0.5 in balanced accuracy, the mean of the two classes'
# recalls; AUROC reads the probe's scores and ignores its threshold. Intervals resample
# whole groups (a country's true and false statement are not independent), as
# ``alignlab.stats.accuracy_ci`` does for accuracy.

def balanced_accuracy(y_true, y_pred) -> float:
    """Mean recall of the two classes; plain accuracy where only one class is present."""
    y, hit = np.asarray(y_true) == 1, np.asarray(y_true) == np.asarray(y_pred)
    return float(np.mean([hit[y == c].mean() for c in (True, False) if (y == c).any()]))


def auroc(y_true, scores) -> float:
    """Area under the ROC curve of ``scores`` (higher = label 1), ties counting one half;
    NaN when only one class is present."""
    from scipy.stats import rankdata

    y = np.asarray(y_true) == 1
    n1, n0 = int(y.sum()), int((~y).sum())
    if not n1 or not n0:
        return float("nan")
    r = rankdata(np.asarray(scores, dtype=np.float64))
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def resample_weights(groups, n: int, n_boot: int, seed: int) -> tuple[np.ndarray, str]:
    """(n_boot, n) how often each item is drawn when whole groups are resampled with
    replacement (each item its own group where ``groups`` is None or all distinct), and
    the method's name. Every metric below is a weighted sum under these weights, so a
    bootstrap is a few matrix products instead of n_boot Python passes."""
    cluster = np.arange(n) if groups is None else np.unique(np.asarray(groups, dtype=str), return_inverse=True)[1]
    n_groups = int(cluster.max()) + 1
    draws = np.random.default_rng(seed).integers(0, n_groups, size=(n_boot, n_groups))
    counts = np.zeros((n_boot, n_groups))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)  # (B, G) draws of each group
    how = f"cluster bootstrap over {n_groups} groups" if n_groups < n else f"bootstrap over {n} items"
    return counts[:, cluster], how  # (B, n)


def accuracy_draws(y_true, y_pred, W: np.ndarray) -> np.ndarray:
    """(B,) accuracy under each row of item weights ``W`` (B, n)."""
    hit = np.asarray(y_true) == np.asarray(y_pred)
    return (W * hit).sum(1) / W.sum(1)


def balanced_accuracy_draws(y_true, y_pred, W: np.ndarray) -> np.ndarray:
    """(B,) balanced accuracy under each row of item weights ``W`` (B, n)."""
    y = np.asarray(y_true) == 1
    hit = y == (np.asarray(y_pred) == 1)
    n1, n0 = W[:, y].sum(1), W[:, ~y].sum(1)  # (B,) drawn items of each class
    h1, h0 = W[:, y & hit].sum(1), W[:, ~y & hit].sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((n1 > 0) & (n0 > 0), 0.5 * (h1 / n1 + h0 / n0), (h1 + h0) / (n1 + n0))


def auroc_draws(y_true, scores, W: np.ndarray) -> np.ndarray:
    """(B,) AUROC under each row of item weights ``W`` (B, n): the pairwise comparison
    matrix weighted by how often its two items were drawn (NaN: a class not drawn)."""
    y, s = np.asarray(y_true) == 1, np.asarray(scores, dtype=np.float64)
    s1, s0 = s[y], s[~y]
    K = (s1[:, None] > s0[None, :]) + 0.5 * (s1[:, None] == s0[None, :])  # (n1, n0) wins of each pair
    W1, W0 = W[:, y], W[:, ~y]  # (B, n1), (B, n0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((W1 @ K) * W0).sum(1) / (W1.sum(1) * W0.sum(1))


def _percentile(value: float, boots: np.ndarray, n: int, how: str, level: float) -> Estimate:
    boots = boots[np.isfinite(boots)]
    a = (1 - level) / 2
    lo, hi = np.quantile(boots, [a, 1 - a]) if boots.size and np.isfinite(value) else (np.nan, np.nan)
    return Estimate(value, float(lo), float(hi), n, level, how)


def balanced_accuracy_ci(y_true, y_pred, groups=None, level: float = 0.95, n_boot: int = 2000,
                         seed: int = 0) -> Estimate:
    """Balanced accuracy with a percentile interval that resamples whole groups."""
    n = len(np.asarray(y_true))
    if not n:
        raise ValueError("balanced_accuracy_ci: no items were scored")
    W, how = resample_weights(groups, n, n_boot, seed)
    return _percentile(balanced_accuracy(y_true, y_pred), balanced_accuracy_draws(y_true, y_pred, W), n, how, level)


def auroc_ci(y_true, scores, groups=None, level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> Estimate | None:
    """AUROC with a percentile interval that resamples whole groups; None where the items
    hold only one class."""
    y = np.asarray(y_true) == 1
    if y.all() or not y.any():
        return None
    W, how = resample_weights(groups, y.size, n_boot, seed)
    return _percentile(auroc(y, scores), auroc_draws(y, scores, W), y.size, how, level)
