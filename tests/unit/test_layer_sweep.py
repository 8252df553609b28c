"""The per-layer probe finds signal where it is and none where it is not."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from alignlab.interpretability import probe_layers


def _data(n=400, d=16, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    noise = rng.normal(size=(n, d))
    signal = rng.normal(size=(n, d))
    signal[:, 0] += 3 * (2 * y - 1)
    return np.stack([noise, signal], axis=1), y  # (n, 2 layers, d)


def test_signal_layer_beats_noise_layer():
    acts, y = _data()
    train, test = np.arange(300), np.arange(300, 400)
    assert probe_layers(acts, y, train, test).best_layer is None  # no val split: no honest choice
    sweep = probe_layers(acts, y, train[:250], test, val=train[250:])
    assert sweep.best_layer == 1 and sweep.best_test_accuracy is sweep.accuracy[1]
    assert sweep.accuracy[1].value > 0.95
    assert sweep.accuracy[0].lo < 0.65  # chance-level layer
    assert sweep.accuracy[1].n == 100 and sweep.val_accuracy[1].n == 50 and sweep.n_train == 250


def test_matches_sklearn_pipeline():
    acts, y = _data(seed=1)
    train, test = np.arange(250), np.arange(250, 400)
    sweep = probe_layers(acts, y, train, test, C=0.5)
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000)).fit(acts[train, 1], y[train])
    assert sweep.accuracy[1].value == pytest.approx((ref.predict(acts[test, 1]) == y[test]).mean())


def test_rejects_overlap_and_single_class():
    acts, y = _data()
    with pytest.raises(ValueError, match="overlap"):
        probe_layers(acts, y, np.arange(10), np.arange(5, 20))
    with pytest.raises(ValueError, match="overlap"):
        probe_layers(acts, y, np.arange(10), np.arange(10, 20), val=np.arange(15, 25))
    with pytest.raises(ValueError, match="single class"):
        probe_layers(acts, np.zeros_like(y), np.arange(10), np.arange(10, 20))
