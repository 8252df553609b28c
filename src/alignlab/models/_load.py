"""Load a model by name: a registered offline model, a tiny random model, a local
Hugging Face folder, or (with hub access) a Hugging Face id."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from alignlab.errors import AlignlabError, MissingPathError, NotAModelError
from alignlab.models._dtype import DType, resolve_dtype
from alignlab.store import stable_hash

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A model, its tokenizer, and what identifies its weights for caching."""

    name: str
    model: Any  # transformers.PreTrainedModel
    tokenizer: Any  # transformers.PreTrainedTokenizerBase
    digest: str
    """Identifies the weights by content: sha256 of the weight files (verified against the
    manifest for a prepared model), or a hash of a tiny model's config and seed. Every
    cache of what the model computes is keyed by it; ``""`` (a scrubbed audit subject)
    means "do not cache"."""
    arch: Literal["causal", "encoder"]

    @property
    def d_model(self) -> int:
        return self.model.config.hidden_size

    @property
    def n_layers(self) -> int:
        return self.model.config.num_hidden_layers

    @property
    def dtype(self) -> str:
        return str(self.model.dtype).removeprefix("torch.")

    @property
    def device(self) -> str:
        return str(self.model.device)


def default_device() -> str:
    """CUDA when present, else CPU; ``ALIGNLAB_DEVICE`` overrides. On Linux without a GPU
    device node (``/dev/nvidia*``, ``/dev/kfd`` for ROCm) it is CPU without importing torch
    (seconds), so that commands reading records back stay fast."""
    if os.environ.get("ALIGNLAB_DEVICE"):
        return os.environ["ALIGNLAB_DEVICE"]
    dev = Path("/dev")
    if sys.platform == "linux" and dev.is_dir() and not (any(dev.glob("nvidia*")) or (dev / "kfd").exists()):
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(name: str, dtype: DType = "auto", device: str | None = None) -> LoadedModel:
    """Load ``name`` in ``dtype`` on ``device`` (default: CUDA if available, else CPU).

    ``name`` is a registry name (``alignlab models list``; prepared on first use), a
    ``tiny-*`` test model, a local folder, or a Hugging Face id (``model_reference``).
    ``dtype="auto"`` is bf16 where the device runs it natively and fp32 elsewhere
    (``resolve_dtype``). A prepared model whose weights changed since preparing is
    refused (``WeightsMismatchError``, with the repair command).
    """
    import torch

    from alignlab.models._registry import get_entry
    from alignlab.models._tiny import build_tiny

    kind, ref = model_reference(name)
    device = device or default_device()
    torch_dtype = getattr(torch, resolve_dtype(dtype, device))
    if kind == "tiny":
        model, tokenizer, spec = build_tiny(name)
        arch = "encoder" if spec["model_type"] == "bert" else "causal"
        digest = "tiny-" + stable_hash(spec)
        model = model.to(device=device, dtype=torch_dtype)
    elif kind == "registered":
        from alignlab.models._prepare import prepare, read_prepared

        entry = get_entry(name)
        prepared = read_prepared(name) or prepare(name)  # damaged: refused, not silently rebuilt
        model, tokenizer = _from_folder(prepared.path, torch_dtype, device, entry.arch)
        arch, digest = entry.arch, prepared.weights_sha256
    elif kind == "folder":
        from alignlab.models._weights import weights_digest

        folder = _check_model_folder(ref)
        arch = _arch_of(folder)
        digest = weights_digest(folder)  # content, not path: an edited folder is another model to every cache
        model, tokenizer = _from_folder(folder, torch_dtype, device, arch)
    else:
        arch = _arch_of(name)
        model, tokenizer = _from_folder(name, torch_dtype, device, arch)
        digest = _hub_digest(name, model)
    _ensure_pad_token(tokenizer)
    model.eval()
    return LoadedModel(name, model, tokenizer, digest, arch)


