"""The cache catalogue: every kind of cache alignlab keeps under ``$ALIGNLAB_HOME``, how to
list it and how to clear it (``alignlab cache ls | clear``).

==============  ===============================  =============================================  =================
kind            where (under home)               keyed by                                       manifest
==============  ===============================  =============================================  =================
activations     activations/<hash>/              model digest, task, rows, template, layers,    manifest.json
                                                 pooling, dtype, max length
zeroshot        zeroshot/<hash>.npy              model digest, task, rows, dtype, max length    <hash>.key.json
ability         organisms/ability/<hash>.json    base weights digest, n                         <hash>.key.json
distill         organisms/distill/<hash>.json    base digest, dtype, answer format and length;  <hash>.key.json
                                                 inside, one list of answers per request hash
organisms       organisms/<spec hash>-<dtype>/   the spec's hash (BUILD_VERSION included),      build.json
                                                 the compute dtype                              (+ spec.yaml)
models          models/<name>/                   the registered name; weights checked against   alignlab.json
                                                 their sha256 on every load
weight-hashes   machine/file-sha256.json         one record: a weight file's sha256 per path    (the file)
                                                 and stamp (size, mtime, ctime, inode, device)
dtype-probe     machine/dtype-probe.json         one record: this machine's matmul rates        (the file)
==============  ===============================  =============================================  =================

Not here: W2S features memoised in one process (``generalization._run._FEATURES``; gone
with it) and run records (``$ALIGNLAB_RUNS``: results, not a cache; ``alignlab runs``) —
an audit's scored cells among them, each a ``trial`` run.

**The manifest convention.** An entry is named by its key (``stable_hash(key)``; a
prepared model by its registered name, an organism by its spec hash and dtype) and states
that key in a JSON manifest holding ``key`` (the value that was hashed), ``created``
(unix seconds) and, optionally, ``labels`` (names for people: model, task, organism):

- a folder entry holds its manifest (the file named above);
- a file entry has it beside it as ``<stem>.key.json``: a ``.npy`` cannot hold one, and a
  JSON entry's readers keep getting exactly what was cached (``put_cache_file``).

Readers never need the manifest. Entries written before the convention (file entries
without a ``.key.json``, organisms whose ``build.json`` has no ``key``, prepared models,
whose manifest names rather than hashes) are served as before and listed with their key
unknown. The sidecar is written before its entry, so an entry is never seen without its
key (a crash in between leaves a lone sidecar, which ``clear`` removes).

**Clearing.** A bare ``alignlab cache clear`` clears the kinds that take seconds to
minutes to recompute (``is_default``); the others (organisms, prepared models, the
self-distilled answers, the machine records) only when named. Organisms and prepared
models are built under a lock on ``<folder>/.locks/<entry name>`` (``folder_lock``): such
a kind is skipped, its holder named, while any of its builds runs (a build reads other
entries too: an organism copies an identical fine-tune's weights), and each entry is
removed holding its own lock. Lock folders stay: a process waiting on a deleted lock
file would take a lock nobody else can see. Interrupted writes (``.tmp-*`` folders,
``.*.tmp`` files) go with the entries: under their entry's lock where the kind has locks,
else once untouched for an hour (a live writer's are seconds old).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from alignlab.errors import UnknownNameError
from alignlab.paths import home
from alignlab.store._atomic import atomic_write_bytes
from alignlab.store._hashing import stable_hash
from alignlab.store._lock import FolderBusy, describe, folder_lock, holder, is_locked

KEY_SUFFIX = ".key.json"
LOCKS = ".locks"
STALE_S = 3600.0
"""A leftover temporary of a kind without locks is removed once untouched this long."""


@dataclass(frozen=True)
class CacheItem:
    """One entry of a cache, as listed."""

    name: str
    path: Path
    key: dict[str, Any] | None
    """What the entry is keyed by, from its manifest; None for an entry written before
    the manifest convention."""
    labels: dict[str, Any]
    size_bytes: int
    created: float
    n_records: int = 1
    """Entries it counts for: a record file (the weight hashes) holds many."""


class Layout(Protocol):
    """How one kind's entries lie on disk: listed and removed the same way for every kind."""

    def entries(self, root: Path) -> list[CacheItem]: ...

    def remove(self, item: CacheItem) -> None: ...

    def orphans(self, root: Path) -> list[Path]:
        """Files left without their entry (removed by ``clear`` like interrupted writes)."""
        ...


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


