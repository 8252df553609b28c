"""Exhaustive minimax for the pixel debate: the exact reference for small games.

Enumerates every ordered sequence of the remaining plies over the legal pixels, scores
all leaves with the judge in large batches, and backs the values up with max (honest to
move) and min (liar to move). Cost is m^(plies left) leaves per game for m legal pixels,
so it is for k <= 3, or a reduced pixel set.
"""

from __future__ import annotations

import itertools

import numpy as np

from alignlab.oversight.debate._game import DebateBatch

_CHUNK = 200_000  # leaves per judge call


def minimax_values(batch: DebateBatch, revealed: np.ndarray) -> np.ndarray:
    """(G, 64) exact game value of each first move, from the mover's side; nan if illegal."""
    G, r = revealed.shape
    D = batch.k - r
    cand = np.flatnonzero(batch.legal)  # (m,)
    m = cand.size
    seqs = cand[np.array(list(itertools.product(range(m), repeat=D)), dtype=np.int64)]  # (m^D, D)
    ok = np.ones((G, len(seqs)), dtype=bool)
    for i, j in itertools.combinations(range(D), 2):
        ok &= (seqs[:, i] != seqs[:, j])[None]
    for j in range(D):  # a pixel already revealed cannot be revealed again
        ok &= ~(seqs[None, :, j, None] == revealed[:, None, :]).any(-1)
    g_idx, s_idx = np.nonzero(ok)
    values = np.full((G, len(seqs)), np.nan)
    for lo in range(0, len(g_idx), _CHUNK):
        g, s = g_idx[lo:lo + _CHUNK], s_idx[lo:lo + _CHUNK]
        leaves = np.concatenate([revealed[g], seqs[s]], axis=1)  # (L, k)
        values[g, s] = batch.honest_value(leaves, sel=g)
    v = values.reshape((G,) + (m,) * D)
    for d in range(D - 1, 0, -1):  # back up from the last ply; fmax/fmin skip nan
        honest = batch.mover(r + d) == "honest"
        v = (np.fmax if honest else np.fmin).reduce(v, axis=-1)
    if batch.mover(r) == "liar":
        v = 1.0 - v
    out = np.full((G, 64), np.nan)
    out[:, cand] = v
    return out


class Minimax:
    """A debater that plays the exact minimax move (lowest pixel index on ties)."""

    def choose(self, batch: DebateBatch, revealed: np.ndarray) -> np.ndarray:
        return np.nan_to_num(minimax_values(batch, revealed), nan=-np.inf).argmax(1)
