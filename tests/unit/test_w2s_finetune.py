"""The fine-tuning mode on tiny random models: it learns, it keeps the student away from
ground truth, LoRA trains adapters only, and it runs through ``run_w2s``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignlab.generalization import FinetuneConfig, FinetuneLearner, HeadLearner, make_method, w2s_seed


# Tiny models are far too small to split across threads; on a loaded 2-core machine a
# second thread only spins (a fit took 1.0 s with 2 threads, 0.1 s with 1).
pytestmark = pytest.mark.usefixtures("one_thread")


def _toy(n=120):
    texts = [("good " if i % 2 else "bad ") * (1 + i % 3) + f"item {i}" for i in range(n)]
    return texts, np.arange(n) % 2


CONFIG = FinetuneConfig(epochs=3, lr=1e-3, batch_size=16)


def test_finetuned_classifier_learns_a_token_rule():
    texts, y = _toy()
    learner = FinetuneLearner("tiny-llama", texts, np.zeros((len(texts), 1)), CONFIG)
    fitted = learner.fit(np.arange(80), y[:80].astype(float), seed=0)
    held = np.arange(80, 120)
    assert ((fitted.predict_proba(held) > 0.5) == y[held]).mean() >= 0.9
    untrained = learner.fit(np.arange(80), y[:80].astype(float), seed=0, loss=lambda *a: (a[0] * 0).sum())
    assert ((untrained.predict_proba(held) > 0.5) == y[held]).mean() < 0.8  # the learning did it


def test_finetune_student_never_sees_ground_truth():
    """Shuffling B's ground truth changes the ceiling, never the student (fine-tuning mode;
    weak supervisor a head on other features, to show learners mix)."""
    from alignlab.generalization import W2SSplit

    texts, y = _toy()
    rng = np.random.default_rng(0)
    weak_X = (y[:, None] + rng.normal(scale=0.8, size=(len(y), 4))).astype(np.float32)
    strong = FinetuneLearner("tiny-llama", texts, rng.normal(size=(len(y), 4)), CONFIG)
    split = W2SSplit.draw(len(y), seed=0)
    shuffled = y.copy()
    shuffled[split.b] = np.random.default_rng(9).permutation(y[split.b])
    a = w2s_seed(HeadLearner(weak_X), strong, y, make_method("aux_conf"), seed=0)
    b = w2s_seed(HeadLearner(weak_X), strong, shuffled, make_method("aux_conf"), seed=0)
    assert a["accuracy"]["student"] == b["accuracy"]["student"]
    assert a["accuracy"]["ceiling"] != b["accuracy"]["ceiling"]
    assert a["accuracy"]["ceiling"]["value"] >= 0.9


def test_lora_trains_adapters_only():
    pytest.importorskip("peft")
    from alignlab.models import load_model

    texts, y = _toy(64)
    fitted = FinetuneLearner("tiny-llama", texts, np.zeros((64, 1)), CONFIG.model_copy(update={"lora": True})
                             ).fit(np.arange(64), y.astype(float), seed=0)
    base = load_model("tiny-llama", dtype="float32", device="cpu").model.base_model.state_dict()
    tuned = {k.replace("base_model.model.", "").replace(".base_layer", ""): v
             for k, v in fitted.clf.body.state_dict().items() if "lora_" not in k}
    assert set(base) <= set(tuned)
    assert all(torch.equal(base[k], tuned[k]) for k in base)  # frozen body
    assert any("lora_" in k for k in fitted.clf.body.state_dict())
    assert np.isfinite(fitted.predict_proba(np.arange(64))).all()


def test_run_w2s_finetune_mode_records_and_differs_from_head_mode(tmp_home):
    import json

    from alignlab.generalization import W2SConfig, run_w2s

    texts, y = _toy(80)
    data = tmp_home / "toy.jsonl"
    data.write_text("\n".join(json.dumps({"text": t, "label": int(l)}) for t, l in zip(texts, y)))
    base = W2SConfig(weak="tiny-bert", strong="tiny-llama", task=str(data), method="xent", seeds=(0,), n_examples=80)
    tuned = run_w2s(base.model_copy(update={"train": "finetune", "finetune": CONFIG}))
    heads = run_w2s(base)
    assert tuned.path != heads.path and tuned.config["train"] == "finetune"
    assert tuned.result["runs"][0]["n_b"] == heads.result["runs"][0]["n_b"]
    assert tuned.result["summary"]["ceiling"]["value"] >= 0.8
