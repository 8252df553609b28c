"""``xent``: naive cross-entropy on the weak supervisor's soft labels (the baseline)."""

from __future__ import annotations

from alignlab.generalization.methods import Method, register_method


@register_method("xent")
class Xent(Method):
    """Every row of B, its weak soft label, cross-entropy: the defaults, unchanged."""
