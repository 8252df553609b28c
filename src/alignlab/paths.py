"""Where alignlab keeps its caches and run records."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The root of every cache: ``$ALIGNLAB_HOME``, default ``~/.cache/alignlab``."""
    return Path(os.environ.get("ALIGNLAB_HOME", Path.home() / ".cache" / "alignlab")).expanduser()


def runs_dir() -> Path:
    """Where run records go: ``$ALIGNLAB_RUNS``, default ``./runs``."""
    return Path(os.environ.get("ALIGNLAB_RUNS", "runs")).expanduser()
