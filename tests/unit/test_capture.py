"""Hooks are scoped: gone after the context exits, normally or by an exception."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from alignlab.models import capture, find_blocks, resolve_layers
from alignlab.models._extract import body


def _n_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


# transformers installs hooks of its own on a model's first forward pass, so each test
# counts hooks relative to the count before capture.


def test_capture_fills_and_removes_hooks(tiny_llama):
    net = body(tiny_llama.model)
    ids = tiny_llama.tokenizer(["abc"], return_tensors="pt")
    before = _n_hooks(net)
    with capture(net, [0, 2]) as acts, torch.inference_mode():
        assert _n_hooks(net) == before + 2
        net(**ids)
    assert set(acts) == {0, 2} and acts[0].shape == (1, 3, tiny_llama.d_model)
    assert _n_hooks(net) == before


def test_hooks_removed_after_exception(tiny_llama):
    net = body(tiny_llama.model)
    before = _n_hooks(net)
    with pytest.raises(RuntimeError, match="boom"), capture(net, [0, 1]):
        assert _n_hooks(net) == before + 2
        raise RuntimeError("boom")
    assert _n_hooks(net) == before


def test_stop_early_skips_later_blocks(tiny_llama):
    net = body(tiny_llama.model)
    before = _n_hooks(net)
    ran = []
    handle = find_blocks(net)[2].register_forward_hook(lambda *a: ran.append(2))
    try:
        with capture(net, [1], stop_early=True) as acts, torch.inference_mode():
            net(**tiny_llama.tokenizer(["abc"], return_tensors="pt"))
            pytest.fail("the forward pass should have been cut short")
    finally:
        handle.remove()
    assert 1 in acts and ran == []
    assert _n_hooks(net) == before


def test_find_blocks_needs_a_block_list():
    with pytest.raises(ValueError, match="no nn.ModuleList"):
        find_blocks(nn.Linear(2, 2))


def test_resolve_layers():
    assert resolve_layers([0, -1], 4) == [0, 3]
    with pytest.raises(ValueError, match="out of range"):
        resolve_layers([4], 4)
    with pytest.raises(ValueError, match="duplicate"):
        resolve_layers([3, -1], 4)
