"""A campaign: a question asked of one testbed, the variant space searched to answer it,
the seeds and budget it may spend, and who proposes — as YAML.

    name: planted-shrink
    question: Does shrinking the mean-difference direction beat the plain one?
    testbed: planted
    cells: {search: [{noise: 0.5}, {noise: 1.0}], heldout: [{noise: 0.75}]}
    space:
      - variant: mean_diff
        params: {shrink: {low: 0.0, high: 1.0}}
    seeds: 5
    budget: {trials: 60}
    proposer: {name: random, params: {seed: 0}}

Everything that names something (testbed, cells, variants and their parameters, the
baseline, the proposer, the executor) is checked here, before any trial runs; a bad
campaign ends in one line naming the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from alignlab.errors import AlignlabError, DataError
from alignlab.protocol import Ref
from alignlab.research._space import Arm, Space

MIN_SEEDS = 5
"""A result needs at least this many seeds (the ledger refuses fewer, too)."""


class CampaignError(DataError):
    """A campaign that cannot be read or validated; the message names the field."""


class Cells(BaseModel):
    """Named instances of the testbed's config: searched, and held out for confirmation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    search: list[dict[str, Any]] = Field(min_length=1)
    """Where ideas are scored during the search."""
    heldout: list[dict[str, Any]] = Field(min_length=1)
    """Where the best idea is confirmed; never scored during the search."""


class Budget(BaseModel):
    """What the campaign may spend; it stops proposing before it would exceed either."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trials: int = Field(gt=0)
    """Trials (one variant on one cell and one seed) in all: the baseline's, every idea's
    and the confirmation's, which is reserved from the start."""
    wall_s: float | None = Field(None, gt=0)
    """Seconds of search, summed over sessions (resume continues the count); the
    confirmation runs after it."""
    ideas: int | None = Field(None, gt=0)
    """Ideas proposed, at most (the baseline not counted)."""


class ExecutorChoice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "inline"
    """``inline``, ``local`` or ``ray`` (``runtime.make_executor``)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """The executor's options (``workers``, ``timeout_s``, ``memory_gb``, ``address``, …)."""


class EvaluatorChoice(BaseModel):
    """Who holds the labels. ``trial``: each trial's own trusted process (``kind: trial``
    jobs on the executor). ``service``: the evaluator service (``alignlab serve
    evaluator``), which scores within the campaign's query budget, refuses probes and
    scores a held-out instance once; trials then run one at a time in the campaign's
    process (the variant still in its sandboxed worker) and the executor is not used."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["trial", "service"] = "trial"
    url: str | None = None
    """The service (default: ``$ALIGNLAB_EVALUATOR_URL``, else the URL the service on the
    default state folder announced)."""
    token_file: str | None = None
    """A file holding the campaign's bearer token (default: ``$ALIGNLAB_EVALUATOR_TOKEN``);
    never the token itself, which would land in the campaign's YAML and records."""


class Campaign(BaseModel):
    """One research question on one testbed, searched and confirmed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """Names the campaign's default folder and its Optuna study."""
    question: str
    """What the campaign asks, in a sentence (shown with every finding)."""
    testbed: str
    """A registered testbed (``alignlab testbeds list``)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Config fields every cell shares (a cell's own fields win)."""
    cells: Cells | None = None
    """Default: the testbed's ``cells``; a testbed without them has one cell, ``{}``, for
    both (confirmation then differs from the search by its seeds only)."""
    space: list[Arm] = Field(min_length=1)
    """The variants a proposer may ask for."""
    baseline: Ref | None = None
    """The variant every idea is compared with on the same cells and seeds (default: the
    testbed's ``baseline_variant``)."""
    references: list[Ref] = Field(default_factory=list)
    """More variants (the best hand-designed method) run beside the best idea on the
    held-out cells, each compared with it there."""
    seeds: int = Field(MIN_SEEDS, ge=MIN_SEEDS)
    """Seeds per idea on every search cell (at least 5): every one is scored and reported."""
    confirm_seeds: int | None = Field(None, ge=MIN_SEEDS)
    """Seeds per held-out cell at confirmation, disjoint from the search's (default: ``seeds``)."""
    first_seed: int = Field(0, ge=0)
    """Search seeds are ``first_seed, …``; confirmation seeds follow them."""
    budget: Budget
    proposer: Ref = Ref(name="random")
    """``{name, params}`` of a registered proposer: ``grid``, ``random``, ``optuna``."""
    executor: ExecutorChoice = ExecutorChoice()
    evaluator: EvaluatorChoice = EvaluatorChoice()
    timeout_s: float = Field(600.0, gt=0)
    """A trial's variant is killed after this long (the trial fails, and counts)."""
    failure_value: float | None = None
    """What a failed trial scores on the primary metric. Default: the worst value any
    trial of the campaign recorded on the same cell and seed, so a failure never scores
    better than anything seen there."""
    round_size: int = Field(1, ge=1)
    """Ideas asked for at once and run as one batch (parallel executors fill their workers)."""

    @field_validator("baseline", "proposer", mode="before")
    @classmethod
    def _ref(cls, value: Any) -> Any:
        return None if value is None else Ref.of(value)

    @field_validator("references", mode="before")
    @classmethod
    def _refs(cls, value: Any) -> Any:
        return [Ref.of(v) for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _known(self) -> Campaign:
        _check(self)
        return self

    # --- what the campaign resolves to -------------------------------------------------------

    def testbed_object(self) -> Any:
        from alignlab.protocol.testbeds import TESTBEDS

        return TESTBEDS.create(self.testbed)

    def resolved_cells(self) -> Cells:
        if self.cells is not None:
            return self.cells
        cells = getattr(self.testbed_object(), "cells", None)
        return Cells.model_validate(cells) if cells else Cells(search=[{}], heldout=[{}])

    def cell_params(self, cell: dict[str, Any]) -> dict[str, Any]:
        return {**self.params, **cell}

    def baseline_ref(self) -> Ref:
        return self.baseline or Ref(name=self.testbed_object().baseline_variant)

    def search_seeds(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))

    def heldout_seeds(self) -> list[int]:
        """Disjoint from the search seeds: a finding is confirmed on problems never drawn."""
        start = self.first_seed + self.seeds
        return list(range(start, start + (self.confirm_seeds or self.seeds)))

    def variant_space(self) -> Space:
        return Space(self.space, self.testbed_object().variants)

    def trials_per_idea(self) -> int:
        return len(self.resolved_cells().search) * self.seeds

    def confirmation_trials(self) -> int:
        """Reserved from the budget: the best idea, the baseline and each reference on
        every held-out cell and confirmation seed."""
        return (2 + len(self.references)) * len(self.resolved_cells().heldout) * len(self.heldout_seeds())

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=True), sort_keys=False)


