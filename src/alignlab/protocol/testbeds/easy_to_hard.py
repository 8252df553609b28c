"""``easy_to_hard``: learn from easy ground truth, be tested on hard items (Hase et al.
2024, "The Unreasonable Effectiveness of Easy Training Data for Hard Tasks").

Difficulty is each example's ``meta["difficulty"]`` (digits, objects: ``data._graded``)
or −log ``meta["popularity"]`` (the fact tasks: rarer is harder) — defined without any
model's labels. Groups at or below the ``easy_quantile`` of the groups' difficulties are
easy, those at or above ``hard_quantile`` hard, the middle is unused. Each pool is split
by group (a problem's true and false statement stay together) into train, val and test,
and the two train sets are cut to the same number of items.

``open`` does the trusted part, for one seed:

- the variant's features: layer, pooling and C chosen by group k-fold CV on **easy-train
  labels only** (``generalization._select.choose``), so the Problem holds one feature
  matrix, not the model's whole bank;
- the ceiling: a head trained on hard-train ground truth, its features chosen the same
  way on hard-train labels;
- zero-shot: the model's own answer by the template's choices (``ZeroShot``), by default
  calibrated to the median log-odds of the same difficulty's train rows (inputs only, no
  labels) — a stronger floor than the raw answer, which the record also keeps;
- an easy reference head (the ``easy_head`` recipe, trusted side) for the validation gap.

The Problem: the chosen features and labels of easy-train (``X_train``, ``y_train``), the
same features of every item a variant answers (``X_items``: hard test, hard val, easy test,
easy val; ``items.json`` names each one's part) and the choice (``choice.json``). No hard
label, no text, no task row index. Nothing anywhere is chosen on a validation or test label.

Scores, on hard test, as balanced accuracy with a cluster bootstrap over groups: the
variant (``easy_trained``, primary), zero-shot (baseline), the ceiling, the majority class,
and the **supervision gap recovered** SGR = (easy_trained − zero-shot) / (ceiling −
zero-shot) with a paired bootstrap (undefined — None — where ceiling − zero-shot ≤
``min_gap``). On validation: the difficulty gap (easy reference on easy-val − ceiling on
hard-val: is hard really harder, each trained on its own kind?), the same for zero-shot,
and the supervision gap (ceiling − zero-shot on hard-val). Whether a cell is eligible for
an SGR at all is decided on these, pooled over seeds (one seed's validation set is small),
by the results renderer. ``reveal`` puts per-item correctness of every role, labels and
groups on val and test in the record, for pooling seeds (``results/easy_to_hard``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

import alignlab.data._graded  # noqa: F401  (registers the graded tasks the config names)
from alignlab.names import ModelRef, TaskName
from alignlab.protocol import Metric, Problem, Registry, Scores, Submission
from alignlab.protocol.testbeds import TESTBEDS

VARIANTS: Registry = Registry("easy_to_hard variant")
ITEM_PARTS = ("hard_test", "hard_val", "easy_test", "easy_val")
"""The parts a variant answers, in the Problem's item order."""
PARTS = ("easy_train", "hard_train") + ITEM_PARTS


class EasyToHardConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: ModelRef = "smollm2-135m"
    task: TaskName = "arithmetic_digits"
    """A task whose examples carry ``meta["difficulty"]`` or ``meta["popularity"]``."""
    n_items: int = Field(1500, ge=12)
    """Examples drawn from the task (whole groups; a fixed draw, seed 0, for every seed)."""
    easy_quantile: float = Field(1 / 3, gt=0, lt=1)
    """Groups with difficulty at or below this quantile of the groups' difficulties are easy."""
    hard_quantile: float = Field(2 / 3, gt=0, lt=1)
    """Groups at or above this quantile (and above the easy threshold) are hard."""
    n_train: int | None = Field(None, ge=4)
    """Items in each of the easy and hard train sets (whole groups); None: all the smaller allows."""
    val_fraction: float = Field(0.2, gt=0, lt=1)
    test_fraction: float = Field(0.3, gt=0, lt=1)
    depths: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    """Relative depths of the candidate layers (each mean- and last-token pooled) that
    cross-validation chooses among."""
    zeroshot: Literal["calibrated", "plain"] = "calibrated"
    """``calibrated``: threshold at the median log-odds of the same pool's train rows (label-free);
    ``plain``: the model's raw answer (log p(yes) > log p(no))."""
    min_gap: float = Field(0.02, ge=0)
    """SGR is undefined (None, counted) where ceiling − zero-shot ≤ this."""
    n_boot: int = Field(1000, ge=10)

    @model_validator(mode="after")
    def _consistent(self) -> EasyToHardConfig:
        if not self.easy_quantile < self.hard_quantile:
            raise ValueError("easy_quantile must be below hard_quantile")
        if not self.depths or not all(0 <= d <= 1 for d in self.depths):
            raise ValueError("depths must be one or more relative depths in [0, 1]")
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError("val_fraction + test_fraction must leave rows to train on")
        return self