def model_reference(name: str) -> tuple[Literal["tiny", "registered", "folder", "hub"], str | Path]:
    """What ``name`` names, decided without loading anything: ``(kind, name or folder)``.

    In order: a ``tiny-*`` test model; a registered name; an existing local folder
    (relative or absolute, with or without ``./``). A name that reads as a path but
    names nothing — it starts with ``.``, ``/`` or ``~``, has more than one ``/``, or its
    first part is a local folder (``mymodels/foo`` beside ``mymodels/``) — raises
    ``MissingPathError`` rather than being tried as a hub id; ``org/name`` is a Hugging
    Face id; anything else is an unknown name (``UnknownNameError`` lists the known ones).
    """
    from alignlab.models._registry import REGISTRY, get_entry
    from alignlab.models._tiny import TINY_CONFIGS

    if name in TINY_CONFIGS:
        return "tiny", name
    if name in REGISTRY:
        return "registered", name
    path = Path(name).expanduser()
    if path.is_dir():
        return "folder", path.resolve()
    if path.exists():
        raise NotAModelError(f"{name!r} is a file, not a model folder (one holding config.json and its weights)")
    parts = name.split("/")
    first = Path(parts[0]).expanduser()
    beside = len(parts) == 2 and not name.startswith((".", "~")) and first.is_dir()
    if name.startswith((".", "/", "~")) or len(parts) > 2 or "" in parts or beside:
        why = f" (read as a local path because {parts[0]}/ is a folder here)" if beside else ""
        raise MissingPathError(f"no such folder: {path.absolute()}{why}; name a folder holding config.json and "
                               "weights, a registered model (alignlab models list), or a hub id org/name")
    if len(parts) == 2:
        return "hub", name
    get_entry(name)  # raises with the list of known names
    raise AssertionError("unreachable")


def _check_model_folder(folder: Path) -> Path:
    """``folder`` if it holds what ``from_pretrained`` needs, else one line saying what is missing."""
    from alignlab.models._weights import weight_files

    missing = [what for what, ok in (("config.json", (folder / "config.json").is_file()),
                                     ("weights (*.safetensors or pytorch_model*.bin)", bool(weight_files(folder))))
               if not ok]
    if missing:
        raise NotAModelError(f"{folder} is not a model folder: it has no {' and no '.join(missing)}")
    return folder


def _one_line(err: BaseException, limit: int = 300, first_line: bool = False) -> str:
    """A library's message on one line (transformers' run to paragraphs), at most ``limit``
    characters; ``first_line`` keeps only the first (the rest is advice that does not apply)."""
    text = str(err).strip().splitlines()[0] if first_line and str(err).strip() else str(err)
    text = " ".join(text.split()).rstrip(".") or type(err).__name__
    return text if len(text) <= limit else text[:limit] + "…"


def _arch_of(folder_or_id: str | Path) -> Literal["causal", "encoder"]:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(folder_or_id)
    except OSError as err:
        if isinstance(folder_or_id, Path):  # a local folder whose config.json cannot be read
            raise NotAModelError(f"cannot read the config of {folder_or_id}: {_one_line(err)}") from None
        # a hub id offline and not in the local hub cache, or unknown to the hub
        from huggingface_hub import constants

        offline = " Offline (HF_HUB_OFFLINE=1) nothing is downloaded:" if constants.HF_HUB_OFFLINE else ""
        raise AlignlabError(
            f"cannot load {str(folder_or_id)!r}: it is not a registered name or a local folder, and as a Hugging "
            f"Face id: {_one_line(err, first_line=True)}.{offline} name a registered model (alignlab models list), "
            "a local folder, or a hub id already in the local Hugging Face cache"
        ) from None
    except ValueError as err:  # e.g. a config.json without model_type
        raise NotAModelError(f"cannot read the config of {folder_or_id}: {_one_line(err)}") from None
    archs = getattr(config, "architectures", None) or []
    return "causal" if any(a.endswith("ForCausalLM") for a in archs) else "encoder"


def _from_folder(folder, torch_dtype, device: str, arch: str):
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    cls = AutoModelForCausalLM if arch == "causal" else AutoModel
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as err:
        raise NotAModelError(f"cannot load a tokenizer from {folder} (are its tokenizer files there?): "
                             f"{_one_line(err)}") from None
    try:
        model = cls.from_pretrained(folder, dtype=torch_dtype)
    except (OSError, ValueError) as err:
        raise NotAModelError(f"cannot load the model in {folder}: {_one_line(err)}") from None
    return model.to(device), tokenizer


def _hub_digest(name: str, model) -> str:
    """The content digest of a hub model: its weight files in the local Hugging Face
    cache (stamp-remembered, as for a local folder), or — where that snapshot folder
    cannot be found — a sha256 of the loaded parameters themselves. Never the id alone:
    the files behind an id change when the hub repo does."""
    from huggingface_hub import try_to_load_from_cache

    from alignlab.models._weights import weight_files, weights_digest

    config = try_to_load_from_cache(name, "config.json")
    if isinstance(config, str) and weight_files(Path(config).parent):
        return weights_digest(Path(config).parent)
    log.warning("no local snapshot folder found for %s; hashing its loaded parameters instead", name)
    return "params-" + _parameters_sha256(model)


def _parameters_sha256(model) -> str:
    import hashlib

    import torch

    h = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        h.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _ensure_pad_token(tokenizer) -> None:
    # Batching needs a pad id; its value never matters because every pooling
    # and loss reads the attention mask, never the ids.
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
