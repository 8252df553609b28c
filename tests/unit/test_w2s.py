"""Weak-to-strong core: PGR properties, the confidence loss by hand and its ramp, the
head against scikit-learn, and the student never seeing ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from alignlab.generalization import HeadConfig, W2SEvaluator, W2SSplit, fit_head, make_method, pgr, w2s_seed, w2s_seeds
from alignlab.generalization.methods.aux_conf import alpha_at, aux_conf_loss, hardened
from alignlab.generalization.methods.conf_filter import confident_rows


def test_pgr_properties():
    assert pgr(0.6, 0.6, 0.9) == 0 and pgr(0.6, 0.9, 0.9) == 1
    assert pgr(0.6, 0.75, 0.9) == pytest.approx(0.5)
    assert pgr(0.6, 0.5, 0.9) < 0 and pgr(0.6, 0.95, 0.9) > 1
    assert math.isnan(pgr(0.7, 0.8, 0.7)) and math.isnan(pgr(0.7, 0.8, 0.65))  # undefined, not huge
    assert math.isnan(pgr(0.70, 0.8, 0.71, min_gap=0.02))


def test_alpha_ramps_linearly():
    values = [alpha_at(s, 100, 0.75, 0.2) for s in range(0, 101, 5)]
    assert values[0] == 0 and values[2] == pytest.approx(0.75 * 10 / 20)
    assert values[4] == pytest.approx(0.75) and all(v == 0.75 for v in values[4:])
    diffs = np.diff(values[:5])
    assert np.allclose(diffs, diffs[0])  # a ramp, not a jump


def test_aux_conf_loss_matches_hand_computation():
    logits = torch.tensor([2.0, -1.0, 0.5, -3.0])
    weak = torch.tensor([0.9, 0.2, 0.4, 0.3])  # positive rate 0.45 -> quantile 0.55 of probs
    p = torch.sigmoid(logits)
    threshold = torch.quantile(p, 0.55)
    hard = (p > threshold).float()
    assert hard.tolist() == [1.0, 0.0, 1.0, 0.0] and torch.equal(hardened(logits, weak), hard)

    def ce(q, y):
        return -(y * torch.log(q) + (1 - y) * torch.log(1 - q)).mean()

    expected = 0.7 * ce(p, weak) + 0.3 * ce(p, hard)
    assert aux_conf_loss(logits, weak, 0.3).item() == pytest.approx(expected.item(), rel=1e-5)
    assert aux_conf_loss(logits, weak, 0.0).item() == pytest.approx(ce(p, weak).item(), rel=1e-5)


def _planted(n=800, d=20, seed=0, noise=1.0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, d)).astype(np.float32)
    X[:, 0] += 2.0 * (2 * y - 1)
    weak = X.copy()
    weak[:, 0] = weak[:, 0] * 0.3 + rng.normal(scale=noise * 2, size=n)  # a blurrier view
    return weak, X, y


def test_head_matches_sklearn_within_one_point():
    _, X, y = _planted(seed=3)
    train, test = np.arange(500), np.arange(500, 800)
    head = fit_head(X[train], y[train].astype(float), C=1.0, epochs=100, seed=0)
    mu, sd = X[train].mean(0), X[train].std(0) + 1e-6
    ref = LogisticRegression(C=1.0, max_iter=5000).fit((X[train] - mu) / sd, y[train])
    ours = (head.predict(X[test]) == y[test]).mean()
    theirs = (ref.predict((X[test] - mu) / sd) == y[test]).mean()
    assert abs(ours - theirs) <= 0.01


def test_student_never_sees_ground_truth_of_b():
    """Shuffling B's ground truth changes the ceiling, never the weak labels or student."""
    weak_X, strong_X, y = _planted()
    split = W2SSplit.draw(len(y), seed=0)
    y_shuffled = y.copy()
    y_shuffled[split.b] = np.random.default_rng(9).permutation(y[split.b])
    method = make_method("aux_conf")
    a = w2s_seed(weak_X, strong_X, y, method, seed=0, head=HeadConfig(epochs=20))
    b = w2s_seed(weak_X, strong_X, y_shuffled, method, seed=0, head=HeadConfig(epochs=20))
    assert a["accuracy"]["student"] == b["accuracy"]["student"]
    assert a["accuracy"]["weak"] == b["accuracy"]["weak"]
    assert a["accuracy"]["ceiling"] != b["accuracy"]["ceiling"]


