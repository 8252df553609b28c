"""The experiment protocol's types: what a variant may see (``Problem``), what it hands
back (``Submission``), and what the evaluator says of it (``Scores``).

    Testbed.open(config, seed, problem) ─► Problem files (no labels) + the evaluator's secret
    Variant.solve(problem, seed)        ─► Submission (one prediction per item)
    Testbed.score(config, secret, sub)  ─► Scores (metrics with n and CI, primary, baseline)

A ``Problem`` is a folder of plain files (``.npy`` arrays, ``.json``), so a variant in
another process — or another language — reads it without alignlab's objects. The
secret (labels, triggers) never enters that folder: the trial keeps it in the trusted
process's memory, and only that process scores (``_trial``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


OUT = "out"
"""The Problem's sub-folder where a variant writes the files its Submission names."""


class Problem:
    """A folder of plain files describing one problem instance."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    @property
    def out(self) -> Path:
        """Where a variant writes its artifacts (created on first use)."""
        path = self.folder / OUT
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write_array(self, name: str, array: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        np.save(self.folder / f"{name}.npy", np.asarray(array), allow_pickle=False)

    def array(self, name: str) -> np.ndarray:
        """A fresh array from the file, read-only: a variant cannot change what it shares."""
        out = np.load(self.folder / f"{name}.npy", allow_pickle=False)
        out.setflags(write=False)
        return out

    def write_json(self, name: str, data: Any) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{name}.json").write_text(json.dumps(data, indent=2))

    def json(self, name: str) -> Any:
        return json.loads((self.folder / f"{name}.json").read_text())

    def files(self) -> list[str]:
        return sorted(p.name for p in self.folder.iterdir()) if self.folder.is_dir() else []


class Submission(BaseModel):
    """A variant's answer: one prediction (a score or a probability) per item, in the
    Problem's item order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    predictions: list[float]
    notes: dict[str, Any] = Field(default_factory=dict)
    """What the variant reports beyond its predictions (a search's best candidates, a
    fitted threshold): JSON, saved with the run, never scored."""
    artifacts: dict[str, str] = Field(default_factory=dict)
    """Files the evaluator scores instead of (or beside) predictions, e.g. a trained
    sparse autoencoder: name -> path under the Problem's ``out/`` folder (``OUT``), the
    one place a variant writes. The trial checks each path stays inside ``out/`` and is
    no link, then hands the evaluator absolute paths; the run keeps the files."""


class Metric(BaseModel):
    """An estimate with its denominator and interval (``lo``/``hi`` None: no interval)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: float | None
    lo: float | None = None
    hi: float | None = None
    n: int
    level: float = 0.95
    method: str = ""


class Scores(BaseModel):
    """What the evaluator says of one submission: typed, so no consumer guesses which
    values are metrics."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    testbed: str
    seed: int
    metrics: dict[str, Metric]
    primary: str
    """The headline metric: the one a search optimises."""
    direction: Literal["higher", "lower"] = "higher"
    baseline: str | None = None
    """The metric the primary is compared with (a shortcut a variant must beat)."""
    failures: int = Field(0, ge=0)
    """Items the variant gave no usable answer for (counted as wrong, never dropped)."""
    n_items: int = Field(ge=0)

    @model_validator(mode="after")
    def _named(self) -> Scores:
        for name in (self.primary, self.baseline):
            if name is not None and name not in self.metrics:
                raise ValueError(f"{name!r} is not one of the metrics {sorted(self.metrics)}")
        return self


class Variant(Protocol):
    """A method under test: maps a Problem to a Submission, seeing nothing else."""

    def solve(self, problem: Problem, seed: int) -> Submission:
        ...


class Testbed(Protocol):
    """A family of problems with a sealed evaluator."""

    Config: type[BaseModel]
    variants: Any
    """A ``Registry`` of the variants built for this testbed (users add their own)."""
    baseline_variant: str
    """The variant every other is compared with (a shortcut or the floor)."""
    tiny_config: dict[str, Any]
    """Config fields for a seconds-long instance (tiny random models): what the
    conformance test opens. ``{}`` where the defaults are already cheap."""
    artifacts: tuple[str, ...]
    """Optional (default ``()``): the files a submission must name (``Submission.artifacts``)
    for the evaluator to score it — a testbed that scores a trained model, not
    per-item predictions, has no items and names its artifact here."""

    def open(self, config: BaseModel, seed: int, problem: Problem) -> Any:
        """Write the problem's files (no labels) and return the evaluator's secret, which
        stays in the trusted process."""
        ...

    def score(self, config: BaseModel, secret: Any, submission: Submission, seed: int) -> Scores:
        """Score a submission against the secret."""
        ...

    # Optional: ``cells = {"search": [params, ...], "heldout": [params, ...]}``, named
    # instances of the config: a researcher searches on the first and a finding is
    # confirmed on the second, which the search never scored (``alignlab testbeds show``).
    # Optional: ``reveal(config, secret, submission) -> dict``, what the evaluator puts in
    # the trial's record once the variant's worker is gone (which subject was the
    # organism; per-item correctness for aggregating seeds). Records are hidden from
    # variants by the sandbox; an evaluator service must not serve them to a proposer.
