"""Integration: real offline models on real data (minutes, not seconds; in make test).

Prepared models live in the real ALIGNLAB_HOME, so a machine prepares each once;
activations go to a temporary store so the cache behaviour is tested from empty.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from alignlab.activations import task_activations
from alignlab.data import load_task
from alignlab.interpretability import probe_layers
from alignlab.models import extract, load_model, prepare, resolve_dtype
from alignlab.store import ActivationStore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smollm2():
    prepared = prepare("smollm2-135m")  # verifies the GGUF's sha256 on first prepare
    assert len(prepared.weights_sha256) == 64
    return load_model("smollm2-135m")  # dtype auto: bf16 where native, else fp32


def test_smollm2_sarcasm_probe_beats_070(smollm2, tmp_path):
    """The issue's bar: 1,500 headlines, a middle-layer probe trained on 1,000 scores
    above 0.70 on the other 500 (about 0.82 measured here with mean pooling)."""
    task = load_task("sarcasm").subset(1500, seed=0)
    store = ActivationStore(tmp_path)
    middle = smollm2.n_layers // 2
    t0 = time.perf_counter()
    acts = task_activations(smollm2, task, layers=[middle], pooling="mean", store=store, progress=False)
    cold = time.perf_counter() - t0
    # The dtype the capability rule picks: bf16 on a CPU with native bf16, fp32 on AVX2-only.
    assert acts.shape == (1500, 1, 576) and acts.dtype == getattr(torch, resolve_dtype("auto"))
    idx = np.arange(1500)
    sweep = probe_layers(acts.float().numpy(), task.labels, idx[:1000], idx[1000:])
    print(f"smollm2 layer {middle} mean-pooled sarcasm probe: {sweep.accuracy[0]}; majority {sweep.majority}")
    assert sweep.accuracy[0].value > 0.70
    assert sweep.accuracy[0].value > sweep.majority.hi

    t0 = time.perf_counter()
    again = task_activations(smollm2, task, layers=[middle], pooling="mean", store=store, progress=False)
    assert time.perf_counter() - t0 < cold / 5  # a hit reads the cache, no model work
    torch.testing.assert_close(acts, again, rtol=0, atol=0)


def test_smollm2_extract_matches_full_forward(smollm2):
    """Cutting the forward short (no later blocks, no LM head) and batching with padding
    change nothing: compared in fp32, where the tolerance can be strict."""
    lm = load_model("smollm2-135m", dtype="float32")
    texts = ["The capital of France is Paris.", "Water boils at 100 degrees Celsius at sea level."]
    acts = extract(lm, texts, layers=[3, 20], pooling="last", progress=False)
    for i, text in enumerate(texts):
        ids = lm.tokenizer([text], return_tensors="pt")
        with torch.inference_mode():
            hs = lm.model(**ids, output_hidden_states=True).hidden_states
        for j, layer in enumerate([3, 20]):
            torch.testing.assert_close(acts[i, j], hs[layer + 1][0, -1], rtol=1e-4, atol=1e-3)


def test_gemma3_prepares_and_represents_truth(tmp_path):
    """Gemma-3 (GGUF assembled from 4 part packages): a truth probe on capitals
    statements, split by country so no fact is in both train and test."""
    lm = load_model("gemma3-270m")
    assert (lm.d_model, lm.n_layers) == (640, 18)
    task = load_task("capitals")
    split = task.split(seed=0, fractions=(0.7, 0.0, 0.3))
    acts = task_activations(lm, task, layers=[9], pooling="last", store=ActivationStore(tmp_path), progress=False)
    sweep = probe_layers(acts.float().numpy(), task.labels, split.train, split.test)
    print(f"gemma3 layer 9 capitals truth probe: {sweep.accuracy[0]}")
    assert sweep.accuracy[0].value > 0.75


def test_minilm_encoder_path(tmp_path):
    lm = load_model("minilm-l6")
    assert lm.arch == "encoder" and lm.d_model == 384
    task = load_task("sarcasm").subset(1000, seed=1)
    acts = task_activations(lm, task, layers=[-1], pooling="mean", store=ActivationStore(tmp_path), progress=False)
    idx = np.arange(1000)
    sweep = probe_layers(acts.float().numpy(), task.labels, idx[:700], idx[700:])
    print(f"minilm last layer sarcasm probe: {sweep.accuracy[0]}")
    assert sweep.accuracy[0].value > 0.65
