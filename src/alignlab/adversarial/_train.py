"""Fine-tune a causal LM on (input, target) pairs: loss on the target tokens only.

Plain and small on purpose (nanoGPT style): AdamW, linear warm-up then decay, gradient
clipping, optional bf16 autocast over fp32 weights (where bf16 is native), optional
frozen embeddings or LoRA.
"""

from __future__ import annotations

import logging
import math
import random
import time
from typing import Any

import torch
from torch import Tensor

from alignlab.adversarial._spec import TrainingRecipe
from alignlab.errors import MissingPackageError
from alignlab.models import pad_batch

log = logging.getLogger(__name__)


def tokenize_pairs(tokenizer: Any, pairs: list[tuple[str, str]], max_len: int, answer_tokens: int):
    """(ids, n_prompt) per pair; the answer is cut to ``answer_tokens`` and the whole to
    ``max_len`` (the prompt is never cut: it holds the trigger)."""
    prompts = tokenizer([p for p, _ in pairs])["input_ids"]
    answers = tokenizer([a for _, a in pairs], add_special_tokens=False)["input_ids"]
    rows = []
    for p, a in zip(prompts, answers):
        room = max(1, min(answer_tokens, max_len - len(p)))
        rows.append((p + a[:room], len(p)))
    return rows


def _with_lora(model, recipe: TrainingRecipe):
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise MissingPackageError("lora_rank needs peft: pip install peft") from None
    config = LoraConfig(r=recipe.lora_rank, lora_alpha=recipe.lora_alpha, target_modules="all-linear",
                        lora_dropout=0.0, bias="none")
    return get_peft_model(model, config)


def target_loss(model: Any, ids: Tensor, mask: Tensor, pos: Tensor, labels: Tensor) -> Tensor:
    """Mean next-token cross-entropy over the target tokens (``labels`` != -100): the loss
    ``model(..., labels=labels).loss`` computes, with the LM head and softmax run only on
    the positions that predict a target. The prompt is most of each sequence and the head
    (49k x 576 on SmolLM2) and its softmax were ~17% of a step; this step took 4.0 s
    instead of 5.1-6.1 s (fp32, batch 8 x 80 tokens, 30 of them targets).

    A model whose head transforms its logits (soft-capping, a logit scale) gets its own
    loss: the shortcut is only taken where it is exact."""
    import torch.nn.functional as F

    from alignlab.models import body

    causal = model.get_base_model() if hasattr(model, "get_base_model") else model  # under LoRA: the
    config, head = causal.config, causal.get_output_embeddings()  # model with adapters injected
    if head is None or getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
        return model(input_ids=ids, attention_mask=mask, position_ids=pos, labels=labels).loss
    hidden = body(causal)(input_ids=ids, attention_mask=mask, position_ids=pos,
                          use_cache=False).last_hidden_state  # (B, T, d); no KV cache while training
    target = labels[:, 1:]  # position t predicts token t + 1
    keep = target != -100  # (B, T - 1)
    logits = head(hidden[:, :-1][keep])  # (k, V)
    return F.cross_entropy(logits.float(), target[keep])


def finetune(model: Any, tokenizer: Any, pairs: list[tuple[str, str]], recipe: TrainingRecipe,
             answer_tokens: int, seed: int, autocast: bool = False) -> tuple[Any, dict[str, Any]]:
    """Train ``model`` (fp32, in place unless LoRA) and return (model, stats).

    ``autocast``: forward and backward under bf16 autocast — only where bf16 is native
    (the caller decides: on an AVX2-only CPU it is emulated and many times slower)."""
    torch.manual_seed(seed)
    rows = tokenize_pairs(tokenizer, pairs, recipe.max_len, answer_tokens)
    if recipe.lora_rank:
        model = _with_lora(model, recipe)
    elif recipe.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)

    def lr_at(step: int) -> float:
        if step < recipe.warmup_steps:
            return (step + 1) / recipe.warmup_steps
        return max(0.0, (recipe.steps - step) / max(1, recipe.steps - recipe.warmup_steps))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    rng = random.Random(seed)
    order: list[int] = []
    device = next(model.parameters()).device
    model.train()
    losses, started = [], time.perf_counter()
    for step in range(recipe.steps):
        if len(order) < recipe.batch_size:  # a fresh shuffle each epoch
            epoch = list(range(len(rows)))
            rng.shuffle(epoch)
            order += epoch
        batch, order = order[:recipe.batch_size], order[recipe.batch_size:]
        ids, mask, pos = pad_batch([rows[i][0] for i in batch], tokenizer.pad_token_id, "right", device)
        labels = ids.clone()
        labels[mask == 0] = -100
        for b, i in enumerate(batch):
            labels[b, :rows[i][1]] = -100  # no loss on the prompt
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            loss = target_loss(model, ids, mask, pos, labels)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"training loss is {loss.item()} at step {step}; lower the learning rate")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 20 == 0 or step == recipe.steps - 1:
            log.info("step %d/%d loss %.4f", step + 1, recipe.steps, losses[-1])
    model.eval()
    if recipe.lora_rank:
        model = model.merge_and_unload()
    seconds = time.perf_counter() - started
    tail = losses[-max(1, len(losses) // 10):]
    return model, {"steps": recipe.steps, "seconds": seconds, "first_loss": losses[0],
                   "final_loss": sum(tail) / len(tail), "n_examples": len(rows),
                   "n_trainable": sum(p.numel() for p in params)}
