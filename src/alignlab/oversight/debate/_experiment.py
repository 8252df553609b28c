"""The sparse-pixel debate experiment: config in, result record out.

``run_debate(config)`` trains a judge for k pixels, measures it alone (random pixels)
and under debate (MCTS debaters, or exact minimax for small k), and returns plain data
with denominators and intervals. ``record_debate`` writes it as a run record
(``runs/debate-<hash>/``); the CLI, the sweep and the tests go through these two. The
steps (``debate_images``, ``fit_judge``, ``judge_alone``, ``play_debates``) are also what the
protocol's ``debate`` testbed runs, so the two give the same numbers.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from alignlab.oversight.debate._data import N_CLASSES, N_PIXELS, DigitsSplit, load_split
from alignlab.oversight.debate._game import (
    ADAPTIVE,
    DebateBatch,
    Policy,
    RandomPolicy,
    Transcript,
    play,
)
from alignlab.oversight.debate._judge import SparseJudge, sample_pixels
from alignlab.oversight.debate._mcts import MCTS
from alignlab.oversight.debate._minimax import Minimax

if TYPE_CHECKING:
    from alignlab.store import RunRecord


class JudgeConfig(BaseModel):
    """How the sparse judge is trained."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden: tuple[int, ...] = (128, 128)
    """Hidden layer widths of the MLP judge."""
    epochs: int = Field(1000, ge=1)
    """Passes over the training images, each with fresh random masks."""
    lr: float = 2e-3
    """Adam learning rate, cosine-decayed."""
    batch_size: int = 256
    """Minibatch size."""
    nonzero_weight: float = Field(5.0, gt=0)
    """How much likelier a lit pixel is than a dark one in training masks and playouts."""
    seed: int = 0
    """Seeds the judge's masks, initialisation and shuffling."""


