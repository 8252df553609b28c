"""``run_w2s``: weak-to-strong on real models and a real task, as a recorded run.

Features are one layer's pooled activations of each model, from the activation cache.
The layer is fixed by relative depth (``layer_fraction``), not chosen on labels, so no
ground truth leaks into the student's setup. With ``train: head`` the weak supervisor,
ceiling and student are heads on those features; with ``train: finetune`` they are the
models themselves, fine-tuned, and the features serve only methods that compute their
targets from the strong model's geometry (``knn_smooth``).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alignlab.generalization._finetune import FinetuneConfig
from alignlab.generalization._head import HeadConfig
from alignlab.names import MethodName, ModelRef, TaskName
from alignlab.store import RunRecord

log = logging.getLogger(__name__)


class W2SConfig(BaseModel):
    """One weak-to-strong experiment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weak: ModelRef = "smollm2-135m"
    """The weak supervisor's model."""
    strong: ModelRef = "gemma3-270m"
    """The student's (and ceiling's) model."""
    mid: ModelRef | None = None
    """An intermediate model, for methods that supervise through one (bootstrap)."""
    task: TaskName = "sarcasm"
    """A built-in binary task or a .jsonl/.csv path."""
    method: MethodName = "aux_conf"
    """A registered transfer method (xent, aux_conf, conf_filter, bootstrap, knn_smooth)."""
    method_params: dict[str, Any] = Field(default_factory=dict)
    """Overrides of the method's defaults, recorded with the result."""
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    """Each seed draws the A/B/test split, the heads' initialisation and data order."""
    n_examples: int = Field(2000, gt=20)
    """Examples drawn from the task (a fixed draw, seed 0, shared by every seed)."""
    layer_fraction: float = Field(0.5, ge=0, le=1)
    """Relative depth of the layer whose activations feed the heads."""
    pooling: str = Field("mean", pattern="^(mean|last)$")
    """Token pooling."""
    min_gap: float = Field(0.02, ge=0)
    """PGR is undefined (reported as such) when ceiling - weak <= min_gap."""
    train: Literal["head", "finetune"] = "head"
    """``head``: linear heads on frozen cached activations (fast, CPU). ``finetune``:
    the weak supervisor, ceiling and student are each the model itself, fine-tuned."""
    head: HeadConfig = HeadConfig()
    """Head training, with ``train: head`` (and the mid model's head for bootstrap)."""
    finetune: FinetuneConfig = FinetuneConfig()
    """Fine-tuning, with ``train: finetune``."""

    @model_validator(mode="after")
    def _consistent(self) -> W2SConfig:
        """Option combinations checked before any model loads."""
        from alignlab.errors import AlignlabError
        from alignlab.generalization.methods import make_method

        if not self.seeds:
            raise ValueError("seeds: give at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: {list(self.seeds)} repeats a seed")
        try:
            method = make_method(self.method, **self.method_params)
        except AlignlabError as err:
            raise ValueError(str(err)) from None
        if method.needs_mid and self.mid is None:
            raise ValueError(f"method {self.method!r} supervises through an intermediate model: set mid "
                             "(e.g. --mid smollm2-135m)")
        return self


def run_w2s(config: W2SConfig, runs_root=None, force: bool = False) -> RunRecord:
    """Run one experiment, or return its finished record (same config, same folder)."""
    from alignlab.store import find_run

    done = None if force else find_run("w2s", config.model_dump(mode="json"), runs_root)
    return done if done is not None else _run(config, runs_root)


def _run(config: W2SConfig, runs_root=None) -> RunRecord:
    from alignlab.data import load_task
    from alignlab.generalization._head import HeadLearner
    from alignlab.generalization._protocol import w2s_seeds
    from alignlab.generalization.methods import make_method
    from alignlab.store import write_run

    method = make_method(config.method, **config.method_params)  # fail fast on a bad name
    task, warnings = load_task(config.task).draw(config.n_examples, seed=0)
    features, layers, digests, sizes = {}, {}, {}, {}
    roles = ("weak", "strong") + (("mid",) if config.mid else ())
    for role in roles:
        features[role], layers[role], digests[role], sizes[role] = _features(getattr(config, role), task, config)
    if config.train == "finetune":
        from alignlab.generalization._finetune import FinetuneLearner

        texts = task.texts()
        learners = {role: FinetuneLearner(getattr(config, role), texts, features[role], config.finetune)
                    for role in ("weak", "strong")}
    else:
        learners = {role: HeadLearner(features[role], config.head) for role in ("weak", "strong")}
    result = w2s_seeds(learners["weak"], learners["strong"], task.labels, method, config.seeds,
                       min_gap=config.min_gap, mid_X=features.get("mid"), groups=task.group_keys())
    majority = float(max(task.labels.mean(), 1 - task.labels.mean()))
    below = _at_or_below_chance(result["summary"], majority)
    if below:  # no signal or no gap: a PGR here would be a confident wrong number
        result["summary"]["pgr"] = None
        result["summary"]["pgr_withheld"] = "; ".join(below)
    warnings += below
    result.update(task=task.name, task_fingerprint=task.fingerprint, n_examples=len(task), layers=layers,
                  n_params=sizes, majority_rate=majority, warnings=warnings)
    for warning in warnings:
        log.warning("%s", warning)
    return write_run("w2s", config.model_dump(mode="json"), result, root=runs_root,
                     env_extra={"model_digests": digests, "task_fingerprint": task.fingerprint})


def _at_or_below_chance(summary: dict, majority: float) -> list[str]:
    """Warnings for a weak supervisor or ceiling whose mean test accuracy is not above
    always answering the majority class: there is no signal to transfer or no gap to
    recover, and a PGR computed from it measures noise."""
    out = []
    for role, meaning in (("weak", "its labels carry no signal"), ("ceiling", "the strong model cannot learn the task")):
        value = summary[role]["value"]
        if value <= majority:
            out.append(f"{role} accuracy {value:.3f} is at or below the majority-class rate {majority:.3f}: {meaning}"
                       "; PGR is not reported")
    return out


# Features of (prepared weights, task, layer, pooling) already computed in this process:
# a sweep or benchmark runs many methods on the same features, and loading a model only
# to look its activations up in the cache took most of a cached run's time (1-10 s per
# model). Keyed by the prepared weights' sha256 and the compute dtype, so re-prepared
# weights (or another $ALIGNLAB_DTYPE) miss.
_FEATURES: dict[tuple, tuple] = {}
_FEATURES_MAX = 16


def _features(name: str, task, config: W2SConfig) -> tuple:
    """(features (n, d) float32, layer, weights digest, parameter count) of one model."""
    from alignlab.activations import task_activations
    from alignlab.models import REGISTRY, load_model, read_prepared, resolve_dtype

    prepared = read_prepared(name) if name in REGISTRY else None
    key = prepared and (prepared.weights_sha256, resolve_dtype("auto"), task.fingerprint, config.layer_fraction,
                        config.pooling)
    if key in _FEATURES:
        return _FEATURES[key]
    lm = load_model(name)
    layer = min(lm.n_layers - 1, int(round(config.layer_fraction * (lm.n_layers - 1))))
    acts = task_activations(lm, task, layers=[layer], pooling=config.pooling, progress=False)
    X = acts[:, 0].float().numpy()
    X.setflags(write=False)  # shared between runs: a method that writes to it fails loudly
    out = (X, layer, lm.digest, sum(p.numel() for p in lm.model.parameters()))
    if key:
        if len(_FEATURES) >= _FEATURES_MAX:
            _FEATURES.pop(next(iter(_FEATURES)))  # oldest first
        _FEATURES[key] = out
    return out
