"""The variant space a campaign searches: arms, each one registered variant with some
parameters fixed and others ranged or chosen.

    space:
      - variant: transfer
        fixed: {method: aux_conf}
        params:
          C: {low: 0.01, high: 100, log: true}
          method_params.alpha_max: {low: 0.1, high: 1.0}     # a dotted name sets a nested key
          epochs: {choices: [30, 60]}

A proposer picks an arm and a value per ranged name and asks ``Space.build`` for the
variant reference; ``Space.check`` is what the campaign applies to every proposal, so a
proposer that writes its own reference can still only ask for a point of the space.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from alignlab.protocol import Ref


class Range(BaseModel):
    """Numbers from ``low`` to ``high`` (both included)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    low: float
    high: float
    log: bool = False
    """Search on a log scale (both ends > 0)."""
    step: float | None = Field(None, gt=0)
    """A grid spacing (the ``grid`` proposer's points; others sample on it too)."""
    integer: bool | None = None
    """Integers only (default: as the variant's schema types the parameter; a nested
    name has no schema, so it is a float unless this says otherwise)."""

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        if self.log and self.step is not None:
            raise ValueError("a range is either log or stepped, not both")
        return self


class Choices(BaseModel):
    """One of a list of values (numbers, strings, mappings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    choices: list[Any] = Field(min_length=1)


class Arm(BaseModel):
    """One registered variant with its fixed and searched parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variant: str
    """A variant registered on the campaign's testbed (``alignlab testbeds show NAME``)."""
    fixed: dict[str, Any] = Field(default_factory=dict)
    """Parameters every proposal of this arm has (dotted names set nested keys)."""
    params: dict[str, Range | Choices] = Field(default_factory=dict)
    """Searched parameters: a range ``{low, high, log?, step?}`` or ``{choices: [...]}``."""

    @model_validator(mode="after")
    def _disjoint(self) -> Arm:
        for name in self.params:
            clash = [f for f in self.fixed if f == name or name.startswith(f + ".") or f.startswith(name + ".")]
            if clash:
                raise ValueError(f"params.{name} is also fixed ({clash[0]}): a name is either fixed or searched")
        return self


