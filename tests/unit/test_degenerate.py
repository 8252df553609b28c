"""Degenerate experiments are refused or flagged, never printed as confident numbers: a
task with one class, fewer rows than asked for, one seed (no interval), a role at or
below the majority-class rate; and a task elicit cannot use fails before a model loads."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.errors import AlignlabError, DataError
from alignlab.stats import error_bar, interval_text, mean_ci


def _task_file(path, n, label=lambda i: i % 2):
    path.write_text("\n".join(json.dumps({"text": f"{'up' if label(i) else 'down'} {i}", "label": label(i)})
                              for i in range(n)))
    return str(path)


def test_one_class_task_is_refused_before_any_model_loads(tmp_home):
    from alignlab.data import load_task
    from alignlab.generalization import W2SConfig, run_w2s

    one = _task_file(tmp_home / "one.jsonl", 40, label=lambda i: 1)
    with pytest.raises(DataError, match="only one class"):
        load_task(one).draw(40)
    import alignlab.generalization._run as run_mod

    with pytest.MonkeyPatch.context() as patch:  # no features are computed for it
        patch.setattr(run_mod, "_features", lambda *a, **k: pytest.fail("loaded a model for a one-class task"))
        with pytest.raises(DataError, match="only one class"):
            run_w2s(W2SConfig(weak="tiny-bert", strong="tiny-llama", task=one, method="xent", seeds=(0,),
                              n_examples=40))


def test_fewer_rows_than_asked_is_used_and_said(tmp_home):
    from alignlab.data import load_task

    task, warnings = load_task(_task_file(tmp_home / "t.jsonl", 30)).draw(100_000)
    assert len(task) == 30 and warnings == [f"asked for 100000 examples, task {task.name!r} has 30: used all 30"]
    assert load_task(_task_file(tmp_home / "t.jsonl", 30)).draw(20)[1] == []


def test_one_value_has_no_interval_not_a_zero_width_one():
    e = mean_ci([0.7])
    assert e.value == 0.7 and math.isnan(e.lo) and math.isnan(e.hi) and e.n == 1
    assert interval_text(e.as_dict()) == "(one value: no interval)" and "no interval" in str(e)
    assert error_bar(e.as_dict()) == (0.0, 0.0)
    from alignlab.store._runs import _strict

    stored = _strict(e.as_dict())  # what a record holds: null, not a number
    assert stored["lo"] is None and interval_text(stored) == "(one value: no interval)"
    two = mean_ci([0.6, 0.8]).as_dict()
    assert interval_text(two).startswith("[") and two["lo"] < 0.7 < two["hi"]


def test_w2s_one_seed_cli_prints_no_interval_and_flags_chance(tmp_home, one_thread):
    data = _task_file(tmp_home / "toy.jsonl", 60)
    out = CliRunner().invoke(app, ["w2s", "--weak", "tiny-bert", "--strong", "tiny-llama", "--task", data,
                                   "--method", "xent", "--seed", "0", "--n-examples", "100000"])
    assert out.exit_code == 0, out.output
    assert "one seed: no interval" in out.output and "(one value: no interval)" in out.output
    assert "asked for 100000 examples" in out.output
    result = json.loads(next((tmp_home / "runs").glob("w2s-*/result.json")).read_text())
    assert result["n_examples"] == 60 and result["summary"]["weak"]["lo"] is None
    assert result["majority_rate"] == 0.5
    flagged = [w for w in result["warnings"] if "majority-class rate" in w]
    weak, ceiling = result["summary"]["weak"]["value"], result["summary"]["ceiling"]["value"]
    assert len(flagged) == (weak <= 0.5) + (ceiling <= 0.5)  # flagged exactly when at or below
    assert (result["summary"]["pgr"] is None) >= bool(flagged)  # and then no PGR is printed or recorded
    assert bool(result["summary"].get("pgr_withheld")) == bool(flagged)
    assert ("not reported" in out.output) == bool(flagged)


def test_at_or_below_chance_is_flagged():
    from alignlab.generalization._run import _at_or_below_chance

    summary = {"weak": {"value": 0.55}, "ceiling": {"value": 0.9}}
    assert _at_or_below_chance(summary, 0.5) == []
    assert len(_at_or_below_chance(summary, 0.6)) == 1 and "weak accuracy 0.550" in _at_or_below_chance(summary, 0.6)[0]
    assert len(_at_or_below_chance(summary, 0.95)) == 2


def test_elicit_on_a_task_without_choices_says_so_before_loading(tmp_home):
    from alignlab.interpretability._elicit import ElicitConfig, run_elicit

    import alignlab.models as models
    from alignlab.data import TASKS, Template, register_task, task_from_file

    data = _task_file(tmp_home / "plain.jsonl", 40)  # a file task gets True/False choices; this one is told none
    if "plain-no-choices" not in TASKS:
        register_task("plain-no-choices", "a task whose template gives no choices", "tests")(
            lambda: task_from_file(data, template=Template()))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(models, "load_model", lambda *a, **k: pytest.fail("loaded a model"))
        with pytest.raises(AlignlabError, match="has no answer choices"):
            run_elicit(ElicitConfig(model="tiny-llama", task="plain-no-choices", methods=("zeroshot",), n_items=40))


@pytest.mark.parametrize(("args", "says"), [
    (["w2s", "--task", "sarcsm"], "unknown task 'sarcsm'"),
    (["w2s", "--method", "confilter"], "unknown transfer method 'confilter'"),
    (["w2s", "--seeds", "5"], "--seed 0,1,2,3,4"),
    (["w2s", "--seed", "a,b"], "expected seed values"),
    (["w2s", "--method", "bootstrap"], "set mid"),
    (["elicit", "--model", "mymodels/none", "--methods", "logistic"], "neither a local folder"),
    (["audit", "--organisms", "sleper-smollm2"], "unknown organism 'sleper-smollm2'"),
    (["audit", "--detectors", "probe"], "unknown detector 'probe'"),
])
def test_cli_validates_names_and_combinations_before_working(args, says, tmp_home):
    out = CliRunner().invoke(app, [*args, "--runs", str(tmp_home / "runs")])
    assert out.exit_code == 2, out.output
    assert "Traceback" not in out.output and len(out.output.strip().splitlines()) == 1, out.output
    if says:
        assert says in out.output
    assert not (tmp_home / "runs").exists() or not list((tmp_home / "runs").glob("*-*"))  # no run started


def test_version():
    out = CliRunner().invoke(app, ["--version"])
    assert out.exit_code == 0 and out.output.startswith("alignlab ")