# ---------------------------------------------------------------- difficulty and the split
def difficulty(example) -> float:
    """``meta["difficulty"]``, else −log ``meta["popularity"]`` (a population of 0 counts as 1)."""
    from alignlab.errors import DataError

    meta = example.meta
    if "difficulty" in meta:
        return float(meta["difficulty"])
    if "popularity" in meta:
        return -math.log(max(float(meta["popularity"]), 1.0))
    raise DataError("easy_to_hard needs each example's meta 'difficulty' (or 'popularity'); "
                    f"this one has {sorted(meta) or 'no meta'}")


@dataclass(frozen=True)
class EasyHardSplit:
    """Row indices of every part, and the difficulty thresholds that defined the pools."""

    parts: dict[str, np.ndarray]
    easy_max: float
    hard_min: float

    def __getitem__(self, part: str) -> np.ndarray:
        return self.parts[part]


def split_easy_hard(task, config: EasyToHardConfig, seed: int) -> EasyHardSplit:
    """Easy and hard pools from the groups' difficulties alone, each split by group into
    train/val/test (seeded), the two train sets cut to the same size. No label is read."""
    from alignlab.errors import DataError

    keys = task.group_keys()
    by_group: dict[str, list[float]] = {}
    for key, example in zip(keys, task.examples):
        by_group.setdefault(key, []).append(difficulty(example))
    groups = list(by_group)
    level = np.array([np.mean(by_group[g]) for g in groups])
    easy_max, hard_min = (float(q) for q in np.quantile(level, [config.easy_quantile, config.hard_quantile]))
    if not easy_max < hard_min:
        raise DataError(f"task {task.name!r}: difficulty quantiles {config.easy_quantile:g} and "
                        f"{config.hard_quantile:g} are both {easy_max:g}; too few distinct levels to part easy from hard")
    size = {g: len(v) for g, v in by_group.items()}
    rng = np.random.default_rng([seed, 15])
    chosen: dict[str, list[str]] = {}
    for pool, members in (("easy", [g for g, d in zip(groups, level) if d <= easy_max]),
                          ("hard", [g for g, d in zip(groups, level) if d >= hard_min])):
        order = [members[i] for i in rng.permutation(len(members))]
        n_test, n_val = (int(round(f * len(order))) for f in (config.test_fraction, config.val_fraction))
        if min(n_test, n_val, len(order) - n_test - n_val) < 2:
            raise DataError(f"task {task.name!r}: the {pool} pool has {len(order)} groups, too few for "
                            "train, val and test of at least 2 each; draw more items")
        chosen[f"{pool}_test"], chosen[f"{pool}_val"] = order[:n_test], order[n_test:n_test + n_val]
        chosen[f"{pool}_train"] = order[n_test + n_val:]
    target = min(sum(size[g] for g in chosen[p]) for p in ("easy_train", "hard_train"))
    target = min(target, config.n_train or target)
    for part in ("easy_train", "hard_train"):  # whole groups, in the seeded order, up to the same count
        kept, count = [], 0
        for g in chosen[part]:
            if count + size[g] <= target:
                kept.append(g)
                count += size[g]
        chosen[part] = kept
    owner = {g: part for part, gs in chosen.items() for g in gs}
    parts = {part: np.array([i for i, k in enumerate(keys) if owner.get(k) == part], dtype=np.int64)
             for part in PARTS}
    return EasyHardSplit(parts, easy_max, hard_min)


