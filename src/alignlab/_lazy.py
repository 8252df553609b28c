"""Package exports resolved on first use (PEP 562): a package lists where each public
name lives, and importing the package imports none of its heavy modules (torch,
sklearn), so config validation and commands that read records back stay fast."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, namespace: dict[str, Any], where: dict[str, str]) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``package``: ``where`` maps a public name to its submodule
    (relative, e.g. ``"_load"``); a name is imported once and kept in ``namespace``."""

    def __getattr__(name: str) -> Any:
        if name in where:
            value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
