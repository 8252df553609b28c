"""Content-addressed caches (activations, prepared models) and run records."""

from alignlab.store._activations import ActivationKey, ActivationStore, CacheEntry
from alignlab.store._atomic import atomic_dir, atomic_write_bytes, atomic_write_text, sha256_file
from alignlab.store._hashing import stable_hash
from alignlab.store._runs import (
    RunRecord,
    active_run,
    find_run,
    headline,
    load_run,
    mark_running,
    rebuild_index,
    resolve_run,
    run_id,
    run_path,
    run_status,
    write_error,
    write_run,
)

__all__ = [
    "ActivationKey",
    "ActivationStore",
    "CacheEntry",
    "RunRecord",
    "active_run",
    "atomic_dir",
    "atomic_write_bytes",
    "atomic_write_text",
    "find_run",
    "headline",
    "load_run",
    "mark_running",
    "rebuild_index",
    "resolve_run",
    "run_id",
    "run_path",
    "run_status",
    "sha256_file",
    "stable_hash",
    "write_error",
    "write_run",
]
