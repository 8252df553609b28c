"""The debate's data: scikit-learn's 8x8 digits (1,797 images, ships offline), split once.

Irving et al. used 28x28 MNIST; the 8x8 digits are the nearest dataset that needs no
download. Pixels are scaled to [0, 1] so a revealed value means the same thing to the
judge whatever the image.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

N_PIXELS = 64
N_CLASSES = 10
SIDE = 8


@dataclass(frozen=True)
class DigitsSplit:
    """A train/test split of the digits; images are float32 in [0, 1], shape (n, 64)."""

    train_x: np.ndarray  # (n_train, 64)
    train_y: np.ndarray  # (n_train,)
    test_x: np.ndarray  # (n_test, 64)
    test_y: np.ndarray  # (n_test,)
    test_index: np.ndarray  # (n_test,) row of each test image in load_digits()

    def fingerprint(self) -> str:
        """A hash of the exact arrays, so a run record names the data it saw."""
        h = hashlib.sha256()
        for a in (self.train_x, self.train_y, self.test_x, self.test_y):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]


def load_split(test_fraction: float = 0.2, seed: int = 0) -> DigitsSplit:
    """Stratified split of ``sklearn.datasets.load_digits``; the same seed, the same split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # 0..16 integer intensities -> [0, 1]
    y = digits.target.astype(np.int64)
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=test_fraction, stratify=y, random_state=seed)
    return DigitsSplit(x[tr], y[tr], x[te], y[te], te)
