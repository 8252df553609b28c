"""Names in configs, resolved when a config is validated, before any work starts.

A task, model, transfer method, detector or organism named in a spec or on the command
line is looked up in its registry as the config is built, so a typo (``task: sarcsm``)
ends in one line listing the valid choices instead of a traceback twenty minutes in.
Use the annotated types as config field types::

    class MyConfig(BaseModel):
        task: TaskName = "sarcasm"
        weak: ModelRef = "smollm2-135m"

pydantic does not validate defaults, so importing a config class stays cheap; the
registries (some import torch) load only when a value is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator


def _choices(names) -> str:
    return ", ".join(sorted(names))


def check_task(name: str) -> str:
    """A built-in task name, or an existing .jsonl/.csv file whose header (or first JSON
    object) has the columns its reference maps (``path?text=COL&label=COL&group=COL``)."""
    import alignlab.data._builtin  # noqa: F401  (registers the built-ins)
    from alignlab.data._files import check_task_file, is_task_file
    from alignlab.data._registry import TASKS
    from alignlab.errors import DataError

    if name in TASKS:
        return name
    if is_task_file(name):
        path = name.partition("?")[0]
        if not Path(path).expanduser().is_file():
            raise ValueError(f"task file {path!r} does not exist (relative to {Path.cwd()})")
        try:
            check_task_file(name)
        except DataError as err:
            raise ValueError(str(err)) from None
        return name
    raise ValueError(f"unknown task {name!r}; built-in tasks: {_choices(TASKS)}; "
                     "or a .jsonl/.csv file with 'text' and 'label' columns (path?text=COL&label=COL maps others)")


def check_model(ref: str) -> str:
    """A registered model, a ``tiny-*`` test model, an existing local folder, or a Hugging
    Face id (``org/name``; offline, only one in the hub cache). The rule is
    ``alignlab.models.model_reference``'s: a path that does not exist is reported as a
    missing folder, never tried as a hub id."""
    from alignlab.errors import AlignlabError
    from alignlab.models._load import model_reference

    try:
        kind, _ = model_reference(ref)
    except AlignlabError as err:
        raise ValueError(str(err)) from None
    if kind == "hub" and _offline() and not _in_hub_cache(ref):
        raise ValueError(f"model {ref!r} is neither a local folder (./{ref} does not exist) nor a Hugging Face "
                         "id in the offline hub cache; `alignlab models list` shows the models shipped offline")
    return ref


def _offline() -> bool:
    import os

    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _in_hub_cache(repo_id: str) -> bool:
    """Whether the hub cache holds ``repo_id``'s config (offline, nothing else can load)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # noqa: BLE001 — a malformed id or an unreadable cache: not loadable
        return False


def check_method(name: str) -> str:
    """A registered weak-to-strong transfer method."""
    from alignlab.generalization.methods import known_methods

    methods = known_methods()
    if name not in methods:
        raise ValueError(f"unknown transfer method {name!r}; known: {_choices(methods)}")
    return name


def check_detector(name: str) -> str:
    """A registered detector."""
    from alignlab.adversarial.detectors import DETECTORS

    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; known: {_choices(DETECTORS)}")
    return name


def check_organism(ref: str) -> str:
    """A built-in organism or an existing organism spec .yaml file."""
    from alignlab.adversarial._registry import ORGANISMS

    if ref in ORGANISMS:
        return ref
    if ref.endswith((".yaml", ".yml")):
        if not Path(ref).expanduser().is_file():
            raise ValueError(f"organism spec file {ref!r} does not exist (relative to {Path.cwd()})")
        return ref
    raise ValueError(f"unknown organism {ref!r}; built-in: {_choices(ORGANISMS)}; or a spec .yaml file")


TaskName = Annotated[str, AfterValidator(check_task)]
ModelRef = Annotated[str, AfterValidator(check_model)]
MethodName = Annotated[str, AfterValidator(check_method)]
DetectorName = Annotated[str, AfterValidator(check_detector)]
OrganismRef = Annotated[str, AfterValidator(check_organism)]
