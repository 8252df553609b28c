"""Extraction: padding-invariant pooling, parity with the model's own hidden states,
and clear errors for bad input."""

from __future__ import annotations

import pytest
import torch

from alignlab.errors import AlignlabError, DataError
from alignlab.models import extract, load_model
from alignlab.models._extract import _batches, pad_batch, body, pool

TEXTS = ["hello world", "a", "the quick brown fox jumps over the lazy dog", "xyz abc", "mid length text"]


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gemma3", "tiny-bert"])
@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_padded_batch_equals_unpadded_forwards(name, side, pooling):
    lm = load_model(name, dtype="float32", device="cpu")
    lm.tokenizer.padding_side = side
    batched = extract(lm, TEXTS, layers=[0, 1, -1], pooling=pooling, progress=False)
    single = torch.cat([extract(lm, [t], layers=[0, 1, -1], pooling=pooling, progress=False) for t in TEXTS])
    assert batched.shape == (len(TEXTS), 3, lm.d_model)
    assert (batched - single).abs().max().item() < 1e-4


def test_parity_is_not_vacuous(tiny_llama):
    """Padding does change raw hidden states: pooling that ignored the mask would fail
    the parity test above."""
    tok = tiny_llama.tokenizer
    input_ids, mask, position_ids = pad_batch(tok(["a", "the quick brown fox"])["input_ids"],
                                         tok.pad_token_id, "right", "cpu")
    with torch.inference_mode():
        hidden = body(tiny_llama.model)(input_ids=input_ids, attention_mask=mask).last_hidden_state
    masked = pool(hidden, mask, "mean")[0]
    unmasked = hidden[0].mean(dim=0)
    assert (masked - unmasked).abs().max() > 1e-3


def test_matches_output_hidden_states(tiny_llama):
    """Block i's captured output is hidden_states[i + 1] of a plain forward pass."""
    tok = tiny_llama.tokenizer
    acts = extract(tiny_llama, ["some text here"], layers=[0, 1], pooling="last", progress=False)
    with torch.inference_mode():
        out = tiny_llama.model(**tok(["some text here"], return_tensors="pt"), output_hidden_states=True)
    for j, layer in enumerate([0, 1]):
        torch.testing.assert_close(acts[0, j], out.hidden_states[layer + 1][0, -1])


def test_row_order_is_input_order_despite_bucketing(tiny_llama):
    texts = ["z" * k for k in (9, 1, 5, 3, 7)]
    acts = extract(tiny_llama, texts, layers=[1], progress=False, batch_tokens=12)
    for i, t in enumerate(texts):
        torch.testing.assert_close(acts[i], extract(tiny_llama, [t], layers=[1], progress=False)[0])


def test_batches_respect_token_budget_and_cover_all():
    lengths = [5, 50, 7, 30, 2, 2, 49]
    batches = _batches(lengths, batch_tokens=60, max_batch=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 3
        assert max(lengths[i] for i in b) * len(b) <= 60 or len(b) == 1


def test_empty_inputs_raise_clear_errors(tiny_llama):
    with pytest.raises(DataError, match="no texts"):
        extract(tiny_llama, [], layers=[0], progress=False)
    with pytest.raises(DataError, match="empty after tokenization"):
        extract(tiny_llama, ["ok", ""], layers=[0], progress=False)
    with pytest.raises(ValueError, match="out of range"):
        extract(tiny_llama, ["ok"], layers=[7], progress=False)


@pytest.mark.parametrize("dtype,advice", [("float32", "NaN/inf"), ("bfloat16", "retry with dtype='float32'")])
def test_nan_activations_raise_with_advice(dtype, advice):
    lm = load_model("tiny-llama", dtype=dtype, device="cpu")
    with torch.no_grad():
        body(lm.model).layers[1].mlp.down_proj.weight.fill_(float("nan"))
    with pytest.raises(AlignlabError, match=f"non-finite activations for texts \\[0\\]: .*{advice}"):
        extract(lm, ["hello"], layers=[2], progress=False)
