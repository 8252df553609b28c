"""Prepare a registered model once: verify its GGUF, dequantize it through
``transformers``, and cache plain safetensors under ``$ALIGNLAB_HOME/models/NAME``.

Reloading the cached folder takes 1–4 s instead of 10–45 s for the GGUF. The folder is
built under a temporary name and renamed when complete, so an interrupted prepare
leaves nothing that a later load could mistake for a finished one.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from alignlab.errors import IntegrityError
from alignlab.models._registry import ModelEntry, get_entry
from alignlab.models._sources import BundledFolder
from alignlab.paths import home
from alignlab.store import atomic_dir, sha256_file

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


def read_prepared(name: str) -> PreparedModel | None:
    """The prepared model if its folder is complete and its weights have the recorded
    size; ``None`` if it was never prepared. A damaged folder raises IntegrityError."""
    entry = get_entry(name)
    if isinstance(entry.source, BundledFolder):
        return _bundled(entry)
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
    return PreparedModel(name, path, meta["weights_sha256"], meta["size_bytes"])


def _bundled(entry: ModelEntry) -> PreparedModel:
    folder = entry.source.folder()
    return PreparedModel(entry.name, folder, weights_digest(folder), _weights_size(folder))


def _weight_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.safetensors"))


def _weights_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in _weight_files(folder))


_SHA_CACHE: dict[tuple[str, int, float], str] = {}


def weights_digest(folder: Path) -> str:
    """sha256 over a folder's safetensors files (one file: that file's own sha256).

    Memoised per process by (path, size, mtime): a loaded folder is hashed once.
    """
    import hashlib

    files = _weight_files(folder)
    if not files:
        raise IntegrityError(f"{folder} holds no *.safetensors weights")
    digests = []
    for f in files:
        st = f.stat()
        key = (str(f), st.st_size, st.st_mtime)
        if key not in _SHA_CACHE:
            _SHA_CACHE[key] = sha256_file(f)
        digests.append(_SHA_CACHE[key])
    if len(digests) == 1:
        return digests[0]
    return hashlib.sha256("".join(digests).encode()).hexdigest()


def prepare(name: str, force: bool = False) -> PreparedModel:
    """Make ``name`` loadable offline (idempotent; ``force`` rebuilds)."""
    entry = get_entry(name)
    if isinstance(entry.source, BundledFolder):
        return _bundled(entry)
    if not force:
        try:
            ready = read_prepared(name)
        except IntegrityError as err:
            log.warning("%s; rebuilding", err)
            ready = None
        if ready is not None:
            return ready
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = prepared_dir(name)
    with tempfile.TemporaryDirectory(dir=_ensure(target.parent)) as work, atomic_dir(target) as out:
        folder, gguf = entry.source.materialize(Path(work))
        log.info("dequantizing %s from %s", name, gguf)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32)
        # The weights are plain float tensors now; drop the GGUF quantizer so that
        # save_pretrained writes ordinary safetensors and reloads need no gguf.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
        meta = {
            "name": name, "hf_id": entry.hf_id, "source_sha256": entry.source.sha256,
            "weights_sha256": weights_digest(out), "size_bytes": _weights_size(out),
            "d_model": model.config.hidden_size, "n_layers": model.config.num_hidden_layers,
        }
        (out / MANIFEST).write_text(json.dumps(meta, indent=2))
    return PreparedModel(name, target, meta["weights_sha256"], meta["size_bytes"])


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