@dataclass(frozen=True)
class Folders:
    """Entries are folders, each holding ``manifest`` (present only once complete)."""

    manifest: str
    key_fields: tuple[str, ...] = ()
    """For a manifest without ``key`` that names its entry otherwise (a prepared model's
    ``name``): the fields that stand for the key."""

    def _key(self, meta: dict[str, Any]) -> dict[str, Any] | None:
        if "key" in meta:
            return meta["key"]
        return {f: meta[f] for f in self.key_fields if f in meta} or None

    def entries(self, root: Path) -> list[CacheItem]:
        items = []
        for manifest in sorted(root.glob(f"*/{self.manifest}")):
            if manifest.parent.name.startswith("."):
                continue
            meta = _read_json(manifest)
            with contextlib.suppress(FileNotFoundError):  # removed while listed
                items.append(CacheItem(manifest.parent.name, manifest.parent, self._key(meta),
                                       meta.get("labels") or {}, _size(manifest.parent),
                                       meta.get("created") or manifest.stat().st_mtime))
        return items

    def remove(self, item: CacheItem) -> None:
        shutil.rmtree(item.path)

    def orphans(self, root: Path) -> list[Path]:
        return []


@dataclass(frozen=True)
class Files:
    """Entries are single files ending in ``suffix``, each with its ``<stem>.key.json``."""

    suffix: str

    def entries(self, root: Path) -> list[CacheItem]:
        items = []
        for path in sorted(root.glob(f"*{self.suffix}")):
            if path.name.startswith(".") or path.name.endswith(KEY_SUFFIX):
                continue
            side = key_file(path)
            meta = _read_json(side) if side.exists() else {}
            with contextlib.suppress(FileNotFoundError):  # removed while listed
                stat = path.stat()
                size = stat.st_size + (side.stat().st_size if side.exists() else 0)
                items.append(CacheItem(path.name, path, meta.get("key"), meta.get("labels") or {}, size,
                                       meta.get("created") or stat.st_mtime))
        return items

    def remove(self, item: CacheItem) -> None:
        key_file(item.path).unlink(missing_ok=True)
        item.path.unlink(missing_ok=True)

    def orphans(self, root: Path) -> list[Path]:
        """Sidecars whose entry is gone (a crash between the two writes, an entry deleted by hand)."""
        return [side for side in sorted(root.glob(f"*{KEY_SUFFIX}"))
                if not (root / (side.name.removesuffix(KEY_SUFFIX) + self.suffix)).exists()]


@dataclass(frozen=True)
class Record:
    """One file holding many records (``count`` says how many); cleared as a whole."""

    count: Callable[[dict[str, Any]], int]

    def entries(self, root: Path) -> list[CacheItem]:
        if not root.is_file():
            return []
        data = _read_json(root)
        stat = root.stat()
        return [CacheItem(root.name, root, data.get("key"), {}, stat.st_size, stat.st_mtime, self.count(data))]

    def remove(self, item: CacheItem) -> None:
        item.path.unlink(missing_ok=True)

    def orphans(self, root: Path) -> list[Path]:
        return []


@dataclass(frozen=True)
class CacheKind:
    """One kind of cache: where it lives, what it holds and what clearing it costs."""

    name: str
    where: str
    """Path under ``$ALIGNLAB_HOME`` ("/"-separated): a folder, or a record kind's file."""
    holds: str
    keyed_by: str
    rebuild: str
    """What clearing costs: how the entries come back."""
    layout: Layout
    is_default: bool
    """Cleared by a bare ``alignlab cache clear``."""
    is_locked: bool = False
    """Entries are built holding ``<where>/.locks/<entry name>``."""

    @property
    def root(self) -> Path:
        return home() / self.where


CACHES: dict[str, CacheKind] = {}


def register_cache(kind: CacheKind) -> CacheKind:
    """Add a kind to the catalogue; a duplicate name raises."""
    if kind.name in CACHES:
        raise ValueError(f"duplicate cache kind name {kind.name!r}")
    CACHES[kind.name] = kind
    return kind


def cache_kinds() -> list[CacheKind]:
    """Every kind, in catalogue order (the cheap ones first)."""
    return list(CACHES.values())


