"""Run records: one self-describing, content-addressed folder per finished run.

``runs/<kind>-<hash of the config>/`` holds ``config.yaml`` (what ran), ``env.json``
(where and with what it ran), ``log`` (what it printed, when an executor ran it) and
``result.json`` (what came out). ``result.json`` is written last and atomically, so its
presence is the mark of a finished run; a folder without it is an interrupted run and is
never read as a result. A run that crashed, timed out or was cancelled has ``error.json``
(the reason and the tail of the traceback) instead, and is run again next time.

Who may write what (the run's folder lock, ``_lock.folder_lock``, decides):

- ``mark_running`` and a failure record (``write_error``) need the run's lock: the
  executor running the run holds it for the whole run, so a second process that runs the
  same spec cannot mark it running, nor record its own Ctrl-C as the run's failure.
- A finished ``result.json`` is written once and never removed: ``write_run`` replaces
  it atomically (under the lock, a re-run), and a failure recorded after it finished is
  only logged — the result stands.
- A folder left ``running`` by a process that is gone (its lock is free: the kernel drops
  it when the holder dies) is recorded as failed by the next reader (``run_status``,
  ``list_runs``), which takes the lock without waiting, so it never races a live run.

Every write also updates the SQLite index beside the folders (``runs/index.sqlite``,
see ``_index``); the folders stay the truth, ``rebuild_index`` recreates it, and
``list_runs`` rebuilds it by itself when it is missing or unreadable.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import os
import platform
import re
import sqlite3
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
from alignlab.store._lock import (
    LOCK_NAME,
    FolderBusy,
    describe,
    folder_lock,
    holder,
    is_locked,
    pid_alive,
)

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


class _GitState:
    """The commit and whether tracked files differ from it: one ``git status``, started
    when a run starts (``active_run``) and read when it is recorded, so its 4-5 ms pass
    while the run computes, and the record names the code as it was when the run began."""

    def __init__(self) -> None:
        self._state: dict[str, Any] | None = None
        try:
            self._proc: subprocess.Popen | None = subprocess.Popen(
                ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        except OSError:
            self._proc = None

    def result(self) -> dict[str, Any]:
        if self._state is None:
            self._state = {"commit": None, "dirty": None}
            if self._proc is not None:
                try:
                    out, _ = self._proc.communicate(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.communicate()
                    return self._state
                lines = out.splitlines() if self._proc.returncode == 0 else []
                commit = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), None)
                if commit not in (None, "(initial)"):
                    self._state = {"commit": commit, "dirty": any(not line.startswith("#") for line in lines)}
        return self._state


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str | None], ...]:
    """The tracked packages' versions, read once per process (parsing their metadata took
    13 ms a run: most of a trivial trial's overhead)."""
    out = []
    for name in _TRACKED_PACKAGES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, None))
    return tuple(out)


