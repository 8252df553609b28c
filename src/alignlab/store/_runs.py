"""Run records: one self-describing, content-addressed folder per finished run.

``runs/<kind>-<hash of the config>/`` holds ``config.yaml`` (what ran), ``env.json``
(where and with what it ran), ``log`` (what it printed, when an executor ran it) and
``result.json`` (what came out). ``result.json`` is written last and atomically, so its
presence is the mark of a finished run; a folder without it is an interrupted run and is
never read as a result. A run that crashed, timed out or was cancelled has ``error.json``
(the reason and the tail of the traceback) instead, and is run again next time.

Every write also updates the SQLite index beside the folders (``runs/index.sqlite``,
see ``_index``); the folders stay the truth and ``rebuild_index`` recreates it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from alignlab.paths import runs_dir
from alignlab.store._atomic import atomic_write_text
from alignlab.store._hashing import _default, stable_hash

log = logging.getLogger(__name__)
ERROR_TAIL_LINES = 40

_TRACKED_PACKAGES = (
    "alignlab", "torch", "transformers", "numpy", "scikit-learn", "safetensors", "pydantic",
)


@dataclass(frozen=True)
class RunRecord:
    """A finished run on disk."""

    path: Path
    kind: str
    config: dict[str, Any]
    result: dict[str, Any]

    @property
    def id(self) -> str:
        return self.path.name


def run_id(kind: str, config: dict[str, Any]) -> str:
    """The folder name of a run: its kind and a hash of its resolved config."""
    return f"{kind}-{stable_hash({'kind': kind, 'config': config}, length=12)}"


def _git_state() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                capture_output=True, text=True, timeout=5, check=True,
            ).stdout.strip()
        )
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def environment(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a run needs to be reproduced: git state, versions, platform, device."""
    versions = {}
    for name in _TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    env: dict[str, Any] = {
        "git": _git_state(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
    }
    if "torch" in sys.modules:  # a run that loaded no model does not import torch for this
        from alignlab.machine import machine_record

        # the machine, and the dtype `auto` means on it (a config may name another; its
        # record says so); a bad $ALIGNLAB_DTYPE is noted, never stops a record
        machine = machine_record()
        env.update({k: machine[k] for k in ("device", "torch_threads", "cpu", "cpu_capability", "compute_dtype")},
                   **{k: machine[k] for k in ("auto_dtype", "dtype_reason", "dtype_probe", "dtype_error")
                      if k in machine})
    env.update(extra or {})
    return env


def _strict(value: Any) -> Any:
    """Plain JSON data with NaN/inf as None: result files stay standard JSON, and an
    undefined number (a PGR with no gap) reads back as null, not as a fake float."""
    import math

    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def write_run(
    kind: str,
    config: dict[str, Any],
    result: dict[str, Any],
    *,
    root: str | Path | None = None,
    env_extra: dict[str, Any] | None = None,
) -> RunRecord:
    """Record a finished run; returns the record. Re-writing the same config replaces it."""
    import yaml

    config = _strict(json.loads(json.dumps(config, default=_default)))  # plain data only
    result = _strict(json.loads(json.dumps(result, default=_default)))
    path = run_path(kind, config, root)
    path.mkdir(parents=True, exist_ok=True)
    # result.json last: it marks the run as finished.
    (path / "result.json").unlink(missing_ok=True)
    (path / "error.json").unlink(missing_ok=True)
    timing = _timing(path)
    env = environment({**(env_extra or {}), **({"run": timing} if timing else {})})
    atomic_write_text(path / "config.yaml", yaml.safe_dump({"kind": kind, **config}, sort_keys=False))
    atomic_write_text(path / "env.json", json.dumps(env, indent=2))
    atomic_write_text(path / "result.json", json.dumps(result, indent=2, allow_nan=False))
    _index_update(path.parent, {
        "id": path.name, "kind": kind, "status": "finished", "config": config,
        "summary": headline(result), "error": None, "commit_sha": env["git"]["commit"],
        "finished": time.time(), **{k: timing[k] for k in ("started", "seconds", "executor", "pid") if k in timing},
    })
    return RunRecord(path=path, kind=kind, config=config, result=result)


def write_error(
    kind: str,
    config: dict[str, Any],
    reason: str,
    traceback_text: str = "",
    *,
    root: str | Path | None = None,
) -> Path:
    """Record that a run did not finish (crash, timeout, out of memory, cancelled):
    ``error.json`` with the reason and the traceback's last lines, never ``result.json``.
    Returns the run folder. The next attempt at the same config runs it again."""
    import yaml

    config = _strict(json.loads(json.dumps(config, default=_default)))
    path = run_path(kind, config, root)
    path.mkdir(parents=True, exist_ok=True)
    (path / "result.json").unlink(missing_ok=True)
    timing = _timing(path)
    tail = traceback_text.strip().splitlines()[-ERROR_TAIL_LINES:]
    error = {"reason": reason, "traceback_tail": tail, "time": time.time(), **({"run": timing} if timing else {})}
    if not (path / "config.yaml").exists():
        atomic_write_text(path / "config.yaml", yaml.safe_dump({"kind": kind, **config}, sort_keys=False))
    atomic_write_text(path / "error.json", json.dumps(_strict(error), indent=2))
    _index_update(path.parent, {
        "id": path.name, "kind": kind, "status": "failed", "config": config, "error": reason,
        "finished": time.time(), **{k: timing[k] for k in ("started", "seconds", "executor", "pid") if k in timing},
    })
    return path


def mark_running(kind: str, config: dict[str, Any], *, root: str | Path | None = None,
                 executor: str = "inline", pid: int | None = None) -> Path:
    """Note that a run has started: its folder with ``config.yaml`` (so even a killed
    run is identifiable), a stale ``error.json`` removed, and an index row ``running``."""
    import yaml

    config = _strict(json.loads(json.dumps(config, default=_default)))
    path = run_path(kind, config, root)
    path.mkdir(parents=True, exist_ok=True)
    (path / "error.json").unlink(missing_ok=True)
    atomic_write_text(path / "config.yaml", yaml.safe_dump({"kind": kind, **config}, sort_keys=False))
    _index_update(path.parent, {"id": path.name, "kind": kind, "status": "running", "config": config,
                                "started": time.time(), "finished": None, "seconds": None, "error": None,
                                "executor": executor, "pid": pid or os.getpid()})
    return path


# The run an executor is running in this process (or thread): write_run and
# write_error add its start time, duration and executor to the record.
_ACTIVE: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("alignlab_active_run",
                                                                                default=None)


@contextlib.contextmanager
def active_run(path: Path, executor: str) -> Iterator[None]:
    """Within this block, records written to ``path`` carry the block's timing."""
    token = _ACTIVE.set({"path": str(Path(path).resolve()), "started": time.time(), "executor": executor,
                         "pid": os.getpid()})
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def _timing(path: Path) -> dict[str, Any]:
    active = _ACTIVE.get()
    if not active or active["path"] != str(Path(path).resolve()):
        return {}
    return {"started": active["started"], "seconds": time.time() - active["started"],
            "executor": active["executor"], "pid": active["pid"]}


def _index_update(root: Path, row: dict[str, Any]) -> None:
    """Update the index; the folders are the truth, so a failure here is logged, not
    raised (``alignlab runs list --rebuild`` recreates the index)."""
    from alignlab.store import _index

    try:
        _index.upsert(root, row)
    except Exception as err:  # noqa: BLE001 — a broken index must not lose a finished run
        log.warning("run index %s not updated (%s); rebuild it with `alignlab runs list --rebuild`",
                    _index.index_path(root), err)


def headline(result: dict[str, Any], max_items: int = 24) -> dict[str, Any]:
    """The estimates of a result (dicts with value/lo/hi/n) by dotted path, found
    without descending into lists (per-seed or per-layer detail), plus top-level
    numbers: what ``runs list`` and ``runs compare`` show for any kind of run."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str, depth: int) -> None:
        if len(out) >= max_items or not isinstance(node, dict):
            return
        if {"value", "lo", "hi"} <= set(node):
            out[prefix] = {k: node.get(k) for k in ("value", "lo", "hi", "n")}
            return
        if depth == 0:
            return
        for key, value in node.items():
            walk(value, f"{prefix}.{key}" if prefix else str(key), depth - 1)

    walk(result, "", 4)  # estimates first: they are what a run is for
    for key, value in result.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and len(out) < max_items:
            out[key] = value
    return out


def run_status(path: str | Path) -> str:
    """``finished`` (result.json), ``failed`` (error.json), ``running`` (started:
    config.yaml only — or killed without a trace) or ``absent``."""
    path = Path(path)
    if (path / "result.json").exists():
        return "finished"
    if (path / "error.json").exists():
        return "failed"
    return "running" if (path / "config.yaml").exists() else "absent"


def rebuild_index(root: str | Path | None = None) -> int:
    """Recreate the index rows from the run folders (the truth); returns how many."""
    import yaml

    from alignlab.store import _index

    root = Path(root or runs_dir())
    present = set()
    for path in sorted(p for p in root.glob("*") if p.is_dir() and (p / "config.yaml").exists()):
        config = yaml.safe_load((path / "config.yaml").read_text()) or {}
        kind = config.pop("kind", path.name.rsplit("-", 1)[0])
        status = run_status(path)
        row: dict[str, Any] = {"id": path.name, "kind": kind, "status": status, "config": config}
        if status == "finished":
            env = _read_json(path / "env.json")
            timing = env.get("run", {})
            row.update(summary=headline(_read_json(path / "result.json")), error=None,
                       finished=(path / "result.json").stat().st_mtime,
                       commit_sha=env.get("git", {}).get("commit"),
                       **{k: timing[k] for k in ("started", "seconds", "executor", "pid") if k in timing})
        elif status == "failed":
            err = _read_json(path / "error.json")
            row.update(error=err.get("reason"), finished=err.get("time"))
        else:
            row.update(started=(path / "config.yaml").stat().st_mtime)
        _index.upsert(root, row)
        present.add(path.name)
    _index.delete_missing(root, present)
    return len(present)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def run_path(kind: str, config: dict[str, Any], root: str | Path | None = None) -> Path:
    """The folder a run of this config writes to (files such as plots can go in before
    ``write_run`` marks it finished)."""
    return Path(root or runs_dir()) / run_id(kind, json.loads(json.dumps(config, default=_default)))


def find_run(kind: str, config: dict[str, Any], root: str | Path | None = None) -> RunRecord | None:
    """The finished record of this exact config, or None (never a half-written one)."""
    path = run_path(kind, config, root)
    if not (path / "result.json").exists():
        return None
    return load_run(path)


def load_run(path: str | Path) -> RunRecord:
    """Read a finished run; raises FileNotFoundError for an unfinished one."""
    import yaml

    path = Path(path)
    if not (path / "result.json").exists():
        raise FileNotFoundError(f"{path} has no result.json: the run did not finish; re-run it")
    config = yaml.safe_load((path / "config.yaml").read_text())
    kind = config.pop("kind")
    return RunRecord(path, kind, config, json.loads((path / "result.json").read_text()))


def resolve_run(ref: str | Path, root: str | Path | None = None) -> Path:
    """A run folder from a path, an id, or an unambiguous prefix of an id or its hash."""
    from alignlab.errors import UnknownNameError

    if Path(ref).is_dir() and ((Path(ref) / "config.yaml").exists() or (Path(ref) / "result.json").exists()):
        return Path(ref)
    root = Path(root or runs_dir())
    ref = str(ref)
    if (root / ref).is_dir():
        return root / ref
    matches = sorted(p for p in root.glob("*") if p.is_dir() and not p.name.startswith(".")
                     and (p.name.startswith(ref) or p.name.rsplit("-", 1)[-1].startswith(ref)))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UnknownNameError(f"no run {ref!r} in {root}; `alignlab runs list` shows the runs there")
    raise UnknownNameError(f"{ref!r} matches {len(matches)} runs in {root}: "
                           + ", ".join(p.name for p in matches[:8]) + (" ..." if len(matches) > 8 else ""))
