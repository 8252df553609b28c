"""Truth probes on synthetic activations with a known answer, parity and normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignlab.interpretability import (
    CCS, CRC, LogisticProbe, MassMeanProbe, PairNormalizer, best_sign_accuracy, ccs_loss,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def planted(n=400, d=32, seed=0, truth=1.0, distractor=4.0):
    """Contrast pairs whose truth direction ``t`` flips between the two sides, plus a
    stronger direction ``u`` that is identical on both sides of a pair (so it carries no
    contrast-consistent signal), noise, and a large per-side offset (the " True"/" False"
    token) that normalisation must remove."""
    rng = np.random.default_rng(seed)
    t = rng.normal(size=d)
    t /= np.linalg.norm(t)
    u = rng.normal(size=d)
    u -= (u @ t) * t
    u /= np.linalg.norm(u)
    y = rng.integers(0, 2, n)
    s = (2 * y - 1)[:, None]
    shared = rng.normal(size=(n, d)) * 0.5 + rng.choice([-1, 1], n)[:, None] * distractor * u
    pos = shared + s * truth * t + rng.normal(size=(n, d)) * 0.3 + 5.0
    neg = shared - s * truth * t + rng.normal(size=(n, d)) * 0.3 - 2.0
    return np.stack([neg, pos], axis=1), y, t, u


def cos(a, b):
    return abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b))


def test_planted_direction_is_recovered_not_the_distractor():
    X, y, t, u = planted(seed=0)
    X_test, y_test = X[300:], y[300:]
    X, y = X[:300], y[:300]
    # the distractor really is the stronger direction in the raw activations
    raw = X[:, 1] - X[:, 1].mean(0)
    assert np.var(raw @ u) > 4 * np.var(raw @ t)
    unlabelled = np.full_like(y, -1)
    ccs = CCS(n_restarts=5, n_epochs=400, lr=1e-2).fit(X, unlabelled)
    crc = CRC().fit(X, unlabelled)
    for probe in (ccs, crc):
        assert cos(probe.coef_, t) > 0.9, type(probe).__name__
        assert cos(probe.coef_, u) < 0.2, type(probe).__name__
        assert best_sign_accuracy(y_test, probe.predict(X_test)) > 0.95
    logistic = LogisticProbe(C=1.0).fit(X, y)
    assert logistic.score(X_test, y_test) > 0.95
    assert MassMeanProbe().fit(X, y).score(X_test, y_test) > 0.95


def test_a_few_labels_fix_the_sign():
    X, y, t, _ = planted(seed=3)
    for k in (4, 8):
        y_few = np.full_like(y, -1)
        y_few[:k] = y[:k]
        for probe in (CRC().fit(X, y_few), CCS(n_restarts=3, n_epochs=300, lr=1e-2).fit(X, y_few)):
            assert probe.score(X, y) > 0.95
            assert probe.direction_ @ t > 0.9  # oriented towards "true"
    # labelled rows that disagree with the found direction flip it
    crc = CRC().fit(X, y)
    flipped = CRC().fit(X, 1 - y)
    assert crc.sign_ == -flipped.sign_


def test_logistic_matches_sklearn():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    n, d = 600, 40
    w = rng.normal(size=d)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, size=d) + rng.normal(size=d)
    y = (X @ w + rng.normal(size=n) * 4 > np.median(X @ w)).astype(int)
    train, test = np.arange(400), np.arange(400, n)
    for C in (0.01, 1.0):
        ours = LogisticProbe(C=C, scale="std").fit(X[train], y[train])
        ref = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000, tol=1e-8))
        ref.fit(X[train], y[train])
        assert abs(ours.score(X[test], y[test]) - ref.score(X[test], y[test])) <= 0.01
        assert np.allclose(ours.coef_, ref[-1].coef_[0], atol=1e-3)
        assert np.allclose(ours.predict_proba(X[test]), ref.predict_proba(X[test]), atol=1e-3)


def test_normalisation_fitted_on_train_is_applied_unchanged_at_test():
    X, y, _, _ = planted(seed=2)
    train, test = X[:200], X[200:] * 3.0 + 7.0  # a shifted, rescaled evaluation set
    probe = LogisticProbe().fit(train, y[:200])
    norm = PairNormalizer(scale="norm").fit(train)
    assert np.allclose(probe.normalizer_.mean_, norm.mean_)
    assert np.allclose(probe.normalizer_.scale_, norm.scale_)
    # the probe's test features are the train statistics applied to test rows ...
    S = (test - norm.mean_) / norm.scale_
    expected = (S[:, 1] - S[:, 0]) @ probe.coef_ + probe.intercept_
    assert np.allclose(probe.decision_function(test), expected)
    # ... not statistics re-fitted on the test rows (which would centre them again)
    refit = PairNormalizer(scale="norm").fit(test).transform(test)
    assert not np.allclose(probe.decision_function(test),
                           (refit[:, 1] - refit[:, 0]) @ probe.coef_ + probe.intercept_)
    # and transforming does not refit
    before = probe.normalizer_.mean_.copy()
    probe.predict(test)
    assert np.array_equal(before, probe.normalizer_.mean_)


@pytest.mark.parametrize("scale", ["norm", "std", "none"])
def test_normaliser_centres_each_side(scale):
    X, _, _, _ = planted(seed=4)
    Z = PairNormalizer(scale=scale).fit_transform(X)
    assert np.allclose(Z.mean(0), 0, atol=1e-9)
    if scale == "std":
        assert np.allclose(Z.std(0), 1)
    if scale == "norm":
        assert np.allclose((Z**2).sum(2).mean(0) / Z.shape[2], 1)


def test_ccs_loss_matches_hand_computation():
    p_pos = np.array([0.9, 0.2, 0.5])
    p_neg = np.array([0.2, 0.7, 0.5])
    # consistency: (0.9-0.8)^2=0.01, (0.2-0.3)^2=0.01, (0.5-0.5)^2=0 -> mean 0.02/3
    # confidence: min^2 = 0.04, 0.04, 0.25 -> mean 0.33/3
    assert ccs_loss(p_pos, p_neg) == pytest.approx(0.02 / 3 + 0.33 / 3)
    torch_loss = ccs_loss(torch.tensor(p_pos)[:, None], torch.tensor(p_neg)[:, None])
    assert torch_loss.shape == (1,) and float(torch_loss[0]) == pytest.approx(0.35 / 3)


def test_ccs_keeps_the_lowest_loss_restart():
    X, y, _, _ = planted(seed=5, n=200)
    ccs = CCS(n_restarts=4, n_epochs=50, lr=1e-2).fit(X)
    assert ccs.losses_.shape == (4,)
    assert ccs.loss_ == pytest.approx(ccs.losses_.min())
    # the kept restart's loss recomputed from its weights
    S = ccs.normalizer_.transform(X)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    recomputed = ccs_loss(sig(S[:, 1] @ ccs.coef_ + ccs.intercept_), sig(S[:, 0] @ ccs.coef_ + ccs.intercept_))
    assert recomputed == pytest.approx(ccs.loss_, rel=1e-4)


def test_vectorised_restarts_equal_separate_runs():
    X, _, _, _ = planted(seed=6, n=100, d=8)
    together = CCS(n_restarts=3, n_epochs=30, lr=1e-2, random_state=0).fit(X)
    # the same initial weights, one restart at a time, must end at the same losses
    import torch as T

    S = together.normalizer_.transform(X)
    neg, pos = T.tensor(S[:, 0], dtype=T.float32), T.tensor(S[:, 1], dtype=T.float32)
    W0 = T.randn(3, 8, generator=T.Generator().manual_seed(0)) / 8**0.5
    for r in range(3):
        w = W0[r].clone().requires_grad_()
        b = T.zeros((), requires_grad=True)
        opt = T.optim.AdamW([w, b], lr=1e-2, weight_decay=0.01)
        for _ in range(30):
            opt.zero_grad()
            ccs_loss(T.sigmoid(pos @ w + b), T.sigmoid(neg @ w + b)).backward()
            opt.step()
        with T.no_grad():
            final = float(ccs_loss(T.sigmoid(pos @ w + b), T.sigmoid(neg @ w + b)))
        assert final == pytest.approx(together.losses_[r], rel=1e-4, abs=1e-6)


def test_pairs_required_for_contrast_methods():
    X = np.random.default_rng(0).normal(size=(20, 4))
    with pytest.raises(ValueError, match="pairs"):
        CCS(n_epochs=1).fit(X)
    with pytest.raises(ValueError, match="pairs"):
        CRC().fit(X)
    with pytest.raises(ValueError, match="shape"):
        LogisticProbe().fit(np.zeros((4, 3, 2, 1)), [0, 1, 0, 1])
