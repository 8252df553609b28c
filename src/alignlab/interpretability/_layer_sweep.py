"""Where does a model represent a label? A supervised linear probe per layer.

For each layer: standardise the activations (statistics from the training rows only),
fit an L2 logistic regression on the training rows, and score held-out rows. Each
accuracy carries its denominator and a Wilson interval, and the majority-class rate of
the same held-out rows is reported beside it as the baseline to beat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from alignlab.stats import Estimate, wilson


@dataclass(frozen=True)
class LayerSweep:
    """Held-out probe accuracy per layer."""

    layers: list[int]
    accuracy: list[Estimate]
    majority: Estimate
    """Accuracy of always predicting the training majority class (the floor)."""
    n_train: int
    n_test: int
    meta: dict = field(default_factory=dict)

    @property
    def best_layer(self) -> int:
        return self.layers[int(np.argmax([a.value for a in self.accuracy]))]

    def as_dict(self) -> dict:
        return {"layers": self.layers, "accuracy": [a.as_dict() for a in self.accuracy],
                "majority": self.majority.as_dict(), "n_train": self.n_train, "n_test": self.n_test,
                "best_layer": self.best_layer, **self.meta}


def probe_layers(
    acts: np.ndarray,
    labels: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    layers: list[int] | None = None,
    C: float = 0.1,
    seed: int = 0,
) -> LayerSweep:
    """Fit one logistic probe per layer on ``train`` rows and score it on ``test`` rows.

    Args:
        acts: (n, n_layers, d_model) activations (any float dtype).
        labels: (n,) 0/1 labels.
        train, test: disjoint row indices.
        layers: names for the layer axis (default 0..n_layers-1).
        C: inverse L2 strength on standardised features.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    acts = np.asarray(acts, dtype=np.float32)
    labels = np.asarray(labels)
    if np.intersect1d(train, test).size:
        raise ValueError("probe_layers: train and test rows overlap")
    if len(np.unique(labels[train])) < 2:
        raise ValueError("probe_layers: the training rows hold a single class")
    layers = list(range(acts.shape[1])) if layers is None else list(layers)
    y_train, y_test = labels[train], labels[test]
    majority_class = int(np.bincount(y_train).argmax())
    accuracy = []
    for j in range(acts.shape[1]):
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=seed))
        probe.fit(acts[train, j], y_train)
        correct = int((probe.predict(acts[test, j]) == y_test).sum())
        accuracy.append(wilson(correct, len(test)))
    majority = wilson(int((y_test == majority_class).sum()), len(test))
    return LayerSweep(layers, accuracy, majority, len(train), len(test))