# ---------------------------------------------------------------- balanced accuracy by group
@dataclass(frozen=True)
class ClusterCounts:
    """One set of items as per-group counts: positives, negatives and each role's hits on
    each. Balanced accuracy (the mean of the two classes' recalls; plain accuracy where a
    class is absent) and its cluster bootstrap come from these."""

    n1: np.ndarray
    n0: np.ndarray
    hits: dict[str, tuple[np.ndarray, np.ndarray]]

    @classmethod
    def of(cls, y: np.ndarray, groups: np.ndarray, correct: dict[str, np.ndarray]) -> ClusterCounts:
        _, cluster = np.unique(np.asarray(groups), return_inverse=True)
        g = int(cluster.max()) + 1 if len(cluster) else 0
        pos = np.asarray(y) == 1

        def count(mask):
            return np.bincount(cluster, weights=mask.astype(float), minlength=g)

        return cls(count(pos), count(~pos),
                   {r: (count(np.asarray(c, bool) & pos), count(np.asarray(c, bool) & ~pos)) for r, c in correct.items()})

    @property
    def n_groups(self) -> int:
        return len(self.n1)

    @property
    def n_items(self) -> int:
        return int(self.n1.sum() + self.n0.sum())

    def draws(self, n_boot: int, rng: np.random.Generator) -> np.ndarray:
        """(n_boot, n_groups) group indices, drawn with replacement."""
        return rng.integers(0, self.n_groups, size=(n_boot, self.n_groups))

    def balanced(self, role: str, draws: np.ndarray | None = None) -> np.ndarray:
        """Balanced accuracy of ``role``: a scalar array, or one per row of ``draws``."""
        def total(a):
            return a.sum() if draws is None else a[draws].sum(-1)

        n1, n0 = total(self.n1), total(self.n0)
        h1, h0 = (total(h) for h in self.hits[role])
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((n1 > 0) & (n0 > 0), 0.5 * (h1 / n1 + h0 / n0), (h1 + h0) / (n1 + n0))


def _metric(value: float | None, boots: np.ndarray, n: int, method: str) -> Metric:
    boots = boots[np.isfinite(boots)]
    ok = value is not None and np.isfinite(value) and boots.size > 0
    lo, hi = np.quantile(boots, [0.025, 0.975]) if ok else (None, None)
    return Metric(value=float(value) if ok else None, lo=None if lo is None else float(lo),
                  hi=None if hi is None else float(hi), n=n, method=method)


def sgr(easy: np.ndarray, zeroshot: np.ndarray, ceiling: np.ndarray, min_gap: float) -> np.ndarray:
    """Supervision gap recovered, (easy − zero-shot) / (ceiling − zero-shot); NaN where the
    ceiling beats zero-shot by ``min_gap`` or less (undefined, not huge)."""
    gap = ceiling - zeroshot
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap > min_gap, (easy - zeroshot) / gap, np.nan)