def _check(c: Campaign) -> None:
    """Every name and parameter against its registry; raises ValueError('field: why')."""
    from alignlab.protocol.testbeds import TESTBEDS
    from alignlab.research._proposer import PROPOSERS
    from alignlab.runtime._executors import EXECUTORS

    def guard(field: str, check) -> Any:
        try:
            return check()
        except (AlignlabError, ValidationError, ValueError) as err:
            raise ValueError(f"{field}: {_one_line(err)}") from None

    testbed = guard("testbed", lambda: TESTBEDS.create(c.testbed))
    cells = guard("cells", c.resolved_cells)
    for part in ("search", "heldout"):
        for i, cell in enumerate(getattr(cells, part)):
            guard(f"cells.{part}[{i}]", lambda cell=cell: testbed.Config.model_validate(c.cell_params(cell)))
    if c.cells is not None:
        searched = [testbed.Config.model_validate(c.cell_params(s)) for s in cells.search]
        for i, cell in enumerate(cells.heldout):
            if testbed.Config.model_validate(c.cell_params(cell)) in searched:
                raise ValueError(f"cells.heldout[{i}]: is also a search cell; a finding is confirmed on cells "
                                 "the search never scored")
    variants = testbed.variants
    for i, arm in enumerate(c.space):
        where = f"space[{i}]"
        guard(f"{where}.variant", lambda arm=arm: variants.get(arm.variant))
        known = variants.schema(arm.variant).get("properties", {})
        for name in [*arm.fixed, *arm.params]:
            if name.split(".")[0] not in known:
                raise ValueError(f"{where}.{'params' if name in arm.params else 'fixed'}.{name}: variant "
                                 f"{arm.variant!r} has no parameter {name.split('.')[0]!r}; it takes "
                                 f"{', '.join(known) or 'none'}")
        space = Space([arm], variants)
        for values in space.corners(0):
            guard(f"{where}.params", lambda values=values, space=space: variants.validate(space.build(0, values)))
    guard("baseline", lambda: variants.validate(c.baseline_ref()))
    for i, ref in enumerate(c.references):
        guard(f"references[{i}]", lambda ref=ref: variants.validate(ref))
    guard("proposer", lambda: PROPOSERS.validate(c.proposer))
    guard("executor.name", lambda: EXECUTORS.get(c.executor.name))
    least = c.trials_per_idea() * 2 + c.confirmation_trials()
    if c.budget.trials < least:
        raise ValueError(f"budget.trials: {c.budget.trials} cannot cover the baseline and one idea "
                         f"({c.trials_per_idea()} trials each: {len(cells.search)} search cell(s) x {c.seeds} "
                         f"seeds) plus the confirmation ({c.confirmation_trials()}); at least {least}")


def _one_line(err: Exception) -> str:
    if isinstance(err, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg'].removeprefix('Value error, ')}"
                         for e in err.errors())
    return str(err).replace("\n", " ")


def parse_campaign(data: Any, source: str = "campaign") -> Campaign:
    """A validated ``Campaign`` from YAML-shaped data; a bad one raises ``CampaignError``
    in one line naming the field."""
    if not isinstance(data, dict):
        raise CampaignError(f"{source}: expected a mapping of campaign fields, got {type(data).__name__}")
    try:
        return Campaign.model_validate(data)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            loc = ".".join(str(p) for p in e["loc"])
            given = "" if e["type"] == "missing" or not loc else f" (got {e.get('input')!r})"
            msg = e["msg"].removeprefix("Value error, ")
            problems.append(f"{loc}: {msg}{given}" if loc else msg)
        raise CampaignError(f"invalid campaign {source}: " + "; ".join(problems)) from None


def load_campaign(path: str | Path) -> Campaign:
    """Read and validate a campaign YAML file (or a shipped example's name: ``planted``)."""
    import yaml

    path = Path(path)
    if not path.is_file() and path.suffix == "" and (example := _example_path(str(path))).exists():
        path = example
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise CampaignError(f"cannot read campaign {path}: {_one_line(err)}") from None
    return parse_campaign(data, str(path))


def _example_path(name: str) -> Path:
    from importlib import resources

    return Path(str(resources.files("alignlab.research") / "campaigns" / f"{name}.yaml"))


def example_campaign(name: str) -> Path:
    """The path of a campaign shipped with alignlab (``planted``, ``w2s``)."""
    path = _example_path(name)
    if not path.exists():
        raise CampaignError(f"no shipped campaign {name!r}")
    return path
