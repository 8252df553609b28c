"""Task activations, computed once: ``task_activations(lm, task, layers=...)`` returns
the cached tensor when an identical request was made before, else extracts and caches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from alignlab.store import ActivationKey, ActivationStore, stable_hash

if TYPE_CHECKING:
    import torch

    from alignlab.data import Task
    from alignlab.models import LoadedModel
    from alignlab.models._extract import Pooling


def task_activations(
    lm: LoadedModel,
    task: Task,
    layers: Sequence[int],
    pooling: Pooling = "last",
    indices: Sequence[int] | np.ndarray | None = None,
    *,
    max_length: int = 512,
    store: ActivationStore | None = None,
    progress: bool = True,
) -> torch.Tensor:
    """Activations (len(indices), len(layers), d_model) of ``task``'s rendered texts.

    ``indices`` picks and orders examples (default: all). The result is cached in
    ``store`` (default: the one under ``$ALIGNLAB_HOME``) keyed by everything that
    determines it; a second identical call does no model work. The model enters the key
    as ``lm.digest``, the sha256 of its weight files checked when it was loaded, so
    weights changed in place never meet activations cached for the old ones. A model
    without a digest (``""``, an audit subject scrubbed of its identity) is never cached.
    """
    from alignlab.models import extract, resolve_layers

    layer_ids = tuple(resolve_layers(layers, lm.n_layers))
    if not lm.digest:
        return extract(lm, task.texts(indices), layer_ids, pooling, max_length=max_length, progress=progress)
    store = store or ActivationStore()
    rows = "all" if indices is None else stable_hash(np.asarray(indices, dtype=np.int64).tolist())
    key = ActivationKey(
        model_digest=lm.digest, task_fingerprint=task.fingerprint, rows=rows,
        template=task.template.format, layers=layer_ids, pooling=pooling, dtype=lm.dtype,
        max_length=max_length,
    )
    cached = store.get(key)
    if cached is not None:
        return cached
    acts = extract(lm, task.texts(indices), layer_ids, pooling, max_length=max_length, progress=progress)
    store.put(key, acts, labels={"model": lm.name, "task": task.name, "n": len(acts)})
    return acts
