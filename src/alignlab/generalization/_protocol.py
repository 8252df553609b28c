"""The weak-to-strong protocol, for any learner (a head on frozen activations — the fast
CPU path — or the fine-tuned model itself).

Per seed: draw A/B/test; the weak supervisor is the weak learner trained on A's ground
truth; its soft predictions on B are the weak labels; the ceiling is the strong learner
trained on B's ground truth; the student is the strong learner trained on what the
transfer method makes of B's weak labels. The student's code path gets the strong
model's frozen features and the weak labels only: the ground truth lives in the
evaluator, which scores predictions on test. Nothing is selected on labels (no early
stopping, no model selection), so there is no oracle number to report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from alignlab.generalization._evaluator import W2SEvaluator, W2SSplit
from alignlab.generalization._head import HeadConfig, HeadLearner, Loss
from alignlab.generalization._pgr import pgr
from alignlab.generalization.methods import TransferMethod
from alignlab.stats import bootstrap_ci, mean_ci


class Fitted(Protocol):
    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """P(label 1) for the task's examples ``rows``."""
        ...


class Learner(Protocol):
    features: np.ndarray
    """The model's frozen features for every example (what methods compute targets from)."""

    def fit(self, rows: np.ndarray, targets: np.ndarray, seed: int, loss: Loss | None = None) -> Fitted:
        """Train on the task's examples ``rows`` against soft ``targets``."""
        ...


def _learner(x: Any, head: HeadConfig) -> Learner:
    """A feature matrix stands for a head learner on those features."""
    return HeadLearner(x, head) if isinstance(x, np.ndarray) else x


def w2s_seed(
    weak: Learner | np.ndarray,
    strong: Learner | np.ndarray,
    labels: np.ndarray,
    method: TransferMethod,
    seed: int,
    test_fraction: float = 0.25,
    min_gap: float = 0.0,
    mid_X: np.ndarray | None = None,
    head: HeadConfig = HeadConfig(),
    groups: Sequence[str] | None = None,
) -> dict:
    """One seed of the protocol; accuracies with Wilson CIs and PGR with a paired
    bootstrap CI over test rows. ``weak``/``strong``: learners, or feature matrices
    (then heads with ``head``). ``mid_X``: an intermediate model's features, for
    methods that supervise through one (``bootstrap``). ``groups``: one key per row;
    a group's rows stay on one side of the split."""
    weak, strong = _learner(weak, head), _learner(strong, head)
    if not len(weak.features) == len(strong.features) == len(labels):
        raise ValueError("weak features, strong features and labels must have the same rows")
    if method.needs_mid and mid_X is None:
        raise ValueError(f"method {method.name!r} needs an intermediate model's features (mid)")
    split = W2SSplit.draw(len(labels), seed, test_fraction, groups=groups)
    ev = W2SEvaluator(labels, split)
    weak_model = weak.fit(split.a, ev.supervisor_labels().astype(np.float64), seed)
    weak_labels = weak_model.predict_proba(split.b)  # soft, what the student sees
    ceiling = strong.fit(split.b, ev.ceiling_labels().astype(np.float64), seed)
    # The student's whole path: strong features, weak labels, the method. No labels.
    rows, targets = method.targets(strong.features[split.b], weak_labels, seed,
                                   mid=None if mid_X is None else np.asarray(mid_X)[split.b])
    student = strong.fit(split.b[rows], targets, seed, loss=method.loss)

    preds = {role: (model.predict_proba(split.test) > 0.5).astype(np.int64)
             for role, model in (("weak", weak_model), ("ceiling", ceiling), ("student", student))}
    acc = {role: ev.test_accuracy(p) for role, p in preds.items()}
    correct = [ev.test_correct(preds[r]).astype(float) for r in ("weak", "student", "ceiling")]
    pgr_ci = bootstrap_ci(lambda w, s, c: pgr(w.mean(), s.mean(), c.mean(), min_gap), *correct, seed=seed)
    return {
        "seed": seed, "n_a": len(split.a), "n_b": len(split.b), "n_test": len(split.test),
        "n_student_rows": len(rows),
        "accuracy": {r: a.as_dict() for r, a in acc.items()},
        "pgr": pgr(acc["weak"].value, acc["student"].value, acc["ceiling"].value, min_gap),
        "pgr_bootstrap": pgr_ci.as_dict(),
        "weak_positive_rate": float((weak_labels > 0.5).mean()),
        # per-item answers, so a later stage reads the student instead of re-training it
        "test_rows": split.test.tolist(),
        "predictions": {role: p.tolist() for role, p in preds.items()},
    }


def w2s_seeds(
    weak: Learner | np.ndarray,
    strong: Learner | np.ndarray,
    labels: np.ndarray,
    method: TransferMethod,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    min_gap: float = 0.0,
    mid_X: np.ndarray | None = None,
    head: HeadConfig = HeadConfig(),
    groups: Sequence[str] | None = None,
) -> dict:
    """The protocol over seeds, with means and t-intervals across seeds. A seed whose
    ceiling does not beat the weak supervisor has PGR NaN: counted, not averaged."""
    weak, strong = _learner(weak, head), _learner(strong, head)
    runs = [w2s_seed(weak, strong, labels, method, s, min_gap=min_gap, mid_X=mid_X, groups=groups) for s in seeds]
    summary = {role: mean_ci([r["accuracy"][role]["value"] for r in runs]).as_dict()
               for role in ("weak", "student", "ceiling")}
    defined = [r["pgr"] for r in runs if np.isfinite(r["pgr"])]
    summary["pgr"] = mean_ci(defined).as_dict() if defined else None
    summary["pgr_undefined_seeds"] = len(runs) - len(defined)
    return {"method": method.name, "params": method.params, "seeds": list(seeds), "summary": summary,
            "runs": runs}
