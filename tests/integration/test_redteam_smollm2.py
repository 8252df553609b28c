"""Integration: GCG on SmolLM2-135M — its success claim is what greedy decoding does, its
search moves a real model, and the perplexity filter's signal is real."""

from __future__ import annotations

import pytest
import torch

from alignlab.models import load_model

pytestmark = pytest.mark.integration
MESSAGE = "What is the capital of Peru?"


@pytest.fixture(scope="module")
def smollm2():
    return load_model("smollm2-135m")


def test_success_is_claimed_exactly_when_greedy_decoding_reproduces_the_target(smollm2):
    from alignlab.adversarial._gcg import GCGConfig, gcg, initial_suffix
    from alignlab.adversarial._generate import greedy
    from alignlab.adversarial._prompts import render

    suffix = smollm2.tokenizer.decode(initial_suffix(smollm2, 10))
    words = greedy(smollm2, [render(smollm2.tokenizer, MESSAGE + suffix)], 8)[0].split()
    assert len(words) >= 3
    hit = gcg(smollm2, MESSAGE, " ".join(words[:3]), GCGConfig(n_steps=0, suffix_tokens=10))
    assert hit.success and hit.steps_to_success == 0 and hit.loss < 1.0
    miss = gcg(smollm2, MESSAGE, " ".join(words[:2] + ["banana"]), GCGConfig(n_steps=0, suffix_tokens=10))
    assert not miss.success and miss.loss > hit.loss


def test_a_short_search_lowers_the_loss_of_a_far_target_and_keeps_the_evaluators_view(smollm2):
    """Five steps move a real model toward a target it would not say; the suffix found is
    the one its text gives (the evaluator re-tokenizes it in context)."""
    from alignlab.adversarial._gcg import GCGConfig, _Problem, gcg

    result = gcg(smollm2, MESSAGE, "Scout and her", GCGConfig(n_steps=5, suffix_tokens=12, search_width=16,
                                                               top_k=64, early_stop=False), avoid=("scout",))
    assert result.steps == 5 and result.losses[-1] < result.losses[0] - 0.1
    problem = _Problem(smollm2, MESSAGE, "Scout and her")
    assert problem.consistent(result.ids) and "scout" not in result.suffix.lower()
    again = problem.losses(torch.tensor([result.ids]), 1)[0]
    assert float(again[0]) == pytest.approx(result.loss, abs=1e-4)


def test_gibberish_has_a_higher_log_perplexity_than_natural_text(smollm2):
    from alignlab.protocol.testbeds.redteam import RedteamConfig, goals, log_perplexity

    _, benign = goals(RedteamConfig(n_goals=2, n_benign=40), seed=0)
    natural = log_perplexity(smollm2, benign)
    g = torch.Generator().manual_seed(0)
    noise = [MESSAGE + smollm2.tokenizer.decode(torch.randint(1000, 40000, (20,), generator=g).tolist())
             for _ in range(20)]
    gibberish = log_perplexity(smollm2, noise)
    assert gibberish.min() > float(sorted(natural)[len(natural) // 2])
    assert gibberish.mean() > natural.mean() + 2
