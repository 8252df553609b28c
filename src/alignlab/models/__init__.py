"""Subjects: the registry of named models, loading, and activation capture.

    >>> from alignlab.models import load_model, extract
    >>> lm = load_model("smollm2-135m")   # dtype auto: bf16 where native, else fp32
    >>> acts = extract(lm, ["Paris is in France."], layers=[10, 20], pooling="mean")
"""

from alignlab.models._capture import capture, find_blocks, resolve_layers
from alignlab.models._dtype import DTYPES, DType, DTypeChoice, auto_dtype, dtype_record, resolve_dtype
from alignlab.models._extract import body, extract, pad_batch, pool
from alignlab.models._load import LoadedModel, default_device, load_model, model_reference
from alignlab.models._prepare import PreparedModel, prepare, read_prepared
from alignlab.models._registry import REGISTRY, ModelEntry, get_entry
from alignlab.models._tiny import TINY_CONFIGS
from alignlab.models._weights import weights_digest

__all__ = [
    "DTYPES",
    "DType",
    "DTypeChoice",
    "REGISTRY",
    "auto_dtype",
    "dtype_record",
    "resolve_dtype",
    "TINY_CONFIGS",
    "LoadedModel",
    "ModelEntry",
    "PreparedModel",
    "body",
    "capture",
    "default_device",
    "extract",
    "find_blocks",
    "get_entry",
    "load_model",
    "model_reference",
    "pad_batch",
    "pool",
    "prepare",
    "read_prepared",
    "resolve_layers",
    "weights_digest",
]
