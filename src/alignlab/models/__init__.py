"""Subjects: the registry of named models, loading, and activation capture.

    >>> from alignlab.models import load_model, extract
    >>> lm = load_model("smollm2-135m")   # dtype auto: bf16 where native, else fp32
    >>> acts = extract(lm, ["Paris is in France."], layers=[10, 20], pooling="mean")
"""

from alignlab._lazy import lazy_exports

# Names resolved on first use (PEP 562), so the registry, model references and the
# offline data packages (``_sources``) load without torch: `alignlab tasks list` and
# config validation stay fast, and torch is imported by what runs a model.
_WHERE = {
    "capture": "_capture", "find_blocks": "_capture", "resolve_layers": "_capture",
    "DTYPES": "_dtype", "DType": "_dtype", "DTypeChoice": "_dtype", "auto_dtype": "_dtype",
    "dtype_record": "_dtype", "resolve_dtype": "_dtype",
    "body": "_extract", "extract": "_extract", "pad_batch": "_extract", "pool": "_extract",
    "LoadedModel": "_load", "default_device": "_load", "load_model": "_load", "model_reference": "_load",
    "PreparedModel": "_prepare", "link_model": "_prepare", "prepare": "_prepare", "read_prepared": "_prepare",
    "REGISTRY": "_registry", "ModelEntry": "_registry", "get_entry": "_registry",
    "TINY_CONFIGS": "_tiny",
    "weights_digest": "_weights",
}


__getattr__ = lazy_exports(__name__, globals(), _WHERE)


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
    "link_model",
    "load_model",
    "model_reference",
    "pad_batch",
    "pool",
    "prepare",
    "read_prepared",
    "resolve_layers",
    "weights_digest",
]