# ---------------------------------------------------------------- the testbed
@TESTBEDS.register("easy_to_hard", description="easy-to-hard: learn from easy ground truth, tested on hard items")
class EasyToHard:
    Config, variants, baseline_variant = EasyToHardConfig, VARIANTS, "easy_head"
    tiny_config = {"model": "tiny-llama", "task": "arithmetic_digits", "n_items": 120, "n_boot": 50, "depths": [1.0]}

    def open(self, config: EasyToHardConfig, seed: int, problem: Problem) -> dict[str, Any]:
        from alignlab.data import load_task

        task, _ = load_task(config.task).draw(config.n_items, seed=0)
        return self.prepare(task, config, seed, problem)

    def prepare(self, task, config: EasyToHardConfig, seed: int, problem: Problem) -> dict[str, Any]:
        """``open`` on a given task (what the test that shuffles hard-test labels calls)."""
        from alignlab.generalization._select import choose, feature_bank, fit_choice

        split = split_easy_hard(task, config, seed)
        bank = feature_bank(config.model, task, fractions=config.depths)
        y, groups = task.labels, np.array(task.group_keys())
        choices, heads = {}, {}
        for role, part in (("easy_reference", "easy_train"), ("ceiling", "hard_train")):
            rows = split[part]
            choices[role] = choose(bank, rows, y[rows], list(groups[rows]), seed)
            heads[role] = fit_choice(bank, choices[role], rows, y[rows].astype(np.float64), seed)
        items = np.concatenate([split[p] for p in ITEM_PARTS])
        X = bank[choices["easy_reference"].key]
        problem.write_array("X_train", X[split["easy_train"]])  # (n_train, d)
        problem.write_array("y_train", y[split["easy_train"]])
        problem.write_array("X_items", X[items])  # (n_items, d)
        problem.write_json("items", [{"part": p} for p in ITEM_PARTS for _ in split[p]])
        problem.write_json("choice", choices["easy_reference"].as_dict())

        zeroshot, info = self._zeroshot(task, config, split, items)
        correct = {role: (heads[role].predict_proba(items) > 0.5) == (y[items] == 1) for role in heads}
        correct.update({name: pred == y[items] for name, pred in zeroshot.items()})
        _, cluster = np.unique(groups[items], return_inverse=True)
        level = np.array([difficulty(e) for e in task.examples])
        info.update({
            "thresholds": {"easy_max": split.easy_max, "hard_min": split.hard_min},
            "sizes": {p: {"items": int(len(split[p])), "groups": int(len(set(groups[split[p]])))} for p in PARTS},
            "difficulty": {p: float(level[split[p]].mean()) for p in PARTS},
            "positive_share": {p: float(y[split[p]].mean()) for p in PARTS},
            "choices": {role: {**c.as_dict(), "cv_table": c.table} for role, c in choices.items()},
            "n_task_items": len(task),
        })
        return {"y": y[items], "part": np.repeat(ITEM_PARTS, [len(split[p]) for p in ITEM_PARTS]),
                "group": cluster, "correct": correct, "info": info}

    def _zeroshot(self, task, config: EasyToHardConfig, split: EasyHardSplit, items: np.ndarray):
        """Each item's zero-shot prediction (calibrated and plain), and the lengths of every part.

        Calibrated: an easy item is thresholded at the median log-odds of easy-train, a hard
        one at hard-train's (inputs only, no label) — the strongest label-free floor we can
        give each difficulty without looking at the evaluated items themselves."""
        from alignlab.interpretability._zeroshot import ZeroShot, choice_logprobs
        from alignlab.models import load_model

        lm = load_model(config.model)
        logp = choice_logprobs(lm, task)  # (n, 2), cached per model and task
        calibrated = np.zeros(len(items), dtype=np.int64)
        start, bias = 0, {}
        for part in ITEM_PARTS:  # items are the parts in this order
            pool = part.split("_")[0]
            probe = ZeroShot(calibrate=True).fit(logp[split[f"{pool}_train"]])
            bias[pool] = probe.bias_
            calibrated[start:start + len(split[part])] = probe.predict(logp[split[part]])
            start += len(split[part])
        preds = {"zeroshot_calibrated": calibrated, "zeroshot_plain": ZeroShot().fit(logp[items]).predict(logp[items])}
        preds["zeroshot"] = preds[f"zeroshot_{config.zeroshot}"]
        texts = {p: task.texts(split[p]) for p in PARTS}
        tokens = {p: [len(ids) for ids in lm.tokenizer(t)["input_ids"]] for p, t in texts.items()}
        lengths = {p: {"chars": float(np.mean([len(s) for s in texts[p]])), "tokens": float(np.mean(tokens[p]))}
                   for p in PARTS}
        return preds, {"zeroshot_bias": bias, "length": lengths}

    def score(self, config: EasyToHardConfig, secret: dict, submission: Submission, seed: int) -> Scores:
        from alignlab.stats import accuracy_ci

        y = secret["y"]
        p = np.asarray(submission.predictions, dtype=float)
        failed = ~np.isfinite(p)
        correct = _correct(secret, p)
        counts = {part: ClusterCounts.of(y[secret["part"] == part], secret["group"][secret["part"] == part],
                                         {r: c[secret["part"] == part] for r, c in correct.items()})
                  for part in ITEM_PARTS}
        rng = np.random.default_rng([seed, 16])
        test = counts["hard_test"]
        draws = test.draws(config.n_boot, rng)
        how = f"balanced accuracy, cluster bootstrap over {test.n_groups} groups"
        metrics = {role: _metric(float(test.balanced(role)), test.balanced(role, draws), test.n_items, how)
                   for role in ("easy_trained", "zeroshot", "ceiling", "zeroshot_plain")}
        on_test = secret["part"] == "hard_test"
        y_test = y[on_test]
        majority = (y_test == int(y_test.mean() >= 0.5)).astype(float)
        metrics["majority"] = Metric(**accuracy_ci(majority, secret["group"][on_test], seed=seed).as_dict())
        roles = ("easy_trained", "zeroshot", "ceiling")
        value = sgr(*(test.balanced(r) for r in roles), config.min_gap)
        boots = sgr(*(test.balanced(r, draws) for r in roles), config.min_gap)
        metrics["sgr"] = _metric(float(value), boots, test.n_items,
                                 f"paired cluster bootstrap over {test.n_groups} groups; "
                                 f"{int(np.isnan(boots).sum())} of {config.n_boot} resamples undefined")
        easy = counts["easy_test"]
        metrics["easy_trained_on_easy"] = _metric(float(easy.balanced("easy_trained")),
                                                  easy.balanced("easy_trained", easy.draws(config.n_boot, rng)),
                                                  easy.n_items, f"balanced accuracy on easy test, cluster bootstrap "
                                                                f"over {easy.n_groups} groups")
        ev, hv = counts["easy_val"], counts["hard_val"]
        de, dh = ev.draws(config.n_boot, rng), hv.draws(config.n_boot, rng)
        for name, (a, b) in {"difficulty_gap": ("easy_reference", "ceiling"),
                             "zeroshot_gap": ("zeroshot", "zeroshot")}.items():
            metrics[name] = _metric(float(ev.balanced(a) - hv.balanced(b)), ev.balanced(a, de) - hv.balanced(b, dh),
                                    ev.n_items + hv.n_items, "validation: easy-val minus hard-val, two-sample "
                                                             "cluster bootstrap")
        metrics["supervision_gap"] = _metric(float(hv.balanced("ceiling") - hv.balanced("zeroshot")),
                                             hv.balanced("ceiling", dh) - hv.balanced("zeroshot", dh), hv.n_items,
                                             "validation: ceiling minus zero-shot on hard-val, paired cluster bootstrap")
        length = secret["info"]["length"]
        metrics["length_ratio"] = Metric(value=length["hard_train"]["tokens"] / length["easy_train"]["tokens"],
                                         n=int(sum(secret["info"]["sizes"][p]["items"] for p in ("easy_train",
                                                                                                 "hard_train"))),
                                         method="mean tokens, hard-train / easy-train")
        return Scores(testbed="easy_to_hard", seed=seed, metrics=metrics, primary="easy_trained",
                      baseline="zeroshot", failures=int(failed.sum()), n_items=len(p))

    def reveal(self, config: EasyToHardConfig, secret: dict, submission: Submission) -> dict:
        """Disclosed once scored (evaluator-side data, for pooling seeds): every item's part,
        label and group (an integer per group) and each role's correctness as a string of
        0/1 in item order, plus the setup (sizes, thresholds, lengths, choices)."""
        correct = _correct(secret, np.asarray(submission.predictions, dtype=float))
        bits = lambda c: "".join("1" if v else "0" for v in c)  # noqa: E731 — compact, and JSON
        return {"part": [ITEM_PARTS.index(p) for p in secret["part"]], "parts": list(ITEM_PARTS),
                "y": bits(secret["y"] == 1), "group": secret["group"].astype(int).tolist(),
                "correct": {role: bits(c) for role, c in correct.items()}, "setup": secret["info"]}


