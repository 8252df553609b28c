"""Transfer methods: how a strong student learns from a weak supervisor's soft labels.

A method sees the student's features on B and the weak soft labels on B — nothing
else; the ground truth stays in the evaluator. Each method is one file; the registry
records the arguments an instance was built with, so a result can say what ran.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from alignlab.errors import UnknownNameError
from alignlab.generalization._head import LinearHead


class TransferMethod(Protocol):
    name: str
    params: dict[str, Any]

    def fit_student(self, X: np.ndarray, weak: np.ndarray, seed: int) -> LinearHead:
        """Train a student head on features ``X`` (n, d) from weak soft labels (n,).

        A method with ``needs_mid = True`` also takes ``mid=`` features of an
        intermediate model on the same rows.
        """
        ...


METHODS: dict[str, Callable[..., TransferMethod]] = {}


def register_method(name: str):
    """Register a method factory; duplicate names raise."""

    def decorate(factory):
        if name in METHODS:
            raise ValueError(f"duplicate W2S method {name!r}")
        METHODS[name] = factory
        return factory

    return decorate


def make_method(name: str, **params: Any) -> TransferMethod:
    """Build a registered method; ``params`` override its defaults and are recorded."""
    from alignlab.generalization.methods import aux_conf, bootstrap, conf_filter, knn_smooth, xent  # noqa: F401

    if name not in METHODS:
        raise UnknownNameError(f"unknown W2S method {name!r}; known: {', '.join(sorted(METHODS))}")
    method = METHODS[name](**params)
    method.name, method.params = name, dict(params)
    return method