def get_cache_kind(name: str) -> CacheKind:
    if name not in CACHES:
        raise UnknownNameError(f"unknown cache kind {name!r}; known: {', '.join(CACHES)}")
    return CACHES[name]


def default_kinds() -> list[str]:
    """What a bare ``alignlab cache clear`` clears."""
    return [k.name for k in CACHES.values() if k.is_default]


# --- writing entries ----------------------------------------------------------------------

def cache_dir(kind: str) -> Path:
    """The folder of a kind's entries (not created)."""
    return get_cache_kind(kind).root


def cache_file(kind: str, key: Any, suffix: str, length: int = 16) -> Path:
    """Where the file entry keyed by ``key`` lives: ``<kind folder>/<stable_hash(key)><suffix>``."""
    return cache_dir(kind) / f"{stable_hash(key, length=length)}{suffix}"


def key_file(entry: Path) -> Path:
    """The manifest beside a file entry: ``<stem>.key.json``."""
    return entry.with_name(entry.name.removesuffix(entry.suffix) + KEY_SUFFIX)


def manifest_fields(key: Any, labels: dict[str, Any] | None = None) -> dict[str, Any]:
    """The convention's fields, for a folder entry's manifest (or a sidecar)."""
    return {"key": json.loads(json.dumps(key, default=_jsonable)), "labels": labels or {}, "created": time.time()}


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def put_cache_file(path: Path, data: bytes, key: Any, labels: dict[str, Any] | None = None) -> Path:
    """Write a file entry and its ``.key.json`` atomically, the key first."""
    atomic_write_bytes(key_file(path), json.dumps(manifest_fields(key, labels), indent=1).encode())
    return atomic_write_bytes(path, data)


# --- listing and clearing -----------------------------------------------------------------

@dataclass(frozen=True)
class CacheUsage:
    """A kind and its entries now."""

    kind: CacheKind
    items: tuple[CacheItem, ...]

    @property
    def n_entries(self) -> int:
        return sum(i.n_records for i in self.items)

    @property
    def size_bytes(self) -> int:
        return sum(i.size_bytes for i in self.items)

    @property
    def newest(self) -> float | None:
        return max((i.created for i in self.items), default=None)


def list_cache(name: str) -> CacheUsage:
    kind = get_cache_kind(name)
    root = kind.root
    return CacheUsage(kind, tuple(kind.layout.entries(root)) if root.exists() else ())


def list_caches() -> list[CacheUsage]:
    """Every kind with its entries (empty kinds included)."""
    return [list_cache(name) for name in CACHES]


@dataclass(frozen=True)
class Cleared:
    """What clearing one kind did."""

    kind: str
    n_removed: int = 0
    bytes_freed: int = 0
    n_leftovers: int = 0
    """Interrupted writes removed."""
    n_skipped: int = 0
    busy: tuple[str, ...] = ()
    """Who held the locks that made it skip entries (``NAME: pid N on HOST``)."""


def running_builds(kind: CacheKind) -> list[str]:
    """``NAME: pid N on HOST`` for each of the kind's locks held now (tried, not guessed)."""
    locks = kind.root / LOCKS
    if not kind.is_locked or not locks.is_dir():
        return []
    return [f"{d.name}: {describe(holder(d))}" for d in sorted(locks.iterdir()) if d.is_dir() and is_locked(d)]


def clear_cache(name: str) -> Cleared:
    """Remove every entry of a kind, and its interrupted writes. A locked kind with a
    build running is skipped whole (``Cleared.busy`` says whose)."""
    kind = get_cache_kind(name)
    root = kind.root
    if not root.exists():
        return Cleared(name)
    items = kind.layout.entries(root)
    busy = running_builds(kind)
    if busy:
        return Cleared(name, n_skipped=sum(i.n_records for i in items), busy=tuple(busy))
    removed = freed = skipped = 0
    held_by: list[str] = []
    for item in items:
        try:
            with _entry_lock(kind, item.name):
                kind.layout.remove(item)
        except FolderBusy as err:  # a build started since the check
            skipped += item.n_records
            held_by.append(f"{item.name}: {describe(err.holder)}")
            continue
        removed += item.n_records
        freed += item.size_bytes
    n_left, left_busy = _clear_leftovers(kind, root)
    return Cleared(name, removed, freed, n_left, skipped, tuple(held_by + left_busy))


