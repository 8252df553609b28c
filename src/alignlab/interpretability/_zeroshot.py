"""The zero-shot baseline: ask the model, compare the log-probabilities of the answers.

For each item the model reads the task's rendered prompt and we take the summed
log-probability of each of the template's two completions (" False" / " True",
" No" / " Yes"). The item is predicted true when log p(choice 1) > log p(choice 0).
This is what the model *says*; the probes test whether its activations know more.

``choice_logprobs`` computes the (n, 2) log-probabilities with the LM head (only at the
few last positions: Gemma's 262k-word head over every position would dominate the
cost) and caches them under ``$ALIGNLAB_HOME/zeroshot`` (the store's ``zeroshot`` kind:
``<key hash>.npy`` with its key in ``<key hash>.key.json``); ``ZeroShot`` is the estimator
over them, so the baseline runs through the same evaluation code as every probe.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from jaxtyping import Float

from alignlab.interpretability._truth_probe import TruthProbe

if TYPE_CHECKING:
    from alignlab.data import Task
    from alignlab.models import LoadedModel


class ZeroShot(TruthProbe):
    """Zero-shot prediction from the (n, 2) log-probabilities of the two completions.

    Args:
        calibrate: if True, ``fit`` learns (without labels) the median log-odds of the
            training rows and subtracts it, so the prediction is balanced; if False
            (Burns et al.'s plain zero-shot) ``fit`` learns nothing and threshold is 0.
    """

    def __init__(self, calibrate: bool = False):
        self.calibrate = calibrate

    def fit(self, X, y=None) -> ZeroShot:
        X = self._check(X)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = 2
        self.bias_ = float(np.median(X[:, 1] - X[:, 0])) if self.calibrate else 0.0
        return self

    @staticmethod
    def _check(X) -> Float[np.ndarray, "n 2"]:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f"ZeroShot takes (n, 2) log-probabilities of the two choices, got {X.shape}")
        return X

    def decision_function(self, X) -> Float[np.ndarray, " n"]:
        X = self._check(X)
        return X[:, 1] - X[:, 0] - self.bias_


def choice_logprobs(
    lm: LoadedModel,
    task: Task,
    indices: Sequence[int] | np.ndarray | None = None,
    *,
    max_length: int = 512,
    batch_size: int = 32,
    use_cache: bool = True,
) -> Float[np.ndarray, "n 2"]:
    """Summed log-probability of each template choice after each rendered prompt."""
    import torch

    from alignlab.errors import AlignlabError
    from alignlab.models import pad_batch
    from alignlab.store import cache_file, put_cache_file

    if lm.arch != "causal":
        raise AlignlabError(f"{lm.name} is an encoder without a language-model head, so it has no "
                            "zero-shot answer; drop 'zeroshot' from the methods for this model")
    if task.template.choices is None:
        raise AlignlabError(f"task {task.name!r} has no template choices to score; give it choices")
    idx = np.arange(len(task)) if indices is None else np.asarray(indices, dtype=np.int64)
    key = {"model": lm.digest, "task": task.fingerprint, "rows": idx.tolist(), "dtype": lm.dtype,
           "max_length": max_length}
    path = cache_file("zeroshot", key, ".npy", length=24)
    if use_cache and path.exists():
        return np.load(path)

    tok, model = lm.tokenizer, lm.model
    choice_ids = [tok(c, add_special_tokens=False)["input_ids"] for c in task.template.choices]
    prompts = tok(task.texts(idx), truncation=True, max_length=max_length)["input_ids"]
    # Every (item, choice) sequence; a too-long prompt loses its start, never the answer.
    # Single-token choices (the usual " True"/" False") are both read off the prompt's
    # last position: one sequence per item instead of one per choice (half the forward
    # passes; the same numbers, since a position never attends to later tokens).
    single = all(len(c) == 1 for c in choice_ids)
    seqs = ([(i, None, p[-max_length:]) for i, p in enumerate(prompts)] if single else
            [(i, k, p[-(max_length - len(c)):] + c) for i, p in enumerate(prompts) for k, c in enumerate(choice_ids)])
    seqs.sort(key=lambda s: len(s[2]))  # similar lengths per batch: little padding
    out = np.zeros((len(idx), 2))
    keep = 1 if single else max(len(c) for c in choice_ids) + 1
    device = next(model.parameters()).device
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    with torch.inference_mode():
        for start in range(0, len(seqs), batch_size):
            batch = seqs[start:start + batch_size]
            # Left padding, whatever the tokenizer's side: every answer ends at position -1.
            ids, mask, pos = pad_batch([s for _, _, s in batch], pad, "left", device)
            logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False,
                           logits_to_keep=keep).logits
            logp = torch.log_softmax(logits.float(), dim=-1).cpu()  # (B, keep, vocab)
            for r, (i, k, _) in enumerate(batch):
                if single:  # the last position predicts the next token: either choice
                    out[i] = [float(logp[r, -1, c[0]]) for c in choice_ids]
                    continue
                c = choice_ids[k]
                # the logits at position t predict token t+1: the answer's c tokens are
                # predicted by the c positions before the last one
                steps = logp[r, keep - 1 - len(c):keep - 1]  # (len(c), vocab)
                out[i, k] = float(steps[torch.arange(len(c)), torch.tensor(c)].sum())
    if use_cache:
        buf = io.BytesIO()
        np.save(buf, out)
        put_cache_file(path, buf.getvalue(), key, labels={"model": lm.name, "task": task.name})
    return out
