"""``run_w2s``: weak-to-strong on real models and a real task, as a recorded run.

Features are one layer's pooled activations of each model, from the activation cache.
The layer is fixed by relative depth (``layer_fraction``), not chosen on labels, so no
ground truth leaks into the student's setup.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from alignlab.store import RunRecord


class W2SConfig(BaseModel):
    """One weak-to-strong experiment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weak: str = "smollm2-135m"
    """The weak supervisor's model."""
    strong: str = "gemma3-270m"
    """The student's (and ceiling's) model."""
    mid: str | None = None
    """An intermediate model, for methods that supervise through one (bootstrap)."""
    task: str = "sarcasm"
    """A built-in binary task or a .jsonl/.csv path."""
    method: str = "aux_conf"
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


def run_w2s(config: W2SConfig, runs_root=None, force: bool = False) -> RunRecord:
    """Run one experiment, or return its finished record (same config, same folder)."""
    from alignlab.store import find_run

    done = None if force else find_run("w2s", config.model_dump(mode="json"), runs_root)
    return done if done is not None else _run(config, runs_root)


def sweep_w2s(
    tasks: list[str], pairs: list[tuple[str, str]], methods: list[str], seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
    n_examples: int = 2000, mid: dict[tuple[str, str], str] | None = None, runs_root=None,
) -> list[RunRecord]:
    """Every task x (weak, strong) pair x method; finished runs are reused, so an
    interrupted sweep resumes where it stopped. ``bootstrap`` runs only for pairs
    that have a mid model in ``mid``."""
    records = []
    for task in tasks:
        for weak, strong in pairs:
            for method in methods:
                between = (mid or {}).get((weak, strong))
                if method == "bootstrap" and between is None:
                    continue
                config = W2SConfig(weak=weak, strong=strong, mid=between if method == "bootstrap" else None,
                                   task=task, method=method, seeds=seeds, n_examples=n_examples)
                records.append(run_w2s(config, runs_root))
    return records


def _run(config: W2SConfig, runs_root=None) -> RunRecord:
    from alignlab.activations import task_activations
    from alignlab.data import load_task
    from alignlab.generalization._protocol import w2s_seeds
    from alignlab.generalization.methods import make_method
    from alignlab.models import load_model
    from alignlab.store import write_run

    method = make_method(config.method, **config.method_params)  # fail fast on a bad name
    task = load_task(config.task).subset(config.n_examples, seed=0)
    features, layers, digests = {}, {}, {}
    roles = ("weak", "strong") + (("mid",) if config.mid else ())
    for role in roles:
        lm = load_model(getattr(config, role))
        layer = min(lm.n_layers - 1, int(round(config.layer_fraction * (lm.n_layers - 1))))
        acts = task_activations(lm, task, layers=[layer], pooling=config.pooling, progress=False)
        features[role], layers[role], digests[role] = acts[:, 0].float().numpy(), layer, lm.digest
        del lm
    result = w2s_seeds(features["weak"], features["strong"], task.labels, method, config.seeds,
                       min_gap=config.min_gap, mid_X=features.get("mid"))
    result.update(task=task.name, task_fingerprint=task.fingerprint, n_examples=len(task), layers=layers)
    return write_run("w2s", config.model_dump(mode="json"), result, root=runs_root,
                     env_extra={"model_digests": digests, "task_fingerprint": task.fingerprint})