class DebateConfig(BaseModel):
    """One debate experiment: a judge for k pixels, then debates on test images."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: int = Field(6, ge=1, le=N_PIXELS)
    """Pixels revealed per game (and per training mask of the judge)."""
    images: int = Field(300, ge=1)
    """Test images debated (the first ones of the held-out split)."""
    rollouts: int = Field(1000, ge=1)
    """MCTS simulations per move, each one judge evaluation."""
    search: Literal["puct", "uct", "minimax"] = "puct"
    """How debaters pick pixels; minimax is exact and only feasible for k <= 3."""
    c_explore: float = Field(1.0, gt=0)
    """MCTS exploration constant."""
    first: Literal["honest", "liar"] = "honest"
    """Who reveals the first pixel."""
    precommit: bool = True
    """True: the liar states its label first (all nine are played, any liar win counts).
    False: the liar picks its label after the last pixel."""
    judge_masks: int = Field(20, ge=1)
    """Random masks per test image when measuring the judge alone."""
    batch_games: int = Field(450, ge=1)
    """Games searched in lockstep; one judge call scores a leaf of each."""
    seed: int = 0
    """Seeds the searches and the judge-alone masks."""
    test_fraction: float = Field(0.2, gt=0, lt=1)
    """Held-out share of the 1,797 digits."""
    split_seed: int = 0
    """Seeds the stratified train/test split."""
    judge: JudgeConfig = JudgeConfig()
    """How the judge is trained."""

    @model_validator(mode="after")
    def _minimax_is_small(self) -> DebateConfig:
        if self.search == "minimax" and self.k > 3:
            raise ValueError("minimax enumerates 64^k leaves per game; use it for k <= 3")
        return self


def run_debate(config: DebateConfig) -> dict[str, Any]:
    """Run the experiment; every rate comes with its n and a 95% interval."""
    from alignlab.stats import bootstrap_ci, wilson

    t0 = time.perf_counter()
    split, images, labels = debate_images(config)
    judge = fit_judge(config, split)
    t_judge = time.perf_counter() - t0
    bound = judge.bind(images)

    alone = _judge_alone(bound, images, labels, config)
    t1 = time.perf_counter()
    games = play_debates(bound, images, labels, config)
    t_debate = time.perf_counter() - t1

    per_image_win = games["honest_wins"].reshape(len(labels), -1).all(1)  # any liar win loses
    gain = per_image_win - alone["weighted"]
    return {
        "n_images": len(labels),
        "n_games": int(games["honest_wins"].size),
        "judge_alone": bootstrap_ci(np.mean, alone["weighted"], seed=config.seed).as_dict(),
        "judge_alone_uniform": bootstrap_ci(np.mean, alone["uniform"], seed=config.seed).as_dict(),
        "debate": wilson(int(per_image_win.sum()), len(labels)).as_dict(),
        "debate_games": wilson(int(games["honest_wins"].sum()), games["honest_wins"].size).as_dict(),
        "gain": bootstrap_ci(np.mean, gain, seed=config.seed).as_dict(),
        "per_image": {
            "test_row": split.test_index[: config.images].tolist(),
            "label": labels.tolist(),
            "judge_alone": alone["weighted"].round(4).tolist(),
            "honest_wins": per_image_win.astype(int).tolist(),
        },
        "examples": games["examples"],
        "timing": {
            "seconds_total": time.perf_counter() - t0,
            "seconds_judge_training": t_judge,
            "seconds_debate": t_debate,
            "judge_calls": games["judge_calls"],
            "judge_evals": games["judge_evals"],
            "judge_evals_per_second": games["judge_evals"] / max(t_debate, 1e-9),
        },
        "data_fingerprint": split.fingerprint(),
    }


def debate_images(config: DebateConfig) -> tuple[DigitsSplit, np.ndarray, np.ndarray]:
    """The split, and the test images debated with their labels: (images, 64), (images,)."""
    split = load_split(config.test_fraction, config.split_seed)
    if config.images > len(split.test_y):
        from alignlab.errors import DataError

        raise DataError(f"images={config.images} but the test split has {len(split.test_y)} images; "
                        "ask for fewer or raise test_fraction")
    return split, split.test_x[: config.images], split.test_y[: config.images]


def fit_judge(config: DebateConfig, split: DigitsSplit) -> SparseJudge:
    """The sparse judge for ``config.k`` pixels, trained on the split's training images."""
    jc = config.judge
    return SparseJudge(config.k, jc.hidden, jc.epochs, jc.batch_size, jc.lr,
                       jc.nonzero_weight, jc.seed).fit(split.train_x, split.train_y)


def judge_alone(bound, images, labels, config: DebateConfig) -> np.ndarray:
    """(n,) each image's judge accuracy on random k-pixel masks, lit pixels preferred: the
    baseline debate is compared with."""
    return _judge_alone(bound, images, labels, config)["weighted"]


def play_debates(bound, images, labels, config: DebateConfig,
                 policy: Callable[[int, int], Policy] | None = None) -> dict[str, Any]:
    """Every game of ``config`` on these images (``honest_wins``: (games,), image-major).

    ``policy(chunk, role)`` builds the debater of role 0 (honest) or 1 (liar) for each
    batch of games; the default is ``config``'s search, seeded per chunk and role.
    """
    from threadpoolctl import threadpool_limits  # ships with scikit-learn

    # The search's matmuls are small (batch_games x d_hidden); a multi-threaded BLAS only
    # adds synchronisation, and on a shared 2-core machine it was 3x slower than one thread.
    with threadpool_limits(limits=1, user_api="blas"):
        return _debate_all(bound, images, labels, config, policy or functools.partial(_policy, config))


def record_debate(config: DebateConfig, root: str | None = None) -> RunRecord:
    """Run the experiment and write it as a run record of kind "debate"; returns the record."""
    from alignlab.store import write_run

    return write_run("debate", config.model_dump(mode="json"), run_debate(config), root=root)


