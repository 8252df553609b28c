"""The ``easy_to_hard`` testbed on tiny models: graded tasks carry the difficulty their
construction defines; the split reads no label; the Problem holds no hard label; every
choice (split, features, C) is unchanged when val and test labels are shuffled — and
changes when the train labels are (the control: the check can fail); a trial runs and
its Scores validate; the renderer pools seeds from the records."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from alignlab.data import Task, load_task
from alignlab.protocol import Problem, Scores
from alignlab.protocol._trial import TrialConfig, run_trial
from alignlab.protocol.testbeds import TESTBEDS
from alignlab.protocol.testbeds.easy_to_hard import (
    ITEM_PARTS,
    ClusterCounts,
    EasyToHardConfig,
    difficulty,
    sgr,
    split_easy_hard,
)

TINY = TESTBEDS.create("easy_to_hard").tiny_config


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Many tiny scikit-learn fits (the CV choices): a second BLAS thread only spins."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


# --- graded tasks ------------------------------------------------------------------------------

def test_arithmetic_statements_are_right_or_near_misses_with_digit_difficulty():
    task = load_task("arithmetic_digits")
    assert len(task) == 1000 and task.labels.mean() == 0.5
    first = task.examples[0]
    assert (first.text, first.label, first.meta["difficulty"]) == ("6 + 6 = 12.", 1, 1)
    assert (task.examples[1].text, task.examples[1].label) == ("6 + 6 = 22.", 0)  # off by 10, same group
    levels = {}
    for e in task.examples:
        a, op, b, shown = re.fullmatch(r"(\d+) ([+-]) (\d+) = (\d+)\.", e.text).groups()
        truth = int(a) + int(b) if op == "+" else int(a) - int(b)
        assert (int(shown) == truth) == bool(e.label) and abs(int(shown) - truth) in (0, 1, 2, 10)
        assert difficulty(e) == e.meta["difficulty"] == max(len(a), len(b)) and e.group == f"{a}{op}{b}"
        levels.setdefault(e.group, []).append(e.label)
    assert all(sorted(v) == [0, 1] for v in levels.values())  # one true, one false per problem


@pytest.mark.bigbench
def test_object_puzzles_have_one_true_one_false_option_and_object_count_difficulty():
    task = load_task("logical_deduction_objects")
    words = {"three": 3, "five": 5, "seven": 7}
    labels: dict[str, list[int]] = {}
    for e in task.examples:
        opening, listing = e.text.split(".")[0].split(":")  # "On a shelf, there are three books: a, b, and c"
        said = re.search(r"\b(three|five|seven)\b", opening).group(1)
        assert e.meta["difficulty"] == words[said] == len(re.split(r", and |, | and ", listing.strip()))
        labels.setdefault(e.group, []).append(e.label)
    assert all(sorted(v) == [0, 1] for v in labels.values()) and len(labels) == 360
    assert sorted({e.meta["difficulty"] for e in task.examples}) == [3, 5, 7]


def test_capitals_difficulty_is_minus_log_population():
    task = load_task("capitals")
    by_country = {e.meta["country"]: e for e in task.examples}
    assert difficulty(by_country["India"]) == pytest.approx(-np.log(by_country["India"].meta["popularity"]))
    assert difficulty(by_country["India"]) < difficulty(by_country["Iceland"]) < difficulty(by_country["Vatican"])


# --- the split -----------------------------------------------------------------------------------

def test_the_split_keeps_groups_parts_difficulty_and_equal_train_sizes():
    task = load_task("arithmetic_digits")
    split = split_easy_hard(task, EasyToHardConfig(), seed=3)
    groups = np.array(task.group_keys())
    seen = set()
    for part, rows in split.parts.items():
        mine = set(groups[rows])
        assert not mine & seen, part  # no group in two parts
        seen |= mine
        levels = {task.examples[i].meta["difficulty"] for i in rows}
        assert levels <= ({1, 2} if part.startswith("easy") else {3, 4}), (part, levels)
    assert (split.easy_max, split.hard_min) == (2.0, 3.0)
    assert len(split["easy_train"]) == len(split["hard_train"]) == 250
    smaller = split_easy_hard(task, EasyToHardConfig(n_train=40), seed=3)
    assert len(smaller["easy_train"]) == len(smaller["hard_train"]) == 40
    assert set(smaller["hard_test"]) == set(split["hard_test"])  # the cut touches train only
    assert not np.array_equal(split_easy_hard(task, EasyToHardConfig(), seed=4)["hard_test"], split["hard_test"])


# --- statistics ------------------------------------------------------------------------------------

def test_balanced_accuracy_matches_sklearn_and_sgr_is_0_at_zeroshot_1_at_ceiling():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(0)
    y = (rng.random(90) < 0.3).astype(int)  # imbalanced
    pred = rng.integers(0, 2, 90)
    counts = ClusterCounts.of(y, rng.integers(0, 30, 90), {"r": pred == y})
    assert float(counts.balanced("r")) == pytest.approx(balanced_accuracy_score(y, pred))
    assert counts.balanced("r", counts.draws(7, rng)).shape == (7,)
    assert sgr(0.6, 0.6, 0.8, 0.02) == 0 and sgr(0.8, 0.6, 0.8, 0.02) == 1
    assert np.isnan(sgr(0.9, 0.6, 0.61, 0.02)) and np.isnan(sgr(0.9, 0.6, 0.5, 0.02))  # no gap: undefined


# --- the Problem and the sealed choices --------------------------------------------------------------

def _prepared(task: Task, tmp_path, name: str, seed: int = 0):
    testbed = TESTBEDS.create("easy_to_hard")
    problem = Problem(tmp_path / name)
    secret = testbed.prepare(task, EasyToHardConfig(**TINY), seed, problem)
    return problem, secret


def _with_labels(task: Task, rows: np.ndarray, seed: int) -> Task:
    """The task with the labels of ``rows`` permuted among themselves (changed somewhere)."""
    labels = task.labels.copy()
    rng = np.random.default_rng(seed)
    while np.array_equal(labels[rows], task.labels[rows]):
        labels[rows] = rng.permutation(task.labels[rows])
    examples = tuple(e.model_copy(update={"label": int(v)}) for e, v in zip(task.examples, labels))
    return Task(task.name, examples, task.template, task.kind, task.description, task.source)


def test_the_problem_holds_no_hard_label_nor_text(tmp_home, one_thread):
    task, _ = load_task("arithmetic_digits").draw(TINY["n_items"], seed=0)
    problem, secret = _prepared(task, tmp_home, "p")
    assert problem.files() == ["X_items.npy", "X_train.npy", "choice.json", "items.json", "y_train.npy"]
    split = split_easy_hard(task, EasyToHardConfig(**TINY), 0)
    y_train = problem.array("y_train")
    assert np.array_equal(y_train, task.labels[split["easy_train"]])  # the only labels: easy-train's
    assert len(problem.array("X_train")) == len(y_train) and set(problem.json("choice")) == {"features", "C",
                                                                                              "cv_accuracy"}
    assert [i["part"] for i in problem.json("items")] == [p for p in ITEM_PARTS for _ in split[p]]
    hard = secret["y"][np.char.startswith(secret["part"].astype(str), "hard")]
    for path in problem.folder.glob("*.npy"):  # the hard labels, in any integer dtype, are in no file
        data = np.ascontiguousarray(np.load(path))
        for dtype in (np.int64, np.int32, np.int8, np.uint8, np.float32, np.float64):
            assert hard.astype(dtype).tobytes() not in data.tobytes(), path.name
    text = (problem.folder / "items.json").read_text() + (problem.folder / "choice.json").read_text()
    assert "=" not in text and "label" not in text  # no equation, no label field


def test_shuffling_val_and_test_labels_changes_no_choice_but_shuffling_train_labels_does(tmp_home, one_thread):
    task, _ = load_task("arithmetic_digits").draw(TINY["n_items"], seed=0)
    split = split_easy_hard(task, EasyToHardConfig(**TINY), 0)
    problem, secret = _prepared(task, tmp_home, "original")
    held = np.concatenate([split[p] for p in ITEM_PARTS])
    shuffled_problem, shuffled = _prepared(_with_labels(task, held, 1), tmp_home, "shuffled")
    assert not np.array_equal(secret["y"], shuffled["y"])  # the labels did change
    for name in problem.files():  # the Problem, byte for byte
        assert (problem.folder / name).read_bytes() == (shuffled_problem.folder / name).read_bytes(), name
    assert secret["info"]["choices"] == shuffled["info"]["choices"]  # features, C and every CV score
    assert secret["info"]["sizes"] == shuffled["info"]["sizes"]
    for role in ("easy_reference", "ceiling", "zeroshot", "zeroshot_plain"):  # the same predictions
        assert np.array_equal(secret["correct"][role] == (secret["y"] == 1),
                              shuffled["correct"][role] == (shuffled["y"] == 1)), role
    # the control: train labels do reach the choices (so the check above could fail)
    _, retrained = _prepared(_with_labels(task, np.concatenate([split["easy_train"], split["hard_train"]]), 2),
                             tmp_home, "control")
    for role in ("easy_reference", "ceiling"):
        assert retrained["info"]["choices"][role]["cv_table"] != secret["info"]["choices"][role]["cv_table"], role


# --- a trial, and the renderer ---------------------------------------------------------------------

def test_a_trial_runs_scores_validate_and_the_baseline_is_the_trusted_easy_head(tmp_home, one_thread):
    record = run_trial(TrialConfig(testbed="easy_to_hard", params=TINY, variant="easy_head", seed=0))
    scores = Scores.model_validate(record.result["scores"])
    assert (scores.primary, scores.baseline, scores.failures) == ("easy_trained", "zeroshot", 0)
    revealed = record.result["revealed"]
    n = scores.n_items
    assert len(revealed["y"]) == len(revealed["part"]) == len(revealed["group"]) == n
    assert set(revealed["correct"]) == {"easy_trained", "easy_reference", "ceiling", "zeroshot",
                                        "zeroshot_calibrated", "zeroshot_plain"}
    assert revealed["correct"]["easy_trained"] == revealed["correct"]["easy_reference"]  # same recipe, same seed
    test = np.array(revealed["part"]) == 0
    hits = np.array([c == "1" for c in revealed["correct"]["ceiling"]])[test]
    y = np.array([c == "1" for c in revealed["y"]])[test]
    assert scores.metrics["ceiling"].value == pytest.approx(0.5 * (hits[y].mean() + hits[~y].mean()))
    assert scores.metrics["ceiling"].n == int(test.sum())
    m = scores.metrics
    expected = sgr(m["easy_trained"].value, m["zeroshot"].value, m["ceiling"].value, 0.02)
    assert (m["sgr"].value is None) == bool(np.isnan(expected))
    problem = Problem(record.path / "problem")
    for name in ("easy_self_train", "easy_mass_mean"):  # the other variants answer every item, differently
        answer = TESTBEDS.create("easy_to_hard").variants.create(name).solve(problem, 0)
        p = np.asarray(answer.predictions)
        assert len(p) == n and np.isfinite(p).all() and ((p > 0) & (p < 1)).all(), name


def test_the_renderer_pools_seeds_and_shows_missing_cells(tmp_home, one_thread):
    import yaml

    from alignlab.results import RENDERERS

    spec = {"kind": "trial", "testbed": "easy_to_hard", "params": TINY, "variant": "easy_head",
            "sweep": {"seed": [0, 1], "variant": ["easy_head"]}}
    campaign = tmp_home / "campaign.yaml"
    missing = {**spec, "sweep": {"seed": [0], "variant": ["easy_mass_mean"]}}
    campaign.write_text(yaml.safe_dump_all([spec, missing]))
    for seed in (0, 1):
        run_trial(TrialConfig(testbed="easy_to_hard", params=TINY, variant="easy_head", seed=seed))
    renderer = RENDERERS.create({"name": "easy_to_hard", "params": {"campaign": str(campaign)}})
    path = renderer.render(tmp_home / "runs", tmp_home / "docs")
    text = path.read_text()
    assert path.name == "easy_to_hard.md" and text.startswith("# ")
    cell = r"\| arithmetic_digits \| tiny-llama [^|]*\| "
    assert re.search(cell + r"easy_head \| 2 \| \d", text)
    assert re.search(cell + r"easy_mass_mean \| missing: no record \|", text)
    assert "1 of the campaign's 3 runs have no record" in text
    assert renderer.render(tmp_home / "runs", tmp_home / "docs").read_text() == text  # deterministic
    records = sorted((tmp_home / "runs").glob("trial-*/result.json"))
    seeds = [json.loads(p.read_text())["scores"]["metrics"]["ceiling"]["value"] for p in records]
    assert len(seeds) == 2
