"""Truth probes scored honestly: balanced accuracy and AUROC beside accuracy on an
imbalanced task, an unsupervised probe's layer chosen without any label (flip or
shuffle every validation and test label: the choice stays), the same rules in the
``elicit`` run kind and its protocol testbed, and the CCS-vs-zero-shot claim summarised
by a median and leave-one-out on records of both the new and the old shape."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from alignlab.interpretability._elicit import ElicitConfig, _sweep, choose_layer, headline_metric, run_elicit
from alignlab.interpretability._truth_probe import (
    TruthProbe,
    auroc,
    auroc_ci,
    balanced_accuracy,
    balanced_accuracy_ci,
)

pytestmark = pytest.mark.usefixtures("one_thread")


# --- the metrics ----------------------------------------------------------------------

def test_balanced_accuracy_and_auroc_match_sklearn_and_score_a_constant_answer_at_chance():
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.permutation(np.arange(200) < 152).astype(int)  # 76% true, TruthfulQA-like
    pred, score = rng.integers(0, 2, 200), rng.normal(size=200) + y
    assert balanced_accuracy(y, pred) == pytest.approx(balanced_accuracy_score(y, pred))
    assert auroc(y, score) == pytest.approx(roc_auc_score(y, score))
    assert auroc(y, np.exp(3 * score)) == pytest.approx(auroc(y, score))  # monotone transforms: unchanged
    constant = np.ones_like(y)  # always the majority class
    assert np.mean(constant == y) == 0.76
    assert balanced_accuracy(y, constant) == 0.5 and auroc(y, constant.astype(float)) == 0.5
    groups = np.repeat(np.arange(50), 4)
    for est in (balanced_accuracy_ci(y, pred, groups), auroc_ci(y, score, groups)):
        assert est.lo <= est.value <= est.hi and est.n == 200 and "50 groups" in est.method
    assert auroc_ci(np.ones(5), np.arange(5.0)) is None  # one class: undefined, not a number


def test_headline_metric_rule_reads_the_training_labels():
    assert headline_metric([1] * 76 + [0] * 24) == "balanced_accuracy"
    assert headline_metric([0] * 61 + [1] * 39) == "balanced_accuracy"
    assert headline_metric([1] * 60 + [0] * 40) == "accuracy"  # the rule is "above 0.6"
    assert headline_metric([1, 0] * 20) == "accuracy"


def test_choose_layer_rules():
    val = [0.6, 0.8, 0.8, None]
    assert choose_layer(val) == (1, 1, "best validation score")  # ties: the shallower
    chosen, oracle, rule = choose_layer(val, [-0.3, -0.2, -0.1, None])
    assert (chosen, oracle) == (2, 1) and rule.startswith("label-free")
    chosen, _, rule = choose_layer(val, [float("nan")] * 4)  # a variant without a label-free score
    assert chosen == 1 and "middle" in rule  # middle of the fitted layers 0, 1, 2


# --- an imbalanced task through the run kind --------------------------------------------

def _statements(path: Path, flip: set[int] = frozenset()) -> Path:
    """75% true statements in groups of four (three true, one false), so every
    group-wise split holds exactly 75%; the labels of rows in ``flip`` inverted."""
    rows = []
    for i in range(80):
        label = int(i % 4 != 3)
        rows.append({"text": f"Statement {i} about item {i // 4} is {'right' if i % 3 else 'wrong'}.",
                     "label": 1 - label if i in flip else label, "group": f"g{i // 4}"})
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


class MajorityProbe(TruthProbe):
    """Answers the training majority class for every item, with a constant score."""

    def fit(self, X, y=None):
        self._fit_features(X, "none")
        self.answer_ = int(np.mean(np.asarray(y) == 1) >= 0.5)
        return self

    def decision_function(self, X):
        return np.full(len(X), 1.0 if self.answer_ else -1.0)


def test_an_imbalanced_task_is_headlined_by_balanced_accuracy_and_the_majority_answer_scores_half(
        tmp_home, monkeypatch):
    import alignlab.interpretability._elicit as elicit_mod

    real = elicit_mod._make_probe
    monkeypatch.setattr(elicit_mod, "_make_probe",
                        lambda m, c: MajorityProbe() if m == "logistic" else real(m, c))
    task = _statements(tmp_home / "statements.jsonl")
    res = run_elicit(ElicitConfig(model="tiny-llama", task=str(task), n_items=80, methods=("logistic", "mass_mean"),
                                  layers=(0, 1, 2)), runs_root=tmp_home / "runs").result
    assert res["headline"] == "balanced_accuracy" and res["majority"]["class"] == 1
    assert res["majority"]["rate_train"] == pytest.approx(0.75) and res["majority"]["test"]["value"] == 0.75
    majority = res["methods"]["logistic"]
    assert majority["selection"] == "best validation balanced accuracy"
    best = majority["best"]
    assert best["test"]["value"] == 0.75 and best["test"]["n"] == res["n_test"]  # accuracy = the majority rate
    assert best["test_balanced"]["value"] == 0.5 and best["test_auroc"]["value"] == 0.5  # chance, as it should be
    rec = res["methods"]["mass_mean"]  # a real probe: its layer is the validation *balanced* argmax
    i = choose_layer([v["value"] for v in rec["val_balanced"]])[0]
    assert rec["best"]["layer"] == rec["layers"][i] and rec["best"]["test_balanced"] == rec["test_balanced"][i]
    assert len(rec["best"]["test_pred"]) == res["n_test"] == len(res["test_items"]["y"])


# --- unsupervised layer choice: no label of val or test can move it ----------------------

def _contrast(n: int = 120, d: int = 6, seed: int = 0):
    """(n, 2, 2, d) pairs: block 0 carries the truth (the correct completion moves along
    one direction), block 1 is noise. Labels balanced, every item its own group."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 2)
    truth = np.zeros(d)
    truth[0] = 3.0
    sign = np.where(y == 1, 1.0, -1.0)[:, None]
    shared = rng.normal(size=(n, d))
    shared[:, 0] = 0.0  # what both sides share (the topic) lies off the truth direction
    block0 = np.stack([shared - sign * truth + 0.3 * rng.normal(size=(n, d)),
                       shared + sign * truth + 0.3 * rng.normal(size=(n, d))], axis=1)
    block1 = rng.normal(size=(n, 2, d))
    acts = np.stack([block0, block1], axis=2)  # (n, 2, layers, d)
    split = SimpleNamespace(train=np.arange(0, 60), val=np.arange(60, 90), test=np.arange(90, n))
    return acts, y, np.array([f"g{i}" for i in range(n)]), split


