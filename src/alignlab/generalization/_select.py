"""Features and heads chosen per role, on data that role may see.

Every model gives a bank of candidate features fixed in advance: the residual stream
after the blocks at relative depths ``FRACTIONS``, each mean- and last-token pooled.
A role picks (layer, pooling, C) by group k-fold cross-validation on its *own* rows and
targets — the weak supervisor on A's ground truth, the ceiling on B's ground truth, the
student on B's weak labels (agreement with the weak labels is all it can measure). No
choice here sees a validation or test label, and groups never straddle folds.

    bank = feature_bank("gemma3-270m", task)                # {"L8/mean": X, ...}
    choice = choose(bank, rows, targets, groups, seed=0)    # Choice(key="L8/mean", C=0.1, ...)
    head = fit_choice(bank, choice, rows, targets, seed=0)  # .predict_proba(rows)
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

FRACTIONS = (0.25, 0.5, 0.75, 1.0)
"""Relative depths of the candidate layers (rounded to blocks, duplicates dropped)."""
POOLINGS = ("mean", "last")
CS = (0.01, 0.1, 1.0)
"""Inverse L2 strengths tried (scikit-learn's ``C``)."""
FOLDS = 3


@dataclass(frozen=True)
class FeatureBank:
    """A model's candidate features for every example of a task, read-only."""

    features: dict[str, np.ndarray]
    """``"L<block>/<pooling>"`` -> (n, d) float32."""
    digest: str
    """The model's weights digest (what the features were computed from)."""
    n_params: int
    n_layers: int = 0
    """Blocks of the model (what ``candidate_layers`` maps depths onto)."""

    def __getitem__(self, key: str) -> np.ndarray:
        return self.features[key]

    @property
    def keys(self) -> list[str]:
        return list(self.features)


def candidate_layers(n_layers: int, fractions: Sequence[float] = FRACTIONS) -> list[int]:
    """Block indices at the relative depths ``fractions`` (0-based, deduplicated, in order)."""
    return list(dict.fromkeys(min(n_layers - 1, int(round(f * (n_layers - 1)))) for f in fractions))


# Banks already built in this process (a sweep opens many trials on the same features):
# keyed by the prepared weights' sha256, the compute dtype and the task's fingerprint.
_BANKS: dict[tuple, FeatureBank] = {}
_BANKS_MAX = 8


def feature_bank(model: str, task, fractions: Sequence[float] = FRACTIONS,
                 poolings: Sequence[str] = POOLINGS) -> FeatureBank:
    """The candidate features of ``model`` on ``task`` (activation cache: extracted once)."""
    from alignlab.activations import task_activations
    from alignlab.models import REGISTRY, load_model, read_prepared, resolve_dtype

    prepared = read_prepared(model) if model in REGISTRY else None
    key = prepared and (prepared.weights_sha256, resolve_dtype("auto"), task.fingerprint, tuple(fractions),
                        tuple(poolings))
    if key in _BANKS:
        return _BANKS[key]
    lm = load_model(model)
    layers = candidate_layers(lm.n_layers, fractions)
    features = {}
    for pooling in poolings:
        acts = task_activations(lm, task, layers=layers, pooling=pooling, progress=False)
        for i, layer in enumerate(layers):
            X = acts[:, i].float().numpy().copy()
            if not np.isfinite(X).all():
                raise ValueError(f"{model}: non-finite activations at block {layer} ({pooling} pooling) on task "
                                 f"{task.name!r}; try another dtype (ALIGNLAB_DTYPE=float32)")
            X.setflags(write=False)  # shared between trials: a method that writes to it fails loudly
            features[f"L{layer}/{pooling}"] = X
    bank = FeatureBank(features, lm.digest, sum(p.numel() for p in lm.model.parameters()), lm.n_layers)
    if key:
        if len(_BANKS) >= _BANKS_MAX:
            _BANKS.pop(next(iter(_BANKS)))  # oldest first
        _BANKS[key] = bank
    return bank


@dataclass(frozen=True)
class Choice:
    """What cross-validation picked, and every candidate's CV accuracy (for the record)."""

    key: str
    C: float
    cv: float
    table: dict[str, float] = field(default_factory=dict)
    """``"<key> C=<C>"`` -> mean CV accuracy against the role's own (hardened) targets."""

    def as_dict(self) -> dict:
        return {"features": self.key, "C": self.C, "cv_accuracy": self.cv}


def group_folds(groups: Sequence[str], k: int, seed: int) -> list[np.ndarray]:
    """``k`` folds of positions 0..n-1 with no group in two folds (groups shuffled by ``seed``)."""
    keys = list(dict.fromkeys(groups))
    order = np.random.default_rng(seed).permutation(len(keys))
    fold_of = {keys[g]: i % k for i, g in enumerate(order)}
    owner = np.array([fold_of[g] for g in groups])
    return [np.flatnonzero(owner == f) for f in range(k)]


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def choose(bank: FeatureBank | dict[str, np.ndarray], rows: np.ndarray, targets: np.ndarray,
           groups: Sequence[str], seed: int, Cs: Sequence[float] = CS, folds: int = FOLDS) -> Choice:
    """The (features, C) with the best group k-fold CV accuracy against ``targets > 0.5``
    on ``rows``; ties go to the earlier candidate (shallower layer, mean pooling, smaller C).
    ``groups`` are the groups of ``rows``, in order."""
    features = bank.features if isinstance(bank, FeatureBank) else bank
    rows, targets = np.asarray(rows), np.asarray(targets, dtype=np.float64)
    if len(rows) != len(targets) or len(rows) != len(groups):
        raise ValueError("choose: rows, targets and groups must have one entry per row")
    hard = (targets > 0.5).astype(np.int64)
    key = (tuple((k, _digest(v)) for k, v in features.items()), _digest(rows, hard), tuple(groups), seed,
           tuple(Cs), folds)
    return _choose_cached(key, features, rows, hard, tuple(groups), seed, tuple(Cs), folds)


_CHOICES: dict[tuple, Choice] = {}


def _choose_cached(key, features, rows, hard, groups, seed, Cs, folds) -> Choice:
    if key not in _CHOICES:
        if len(_CHOICES) > 256:
            _CHOICES.clear()
        _CHOICES[key] = _choose(features, rows, hard, groups, seed, Cs, folds)
    return _CHOICES[key]


def _choose(features: dict[str, np.ndarray], rows: np.ndarray, hard: np.ndarray, groups: tuple[str, ...],
            seed: int, Cs: tuple[float, ...], folds: int) -> Choice:
    from sklearn.linear_model import LogisticRegression

    parts = group_folds(groups, min(folds, len(set(groups))), seed)
    if len(parts) < 2 or len(np.unique(hard)) < 2:  # nothing to cross-validate: fixed, stated defaults
        first = next(iter(features))
        return Choice(first, Cs[len(Cs) // 2], float("nan"), {})
    table, best = {}, None
    for name, X_all in features.items():
        X = np.asarray(X_all[rows], dtype=np.float64)
        for C in Cs:
            correct = 0
            for held in parts:
                train = np.setdiff1d(np.arange(len(rows)), held)
                y = hard[train]
                if len(np.unique(y)) < 2:
                    correct += int((hard[held] == y[0]).sum())
                    continue
                mean, scale = X[train].mean(0), X[train].std(0) + 1e-6
                clf = LogisticRegression(C=C, max_iter=300)
                with warnings.catch_warnings():  # an unconverged fit still scores; its score says how well
                    warnings.simplefilter("ignore")
                    clf.fit((X[train] - mean) / scale, y)
                correct += int((clf.predict((X[held] - mean) / scale) == hard[held]).sum())
            score = correct / len(rows)
            table[f"{name} C={C:g}"] = score
            if best is None or score > best[2] + 1e-12:
                best = (name, C, score)
    return Choice(best[0], best[1], best[2], table)


def fit_choice(bank: FeatureBank | dict[str, np.ndarray], choice: Choice, rows: np.ndarray, targets: np.ndarray,
               seed: int, loss=None, epochs: int = 60, lr: float = 1e-2):
    """A head on the chosen features, trained on ``rows`` against soft ``targets``
    (``loss``: a transfer method's; cross-entropy by default)."""
    from alignlab.generalization._head import HeadConfig, HeadLearner

    features = bank.features if isinstance(bank, FeatureBank) else bank
    return HeadLearner(features[choice.key], HeadConfig(C=choice.C, epochs=epochs, lr=lr)).fit(
        np.asarray(rows), np.asarray(targets, dtype=np.float64), seed, loss=loss)