def test_evaluator_keeps_test_labels_inside():
    y = np.arange(20) % 2
    ev = W2SEvaluator(y, W2SSplit.draw(20, seed=1))
    assert not hasattr(ev, "test_labels")
    with pytest.raises(ValueError, match="expected"):
        ev.test_accuracy(np.zeros(3))
    with pytest.raises(ValueError, match="overlap"):
        W2SEvaluator(y, W2SSplit(np.arange(5), np.arange(4, 10), np.arange(10, 20)))


def test_conf_filter_keeps_confident_rows():
    weak = np.array([0.5, 0.95, 0.1, 0.55, 0.8])
    assert confident_rows(weak, keep=0.4, threshold=None).tolist() == [1, 2]
    assert confident_rows(weak, keep=None, threshold=0.3).tolist() == [1, 2, 4]
    with pytest.raises(ValueError, match="kept no rows"):
        confident_rows(weak, keep=None, threshold=0.49)


@pytest.mark.parametrize("name", ["xent", "aux_conf", "conf_filter", "bootstrap", "knn_smooth"])
def test_protocol_end_to_end_over_seeds(name):
    weak_X, strong_X, y = _planted(n=600)
    mid_X = (weak_X + strong_X) / 2  # an in-between view
    out = w2s_seeds(weak_X, strong_X, y, make_method(name), seeds=(0, 1, 2), mid_X=mid_X, head=HeadConfig(epochs=15))
    s = out["summary"]
    assert s["ceiling"]["value"] > s["weak"]["value"] + 0.05  # a real gap to recover
    assert s["student"]["n"] == 3 and out["params"] == {}
    assert s["pgr_undefined_seeds"] == 0 and s["pgr"]["lo"] <= s["pgr"]["value"] <= s["pgr"]["hi"]
    assert s["student"]["value"] > s["weak"]["value"] - 0.05
    again = w2s_seeds(weak_X, strong_X, y, make_method(name), seeds=(0,), mid_X=mid_X, head=HeadConfig(epochs=15))
    assert again["runs"][0] == out["runs"][0]  # deterministic per seed


def test_bootstrap_requires_mid_and_cross_fits():
    from alignlab.generalization.methods.bootstrap import cross_fitted_labels

    weak_X, strong_X, y = _planted(n=200)
    with pytest.raises(ValueError, match="needs an intermediate"):
        w2s_seed(weak_X, strong_X, y, make_method("bootstrap"), seed=0)
    labels = cross_fitted_labels(strong_X, y.astype(float), seed=0, C=1.0, epochs=200, lr=1e-2)
    assert labels.shape == (200,) and 0 <= labels.min() and labels.max() <= 1
    assert ((labels > 0.5) == y).mean() > 0.8  # out-of-fold predictions of clean labels


def test_knn_smooth_removes_label_noise_aligned_with_strong_geometry():
    from alignlab.generalization.methods.knn_smooth import smooth_labels

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    X = rng.normal(size=(400, 8)) + 4.0 * (2 * y[:, None] - 1) * np.eye(8)[0]  # clusters by label
    noisy = np.where(rng.random(400) < 0.25, 1 - y, y).astype(float)  # 25% flipped
    smoothed = smooth_labels(X, noisy, k=15, self_weight=0.3)
    assert ((smoothed > 0.5) == y).mean() > ((noisy > 0.5) == y).mean() + 0.1  # measured 0.88 vs 0.75


def test_unknown_method_lists_known():
    with pytest.raises(KeyError, match="known: aux_conf, bootstrap, conf_filter, knn_smooth, xent"):
        make_method("magic")


