"""``grid``: every point of the space's grid, in order; exhausted when the grid is."""

from __future__ import annotations

from pathlib import Path

from alignlab.research._proposer import PROPOSERS, Proposal, Told
from alignlab.research._space import Space


@PROPOSERS.register("grid")
class Grid:
    """Every point of a grid over the space: each range at its ``step`` or at ``points``
    evenly spaced values, each choice; arm by arm."""

    def __init__(self, points: int = 3):
        self.points = points

    def start(self, space: Space, folder: Path, history: list[Told]) -> None:
        self.space_ = space
        # A resumed grid goes on where it stopped: proposals are numbered by grid position.
        self.next_ = max((t.proposal.token + 1 for t in history), default=0)
        self.points_ = list(space.grid(self.points))

    def ask(self) -> Proposal | None:
        if self.next_ >= len(self.points_):
            return None
        arm, values = self.points_[self.next_]
        self.next_ += 1
        return Proposal(self.space_.build(arm, values), token=self.next_ - 1)

    def tell(self, proposal: Proposal, gain: float) -> None:
        pass  # a grid does not learn


