"""One registry idiom for every pluggable kind: a name, a factory, and the schema of its
parameters; components are referred to as ``{name, params}``.

    METHODS = Registry("method")

    @METHODS.register("mean_diff", description="difference of class means")
    class MeanDiff:
        def __init__(self, shrink: float = 0.0): ...

    METHODS.create({"name": "mean_diff", "params": {"shrink": 0.1}})   # validated, recorded
    METHODS.schema("mean_diff")        # JSON schema of the parameters: what a proposer searches

Registering a name twice raises; an unknown name or a parameter the factory does not take
ends in one line that lists what is valid; ``create`` records the reference it was built
from on the instance (``.ref``), so a result says exactly what ran.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from alignlab.errors import AlignlabError, UnknownNameError

T = TypeVar("T")
_RAISE = object()  # get() without a default


class Ref(BaseModel):
    """A component by name, with the parameters it is built with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, ref: str | dict[str, Any] | Ref) -> Ref:
        """A reference from a bare name, a ``{name, params}`` mapping or a ``Ref``."""
        if isinstance(ref, Ref):
            return ref
        if isinstance(ref, str):
            return cls(name=ref)
        return cls.model_validate(ref)


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    factory: Callable[..., T]
    description: str

    def params_model(self) -> type[BaseModel]:
        """A pydantic model of the factory's keyword parameters (their annotations and
        defaults), extra keys forbidden: validation and ``schema`` come from it."""
        return _params_model(self)


@functools.lru_cache(maxsize=None)
def _params_model(entry: Entry) -> type[BaseModel]:
    """``Entry.params_model``, built once per entry (pydantic's ``create_model`` took
    0.6 ms, a tenth of a trivial trial's protocol overhead, at every validation)."""
    fields: dict[str, Any] = {}
    for p in inspect.signature(entry.factory).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == "self":
            continue
        annotation = Any if p.annotation is inspect.Parameter.empty else p.annotation
        fields[p.name] = (annotation, ... if p.default is inspect.Parameter.empty else p.default)
    module = inspect.getmodule(entry.factory)
    return create_model(f"{entry.name}_params", __config__=ConfigDict(extra="forbid"),
                        __module__=module.__name__ if module else __name__, **fields)


class Registry(Generic[T]):
    """Named factories of one kind of component."""

    def __init__(self, kind: str, discover: str | None = None):
        """``discover``: a package whose modules register built-ins; they are imported on
        the first lookup (so registering is one file, and listing names stays lazy)."""
        self.kind, self._discover, self._discovering = kind, discover, False
        self._entries: dict[str, Entry[T]] = {}

    def _ready(self) -> dict[str, Entry[T]]:
        """The entries, the package's built-ins imported first. A module that fails to
        import raises here, and the next lookup tries again (never a registry that is
        silently missing entries); a lookup made while they import sees what is there."""
        if self._discover is not None and not self._discovering:
            import importlib
            import pkgutil

            self._discovering = True
            try:
                package = importlib.import_module(self._discover)
                for info in pkgutil.iter_modules(package.__path__):
                    importlib.import_module(f"{package.__name__}.{info.name}")
                self._discover = None
            finally:
                self._discovering = False
        return self._entries

    def register(self, name: str, factory: Callable[..., T] | None = None, *, description: str = ""):
        """Register ``factory`` under ``name`` (or use as a decorator); a duplicate raises."""
        def add(f: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"duplicate {self.kind} name {name!r}")
            doc = description or (inspect.getdoc(f) or "").split("\n\n")[0].replace("\n", " ")
            self._entries[name] = Entry(name, f, doc)
            return f

        return add if factory is None else add(factory)

    def __contains__(self, name: object) -> bool:
        return name in self._ready()

    def __getitem__(self, name: str) -> Callable[..., T]:
        """The factory registered under ``name`` (an unknown name raises ``UnknownNameError``)."""
        return self.get(name).factory

    def __setitem__(self, name: str, factory: Callable[..., T]) -> None:
        """``registry[name] = factory`` is ``register(name, factory)``: a duplicate raises."""
        self.register(name, factory)

    def __delitem__(self, name: str) -> None:
        """Unregister ``name`` (a test that adds a component for its duration, e.g. with
        ``monkeypatch.setitem``, takes it out again)."""
        del self._ready()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self) -> list[str]:
        return sorted(self._ready())

    def get(self, name: str, default: Any = _RAISE) -> Entry[T]:
        """The entry of ``name``; an unknown name raises, or returns ``default`` if given."""
        if name not in self._ready():
            if default is not _RAISE:
                return default
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names()) or 'none'}")
        return self._entries[name]

    def validate(self, ref: str | dict[str, Any] | Ref) -> Ref:
        """The reference with its parameters checked against the factory's (defaults not
        filled in: the reference stays what was asked for)."""
        ref = Ref.of(ref)
        try:
            self.get(ref.name).params_model().model_validate(ref.params)
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in err.errors())
            raise AlignlabError(f"{self.kind} {ref.name!r}: {problems}; it takes {self.schema(ref.name)['properties']}"
                                ) from None
        return ref

    def create(self, ref: str | dict[str, Any] | Ref) -> T:
        """An instance built from ``ref``; the reference is recorded on it as ``.ref``."""
        ref = self.validate(ref)
        instance = self.get(ref.name).factory(**ref.params)
        try:
            instance.ref = ref
        except (AttributeError, TypeError):  # a frozen or slotted instance: it says what it is itself
            pass
        return instance

    def schema(self, name: str) -> dict[str, Any]:
        """The JSON schema of ``name``'s parameters: what a proposer may vary."""
        return self.get(name).params_model().model_json_schema()
