"""Contrast pairs, the misleading prefix, zero-shot log-probs, and the elicit experiment
end to end (library and CLI) on a tiny random model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from alignlab.data import Example, Task, Template, contrast_tasks, load_task, misleading_prefix
from alignlab.errors import DataError
from alignlab.interpretability import choice_logprobs
from alignlab.interpretability._elicit import ElicitConfig, run_elicit

pytestmark = pytest.mark.usefixtures("one_thread")


def _toy(n=12):
    examples = tuple(Example(text=f"Claim {i} {{braces}}", label=i % 2, group=f"g{i // 2}",
                             meta={"q": f"q{i}"}) for i in range(n))
    return Task("toy", examples, Template(format="{q}: {text}?", choices=(" No", " Yes")))


def test_contrast_pairs_come_from_the_template():
    task = _toy()
    neg, pos = contrast_tasks(task)
    assert neg.texts([3]) == ["q3: Claim 3 {braces}? No"]
    assert pos.texts([3]) == ["q3: Claim 3 {braces}? Yes"]
    assert len({task.fingerprint, neg.fingerprint, pos.fingerprint}) == 3  # separate cache keys
    assert np.array_equal(neg.labels, task.labels)
    with pytest.raises(DataError, match="choices"):
        contrast_tasks(Task("plain", task.examples, Template(format="{text}")))


def test_capitals_pairs():
    task = load_task("capitals")
    neg, pos = contrast_tasks(task)
    assert pos.texts([0])[0] == task.texts([0])[0] + " True"
    assert neg.texts([0])[0] == task.texts([0])[0] + " False"


def test_misleading_prefix_answers_pool_examples_wrongly():
    task = _toy()
    pool = np.array([0, 1, 2, 3])
    misled = misleading_prefix(task, pool, k=2, seed=0)
    text = misled.texts([10])[0]
    assert text.endswith("q10: Claim 10 {braces}?")
    shots = text.split("\n\n")[:-1]
    assert len(shots) == 2
    for shot in shots:
        i = int(shot.split(":")[0][1:])
        assert i in pool
        assert shot.endswith(" Yes" if task.examples[i].label == 0 else " No")  # the wrong answer
    assert misled.fingerprint != task.fingerprint and misled.template.choices == task.template.choices
    assert misleading_prefix(task, pool, k=2, seed=0).texts() == misled.texts()
    with pytest.raises(DataError):
        misleading_prefix(task, pool, k=9)


@pytest.mark.parametrize("choices", [(" No", " Yes!"), ("N", "Y")])  # multi-token; one byte-token each
def test_choice_logprobs_match_one_forward_per_sequence(tiny_llama, tmp_home, choices):
    task = _toy(6).with_template(Template(format="{q}: {text}?", choices=choices))
    got = choice_logprobs(tiny_llama, task, batch_size=5)  # mixed lengths, left padding
    tok, model = tiny_llama.tokenizer, tiny_llama.model
    for i, prompt in enumerate(task.texts()):
        for k, choice in enumerate(task.template.choices):
            p, c = tok(prompt)["input_ids"], tok(choice, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logits = model(torch.tensor([p + c])).logits[0].float()
            logp = torch.log_softmax(logits, -1)
            want = sum(float(logp[len(p) - 1 + j, t]) for j, t in enumerate(c))
            assert got[i, k] == pytest.approx(want, abs=1e-3)
    assert np.array_equal(choice_logprobs(tiny_llama, task), got)  # cached
    assert list((tmp_home / "home" / "zeroshot").iterdir())
    single = all(len(tok(c, add_special_tokens=False)["input_ids"]) == 1 for c in choices)
    assert single == (choices[1] == "Y")  # both paths are exercised


def test_config_yaml_roundtrip_and_validation():
    config = ElicitConfig(model="tiny-llama", methods=("ccs", "zeroshot"), layers=(0, -1), transfer="fever",
                          prefix="misleading")
    assert ElicitConfig.model_validate(yaml.safe_load(yaml.safe_dump(config.model_dump(mode="json")))) == config
    with pytest.raises(ValidationError, match="extra"):
        ElicitConfig.model_validate({"no_such": 1})
    with pytest.raises(ValidationError, match="methods"):
        ElicitConfig(methods=("svm",))


def test_run_elicit_end_to_end(tmp_home):
    config = ElicitConfig(model="tiny-llama", task="capitals", n_items=60, ccs_epochs=30, ccs_restarts=2,
                          layers=(0, 1), transfer="sarcasm", prefix="misleading", prefix_shots=2)
    out = run_elicit(config, runs_root=tmp_home / "runs")
    res = json.loads((out.run_dir / "result.json").read_text())
    assert out.plot.exists() and out.plot.parent == out.run_dir
    assert set(res["methods"]) == {"logistic", "mass_mean", "ccs", "crc", "zeroshot"}
    assert res["n_train"] + res["n_val"] + res["n_test"] == res["n_items"] == 60
    assert res["headline"] == "accuracy"  # capitals: a true and a false statement per country
    for method in ("logistic", "ccs"):
        rec = res["methods"][method]
        assert rec["layers"] == [0, 1] and rec["failures"] == []
        # supervised: the reported layer is the validation argmax; CCS: the lowest training
        # loss (no labels) — and its test numbers are that layer's
        pick = [v["value"] for v in rec["val"]] if method == "logistic" else rec["label_free_score"]
        i = int(np.argmax(pick))
        assert rec["best"]["layer"] == rec["layers"][i] and rec["best"]["test"] == rec["test"][i]
        assert rec["best"]["test_balanced"] == rec["test_balanced"][i] and rec["best"]["test_auroc"] == rec["test_auroc"][i]
        assert rec["best"]["test"]["n"] == res["n_test"] == len(rec["best"]["test_pred"])
    ccs = res["methods"]["ccs"]
    assert all(np.isfinite(ccs["label_free_score"])) and "CCS loss" in ccs["selection"]
    assert ccs["oracle"]["layer"] == ccs["layers"][int(np.argmax([v["value"] for v in ccs["val"]]))]
    assert ccs["best"]["test_best_sign"] >= ccs["best"]["test"]["value"] - 1e-12  # max(acc, 1-acc): an upper bound
    assert res["transfer"]["methods"]["logistic"]["test"]["n"] == res["transfer"]["n_test"]
    assert res["transfer"]["methods"]["ccs"]["test_target_norm"]["n"] == res["transfer"]["n_test"]
    assert "misleading2" in res["task"]


def test_cli_elicit(tmp_home):
    from alignlab.cli import app

    args = ["elicit", "--model", "tiny-bert", "--task", "capitals", "--n-items", "40", "--methods", "logistic,crc,zeroshot"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "logistic" in out.output and "encoder" in out.output and "run record:" in out.output
    bad = CliRunner().invoke(app, ["elicit", "--model", "tiny-bert", "--methods", "svm"])
    assert bad.exit_code == 2 and "methods" in bad.output and "Traceback" not in bad.output
