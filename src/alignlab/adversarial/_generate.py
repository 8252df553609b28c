"""Batched model calls the organisms and black-box detectors share: greedy replies,
teacher-forced log-probabilities of given continuations, and one-token choices.

Every function takes already-rendered inputs (``_prompts.render``) and a ``LoadedModel``.
Prompts are tokenized as ``extract`` does (the tokenizer's special tokens included),
continuations without special tokens, so training, verification and detectors all see
the same token sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from alignlab.models import pad_batch


def _ids(tokenizer, texts: Sequence[str], special: bool) -> list[list[int]]:
    return tokenizer(list(texts), add_special_tokens=special)["input_ids"]


def _device(lm) -> torch.device:
    return next(lm.model.parameters()).device


@dataclass(frozen=True)
class Reply:
    """A greedy reply with the tokens it was generated as and the model's log-probability
    of each (from the forward passes that chose them)."""

    text: str
    ids: list[int]
    logprobs: np.ndarray


@torch.inference_mode()
def greedy_scored(lm: Any, inputs: Sequence[str], max_new_tokens: int, batch_size: int = 32) -> list[Reply]:
    """The model's greedy reply to each rendered input (special tokens dropped from the
    text; the reply ends before the first end-of-sequence token), with its token ids
    and log-probabilities, so scoring a reply under the same model costs no second pass."""
    tok, model = lm.tokenizer, lm.model
    ids = _ids(tok, inputs, special=True)
    out: list[Reply] = [Reply("", [], np.zeros(0))] * len(ids)
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # similar lengths batch together
    eos = tok.eos_token_id
    stops = set(eos if isinstance(eos, list) else [eos]) - {None}
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        input_ids, mask, _ = pad_batch([ids[i] for i in rows], tok.pad_token_id, "left", _device(lm))
        gen = model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                             do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=eos,
                             output_logits=True, return_dict_in_generate=True)
        new = gen.sequences[:, input_ids.shape[1]:]  # (B, steps)
        chosen = torch.stack([torch.log_softmax(step.float(), dim=-1).gather(-1, new[:, t, None])[:, 0]
                              for t, step in enumerate(gen.logits)], dim=1).cpu().numpy()  # (B, steps)
        for b, r in enumerate(rows):
            seq = new[b].tolist()
            n = next((k for k, t in enumerate(seq) if t in stops), len(seq))
            out[r] = Reply(tok.decode(seq[:n], skip_special_tokens=True), seq[:n], chosen[b, :n])
    return out


def greedy(lm: Any, inputs: Sequence[str], max_new_tokens: int, batch_size: int = 32) -> list[str]:
    """The model's greedy reply text to each rendered input (see ``greedy_scored``)."""
    return [r.text for r in greedy_scored(lm, inputs, max_new_tokens, batch_size)]


@torch.inference_mode()
def continuation_logprobs(lm: Any, inputs: Sequence[str], continuations: Sequence[str | Sequence[int]],
                          batch_size: int = 32) -> list[np.ndarray]:
    """Per-token log p(continuation token | input, earlier continuation tokens), one
    array per row (length: the continuation's token count). A continuation is text
    (tokenized without special tokens) or token ids (e.g. a ``Reply``'s ``ids``).

    Rows are padded on the left, so every continuation ends at the last position and
    the LM head and softmax run only over the last (longest continuation) positions,
    not over every prompt token: most of a short reply's scoring cost otherwise."""
    tok, model = lm.tokenizer, lm.model
    prompts = _ids(tok, inputs, special=True)
    texts = [i for i, c in enumerate(continuations) if isinstance(c, str)]
    conts = [list(c) if not isinstance(c, str) else [] for c in continuations]
    for i, c in zip(texts, _ids(tok, [continuations[i] for i in texts], special=False) if texts else []):
        conts[i] = c
    out: list[np.ndarray] = [np.zeros(0)] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: -(len(prompts[i]) + len(conts[i])))
    for start in range(0, len(order), batch_size):
        rows = [i for i in order[start:start + batch_size] if conts[i]]
        if not rows:
            continue
        keep = max(len(conts[i]) for i in rows) + 1  # positions predicting each continuation token
        input_ids, mask, pos = pad_batch([prompts[i] + conts[i] for i in rows], tok.pad_token_id, "left", _device(lm))
        logits = model(input_ids=input_ids, attention_mask=mask, position_ids=pos, use_cache=False,
                       logits_to_keep=keep).logits  # (B, keep, V): positions T-keep .. T-1
        logp = torch.log_softmax(logits.float(), dim=-1)
        for b, i in enumerate(rows):
            n_c = len(conts[i])
            # the logits at position t predict token t+1: the last n_c tokens are predicted
            # by the n_c positions before the final one
            target = input_ids[b, -n_c:]
            out[i] = logp[b, keep - n_c - 1:keep - 1].gather(-1, target[:, None])[:, 0].cpu().numpy()
    return out


def choose(lm: Any, inputs: Sequence[str], options: Sequence[Sequence[str]]) -> list[str]:
    """For each input, the one of its options whose tokens the model finds most likely
    (summed log-probability; every input has the same number of options)."""
    k = len(options[0])
    flat = continuation_logprobs(lm, [x for x in inputs for _ in range(k)], [o for opts in options for o in opts])
    scores = np.array([lp.sum() for lp in flat]).reshape(len(inputs), k)  # (n, k)
    return [opts[j] for opts, j in zip(options, scores.argmax(axis=1))]
