"""Scoped activation capture: ``with capture(model, layers) as acts:``.

Hooks are registered on the model's own transformer blocks (we wrap the user's model,
never reimplement it) and removed in a ``finally``, whatever happens in the body.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn


class _CaptureComplete(Exception):
    """Raised inside the forward pass once the deepest wanted layer has run."""


def find_blocks(model: nn.Module) -> nn.ModuleList:
    """The model's stack of transformer blocks: the first ``nn.ModuleList`` whose length
    is ``config.num_hidden_layers`` (``model.layers``, ``encoder.layer``, ...).

    Found by structure, not by hard-coded attribute names, so new architectures work
    without a new branch here.
    """
    n_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    for _, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n_layers and n_layers:
            return module
    raise ValueError(
        f"{type(model).__name__}: found no nn.ModuleList of {n_layers} blocks; "
        "pass a model with config.num_hidden_layers and a block list"
    )


def resolve_layers(layers: Sequence[int], n_layers: int) -> list[int]:
    """Normalise layer indices (negative counts from the end); reject out-of-range."""
    out = []
    for layer in layers:
        i = layer + n_layers if layer < 0 else layer
        if not 0 <= i < n_layers:
            raise ValueError(f"layer {layer} out of range for a model with {n_layers} blocks")
        out.append(i)
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate layers in {list(layers)}")
    return out


@contextlib.contextmanager
def capture(
    model: nn.Module,
    layers: Sequence[int],
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    stop_early: bool = False,
) -> Iterator[dict[int, torch.Tensor]]:
    """Capture the residual stream after each block in ``layers`` (0-based block index).

    Yields a dict ``{layer: tensor}`` filled by every forward pass in the body (the last
    pass wins): the block output, shape (B, T, d_model), or ``transform`` of it (use it to
    pool inside the hook and keep memory small). With ``stop_early`` the forward pass is
    cut short after the deepest wanted block — later blocks and the LM head never run —
    and the body's forward call ends there (the context suppresses that stop signal).
    """
    blocks = find_blocks(model)
    wanted = resolve_layers(layers, len(blocks))
    deepest = max(wanted)
    acts: dict[int, torch.Tensor] = {}
    handles = []

    def make_hook(i: int):
        def hook(_module, _inputs, output):
            hidden = output[0] if isinstance(output, tuple) else output  # (B, T, d)
            acts[i] = transform(hidden) if transform is not None else hidden
            if stop_early and i == deepest:
                raise _CaptureComplete

        return hook

    try:
        for i in wanted:
            handles.append(blocks[i].register_forward_hook(make_hook(i)))
        try:
            yield acts
        except _CaptureComplete:
            pass
    finally:
        for handle in handles:
            handle.remove()
