"""A linear head on frozen activations, trained by minibatch Adam on any W2S loss, and
the learner that trains such heads on one model's cached features.

Features are standardised with statistics of the rows the head is trained on. The L2
penalty is expressed like scikit-learn's ``C`` (mean loss + ||w||^2 / (2 C n)), so the
head trained with cross-entropy on hard labels matches ``LogisticRegression(C)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

from alignlab.threads import torch_threads

# loss(logits (b,), targets (b,), step, n_steps) -> scalar
Loss = Callable[[Tensor, Tensor, int, int], Tensor]


@dataclass
class LinearHead:
    """A fitted head: standardisation + logistic weights."""

    mean_: np.ndarray
    scale_: np.ndarray
    w_: np.ndarray
    b_: float

    def decision_function(self, X: Float[np.ndarray, "n d"]) -> Float[np.ndarray, " n"]:
        return ((np.asarray(X, np.float32) - self.mean_) / self.scale_) @ self.w_ + self.b_

    def predict_proba(self, X: Float[np.ndarray, "n d"]) -> Float[np.ndarray, " n"]:
        """P(label 1) per row."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(X)))

    def predict(self, X: Float[np.ndarray, "n d"]) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(np.int64)


def soft_xent(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean binary cross-entropy against soft targets in [0, 1]."""
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)


def _xent_loss(logits: Tensor, targets: Tensor, step: int, n_steps: int) -> Tensor:
    return soft_xent(logits, targets)


def fit_head(
    X: Float[np.ndarray, "n d"],
    targets: Float[np.ndarray, " n"],
    loss: Loss | None = None,
    *,
    C: float = 1.0,
    epochs: int = 60,
    batch_size: int = 64,
    lr: float = 1e-2,
    seed: int = 0,
) -> LinearHead:
    """Train a logistic head on ``X`` against ``targets`` with ``loss``.

    ``seed`` fixes the initialisation and the data order; ``loss`` defaults to
    cross-entropy on soft targets.
    """
    loss = loss or _xent_loss
    X = np.asarray(X, dtype=np.float32)
    n, d = X.shape
    if n == 0:
        raise ValueError("fit_head: no training rows")
    mean, scale = X.mean(0), X.std(0) + 1e-6
    gen = torch.Generator().manual_seed(seed)
    Xt = torch.from_numpy((X - mean) / scale)  # (n, d)
    yt = torch.as_tensor(np.asarray(targets, dtype=np.float32))  # (n,)
    w = torch.zeros(d, requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=lr)
    l2 = 1.0 / (2 * C * n)
    steps_per_epoch = max(1, -(-n // batch_size))
    n_steps, step = epochs * steps_per_epoch, 0
    # Minibatches of a linear head are far too small to split across threads; extra
    # threads only spin (a 3-seed protocol test took 14.9 s with 2 threads, 0.9 s with 1,
    # on a loaded 2-core machine).
    with torch_threads(1):
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen)
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                logits = Xt[idx] @ w + b  # (b,)
                objective = loss(logits, yt[idx], step, n_steps) + l2 * (w * w).sum()
                opt.zero_grad()
                objective.backward()
                opt.step()
                step += 1
    return LinearHead(mean, scale, w.detach().numpy().copy(), float(b.detach()))


class HeadConfig(BaseModel):
    """How a head on frozen activations is trained (the fast CPU mode)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    C: float = Field(1.0, gt=0)
    """Inverse L2 strength, as in scikit-learn's LogisticRegression."""
    epochs: int = Field(60, gt=0)
    """Passes over the training rows."""
    lr: float = Field(1e-2, gt=0)
    """Adam learning rate."""


class HeadLearner:
    """Trains heads on one model's frozen features; rows index the task's examples."""

    def __init__(self, X: Float[np.ndarray, "n d"], config: HeadConfig = HeadConfig()):
        self.features = np.asarray(X, dtype=np.float32)
        self.config = config

    def fit(self, rows: np.ndarray, targets: np.ndarray, seed: int, loss: Loss | None = None) -> _FittedHead:
        c = self.config
        head = fit_head(self.features[rows], targets, loss or _xent_loss, C=c.C, epochs=c.epochs, lr=c.lr, seed=seed)
        return _FittedHead(head, self.features)


@dataclass
class _FittedHead:
    head: LinearHead
    features: np.ndarray

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        return self.head.predict_proba(self.features[rows])
