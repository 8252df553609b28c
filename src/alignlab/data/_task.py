"""Tasks: labelled examples, a prompt template, a fingerprint, and seeded splits.

A task owns its template: methods ask the task to render text (``task.texts()``) and
never format prompts themselves, so changing a prompt is a change to the task — and to
its fingerprint, which keys every cached activation computed from it.
"""

from __future__ import annotations

import functools
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from alignlab.errors import DataError
from alignlab.store import stable_hash

TaskKind = Literal["binary", "preference", "code"]


class Example(BaseModel):
    """One labelled item."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    """The item's content; the template's ``{text}`` field."""
    label: int | None = None
    """1 = positive / true / preferred, 0 = negative; None for unlabelled (code) tasks."""
    group: str | None = None
    """Items sharing a group (the true and false variant of one fact, the answers to one
    question) always land in the same split, so no fact leaks from train to test."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Extra fields, usable in the template as ``{name}``."""


class Template(BaseModel):
    """How an example becomes model input."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = "{text}"
    """A ``str.format`` pattern over ``text`` and the example's meta fields."""
    choices: tuple[str, str] | None = None
    """Completions that mean label 0 and label 1 (for zero-shot scoring and contrast
    pairs), e.g. (" No", " Yes")."""

    @model_validator(mode="after")
    def _check_format(self) -> Template:
        fields = {f for _, f, _, _ in string.Formatter().parse(self.format) if f}
        if not fields:
            raise ValueError(f"template {self.format!r} uses no field; include {{text}}")
        return self

    def render(self, example: Example) -> str:
        try:
            return self.format.format(text=example.text, **example.meta)
        except KeyError as err:
            raise DataError(f"template {self.format!r} needs field {err} missing from an example") from None


@dataclass(frozen=True)
class Splits:
    """Disjoint index arrays into a task's examples."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "val": self.val, "test": self.test}


@dataclass(frozen=True, eq=False)
class Task:
    """A named, fingerprinted collection of examples with its prompt template."""

    name: str
    examples: tuple[Example, ...]
    template: Template = Template()
    kind: TaskKind = "binary"
    description: str = ""
    source: str = ""
    """Where the data came from (package and path), for provenance."""

    def __post_init__(self) -> None:
        if not self.examples:
            raise DataError(f"task {self.name!r} has no examples")

    def __len__(self) -> int:
        return len(self.examples)

    @functools.cached_property
    def fingerprint(self) -> str:
        """Hash of name, template, kind and every example: any change, a new key."""
        return stable_hash(
            {"name": self.name, "kind": self.kind, "template": self.template,
             "examples": [e.model_dump() for e in self.examples]},
            length=16,
        )

    @functools.cached_property
    def labels(self) -> np.ndarray:
        if any(e.label is None for e in self.examples):
            raise DataError(f"task {self.name!r} ({self.kind}) has unlabelled examples")
        return np.array([e.label for e in self.examples], dtype=np.int64)

    def texts(self, indices: Sequence[int] | np.ndarray | None = None) -> list[str]:
        """The rendered model inputs, in order (all examples or ``indices``)."""
        items = self.examples if indices is None else [self.examples[i] for i in indices]
        return [self.template.render(e) for e in items]

    def with_template(self, template: Template) -> Task:
        return Task(self.name, self.examples, template, self.kind, self.description, self.source)

    def subset(self, n: int, seed: int = 0) -> Task:
        """``n`` examples drawn without replacement (whole groups kept together when
        groups exist), order preserved; named so its fingerprint differs."""
        if n >= len(self):
            return self
        keys = self.group_keys()
        sizes = Counter(keys)
        unique = list(sizes)  # insertion order: deterministic
        chosen, count = set(), 0
        for g in np.random.default_rng(seed).permutation(len(unique)):
            if count >= n:
                break
            chosen.add(unique[g])
            count += sizes[unique[g]]
        examples = tuple(e for e, k in zip(self.examples, keys) if k in chosen)
        return Task(f"{self.name}[{n}@{seed}]", examples, self.template, self.kind,
                    self.description, self.source)

    def draw(self, n: int, seed: int = 0, what: str = "examples") -> tuple[Task, list[str]]:
        """``subset(n, seed)`` for an experiment: refuses a draw with fewer than two
        classes (a one-class task scores every role 1.000 and measures nothing), and
        returns warnings for what it can run on, such as fewer ``what`` than asked (the
        run's record holds how many it used)."""
        drawn = self.subset(n, seed=seed)
        labels = drawn.labels
        classes = np.unique(labels)
        if len(classes) < 2:
            raise DataError(f"task {self.name!r} has only one class (label {int(classes[0]) if len(classes) else '-'})"
                            f" among the {len(drawn)} {what} drawn: every accuracy would be 1.000 and mean nothing;"
                            " use a task with both labels")
        warnings = []
        if n > len(self):
            warnings.append(f"asked for {n} {what}, task {self.name!r} has {len(self)}: used all {len(self)}")
        return drawn, warnings

    @property
    def n_groups(self) -> int:
        """Distinct groups (an ungrouped example is its own group)."""
        return len(set(self.group_keys()))

    def group_keys(self) -> list[str]:
        """Each example's group (an ungrouped example is its own group, ``#index``)."""
        return [e.group if e.group is not None else f"#{i}" for i, e in enumerate(self.examples)]

    def split(self, seed: int = 0, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)) -> Splits:
        """Deterministic train/val/test split by group: same seed, same split; no group
        straddles two parts."""
        if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
            raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
        keys = self.group_keys()
        unique = list(dict.fromkeys(keys))
        if len(unique) < 3:
            raise DataError(f"task {self.name!r} has {len(unique)} groups; a split needs at least 3")
        perm = np.random.default_rng(seed).permutation(len(unique))
        n_train = int(round(fractions[0] * len(unique)))
        n_val = int(round(fractions[1] * len(unique)))
        part = np.empty(len(unique), dtype=np.int64)
        part[perm[:n_train]], part[perm[n_train:n_train + n_val]], part[perm[n_train + n_val:]] = 0, 1, 2
        where = {g: part[i] for i, g in enumerate(unique)}
        owner = np.array([where[k] for k in keys])
        splits = Splits(*(np.flatnonzero(owner == p) for p in range(3)))
        for name, idx in splits.as_dict().items():
            if idx.size == 0 and fractions[("train", "val", "test").index(name)] > 0:
                raise DataError(f"task {self.name!r}: the {name} split is empty; use a larger task")
        return splits
