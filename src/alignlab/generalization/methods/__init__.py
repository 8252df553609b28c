"""Transfer methods: how a strong student learns from a weak supervisor's soft labels.

A method says *what* the student learns from — which rows of B, which targets, which
loss — and never *how* it is trained: a learner (a head on frozen activations, or the
fine-tuned model itself) does that, so every method runs in both training modes. A
method sees the strong model's frozen features on B and the weak soft labels on B,
nothing else; the ground truth stays in the evaluator. Each method is one file; the
registry records the arguments an instance was built with, so a result says what ran.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from alignlab.errors import AlignlabError
from alignlab.protocol import Registry

if TYPE_CHECKING:
    from torch import Tensor


class TransferMethod(Protocol):
    name: str
    params: dict[str, Any]
    needs_mid: bool

    def targets(self, X: np.ndarray, weak: np.ndarray, seed: int,
                mid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rows of B to train on and their soft targets in [0, 1].

        ``X``: the strong model's frozen features on B (n, d); ``weak``: weak soft
        labels (n,); ``mid``: an intermediate model's features, for ``needs_mid``.
        """
        ...

    def loss(self, logits: Tensor, targets: Tensor, step: int, n_steps: int) -> Tensor:
        """The training objective of one minibatch; ``step`` of ``n_steps`` for schedules."""
        ...


class Method:
    """Defaults: every row, the weak labels as they are, cross-entropy."""

    needs_mid = False

    def targets(self, X, weak, seed, mid=None):
        return np.arange(len(weak)), np.asarray(weak, dtype=np.float64)

    def loss(self, logits, targets, step, n_steps):
        from alignlab.generalization._head import soft_xent

        return soft_xent(logits, targets)


METHODS: Registry[TransferMethod] = Registry("W2S method", discover=__name__)
"""Every method by name; the modules of this package register the built-ins on the first lookup."""


def register_method(name: str, *, description: str = ""):
    """Register a method factory (a decorator); duplicate names raise."""
    return METHODS.register(name, description=description)


def known_methods() -> Registry[TransferMethod]:
    """Every registered method by name (the built-in ones imported first)."""
    return METHODS


def make_method(name: str, **params: Any) -> TransferMethod:
    """Build a registered method; ``params`` override its defaults and are recorded
    (``.name``, ``.params``, and the reference ``.ref``). Parameters the method does not
    take, or of the wrong type, end in an error naming them."""
    accepted = METHODS.get(name).params_model().model_fields  # an unknown name lists the known ones
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise AlignlabError(f"W2S method {name!r} has no parameter(s) {unknown}; it takes {sorted(accepted)}")
    method = METHODS.create({"name": name, "params": params})
    method.name, method.params = name, dict(params)
    return method