def _correct(secret: dict, p: np.ndarray) -> dict[str, np.ndarray]:
    """Every role's per-item correctness: the variant's (a non-finite answer is wrong) and
    the trusted roles' from the secret."""
    return {"easy_trained": np.isfinite(p) & ((p > 0.5) == (secret["y"] == 1)), **secret["correct"]}


# ---------------------------------------------------------------- variants
def _hard_items(problem: Problem) -> np.ndarray:
    return np.array([item["part"].startswith("hard") for item in problem.json("items")])


@VARIANTS.register("easy_head")
class EasyHead:
    """A logistic head on easy-train (cross-entropy, L2 ``C``: the CV choice unless given);
    the trusted easy reference is exactly this recipe."""

    def __init__(self, C: float | None = None, epochs: int = 60, lr: float = 1e-2):
        self.C, self.epochs, self.lr = C, epochs, lr

    def fit(self, X: np.ndarray, targets: np.ndarray, C: float, seed: int):
        from alignlab.generalization._head import fit_head

        return fit_head(X, targets, C=C if self.C is None else self.C, epochs=self.epochs, lr=self.lr, seed=seed)

    def solve(self, problem: Problem, seed: int) -> Submission:
        X, y = problem.array("X_train"), problem.array("y_train").astype(np.float64)
        head = self.fit(X, y, problem.json("choice")["C"], seed)
        return Submission(predictions=head.predict_proba(problem.array("X_items")).tolist())


