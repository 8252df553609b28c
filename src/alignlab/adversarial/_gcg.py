"""Greedy Coordinate Gradient (Zou et al. 2023): a suffix of tokens appended to a user
message so that the model's reply begins with a chosen target string.

    >>> result = gcg(lm, "What is the capital of Peru?", "The committee met on Tuesday", GCGConfig())
    >>> result.suffix, result.success, result.steps_to_success

Each step: the gradient of the target's loss (mean cross-entropy of its tokens, teacher
forced) with respect to a one-hot encoding of the suffix ranks, per position, the
``top_k`` replacement tokens that most lower it to first order; ``search_width``
candidates each put one of those tokens at one random position; all are scored exactly
in batched forward passes. The part of the input before the suffix (chat template,
system prompt, message) is run once and its key/value cache reused by every pass. The
best candidate replaces the suffix when it lowers the loss (monotone descent).

``proposal="random"`` draws the replacement from every allowed token instead, with no
gradient: random search under the same step and candidate budget, the baseline that says
whether the gradient earns its cost.

Only candidates whose text tokenizes back to the same ids in context are kept (BPE merges
across the suffix's edges would otherwise make the found suffix a different one when used
as text), and only printable ASCII tokens that are not special are allowed (as nanoGCG's
default), so the suffix can be typed. Success is claimed when every target token is the
model's argmax under teacher forcing — exactly when greedy decoding reproduces the target;
an evaluator checks it by generating from the text.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from alignlab.adversarial._prompts import render

MARK = "\x00SUFFIX\x00"
"""Stands for the suffix while the chat template renders the message."""


@dataclass(frozen=True)
class GCGConfig:
    """Budget and search shape (defaults: the paper's top_k, a smaller width for CPUs)."""

    n_steps: int = 250
    suffix_tokens: int = 20
    top_k: int = 256
    search_width: int = 128
    batch_size: int = 64
    """Candidates per forward pass (memory, not results)."""
    time_budget_s: float | None = None
    """Stop after this many seconds (per goal); None: only ``n_steps`` bounds it."""
    proposal: Literal["gradient", "random"] = "gradient"
    early_stop: bool = True
    """Stop at the first claimed success."""
    init: str = " x"
    """The suffix starts as this string repeated (nanoGCG's "x x x ..."), cut to length."""


@dataclass
class GCGResult:
    suffix: str
    """Text to append to the message (no separator added; it starts with its own space)."""
    ids: list[int]
    loss: float
    """Mean target cross-entropy with the final suffix."""
    success: bool
    """Claimed: greedy decoding reproduces the target (argmax at every target position)."""
    steps: int
    steps_to_success: int | None
    seconds: float
    seconds_to_success: float | None
    n_candidates: int
    """Candidate suffixes scored by a forward pass (the budget's unit)."""
    losses: list[float] = field(default_factory=list)
    """The current suffix's loss after each step."""

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("suffix", "ids", "loss", "success", "steps", "steps_to_success",
                                               "seconds", "seconds_to_success", "n_candidates", "losses")}


@functools.lru_cache(maxsize=4)
def _token_texts(tokenizer: Any, vocab_rows: int) -> tuple[str | None, ...]:
    """Each embedding row's text as the tokenizer decodes it alone; None for a special
    token or a row the tokenizer does not know (embedding matrices are often padded)."""
    special = set(tokenizer.all_special_ids)
    return tuple(None if i in special or i >= len(tokenizer) else tokenizer.decode([i]) for i in range(vocab_rows))


def allowed_tokens(tokenizer: Any, vocab_rows: int, avoid: tuple[str, ...] = ()) -> torch.Tensor:
    """Bool (vocab_rows,): the ids a suffix may use — printable ASCII, not special, not
    blank — less any token whose letters (3 or more) lie inside one of the ``avoid`` words
    or contain one (an attack told not to quote its target cannot spell it either)."""
    words = [w.lower() for w in avoid if len(w) >= 3]
    ok = torch.zeros(vocab_rows, dtype=torch.bool)
    for i, s in enumerate(_token_texts(tokenizer, vocab_rows)):
        if s is None or not (s.strip() and s.isascii() and s.isprintable()):
            continue
        core = "".join(ch for ch in s.lower() if ch.isalnum())
        ok[i] = not (len(core) >= 3 and any(core in w or w in core for w in words))
    return ok


