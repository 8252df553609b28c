"""Debate with a sparse judge (issue 7): judge, game rules, search, experiment, CLI.

Judges are trained once per module on the real 8x8 digits (a few seconds each); the
searches use small budgets, except where a test needs a generous one to converge.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from alignlab.oversight.debate import (
    ADAPTIVE,
    MCTS,
    DebateBatch,
    DebateConfig,
    JudgeConfig,
    OracleJudge,
    RandomPolicy,
    SparseJudge,
    load_split,
    minimax_values,
    observe,
    play,
    record_debate,
    run_debate,
    sample_pixels,
)
from alignlab.oversight.debate._judge import BoundJudge


@pytest.fixture(scope="module")
def split():
    return load_split()


@pytest.fixture(scope="module")
def judge6(split):
    return SparseJudge(k=6, epochs=120).fit(split.train_x, split.train_y)


@pytest.fixture(scope="module")
def judge2(split):
    return SparseJudge(k=2, epochs=60).fit(split.train_x, split.train_y)


def _batch(judge, split, n_images, k, first="honest", precommit=True, legal=None, seed=0):
    """Games on the first test images; with pre-commit, one random false claim each."""
    images, labels = split.test_x[:n_images], split.test_y[:n_images]
    rng = np.random.default_rng(seed)
    liar = (labels + rng.integers(1, 10, n_images)) % 10 if precommit else np.full(n_images, ADAPTIVE)
    legal = np.ones(64, dtype=bool) if legal is None else legal
    return DebateBatch(judge.bind(images), np.arange(n_images), labels, liar, k, first, legal,
                       np.where(images > 0, np.log(5.0), 0.0))


def test_judge_beats_chance_widely_at_k6(judge6, split):
    rng = np.random.default_rng(0)
    accs = [(judge6.predict(observe(split.test_x, sample_pixels(split.test_x, 6, rng)))
             == split.test_y).mean() for _ in range(5)]
    assert np.mean(accs) > 0.35  # chance is 0.10; a full-length run gets ~0.55


def test_bound_judge_matches_dense_forward(judge6, split):
    """The gather-and-sum fast path computes the same logits as the (mask, mask*image) MLP."""
    rng = np.random.default_rng(1)
    pix = sample_pixels(split.test_x[:50], 6, rng)
    pix[:5, 3:] = 64  # PAD: fewer pixels revealed
    fast = judge6.bind(split.test_x[:50]).logits(np.arange(50), pix)
    np.testing.assert_allclose(fast, judge6.decision_function(observe(split.test_x[:50], pix)),
                               rtol=1e-4, atol=1e-4)


def test_judge_is_a_clonable_estimator():
    from sklearn.base import clone

    j = clone(SparseJudge(k=3, hidden=(16,), epochs=2))
    assert j.get_params()["k"] == 3 and not hasattr(j, "coefs_")


@pytest.mark.parametrize("first", ["honest", "liar"])
@pytest.mark.parametrize("variant", ["puct", "uct"])
def test_mcts_finds_the_minimax_move_on_small_games(judge2, split, first, variant):
    rng = np.random.default_rng(7)
    legal = np.zeros(64, dtype=bool)
    legal[rng.choice(np.arange(8, 56), 10, replace=False)] = True  # a reduced pixel set
    batch = _batch(judge2, split, 24, k=2, first=first, legal=legal)
    start = np.zeros((24, 0), dtype=np.int64)
    exact = minimax_values(batch, start)  # (G, 64), mover's side
    visits, _ = MCTS(2000, variant, seed=3).search(batch, start)
    pick = visits.argmax(1)
    best = np.nanargmax(exact, 1)
    top2 = np.sort(np.nan_to_num(exact, nan=-1.0), 1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 0.01  # a unique best move, not a near-tie
    assert clear.sum() >= 5
    assert (pick[clear] == best[clear]).all()
    regret = np.nanmax(exact, 1) - exact[np.arange(24), pick]
    assert regret.max() < 0.01


def test_minimax_agrees_with_a_plain_loop(judge2, split):
    legal = np.zeros(64, dtype=bool)
    legal[[10, 19, 20, 27, 36, 44]] = True
    batch = _batch(judge2, split, 3, k=2, first="liar", legal=legal)
    values = minimax_values(batch, np.zeros((3, 0), dtype=np.int64))
    cand = np.flatnonzero(legal)
    for g in range(3):
        for a in cand:
            leaves = np.array([[a, b] for b in cand if b != a])
            honest = batch.honest_value(leaves, sel=np.full(len(leaves), g))
            # the liar moves first and the honest player replies with its best pixel
            assert values[g, a] == pytest.approx(1.0 - honest.max())


def test_a_liar_can_never_reveal_a_false_pixel_value(judge6, split):
    batch = _batch(judge6, split, 12, k=6, first="liar")
    t = play(batch, MCTS(40, seed=0), MCTS(40, seed=1))
    images = batch.judge.images[batch.rows]
    np.testing.assert_array_equal(t.values, np.take_along_axis(images, t.pixels, 1))
    # What the judge decided on is the true image at those pixels, whatever the debaters do.
    final = judge6.decision_function(observe(images, t.pixels))
    np.testing.assert_allclose(t.beliefs[:, -1], np.exp(final) / np.exp(final).sum(1, keepdims=True),
                               rtol=1e-4, atol=1e-5)

    class Cheat:  # re-reveals a pixel: the only move a debater has is naming a pixel
        def choose(self, batch, revealed):
            return revealed[:, 0] if revealed.shape[1] else np.zeros(batch.size, dtype=np.int64)

    with pytest.raises(ValueError, match="already revealed"):
        play(batch, RandomPolicy(0), Cheat())


@pytest.mark.parametrize("precommit", [True, False])
@pytest.mark.parametrize("first", ["honest", "liar"])
def test_with_an_oracle_judge_honest_always_wins(split, precommit, first):
    oracle = OracleJudge().fit(split.test_x, split.test_y)
    batch = _batch(oracle, split, 40, k=4, first=first, precommit=precommit)
    assert play(batch, RandomPolicy(0), MCTS(50, seed=1)).honest_wins.all()


def test_a_judge_that_always_prefers_a_wrong_label_makes_honest_lose(split):
    """The oracle test's mirror: the bookkeeping can report a loss."""
    images, labels = split.test_x[:20], split.test_y[:20]
    wrong = 10.0 * np.eye(10, dtype=np.float32)[(labels + 1) % 10]
    batch = DebateBatch(BoundJudge(images, lambda rows, pixels: wrong[rows]), np.arange(20),
                        labels, np.full(20, ADAPTIVE), 2, "honest", np.ones(64, bool),
                        np.zeros((20, 64)))
    t = play(batch, RandomPolicy(0), RandomPolicy(1))
    assert not t.honest_wins.any()
    np.testing.assert_array_equal(t.liar_claim, (labels + 1) % 10)


