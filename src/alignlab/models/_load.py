"""Load a model by name: a registered offline model, a tiny random model, a local
Hugging Face folder, or (with hub access) a Hugging Face id."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from alignlab.errors import AlignlabError
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
    """Identifies the weights: sha256 of the safetensors, or a hash of a tiny config."""
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
    """CUDA when present, else CPU; ``ALIGNLAB_DEVICE`` overrides."""
    import torch

    return os.environ.get("ALIGNLAB_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")


def load_model(name: str, dtype: DType = "auto", device: str | None = None) -> LoadedModel:
    """Load ``name`` in ``dtype`` on ``device`` (default: CUDA if available, else CPU).

    ``name`` is a registry name (``alignlab models list``; prepared on first use), a
    ``tiny-*`` test model, a local folder, or a Hugging Face id. ``dtype="auto"`` is bf16
    where the device runs it natively and fp32 elsewhere (``resolve_dtype``).
    """
    import torch

    from alignlab.models._registry import REGISTRY, get_entry
    from alignlab.models._tiny import TINY_CONFIGS, build_tiny

    device = device or default_device()
    torch_dtype = getattr(torch, resolve_dtype(dtype, device))
    if name in TINY_CONFIGS:
        model, tokenizer, spec = build_tiny(name)
        arch = "encoder" if spec["model_type"] == "bert" else "causal"
        digest = "tiny-" + stable_hash(spec)
        model = model.to(device=device, dtype=torch_dtype)
    elif name in REGISTRY:
        from alignlab.models._prepare import prepare

        entry = get_entry(name)
        prepared = prepare(name)
        model, tokenizer = _from_folder(prepared.path, torch_dtype, device, entry.arch)
        arch, digest = entry.arch, prepared.weights_sha256
    elif Path(name).expanduser().is_dir():
        from alignlab.models._prepare import weights_digest

        folder = Path(name).expanduser().resolve()
        arch = _arch_of(folder)
        model, tokenizer = _from_folder(folder, torch_dtype, device, arch)
        digest = weights_digest(folder)
    elif "/" in name and not name.startswith((".", "/")):
        arch = _arch_of(name)
        model, tokenizer = _from_folder(name, torch_dtype, device, arch)
        digest = "hf-" + stable_hash([name, getattr(model.config, "_commit_hash", None)])
    elif name.startswith((".", "/", "~")):
        raise AlignlabError(f"no model folder at {name!r}: the path does not exist or is not a folder")
    else:
        get_entry(name)  # raises with the list of known names
        raise AssertionError("unreachable")
    _ensure_pad_token(tokenizer)
    model.eval()
    return LoadedModel(name, model, tokenizer, digest, arch)


def _arch_of(folder_or_id: str | Path) -> Literal["causal", "encoder"]:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(folder_or_id)
    except OSError as err:
        raise AlignlabError(
            f"cannot load a config for {folder_or_id!r}: {err}. Offline machines can load only "
            "registered models (alignlab models list) or local folders."
        ) from None
    archs = getattr(config, "architectures", None) or []
    return "causal" if any(a.endswith("ForCausalLM") for a in archs) else "encoder"


def _from_folder(folder, torch_dtype, device: str, arch: str):
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    cls = AutoModelForCausalLM if arch == "causal" else AutoModel
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = cls.from_pretrained(folder, dtype=torch_dtype)
    except OSError as err:
        raise AlignlabError(f"cannot load model from {folder}: {err}") from None
    return model.to(device), tokenizer


def _ensure_pad_token(tokenizer) -> None:
    # Batching needs a pad id; its value never matters because every pooling
    # and loss reads the attention mask, never the ids.
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
