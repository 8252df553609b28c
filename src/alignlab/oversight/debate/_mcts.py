"""Monte-Carlo tree search for the pixel debate, batched across games.

One search runs for every game of a lockstep batch at once: each simulation descends all
G trees together (numpy over the game axis), plays each one out at random to a full
k-pixel leaf, and scores all G leaves in ONE judge call. Trees are flat arrays:
node ``g * n_max + i`` is the i-th node of game g, ``child[node, pixel]`` its child (or -1),
``N``/``W`` its visit count and summed honest value. Values are P(judge prefers honest),
so the honest player maximises and the liar minimises.

As in Irving et al. (who followed Silver et al. 2017), selection is PUCT with a uniform
prior over legal pixels; UCT (Kocsis & Szepesvari 2006) is the alternative. Ties break at
random, and a fresh tree is grown for every move.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from alignlab.oversight.debate._data import N_PIXELS
from alignlab.oversight.debate._game import DebateBatch, legal_moves
from alignlab.oversight.debate._judge import PAD


class MCTS:
    """A debater that picks each pixel by Monte-Carlo tree search.

    Args:
        rollouts: simulations (= judge evaluations) per move.
        variant: "puct" (uniform prior) or "uct".
        c_explore: exploration constant; values live in [0, 1].
        seed: seeds tie-breaking and playouts; a fixed seed gives a fixed game.

    Leaves of all G games in the batch are scored in one judge call; a batch of one game
    is the unbatched search (``bench/debate.py`` times both).
    """

    def __init__(self, rollouts: int = 1000, variant: Literal["puct", "uct"] = "puct",
                 c_explore: float = 1.0, seed: int = 0):
        self.rollouts = rollouts
        self.variant = variant
        self.c_explore = c_explore
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def choose(self, batch: DebateBatch, revealed: np.ndarray) -> np.ndarray:
        visits, _ = self.search(batch, revealed)
        return visits.argmax(1)

    def search(self, batch: DebateBatch, revealed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Root statistics after ``rollouts`` simulations.

        Returns (visits, q): (G, 64) each; visits get a tiny Q-based bonus so argmax
        breaks visit ties by value; q is the mover's mean value (nan if unvisited).
        """
        tree = _Tree(batch, revealed, self.rollouts)
        for _ in range(self.rollouts):
            path, seq = self._descend(tree)
            seq = self._playout(tree, seq)
            leaves = np.concatenate([revealed, seq], axis=1)  # (G, k)
            value = batch.honest_value(leaves)  # (G,) one judge call for every game
            ok = path >= 0
            ids = path[ok]  # one node per (game, depth): no duplicates, plain += is safe
            tree.N[ids] += 1
            tree.W[ids] += np.broadcast_to(value[:, None], path.shape)[ok]
        ch = tree.child[tree.base]  # (G, 64) root children
        has = ch >= 0
        n = np.where(has, tree.N[np.maximum(ch, 0)], 0.0)
        q = np.where(has, tree.W[np.maximum(ch, 0)] / np.maximum(n, 1), np.nan)
        if not tree.honest_moves[0]:
            q = 1.0 - q
        visits = np.where(tree.legal0, n + 1e-3 * np.nan_to_num(q, nan=0.0), -1.0)
        return visits, q

    def _descend(self, tree: _Tree) -> tuple[np.ndarray, np.ndarray]:
        """Selection and expansion: walk every tree from its root to a new (or terminal) node."""
        G, D = tree.G, tree.D
        node = tree.base.copy()
        path = np.full((G, D + 1), -1, dtype=np.int64)
        path[:, 0] = node
        seq = np.full((G, D), PAD, dtype=np.int64)
        tree.avail = tree.legal0.copy()
        ga = np.arange(G)  # games still descending
        for d in range(D):
            a = self._select(tree, node[ga], ga, d)
            seq[ga, d] = a
            tree.avail[ga, a] = False
            nxt = tree.child[node[ga], a]
            new = nxt < 0
            gn = ga[new]
            ids = tree.base[gn] + tree.n_nodes[gn]  # int32 table: G * n_max < 2**31
            tree.n_nodes[gn] += 1
            tree.child[node[gn], a[new]] = ids
            nxt[new] = ids
            path[ga, d + 1] = nxt
            node[ga] = nxt
            ga = ga[~new]  # a freshly expanded node is this simulation's leaf
            if ga.size == 0:
                break
        return path, seq

    def _select(self, tree: _Tree, nd: np.ndarray, ga: np.ndarray, d: int) -> np.ndarray:
        ch = tree.child[nd]  # (Ga, 64)
        has = ch >= 0
        chi = np.maximum(ch, 0)
        n = np.where(has, tree.N[chi], 0.0)
        w = np.where(has, tree.W[chi], 0.0)
        n_parent = tree.N[nd][:, None]  # (Ga, 1)
        q = w / np.maximum(n, 1)
        parent_q = tree.W[nd] / np.maximum(tree.N[nd], 1)
        if not tree.honest_moves[d]:  # the liar wants the judge to prefer the liar
            q, parent_q = 1.0 - q, 1.0 - parent_q
        if self.variant == "puct":
            # Unvisited children start at the parent's value ("first-play urgency").
            q = np.where(has, q, parent_q[:, None])
            u = self.c_explore * tree.prior[ga] * np.sqrt(n_parent) / (1.0 + n)
        else:
            u = np.where(n > 0, self.c_explore * np.sqrt(np.log(np.maximum(n_parent, 1))
                                                         / np.maximum(n, 1)), np.inf)
        score = q + u + 1e-9 * self._rng.random(q.shape)  # random tie-break
        score[~tree.avail[ga]] = -np.inf
        return score.argmax(1)

    def _playout(self, tree: _Tree, seq: np.ndarray) -> np.ndarray:
        """Fill the unplayed tail of each sequence with random pixels (lit ones preferred)."""
        todo = np.flatnonzero(seq[:, -1] == PAD)
        if todo.size == 0:
            return seq
        keys = tree.logw[todo] + self._rng.gumbel(size=(todo.size, N_PIXELS))
        keys[~tree.avail[todo]] = -np.inf
        rows = np.arange(todo.size)
        for j in range(tree.D):
            need = seq[todo, j] == PAD
            pick = keys.argmax(1)
            seq[todo[need], j] = pick[need]
            keys[rows[need], pick[need]] = -np.inf
        return seq


class _Tree:
    """Flat-array search trees for G games (see the module docstring)."""

    def __init__(self, batch: DebateBatch, revealed: np.ndarray, rollouts: int):
        self.G = batch.size
        r = revealed.shape[1]
        self.D = batch.k - r  # plies left to play
        if self.D < 1:
            raise ValueError("the game is over: no pixel left to reveal")
        self.honest_moves = np.array([batch.mover(r + d) == "honest" for d in range(self.D)])
        self.legal0 = legal_moves(batch, revealed)  # (G, 64)
        self.prior = 1.0 / np.maximum(self.legal0.sum(1, keepdims=True), 1)  # (G, 1) uniform
        self.logw = batch.playout_logw
        n_max = rollouts + 1  # each simulation adds at most one node
        self.base = np.arange(self.G, dtype=np.int64) * n_max
        self.child = np.full((self.G * n_max, N_PIXELS), -1, dtype=np.int32)
        self.N = np.zeros(self.G * n_max)
        self.W = np.zeros(self.G * n_max)
        self.n_nodes = np.ones(self.G, dtype=np.int64)
        self.avail = self.legal0