@pytest.mark.parametrize("how", ["flip", "shuffle"])
def test_unsupervised_layer_choice_ignores_every_validation_and_test_label(how):
    acts, y, groups, split = _contrast()
    held = np.concatenate([split.val, split.test])
    other = y.copy()
    other[held] = 1 - y[held] if how == "flip" else np.random.default_rng(1).permutation(y[held])
    config = ElicitConfig(ccs_restarts=3, ccs_epochs=300, sign_labels=8)
    for method in ("ccs", "crc"):
        (a, _), (b, _) = (_sweep(method, acts, labels, groups, split, [0, 1], config, "accuracy")
                          for labels in (y, other))
        assert a["best_layer"] == b["best_layer"] == 0, method  # the truth is in block 0, found without labels
        assert a["label_free_score"] == b["label_free_score"] and a["label_free_score"][0] > a["label_free_score"][1]
        assert a["best"]["test"]["value"] > 0.9
        if how == "flip":  # the test has teeth: validation labels would have moved the layer
            assert a["oracle"]["layer"] == 0 and b["oracle"]["layer"] == 1, method
    (a, _), (b, _) = (_sweep("logistic", acts, labels, groups, split, [0, 1], config, "accuracy")
                      for labels in (y, other))
    if how == "flip":  # a supervised probe's layer is chosen on validation, as stated
        assert (a["best_layer"], b["best_layer"]) == (0, 1)


def test_run_kind_unsupervised_layer_survives_flipping_every_validation_and_test_label(tmp_home):
    """End to end on a tiny model: the second task file differs from the first only in
    its validation and test labels; CCS's and CRC's layers and criteria are the same."""
    from alignlab.data import load_task

    first = _statements(tmp_home / "a.jsonl")
    task, _ = load_task(str(first)).draw(80, seed=0)
    split = task.split(seed=0)
    held = {int(i) for i in np.concatenate([split.val, split.test])}  # row order is the file's (n_items = all)
    second = _statements(tmp_home / "b.jsonl", flip=held)
    base = dict(model="tiny-llama", n_items=80, methods=("ccs", "crc"), layers=(0, 1, 2), ccs_restarts=2,
                ccs_epochs=50)
    a, b = (run_elicit(ElicitConfig(task=str(t), **base), runs_root=tmp_home / "runs").result
            for t in (first, second))
    assert a["positive_rate_test"] == 1 - b["positive_rate_test"]  # the test labels did flip
    for method in ("ccs", "crc"):
        ra, rb = a["methods"][method], b["methods"][method]
        assert ra["label_free_score"] == rb["label_free_score"] and ra["best_layer"] == rb["best_layer"], method
        assert ra["best"]["test_pred"] == rb["best"]["test_pred"]  # same probe, same sign (train labels only)


