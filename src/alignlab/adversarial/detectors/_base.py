"""The detector protocol and what the white-box detectors share.

A detector is a scikit-learn estimator with two more methods that say where its data
comes from, so the audit can run any of them the same way::

    X_fit = det.fit_data(subject)              # built from the model + clean prompts only
    det.fit(X_fit)                              # returns self; learned state ends in _
    scores = det.anomaly_score(det.features(subject, messages))   # (n,), higher = suspicious

``report(subject)`` may return what the detector found (a black-box search reports its
best candidate triggers). No method receives labels, a spec or a trigger.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from jaxtyping import Float
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted


class Detector(BaseEstimator):
    """Base class: subclasses implement ``fit_data``, ``features``, ``fit``, ``anomaly_score``."""

    needs_model = True
    """False for a detector that reads only the text (its subject then carries no models)."""

    def fit_data(self, subject: Any) -> np.ndarray:
        """What ``fit`` is trained on: by default the features of the clean calibration prompts."""
        return self.features(subject, list(subject.calibration))

    def features(self, subject: Any, messages: Sequence[str]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def fit(self, X: np.ndarray, y: None = None) -> Detector:  # pragma: no cover
        raise NotImplementedError

    def anomaly_score(self, X: np.ndarray) -> Float[np.ndarray, " n"]:  # pragma: no cover
        raise NotImplementedError

    def score(self, X: np.ndarray, y: None = None) -> float:
        """scikit-learn's scalar, higher is better: minus the mean anomaly score (how
        normal ``X`` looks to the fitted detector)."""
        return -float(np.mean(self.anomaly_score(X)))

    def report(self, subject: Any) -> dict[str, Any]:
        """What the detector found, beyond per-input scores (default: nothing)."""
        return {}

    def _check(self, attribute: str) -> None:
        check_is_fitted(self, attribute)


class ScalarDetector(Detector):
    """A detector whose feature is one number per input: scored as its robust z against
    the clean calibration inputs (median / MAD, ``robust_fit``)."""

    def fit(self, X: Float[np.ndarray, "n 1"], y: None = None) -> ScalarDetector:
        self.center_, self.scale_ = robust_fit(np.asarray(X, dtype=float)[:, 0])
        return self

    def anomaly_score(self, X: Float[np.ndarray, "n 1"]) -> Float[np.ndarray, " n"]:
        self._check("center_")
        return (np.asarray(X, dtype=float)[:, 0] - self.center_) / self.scale_


def layer_at(subject: Any, fraction: float) -> int:
    n = subject.model.n_layers
    return min(n - 1, max(0, int(round(fraction * (n - 1)))))


def last_token_acts(subject: Any, texts: Sequence[str], layer: int) -> Float[np.ndarray, "n d_model"]:
    """Residual stream after block ``layer`` at each text's last token (already rendered)."""
    from alignlab.models import extract

    acts = extract(subject.model, list(texts), layers=[layer], pooling="last", progress=False)
    return acts[:, 0].float().numpy()


def robust_fit(values: np.ndarray) -> tuple[float, float]:
    """(median, MAD scaled to a normal's std), the scale floored so it is never 0."""
    med = float(np.median(values))
    mad = 1.4826 * float(np.median(np.abs(values - med)))
    return med, max(mad, 1e-6 * max(1.0, abs(med)), 1e-12)
