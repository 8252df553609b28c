"""The eliciting-latent-knowledge experiment: what does a model believe is true?

For one model and one task: build contrast pairs from the task's template, extract
every layer's last-token activations for both sides (cached), and at each chosen layer
fit every requested probe on the training split. One layer per method is reported —
never chosen on test — with its test scores, their intervals and denominators. The
zero-shot baseline reads the same prompts through the LM head. Optionally the probes
trained here are tested on another task's test split (``transfer``), and the prompts
can carry a misleading few-shot prefix (``prefix="misleading"``).

The rules, shared with the protocol testbed (``alignlab.protocol.testbeds.elicit``):

- **Headline metric.** A task is *imbalanced* when the majority class of its training
  labels exceeds ``IMBALANCED_ABOVE`` = 0.6 (TruthfulQA: 0.76). There accuracy rewards
  answering the majority class, so balanced accuracy (the mean of the two classes'
  recalls: 0.5 for any constant answer) is the headline and chooses the supervised
  layer; elsewhere accuracy does. Accuracy, balanced accuracy, AUROC (from the probe's
  scores) and the majority-class rate are recorded for every method either way.
- **Supervised probes** (logistic, mass-mean): the layer with the best validation
  headline metric (ties: the shallower).
- **Unsupervised probes** (CCS, CRC): the layer with the best ``label_free_score_`` of
  the fit on the training rows — the lowest CCS loss (consistency + confidence), the
  largest share of variance along CRC's direction — so no label, of any split, chooses
  it. What validation labels would have chosen is kept apart as ``oracle``: an upper
  bound on label-free selection, never the reported number.
- **Sign of an unsupervised probe.** Its direction is found up to sign; ``sign_labels``
  seeded training rows (8 by default) orient it by majority agreement — they never
  enter the loss or the layer choice. ``test`` is that oriented accuracy;
  ``test_best_sign`` = max(acc, 1 − acc) on test is Burns et al.'s label-free number, an
  upper bound because it peeks at the test sign.

The record keeps each method's test predictions and scores at its reported layer (and
the test items' labels and groups), so seeds can be pooled with intervals that resample
seeds and groups without re-running anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from alignlab.interpretability._ccs import CCS
from alignlab.interpretability._crc import CRC
from alignlab.interpretability._logistic import LogisticProbe
from alignlab.interpretability._mass_mean import MassMeanProbe
from alignlab.interpretability._truth_probe import (
    TruthProbe,
    auroc_ci,
    balanced_accuracy,
    balanced_accuracy_ci,
    best_sign_accuracy,
)
from alignlab.names import ModelRef, TaskName
from alignlab.protocol import Registry
from alignlab.threads import torch_threads

Method = Literal["logistic", "mass_mean", "ccs", "crc", "zeroshot"]
Headline = Literal["accuracy", "balanced_accuracy"]
UNSUPERVISED = ("ccs", "crc")
IMBALANCED_ABOVE = 0.6
"""A task whose training majority class exceeds this share is scored by balanced accuracy."""
LABEL_FREE_CRITERION = {"ccs": "lowest CCS loss (consistency + confidence) on the training pairs",
                        "crc": "largest share of the training differences' variance along the CRC direction"}


class ElicitConfig(BaseModel):
    """One elicitation run; every field has a default that runs offline on a laptop."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: ModelRef = "gemma3-270m"
    """Registered model name, local folder or Hugging Face id."""
    task: TaskName = "capitals"
    """A built-in task with template choices, or a .jsonl/.csv path."""
    methods: tuple[Method, ...] = ("logistic", "mass_mean", "ccs", "crc", "zeroshot")
    """Which probes (and the zero-shot baseline) to run."""
    layers: tuple[int, ...] | None = None
    """Blocks to probe (0-based; negative from the end); None = every ``layer_stride``-th."""
    layer_stride: int = Field(1, ge=1)
    """With ``layers=None``: probe blocks 0, s, 2s, … and always the last one."""
    n_items: int = Field(600, ge=10)
    """Items (contrast pairs) drawn from the task, whole groups kept together (seeded)."""
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    """Train / validation / test shares of the items, split by group."""
    seed: int = 0
    """Draws the items, the split, the sign labels, CCS's initialisations, the prefix."""
    sign_labels: int = Field(8, ge=0)
    """Labelled training items used only to orient CCS and CRC (0 = none; sign as found)."""
    C: float = Field(0.1, gt=0)
    """Inverse L2 strength of the logistic probe."""
    ccs_restarts: int = Field(10, ge=1)
    """Random restarts of CCS (vectorised); the lowest loss is kept."""
    ccs_epochs: int = Field(1000, ge=1)
    """Full-batch AdamW steps of CCS."""
    ccs_lr: float = Field(1e-2, gt=0)
    """AdamW learning rate of CCS."""
    scale: Literal["norm", "std", "none"] = "norm"
    """Per-side normalisation of contrast activations (fitted on train only)."""
    prefix: Literal["none", "misleading"] = "none"
    """``misleading`` prepends ``prefix_shots`` training examples answered wrongly."""
    prefix_shots: int = Field(4, ge=1)
    """Number of wrongly answered examples in the misleading prefix."""
    transfer: TaskName | None = None
    """Also test the probes (trained on ``task``) on this task's test split."""
    pooling: Literal["last", "mean"] = "last"
    """Token pooling; ``last`` is the completion token, where the pair differs."""
    dtype: Literal["auto", "bfloat16", "float32", "float16"] = "auto"
    """Inference dtype; ``auto`` is bf16 where the hardware runs it natively, else fp32."""
    max_length: int = Field(512, ge=8)
    """Tokens kept per text."""