_TINY = DebateConfig(k=3, images=12, rollouts=40, batch_games=50, judge=JudgeConfig(epochs=20))


def test_results_are_deterministic_for_a_fixed_seed():
    a, b = run_debate(_TINY), run_debate(_TINY)
    for key in ("per_image", "examples", "debate", "judge_alone", "gain"):
        assert a[key] == b[key]
    assert a["timing"]["judge_evals"] == b["timing"]["judge_evals"] == 12 * 9 * 3 * 40 + 12 * 9 * 4


def test_precommit_counts_an_image_lost_if_any_liar_wins():
    r = run_debate(_TINY)
    assert r["n_games"] == 9 * r["n_images"]
    assert r["debate"]["value"] <= r["debate_games"]["value"]
    assert r["debate"]["n"] == 12 and 0 <= r["debate"]["lo"] <= r["debate"]["hi"] <= 1


def test_config_round_trips_through_yaml_and_forbids_unknown_fields():
    cfg = DebateConfig(k=4, first="liar", precommit=False, judge=JudgeConfig(hidden=(64, 32)))
    assert DebateConfig(**yaml.safe_load(yaml.safe_dump(cfg.model_dump(mode="json")))) == cfg
    with pytest.raises(ValueError):
        DebateConfig(kk=4)
    with pytest.raises(ValueError, match="minimax"):
        DebateConfig(k=6, search="minimax")


def test_record_and_cli_write_a_run_record(tmp_path):
    from alignlab.store._runs import load_run

    rec = record_debate(_TINY, root=str(tmp_path))
    assert load_run(rec.path).result["debate"] == rec.result["debate"]
    from typer.testing import CliRunner

    from alignlab.cli import app

    out = CliRunner().invoke(app, ["debate", "pixels", "--k", "2", "--images", "6", "--rollouts",
                                   "20", "--judge-epochs", "5", "--runs", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "judge alone" in out.output and "debate (honest wins)" in out.output
    assert len(list(tmp_path.glob("debate-*/result.json"))) == 2
