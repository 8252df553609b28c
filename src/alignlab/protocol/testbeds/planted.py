"""``planted``: find a direction planted in Gaussian data from a few labelled rows.

The protocol's smallest testbed (and the template for new ones): labels are the sign of
a secret direction plus noise; the Problem holds labelled train rows and unlabelled test
rows; the secret is the test labels. Primary metric: test accuracy, beside the majority
class a shortcut would get.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from alignlab.protocol import Metric, Problem, Registry, Scores, Submission
from alignlab.protocol.testbeds import TESTBEDS
from alignlab.stats import wilson

VARIANTS: Registry = Registry("planted variant")


class PlantedConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    n_train: int = Field(40, ge=2)
    n_test: int = Field(400, ge=1)
    d: int = Field(16, ge=1)
    noise: float = Field(0.5, ge=0)
    """Label noise: std of the Gaussian added to the projection before its sign."""


@TESTBEDS.register("planted", description="a direction planted in Gaussian data (the protocol's toy)")
class Planted:
    Config, variants, baseline_variant, tiny_config = PlantedConfig, VARIANTS, "random", {}

    def open(self, config: PlantedConfig, seed: int, problem: Problem) -> np.ndarray:
        rng = np.random.default_rng([seed, 7])
        w = rng.normal(size=config.d)
        X = rng.normal(size=(config.n_train + config.n_test, config.d))
        y = (X @ w / np.linalg.norm(w) + config.noise * rng.normal(size=len(X)) > 0).astype(int)
        problem.write_array("X_train", X[:config.n_train])
        problem.write_array("y_train", y[:config.n_train])
        problem.write_array("X_test", X[config.n_train:])
        problem.write_json("items", list(range(config.n_test)))  # what a submission answers, in order
        return y[config.n_train:]

    def score(self, config: PlantedConfig, y_test: np.ndarray, submission: Submission, seed: int) -> Scores:
        p = np.asarray(submission.predictions, dtype=float)
        failed = ~np.isfinite(p)
        correct = (~failed) & ((p > 0.5) == (y_test == 1))
        majority = wilson(int((y_test == int(y_test.mean() >= 0.5)).sum()), len(y_test))
        metrics = {"accuracy": Metric(**wilson(int(correct.sum()), len(y_test)).as_dict()),
                   "majority": Metric(**majority.as_dict())}
        return Scores(testbed="planted", seed=seed, metrics=metrics, primary="accuracy", baseline="majority",
                      failures=int(failed.sum()), n_items=len(y_test))


@VARIANTS.register("mean_diff")
class MeanDiff:
    """Project on the difference of the class means of the labelled rows."""

    def __init__(self, shrink: float = 0.0):
        self.shrink = shrink

    def solve(self, problem: Problem, seed: int) -> Submission:
        X, y = problem.array("X_train"), problem.array("y_train")
        w = X[y == 1].mean(0) - X[y == 0].mean(0)
        w = (1 - self.shrink) * w + self.shrink * np.ones_like(w) / np.sqrt(len(w))
        return Submission(predictions=(1 / (1 + np.exp(-problem.array("X_test") @ w))).tolist())


@VARIANTS.register("random")
class RandomDirection:
    """Project on a random direction: the floor any method must beat."""

    def solve(self, problem: Problem, seed: int) -> Submission:
        X = problem.array("X_test")
        w = np.random.default_rng(seed).normal(size=X.shape[1])
        return Submission(predictions=(X @ w > 0).astype(float).tolist())
