"""Contrast pairs: every example completed with each of its template's two choices.

Burns et al. (2022) probe a model on pairs (x⁻, x⁺): the same statement or question
completed as false/no and as true/yes. The pair is built by the task's own template —
``template.format`` followed by ``template.choices[k]`` — so a method never writes a
prompt itself, and the same texts are what the zero-shot baseline scores.

Each side is returned as a derived ``Task`` whose template ends with that choice: its
fingerprint differs from the original's, so both sides are cached by
``task_activations`` like any other task and a rerun does no model work.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alignlab.data._task import Task, Template
from alignlab.errors import DataError


def _escape(text: str) -> str:
    # Literal text spliced into a str.format pattern must not be read as a field.
    return text.replace("{", "{{").replace("}", "}}")


def _choices(task: Task) -> tuple[str, str]:
    if task.template.choices is None:
        raise DataError(f"task {task.name!r} has no template choices, so it has no contrast pairs; "
                        "give its Template choices=(label-0 completion, label-1 completion)")
    return task.template.choices


def contrast_tasks(task: Task) -> tuple[Task, Task]:
    """The two sides of ``task``'s contrast pairs: (completed with choice 0, with choice 1).

    Row i of each side is example i of ``task``; labels are unchanged (1 means the
    choice-1 completion is the correct one).
    """
    choices = _choices(task)
    sides = []
    for k, choice in enumerate(choices):
        template = Template(format=task.template.format + _escape(choice), choices=None)
        sides.append(Task(f"{task.name}+choice{k}", task.examples, template, task.kind,
                          task.description, task.source))
    return sides[0], sides[1]


def misleading_prefix(task: Task, pool: Sequence[int] | np.ndarray, k: int = 4, seed: int = 0) -> Task:
    """``task`` with a preamble of ``k`` examples answered wrongly before every prompt.

    The preamble examples are drawn (seeded) from ``pool`` — pass training indices so
    no evaluated item appears in its own prompt — and each is rendered with the choice
    of the *opposite* label, as in Burns et al.'s misleading-prefix experiment. The
    returned task keeps every example (rows unchanged) and has its own name and
    fingerprint.
    """
    choices = _choices(task)
    pool = np.asarray(pool, dtype=np.int64)
    if k < 1 or len(pool) < k:
        raise DataError(f"misleading_prefix: need 1 <= k <= len(pool), got k={k}, len(pool)={len(pool)}")
    picked = np.random.default_rng(seed).choice(pool, size=k, replace=False)
    shots = []
    for i in picked:
        ex = task.examples[int(i)]
        if ex.label is None:
            raise DataError(f"task {task.name!r} example {i} is unlabelled; a misleading shot needs a label")
        shots.append(task.template.render(ex) + choices[1 - ex.label])
    preamble = "\n\n".join(shots) + "\n\n"
    template = Template(format=_escape(preamble) + task.template.format, choices=task.template.choices)
    return Task(f"{task.name}+misleading{k}@{seed}", task.examples, template, task.kind,
                task.description, task.source)
