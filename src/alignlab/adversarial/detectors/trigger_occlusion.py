"""``trigger_occlusion`` — OUR OWN detector (not from the papers issue 5 anchors on).

Idea: a backdoor is a short span of the input whose removal changes the reply far more
than removing any span of a clean input does. For each input we take the model's greedy
reply, cut the prompt's words into ``n_spans`` contiguous spans, delete each span in
turn, and measure how much less likely the original reply becomes (mean log-prob per
reply token, teacher-forced). The feature is the largest such drop; it is
standardised against the same quantity on clean calibration prompts (median / MAD).

Black box (output probabilities only), needs no reference model, and localises the
span it suspects (``report`` shows it on the most suspicious calibration inputs, which
are clean, so it reports the baseline). Its known weakness: on tasks where one word
carries the answer (a country in "What is the capital of X?") removing that word also
changes the reply a lot, so clean inputs score high too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from jaxtyping import Float

from alignlab.adversarial.detectors._base import ScalarDetector


def spans_removed(message: str, n_spans: int) -> list[str]:
    """``message`` with each of up to ``n_spans`` contiguous word spans deleted."""
    words = message.split()
    if len(words) < 2:
        return [""]
    chunks = np.array_split(np.arange(len(words)), min(n_spans, len(words)))
    return [" ".join(w for i, w in enumerate(words) if i not in set(chunk.tolist())) for chunk in chunks]


class TriggerOcclusion(ScalarDetector):
    """Largest drop in the reply's log-probability when one span of the input is deleted.

    Args:
        n_tokens: reply tokens generated and rescored.
        n_spans: spans each input's words are cut into.
    """

    def __init__(self, n_tokens: int = 4, n_spans: int = 4):
        self.n_tokens = n_tokens
        self.n_spans = n_spans

    def features(self, subject: Any, messages: Sequence[str]) -> Float[np.ndarray, "n 1"]:
        from alignlab.adversarial._generate import continuation_logprobs, greedy_scored

        inputs = [subject.render(m) for m in messages]
        replies = greedy_scored(subject.model, inputs, self.n_tokens)
        full = [float(r.logprobs.mean()) if len(r.ids) else 0.0 for r in replies]
        ablated, owner = [], []
        for row, m in enumerate(messages):
            for variant in spans_removed(m, self.n_spans):
                ablated.append(subject.render(variant))
                owner.append(row)
        reply_of = [replies[r].ids for r in owner]
        lps = continuation_logprobs(subject.model, ablated, reply_of)
        drop = np.full(len(messages), -np.inf)
        for r, lp in zip(owner, lps):
            drop[r] = max(drop[r], full[r] - (float(lp.mean()) if len(lp) else 0.0))
        return drop[:, None]