@VARIANTS.register("easy_self_train")
class EasySelfTrain(EasyHead):
    """Self-training: the easy head labels the unlabelled hard items, and is refitted on
    easy-train plus the ``keep`` most confident of them (hard labels, balanced by class),
    ``rounds`` times."""

    def __init__(self, rounds: int = 2, keep: float = 0.5, C: float | None = None):
        if not (rounds >= 0 and 0 < keep <= 1):
            raise ValueError(f"easy_self_train: rounds must be >= 0 and keep in (0, 1], got {rounds}, {keep}")
        super().__init__(C)
        self.rounds, self.keep = rounds, keep

    def solve(self, problem: Problem, seed: int) -> Submission:
        X, y = problem.array("X_train"), problem.array("y_train").astype(np.float64)
        X_items, C = problem.array("X_items"), problem.json("choice")["C"]
        X_hard = X_items[_hard_items(problem)]  # (n_hard, d), no labels
        head = self.fit(X, y, C, seed)
        for _ in range(self.rounds):
            p = head.predict_proba(X_hard)
            per_class = max(1, int(self.keep * len(p) / 2))
            pos, neg = np.argsort(-p)[:per_class], np.argsort(p)[:per_class]  # the most confident each way
            rows = np.concatenate([pos, neg])
            pseudo = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
            head = self.fit(np.concatenate([X, X_hard[rows]]), np.concatenate([y, pseudo]), C, seed)
        return Submission(predictions=head.predict_proba(X_items).tolist(), notes={"rounds": self.rounds})


@VARIANTS.register("easy_mass_mean")
class EasyMassMean:
    """A mass-mean probe (Marks & Tegmark 2023): the difference of the easy classes' means
    of standardised features, thresholded halfway between them — no fitting to the easy
    rows' quirks beyond two means."""

    def solve(self, problem: Problem, seed: int) -> Submission:
        X, y = problem.array("X_train").astype(np.float64), problem.array("y_train")
        mean, scale = X.mean(0), X.std(0) + 1e-6
        Z = (X - mean) / scale  # (n, d)
        w = Z[y == 1].mean(0) - Z[y == 0].mean(0)
        b = -w @ (Z[y == 1].mean(0) + Z[y == 0].mean(0)) / 2
        s = ((problem.array("X_items") - mean) / scale) @ w + b
        spread = float(np.std(Z @ w + b)) or 1.0
        return Submission(predictions=(1 / (1 + np.exp(-s / spread))).tolist())
