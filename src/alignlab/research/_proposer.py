"""Proposers: what a campaign asks for the next idea, and tells how the last ones did.

    proposer = PROPOSERS.create({"name": "random", "params": {"seed": 0}})
    proposer.start(space, folder, history)      # history: what earlier sessions asked and heard
    proposal = proposer.ask()                   # a Proposal, or None: nothing left to propose
    proposer.tell(proposal, gain)               # one number: the idea's mean gain over the baseline

A proposer sees the space, its own folder and scalar gains — never a trial's record,
its seeds or the evaluator's revealed data. The campaign checks every proposal against
the space (a point outside it is refused), hands out the seeds itself and scores every
one of them, so what a proposer can choose is the variant, nothing else.

``__init__`` stores hyperparameters only (the registry validates and records them);
state learned from ``start``/``tell`` ends in ``_``. One proposer per file in
``proposers/``, registered on discovery.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from alignlab.protocol import Ref, Registry
from alignlab.research._space import Space


@dataclass(frozen=True)
class Proposal:
    """An idea a proposer asks the campaign to evaluate."""

    ref: Ref
    """The variant, ``{name, params}``: a point of the campaign's space."""
    token: int
    """The proposer's own number for it (an Optuna trial number, a grid index): given
    back with ``tell``, and after a restart in ``history``."""
    parent: str | None = None
    """The idea (ledger id) this one was derived from, if any: its lineage."""


@dataclass(frozen=True)
class Told:
    """A proposal of an earlier session and the gain it was told (None: not told yet,
    the session stopped first; the campaign tells it once its trials are in)."""

    proposal: Proposal
    gain: float | None


class Proposer(Protocol):
    def start(self, space: Space, folder: Path, history: list[Told]) -> None:
        """Bind to a campaign's space and folder; ``history`` lists every proposal asked
        before (a resumed campaign), in order, duplicates included."""
        ...

    def ask(self) -> Proposal | None:
        """The next idea, or None when the proposer has nothing left (a finished grid)."""
        ...

    def tell(self, proposal: Proposal, gain: float) -> None:
        """The idea's search score: its mean paired difference from the baseline over
        every search cell and seed, signed so that higher is better; failed trials
        score the worst value (the campaign's ``failure_value``)."""
        ...


PROPOSERS: Registry[Proposer] = Registry("proposer", discover="alignlab.research.proposers")