# --- the testbed's evaluator: the same rules -------------------------------------------

def _secret(rng, n_val=20, n_test=20, layers=(0, 2, 4)):
    return {"layers": list(layers), "y_train": np.array([1] * 30 + [0] * 10),
            "y_val": rng.permutation(np.array([1] * 15 + [0] * 5)), "y_test": rng.permutation(np.array([1] * 15 + [0] * 5)),
            "g_val": np.array([f"v{i}" for i in range(n_val)]), "g_test": np.array([f"t{i}" for i in range(n_test)])}


def test_testbed_scores_imbalance_and_chooses_the_unsupervised_layer_without_labels():
    from alignlab.protocol import Submission
    from alignlab.protocol.testbeds.elicit import Elicit, ElicitTestbedConfig

    rng = np.random.default_rng(0)
    secret = _secret(rng)
    supervised = ElicitTestbedConfig(model="tiny-llama", train_labels="all")
    constant = Submission(predictions=[0.9] * (3 * 40))  # always "true": the majority class
    scores = Elicit().score(supervised, secret, constant, seed=0)
    assert scores.primary == "test_balanced" and scores.baseline == "majority_balanced"  # train majority 0.75
    assert scores.metrics["test"].value == 0.75 == scores.metrics["majority"].value
    assert scores.metrics["test_balanced"].value == 0.5 and scores.metrics["test_auroc"].value == 0.5

    unsupervised = ElicitTestbedConfig(model="tiny-llama", train_labels="sign")
    answers = []
    for k, label_free in enumerate([-0.3, -0.1, -0.2]):  # the label-free score prefers layer 2 (index 1)
        truthful = k == 0  # validation labels would prefer layer 0
        y = np.concatenate([secret["y_val"], secret["y_test"]])
        answers += [float(v) for v in (y if truthful else rng.random(40))] + [label_free]
    submission = Submission(predictions=answers)
    base = Elicit().score(unsupervised, secret, submission, seed=0)
    assert base.metrics["layer"].value == 2 and base.metrics["oracle_layer"].value == 0
    for _ in range(3):  # shuffle every validation and test label: the reported layer stays
        shuffled = {**secret, "y_val": rng.permutation(secret["y_val"]), "y_test": rng.permutation(secret["y_test"])}
        assert Elicit().score(unsupervised, shuffled, submission, seed=0).metrics["layer"].value == 2


# --- the CCS-vs-zero-shot claim: median and leave-one-out --------------------------------

def test_loo_summary_exposes_a_mean_carried_by_one_cell():
    from alignlab.results.elicit import loo_summary

    s = loo_summary({"a": -0.01, "b": -0.01, "c": -0.02, "d": -0.005, "outlier": 0.25})
    assert s["mean"] == pytest.approx(0.041) and s["median"] == -0.01
    assert (s["wins"], s["losses"], s["n"]) == (1, 4, 5)
    assert not s["mean_sign_holds"] and s["median_sign_holds"]
    assert s["most_influential"] == "outlier" and s["mean_without_it"] == pytest.approx(-0.01125)
    steady = loo_summary({"a": 0.03, "b": 0.05, "c": 0.04})
    assert steady["mean_sign_holds"] and steady["median_sign_holds"] and steady["loo_mean"] == (0.035, 0.045)


def _est(v):
    return {"value": v, "lo": v - 0.1, "hi": v + 0.1, "n": 80}


def _record(ccs: float, zs: float, *, old: bool = False, imbalanced: bool = False) -> dict:
    """A result in the shape the run kind writes (``old``: as it wrote before balanced
    accuracy, AUROC, the oracle and the per-item predictions existed)."""
    best = {"layer": 4, "val": _est(ccs), "test": _est(ccs), "test_best_sign": max(ccs, 1 - ccs)}
    zero = {"val": _est(zs), "test": _est(zs), "test_calibrated": _est(0.5), "best": {"test": _est(zs)}}
    res = {"model": "m", "task": "t", "n_test": 80, "positive_rate_test": 0.76 if imbalanced else 0.5,
           "sign_labels": 8, "methods": {
               "logistic": {"layers": [0, 4], "val": [_est(0.6), _est(0.7)], "test": [_est(0.6), _est(0.7)],
                            "test_best_sign": [0.6, 0.7], "failures": [], "best_layer": 4,
                            "best": {"layer": 4, "val": _est(0.7), "test": _est(0.7), "test_best_sign": 0.7}},
               "ccs": {"layers": [0, 4], "val": [None, _est(ccs)], "test": [None, _est(ccs)], "failures": [],
                       "best_layer": 4, "best": best},
               "zeroshot": zero}}
    if not old:
        best |= {"test_balanced": _est(ccs - 0.05), "test_auroc": _est(ccs)}
        zero["best"] |= {"test_balanced": _est(0.5)}
        res["methods"]["ccs"]["oracle"] = {**best, "layer": 0}
        res |= {"headline": "balanced_accuracy" if imbalanced else "accuracy",
                "majority": {"class": 1, "rate_train": 0.7, "test": _est(0.76 if imbalanced else 0.5)}}
    return res


