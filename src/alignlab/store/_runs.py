"""Run records: one self-describing, content-addressed folder per finished run.

``runs/<kind>-<hash of the config>/`` holds ``config.yaml`` (what ran), ``env.json``
(where and with what it ran) and ``result.json`` (what came out). ``result.json`` is
written last and atomically, so its presence is the mark of a finished run; a folder
without it is an interrupted run and is never read as a result.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from alignlab.paths import runs_dir
from alignlab.store._atomic import atomic_write_text
from alignlab.store._hashing import _default, stable_hash

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
    if "torch" in sys.modules:
        import torch

        env["device"] = "cuda" if torch.cuda.is_available() else "cpu"
        env["torch_threads"] = torch.get_num_threads()
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
    atomic_write_text(path / "config.yaml", yaml.safe_dump({"kind": kind, **config}, sort_keys=False))
    atomic_write_text(path / "env.json", json.dumps(environment(env_extra), indent=2))
    atomic_write_text(path / "result.json", json.dumps(result, indent=2, allow_nan=False))
    return RunRecord(path=path, kind=kind, config=config, result=result)


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
