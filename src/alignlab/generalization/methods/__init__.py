"""Transfer methods: how a strong student learns from a weak supervisor's soft labels.

A method says *what* the student learns from — which rows of B, which targets, which
loss — and never *how* it is trained: a learner (a head on frozen activations, or the
fine-tuned model itself) does that, so every method runs in both training modes. A
method sees the strong model's frozen features on B and the weak soft labels on B,
nothing else; the ground truth stays in the evaluator. Each method is one file; the
registry records the arguments an instance was built with, so a result says what ran.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from torch import Tensor

from alignlab.errors import UnknownNameError


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


METHODS: dict[str, Callable[..., TransferMethod]] = {}


def register_method(name: str):
    """Register a method factory; duplicate names raise."""

    def decorate(factory):
        if name in METHODS:
            raise ValueError(f"duplicate W2S method {name!r}")
        METHODS[name] = factory
        return factory

    return decorate


def known_methods() -> dict[str, Callable[..., TransferMethod]]:
    """Every registered method by name (the built-in ones imported first)."""
    from alignlab.generalization.methods import aux_conf, bootstrap, conf_filter, knn_smooth, xent  # noqa: F401

    return METHODS


def make_method(name: str, **params: Any) -> TransferMethod:
    """Build a registered method; ``params`` override its defaults and are recorded.
    Parameters the method does not take end in an error naming them."""
    if name not in known_methods():
        raise UnknownNameError(f"unknown W2S method {name!r}; known: {', '.join(sorted(METHODS))}")
    import inspect

    accepted = set(inspect.signature(METHODS[name]).parameters)
    unknown = sorted(set(params) - accepted)
    if unknown:
        from alignlab.errors import AlignlabError

        raise AlignlabError(f"W2S method {name!r} has no parameter(s) {unknown}; it takes {sorted(accepted)}")
    method = METHODS[name](**params)
    method.name, method.params = name, dict(params)
    return method
