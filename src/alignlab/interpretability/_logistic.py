"""Supervised baseline: L2-regularised logistic regression on (normalised) activations.

The ceiling the unsupervised probes are measured against. On contrast pairs the
features are x̃⁺ − x̃⁻ (per-side normalised); on plain (n, d) activations, x̃ itself.
The objective is scikit-learn's, so the two agree (a parity test holds us to it):

    minimise  ½‖w‖² + C · Σᵢ log(1 + exp(−sᵢ (w·xᵢ + b))),   sᵢ = 2yᵢ − 1,

with the intercept unpenalised, solved by L-BFGS with the exact gradient.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float

from alignlab.interpretability._normalize import Scale
from alignlab.interpretability._truth_probe import TruthProbe


class LogisticProbe(TruthProbe):
    """Logistic-regression truth probe.

    Args:
        C: inverse L2 strength (larger = weaker regularisation), as in scikit-learn.
        scale: per-side normalisation (see ``PairNormalizer``).
        max_iter: L-BFGS iteration cap.
        tol: L-BFGS gradient tolerance.
    """

    def __init__(self, C: float = 0.1, scale: Scale = "norm", max_iter: int = 1000, tol: float = 1e-6):
        self.C = C
        self.scale = scale
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y) -> LogisticProbe:
        from scipy.optimize import minimize

        F = self._fit_features(X, self.scale)  # (n, d)
        y = self._binary_labels(y)
        s = 2.0 * y - 1.0  # (n,) in {-1, +1}
        d = F.shape[1]

        def loss_grad(theta):
            w, b = theta[:d], theta[d]
            margin = s * (F @ w + b)  # (n,)
            # log(1 + e^{-m}) and its derivative −σ(−m), computed without overflow
            loss = 0.5 * w @ w + self.C * np.logaddexp(0.0, -margin).sum()
            g = -self.C * s * np.exp(-np.logaddexp(0.0, margin))  # (n,)  dL/d(w·x+b)
            return loss, np.concatenate([w + F.T @ g, [g.sum()]])

        res = minimize(loss_grad, np.zeros(d + 1), jac=True, method="L-BFGS-B",
                       options={"maxiter": self.max_iter, "gtol": self.tol})
        self.coef_, self.intercept_ = res.x[:d], float(res.x[d])
        self.n_iter_ = int(res.nit)
        return self

    def decision_function(self, X) -> Float[np.ndarray, " n"]:
        return self._features(X) @ self.coef_ + self.intercept_