def _entry_lock(kind: CacheKind, name: str):
    if not kind.is_locked:
        return contextlib.nullcontext()
    return folder_lock(kind.root / LOCKS / name, wait=False)


def _leftover_owner(path: Path) -> str | None:
    """The entry an interrupted write was for: ``.tmp-NAME.rand`` / ``.old-NAME.rand``
    (``atomic_dir``), ``.NAME.rand.tmp`` (``atomic_write_bytes``); None if not one."""
    name = path.name
    if name.startswith((".tmp-", ".old-")):
        return name[5:].rsplit(".", 1)[0]
    if name.startswith(".") and name.endswith(".tmp") and name.count(".") >= 3:
        return name[1:-4].rsplit(".", 1)[0]
    return None


def _clear_leftovers(kind: CacheKind, root: Path) -> tuple[int, list[str]]:
    """Remove interrupted writes and orphaned sidecars; (how many, who held what was kept)."""
    if not root.is_dir():
        return 0, []
    found = [(p, _leftover_owner(p)) for p in sorted(root.iterdir())]
    found = [(p, owner) for p, owner in found if owner is not None and p.name != LOCKS]
    found += [(p, p.name.removesuffix(KEY_SUFFIX)) for p in kind.layout.orphans(root)]
    n, busy = 0, []
    for path, owner in found:
        try:
            if not kind.is_locked and time.time() - path.lstat().st_mtime < STALE_S:
                continue  # perhaps a write in progress: nothing says whose
            with _entry_lock(kind, owner):
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        except FolderBusy as err:
            busy.append(f"{owner}: {describe(err.holder)}")
            continue
        except FileNotFoundError:  # its writer finished (renamed it) or removed it
            continue
        n += 1
    return n, busy


# --- the catalogue --------------------------------------------------------------------------

def _n_files(record: dict[str, Any]) -> int:
    files = record.get("files")
    return len(files) if isinstance(files, dict) else 0


register_cache(CacheKind(
    "activations", "activations", "hidden states per example (safetensors shards)",
    "model weights digest, task fingerprint, rows, template, layers, pooling, dtype, max length",
    "seconds to minutes: extracted again on the next run", Folders("manifest.json"), is_default=True))
register_cache(CacheKind(
    "zeroshot", "zeroshot", "log-probabilities of a task's two answers per example (zero-shot baseline)",
    "model weights digest, task fingerprint, rows, dtype, max length",
    "seconds to minutes: one forward pass per example", Files(".npy"), is_default=True))
register_cache(CacheKind(
    "ability", "organisms/ability", "a base model's capitals accuracy (organism verification)",
    "base weights digest, number of countries", "seconds: scored again", Files(".json"), is_default=True))
register_cache(CacheKind(
    "distill", "organisms/distill", "a base model's own answers to organism prompts (self-distillation)",
    "base weights digest, dtype, answer format and length; per request inside",
    "minutes: the base model answers every organism's prompts again", Files(".json"), is_default=False))
register_cache(CacheKind(
    "organisms", "organisms", "built model organisms: fine-tuned weights, spec, sealed ground truth, verification",
    "spec hash (build version included), compute dtype",
    "many minutes each: fine-tuned and verified again", Folders("build.json"), is_default=False, is_locked=True))
register_cache(CacheKind(
    "models", "models", "prepared models: dequantized safetensors and tokenizer",
    "registered name (weights checked against their sha256 on load)",
    "minutes each: verified and dequantized again", Folders("alignlab.json", key_fields=("name",)),
    is_default=False, is_locked=True))
register_cache(CacheKind(
    "weight-hashes", "machine/file-sha256.json", "sha256 of each weight file read, by its stamp",
    "file path and stamp (size, mtime, ctime, inode, device)",
    "about a second per GB: each weight file is hashed again", Record(_n_files), is_default=False))
register_cache(CacheKind(
    "dtype-probe", "machine/dtype-probe.json", "this machine's fp32 and bf16 matmul rates (what dtype auto picks)",
    "machine, CPU, torch version, capability",
    "a few seconds, measured again; under load the new rates can change what auto picks",
    Record(lambda record: 1), is_default=False))
