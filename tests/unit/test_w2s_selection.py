"""The w2s testbed selects nothing on validation or test labels, keeps groups whole, and
reports PGR only where validation shows a gap (issue 15)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alignlab.generalization._evaluator import W2SSplit
from alignlab.generalization._select import choose, group_folds
from alignlab.protocol import Problem, Submission
from alignlab.protocol.testbeds import TESTBEDS


def _task_file(path, labels):
    """Paired statements (one group per pair): the pair's rows share a group."""
    rows = [{"text": f"claim {i // 2} variant {i % 2} {'ab' * (i % 5)}", "label": int(y), "group": f"g{i // 2}"}
            for i, y in enumerate(labels)]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return str(path)


def test_groups_never_straddle_the_split():
    groups = [f"g{i // 2}" for i in range(200)]
    split = W2SSplit.draw(200, seed=3, test_fraction=0.25, groups=groups, val_fraction=0.15)
    owner = {}
    for part, rows in (("a", split.a), ("b", split.b), ("val", split.val), ("test", split.test)):
        for r in rows:
            assert owner.setdefault(groups[r], part) == part, groups[r]
    assert sorted(np.concatenate([split.a, split.b, split.val, split.test]).tolist()) == list(range(200))
    ungrouped = W2SSplit.draw(200, seed=3, test_fraction=0.25)
    perm = np.random.default_rng(3).permutation(200)  # the split as it was before groups existed
    assert ungrouped.test.tolist() == sorted(perm[:50].tolist()) and ungrouped.a.tolist() == sorted(perm[50:125].tolist())


def test_choose_picks_the_informative_features_and_keeps_folds_grouped():
    rng = np.random.default_rng(0)
    n = 300
    signal = rng.normal(size=(n, 8)).astype(np.float32)
    y = (signal[:, 0] > 0).astype(float)
    bank = {"L0/mean": rng.normal(size=(n, 8)).astype(np.float32), "L1/mean": signal}
    groups = [f"g{i // 3}" for i in range(n)]
    choice = choose(bank, np.arange(n), y, groups, seed=0)
    assert choice.key == "L1/mean" and choice.cv > 0.9
    assert max(v for k, v in choice.table.items() if k.startswith("L0")) < 0.7
    for fold in group_folds(groups, 3, seed=0):
        inside = {groups[i] for i in fold}
        assert all(groups[j] not in inside for j in set(range(n)) - set(fold.tolist()))


def test_shuffling_test_and_val_labels_changes_no_choice_and_no_problem_file(tmp_home, one_thread):
    """Eligibility may use validation labels; no choice (features, C, weak labels, the
    student's Problem) may depend on validation or test labels."""
    from alignlab.protocol.testbeds.w2s import W2STestbedConfig

    labels = np.tile([1, 0], 60)
    testbed = TESTBEDS.create("w2s")
    base = {"weak": "tiny-bert", "strong": "tiny-llama", "n_examples": 120}
    first = W2STestbedConfig(**base, task=_task_file(tmp_home / "a.jsonl", labels))
    groups = [f"g{i // 2}" for i in range(len(labels))]
    split = W2SSplit.draw(len(labels), 0, first.test_fraction, groups=groups, val_fraction=first.val_fraction)
    shuffled = labels.copy()
    for rows in (split.test, split.val):
        shuffled[rows] = 1 - shuffled[rows]  # every val and test label flipped
    assert (shuffled[split.test] != labels[split.test]).all()
    second = W2STestbedConfig(**base, task=_task_file(tmp_home / "b.jsonl", shuffled))
    secrets, files = [], []
    for i, config in enumerate((first, second)):
        problem = Problem(tmp_home / f"p{i}")
        secrets.append(testbed.open(config, 0, problem))
        files.append({name: (problem.folder / name).read_bytes() for name in problem.files()})
    assert secrets[0]["choices"] == secrets[1]["choices"] and set(secrets[0]["choices"]) == {"weak", "ceiling", "student"}
    assert files[0] == files[1]
    assert (secrets[0]["y"] != secrets[1]["y"]).all()  # the labels did change where they are secret