class _Problem:
    """One message/target pair tokenized around the suffix, with the prefix's cache.
    ``placement="prefix"``: the searched string goes before the message, a space between
    (where a backdoor's trigger sits: ``_prompts.with_trigger``)."""

    def __init__(self, lm: Any, message: str, target: str, placement: str = "suffix"):
        from alignlab.errors import AlignlabError

        self.lm, self.tok, self.model = lm, lm.tokenizer, lm.model
        rendered = render(self.tok, message + MARK if placement == "suffix" else MARK + " " + message)
        if rendered.count(MARK) != 1:
            raise AlignlabError("the chat template changed the suffix marker; this model's template is not supported")
        self.before_text, self.after_text = rendered.split(MARK)
        self.before = self.tok(self.before_text, add_special_tokens=True)["input_ids"]
        self.after = self.tok(self.after_text, add_special_tokens=False)["input_ids"]
        self.target = self.tok(target, add_special_tokens=False)["input_ids"]
        if not self.target:
            raise AlignlabError("the target string is empty")
        self.device = next(self.model.parameters()).device
        self.tail = torch.tensor(self.after + self.target, device=self.device)
        self.target_t = torch.tensor(self.target, device=self.device)
        with torch.no_grad():
            out = self.model(input_ids=torch.tensor([self.before], device=self.device), use_cache=True)
        self.cache = out.past_key_values

    def cache_for(self, batch: int):
        cache = copy.deepcopy(self.cache)
        if batch > 1:
            cache.batch_repeat_interleave(batch)
        return cache

    def consistent(self, suffix_ids: list[int]) -> bool:
        """The suffix's text, placed in the rendered input, tokenizes to the same ids."""
        text = self.before_text + self.tok.decode(suffix_ids) + self.after_text
        return self.tok(text, add_special_tokens=True)["input_ids"] == self.before + suffix_ids + self.after

    def _target_logits(self, logits: torch.Tensor) -> torch.Tensor:
        # logits cover the last len(target)+1 positions; the first len(target) predict it
        return logits[:, :-1].float()

    def losses(self, suffixes: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, success) per candidate suffix (B, L): mean target cross-entropy, and
        whether every target token is the argmax."""
        n_t = len(self.target)
        losses, hits = [], []
        with torch.no_grad():
            for start in range(0, len(suffixes), batch_size):
                chunk = suffixes[start:start + batch_size]
                ids = torch.cat([chunk, self.tail.expand(len(chunk), -1)], dim=1)
                logits = self.model(input_ids=ids, past_key_values=self.cache_for(len(chunk)), use_cache=True,
                                    logits_to_keep=n_t + 1).logits
                logits = self._target_logits(logits)
                target = self.target_t.expand(len(chunk), -1)
                ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none").mean(1)
                losses.append(ce)
                hits.append((logits.argmax(-1) == target).all(1))
        return torch.cat(losses), torch.cat(hits)

    def gradient(self, suffix: torch.Tensor) -> tuple[torch.Tensor, float]:
        """(d loss / d one-hot(suffix), (L, V); the loss itself)."""
        embed = self.model.get_input_embeddings()
        weight = embed.weight
        one_hot = torch.zeros(len(suffix), weight.shape[0], dtype=weight.dtype, device=self.device)
        one_hot.scatter_(1, suffix[:, None], 1.0)
        one_hot.requires_grad_(True)
        scale = _embed_scale(embed, suffix[:1])
        suffix_embeds = (one_hot @ weight) * scale
        embeds = torch.cat([suffix_embeds, embed(self.tail)], dim=0)[None]
        logits = self.model(inputs_embeds=embeds, past_key_values=self.cache_for(1), use_cache=True,
                            logits_to_keep=len(self.target) + 1).logits
        loss = torch.nn.functional.cross_entropy(self._target_logits(logits)[0], self.target_t)
        (grad,) = torch.autograd.grad(loss, one_hot)
        return grad, float(loss.detach())


class _Joint:
    """Several messages sharing one searched string: the loss is their mean (a universal
    suffix or a trigger), success needs every one, and a candidate must tokenize
    consistently in each."""

    def __init__(self, parts: list[_Problem]):
        self.parts = parts
        self.device = parts[0].device

    def consistent(self, ids: list[int]) -> bool:
        return all(p.consistent(ids) for p in self.parts)

    def losses(self, suffixes: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        out = [p.losses(suffixes, batch_size) for p in self.parts]
        return torch.stack([x[0] for x in out]).mean(0), torch.stack([x[1] for x in out]).all(0)

    def gradient(self, suffix: torch.Tensor) -> tuple[torch.Tensor, float]:
        out = [p.gradient(suffix) for p in self.parts]
        return sum(g for g, _ in out) / len(out), sum(v for _, v in out) / len(out)


def _embed_scale(embed: Any, ids: torch.Tensor) -> torch.Tensor:
    """What the embedding module multiplies its table rows by (Gemma: sqrt(d_model)), so
    one-hot @ table gives what the module would give."""
    with torch.no_grad():
        row = embed.weight[ids].float()
        return (embed(ids).float().norm() / row.norm().clamp_min(1e-12)).to(embed.weight.dtype)


def initial_suffix(lm: Any, n_tokens: int, init: str = " x") -> list[int]:
    ids = lm.tokenizer(init * n_tokens, add_special_tokens=False)["input_ids"]
    return ids[:n_tokens]


def gcg(lm: Any, message: str | Sequence[str], target: str, config: GCGConfig = GCGConfig(), seed: int = 0,
        avoid: tuple[str, ...] = (), placement: Literal["suffix", "prefix"] = "suffix") -> GCGResult:
    """Search a suffix for ``message`` that makes ``lm`` begin its reply with ``target``,
    using no token that spells part of an ``avoid`` word (``allowed_tokens``). Several
    messages: one string for all of them (mean loss; success when it forces every one).
    ``placement="prefix"``: the string goes before the message (trigger reconstruction)."""
    from alignlab.errors import AlignlabError

    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    messages = [message] if isinstance(message, str) else list(message)
    if not messages:
        raise AlignlabError("gcg needs at least one message")
    problem = _Joint([_Problem(lm, m, target, placement) for m in messages])
    allowed = allowed_tokens(lm.tokenizer, lm.model.get_input_embeddings().weight.shape[0], avoid).to(problem.device)
    allowed_ids = allowed.nonzero().flatten()
    if len(allowed_ids) == 0:
        raise AlignlabError("the tokenizer has no printable ASCII tokens to build a suffix from")
    suffix_ids = initial_suffix(lm, config.suffix_tokens, config.init)
    if not problem.consistent(suffix_ids):
        # the initial string merges with its surroundings; start from random allowed tokens
        for _ in range(100):
            suffix_ids = allowed_ids[torch.randint(len(allowed_ids), (config.suffix_tokens,), generator=gen)].tolist()
            if problem.consistent(suffix_ids):
                break
        else:
            raise AlignlabError("found no suffix that tokenizes consistently in this model's chat template")
    suffix = torch.tensor(suffix_ids, device=problem.device)
    loss, hit = (x[0] for x in problem.losses(suffix[None], config.batch_size))
    loss, success = float(loss), bool(hit)
    losses: list[float] = []
    steps, n_cand = 0, 1
    first: tuple[int, float] | None = (0, time.perf_counter() - t0) if success else None
    while steps < config.n_steps and not (success and config.early_stop):
        if config.time_budget_s is not None and time.perf_counter() - t0 > config.time_budget_s:
            break
        steps += 1
        candidates = _candidates(problem, suffix, allowed, allowed_ids, config, gen)
        if len(candidates):
            cand_loss, cand_hit = problem.losses(candidates, config.batch_size)
            n_cand += len(candidates)
            best = int(cand_loss.argmin())
            if float(cand_loss[best]) < loss:
                suffix, loss, success = candidates[best], float(cand_loss[best]), bool(cand_hit[best])
        losses.append(loss)
        if success and first is None:
            first = (steps, time.perf_counter() - t0)
    ids = suffix.tolist()
    return GCGResult(suffix=lm.tokenizer.decode(ids), ids=ids, loss=loss, success=success, steps=steps,
                     steps_to_success=first[0] if first else None, seconds=time.perf_counter() - t0,
                     seconds_to_success=first[1] if first else None, n_candidates=n_cand, losses=losses)


def _candidates(problem: _Problem | _Joint, suffix: torch.Tensor, allowed: torch.Tensor, allowed_ids: torch.Tensor,
                config: GCGConfig, gen: torch.Generator) -> torch.Tensor:
    """``search_width`` one-token edits of ``suffix`` that tokenize consistently, (B, L)."""
    n, L = config.search_width, len(suffix)
    positions = torch.randint(L, (n,), generator=gen)
    if config.proposal == "gradient":
        grad = problem.gradient(suffix)[0].float()
        grad[:, ~allowed] = float("inf")
        top = (-grad).topk(min(config.top_k, len(allowed_ids)), dim=1).indices  # (L, k)
        picks = torch.randint(top.shape[1], (n,), generator=gen)
        tokens = top.cpu()[positions, picks]
    else:
        tokens = allowed_ids.cpu()[torch.randint(len(allowed_ids), (n,), generator=gen)]
    cands = suffix.cpu().repeat(n, 1)
    cands[torch.arange(n), positions] = tokens
    cands = torch.unique(cands[(cands != suffix.cpu()).any(1)], dim=0)
    keep = [i for i, c in enumerate(cands.tolist()) if problem.consistent(c)]
    return cands[keep].to(problem.device)
