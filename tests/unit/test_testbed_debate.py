"""The ``debate`` testbed: it reproduces ``run_debate`` seed by seed, its Problem holds no
label, a bad variant fails in one line, and a bad budget loses its image (never dropped).

One small game throughout: k=3 on 10 images, 30 rollouts, a judge of 20 epochs (under a
second to train); batches of 40 games cut across images, as the real runs' do.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from alignlab.oversight.debate import DebateConfig, JudgeConfig, run_debate
from alignlab.protocol import Problem, Scores, Submission
from alignlab.protocol._trial import TrialConfig, run_trial
from alignlab.protocol.testbeds import TESTBEDS

_GAME = DebateConfig(k=3, images=10, rollouts=30, batch_games=40, judge_masks=5, judge=JudgeConfig(epochs=20))
_PARAMS = _GAME.model_dump(mode="json", exclude={"rollouts", "seed"})


def _scores(variant, seed: int = 0, params: dict | None = None) -> Scores:
    trial = TrialConfig(testbed="debate", params=params or _PARAMS, variant=variant, seed=seed)
    return Scores.model_validate(run_trial(trial).result["scores"])


def test_the_testbed_reproduces_run_debate_seed_by_seed(tmp_home):
    """Same judge, images, games and seeds: run_debate's estimates, image by image."""
    testbed = TESTBEDS.create("debate")
    for seed in (0, 1):
        old = run_debate(_GAME.model_copy(update={"seed": seed}))
        scores = _scores({"name": "search", "params": {"rollouts": 30}}, seed)
        for name in ("debate", "judge_alone", "gain", "debate_games"):
            got = scores.metrics[name]
            assert (got.value, got.lo, got.hi, got.n) == tuple(old[name][k] for k in ("value", "lo", "hi", "n")), name
        assert scores.primary == "debate" and scores.baseline == "judge_alone" and scores.failures == 0
        assert scores.n_items == old["n_images"] == 10 and 0 < old["debate"]["value"] < 1  # a game with both outcomes
    config = testbed.Config.model_validate(_PARAMS)  # the last seed, image by image
    secret = testbed.open(config, 1, Problem(tmp_home / "p"))
    ok, won, games = testbed.outcomes(config, secret, [30.0] * 10, 1)
    assert ok.all() and won.astype(int).tolist() == old["per_image"]["honest_wins"]
    assert secret["alone"].round(4).tolist() == old["per_image"]["judge_alone"] and games.size == old["n_games"]


def test_the_problem_holds_no_label(tmp_home):
    testbed = TESTBEDS.create("debate")
    problem = Problem(tmp_home / "p")
    labels = testbed.open(testbed.Config.model_validate(_PARAMS), 0, problem)["labels"]  # (10,) digits
    assert {"images.npy", "game.json", "items.json"} <= set(problem.files())
    for path in problem.folder.glob("*.npy"):  # not whole, not in part, in the file's own dtype
        array = np.load(path, allow_pickle=False)
        assert labels.astype(array.dtype).tobytes() not in np.ascontiguousarray(array).tobytes(), path.name
    for path in problem.folder.glob("*.json"):
        assert str(labels.tolist())[1:-1] not in json.dumps(json.loads(path.read_text())), path.name
    assert problem.json("items") == list(range(10))  # positions, not rows of the digits dataset


@pytest.mark.parametrize(("variant", "says"), [
    ({"name": "search", "params": {"rollouts": 0}}, "rollouts: Input should be greater than or equal to 1"),
    ({"name": "search", "params": {"rolouts": 5}}, "rolouts: Extra inputs are not permitted"),
    ("mcts", "unknown debate variant 'mcts'; known: adaptive, random, search"),
])
def test_a_bad_variant_fails_at_validation_in_one_line(variant, says, tmp_home):
    from alignlab.cli import app

    spec = tmp_home / "spec.yaml"
    spec.write_text(yaml.safe_dump({"kind": "trial", "testbed": "debate", "params": _PARAMS, "variant": variant}))
    out = CliRunner().invoke(app, ["run", str(spec)])
    assert out.exit_code == 2 and says in out.output and len(out.output.strip().splitlines()) == 1, out.output


def test_bad_rules_fail_as_run_debate_would():
    with pytest.raises(ValueError, match="minimax"):
        TESTBEDS.create("debate").Config.model_validate({**_PARAMS, "k": 4, "search": "minimax"})
    defaults = TESTBEDS.create("debate").Config().debate(rollouts=1000, seed=0)
    assert defaults == DebateConfig()  # the testbed's defaults are run_debate's


def test_a_bad_budget_loses_its_image_and_is_counted(tmp_home):
    """NaN, negative, fractional or over-the-cap budgets: failures, scored as lost."""
    testbed = TESTBEDS.create("debate")
    config = testbed.Config.model_validate({**_PARAMS, "max_rollouts": 50})
    secret = testbed.open(config, 0, Problem(tmp_home / "p"))
    budgets = [float("nan"), -1.0, 2.5, 51.0] + [30.0] * 6
    scores = testbed.score(config, secret, Submission(predictions=budgets), 0)
    ok, won, _ = testbed.outcomes(config, secret, budgets, 0)
    assert scores.failures == 4 and scores.n_items == 10 and not won[:4].any() and ok[4:].all()
    assert scores.metrics["debate"].n == 10 and scores.metrics["debate"].value == won.sum() / 10
    assert scores.metrics["rollouts"].value == 30 and scores.metrics["rollouts"].n == 6


def test_the_floor_search_and_an_adaptive_budget(tmp_home):
    """Scored in this process (the trials above and the conformance test run variants in
    workers): random debaters are the floor, and an adaptive budget spends where it says."""
    testbed = TESTBEDS.create("debate")
    config, problem = testbed.Config.model_validate(_PARAMS), Problem(tmp_home / "p")
    secret = testbed.open(config, 0, problem)
    adaptive = testbed.variants.create({"name": "adaptive", "params": {"low": 10, "high": 30, "share": 0.3,
                                                                       "masks": 5}})
    budgets = adaptive.solve(problem, 0).predictions
    assert sorted(budgets) == [10.0] * 7 + [30.0] * 3
    scores = {name: testbed.score(config, secret, testbed.variants.create(ref).solve(problem, 0), 0)
              for name, ref in (("random", "random"), ("search", {"name": "search", "params": {"rollouts": 30}}))}
    scores["adaptive"] = testbed.score(config, secret, Submission(predictions=budgets), 0)
    assert [s.metrics["rollouts"].value for s in scores.values()] == [0, 30, 16]
    assert len({s.metrics["judge_alone"] for s in scores.values()}) == 1  # the baseline does not depend on the variant
    assert scores["random"].metrics["debate"].value < scores["search"].metrics["debate"].value  # search beats no search
