"""The fine-tuning mode: train the model itself as a binary classifier.

A fresh copy of the model is loaded for every fit (weak supervisor, ceiling, student
never share weights). The classifier reads the final hidden state pooled over real
tokens (``last`` token for decoders, by the attention mask — never by counting non-zero
ids, since id 0 is a real token) and a new linear layer maps it to one logit. Either
every weight trains (``lora: false``) or low-rank adapters on every linear layer of the
body do (``lora: true``, needs ``peft``). The loss is the transfer method's, so every
method runs unchanged in this mode.

On a GPU this is the mode to use; on 2 CPU cores SmolLM2-135M takes about 2 s per
step of 8 short texts, so it is run on small subsets here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from alignlab.generalization._head import Loss, _xent_loss


class FinetuneConfig(BaseModel):
    """How a model is fine-tuned as a classifier."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lora: bool = False
    """Train low-rank adapters (peft) instead of every weight."""
    lora_rank: int = Field(8, gt=0)
    """Adapter rank, with ``lora``."""
    lr: float = Field(3e-5, gt=0)
    """AdamW learning rate of the body (the new classifier layer uses 30x this)."""
    epochs: int = Field(2, gt=0)
    """Passes over the training rows."""
    batch_size: int = Field(8, gt=0)
    """Texts per optimiser step."""
    max_length: int = Field(64, gt=0)
    """Tokens kept per text (the start is kept)."""
    pooling: Literal["last", "mean"] = "last"
    """How the final hidden states become one vector per text."""
    dtype: Literal["float32", "bfloat16"] = "float32"
    """Weights' dtype while training (bf16 halves memory; fp32 is the safe default)."""


class _Classifier(torch.nn.Module):
    def __init__(self, body: Any, d_model: int, pooling: str):
        super().__init__()
        self.body, self.pooling = body, pooling
        self.score = torch.nn.Linear(d_model, 1)
        torch.nn.init.normal_(self.score.weight, std=d_model ** -0.5)  # not zeros: the body needs a gradient
        torch.nn.init.zeros_(self.score.bias)

    def forward(self, input_ids, attention_mask, position_ids):
        from alignlab.models import pool

        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if position_ids is not None:
            kwargs["position_ids"] = position_ids
        hidden = self.body(**kwargs).last_hidden_state  # (B, T, d)
        pooled = pool(hidden, attention_mask, self.pooling)  # (B, d)
        return self.score(pooled.to(self.score.weight.dtype)).squeeze(-1)  # (B,)


class FinetuneLearner:
    """Fine-tunes ``model`` (a registry name, folder or HF id) on the task's ``texts``.

    ``features`` are the model's frozen features on every text (from the activation
    cache), which methods such as ``knn_smooth`` compute their targets from.
    """

    def __init__(self, model: str, texts: Sequence[str], features: np.ndarray,
                 config: FinetuneConfig = FinetuneConfig(), device: str | None = None):
        self.model_name, self.texts, self.config, self.device = model, list(texts), config, device
        self.features = np.asarray(features, dtype=np.float32)
        if len(self.features) != len(self.texts):
            raise ValueError("one feature row per text")

    def fit(self, rows: np.ndarray, targets: np.ndarray, seed: int, loss: Loss | None = None) -> FittedModel:
        from alignlab.models import body, load_model

        c = self.config
        torch.manual_seed(seed)
        lm = load_model(self.model_name, dtype=c.dtype, device=self.device)
        trunk = body(lm.model)
        if c.lora:
            trunk = _with_lora(trunk, c.lora_rank)
        clf = _Classifier(trunk, lm.d_model, c.pooling).to(lm.model.device)
        side = "left" if lm.arch == "causal" else "right"
        encode = _Encoder(lm.tokenizer, c.max_length, side, lm.model.device, lm.arch == "causal")
        params = [{"params": [p for p in clf.body.parameters() if p.requires_grad], "lr": c.lr},
                  {"params": clf.score.parameters(), "lr": c.lr * 30}]
        opt = torch.optim.AdamW(params, weight_decay=0.0)
        rows, y = np.asarray(rows), torch.as_tensor(np.asarray(targets, dtype=np.float32))
        gen = torch.Generator().manual_seed(seed)
        n_steps, step = c.epochs * -(-len(rows) // c.batch_size), 0
        loss = loss or _xent_loss
        losses = []
        clf.train()
        for _ in range(c.epochs):
            order = torch.randperm(len(rows), generator=gen).numpy()
            for start in range(0, len(rows), c.batch_size):
                batch = order[start:start + c.batch_size]
                logits = clf(*encode([self.texts[i] for i in rows[batch]])).float()  # (b,)
                objective = loss(logits, y[batch].to(logits.device), step, n_steps)
                if not torch.isfinite(objective):
                    raise FloatingPointError(f"fine-tuning loss is {objective.item()} at step {step}; lower lr "
                                             "or use dtype='float32'")
                opt.zero_grad()
                objective.backward()
                torch.nn.utils.clip_grad_norm_(clf.parameters(), 1.0)
                opt.step()
                losses.append(float(objective.detach()))
                step += 1
        clf.eval()
        return FittedModel(clf, encode, self.texts, c.batch_size * 4, losses)


def _with_lora(trunk: Any, rank: int) -> Any:
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as e:
        from alignlab.errors import MissingPackageError

        raise MissingPackageError("LoRA fine-tuning needs peft: pip install 'alignlab[finetune]'") from e
    return get_peft_model(trunk, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear"))


class _Encoder:
    """Texts -> padded (input_ids, attention_mask, position_ids) on the model's device."""

    def __init__(self, tokenizer: Any, max_length: int, side: str, device: Any, positions: bool):
        self.tokenizer, self.max_length, self.side, self.device = tokenizer, max_length, side, device
        self.positions = positions  # explicit positions for decoders (left padding); encoders use their own

    def __call__(self, texts: list[str]):
        from alignlab.models import pad_batch

        ids = [self.tokenizer(t, truncation=True, max_length=self.max_length)["input_ids"] for t in texts]
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        input_ids, mask, positions = pad_batch(ids, pad_id, self.side, self.device)
        return input_ids, mask, positions if self.positions else None


class FittedModel:
    """A fine-tuned classifier; predicts on the task's examples by row index."""

    def __init__(self, clf: _Classifier, encode: _Encoder, texts: list[str], batch_size: int,
                 losses: list[float]):
        self.clf, self.encode, self.texts, self.batch_size = clf, encode, texts, batch_size
        self.losses_ = losses
        """Training loss per step."""

    @torch.inference_mode()
    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(rows), self.batch_size):
            batch = [self.texts[i] for i in np.asarray(rows)[start:start + self.batch_size]]
            out.append(torch.sigmoid(self.clf(*self.encode(batch)).float()).cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
