"""Content-addressed caches (activations, prepared models), run records and folder locks."""

from alignlab.store._activations import ActivationKey, ActivationStore, CacheEntry
from alignlab.store._atomic import (
    atomic_dir,
    atomic_write_bytes,
    atomic_write_text,
    sha256_file,
)
from alignlab.store._hashing import stable_hash
from alignlab.store._lock import FolderBusy, folder_lock, is_locked
from alignlab.store._lock import holder as lock_holder
from alignlab.store._runs import (
    RunListing,
    RunRecord,
    active_run,
    find_run,
    headline,
    list_runs,
    load_run,
    mark_running,
    rebuild_index,
    record_kind,
    recover_run,
    recover_stale,
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
    "FolderBusy",
    "RunListing",
    "RunRecord",
    "active_run",
    "atomic_dir",
    "atomic_write_bytes",
    "atomic_write_text",
    "find_run",
    "folder_lock",
    "headline",
    "is_locked",
    "list_runs",
    "load_run",
    "lock_holder",
    "mark_running",
    "rebuild_index",
    "record_kind",
    "recover_run",
    "recover_stale",
    "resolve_run",
    "run_id",
    "run_path",
    "run_status",
    "sha256_file",
    "stable_hash",
    "write_error",
    "write_run",
]