@dataclass(frozen=True)
class ElicitResult:
    config: ElicitConfig
    result: dict
    run_dir: Path
    plot: Path


PROBES: Registry[TruthProbe] = Registry("probe")
"""Every truth probe by name: the estimator class, its parameters its hyperparameters."""
PROBES.register("logistic", LogisticProbe)
PROBES.register("mass_mean", MassMeanProbe)
PROBES.register("ccs", CCS)
PROBES.register("crc", CRC)


def probe_params(method: str, config: ElicitConfig) -> dict[str, Any]:
    """The hyperparameters a run's config sets for probe ``method`` (the rest keep the
    estimator's defaults), so a run's config says exactly what each probe was."""
    c = config
    return {"logistic": {"C": c.C, "scale": c.scale},
            "mass_mean": {"scale": c.scale},
            "ccs": {"n_restarts": c.ccs_restarts, "n_epochs": c.ccs_epochs, "lr": c.ccs_lr, "scale": c.scale,
                    "random_state": c.seed},
            "crc": {"scale": c.scale}}[method]


def _make_probe(method: str, config: ElicitConfig) -> TruthProbe:
    return PROBES.create({"name": method, "params": probe_params(method, config)})


def _probe_layers(config: ElicitConfig, n_layers: int) -> list[int]:
    if config.layers is not None:
        from alignlab.models import resolve_layers

        return list(resolve_layers(config.layers, n_layers))
    chosen = list(range(0, n_layers, config.layer_stride))
    return chosen if chosen[-1] == n_layers - 1 else [*chosen, n_layers - 1]


def _pairs(lm, task, config: ElicitConfig) -> np.ndarray:
    """(n, 2, n_layers, d) float32 contrast activations of every block (cached: asking
    for all blocks keeps one cache entry whatever subset a run probes)."""
    from alignlab.activations import task_activations
    from alignlab.data import contrast_tasks

    sides = [task_activations(lm, side, range(lm.n_layers), config.pooling, max_length=config.max_length,
                              progress=False).float().numpy() for side in contrast_tasks(task)]
    return np.stack(sides, axis=1)


def _acc(y_true, y_pred, groups=None) -> dict:
    """Accuracy with a Wilson CI, or a cluster-bootstrap CI when items share groups."""
    from alignlab.stats import accuracy_ci

    return accuracy_ci(np.asarray(y_true) == np.asarray(y_pred), groups).as_dict()


