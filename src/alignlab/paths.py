"""Where alignlab keeps its caches and run records."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The root of every cache: ``$ALIGNLAB_HOME``, default ``~/.cache/alignlab``. What lives
    under it, one folder per cache kind, is catalogued in ``alignlab.store._caches``
    (``alignlab cache ls``): a new cache registers its kind there and takes its folder
    from it (``store.cache_dir``)."""
    return Path(os.environ.get("ALIGNLAB_HOME", Path.home() / ".cache" / "alignlab")).expanduser()


def runs_dir() -> Path:
    """Where run records go: ``$ALIGNLAB_RUNS``, default ``./runs``."""
    return Path(os.environ.get("ALIGNLAB_RUNS", "runs")).expanduser()
