"""The sparse judge: a classifier that sees only k revealed pixels of an image.

Its input is the observation (mask, mask * image), shape (128,), as in Irving et al.
(2018). It is trained on random k-pixel masks that prefer non-zero pixels (the original
sampled only lit pixels; a finite preference keeps dark pixels in-distribution, since a
debater may reveal them). Training uses torch; inference is a numpy MLP, because the
debate search calls the judge hundreds of thousands of times on small batches and numpy
has no per-call dispatch overhead.

For search, ``bind(images)`` precomputes, per image and pixel, that pixel's contribution
to the first layer, ``W_mask[p] + x[p] * W_value[p]``; scoring a leaf is then a gather
and a sum over its k pixels instead of a (128 x d_hidden) matmul.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from alignlab.oversight.debate._data import N_CLASSES, N_PIXELS

PAD = N_PIXELS  # pixel index meaning "no pixel": its contribution row is zero


def sample_pixels(
    images: np.ndarray, k: int, rng: np.random.Generator, nonzero_weight: float = 5.0
) -> np.ndarray:
    """k distinct pixels per image, a lit pixel ``nonzero_weight`` times likelier than a dark one.

    Gumbel top-k: adding Gumbel noise to log-weights and keeping the k largest samples
    without replacement proportionally to the weights, for all images in one call.
    """
    logw = np.where(images > 0, np.log(nonzero_weight), 0.0)  # (n, 64)
    keys = logw + rng.gumbel(size=images.shape)
    return np.argsort(-keys, axis=1)[:, :k]  # (n, k)


def observe(images: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """The judge's view (mask, mask * image), shape (n, 128); PAD entries reveal nothing."""
    n = images.shape[0]
    mask = np.zeros((n, N_PIXELS + 1), dtype=np.float32)
    mask[np.arange(n)[:, None], pixels] = 1.0
    mask = mask[:, :N_PIXELS]  # drop the PAD column
    return np.concatenate([mask, mask * images], axis=1).astype(np.float32)


