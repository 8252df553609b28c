"""Stable content hashes of configuration-like values."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def _default(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):  # pydantic
        return obj.model_dump(mode="json")
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if hasattr(obj, "tolist"):  # numpy / torch
        return obj.tolist()
    raise TypeError(f"cannot hash a value of type {type(obj).__name__}")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_default, ensure_ascii=False)


def stable_hash(value: Any, length: int = 16) -> str:
    """A hex sha256 prefix of ``value``'s canonical JSON: the same value, the same key."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:length]
