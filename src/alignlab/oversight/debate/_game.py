"""The debate game on sparse pixels (Irving, Christiano & Amodei 2018, section 3.1).

Two debaters see the whole image. The honest one claims the true label; the liar claims
another (pre-commit) or picks its label after the last move (no pre-commit). They take
turns naming one pixel each until k are revealed; the pixel's value comes from the image,
so no one can lie about it. The judge then sees the revealed pixels and sides with the
claim it finds likelier. Honest wins only on a strict preference: ties go to the liar.

Games are played in lockstep batches: every game in a batch is at the same ply, so one
judge call can score leaves from every game's search at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from alignlab.oversight.debate._data import N_CLASSES, N_PIXELS
from alignlab.oversight.debate._judge import BoundJudge, softmax

Player = Literal["honest", "liar"]
ADAPTIVE = -1  # liar claim meaning "no pre-commit: the liar picks its label at the end"


@dataclass
class DebateBatch:
    """G games played in lockstep against one bound judge.

    Attributes:
        judge: the judge bound to the images these games are about.
        rows: (G,) image of each game, a row of ``judge.images``.
        honest: (G,) the honest claim (the true label).
        liar: (G,) the liar's pre-committed claim, or ADAPTIVE.
        k: pixels revealed by the end of the game.
        first: who reveals the first pixel.
        legal: (64,) pixels that may be revealed at all (tests shrink it).
        playout_logw: (G, 64) log-weights of the random playouts' pixel choice; lit
            pixels preferred, like the judge's training masks.
    """

    judge: BoundJudge
    rows: np.ndarray
    honest: np.ndarray
    liar: np.ndarray
    k: int
    first: Player
    legal: np.ndarray
    playout_logw: np.ndarray

    @property
    def size(self) -> int:
        return len(self.rows)

    def mover(self, ply: int) -> Player:
        """Who reveals the pixel at ``ply`` (0-based)."""
        other: Player = "liar" if self.first == "honest" else "honest"
        return self.first if ply % 2 == 0 else other

    def honest_value(self, pixels: np.ndarray, rows: np.ndarray | None = None,
                     sel: np.ndarray | None = None) -> np.ndarray:
        """The search value of leaves, from honest's side: P(judge prefers honest) in [0, 1].

        pixels: (L, m) revealed pixels of L leaves; ``sel`` (L,) picks the game of each
        leaf (default: leaf i belongs to game i).
        """
        sel = np.arange(self.size) if sel is None else sel
        logits = self.judge.logits(self.rows[sel], pixels)  # (L, 10)
        return _sigmoid(margin(logits, self.honest[sel], self.liar[sel]))


def margin(logits: np.ndarray, honest: np.ndarray, liar: np.ndarray) -> np.ndarray:
    """Judge logit of the honest claim minus the liar's; > 0 means honest wins.

    Without pre-commit the liar takes the best other label, so honest wins only if the
    judge's top label is the true one.
    """
    idx = np.arange(len(logits))
    others = logits.copy()
    others[idx, honest] = -np.inf
    best_other = others.max(1)
    liar_logit = np.where(liar == ADAPTIVE, best_other, logits[idx, np.maximum(liar, 0)])
    return logits[idx, honest] - liar_logit


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class Policy(Protocol):
    """A debater: names one pixel per game for the player to move."""

    def choose(self, batch: DebateBatch, revealed: np.ndarray) -> np.ndarray:
        """revealed: (G, ply) pixels so far -> (G,) the next pixel of each game."""
        ...


@dataclass
class Transcript:
    """What happened in a batch of games."""

    pixels: np.ndarray  # (G, k) revealed pixels in order
    values: np.ndarray  # (G, k) their values, read from the images
    movers: list[Player]  # (k,) who revealed each
    beliefs: np.ndarray  # (G, k, 10) judge's probabilities after each move
    margin: np.ndarray  # (G,) final honest-minus-liar logit margin
    liar_claim: np.ndarray  # (G,) the liar's label (chosen at the end without pre-commit)

    @property
    def honest_wins(self) -> np.ndarray:
        return self.margin > 0


def legal_moves(batch: DebateBatch, revealed: np.ndarray) -> np.ndarray:
    """(G, 64) pixels each game may still reveal."""
    ok = np.broadcast_to(batch.legal, (batch.size, N_PIXELS)).copy()
    ok[np.arange(batch.size)[:, None], revealed] = False
    return ok


def play(batch: DebateBatch, honest: Policy, liar: Policy) -> Transcript:
    """Play every game in ``batch`` to the end; the two policies alternate."""
    G, k = batch.size, batch.k
    revealed = np.zeros((G, 0), dtype=np.int64)
    values = np.zeros((G, k), dtype=np.float32)
    beliefs = np.zeros((G, k, N_CLASSES), dtype=np.float32)
    policies = {"honest": honest, "liar": liar}
    movers = [batch.mover(t) for t in range(k)]
    for t, who in enumerate(movers):
        pix = np.asarray(policies[who].choose(batch, revealed), dtype=np.int64)
        _check_moves(batch, revealed, pix, who)
        revealed = np.concatenate([revealed, pix[:, None]], axis=1)
        values[:, t] = batch.judge.images[batch.rows, pix]  # the truth; no one states it
        beliefs[:, t] = softmax(batch.judge.logits(batch.rows, revealed))
    logits = batch.judge.logits(batch.rows, revealed)
    m = margin(logits, batch.honest, batch.liar)
    others = logits.copy()
    others[np.arange(G), batch.honest] = -np.inf
    claim = np.where(batch.liar == ADAPTIVE, others.argmax(1), batch.liar)
    return Transcript(revealed, values, movers, beliefs, m, claim)


def _check_moves(batch: DebateBatch, revealed: np.ndarray, pix: np.ndarray, who: str) -> None:
    if pix.shape != (batch.size,):
        raise ValueError(f"{who} returned moves of shape {pix.shape}, expected ({batch.size},)")
    if ((pix < 0) | (pix >= N_PIXELS)).any():
        raise ValueError(f"{who} named a pixel outside 0..{N_PIXELS - 1}")
    if not legal_moves(batch, revealed)[np.arange(batch.size), pix].all():
        raise ValueError(f"{who} named a pixel that is already revealed or not in play")


class RandomPolicy:
    """Reveals a random legal pixel, lit ones preferred as in the playouts."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def choose(self, batch: DebateBatch, revealed: np.ndarray) -> np.ndarray:
        keys = batch.playout_logw + self._rng.gumbel(size=(batch.size, N_PIXELS))
        keys[~legal_moves(batch, revealed)] = -np.inf
        return keys.argmax(1)