def environment(extra: dict[str, Any] | None = None, git: _GitState | None = None) -> dict[str, Any]:
    """What a run needs to be reproduced: git state, versions, platform, device."""
    env: dict[str, Any] = {
        "git": (git or _GitState()).result(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": dict(_versions()),
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
    """Record a finished run; returns the record. Re-writing the same config replaces it
    atomically (the old result stays readable until the new one is in place), under the
    run's lock: held already when an executor runs the run, waited for otherwise."""
    config = _strict(json.loads(json.dumps(config, default=_default)))  # plain data only
    result = _strict(json.loads(json.dumps(result, default=_default)))
    path = run_path(kind, config, root)

    def waiting(who: dict[str, Any]) -> None:
        log.warning("%s: waiting for %s to let go of it before recording it", path.name, describe(who))

    with folder_lock(path, on_wait=waiting):
        timing = _timing(path)
        env = environment({**(env_extra or {}), **({"run": timing} if timing else {})}, git=_active_git(path))
        _write_config(path, kind, config)
        atomic_write_text(path / "env.json", json.dumps(env, indent=2))
        # result.json last: it marks the run as finished. error.json goes after it, so a
        # reader sees a failed or a finished run, never neither.
        atomic_write_text(path / "result.json", json.dumps(result, indent=2, allow_nan=False))
        (path / "error.json").unlink(missing_ok=True)
        _index_update(path.parent, {
            "id": path.name, "kind": kind, "status": "finished", "config": config,
            "summary": headline(result), "error": None, "commit_sha": env["git"]["commit"],
            "finished": time.time(),
            **{k: timing[k] for k in ("started", "seconds", "executor", "pid") if k in timing},
        })
    return RunRecord(path=path, kind=kind, config=config, result=result)


def write_error(
    kind: str,
    config: dict[str, Any],
    reason: str,
    traceback_text: str = "",
    *,
    root: str | Path | None = None,
    wait_s: float = 0.0,
) -> Path:
    """Record that a run did not finish (crash, timeout, out of memory, cancelled):
    ``error.json`` with the reason and the traceback's last lines. Returns the run folder;
    the next attempt at the same config runs it again.

    Only a process that may speak for the run records it: this takes the run's lock
    (re-entrant, so the executor running the run, which holds it, can), waiting at most
    ``wait_s`` seconds (a worker being killed lets go a moment later). If another live
    process holds it — it is running that run — nothing is written. A finished
    ``result.json`` is never removed: a failure after it is logged, and the result stands."""
    config = _strict(json.loads(json.dumps(config, default=_default)))
    path = run_path(kind, config, root)
    _record_error(path, kind, config, reason, traceback_text, wait_s=wait_s)
    return path


def _write_config(path: Path, kind: str, config: dict[str, Any]) -> None:
    """``config.yaml`` (what ran), written only when it is missing or differs: a run
    marked running already has it, and a second fsync'd copy cost a trial 2-3 ms."""
    import yaml

    text = yaml.dump({"kind": kind, **config}, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
                     sort_keys=False)
    target = path / "config.yaml"
    try:
        if target.read_text() == text:
            return
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    atomic_write_text(target, text)


def _record_error(path: Path, kind: str, config: dict[str, Any], reason: str, traceback_text: str = "",
                  wait_s: float = 0.0) -> bool:
    """``write_error`` at a known folder; True when ``error.json`` was written."""
    try:
        with folder_lock(path, wait=wait_s > 0, timeout=wait_s if wait_s > 0 else None):
            if (path / "result.json").exists():
                log.warning("%s: not recording %r as its failure: it has a finished result.json, which stands",
                            path.name, reason)
                return False
            timing = _timing(path)
            tail = traceback_text.strip().splitlines()[-ERROR_TAIL_LINES:]
            error = {"reason": reason, "traceback_tail": tail, "time": time.time(),
                     **({"run": timing} if timing else {})}
            _write_config(path, kind, config)
            atomic_write_text(path / "error.json", json.dumps(_strict(error), indent=2))
            _index_update(path.parent, {
                "id": path.name, "kind": kind, "status": "failed", "config": config, "error": reason,
                "finished": time.time(),
                **{k: timing[k] for k in ("started", "seconds", "executor", "pid") if k in timing},
            })
            return True
    except FolderBusy as busy:
        log.warning("%s: not recording %r as its failure: %s holds it (the run goes on there)",
                    path.name, reason, describe(busy.holder))
        return False


def mark_running(kind: str, config: dict[str, Any], *, root: str | Path | None = None,
                 executor: str = "inline", pid: int | None = None) -> Path:
    """Note that a run has started: its folder with ``config.yaml`` (so even a killed
    run is identifiable), a stale ``error.json`` removed, and an index row ``running``.

    Call it holding the run's lock (``folder_lock(run_path(kind, config, root))``, as
    ``execute`` does, for the whole run); if another process holds it, ``FolderBusy``."""
    config = _strict(json.loads(json.dumps(config, default=_default)))
    path = run_path(kind, config, root)
    with folder_lock(path, wait=False):
        (path / "error.json").unlink(missing_ok=True)
        _write_config(path, kind, config)
        _index_update(path.parent, {"id": path.name, "kind": kind, "status": "running", "config": config,
                                    "started": time.time(), "finished": None, "seconds": None, "error": None,
                                    "executor": executor, "pid": pid or os.getpid()})
    return path


# The run an executor is running in this process (or thread): write_run and
# write_error add its start time, duration and executor to the record.
_ACTIVE: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("alignlab_active_run",
                                                                                default=None)


@contextlib.contextmanager
def active_run(path: Path, executor: str, force: bool = False) -> Iterator[None]:
    """Within this block, records written to ``path`` carry the block's timing; with
    ``force``, ``find_run`` does not return ``path``'s finished record (the kind's run
    function computes it again; runs it reads at other paths are still reused)."""
    token = _ACTIVE.set({"path": str(Path(path).resolve()), "started": time.time(), "executor": executor,
                         "pid": os.getpid(), "force": force, "git": _GitState()})
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def _active_git(path: Path) -> _GitState | None:
    active = _ACTIVE.get()
    return active["git"] if active and active["path"] == str(Path(path).resolve()) else None


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
        log.warning("run index %s not updated (%s); `alignlab runs list` rebuilds it from the run folders",
                    _index.index_path(root), err)


def headline(result: dict[str, Any], max_items: int = 24) -> dict[str, Any]:
    """The estimates of a result (dicts with value/lo/hi/n) by dotted path, found
    without descending into lists (per-seed or per-layer detail), plus top-level
    numbers: what ``runs list`` and ``runs compare`` show for any kind of run. A trial's
    typed Scores put its primary metric and baseline first (no guessing there)."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str, depth: int) -> None:
        if len(out) >= max_items or not isinstance(node, dict):
            return
        if {"value", "lo", "hi"} <= set(node):
            out.setdefault(prefix, {k: node.get(k) for k in ("value", "lo", "hi", "n")})
            return
        if depth == 0:
            return
        for key, value in node.items():
            walk(value, f"{prefix}.{key}" if prefix else str(key), depth - 1)

    scores = result.get("scores")
    if isinstance(scores, dict) and scores.get("primary") in scores.get("metrics", {}):
        # a protocol trial's Scores say which metric is the headline and its baseline: those first
        named = [scores["primary"], scores.get("baseline")]
        metrics = scores["metrics"]
        for name in [n for n in named if n in metrics] + [n for n in metrics if n not in named]:
            walk(metrics[name], f"scores.metrics.{name}", 0)
    walk(result, "", 4)  # estimates first: they are what a run is for
    for key, value in result.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and len(out) < max_items:
            out[key] = value
    return out


def _folder_status(path: Path) -> str:
    if (path / "result.json").exists():
        return "finished"
    if (path / "error.json").exists():
        return "failed"
    return "running" if (path / "config.yaml").exists() else "absent"


def run_status(path: str | Path, recover: bool = True) -> str:
    """``finished`` (result.json), ``failed`` (error.json), ``running`` (started:
    config.yaml only, and its process alive) or ``absent``. A ``running`` folder whose
    process is gone is recorded as failed first (``recover_run``), unless ``recover=False``."""
    path = Path(path)
    status = _folder_status(path)
    if status == "running" and recover and recover_run(path) is not None:
        return "failed"
    return status


def _alive(path: Path, pid: int | None, host: str | None) -> bool:
    """Whether the process running ``path`` may still be alive. Its lock says for sure: the
    kernel drops it with its holder. A folder without a lock file (started by an alignlab
    before locks), or on a filesystem without locks: the recorded pid is asked (alive
    unless known dead)."""
    locked = is_locked(path)
    if locked:
        return True
    if locked is False and (path / LOCK_NAME).exists():
        return False
    return pid_alive(pid, host) is not False


def recover_run(path: str | Path, pid: int | None = None) -> str | None:
    """If ``path`` is ``running`` but the process that ran it is gone (killed, machine
    rebooted), record it as failed — ``error.json`` and its index row — and return the
    reason; else None. ``pid``: the one the index recorded (default: the lock's last
    holder). The lock is taken without waiting and the status checked again under it,
    so a live run, or one that finished meanwhile, is never touched."""
    import yaml

    path = Path(path)
    if _folder_status(path) != "running":
        return None
    who = holder(path)
    pid = pid or who.get("pid") or _indexed_pid(path)
    if _alive(path, pid, who.get("host")):
        return None
    try:
        with folder_lock(path, wait=False):
            if _folder_status(path) != "running":
                return None
            kind, config = record_kind(path, yaml.safe_load((path / "config.yaml").read_text()))
            reason = (f"interrupted: process {pid} is gone (killed?)" if pid
                      else "interrupted: the process that ran it is gone (killed?)")
            return reason if _record_error(path, kind, config, reason) else None
    except FolderBusy:  # it was started again just now
        return None
    except (OSError, yaml.YAMLError) as err:
        log.warning("%s: could not recover a run left running (%s)", path.name, err)
        return None


def _indexed_pid(path: Path) -> int | None:
    """The pid the index recorded for a run folder (None if it has no row, or no index)."""
    from alignlab.store import _index

    try:
        rows = [r for r in _index.lookup(path.parent, path.name) if r["id"] == path.name]
    except sqlite3.Error:
        return None
    return rows[0]["pid"] if rows else None


def recover_stale(root: str | Path | None = None) -> list[tuple[str, str]]:
    """``recover_run`` for every run the index says is running; (id, reason) of each
    one recorded as failed."""
    from alignlab.store import _index

    root = Path(root or runs_dir())
    out = []
    for row in _index.query(root, status="running"):
        reason = recover_run(root / row["id"], pid=row["pid"])
        if reason is not None:
            out.append((row["id"], reason))
    return out


_RUN_ID = re.compile(r"^(?P<kind>.+)-[0-9a-f]{12}$")


def record_kind(path: str | Path, config: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """(kind, config) of a run folder from its ``config.yaml`` data. The folder's name
    (``run_id``: ``<kind>-<hash>``) says the kind: a sweep's config is its spec, whose
    ``kind`` key is its runs' kind, and stays part of the config; for any other run the
    key equals the name's kind and is dropped. A folder not named by ``run_id`` (copied,
    renamed) falls back on the key."""
    config = dict(config or {})
    match = _RUN_ID.match(Path(path).name)
    if match is None:
        return str(config.pop("kind", Path(path).name)), config
    named = match["kind"]
    if config.get("kind") == named:
        config.pop("kind")
    return named, config


def rebuild_index(root: str | Path | None = None) -> int:
    """Recreate the index rows from the run folders (the truth); returns how many. An
    unreadable index file is moved aside first (``_index.quarantine``); a folder left
    ``running`` by a process that is gone is recorded as failed on the way."""
    import yaml

    from alignlab.store import _index

    root = Path(root or runs_dir())
    _index.quarantine(root)
    rows, present = [], set()
    for path in sorted(p for p in root.glob("*") if p.is_dir() and (p / "config.yaml").exists()):
        try:
            kind, config = record_kind(path, yaml.safe_load((path / "config.yaml").read_text()))
        except (OSError, yaml.YAMLError) as err:
            log.warning("%s: unreadable config.yaml (%s); left out of the index", path.name, err)
            continue
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
            timing = err.get("run", {})
            row.update(error=err.get("reason"), finished=err.get("time"),
                       **{k: timing[k] for k in ("started", "seconds", "executor", "pid") if k in timing})
        else:
            row.update(started=(path / "config.yaml").stat().st_mtime, pid=holder(path).get("pid"))
        rows.append(row)
        present.add(path.name)
    _index.upsert_many(root, rows)
    _index.delete_missing(root, present)
    return len(present)


@dataclass(frozen=True)
class RunListing:
    """What ``list_runs`` found: the rows, and what it repaired on the way."""

    rows: list[dict[str, Any]]
    """Index rows, newest first (id, kind, status, started, finished, seconds, summary, error, ...)."""
    notes: list[str]
    """One line per repair: the index rebuilt (and why), a run recorded as failed."""


def list_runs(root: str | Path | None = None, *, kind: str | None = None, status: str | None = None,
              limit: int | None = None, rebuild: bool = False) -> RunListing:
    """The runs in ``root``'s index, newest first, optionally filtered. The index is
    repaired first, whatever state it is in: rebuilt from the folders when asked, when
    missing, or when unreadable (moved aside first); and runs left ``running`` by a
    process that is gone are recorded as failed (``recover_run``)."""
    from alignlab.store import _index

    root = Path(root or runs_dir())
    notes: list[str] = []
    if not root.is_dir():
        return RunListing([], notes)

    def moved_aside(moved: tuple[Path, str] | None) -> bool:
        if moved is not None:
            notes.append(f"the run index was unreadable ({moved[1]}): moved it aside to {moved[0].name} "
                         "and rebuilt it from the run folders")
        return moved is not None

    for attempt in (0, 1):
        try:
            if moved_aside(_index.quarantine(root)) or rebuild or not _index.index_path(root).exists():
                notes.append(f"indexed {rebuild_index(root)} run folder(s) in {root}")
            notes += [f"{run}: recorded as failed ({reason})" for run, reason in recover_stale(root)]
            return RunListing(_index.query(root, kind=kind, status=status, limit=limit), notes)
        except sqlite3.DatabaseError as err:
            # damaged after the check, or in a way the quick check missed: aside with it, once
            if attempt or not _index.is_corruption(err):
                raise
            moved_aside(_index.quarantine(root, reason=f"{err}"))
    raise AssertionError("unreachable")


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
    active = _ACTIVE.get()
    if active and active.get("force") and active["path"] == str(path.resolve()):
        return None  # being run again on purpose (``active_run(force=True)``)
    return load_run(path)


def load_run(path: str | Path) -> RunRecord:
    """Read a finished run; raises FileNotFoundError for an unfinished one."""
    import yaml

    path = Path(path)
    if not (path / "result.json").exists():
        raise FileNotFoundError(f"{path} has no result.json: the run did not finish; re-run it")
    kind, config = record_kind(path, yaml.safe_load((path / "config.yaml").read_text()))
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