class SparseJudge(ClassifierMixin, BaseEstimator):
    """An MLP judge trained on random k-pixel observations of images.

    ``fit(images, y)`` takes full images (n, 64) and draws fresh masks every epoch;
    ``predict_proba(obs)`` takes observations (n, 128) from :func:`observe`.

    Args:
        k: pixels per training mask.
        hidden: widths of the hidden layers.
        epochs: passes over the training images, each with freshly drawn masks.
        batch_size: minibatch size.
        lr: Adam learning rate (cosine-decayed to zero).
        nonzero_weight: how much likelier a lit pixel is to be masked-in than a dark one.
        seed: seeds mask sampling, initialisation and shuffling.
    """

    def __init__(self, k: int = 6, hidden: tuple[int, ...] = (128, 128), epochs: int = 300,
                 batch_size: int = 256, lr: float = 2e-3, nonzero_weight: float = 5.0,
                 seed: int = 0):
        self.k = k
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.nonzero_weight = nonzero_weight
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray) -> SparseJudge:
        import torch

        from alignlab.threads import torch_threads

        # One intra-op thread: a 128-wide MLP gains nothing from two, and on a shared
        # 2-core machine two threads trained 7x slower (87 s vs 12 s). Restored after.
        with torch_threads(1):
            self._fit(torch, X, y)
        return self

    def _fit(self, torch, X: np.ndarray, y: np.ndarray) -> None:
        X = np.asarray(X, dtype=np.float32)  # (n, 64) full images
        y = np.asarray(y, dtype=np.int64)
        rng = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)
        widths = [2 * N_PIXELS, *self.hidden]
        layers: list[torch.nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        net = torch.nn.Sequential(*layers, torch.nn.Linear(widths[-1], N_CLASSES))
        steps_per_epoch = -(-len(y) // self.batch_size)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.epochs * steps_per_epoch)
        yt = torch.from_numpy(y)
        for _ in range(self.epochs):
            # Fresh masks every epoch: the judge never sees the same view twice.
            obs = torch.from_numpy(observe(X, sample_pixels(X, self.k, rng, self.nonzero_weight)))
            perm = torch.from_numpy(rng.permutation(len(y)))
            for i in range(0, len(y), self.batch_size):
                b = perm[i:i + self.batch_size]
                loss = torch.nn.functional.cross_entropy(net(obs[b]), yt[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        self.coefs_ = [m.weight.detach().numpy().T.copy() for m in linears]  # (d_in, d_out)
        self.intercepts_ = [m.bias.detach().numpy().copy() for m in linears]
        self.classes_ = np.arange(N_CLASSES)

    def decision_function(self, obs: np.ndarray) -> np.ndarray:
        """Logits (n, 10) for observations (n, 128)."""
        h = np.asarray(obs, dtype=np.float32)
        for i, (w, b) in enumerate(zip(self.coefs_, self.intercepts_)):
            h = h @ w + b
            if i < len(self.coefs_) - 1:
                np.maximum(h, 0, out=h)
        return h

    def predict_proba(self, obs: np.ndarray) -> np.ndarray:
        return softmax(self.decision_function(obs))

    def predict(self, obs: np.ndarray) -> np.ndarray:
        return self.decision_function(obs).argmax(1)

    def bind(self, images: np.ndarray) -> BoundJudge:
        """A fast leaf scorer for these images (see the module docstring)."""
        w1, b1 = self.coefs_[0], self.intercepts_[0]
        w_mask, w_value = w1[:N_PIXELS], w1[N_PIXELS:]  # (64, d_hidden) each
        images = np.asarray(images, dtype=np.float32)
        table = np.zeros((len(images), N_PIXELS + 1, w1.shape[1]), dtype=np.float32)
        table[:, :N_PIXELS] = w_mask[None] + images[:, :, None] * w_value[None]  # (n, 64, d_hidden)
        return BoundJudge(images, _mlp_head(table, b1, self.coefs_[1:], self.intercepts_[1:]))


def _mlp_head(table, b1, coefs, intercepts):
    def logits(rows: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        h = table[rows[:, None], pixels].sum(1) + b1  # (G, k, d_hidden) -> (G, d_hidden)
        for w, b in zip(coefs, intercepts):
            np.maximum(h, 0, out=h)
            h = h @ w + b
        return h  # (G, 10)
    return logits


@dataclass
class BoundJudge:
    """A judge bound to a fixed set of images; counts every leaf it scores.

    ``logits(rows, pixels)``: rows (G,) index the bound images, pixels (G, m) are the
    revealed pixel indices (PAD for none). Values are read from the bound images, never
    from the caller: a debater names pixels, it cannot state their values.
    """

    images: np.ndarray  # (n, 64)
    _logits: Callable[[np.ndarray, np.ndarray], np.ndarray]
    n_calls: int = field(default=0)
    n_evals: int = field(default=0)

    def logits(self, rows: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        self.n_calls += 1
        self.n_evals += len(rows)
        return self._logits(rows, pixels)


class OracleJudge(ClassifierMixin, BaseEstimator):
    """A judge that knows every image's label: it ignores the revealed pixels.

    With it, honesty must win every debate; a test that it does checks the game's
    bookkeeping (claims, winners, the any-liar rule), not the search.
    """

    def fit(self, X: np.ndarray, y: np.ndarray) -> OracleJudge:
        self.labels_ = {np.asarray(x, dtype=np.float32).tobytes(): int(t) for x, t in zip(X, y)}
        self.classes_ = np.arange(N_CLASSES)
        return self

    def bind(self, images: np.ndarray) -> BoundJudge:
        labels = np.array([self.labels_[np.asarray(x, np.float32).tobytes()] for x in images])
        onehot = 10.0 * np.eye(N_CLASSES, dtype=np.float32)[labels]  # (n, 10)
        return BoundJudge(np.asarray(images, np.float32), lambda rows, pixels: onehot[rows])


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)