def test_w2s_cli_end_to_end_on_tiny_models(tmp_home):
    """Real code path through the CLI: tiny random models, a user task, a run record."""
    import json

    from typer.testing import CliRunner

    from alignlab.cli import app

    data = tmp_home / "toy.jsonl"
    rows = [{"text": ("yes " if i % 2 else "no ") * (1 + i % 4) + f"row {i}", "label": i % 2} for i in range(120)]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    out = CliRunner().invoke(app, ["w2s", "--weak", "tiny-bert", "--strong", "tiny-llama", "--task", str(data),
                                   "--method", "xent", "--seed", "0,1", "--n-examples", "120"])
    assert out.exit_code == 0, out.output
    assert "PGR" in out.output and "run record" in out.output
    out = CliRunner().invoke(app, ["w2s", "--weak", "tiny-bert", "--strong", "tiny-llama", "--mid", "tiny-gemma3",
                                   "--task", str(data), "--method", "bootstrap", "--seed", "0", "--n-examples", "120"])
    assert out.exit_code == 0, out.output
    results = [json.loads((p / "result.json").read_text()) for p in (tmp_home / "runs").glob("w2s-*")]
    result = next(r for r in results if r["method"] == "xent")
    assert result["seeds"] == [0, 1] and len(result["runs"]) == 2 and result["layers"]["weak"] == 1
    assert CliRunner().invoke(app, ["w2s", "--method", "magic"]).exit_code == 2


def test_finished_run_is_reused_not_recomputed(tmp_home):
    import json

    import alignlab.generalization._run as run_mod
    from alignlab.generalization import W2SConfig, run_w2s, sweep_w2s

    data = tmp_home / "toy.jsonl"
    data.write_text("\n".join(json.dumps({"text": f"{'up' if i % 2 else 'down'} {i}", "label": i % 2})
                              for i in range(80)))
    config = W2SConfig(weak="tiny-bert", strong="tiny-llama", task=str(data), method="xent", seeds=(0,), n_examples=80)
    first = run_w2s(config)

    def boom(*a, **k):
        raise AssertionError("recomputed a finished run")

    with pytest.MonkeyPatch.context() as patch:  # scoped: tmp_home's env must stay patched
        patch.setattr(run_mod, "_run", boom)
        assert run_w2s(config).result == first.result
        (first.path / "result.json").unlink()  # an interrupted run is not reused
        with pytest.raises(AssertionError, match="recomputed"):
            run_w2s(config)
    records = sweep_w2s([str(data)], [("tiny-bert", "tiny-llama")], ["xent", "bootstrap"], base=config)
    assert [r.config["method"] for r in records] == ["xent"]  # bootstrap skipped: no mid model given
    assert all(str(r.path).startswith(str(tmp_home)) for r in records)


def test_sweep_cli_writes_table_figures_and_record(tmp_home):
    import json

    from typer.testing import CliRunner

    from alignlab.cli import app

    data = tmp_home / "toy.jsonl"
    data.write_text("\n".join(json.dumps({"text": f"{'up' if i % 2 else 'down'} {i}", "label": i % 2})
                              for i in range(80)))
    args = ["w2s", "sweep", "--tasks", str(data), "--pairs", "tiny-bert:tiny-llama,tiny-bert:tiny-gemma3",
            "--methods", "xent,conf_filter", "--seed", "0,1", "--n-examples", "80"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    sweep = next((tmp_home / "runs").glob("w2s-sweep-*"))
    result = json.loads((sweep / "result.json").read_text())
    assert len(result["rows"]) == 4 and {r["method"] for r in result["rows"]} == {"xent", "conf_filter"}
    assert all((sweep / f).stat().st_size > 1000 for f in result["figures"])
    assert len(list((tmp_home / "runs").glob("w2s-*"))) == 5  # 4 runs + the sweep
    bad = tmp_home / "bad.yaml"
    bad.write_text("tasks: [unclosed")
    out = CliRunner().invoke(app, ["w2s", "sweep", "--config", str(bad)])
    assert out.exit_code == 2 and "cannot read sweep config" in out.output
    bad.write_text("methods: [xent]\nbogus: 1\n")
    out = CliRunner().invoke(app, ["w2s", "sweep", "--config", str(bad)])
    assert out.exit_code == 2 and "bogus" in out.output
