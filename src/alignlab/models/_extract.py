"""Batched activation extraction: texts in, pooled residual-stream vectors out.

Fast on purpose, because everything downstream (probes, weak-to-strong heads,
detectors) is trained on these vectors:

- length bucketing: texts are sorted by token count and batched under a token budget,
  so batches hold little padding;
- only the transformer body runs: the forward pass stops after the deepest requested
  block, so the LM head (Gemma's 262k-vocab head dominates its forward cost) and any
  later blocks never run;
- pooling happens inside the hook, so no (B, T, d_model) tensor outlives its layer;
- ``torch.inference_mode`` and the model's own dtype (bf16 by default).

Padding is handled from the attention mask and explicit position ids, so a padded
batch gives the same vectors as unpadded single texts, whichever side pads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from jaxtyping import Float
from torch import Tensor

from alignlab.errors import AlignlabError, DataError
from alignlab.models._capture import capture, resolve_layers

Pooling = Literal["last", "mean"]


def pool(hidden: Float[Tensor, "B T d"], mask: Tensor, pooling: Pooling) -> Float[Tensor, "B d"]:
    """Pool over real tokens only; correct for left and right padding alike."""
    if pooling == "last":
        # The last real token is the highest position whose mask is 1, whatever the side.
        positions = torch.arange(mask.shape[1], device=mask.device)
        last = (mask * positions).argmax(dim=1)  # (B,)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    if pooling == "mean":
        keep = mask.bool().unsqueeze(-1)  # (B, T, 1)
        # where(), not multiply: a pad position may hold NaN/inf, and 0 * NaN = NaN.
        total = torch.where(keep, hidden, torch.zeros((), dtype=hidden.dtype, device=hidden.device))
        return total.float().sum(dim=1).div(keep.sum(dim=1).clamp_min(1)).to(hidden.dtype)
    raise ValueError(f"unknown pooling {pooling!r}; choose 'last' or 'mean'")


def _batches(lengths: list[int], batch_tokens: int, max_batch: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first (so an
    out-of-memory error shows up on the first batch, not after an hour)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches, current, longest = [], [], 0
    for i in order:
        longest_if_added = max(longest, lengths[i])
        if current and (longest_if_added * (len(current) + 1) > batch_tokens or len(current) >= max_batch):
            batches.append(current)
            current, longest_if_added = [], lengths[i]
        current.append(i)
        longest = longest_if_added
    if current:
        batches.append(current)
    return batches


def pad_batch(ids: list[list[int]], pad_id: int, side: str, device) -> tuple[Tensor, Tensor, Tensor]:
    """(input_ids, attention_mask, position_ids), each (B, T), padded on ``side``."""
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, x in enumerate(ids):
        sl = slice(width - len(x), width) if side == "left" else slice(0, len(x))
        input_ids[row, sl] = torch.tensor(x, dtype=torch.long)
        mask[row, sl] = 1
    # Positions count real tokens only, so a left-padded text sees the same rotary /
    # learned positions as it would alone.
    position_ids = (mask.cumsum(dim=1) - 1).clamp_min(0)
    return input_ids.to(device), mask.to(device), position_ids.to(device)


def _check_finite(pooled: Tensor, rows: list[int], dtype: torch.dtype) -> None:
    """Refuse NaN/inf activations, naming the texts and what to try."""
    if torch.isfinite(pooled).all():
        return
    bad = [rows[r] for r in (~torch.isfinite(pooled)).flatten(1).any(1).nonzero().flatten().tolist()]
    advice = ("the weights or inputs hold NaN/inf; check the checkpoint" if dtype == torch.float32
              else f"{dtype} may have overflowed; retry with dtype='float32'")
    raise AlignlabError(f"non-finite activations for texts {bad[:10]}: {advice}")


def body(model: Any) -> Any:
    """The transformer body without the LM head (``model.base_model`` in HF terms)."""
    return getattr(model, "base_model", model)


@torch.inference_mode()
def extract(
    model: Any,
    texts: Sequence[str],
    layers: Sequence[int],
    pooling: Pooling = "last",
    *,
    tokenizer: Any = None,
    max_length: int = 512,
    batch_tokens: int = 4096,
    max_batch: int = 64,
    progress: bool = True,
) -> Float[Tensor, "n n_layers d_model"]:
    """Pooled residual-stream activations after each block in ``layers``.

    Args:
        model: a ``LoadedModel`` or a Hugging Face model (then pass ``tokenizer``).
        texts: the inputs, already rendered by the task's template.
        layers: 0-based block indices; negative counts from the end.
        pooling: ``"last"`` real token or ``"mean"`` over real tokens.
        max_length: tokens kept per text (truncation keeps the start).
        batch_tokens: padded tokens per batch; bigger is faster until memory runs out.

    Returns:
        Tensor (n, len(layers), d_model) in the model's dtype, rows in input order.
    """
    if tokenizer is None:
        model, tokenizer = model.model, model.tokenizer
    if len(texts) == 0:
        raise DataError("extract: no texts given (empty task or split?)")
    layer_ids = resolve_layers(layers, model.config.num_hidden_layers)
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    empty = [i for i, x in enumerate(ids) if len(x) == 0]
    if empty:
        raise DataError(f"extract: texts at positions {empty[:10]} are empty after tokenization")
    lengths = [len(x) for x in ids]
    device = next(model.parameters()).device
    net = body(model)
    out = torch.empty(len(texts), len(layer_ids), model.config.hidden_size, dtype=model.dtype)
    from tqdm.auto import tqdm

    with tqdm(total=sum(lengths), unit="tok", disable=not progress, desc="extract", leave=False) as bar:
        for batch in _batches(lengths, batch_tokens, max_batch):
            input_ids, mask, position_ids = pad_batch(
                [ids[i] for i in batch], tokenizer.pad_token_id, tokenizer.padding_side, device
            )
            with capture(net, layer_ids, transform=lambda h: pool(h, mask, pooling), stop_early=True) as acts:
                net(input_ids=input_ids, attention_mask=mask, position_ids=position_ids, use_cache=False)
            pooled = torch.stack([acts[i] for i in layer_ids], dim=1).cpu()  # (B, L, d)
            _check_finite(pooled, batch, model.dtype)
            out[torch.tensor(batch)] = pooled
            bar.update(sum(lengths[i] for i in batch))
    return out