@pytest.mark.parametrize("gap", [True, False])
def test_pgr_is_reported_only_where_validation_shows_a_gap(gap):
    from alignlab.protocol.testbeds.w2s import W2STestbedConfig

    testbed = TESTBEDS.create("w2s")
    n = 200
    y = np.tile([0, 1], n // 2)
    rng = np.random.default_rng(0)
    flip = lambda rate: np.where(rng.random(n) < rate, 1 - y, y).astype(bool)  # noqa: E731
    secret = {"y": y, "y_val": y, "majority": 1, "choices": {}, "groups": [], "groups_val": [],
              "weak": flip(0.4), "ceiling": flip(0.1), "weak_val": flip(0.4 if gap else 0.1),
              "ceiling_val": flip(0.1)}
    scores = testbed.score(W2STestbedConfig(), secret, Submission(predictions=flip(0.25).astype(float).tolist()), 0)
    assert scores.metrics["eligible"].value == float(gap)
    assert (scores.metrics["pgr"].value is not None) == gap
    if gap:
        assert scores.metrics["gap_val_weak"].lo > 0.15 and 0.3 < scores.metrics["pgr"].value < 0.9


def test_hierarchical_bootstrap_counts_undefined_replicates_and_widens_with_seed_spread():
    from alignlab.generalization._pgr import seed_mean_pgr
    from alignlab.stats import hierarchical_bootstrap

    rng = np.random.default_rng(0)

    def unit(w, s, c, n=200):
        return {"weak": rng.random(n) < w, "student": rng.random(n) < s, "ceiling": rng.random(n) < c}

    steady = [unit(0.6, 0.7, 0.8) for _ in range(5)]
    est, undefined = hierarchical_bootstrap(lambda us: seed_mean_pgr(us), steady, n_boot=400)
    assert 0.3 < est.value < 0.7 and est.lo < est.value < est.hi and undefined == 0
    # seeds that disagree: the same mean, a wider interval than rows alone would give
    spread = [unit(0.6, s, 0.8) for s in (0.6, 0.8, 0.6, 0.8, 0.7)]
    wide, _ = hierarchical_bootstrap(lambda us: seed_mean_pgr(us), spread, n_boot=400)
    assert wide.hi - wide.lo > est.hi - est.lo
    # no gap: most replicates have none, and they are counted, not dropped
    flat = [unit(0.7, 0.7, 0.7) for _ in range(5)]
    _, undefined = hierarchical_bootstrap(lambda us: seed_mean_pgr(us, min_gap=0.02), flat, n_boot=400)
    assert undefined > 200
    # groups: rows of one group are drawn together (two identical rows per group: still a valid draw)
    paired = [{k: np.repeat(v[:100], 2) for k, v in unit(0.6, 0.7, 0.8).items()} for _ in range(3)]
    groups = [[str(i // 2) for i in range(200)]] * 3
    grouped, _ = hierarchical_bootstrap(lambda us: seed_mean_pgr(us), paired, groups, n_boot=400)
    naive, _ = hierarchical_bootstrap(lambda us: seed_mean_pgr(us), paired, None, n_boot=400)
    assert grouped.hi - grouped.lo > naive.hi - naive.lo  # pairs are not independent rows


def test_student_features_fixed_in_advance_are_the_middle_block(tmp_home, one_thread):
    from alignlab.generalization._select import candidate_layers
    from alignlab.protocol.testbeds.w2s import W2STestbedConfig

    task = _task_file(tmp_home / "t.jsonl", np.tile([1, 0], 60))
    testbed = TESTBEDS.create("w2s")
    config = W2STestbedConfig(weak="tiny-bert", strong="tiny-llama", n_examples=120, task=task,
                              student_features="middle")
    secret = testbed.open(config, 0, Problem(tmp_home / "p"))
    assert secret["choices"]["student"]["features"] == f"L{candidate_layers(3, [0.5])[0]}/mean"
    assert secret["choices"]["ceiling"]["features"] in {f"L{b}/{p}" for b in candidate_layers(3) for p in ("mean", "last")}


def test_search_and_heldout_cells_are_valid_configs_on_disjoint_tasks():
    testbed = TESTBEDS.create("w2s")
    for cells in testbed.cells.values():
        for cell in cells:
            testbed.Config.model_validate(cell)
    search, heldout = ({c["task"] for c in testbed.cells[k]} for k in ("search", "heldout"))
    assert search and heldout and not search & heldout
