"""Validation of the trained student: do truth probes agree with it, and where not?

The student of a head-mode weak-to-strong run is a linear head on the strong model's
frozen activations, trained on weak labels. Its test predictions are read from the
run's record (``w2s_seed`` keeps them per item); for a record from before that, the
recorded protocol is run again with a learner that keeps what it fits, so the student is
exactly the recorded one (checked: its test accuracy must equal the record's). They are
compared with truth probes read from the same model on the same test rows:

- supervised probes (logistic, mass-mean) fitted on B's ground truth — the rows the
  student learned from with weak labels only, i.e. what the student could have learned;
- unsupervised probes (CCS, CRC) fitted on B without labels (``sign_labels`` labelled
  rows only orient them).

Probes read contrast pairs (the task's template completed with each choice) at the
strong model's layer where a logistic probe did best on validation in the elicitation
run. Reported per method: agreement rates, and on the rows where student and a probe
disagree, how often each is right — who to trust when they conflict.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

PROBES = ("logistic", "mass_mean", "ccs", "crc")
SUPERVISED = ("logistic", "mass_mean")


class _Recording:
    """A learner that remembers every model it fits (the protocol fits the strong
    learner twice per seed: the ceiling, then the student)."""

    def __init__(self, inner):
        self.inner, self.features, self.fits = inner, inner.features, []

    def fit(self, rows, targets, seed, loss=None):
        fitted = self.inner.fit(rows, targets, seed, loss=loss)
        self.fits.append(fitted)
        return fitted


def _features(model: str, task, layer_fraction: float, pooling: str) -> np.ndarray:
    """The features ``run_w2s`` trains on (same cache entry, so no model work when warm)."""
    from alignlab.activations import task_activations
    from alignlab.models import load_model

    lm = load_model(model)
    layer = min(lm.n_layers - 1, int(round(layer_fraction * (lm.n_layers - 1))))
    return task_activations(lm, task, layers=[layer], pooling=pooling, progress=False)[:, 0].float().numpy()


def _pairs(model: str, task, layer: int) -> np.ndarray:
    """(n, 2, d) last-token contrast activations at ``layer`` (cached)."""
    from alignlab.activations import task_activations
    from alignlab.data import contrast_tasks
    from alignlab.models import load_model

    lm = load_model(model)
    sides = [task_activations(lm, side, [layer], "last", progress=False)[:, 0].float().numpy()
             for side in contrast_tasks(task)]
    return np.stack(sides, axis=1)


def _probe_params(name: str, config, seed: int) -> dict[str, Any]:
    """This stage's probe hyperparameters: fixed here (not read from an elicitation
    config), but CCS's restarts and epochs from the pipeline config and its seed per seed;
    the rest are the estimators' defaults."""
    return {"logistic": {"C": 0.1}, "mass_mean": {}, "crc": {},
            "ccs": {"n_restarts": config.ccs_restarts, "n_epochs": config.ccs_epochs, "lr": 1e-2,
                    "random_state": seed}}[name]


def _probe(name: str, config, seed: int):
    from alignlab.interpretability import PROBES as REGISTRY

    return REGISTRY.create({"name": name, "params": _probe_params(name, config, seed)})


def _rate(hits: np.ndarray) -> dict[str, Any]:
    from alignlab.stats import wilson

    hits = np.asarray(hits, dtype=bool)
    return wilson(int(hits.sum()), len(hits)).as_dict() if len(hits) else {"value": None, "lo": None, "hi": None,
                                                                            "n": 0}


def _seed_comparison(w2s_configs, features, pairs, labels, config, seed, records) -> dict[str, Any]:
    from alignlab.generalization import HeadLearner, W2SSplit, make_method, w2s_seed

    split = W2SSplit.draw(len(labels), seed)
    y_test = labels[split.test]
    probe_pred = {}
    for name in PROBES:
        y_fit = labels[split.b]
        if name not in SUPERVISED:  # labels only orient the direction (sign)
            y_fit = np.full(len(split.b), -1)
            keep = np.random.default_rng(seed).choice(len(split.b), min(config.sign_labels, len(split.b)),
                                                      replace=False)
            y_fit[keep] = labels[split.b][keep]
        probe_pred[name] = _probe(name, config, seed).fit(pairs[split.b], y_fit).predict(pairs[split.test])
    out: dict[str, Any] = {"seed": seed, "n_test": len(split.test),
                           "probe_accuracy": {p: _rate(probe_pred[p] == y_test) for p in PROBES},
                           "probe_agreement": {f"{a}~{b}": _rate(probe_pred[a] == probe_pred[b])
                                               for i, a in enumerate(PROBES) for b in PROBES[i + 1:]},
                           "methods": {}}
    for method, cfg in w2s_configs.items():
        recorded = next((r for r in records[method]["runs"] if r["seed"] == seed), None) or {}
        saved = recorded.get("predictions", {}).get("student")
        if saved is not None and recorded.get("test_rows") == split.test.tolist():
            student, source, same = np.asarray(saved, dtype=np.int64), "record", True  # read, not re-trained
        else:  # a record from before per-item predictions were kept: run its protocol again
            strong = _Recording(HeadLearner(features()["strong"], cfg.head))
            protocol = w2s_seed(HeadLearner(features()["weak"], cfg.head), strong, labels,
                                make_method(cfg.method, **cfg.method_params), seed, min_gap=cfg.min_gap)
            student = (strong.fits[-1].predict_proba(split.test) > 0.5).astype(np.int64)
            source = "re-trained"
            same = bool(recorded) and abs(protocol["accuracy"]["student"]["value"]
                                          - recorded["accuracy"]["student"]["value"]) < 1e-9
        per_probe = {}
        for name in PROBES:
            disagree = student != probe_pred[name]
            per_probe[name] = {
                "agreement": _rate(~disagree),
                "n_disagree": int(disagree.sum()),
                "probe_right_when_disagree": _rate(probe_pred[name][disagree] == y_test[disagree]),
                "student_right_when_disagree": _rate(student[disagree] == y_test[disagree]),
            }
        out["methods"][method] = {
            "student_accuracy": _rate(student == y_test),
            "reproduces_record": same,
            "student_from": source,
            "probes": per_probe,
            "_student_pred": student,
        }
    out["_test_rows"], out["_probe_pred"] = split.test, probe_pred
    return out


