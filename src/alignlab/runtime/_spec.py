"""Specs: a kind, its config and an optional sweep, as YAML.

    kind: w2s                 # any registered kind (alignlab run --help lists them)
    task: sarcasm             # the config's fields; omitted ones take their defaults
    method: conf_filter
    sweep:                    # optional: every combination is one run
      method: [xent, conf_filter]

A run folder's ``config.yaml`` is itself a spec (``kind`` plus the resolved config), so
``alignlab run runs/<id>/config.yaml`` reproduces a run. ``sweep.seed`` over a config
with a ``seed`` field is the usual way to put seeds on the outside of a run; the sweep's
record then aggregates each headline number to a mean with a t-interval across seeds.

A file may hold several specs as YAML documents separated by ``---``; its runs are the
union of theirs (``load_specs``). That is how a campaign whose runs are not one product
of axes is written — a grid per model pair, plus the cells only some pairs have:

    kind: w2s
    weak: minilm-l6
    sweep: {strong: [smollm2-135m, gemma3-270m], method: [xent, conf_filter]}
    ---
    kind: w2s
    weak: minilm-l6
    strong: gemma3-270m
    mid: smollm2-135m
    method: bootstrap
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignlab.errors import DataError


class SpecError(DataError):
    """A spec that cannot be read or validated; the message names the field."""


@dataclass(frozen=True)
class Job:
    """One run: what the executors ship to a worker (plain, picklable data)."""

    kind: str
    config: dict[str, Any]
    root: str
    force: bool = False
    """Run again though a finished record exists (the new result replaces it when done)."""


@dataclass(frozen=True)
class Spec:
    kind: str
    config: Any
    """The validated base config (a pydantic model of the kind's config class)."""
    sweep: dict[str, list[Any]] = field(default_factory=dict)
    """Field -> values; the runs are the product of the axes (one run when empty)."""

    def __post_init__(self) -> None:
        # Plain JSON values (tuples as lists), so a spec equals itself read back from YAML.
        from alignlab.store._hashing import _default

        object.__setattr__(self, "sweep", json.loads(json.dumps(dict(self.sweep), default=_default)))

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, **self.config.model_dump(mode="json")}
        if self.sweep:
            out["sweep"] = {k: list(v) for k, v in self.sweep.items()}
        return out

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def configs(self) -> list[tuple[dict[str, Any], Any]]:
        """(axis values, validated config) for every run of the sweep, in order."""
        if not self.sweep:
            return [({}, self.config)]
        names = list(self.sweep)
        out = []
        for values in itertools.product(*(self.sweep[n] for n in names)):
            axes = dict(zip(names, values))
            out.append((axes, _validate(type(self.config), {**self.config.model_dump(mode="json"), **axes},
                                        where="sweep")))
        return out

    def jobs(self, root: str | Path | None = None, force: bool = False) -> list[Job]:
        from alignlab.paths import runs_dir

        root = str(Path(root or runs_dir()).resolve())
        return [Job(self.kind, cfg.model_dump(mode="json"), root, force) for _, cfg in self.configs()]


def _validate(cls: type, data: dict[str, Any], where: str = ""):
    """``cls.model_validate(data)`` with errors that name the field path, the expected
    type and the value given."""
    from pydantic import ValidationError

    try:
        return cls.model_validate(data)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            loc = ".".join(str(p) for p in e["loc"]) or "config"
            if where:
                loc = f"{loc} (in {where})"
            given = "" if e["type"] == "missing" else f", got {e.get('input')!r}"
            problems.append(f"{loc}: {e['msg'].removeprefix('Value error, ')}{given}")
        raise SpecError(f"invalid {cls.__name__}: " + "; ".join(problems)) from None


def parse_spec(data: Any, source: str = "spec") -> Spec:
    """A ``Spec`` from YAML-shaped data (a mapping with ``kind``)."""
    from alignlab.runtime._registry import SPECS, get_spec_entry

    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping with a 'kind' key, got {type(data).__name__}")
    data = dict(data)
    kind = data.pop("kind", None)
    if kind is None:
        raise SpecError(f"{source}: no 'kind' key; valid kinds: {', '.join(sorted(SPECS))}")
    entry = get_spec_entry(str(kind))
    for key in entry.derived:  # a run folder's config.yaml carries these; they are not inputs
        data.pop(key, None)
    sweep = data.pop("sweep", None) or {}
    if not isinstance(sweep, dict) or not all(isinstance(v, list) and v for v in sweep.values()):
        raise SpecError(f"{source}: 'sweep' must map field names to non-empty lists of values")
    cls = entry.config_class()
    unknown = [k for k in sweep if k not in cls.model_fields]
    if unknown:
        raise SpecError(f"{source}: sweep over unknown field(s) {unknown} of {kind}; "
                        f"fields: {', '.join(cls.model_fields)}")
    spec = Spec(str(kind), _validate(cls, data), {k: list(v) for k, v in sweep.items()})
    spec.configs()  # validate every combination now, not halfway through a sweep
    return spec


def load_spec(path: str | Path) -> Spec:
    """Read and validate a YAML spec file; a malformed one raises ``SpecError`` naming
    the line (YAML) or the field, its expected type and the value given. A file of
    several specs is refused here (``load_specs`` reads it)."""
    specs = load_specs(path)
    if len(specs) > 1:
        raise SpecError(f"{path} holds {len(specs)} specs (YAML documents); read it with load_specs "
                        "(`alignlab run` runs them all)")
    return specs[0]


def load_specs(path: str | Path) -> list[Spec]:
    """Every spec of a YAML file, one per document (``---`` between them; empty documents
    are skipped), each validated as ``load_spec`` validates one; an error names the
    document it is in."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise SpecError(f"cannot read spec {path}: {err.strerror or err}") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"{path}:{where} malformed YAML: {getattr(err, 'problem', None) or err}") from None
    if not docs:
        raise SpecError(f"{path}: no spec in it (expected a mapping with a 'kind' key)")
    if len(docs) == 1:
        return [parse_spec(docs[0], source=str(path))]
    specs = []
    for i, doc in enumerate(docs):
        where = f"{path} (document {i + 1} of {len(docs)})"
        try:
            specs.append(parse_spec(doc, source=where))
        except SpecError as err:
            message = str(err)
            raise SpecError(message if message.startswith(where) else f"{where}: {message}") from None
    return specs
