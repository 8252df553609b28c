"""Content-addressed caches (activations, prepared models) and run records."""

from alignlab.store._activations import ActivationKey, ActivationStore, CacheEntry
from alignlab.store._atomic import atomic_dir, atomic_write_bytes, atomic_write_text, sha256_file
from alignlab.store._hashing import stable_hash
from alignlab.store._runs import RunRecord, find_run, load_run, run_id, run_path, write_run

__all__ = [
    "ActivationKey",
    "ActivationStore",
    "CacheEntry",
    "RunRecord",
    "atomic_dir",
    "atomic_write_bytes",
    "atomic_write_text",
    "find_run",
    "load_run",
    "run_id",
    "run_path",
    "sha256_file",
    "stable_hash",
    "write_run",
]