def student_agreement(config, w2s_configs: dict, w2s_results: dict, probe_layer: int) -> dict[str, Any]:
    """The comparison over ``config.seeds`` for every method's student; means with
    t-intervals across seeds, per-seed detail, and a few disagreement examples."""
    from alignlab.data import load_task
    from alignlab.stats import mean_ci

    first = next(iter(w2s_configs.values()))
    task = load_task(first.task).subset(first.n_examples, seed=0)  # the rows run_w2s used
    labels = task.labels

    @functools.cache
    def features() -> dict[str, np.ndarray]:  # only for records without per-item predictions
        return {role: _features(getattr(first, role), task, first.layer_fraction, first.pooling)
                for role in ("weak", "strong")}

    pairs = _pairs(first.strong, task, probe_layer)
    from alignlab.threads import torch_threads

    with torch_threads(1):  # many small fits: one thread is several times faster (alignlab.threads)
        seeds = [_seed_comparison(w2s_configs, features, pairs, labels, config, s, w2s_results)
                 for s in config.seeds]

    def mean_over(get) -> dict[str, Any] | None:
        vals = [v for v in (get(s) for s in seeds) if v is not None]
        return mean_ci(vals).as_dict() if vals else None

    summary: dict[str, Any] = {
        "probe_accuracy": {p: mean_over(lambda s, p=p: s["probe_accuracy"][p]["value"]) for p in PROBES},
        "probe_agreement": {k: mean_over(lambda s, k=k: s["probe_agreement"][k]["value"])
                            for k in seeds[0]["probe_agreement"]},
        "methods": {},
    }
    examples = {}
    for method in w2s_configs:
        summary["methods"][method] = {
            "student_accuracy": mean_over(lambda s: s["methods"][method]["student_accuracy"]["value"]),
            "reproduces_record": all(s["methods"][method]["reproduces_record"] for s in seeds),
            "probes": {p: {key: mean_over(lambda s, p=p, key=key: s["methods"][method]["probes"][p][key]["value"])
                           for key in ("agreement", "probe_right_when_disagree", "student_right_when_disagree")}
                       | {"n_disagree_total": sum(s["methods"][method]["probes"][p]["n_disagree"] for s in seeds)}
                       for p in PROBES},
        }
        examples[method] = _disagreements(task, seeds[0], method, labels)
    for s in seeds:  # arrays were for the examples only
        s.pop("_test_rows")
        s.pop("_probe_pred")
        for m in s["methods"].values():
            m.pop("_student_pred")
    return {"task": task.name, "task_fingerprint": task.fingerprint, "n_examples": len(task),
            "probe_layer": probe_layer, "probe_model": first.strong, "seeds": list(config.seeds),
            "summary": summary, "per_seed": seeds, "examples": examples}


def _disagreements(task, seed_out: dict[str, Any], method: str, labels: np.ndarray,
                   k: int = 6) -> list[dict[str, Any]]:
    """The first ``k`` test rows of the first seed where the student and the logistic
    probe disagree: the text, the label and every answer."""
    rows, student = seed_out["_test_rows"], seed_out["methods"][method]["_student_pred"]
    probes = seed_out["_probe_pred"]
    picked = np.flatnonzero(student != probes["logistic"])[:k]
    texts = task.texts(rows[picked])
    return [{"row": int(rows[i]), "text": t[:300], "label": int(labels[rows[i]]), "student": int(student[i]),
             **{p: int(probes[p][i]) for p in PROBES}} for i, t in zip(picked, texts)]