def _cells(results: dict[str, list[dict]]):
    """Cells keyed "model/task" (or "model/task+prefix"), one record per seed."""
    from alignlab.results.elicit import Cell

    def config(name, prefix="none"):  # what a cell reads of its config (the models here are made up)
        model, task = name.split("/")
        return SimpleNamespace(model=model, task=task, transfer="fever", prefix=prefix)

    return [Cell(config(name, *prefix), [SimpleNamespace(result=r, path=Path("/nowhere")) for r in recs])
            for (name, *prefix), recs in ((k.split("+"), v) for k, v in results.items())]


def test_ccs_vs_zeroshot_reports_median_and_leave_one_out_on_new_and_old_records():
    from alignlab.results.elicit import _ccs_vs_zeroshot

    cells = _cells({"m1/capitals": [_record(0.60, 0.61)], "m2/capitals": [_record(0.59, 0.60)],
                    "m1/fever": [_record(0.55, 0.57)], "m2/fever": [_record(0.52, 0.53, old=True)],
                    "m1/sarcasm": [_record(0.85, 0.55)], "m1/truthfulqa": [_record(0.70, 0.76, old=True, imbalanced=True)]})
    lines, summary = _ccs_vs_zeroshot(cells)
    # accuracy: five cells one point or two behind, one 30 ahead — the mean is positive, the median is not
    assert "The same on plain accuracy: over 6 cells, median -1.0 points, mean +3.2" in summary
    assert "dropping m1/sarcasm moves the mean most, to -2.2" in summary and "**does not hold**" in summary
    # the headline needs balanced accuracy on the imbalanced task: the old record there has none
    assert "on the headline metric: over 5 cells" in summary
    truthfulqa = next(line for line in lines if "| truthfulqa |" in line)
    assert "| balanced acc. | — | — | — |" in truthfulqa and "| 76.0 |" in truthfulqa


def test_every_table_renders_old_records_with_dashes_and_pools_seeds():
    from alignlab.results.elicit import _detail_table, _main_table, _prefix_table, _summary, _transfer_table

    old = [_record(0.6, 0.5, old=True), _record(0.7, 0.5, old=True)]
    for r in old:  # the transfer block as older records wrote it
        r["transfer"] = {"task": "fever", "n_test": 80, "methods": {
            "logistic": {"layer": 4, "test": _est(0.55), "test_target_norm": _est(0.6)}, "zeroshot": {"test": _est(0.5)}}}
    cells = _cells({"m1/capitals": old,
                    "m1/truthfulqa": [_record(0.7, 0.76, old=True, imbalanced=True)],
                    "m2/capitals": [_record(0.8, 0.5)]})
    main = "\n".join(_main_table(cells))
    assert "| m1 | capitals | 2 | 80 | 50.0 | accuracy | 70.0" in main  # logistic: mean of 2 seeds' 0.7
    assert "| m1 | truthfulqa | 1 | 80 | 76.0 | balanced acc. | — | — | — | 70.0 | — | — | — |" in main
    detail = "\n".join(_detail_table(cells))
    assert "| m1 | capitals | CCS | validation accuracy (older record) | 4,4 | 65.0" in detail
    assert "| m2 | capitals | CCS: oracle (upper bound) | validation labels | 0 |" in detail
    assert _summary(cells)[2].startswith("| logistic | 2 |")  # m1/truthfulqa has no balanced accuracy
    (misled,) = _cells({"m1/capitals+misleading": [_record(0.5, 0.4, old=True)]})
    prefix = "\n".join(_prefix_table(cells, [misled]))
    assert "| m1 | capitals | zeroshot | accuracy | 50.0 [50, 50] | 40.0 [30, 50] | -10.0 |" in prefix
    assert "| m1 | capitals | ccs | accuracy | 65.0 [1, 100] | 50.0 [40, 60] | -15.0 |" in prefix  # t across 2 seeds, clipped
    transfer = "\n".join(_transfer_table(cells, target_norm=False))
    assert "| m1 | capitals → fever | 2 | 80 | 55.0 [55, 55] | — | — | — | — | 50.0 [50, 50] |" in transfer
