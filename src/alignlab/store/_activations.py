"""The activation cache: safetensors shards plus a manifest, content-addressed.

An entry's key hashes everything that determines its tensor (model weights digest,
task fingerprint and the rows taken, template, layers, pooling, dtype, max length),
so an identical request is a cache hit and any change is a miss. An entry is built in
a temporary folder and renamed into place with its manifest, so a killed run leaves
no entry. Each shard's sha256 is in the manifest and checked on every read: a
truncated or corrupted shard is reported, the entry deleted, and ``get`` misses, so
the caller recomputes; bad bytes are never returned.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from alignlab.paths import home
from alignlab.store._atomic import atomic_dir, sha256_file
from alignlab.store._hashing import stable_hash

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
_SHARD_BYTES = 256 * 2**20


class ActivationKey(BaseModel):
    """Everything that determines an activation tensor."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_digest: str = Field(min_length=1)
    """sha256 of the weight files' contents, verified on load (or a hash of a tiny
    model's config and seed); never a name or a path. Empty is refused: a model
    without a digest (a scrubbed audit subject) is not cached."""
    task_fingerprint: str
    rows: str
    """Which examples, in order: ``"all"`` or a hash of the index list."""
    template: str
    layers: tuple[int, ...]
    pooling: str
    dtype: str
    max_length: int

    @property
    def digest(self) -> str:
        return stable_hash(self.model_dump(mode="json"), length=24)


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    key: dict
    shape: tuple[int, ...]
    size_bytes: int
    labels: dict


class ActivationStore:
    """Content-addressed activation cache under ``root`` (default ``$ALIGNLAB_HOME/activations``)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else home() / "activations"

    def path(self, key: ActivationKey) -> Path:
        return self.root / key.digest

    def get(self, key: ActivationKey) -> torch.Tensor | None:
        """The cached tensor, verified; ``None`` on a miss or a damaged entry (deleted)."""
        import torch
        from safetensors.torch import load_file

        path = self.path(key)
        manifest = path / MANIFEST
        if not manifest.exists():
            return None
        try:
            meta = json.loads(manifest.read_text())
            parts = []
            for shard in meta["shards"]:
                file = path / shard["file"]
                if not file.exists() or sha256_file(file) != shard["sha256"]:
                    raise ValueError(f"shard {file} is missing or fails its checksum")
                parts.append(load_file(file)["acts"])
            tensor = torch.cat(parts) if parts else torch.empty(0)
            if list(tensor.shape) != meta["shape"]:
                raise ValueError(f"shape {list(tensor.shape)} != manifest {meta['shape']}")
        except (ValueError, KeyError, OSError, json.JSONDecodeError) as err:
            log.warning("activation cache entry %s is damaged (%s); deleting it and recomputing", path, err)
            shutil.rmtree(path, ignore_errors=True)
            return None
        return tensor

    def put(self, key: ActivationKey, acts: torch.Tensor, labels: dict | None = None) -> Path:
        """Store ``acts`` (n, ...) atomically under ``key``; ``labels`` is free-form
        provenance shown by ``alignlab cache ls`` (model and task names)."""
        from safetensors.torch import save_file

        acts = acts.detach().cpu().contiguous()
        row_bytes = max(1, acts[0].numel() * acts.element_size()) if len(acts) else 1
        per_shard = max(1, _SHARD_BYTES // row_bytes)
        with atomic_dir(self.path(key)) as tmp:
            shards = []
            for i, start in enumerate(range(0, len(acts), per_shard)):
                name = f"shard-{i:05d}.safetensors"
                save_file({"acts": acts[start:start + per_shard].clone()}, str(tmp / name))
                shards.append({"file": name, "rows": min(per_shard, len(acts) - start),
                               "sha256": sha256_file(tmp / name)})
            meta = {"key": key.model_dump(mode="json"), "shape": list(acts.shape), "shards": shards,
                    "labels": labels or {}, "created": time.time()}
            (tmp / MANIFEST).write_text(json.dumps(meta, indent=2))
        return self.path(key)

    def ls(self) -> list[CacheEntry]:
        """Finished entries (interrupted ``.tmp-*`` folders are not listed)."""
        entries = []
        for manifest in sorted(self.root.glob(f"*/{MANIFEST}")):
            try:
                meta = json.loads(manifest.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            size = sum(f.stat().st_size for f in manifest.parent.iterdir())
            entries.append(CacheEntry(manifest.parent, meta["key"], tuple(meta["shape"]), size,
                                      meta.get("labels", {})))
        return entries

    def clear(self) -> int:
        """Delete every entry and leftover temporary folder; returns entries removed."""
        n = len(self.ls())
        if self.root.exists():
            for child in self.root.iterdir():
                shutil.rmtree(child, ignore_errors=True)
        return n
