"""Prepare a registered model once: verify its GGUF, dequantize it through
``transformers``, and cache plain safetensors under ``$ALIGNLAB_HOME/models/NAME``.

Reloading the cached folder takes 1–4 s instead of 10–45 s for the GGUF. The folder is
built under a temporary name and renamed when complete, so an interrupted prepare
leaves nothing that a later load could mistake for a finished one; a lock beside it
(``models/.locks/NAME``) makes a second process wait for the first and then find the
model prepared, rather than build it again in parallel.

The manifest records each weight file's sha256, and every read checks the files
against it (``_weights``: hashed once per version of a file, remembered by its stamp).
Weights edited after preparing — even in place at the same size — are refused with the
repair command, so nothing computed from them is ever cached under the good digest.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from alignlab.errors import IntegrityError, WeightsMismatchError
from alignlab.models._registry import ModelEntry, get_entry
from alignlab.models._sources import BundledFolder
from alignlab.models._weights import carry_over, combine, file_sha256, weight_files, weights_digest
from alignlab.paths import home
from alignlab.store import atomic_dir

log = logging.getLogger(__name__)
MANIFEST = "alignlab.json"


@dataclass(frozen=True)
class PreparedModel:
    """A model folder ready for ``from_pretrained`` and its verified weights digest."""

    name: str
    path: Path
    weights_sha256: str
    size_bytes: int


def prepared_dir(name: str) -> Path:
    return home() / "models" / name


def _lock_dir(name: str) -> Path:
    # Beside the prepared folder, not in it: the build replaces that folder whole.
    return home() / "models" / ".locks" / name


def read_prepared(name: str, *, full: bool = False) -> PreparedModel | None:
    """The prepared model, its weights checked against the manifest; ``None`` if it was
    never prepared. A damaged folder raises ``IntegrityError`` (``WeightsMismatchError``
    for changed bytes) naming the repair command.

    Each file is hashed once per version (``_weights``); ``full`` re-hashes every file
    regardless (``alignlab doctor``)."""
    entry = get_entry(name)
    if isinstance(entry.source, BundledFolder):
        return _bundled(entry, full)
    path = prepared_dir(name)
    manifest = path / MANIFEST
    if not manifest.exists():
        return None
    meta = json.loads(manifest.read_text())
    if _weights_size(path) != meta["size_bytes"]:
        raise IntegrityError(
            f"prepared weights for {name} in {path} are missing or truncated; "
            f"run: alignlab models prepare {name} --force"
        )
    digest = _verified_digest(name, path, meta, full)
    return PreparedModel(name, path, digest, meta["size_bytes"])


def _verified_digest(name: str, path: Path, meta: dict, full: bool) -> str:
    """The folder's weights digest, after checking every file against the manifest."""
    repair = f"repair with: alignlab models prepare {name} --force"
    files = weight_files(path)
    recorded = meta.get("files")
    if recorded is None:  # a manifest from before per-file hashes: check the whole digest
        digest = weights_digest(path, trust_stamp=not full)
        if digest != meta["weights_sha256"]:
            which = files[0] if len(files) == 1 else f"one of the {len(files)} weight files in {path}"
            raise WeightsMismatchError(f"{which} does not match the sha256 recorded when {name} was prepared; "
                                       f"the weights changed since and are refused; {repair}")
        return digest
    if sorted(recorded) != [f.name for f in files]:
        raise WeightsMismatchError(f"{path} holds weight files {[f.name for f in files]} but {name} was prepared "
                                   f"with {sorted(recorded)}; {repair}")
    digests = []
    for f in files:
        actual = file_sha256(f, trust_stamp=not full)
        if actual != recorded[f.name]:
            raise WeightsMismatchError(
                f"{f} does not match the sha256 recorded when {name} was prepared (expected {recorded[f.name][:12]}…, "
                f"got {actual[:12]}…); the weights changed since and are refused; {repair}"
            )
        digests.append(actual)
    return combine(digests)


def _bundled(entry: ModelEntry, full: bool = False) -> PreparedModel:
    folder = entry.source.folder()
    return PreparedModel(entry.name, folder, weights_digest(folder, trust_stamp=not full), _weights_size(folder))


def _weights_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in weight_files(folder))


def prepare(name: str, force: bool = False) -> PreparedModel:
    """Make ``name`` loadable offline (idempotent; ``force`` or a damaged folder rebuilds).

    One process builds at a time: another waits on the lock, then finds the model ready."""
    entry = get_entry(name)
    if isinstance(entry.source, BundledFolder):
        return _bundled(entry)
    from alignlab.store._lock import folder_lock

    ready = None if force else _usable(name)
    if ready is not None:
        return ready
    with folder_lock(_lock_dir(name), wait=True):
        ready = None if force else _usable(name)  # the holder we waited for may have built it
        if ready is not None:
            return ready
        return _build(entry)


def _usable(name: str) -> PreparedModel | None:
    try:
        return read_prepared(name)
    except IntegrityError as err:
        log.warning("%s; rebuilding", err)
        return None


def _build(entry: ModelEntry) -> PreparedModel:
    target = prepared_dir(entry.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work, atomic_dir(target) as out:
        config = _dequantize(entry, Path(work), out)
        files = {f.name: file_sha256(f) for f in weight_files(out)}
        meta = {
            "name": entry.name, "hf_id": entry.hf_id, "source_sha256": entry.source.sha256,
            "weights_sha256": combine(list(files.values())), "files": files, "size_bytes": _weights_size(out),
            "d_model": config.hidden_size, "n_layers": config.num_hidden_layers,
        }
        (out / MANIFEST).write_text(json.dumps(meta, indent=2))
    for file in files:  # hashed once, in the build folder (renamed since): the first load reads the stamp
        carry_over(out / file, target / file)
    return PreparedModel(entry.name, target, meta["weights_sha256"], meta["size_bytes"])


def _dequantize(entry: ModelEntry, workdir: Path, out: Path):
    """Write ``entry``'s model and tokenizer to ``out`` as float safetensors; returns its config."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, gguf = entry.source.materialize(workdir)
    log.info("dequantizing %s from %s", entry.name, gguf)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32)
    # The weights are plain float tensors now; drop the GGUF quantizer so that
    # save_pretrained writes ordinary safetensors and reloads need no gguf.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return model.config


def link_model(src: Path, dst: Path) -> Path:
    """A model folder's files under ``dst`` — hard links (free; what a sandboxed variant
    is shown in its Problem), copies across filesystems — with ``config.json`` rewritten
    without the name it was saved under (an audit subject must not say which it is)."""
    from alignlab.store import link_or_copy

    dst.mkdir(parents=True, exist_ok=True)
    for f in sorted(p for p in Path(src).iterdir() if p.is_file()):
        if f.name == "config.json":
            config = {k: v for k, v in json.loads(f.read_text()).items() if "name_or_path" not in k}
            (dst / f.name).write_text(json.dumps(config, indent=1))
            continue
        link_or_copy(f, dst / f.name)
    return dst