def _set(params: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        if not isinstance(params.get(key), dict):  # absent, or a None default: a mapping now
            params[key] = {}
        params = params[key]
    params[leaf] = value


_MISSING = object()


def _get(params: dict[str, Any], dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(params, dict) or key not in params:
            return _MISSING
        params = params[key]
    return params


def _is_integer(schema: dict[str, Any], name: str, domain: Range) -> bool:
    """An integer range where the range says so, else where the variant's schema types
    the (top-level) parameter as an integer; a nested name has no schema: float."""
    if domain.integer is not None:
        return domain.integer
    prop = schema.get("properties", {}).get(name, {})
    types = {prop.get("type")} | {t.get("type") for t in prop.get("anyOf", [])}
    return "integer" in types and "number" not in types


class Space:
    """The arms of a campaign's space, typed against the testbed's variant registry."""

    def __init__(self, arms: list[Arm], variants: Any):
        """``variants``: the testbed's variant ``Registry`` (names and schemas checked by
        the campaign; here only to type each range)."""
        self.arms = list(arms)
        self.integer = [{name: isinstance(d, Range) and _is_integer(variants.schema(arm.variant), name, d)
                         for name, d in arm.params.items()} for arm in self.arms]

    def build(self, arm: int, values: dict[str, Any]) -> Ref:
        """The variant reference of ``arm`` with a value for each of its searched names."""
        spec = self.arms[arm]
        params: dict[str, Any] = {}
        for name, value in [*spec.fixed.items(), *values.items()]:
            _set(params, name, copy.deepcopy(value))
        return Ref(name=spec.variant, params=params)

    def check(self, ref: Ref) -> str | None:
        """None if ``ref`` is a point of the space; else why not, in a few words."""
        reasons = []
        for i, arm in enumerate(self.arms):
            if arm.variant != ref.name:
                continue
            values = {name: _get(ref.params, name) for name in arm.params}
            missing = [n for n, v in values.items() if v is _MISSING]
            if missing:
                reasons.append(f"arm {i} needs {', '.join(missing)}")
                continue
            outside = [f"{n}={v!r}" for n, v in values.items() if not self._inside(i, n, v)]
            if outside:
                reasons.append(f"arm {i}: {', '.join(outside)} outside its range or choices")
                continue
            if self.build(i, values).params != ref.params:
                reasons.append(f"arm {i}: other parameters than its fixed and searched ones")
                continue
            return None
        if not reasons:
            return f"variant {ref.name!r} is not in the space (arms: {', '.join(a.variant for a in self.arms)})"
        return "; ".join(reasons)

    def _inside(self, arm: int, name: str, value: Any) -> bool:
        domain = self.arms[arm].params[name]
        if isinstance(domain, Choices):
            return any(value == c and type(value) is type(c) or (_number(value) and _number(c) and value == c)
                       for c in domain.choices)
        if not _number(value) or not math.isfinite(value):
            return False
        if self.integer[arm][name] and not float(value).is_integer():
            return False
        return domain.low <= value <= domain.high

    def grid(self, points: int = 3) -> Iterator[tuple[int, dict[str, Any]]]:
        """Every (arm, values) of a grid: each range at its ``step`` or at ``points``
        evenly spaced values (geometrically for a log range), each choice."""
        import itertools

        for i, arm in enumerate(self.arms):
            axes = {name: self._axis(i, name, points) for name in arm.params}
            for combo in itertools.product(*axes.values()):
                yield i, dict(zip(axes, combo))

    def _axis(self, arm: int, name: str, points: int) -> list[Any]:
        domain = self.arms[arm].params[name]
        if isinstance(domain, Choices):
            return list(domain.choices)
        if domain.step is not None:
            values = list(np.arange(domain.low, domain.high + domain.step / 2, domain.step))
        elif domain.log:
            values = list(np.geomspace(domain.low, domain.high, points))
        else:
            values = list(np.linspace(domain.low, domain.high, points))
        return self._typed(arm, name, values)

    def _typed(self, arm: int, name: str, values: list[float]) -> list[Any]:
        if self.integer[arm][name]:
            return list(dict.fromkeys(int(round(v)) for v in values))
        return list(dict.fromkeys(float(round(v, 12)) for v in values))

    def sample(self, rng: np.random.Generator) -> tuple[int, dict[str, Any]]:
        """A uniform arm and a uniform point of it (log-uniform on a log range; on the
        step grid where there is one)."""
        arm = int(rng.integers(len(self.arms)))
        values = {}
        for name, domain in self.arms[arm].params.items():
            if isinstance(domain, Choices):
                values[name] = domain.choices[int(rng.integers(len(domain.choices)))]
            elif domain.step is not None or self.integer[arm][name]:
                axis = self._axis(arm, name, 0) if domain.step is not None else \
                    list(range(int(math.ceil(domain.low)), int(math.floor(domain.high)) + 1))
                values[name] = axis[int(rng.integers(len(axis)))]
            elif domain.log:
                values[name] = float(math.exp(rng.uniform(math.log(domain.low), math.log(domain.high))))
            else:
                values[name] = float(rng.uniform(domain.low, domain.high))
        return arm, values

    def corners(self, arm: int) -> list[dict[str, Any]]:
        """Values at each range's ends and each choice, one name varied at a time: what
        the campaign validates against the variant's schema before any trial runs."""
        spec = self.arms[arm]
        base = {n: (d.choices[0] if isinstance(d, Choices) else self._typed(arm, n, [d.low])[0])
                for n, d in spec.params.items()}
        out = [base]
        for n, d in spec.params.items():
            for v in (d.choices[1:] if isinstance(d, Choices) else self._typed(arm, n, [d.high])):
                out.append({**base, n: v})
        return out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