def _judge_alone(bound, images, labels, config: DebateConfig) -> dict[str, np.ndarray]:
    """Per-image accuracy of the judge on random k-pixel masks (the paper's baseline)."""
    rng = np.random.default_rng([config.seed, 1])
    n, M = len(labels), config.judge_masks
    rows = np.repeat(np.arange(n), M)  # (n*M,)
    out = {}
    for name, weight in (("weighted", config.judge.nonzero_weight), ("uniform", 1.0)):
        pix = sample_pixels(images[rows], config.k, rng, weight)  # (n*M, k)
        correct = bound.logits(rows, pix).argmax(1) == labels[rows]
        out[name] = correct.reshape(n, M).mean(1)
    return out


def _debate_all(bound, images, labels, config: DebateConfig,
                policy: Callable[[int, int], Policy]) -> dict[str, Any]:
    """Every game: nine per image with pre-commit (one per false claim), else one."""
    n = len(labels)
    if config.precommit:
        liar = np.array([[c for c in range(N_CLASSES) if c != y] for y in labels]).ravel()
        rows = np.repeat(np.arange(n), N_CLASSES - 1)
    else:
        liar, rows = np.full(n, ADAPTIVE), np.arange(n)
    logw = np.where(images > 0, np.log(config.judge.nonzero_weight), 0.0)  # (n, 64)
    calls0, evals0 = bound.n_calls, bound.n_evals
    wins, margins, transcripts = [], [], []
    for c, lo in enumerate(range(0, len(rows), config.batch_games)):
        sl = slice(lo, lo + config.batch_games)
        batch = DebateBatch(bound, rows[sl], labels[rows[sl]], liar[sl], config.k, config.first,
                            np.ones(N_PIXELS, dtype=bool), logw[rows[sl]])
        t = play(batch, policy(c, 0), policy(c, 1))
        wins.append(t.honest_wins)
        margins.append(t.margin)
        transcripts.append((rows[sl], t))
    honest_wins = np.concatenate(wins)
    return {
        "honest_wins": honest_wins,
        "examples": _examples(transcripts, np.concatenate(margins), images, labels, config),
        "judge_calls": bound.n_calls - calls0,
        "judge_evals": bound.n_evals - evals0,
    }


def random_debaters(config: DebateConfig) -> Callable[[int, int], Policy]:
    """A ``play_debates`` policy: debaters that reveal random legal pixels (lit ones
    preferred, as in the playouts), seeded as the searches are — debate with no search."""
    return lambda chunk, role: RandomPolicy(_debater_seed(config, chunk, role))


def _policy(config: DebateConfig, chunk: int, role: int):
    if config.search == "minimax":
        return Minimax()
    return MCTS(config.rollouts, config.search, config.c_explore, _debater_seed(config, chunk, role))


def _debater_seed(config: DebateConfig, chunk: int, role: int) -> int:
    return int(np.random.default_rng([config.seed, chunk, role]).integers(2**31))


def _examples(transcripts: list[tuple[np.ndarray, Transcript]], margins, images, labels,
              config: DebateConfig, n_examples: int = 4) -> list[dict[str, Any]]:
    """The first images' games against their strongest liar, for rendering."""
    out = []
    for img in range(min(n_examples, len(labels))):
        best = None
        for rows, t in transcripts:
            for g in np.flatnonzero(rows == img):
                if best is None or t.margin[g] < best[1].margin[best[0]]:
                    best = (g, t)
        g, t = best
        out.append({
            "image_row": img,
            "image": images[img].round(4).tolist(),
            "label": int(labels[img]),
            "liar_claim": int(t.liar_claim[g]),
            "pixels": t.pixels[g].tolist(),
            "values": t.values[g].tolist(),
            "movers": t.movers,
            "beliefs": t.beliefs[g].round(4).tolist(),
            "margin": float(t.margin[g]),
            "honest_wins": bool(t.honest_wins[g]),
        })
    return out


def run_sweep(ks: list[int], rollouts: list[int], base: DebateConfig,
              root: str | None = None) -> list[RunRecord]:
    """One run record per (k, rollouts); a run already on disk is read, not redone."""
    from alignlab.store import find_run

    records = []
    for k in ks:
        for r in rollouts:
            cfg = base.model_copy(update={"k": k, "rollouts": r})
            records.append(find_run("debate", cfg.model_dump(mode="json"), root) or record_debate(cfg, root))
    return records