def _sign_mask(y: np.ndarray, train: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Training labels with all but ``k`` seeded rows hidden (-1)."""
    masked = np.full(len(train), -1, dtype=np.int64)
    if k:
        keep = np.random.default_rng(seed).choice(len(train), size=min(k, len(train)), replace=False)
        masked[keep] = y[train][keep]
    return masked


def majority(y_train) -> tuple[int, float]:
    """The majority class of the training labels (ties: class 1) and its share."""
    rate = float(np.mean(np.asarray(y_train) == 1))
    return int(rate >= 0.5), max(rate, 1.0 - rate)


def headline_metric(y_train) -> Headline:
    """``balanced_accuracy`` where the training majority class exceeds ``IMBALANCED_ABOVE``,
    else ``accuracy``: decided from training labels, so no test label picks the metric."""
    return "balanced_accuracy" if majority(y_train)[1] > IMBALANCED_ABOVE else "accuracy"


def _argmax(values) -> int | None:
    """The first index of the largest finite value (ties: the shallower layer), or None."""
    finite = [(v, -i) for i, v in enumerate(values) if v is not None and np.isfinite(v)]
    return -max(finite)[1] if finite else None


def choose_layer(val: list[float | None], label_free: list[float | None] | None = None) \
        -> tuple[int | None, int | None, str]:
    """(index reported, index validation would choose, the rule used) over the probed layers.

    Args:
        val: the headline metric on validation per layer (None: the fit failed there).
        label_free: for an unsupervised probe, its ``label_free_score_`` per layer (higher
            = better); None for a supervised probe, whose layer is chosen on validation.
            Where no layer has a finite score (a variant of the testbed that reports
            none), the middle fitted layer is reported: a choice fixed in advance.
    """
    oracle = _argmax(val)
    if label_free is None:
        return oracle, oracle, "best validation score"
    chosen = _argmax(label_free)
    if chosen is not None:
        return chosen, oracle, "label-free criterion on the training rows"
    fitted = [i for i, v in enumerate(val) if v is not None]
    return (fitted[len(fitted) // 2] if fitted else None), oracle, "no label-free score: middle fitted layer"


def _scores(y, pred, score, groups, part: str, with_auroc: bool) -> dict:
    """Accuracy, balanced accuracy (and AUROC) of one split, each with its interval."""
    out = {part: _acc(y, pred, groups), f"{part}_balanced": balanced_accuracy_ci(y, pred, groups).as_dict()}
    if with_auroc:
        auc = auroc_ci(y, score, groups)
        out[f"{part}_auroc"] = None if auc is None else auc.as_dict()
    return out


def _sweep(method, acts, y, groups, split, layers, config, headline: Headline):
    """Fit ``method`` at every layer on train; its val and test scores per layer; the
    reported layer by the module's rules (``choose_layer``)."""
    unsupervised = method in UNSUPERVISED
    keys = ("val", "val_balanced", "test", "test_balanced", "test_auroc", "test_best_sign")
    out = {"layers": layers, **{k: [] for k in keys}, "failures": []}
    if unsupervised:
        out["label_free_score"] = []
    y_fit = _sign_mask(y, split.train, config.sign_labels, config.seed) if unsupervised else y[split.train]
    fitted, test_out, start = {}, {}, time.perf_counter()
    for layer in layers:
        X = acts[:, :, layer]  # (n, 2, d)
        try:
            probe = _make_probe(method, config).fit(X[split.train], y_fit)
        except (ValueError, np.linalg.LinAlgError) as err:  # counted, never dropped
            out["failures"].append({"layer": layer, "error": str(err)})
            for key in keys + (("label_free_score",) if unsupervised else ()):
                out[key].append(None)
            continue
        fitted[layer] = probe
        score_test = probe.decision_function(X[split.test])  # (n_test,) logit of label 1
        pred_val, pred_test = probe.predict(X[split.val]), probe.predict(X[split.test])
        test_out[layer] = (pred_test, score_test)
        for part, pred, score, rows in (("val", pred_val, None, split.val), ("test", pred_test, score_test, split.test)):
            for key, value in _scores(y[rows], pred, score, groups[rows], part, part == "test").items():
                out[key].append(value)
        out["test_best_sign"].append(best_sign_accuracy(y[split.test], pred_test))
        if unsupervised:
            out["label_free_score"].append(probe.label_free_score_)
    out["fit_seconds"] = time.perf_counter() - start
    val_key = "val_balanced" if headline == "balanced_accuracy" else "val"
    i, oracle, rule = choose_layer([v and v["value"] for v in out[val_key]],
                                   out["label_free_score"] if unsupervised else None)
    if not unsupervised:
        out["selection"] = f"best validation {headline.replace('_', ' ')}"
    else:
        out["selection"] = f"{LABEL_FREE_CRITERION[method]} (no labels)" if rule.startswith("label") else rule
    def at(k: int) -> dict:  # a layer's scores, with its test predictions kept for pooling seeds
        pred_test, score_test = test_out[layers[k]]
        return {"layer": layers[k], **{key: out[key][k] for key in keys},
                "test_pred": pred_test.astype(int).tolist(), "test_score": _round(score_test)}

    if unsupervised and oracle is not None:
        out["oracle"] = {**at(oracle), "note": f"layer chosen with validation labels ({headline.replace('_', ' ')}):"
                                               " an upper bound on label-free selection, not a reported number"}
    if i is None:
        out["best_layer"] = None
        return out, None
    out["best_layer"], out["best"] = layers[i], at(i)
    return out, (layers[i], fitted[layers[i]])


def _round(x) -> list[float]:
    """Scores for the record: 6 significant digits keep ranks and the file small."""
    return [float(f"{v:.6g}") for v in np.asarray(x, dtype=np.float64)]


def _zeroshot(lp, y, groups, split) -> dict:
    """The zero-shot baseline's record from the (n, 2) log-probabilities of the choices:
    plain (threshold 0) and calibrated (the median training log-odds, no labels)."""
    from alignlab.interpretability._zeroshot import ZeroShot

    zs = ZeroShot().fit(lp[split.train])
    pred, score = zs.predict(lp[split.test]), zs.decision_function(lp[split.test])
    rec = {**_scores(y[split.val], zs.predict(lp[split.val]), None, groups[split.val], "val", False),
           **_scores(y[split.test], pred, score, groups[split.test], "test", True),
           "test_calibrated": _acc(y[split.test], ZeroShot(calibrate=True).fit(lp[split.train])
                                   .predict(lp[split.test]), groups[split.test])}
    rec["best"] = {k: rec[k] for k in ("test", "test_balanced", "test_auroc")}
    rec["best"].update(test_pred=pred.astype(int).tolist(), test_score=_round(score))
    return rec


def run_elicit(config: ElicitConfig = ElicitConfig(), runs_root: str | Path | None = None) -> ElicitResult:
    """Run every method of ``config`` on one model and task; write a run record with the
    accuracy-by-layer plot inside it. Returns the result dict and where it went."""
    from alignlab.data import load_task, misleading_prefix
    from alignlab.errors import AlignlabError
    from alignlab.interpretability._elicit_plot import plot_elicit
    from alignlab.interpretability._zeroshot import choice_logprobs
    from alignlab.models import load_model
    from alignlab.store import run_path, write_run

    if not config.methods:
        raise AlignlabError("no methods given; pick from logistic, mass_mean, ccs, crc, zeroshot")
    task, warnings = load_task(config.task).draw(config.n_items, seed=config.seed, what="items")
    for name in (config.task, config.transfer):  # checked before the model loads
        if name is not None and load_task(name).template.choices is None:
            raise AlignlabError(f"task {name!r} has no answer choices in its template: elicit builds contrast pairs"
                                " (and zero-shot scores) from them; use a built-in task with choices (alignlab tasks"
                                " list) or give the file task a template with choices (alignlab.data.task_from_file)")
    split = task.split(seed=config.seed, fractions=config.fractions)
    if config.prefix == "misleading":
        task = misleading_prefix(task, split.train, k=config.prefix_shots, seed=config.seed)
    lm = load_model(config.model, dtype=config.dtype)
    y, groups = task.labels, np.array(task.group_keys()).astype(str)
    headline, (majority_class, majority_rate) = headline_metric(y[split.train]), majority(y[split.train])
    layers = _probe_layers(config, lm.n_layers)
    probes = [m for m in config.methods if m != "zeroshot"]
    acts = _pairs(lm, task, config) if probes else None
    result: dict = {
        "model": lm.name, "model_digest": lm.digest, "dtype": lm.dtype, "n_layers": lm.n_layers, "task": task.name,
        "task_fingerprint": task.fingerprint, "template": task.template.format,
        "choices": list(task.template.choices), "n_items": len(task),
        "n_train": len(split.train), "n_val": len(split.val), "n_test": len(split.test),
        "positive_rate_test": float(y[split.test].mean()), "sign_labels": config.sign_labels,
        "sign": (f"CCS and CRC oriented by {config.sign_labels} seeded labelled training rows (majority agreement)"
                 if config.sign_labels else "CCS and CRC left with the sign their fit found (sign_labels=0): only "
                 "test_best_sign is meaningful") + "; no label enters their loss or their layer choice",
        "headline": headline, "imbalanced_above": IMBALANCED_ABOVE,
        "majority": {"class": majority_class, "rate_train": majority_rate,
                     "test": _acc(y[split.test], np.full(len(split.test), majority_class), groups[split.test])},
        "test_items": {"y": y[split.test].astype(int).tolist(), "group": groups[split.test].tolist()},
        "warnings": warnings, "methods": {},
    }
    best = {}
    # Extraction above and the zero-shot pass below are big matmuls that use every core;
    # these many small fits run faster on one thread (alignlab.threads has the numbers).
    with torch_threads(1):
        for method in probes:
            result["methods"][method], best[method] = _sweep(method, acts, y, groups, split, layers, config,
                                                             headline)
    with_zeroshot = False
    if "zeroshot" in config.methods:
        if lm.arch != "causal":
            result["methods"]["zeroshot"] = {"skipped": f"{lm.name} is an encoder: no LM head"}
        else:
            with_zeroshot = True
            result["methods"]["zeroshot"] = _zeroshot(choice_logprobs(lm, task, max_length=config.max_length),
                                                      y, groups, split)
    if config.transfer:
        result["transfer"] = _transfer(lm, config, best, with_zeroshot)
    digest = {"model_digest": lm.digest, "task_fingerprint": task.fingerprint}
    del lm, acts
    cfg = config.model_dump(mode="json")
    run_dir = run_path("elicit", cfg, runs_root)
    plot = plot_elicit(result, run_dir / "accuracy_by_layer.png")
    record = write_run("elicit", cfg, result, root=runs_root, env_extra=digest)
    return ElicitResult(config, result, record.path, plot)


def _transfer(lm, config: ElicitConfig, best: dict, with_zeroshot: bool) -> dict:
    """Probes fitted on the source task at their validation-chosen layer, applied to the
    target task's test split two ways: ``test`` keeps the source's normaliser unchanged;
    ``test_target_norm`` keeps the probe's weights but re-fits the per-side centring and
    scale on the target's *training* rows — label-free, and needed when the two tasks'
    completions differ (" True" vs " Yes"), whose per-side offset the source normaliser
    does not remove."""
    import copy

    from alignlab.data import load_task
    from alignlab.interpretability import PairNormalizer
    from alignlab.interpretability._zeroshot import ZeroShot, choice_logprobs

    target = load_task(config.transfer).subset(config.n_items, seed=config.seed)
    split = target.split(seed=config.seed, fractions=config.fractions)
    y, groups = target.labels, np.array(target.group_keys()).astype(str)[split.test]
    acts = _pairs(lm, target, config) if any(b is not None for b in best.values()) else None
    out = {"task": target.name, "task_fingerprint": target.fingerprint, "n_test": len(split.test),
           "test_items": {"y": y[split.test].astype(int).tolist(), "group": groups.tolist()}, "methods": {}}
    for method, chosen in best.items():
        if chosen is None:
            out["methods"][method] = {"skipped": "no layer could be fitted on the source task"}
            continue
        layer, probe = chosen
        X = acts[:, :, layer]
        pred = probe.predict(X[split.test])
        adapted = copy.copy(probe)  # same weights and sign; only the normaliser changes
        adapted.normalizer_ = PairNormalizer(scale=config.scale).fit(X[split.train])
        pred_adapted = adapted.predict(X[split.test])
        out["methods"][method] = {"layer": layer, "test": _acc(y[split.test], pred, groups),
                                  "test_balanced": balanced_accuracy(y[split.test], pred),
                                  "test_best_sign": best_sign_accuracy(y[split.test], pred),
                                  "test_target_norm": _acc(y[split.test], pred_adapted, groups),
                                  "test_target_norm_balanced": balanced_accuracy(y[split.test], pred_adapted),
                                  "test_target_norm_best_sign": best_sign_accuracy(y[split.test], pred_adapted),
                                  "test_pred": pred.astype(int).tolist(),
                                  "test_target_norm_pred": pred_adapted.astype(int).tolist()}
    if with_zeroshot:
        lp = choice_logprobs(lm, target, split.test, max_length=config.max_length)
        pred = ZeroShot().fit(lp).predict(lp)
        out["methods"]["zeroshot"] = {"test": _acc(y[split.test], pred, groups),
                                      "test_balanced": balanced_accuracy(y[split.test], pred),
                                      "test_pred": pred.astype(int).tolist()}
    return out
