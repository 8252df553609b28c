"""Contrast-Consistent Search (Burns et al. 2022): an unsupervised truth direction.

On a contrast pair (x⁻, x⁺) — one item completed as false/no and as true/yes — a
linear probe p(x) = σ(w·x̃ + b) over per-side normalised activations should be

    consistent:  p(x⁺) ≈ 1 − p(x⁻)          L_cons = mean (p⁺ − (1 − p⁻))²
    confident:   not both ≈ ½               L_conf = mean min(p⁺, p⁻)²

and CCS minimises L_cons + L_conf. No labels enter the loss. The loss is non-convex,
so several random restarts are run and the lowest final loss is kept. The restarts are
independent, so they are optimised together as one (R, d) weight matrix: two matmuls per
step for all of them (forward, and a hand-written backward) instead of R Python loops (``bench/probes.py`` measures the gain
against a one-restart-at-a-time loop). Adam's per-parameter updates and a loss that is
a sum over restarts keep each restart's trajectory exactly what it would be alone.

Predictions average the two views of a pair: p̄ = ½ (p⁺ + 1 − p⁻) = p(label 1).
The direction is found only up to sign; see ``TruthProbe`` for how it is resolved. The
final loss on the training pairs (``loss_``) is also what chooses CCS's layer in the
unsupervised setting (``label_free_score_``): it is on the same scale at every layer,
since each side is normalised first.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float

from alignlab.interpretability._normalize import Scale
from alignlab.interpretability._truth_probe import TruthProbe, resolve_sign


def ccs_loss(p_pos, p_neg):
    """CCS loss per restart: mean over pairs of the consistency plus confidence terms.

    Args:
        p_pos, p_neg: probabilities for the two sides, shape (n,) or (n, R) (torch or numpy).

    Returns:
        A scalar for (n,) inputs, shape (R,) for (n, R).
    """
    consistency = (p_pos - (1 - p_neg)) ** 2
    if isinstance(p_pos, np.ndarray):
        confidence = np.minimum(p_pos, p_neg) ** 2
    else:
        import torch

        confidence = torch.minimum(p_pos, p_neg) ** 2
    return consistency.mean(0) + confidence.mean(0)


def _ccs_grad(P, n: int, X):
    """Exact gradient of ``ccs_loss(P[:n], P[n:]).sum()`` with respect to (W, b), where
    P = σ(X Wᵀ + b) for the stacked sides X = [x⁺; x⁻]. Written out by hand: one
    (2n, R) elementwise pass and one matmul, about a fifth faster than autograd here;
    ``test_vectorised_restarts_equal_separate_runs`` checks it against autograd."""
    import torch

    p_pos, p_neg = P[:n], P[n:]  # (n, R) each
    both = (2.0 / n) * (p_pos + p_neg - 1)  # d(consistency)/dp, same for both sides
    low = (2.0 / n) * torch.minimum(p_pos, p_neg)  # d(confidence)/dp for the smaller side
    pos_low = p_pos < p_neg
    dP = torch.cat([both + torch.where(pos_low, low, 0.0), both + torch.where(pos_low, 0.0, low)])
    dZ = dP * P * (1 - P)  # (2n, R) through the sigmoid
    return dZ.T @ X, dZ.sum(0)  # (R, d), (R,)


class CCS(TruthProbe):
    """Contrast-Consistent Search with vectorised random restarts.

    Args:
        n_restarts: random initialisations; the one with the lowest final loss is kept.
        n_epochs: full-batch optimiser steps per restart.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        scale: per-side normalisation (see ``PairNormalizer``).
        random_state: seeds the initialisations.
    """

    def __init__(self, n_restarts: int = 10, n_epochs: int = 1000, lr: float = 1e-3,
                 weight_decay: float = 0.01, scale: Scale = "norm", random_state: int = 0):
        self.n_restarts = n_restarts
        self.n_epochs = n_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.scale = scale
        self.random_state = random_state

    def fit(self, X, y=None) -> CCS:
        """Fit on (n, 2, d) contrast pairs; ``y`` (-1 = unlabelled) only picks the sign."""
        import torch

        self._fit_features(X, self.scale)
        S = self._sides(X)
        neg = torch.as_tensor(S[:, 0], dtype=torch.float32)  # (n, d)
        pos = torch.as_tensor(S[:, 1], dtype=torch.float32)  # (n, d)
        n, d = pos.shape
        gen = torch.Generator().manual_seed(self.random_state)
        W = torch.randn(self.n_restarts, d, generator=gen) / d**0.5  # (R, d)
        b = torch.zeros(self.n_restarts)  # (R,)
        W.grad, b.grad = torch.zeros_like(W), torch.zeros_like(b)
        opt = torch.optim.AdamW([W, b], lr=self.lr, weight_decay=self.weight_decay)
        stacked = torch.cat([pos, neg])  # (2n, d): both sides in one matmul per step
        for _ in range(self.n_epochs):
            P = torch.sigmoid(torch.addmm(b, stacked, W.T))  # (2n, R)
            W.grad, b.grad = _ccs_grad(P, n, stacked)
            opt.step()
        with torch.no_grad():
            P = torch.sigmoid(torch.addmm(b, stacked, W.T))
            final = ccs_loss(P[:n], P[n:]).numpy()
        best = int(np.argmin(final))
        self.losses_ = final.astype(np.float64)  # (R,) every restart's final loss
        self.loss_ = float(final[best])
        self.coef_ = W[best].double().numpy()
        self.intercept_ = float(b[best])
        self.sign_ = 1
        self.sign_ = resolve_sign(self.decision_function(X), y, n)
        return self

    def _sides(self, X) -> Float[np.ndarray, "n 2 d"]:
        S = self.normalizer_.transform(X)
        if S.shape[1] != 2:
            raise ValueError("CCS needs (n, 2, d) contrast pairs")
        return S

    @property
    def label_free_score_(self) -> float:
        """−(CCS loss) of the kept restart on the training pairs: consistency plus
        confidence, no labels and independent of the sign — the layer-selection criterion
        of the unsupervised setting (the lowest loss wins)."""
        return -self.loss_

    @property
    def direction_(self) -> Float[np.ndarray, " d"]:
        """Unit truth direction in normalised coordinates, oriented by ``sign_``."""
        return self.sign_ * self.coef_ / np.linalg.norm(self.coef_)

    def decision_function(self, X) -> Float[np.ndarray, " n"]:
        S = self._sides(X)
        sig = lambda z: 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))  # noqa: E731
        p_pos, p_neg = sig(S[:, 1] @ self.coef_ + self.intercept_), sig(S[:, 0] @ self.coef_ + self.intercept_)
        p1 = np.clip(0.5 * (p_pos + 1 - p_neg), 1e-12, 1 - 1e-12)
        return self.sign_ * np.log(p1 / (1 - p1))
