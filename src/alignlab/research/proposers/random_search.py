"""``random``: uniform points of the space from a seeded generator (Bergstra & Bengio's
baseline every smarter search must beat)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alignlab.research._proposer import PROPOSERS, Proposal, Told
from alignlab.research._space import Space


@PROPOSERS.register("random")
class RandomSearch:
    """A uniform arm, then a uniform point of it (log-uniform on a log range)."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def start(self, space: Space, folder: Path, history: list[Told]) -> None:
        self.space_ = space
        # Proposal k is drawn from its own generator (seed, k): a resumed search asks exactly
        # what the uninterrupted one would have, without replaying the earlier draws.
        self.next_ = max((t.proposal.token + 1 for t in history), default=0)

    def ask(self) -> Proposal | None:
        arm, values = self.space_.sample(np.random.default_rng([self.seed, self.next_]))
        self.next_ += 1
        return Proposal(self.space_.build(arm, values), token=self.next_ - 1)

    def tell(self, proposal: Proposal, gain: float) -> None:
        pass
