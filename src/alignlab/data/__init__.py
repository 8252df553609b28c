"""Tasks: labelled datasets, prompt templates, fingerprints and seeded splits.

    >>> from alignlab.data import load_task
    >>> task = load_task("sarcasm")
    >>> splits = task.split(seed=0)              # disjoint, deterministic
    >>> texts = task.texts(splits.train)         # rendered by the task's template
"""

from alignlab.data._contrast import contrast_tasks, misleading_prefix
from alignlab.data._corpus import Corpus, text_corpus
from alignlab.data._files import task_from_file
from alignlab.data._registry import TASKS, list_tasks, load_task, register_task
from alignlab.data._task import Example, Splits, Task, Template

__all__ = [
    "TASKS", "Corpus", "Example", "Splits", "Task", "Template",
    "contrast_tasks", "list_tasks", "load_task", "misleading_prefix", "register_task",
    "task_from_file", "text_corpus",
]
