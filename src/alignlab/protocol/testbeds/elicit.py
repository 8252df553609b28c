"""``elicit``: truth probes as a protocol testbed — the probe is the variant, the layer
choice belongs to the evaluator.

``open`` extracts contrast activations (each item completed with both answer choices)
at the probed layers, exactly as the ``elicit`` run kind does (same items, split and
cache). The Problem holds the train, val and test activations and the train labels a
probe may use: all of them (``train_labels: all``, the supervised setting) or only
``sign_labels`` seeded ones, the rest -1 (the unsupervised setting: CCS, CRC). A variant
answers every (layer, item) of val and test; the evaluator picks the layer with the
best *validation* accuracy (ties: the shallower) and scores test accuracy there, with a
cluster bootstrap over the task's groups — so no variant can pick its layer on test.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from alignlab.names import ModelRef, TaskName
from alignlab.protocol import Metric, Problem, Registry, Scores, Submission
from alignlab.protocol.testbeds import TESTBEDS

VARIANTS: Registry = Registry("elicit variant")


class ElicitTestbedConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: ModelRef = "gemma3-270m"
    task: TaskName = "capitals"
    n_items: int = Field(600, ge=10)
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    layer_stride: int = Field(1, ge=1)
    pooling: Literal["last", "mean"] = "last"
    max_length: int = Field(512, ge=8)
    train_labels: Literal["all", "sign"] = "all"
    sign_labels: int = Field(8, ge=0)
    """With ``train_labels: sign``: how many train labels the Problem reveals."""


@TESTBEDS.register("elicit", description="truth probes: a probe per layer; the evaluator picks the layer on val")
class Elicit:
    Config, variants, baseline_variant = ElicitTestbedConfig, VARIANTS, "probe"
    tiny_config = {"model": "tiny-llama", "n_items": 40, "layer_stride": 2}

    def open(self, config: ElicitTestbedConfig, seed: int, problem: Problem) -> dict[str, Any]:
        from alignlab.data import load_task
        from alignlab.interpretability._elicit import ElicitConfig, _pairs, _probe_layers, _sign_mask
        from alignlab.models import load_model

        task, _ = load_task(config.task).draw(config.n_items, seed=seed, what="items")
        split = task.split(seed=seed, fractions=config.fractions)
        lm = load_model(config.model)
        as_elicit = ElicitConfig(model=config.model, task=config.task, pooling=config.pooling,
                                 max_length=config.max_length, layer_stride=config.layer_stride)
        layers = _probe_layers(as_elicit, lm.n_layers)
        acts = _pairs(lm, task, as_elicit)[:, :, layers]  # (n, 2, n_probed, d)
        y = task.labels
        shown = y[split.train] if config.train_labels == "all" else _sign_mask(y, split.train, config.sign_labels, seed)
        for part in ("train", "val", "test"):
            problem.write_array(f"acts_{part}", acts[getattr(split, part)])
        problem.write_array("y_train", shown)
        problem.write_json("layers", layers)
        rows = [("val", i) for i in range(len(split.val))] + [("test", i) for i in range(len(split.test))]
        problem.write_json("items", [{"layer": layer, "part": part, "row": i} for layer in layers for part, i in rows])
        groups = np.array(task.group_keys())
        return {"layers": layers, "y_val": y[split.val], "y_test": y[split.test], "g_val": groups[split.val],
                "g_test": groups[split.test]}

    def score(self, config: ElicitTestbedConfig, secret: dict, submission: Submission, seed: int) -> Scores:
        from alignlab.stats import accuracy_ci

        n_val, n_test, layers = len(secret["y_val"]), len(secret["y_test"]), secret["layers"]
        p = np.asarray(submission.predictions, dtype=float).reshape(len(layers), n_val + n_test)
        correct = np.isfinite(p) & ((p > 0.5) == (np.concatenate([secret["y_val"], secret["y_test"]]) == 1))
        val = [accuracy_ci(c[:n_val], secret["g_val"]).value for c in correct]
        best = int(np.argmax(val))  # the first maximum: ties go to the shallower layer
        y_test = secret["y_test"]
        majority = (y_test == int(y_test.mean() >= 0.5)).astype(float)
        metrics = {"test": Metric(**accuracy_ci(correct[best, n_val:], secret["g_test"], seed=seed).as_dict()),
                   "val": Metric(**accuracy_ci(correct[best, :n_val], secret["g_val"], seed=seed).as_dict()),
                   "majority": Metric(**accuracy_ci(majority, secret["g_test"], seed=seed).as_dict()),
                   "layer": Metric(value=float(layers[best]), n=len(layers), method="chosen on validation")}
        return Scores(testbed="elicit", seed=seed, metrics=metrics, primary="test", baseline="majority",
                      failures=int((~np.isfinite(p)).sum()), n_items=p.size)


@VARIANTS.register("probe")
class Probe:
    """A registered truth probe (``logistic``, ``mass_mean``, ``ccs``, ``crc``) fitted at
    every layer on the train rows, with the labels the Problem reveals (unsupervised
    probes get the -1-masked array and use the shown ones only for the sign)."""

    def __init__(self, method: str = "logistic", params: dict | None = None):
        self.method, self.params = method, dict(params or {})

    def solve(self, problem: Problem, seed: int) -> Submission:
        from alignlab.interpretability._elicit import PROBES, UNSUPERVISED
        from alignlab.threads import torch_threads

        y, train = problem.array("y_train"), problem.array("acts_train")
        held = {part: problem.array(f"acts_{part}") for part in ("val", "test")}
        takes_seed = "random_state" in PROBES.get(self.method).params_model().model_fields
        params = {"random_state": seed, **self.params} if takes_seed else self.params
        answers = []
        with torch_threads(1):  # many small fits: one thread is fastest (alignlab.threads), as in elicit
            for k in range(len(problem.json("layers"))):
                X = train[:, :, k]
                try:
                    probe = PROBES.create({"name": self.method, "params": params})
                    probe = probe.fit(X, y) if self.method in UNSUPERVISED else probe.fit(X[y >= 0], y[y >= 0])
                    answers += [float(x) for part in ("val", "test") for x in probe.predict(held[part][:, :, k])]
                except (ValueError, np.linalg.LinAlgError):  # a layer that cannot be fitted: its answers fail
                    answers += [float("nan")] * (len(held["val"]) + len(held["test"]))
        return Submission(predictions=answers)
