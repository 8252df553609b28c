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
    """Test accuracy per layer."""
    majority: Estimate
    """Accuracy of always predicting the training majority class (the floor)."""
    n_train: int
    n_test: int
    val_accuracy: list[Estimate] | None = None
    """Validation accuracy per layer, when a validation split was given."""
    meta: dict = field(default_factory=dict)

    @property
    def best_layer(self) -> int | None:
        """The layer with the best *validation* accuracy (None without a validation
        split: the maximum of test accuracies would be an optimistic estimate)."""
        if self.val_accuracy is None:
            return None
        return self.layers[int(np.argmax([a.value for a in self.val_accuracy]))]

    @property
    def best_test_accuracy(self) -> Estimate | None:
        best = self.best_layer
        return None if best is None else self.accuracy[self.layers.index(best)]

    def as_dict(self) -> dict:
        return {"layers": self.layers, "accuracy": [a.as_dict() for a in self.accuracy],
                "val_accuracy": None if self.val_accuracy is None else [a.as_dict() for a in self.val_accuracy],
                "majority": self.majority.as_dict(), "n_train": self.n_train, "n_test": self.n_test,
                "best_layer": self.best_layer, "best_layer_selected_on": "val" if self.val_accuracy else None,
                **self.meta}

    @classmethod
    def from_dict(cls, data: dict) -> LayerSweep:
        """A sweep read back from a run record (``as_dict``'s output)."""
        def est(d: dict) -> Estimate:
            return Estimate(**{k: d[k] for k in ("value", "lo", "hi", "n", "level", "method") if k in d})

        known = {"layers", "accuracy", "val_accuracy", "majority", "n_train", "n_test", "best_layer",
                 "best_layer_selected_on"}
        return cls(list(data["layers"]), [est(a) for a in data["accuracy"]], est(data["majority"]),
                   data["n_train"], data["n_test"],
                   None if data.get("val_accuracy") is None else [est(a) for a in data["val_accuracy"]],
                   {k: v for k, v in data.items() if k not in known})


def probe_layers(
    acts: np.ndarray,
    labels: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    layers: list[int] | None = None,
    C: float = 0.1,
    seed: int = 0,
    val: np.ndarray | None = None,
) -> LayerSweep:
    """Fit one logistic probe per layer on ``train`` rows and score it on ``test`` rows
    (and on ``val`` rows, which then choose the best layer).

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
    parts = [train, test] + ([val] if val is not None else [])
    if sum(len(p) for p in parts) != len(np.unique(np.concatenate(parts))):
        raise ValueError("probe_layers: train, val and test rows overlap")
    if len(np.unique(labels[train])) < 2:
        raise ValueError("probe_layers: the training rows hold a single class")
    layers = list(range(acts.shape[1])) if layers is None else list(layers)
    y_train, y_test = labels[train], labels[test]
    majority_class = int(np.bincount(y_train).argmax())
    accuracy, val_accuracy = [], []
    for j in range(acts.shape[1]):
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=seed))
        probe.fit(acts[train, j], y_train)
        accuracy.append(wilson(int((probe.predict(acts[test, j]) == y_test).sum()), len(test)))
        if val is not None:
            val_accuracy.append(wilson(int((probe.predict(acts[val, j]) == labels[val]).sum()), len(val)))
    majority = wilson(int((y_test == majority_class).sum()), len(test))
    return LayerSweep(layers, accuracy, majority, len(train), len(test), val_accuracy if val is not None else None)
