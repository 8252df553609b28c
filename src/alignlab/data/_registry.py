"""The task registry: built-in tasks by name, and files by path."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from alignlab.data._task import Task
from alignlab.errors import UnknownNameError
from alignlab.protocol import Registry


@dataclass(frozen=True)
class TaskEntry:
    """A built-in task: what ``tasks list`` shows, and the loader (calling the entry loads
    the task; it is the factory the registry holds)."""

    name: str
    description: str
    package: str
    """The package that ships the data, for `tasks list` and install hints."""
    factory: Callable[[], Task]

    def __call__(self) -> Task:
        return self.factory()


TASKS: Registry[Task] = Registry("task")
"""Every built-in task by name (``alignlab.data._builtin`` registers them)."""


def register_task(name: str, description: str, package: str):
    """Register a zero-argument task factory under ``name`` (duplicates raise)."""

    def decorate(factory: Callable[[], Task]) -> Callable[[], Task]:
        TASKS.register(name, TaskEntry(name, description, package, functools.cache(factory)), description=description)
        return factory

    return decorate


def load_task(name: str) -> Task:
    """A built-in task by name, or a user task from a ``.jsonl``/``.csv`` file reference
    (``path`` with columns ``text`` and ``label``, or ``path?text=COL&label=COL&group=COL``;
    see ``alignlab.data._files``)."""
    import alignlab.data._builtin  # noqa: F401  (registers the built-ins)
    from alignlab.data._files import is_task_file, load_task_file

    if name in TASKS:
        return TASKS.create(name)
    if is_task_file(name):
        return load_task_file(name)
    raise UnknownNameError(
        f"unknown task {name!r}. Built-in tasks: {', '.join(sorted(TASKS))}; "
        "or pass a .jsonl/.csv file with 'text' and 'label' columns (path?text=COL&label=COL maps others)."
    )


def list_tasks() -> list[TaskEntry]:
    import alignlab.data._builtin  # noqa: F401

    return [TASKS[name] for name in TASKS.names()]
