"""The SAE testbed's parts: the shipped corpus, harvested token activations, PCA as an SAE,
and an evaluator that measures L0 itself (a dense map cannot win)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from alignlab.data._corpus import part_of, text_corpus
from alignlab.errors import DataError
from alignlab.protocol import Scores, TrialConfig, run_trial


def test_the_corpus_is_natural_text_deduplicated_and_split_by_document():
    corpus = text_corpus()
    assert len(set(corpus.texts)) == len(corpus.texts) > 30_000
    assert {"owt", "wikipedia", "headlines"} <= set(corpus.counts)
    train, heldout = corpus.documents("train"), corpus.documents("heldout")
    assert not set(train) & set(heldout) and len(train) + len(heldout) == len(corpus.texts)
    assert 0.03 < len(heldout) / len(corpus.texts) < 0.07
    assert all(part_of(t) == "heldout" for t in heldout[:50])  # the text alone decides
    assert sum(map(len, train)) > 5_000_000  # > 1M tokens at ~4 characters a token
    with pytest.raises(DataError, match="expected 'train' or 'heldout'"):
        corpus.documents("test")


def test_harvest_rows_are_window_positions_without_the_bos_and_are_cached(tmp_home):
    from alignlab.interpretability._harvest import harvest
    from alignlab.models import capture, load_model

    lm = load_model("tiny-llama")
    first = harvest(lm, 1, "train", 200, context=16)
    assert first.acts.dtype == torch.float16 and not first.cached
    n_windows = -(-200 // 15)
    assert first.acts.shape == (n_windows * 15, lm.d_model) and first.input_ids.shape == (n_windows, 16)
    assert (first.input_ids[:, 0] == lm.tokenizer.bos_token_id).all()
    with torch.no_grad(), capture(lm.model, [1]) as acts:
        lm.model(input_ids=first.input_ids[3:4])
    expected = acts[1][0, 1:].half()  # window 3, positions 1..15
    assert torch.equal(first.acts[3 * 15:4 * 15], expected)
    again = harvest(lm, 1, "train", 200, context=16)
    assert again.cached and torch.equal(again.acts, first.acts) and again.path == first.path
    other = harvest(lm, 1, "heldout", 200, context=16)
    assert not torch.equal(other.acts, first.acts[: len(other.acts)])
    with pytest.raises(DataError, match="corpus has"):
        harvest(lm, 1, "heldout", 10**9, context=16)


def test_pca_as_a_topk_sae_is_exactly_pca():
    from alignlab.protocol.testbeds.sae import pca_sae

    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 12, generator=g) @ torch.randn(12, 12, generator=g) + 3.0
    sae = pca_sae(x, 4)
    with torch.no_grad():
        x_hat, codes = sae(x)
    mean = x.mean(0)
    _, _, V = torch.linalg.svd(x - mean, full_matrices=False)
    expected = (x - mean) @ V[:4].T @ V[:4] + mean
    assert torch.allclose(x_hat, expected, atol=1e-4)
    assert ((codes != 0).sum(1) <= 4).all()


def test_an_sae_over_the_l0_budget_has_its_primary_withheld(tmp_home):
    params = {"model": "tiny-llama", "context": 16, "n_train_tokens": 3000, "n_eval_tokens": 600,
              "n_loss_windows": 4, "l0_budget": 4}
    within = run_trial(TrialConfig(testbed="sae", params=params, variant="pca", seed=0))
    over = run_trial(TrialConfig(testbed="sae", params=params, variant={"name": "pca", "params": {"rank": 16}},
                                 seed=0))
    a, b = (Scores.model_validate(r.result["scores"]) for r in (within, over))
    assert a.failures == 0 and a.metrics["l0"].value <= 4 and a.metrics["explained_variance"].value is not None
    assert b.failures == 1 and b.metrics["l0"].value > 4 and b.metrics["explained_variance"].value is None
    # the wider PCA explains more — which is exactly why the budget is enforced on measured L0
    assert b.metrics["explained_variance_any_l0"].value > a.metrics["explained_variance"].value
    assert abs(a.metrics["explained_variance"].value - a.metrics["pca_explained_variance"].value) < 0.05
    gain = a.metrics["explained_variance_gain_over_pca"]  # paired: the same PCA on the same windows
    assert abs(gain.value) < 0.02 and gain.lo <= gain.value <= gain.hi and gain.hi - gain.lo < 0.05
    saved = json.loads((within.path / "submission.json").read_text())
    assert saved["artifacts"] == {"sae": "out/sae"} and (within.path / "problem" / "out" / "sae").is_dir()
    rec = a.metrics["ce_loss_recovered"]
    assert rec.lo <= rec.value <= rec.hi and np.isfinite(a.metrics["kl_div"].value)
