"""One conformance suite for every truth-probe estimator (the scikit-learn contract)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from alignlab.interpretability import CCS, CRC, LogisticProbe, MassMeanProbe, PairNormalizer, ZeroShot

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny problems: threads cost more than they save


def _pairs(n=120, d=8, seed=0):
    rng = np.random.default_rng(seed)
    t = np.eye(d)[0]
    y = rng.integers(0, 2, n)
    base = rng.normal(size=(n, d))
    s = (2 * y - 1)[:, None]
    return np.stack([base - s * t * 2, base + s * t * 2 + 1.0], axis=1), y  # (n, 2, d)


def _logprobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    lp = rng.normal(size=(n, 2)) - 3
    lp[np.arange(n), y] += 2.0
    return lp, y


ESTIMATORS = [
    (LogisticProbe(C=1.0), _pairs),
    (MassMeanProbe(), _pairs),
    (CCS(n_restarts=3, n_epochs=200, lr=1e-2), _pairs),
    (CRC(), _pairs),
    (ZeroShot(), _logprobs),
    (ZeroShot(calibrate=True), _logprobs),
]
IDS = [f"{type(e).__name__}{i}" for i, (e, _) in enumerate(ESTIMATORS)]


@pytest.mark.parametrize(("est", "make"), ESTIMATORS, ids=IDS)
def test_estimator_contract(est, make):
    X, y = make()
    X_copy = X.copy()
    init_params = est.get_params()
    assert not [k for k in vars(est) if k.endswith("_")], "__init__ must not set learned state"
    with pytest.raises(NotFittedError):
        est.predict_proba(X)

    fitted = clone(est).fit(X, y)
    assert isinstance(fitted, type(est))
    assert fitted.get_params() == init_params, "fit must not change hyperparameters"
    assert np.array_equal(X, X_copy), "fit must not modify its input"
    learned = [k for k in vars(fitted) if k.endswith("_")]
    assert learned, "fit stores learned state in attributes ending in _"

    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert np.allclose(proba.sum(1), 1) and (proba >= 0).all() and (proba <= 1).all()
    assert np.array_equal(fitted.predict(X), (proba[:, 1] > 0.5).astype(int))
    assert 0.0 <= fitted.score(X, y) <= 1.0  # sklearn's scalar, higher is better
    anomaly = fitted.anomaly_score(X)
    assert anomaly.shape == (len(X),)
    # higher = more suspicious: false items (label 0) score higher on average
    assert anomaly[y == 0].mean() > anomaly[y == 1].mean()

    again = clone(est).fit(X, y)
    assert np.allclose(again.predict_proba(X), proba), "same seed, same fit"


@pytest.mark.parametrize("est", [LogisticProbe(), MassMeanProbe(), CCS(), CRC(), ZeroShot(),
                                 PairNormalizer(scale="std")], ids=lambda e: type(e).__name__)
def test_clone_and_params_roundtrip(est):
    twin = clone(est)
    assert twin is not est and twin.get_params() == est.get_params()
    assert type(est)(**est.get_params()).get_params() == est.get_params()


def test_unsupervised_fit_without_labels():
    X, y = _pairs()
    for est in (CCS(n_restarts=2, n_epochs=100, lr=1e-2), CRC()):
        fitted = est.fit(X)  # y=None: unsupervised
        assert fitted.sign_ == 1
        acc = fitted.score(X, y)
        assert max(acc, 1 - acc) > 0.9
