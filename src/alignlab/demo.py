"""The demo job (``make demo``): where do real models represent a real label?

Prepare the default offline models, extract every layer's activations on a real task
(cached), fit a logistic probe per layer on a seeded split, and record a table and a
plot. It is the most complete job alignlab has until the full pipeline lands.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from alignlab.interpretability import LayerSweep
from alignlab.names import ModelRef, TaskName


class DemoConfig(BaseModel):
    """What the demo runs; every field has a default that works offline on a laptop."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: tuple[ModelRef, ...] = ("smollm2-135m", "gemma3-270m")
    """Registered model names, local folders or Hugging Face ids."""
    task: TaskName = "sarcasm"
    """A built-in task name or a .jsonl/.csv path."""
    n_examples: int = Field(1500, gt=10)
    """Examples drawn from the task (seeded); the rest are unused."""
    train_fraction: float = Field(2 / 3, gt=0, lt=1)
    """Share of the drawn examples used to fit each probe."""
    val_fraction: float = Field(1 / 6, gt=0, lt=1)
    """Share that chooses the best layer; the rest is the test split."""
    pooling: str = Field("mean", pattern="^(mean|last)$")
    """How token activations become one vector per text."""
    C: float = Field(0.1, gt=0)
    """Inverse L2 regularisation of the logistic probe (standardised features)."""
    seed: int = 0
    """Draws the examples and the split."""
    dtype: str = Field("auto", pattern="^(auto|bfloat16|float32|float16)$")
    """Inference dtype; ``auto`` is bf16 where the hardware runs it natively, else fp32."""


@dataclass(frozen=True)
class DemoResult:
    config: DemoConfig
    sweeps: dict[str, LayerSweep]
    run_dir: Path
    plot: Path


def run_demo(config: DemoConfig = DemoConfig(), runs_root: str | Path | None = None) -> DemoResult:
    """Run the probe-per-layer sweep for every model in ``config``; write a run record
    (config, environment, result) with the plot inside it."""
    import numpy as np

    from alignlab.activations import task_activations
    from alignlab.data import load_task
    from alignlab.interpretability import probe_layers
    from alignlab.models import load_model
    from alignlab.report import plot_layer_sweeps
    from alignlab.store import run_path, write_run

    task, warnings = load_task(config.task).draw(config.n_examples, seed=config.seed)
    test_fraction = 1 - config.train_fraction - config.val_fraction
    if test_fraction <= 0:
        raise ValueError("train_fraction + val_fraction must leave a test split")
    split = task.split(seed=config.seed, fractions=(config.train_fraction, config.val_fraction, test_fraction))
    sweeps, digests = {}, {}
    for name in config.models:
        lm = load_model(name, dtype=config.dtype)
        acts = task_activations(lm, task, layers=range(lm.n_layers), pooling=config.pooling)
        sweep = probe_layers(acts.float().numpy(), task.labels, split.train, split.test, C=config.C,
                             seed=config.seed, val=split.val)
        sweeps[name], digests[name] = sweep, lm.digest
        del lm, acts  # free the model before loading the next
    result = {
        "task": task.name, "task_fingerprint": task.fingerprint, "n_examples": len(task),
        "positive_rate": float(np.mean(task.labels)), "warnings": warnings,
        "sweeps": {name: s.as_dict() for name, s in sweeps.items()},
    }
    # The plot goes in first: result.json, written last, marks the run as finished.
    run_dir = run_path("probe-sweep", config.model_dump(mode="json"), runs_root)
    plot = plot_layer_sweeps(sweeps, run_dir / "probe_accuracy_by_layer.png",
                             title=f"Probe accuracy per layer on {config.task} (95% Wilson CI)")
    record = write_run("probe-sweep", config.model_dump(mode="json"), result, root=runs_root,
                       env_extra={"model_digests": digests, "task_fingerprint": task.fingerprint})
    return DemoResult(config, sweeps, record.path, plot)
