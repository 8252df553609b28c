"""Token activations for dictionary learning, harvested once and cached.

    >>> h = harvest(lm, layer=15, part="train", n_tokens=1_000_000)
    >>> h.acts.shape        # (n_tokens, d_model), float16
    >>> h.input_ids.shape   # (n_contexts, context): the token windows they came from

The corpus (``alignlab.data.text_corpus``) is tokenized document by document, joined
with the tokenizer's end-of-text token and cut into windows of ``context - 1`` tokens,
each opened with the beginning-of-text token (the end-of-text token where the tokenizer
has none). Every window's first position is dropped from ``acts``: an attention sink
whose residual norm is orders of magnitude above the rest, which SAEs are trained and
evaluated without (SAELens's ``exclude_special_tokens``). So ``acts`` row
``i * (context - 1) + (t - 1)`` is window ``i``'s position ``t``.

The forward pass stops after ``layer`` (no later block, no LM head). The tensor is stored
as float16 safetensors shards through the activation store (sha256-checked on every
read), keyed by the model's weights digest, the corpus fingerprint and part, the layer,
the context length, the window count and the compute dtype.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from alignlab.errors import AlignlabError, DataError

if TYPE_CHECKING:
    import torch
    from jaxtyping import Float, Int

    from alignlab.data._corpus import Part
    from alignlab.models import LoadedModel
    from alignlab.store import ActivationStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Harvest:
    acts: Float[torch.Tensor, "n_tokens d_model"]
    """float16, the first position of every window left out."""
    input_ids: Int[torch.Tensor, "n_contexts context"]
    layer: int
    cached: bool
    """Read from the cache (not computed by this call)."""
    path: Path | None
    """The cache entry's folder (its ``shard-*.safetensors`` hold ``acts``); None when
    the model has no digest and nothing was cached."""


def windows(tokenizer, texts: list[str], context: int, n_windows: int) -> torch.Tensor:
    """The first ``n_windows`` token windows of ``texts`` (each opened with BOS)."""
    import torch

    if context < 2:
        raise DataError(f"context {context}: a window needs at least 2 tokens (one is the BOS)")
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else bos
    if bos is None:
        raise DataError("the tokenizer has neither a BOS nor an EOS token to open windows with")
    step, need = context - 1, n_windows * (context - 1)
    stream: list[int] = []
    for text in texts:  # tokenized one by one, only as far as needed
        stream.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        stream.append(eos)
        if len(stream) >= need:
            break
    if len(stream) < need:
        raise DataError(f"the corpus has {len(stream):,} tokens; {n_windows} windows of {context} need {need:,}: "
                        "ask for fewer tokens or a shorter context")
    body = torch.tensor(stream[:need], dtype=torch.long).view(n_windows, step)
    return torch.cat([torch.full((n_windows, 1), bos, dtype=torch.long), body], dim=1)  # (n, context)


def harvest(lm: LoadedModel, layer: int, part: Part, n_tokens: int, *, context: int = 128,
            batch_tokens: int = 8192, store: ActivationStore | None = None, progress: bool = True) -> Harvest:
    """``n_tokens`` residual-stream vectors after block ``layer`` on the corpus ``part``
    (rounded up to whole windows), cached; see the module docstring."""
    from alignlab.data import text_corpus
    from alignlab.models import resolve_layers
    from alignlab.store import ActivationKey, ActivationStore

    if n_tokens < 1:
        raise DataError(f"n_tokens {n_tokens}: ask for at least one token")
    (layer,) = resolve_layers([layer], lm.n_layers)
    corpus = text_corpus()
    n_windows = -(-n_tokens // (context - 1))
    ids = windows(lm.tokenizer, corpus.documents(part), context, n_windows)
    key = None
    if lm.digest:
        key = ActivationKey(model_digest=lm.digest, task_fingerprint=f"corpus-{corpus.fingerprint}-{part}",
                            rows=f"{n_windows}x{context}", template="bos+packed", layers=(layer,),
                            pooling="tokens[1:]", dtype=f"{lm.dtype}->float16", max_length=context)
        store = store or ActivationStore()
        cached = store.get(key)
        if cached is not None:
            return Harvest(cached, ids, layer, True, store.path(key))
    acts = _forward(lm, ids, layer, batch_tokens, progress)
    path = None
    if key is not None:
        path = store.put(key, acts, labels={"model": lm.name, "corpus": part, "layer": layer, "n": len(acts)})
    return Harvest(acts, ids, layer, False, path)


def _forward(lm: LoadedModel, ids: torch.Tensor, layer: int, batch_tokens: int, progress: bool) -> torch.Tensor:
    """Block ``layer``'s output at every window position but the first, float16."""
    import torch

    from alignlab.models import capture
    from alignlab.models._extract import body

    n, context = ids.shape
    net, device = body(lm.model), lm.model.device
    out = torch.empty(n * (context - 1), lm.d_model, dtype=torch.float16)
    per_batch = max(1, batch_tokens // context)
    start, last_log = time.perf_counter(), 0.0
    with torch.inference_mode():
        for b in range(0, n, per_batch):
            batch = ids[b:b + per_batch].to(device)  # (B, T)
            with capture(net, [layer], stop_early=True) as acts:
                net(input_ids=batch, use_cache=False)
            hidden = acts[layer][:, 1:].float()  # (B, T-1, d)
            if not torch.isfinite(hidden).all():
                raise AlignlabError(f"non-finite activations at layer {layer} in windows {b}-{b + len(batch) - 1} "
                                    f"({lm.dtype}); retry with dtype float32")
            if hidden.abs().max() > 6.0e4:  # float16's range; a silent inf in the cache is worse than an error
                raise AlignlabError(f"activations at layer {layer} exceed float16's range ({hidden.abs().max():.3g}); "
                                    "harvest an earlier layer or store float32")
            out[b * (context - 1):(b + len(batch)) * (context - 1)] = hidden.reshape(-1, lm.d_model).half()
            elapsed = time.perf_counter() - start
            if progress and elapsed - last_log > 30:
                done = (b + len(batch)) * (context - 1)
                log.info("harvest: %d/%d tokens, %.0f tok/s", done, len(out), done / elapsed)
                last_log = elapsed
    return out
