"""The weak-to-strong protocol on frozen activations (the fast CPU path).

Per seed: draw A/B/test; the weak supervisor is a head on the weak model's features
trained on A's ground truth; its soft predictions on B are the weak labels; the ceiling
is a head on the strong model's features trained on B's ground truth; the student is a
head on the strong features trained on B's weak labels by a transfer method. The
student's code path gets features and weak labels only: the ground truth lives in the
evaluator, which scores predictions on test.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alignlab.generalization._evaluator import W2SEvaluator, W2SSplit
from alignlab.generalization._head import fit_head
from alignlab.generalization._pgr import pgr
from alignlab.generalization.methods import TransferMethod
from alignlab.stats import bootstrap_ci, mean_ci


def w2s_seed(
    weak_X: np.ndarray,
    strong_X: np.ndarray,
    labels: np.ndarray,
    method: TransferMethod,
    seed: int,
    test_fraction: float = 0.25,
    min_gap: float = 0.0,
    mid_X: np.ndarray | None = None,
) -> dict:
    """One seed of the protocol; accuracies with Wilson CIs and PGR with a paired
    bootstrap CI over test rows. ``mid_X``: an intermediate model's features, for
    methods that supervise through one (``bootstrap``)."""
    if not len(weak_X) == len(strong_X) == len(labels):
        raise ValueError("weak features, strong features and labels must have the same rows")
    split = W2SSplit.draw(len(labels), seed, test_fraction)
    ev = W2SEvaluator(labels, split)
    weak_head = fit_head(weak_X[split.a], ev.supervisor_labels(), seed=seed)
    weak_labels = weak_head.predict_proba(weak_X[split.b])  # soft, what the student sees
    ceiling = fit_head(strong_X[split.b], ev.ceiling_labels(), seed=seed)
    if getattr(method, "needs_mid", False):
        if mid_X is None:
            raise ValueError(f"method {method.name!r} needs an intermediate model's features (mid)")
        student = method.fit_student(strong_X[split.b], weak_labels, seed, mid=mid_X[split.b])
    else:
        student = method.fit_student(strong_X[split.b], weak_labels, seed)  # no ground truth here

    preds = {"weak": weak_head.predict(weak_X[split.test]), "ceiling": ceiling.predict(strong_X[split.test]),
             "student": student.predict(strong_X[split.test])}
    acc = {role: ev.test_accuracy(p) for role, p in preds.items()}
    correct = [ev.test_correct(preds[r]).astype(float) for r in ("weak", "student", "ceiling")]
    pgr_ci = bootstrap_ci(lambda w, s, c: pgr(w.mean(), s.mean(), c.mean(), min_gap), *correct, seed=seed)
    return {
        "seed": seed, "n_a": len(split.a), "n_b": len(split.b), "n_test": len(split.test),
        "accuracy": {r: a.as_dict() for r, a in acc.items()},
        "pgr": pgr(acc["weak"].value, acc["student"].value, acc["ceiling"].value, min_gap),
        "pgr_bootstrap": pgr_ci.as_dict(),
        "weak_positive_rate": float((weak_labels > 0.5).mean()),
    }


def w2s_seeds(
    weak_X: np.ndarray,
    strong_X: np.ndarray,
    labels: np.ndarray,
    method: TransferMethod,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    min_gap: float = 0.0,
    mid_X: np.ndarray | None = None,
) -> dict:
    """The protocol over seeds, with means and t-intervals across seeds. A seed whose
    ceiling does not beat the weak supervisor has PGR NaN: counted, not averaged."""
    runs = [w2s_seed(weak_X, strong_X, labels, method, s, min_gap=min_gap, mid_X=mid_X) for s in seeds]
    summary = {role: mean_ci([r["accuracy"][role]["value"] for r in runs]).as_dict()
               for role in ("weak", "student", "ceiling")}
    defined = [r["pgr"] for r in runs if np.isfinite(r["pgr"])]
    summary["pgr"] = mean_ci(defined).as_dict() if defined else None
    summary["pgr_undefined_seeds"] = len(runs) - len(defined)
    return {"method": method.name, "params": method.params, "seeds": list(seeds), "summary": summary,
            "runs": runs}
