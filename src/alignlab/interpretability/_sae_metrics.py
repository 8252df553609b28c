"""How good is an SAE: reconstruction on stored activations, the language model's loss
with the SAE spliced in, and SAELens-compatible save/load.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from alignlab.errors import AlignlabError
from alignlab.interpretability._sae import TopKSAE
from alignlab.models._capture import find_blocks

WEIGHTS_FILE = "sae_weights.safetensors"
CONFIG_FILE = "cfg.json"
SCALE_KEY = "alignlab_input_scale"
"""Metadata key under which ``save_sae`` records the input scale it folded into the weights."""
SAELENS_FORMAT = "6.0.0"
"""Written as ``metadata.sae_lens_version``: SAELens reads a cfg.json without a version ≥ 6
as its pre-6 layout (top-level model/hook fields, and it drops a ``metadata`` dict)."""


@torch.no_grad()
def reconstruction_metrics(sae: TopKSAE, X: Float[Tensor, "n d_in"], batch_size: int = 4096) -> dict[str, float]:
    """Reconstruction quality of ``sae`` on the rows of ``X`` (raw activations), in batches.

    Returns:
        ``explained_variance``: 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖², pooled over all tokens and
        dimensions (x̄ the mean over X). A per-token variant (the mean over tokens of
        1 − ‖x − x̂‖²/‖x − x̄‖², which the ``sae`` testbed reports beside it) weighs every
        token equally and so differs where token norms vary; the pooled one is the
        fraction of X's total variance.
        ``mse``: mean over tokens and dimensions of (x − x̂)², raw units.
        ``l0``: mean number of non-zero codes per token (≤ k).
        ``dead_fraction``: share of latents that fire on none of these tokens.
        ``n_tokens``.
    """
    device, dtype = sae.W_enc.device, sae.W_enc.dtype
    total = torch.zeros(X.shape[1], dtype=torch.float64, device=device)  # Σx
    sq = err = torch.zeros((), dtype=torch.float64, device=device)  # Σ‖x‖², Σ‖x − x̂‖²
    l0 = 0
    fired = torch.zeros(sae.d_sae, dtype=torch.bool, device=device)
    for chunk in X.split(batch_size):
        x = chunk.to(device=device, dtype=dtype)  # (b, d_in)
        values, idx = sae.encode_topk(x)
        err = err + (x - sae.decode_topk(values, idx)).double().pow(2).sum()
        total += x.double().sum(0)
        sq = sq + x.double().pow(2).sum()
        active = values > 0
        l0 += int(active.sum())
        fired[idx[active]] = True
    n = X.shape[0]
    total_var = sq - total.pow(2).sum() / n  # Σ‖x − x̄‖², in float64 against cancellation
    return {"explained_variance": float(1 - err / total_var), "mse": float(err) / (n * X.shape[1]),
            "l0": l0 / n, "dead_fraction": float(1 - fired.float().mean()), "n_tokens": n}


# -- splicing into a language model --------------------------------------------------------


@contextlib.contextmanager
def edit_block_output(block: nn.Module, edit: Callable[[Tensor], Tensor | None]) -> Iterator[None]:
    """Within the context, ``block``'s output hidden state (B, T, d) goes through ``edit``
    (None keeps it). Works whether the block returns a tensor (transformers 5 decoder
    layers) or a tuple whose first item is the hidden state. The hook is removed in a
    ``finally``, whatever happens in the body or in ``edit``."""

    def hook(_module, _inputs, output):
        hidden = output[0] if isinstance(output, tuple) else output
        new = edit(hidden)
        if new is None:
            return None
        return (new, *output[1:]) if isinstance(output, tuple) else new

    handle = block.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _replaced(hidden: Tensor, where: Tensor, values: Tensor) -> Tensor:
    out = hidden.clone()
    out[where] = values.to(device=out.device, dtype=out.dtype)
    return out


def _splice(sae: TopKSAE, where: Tensor) -> Callable[[Tensor], Tensor]:
    """An edit that puts the SAE's reconstruction at positions ``where`` (B, T)."""
    p = sae.W_enc

    def edit(hidden: Tensor) -> Tensor:
        values, idx = sae.encode_topk(hidden[where].to(device=p.device, dtype=p.dtype))  # (m, k)
        return _replaced(hidden, where, sae.decode_topk(values, idx))

    return edit


def _next_token_logprobs(model: nn.Module, ids: Tensor, mask: Tensor) -> Float[Tensor, "B T-1 V"]:
    logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
    return logits[:, :-1].float().log_softmax(-1)


def _nll(logp: Tensor, ids: Tensor, valid: Tensor) -> list[float]:
    """Summed next-token NLL per row (B,)."""
    nll = -logp.gather(-1, ids[:, 1:, None]).squeeze(-1)  # (B, T-1)
    return (nll * valid).double().sum(1).tolist()


def _batch_sums(model: nn.Module, block: nn.Module, sae: TopKSAE, ids: Tensor, mask: Tensor,
                skip_first: bool) -> dict[str, list[float]]:
    """Per row of one batch: summed next-token NLL clean, spliced, zero- and mean-ablated,
    summed KL(clean ‖ spliced), and the counts of scored predictions and replaced activations."""
    where = mask.bool()  # (B, T): positions whose activation is replaced
    if skip_first:
        where &= mask.cumsum(1) > 1
    valid = mask[:, :-1].bool() & mask[:, 1:].bool()  # (B, T-1): predictions scored
    seen: dict[str, Tensor] = {}

    def record(hidden: Tensor) -> None:
        seen["h"] = hidden  # (B, T, d)

    with edit_block_output(block, record):
        clean = _next_token_logprobs(model, ids, mask)  # (B, T-1, V)
    hidden = seen["h"]
    mean = hidden[where].float().mean(0) if where.any() else hidden.new_zeros(hidden.shape[-1])  # (d,)
    out = {"clean": _nll(clean, ids, valid), "n_positions": valid.sum(1).tolist(), "n_replaced": where.sum(1).tolist()}
    for name, edit in (("spliced", _splice(sae, where)),
                       ("zero", lambda h: _replaced(h, where, torch.zeros((), device=h.device))),
                       ("mean", lambda h: _replaced(h, where, mean))):
        with edit_block_output(block, edit):
            logp = _next_token_logprobs(model, ids, mask)
        out[name] = _nll(logp, ids, valid)
        if name == "spliced":
            out["kl"] = ((clean.exp() * (clean - logp)).sum(-1) * valid).double().sum(1).tolist()
    return out


@torch.no_grad()
def spliced_loss(model: nn.Module, sae: TopKSAE, layer: int, input_ids: Int[Tensor, "N T"],
                 attention_mask: Int[Tensor, "N T"] | None = None, batch_size: int = 8,
                 skip_first: bool = True) -> dict[str, Any]:
    """Next-token cross-entropy of a causal LM with block ``layer``'s output (the residual
    stream after that block) replaced by the SAE's reconstruction, beside references.

    Four passes per batch, in the model's own dtype and device: clean; spliced; zero
    ablation (the replaced positions set to 0); mean ablation (set to the mean clean
    residual over the batch's replaced positions). The cross-entropy is the mean over
    predicted positions t → t+1 where both tokens are attended (``attention_mask``).

    ``skip_first``: each sequence's first attended token (BOS, the attention sink) keeps
    its clean activation in every ablation: in many models its residual norm is hundreds
    of times that of other tokens and SAEs are trained without it, so splicing it would
    measure the SAE on a token it never saw and disturb every later position through
    attention.

    Returns:
        ``ce_clean``, ``ce_spliced``, ``ce_zero_ablated``, ``ce_mean_ablated``;
        ``ce_loss_recovered_zero`` = (ce_zero − ce_spliced) / (ce_zero − ce_clean) and
        ``ce_loss_recovered_mean`` likewise; ``ce_loss_recovered`` is the zero-ablation one
        (the headline, as in SAELens); ``kl_div``: mean KL(clean ‖ spliced) over the same
        positions; ``n_positions`` (predictions scored), ``n_replaced`` (activations replaced);
        ``per_row``: each input row's sums (NLL clean/spliced/zero/mean, KL, counts), for
        intervals that resample rows.
    """
    block = find_blocks(model)[layer]
    device = next(model.parameters()).device
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    rows: dict[str, list[float]] = {k: [] for k in ("clean", "spliced", "zero", "mean", "kl", "n_positions",
                                                     "n_replaced")}
    for start in range(0, input_ids.shape[0], batch_size):
        batch = _batch_sums(model, block, sae, input_ids[start:start + batch_size].to(device),
                            attention_mask[start:start + batch_size].to(device), skip_first)
        for key, value in batch.items():
            rows[key] += value
    sums = {key: float(sum(values)) for key, values in rows.items()}
    n_positions = int(sums["n_positions"])
    ce = {name: sums[name] / max(n_positions, 1) for name in ("clean", "spliced", "zero", "mean")}

    def recovered(ablated: float) -> float:
        gap = ablated - ce["clean"]
        return (ablated - ce["spliced"]) / gap if gap != 0 else math.nan

    return {"ce_clean": ce["clean"], "ce_spliced": ce["spliced"], "ce_zero_ablated": ce["zero"],
            "ce_mean_ablated": ce["mean"], "ce_loss_recovered": recovered(ce["zero"]),
            "ce_loss_recovered_zero": recovered(ce["zero"]), "ce_loss_recovered_mean": recovered(ce["mean"]),
            "kl_div": sums["kl"] / max(n_positions, 1), "n_positions": n_positions,
            "n_replaced": int(sums["n_replaced"]),
            "layer": layer, "skip_first": skip_first, "per_row": rows}


# -- SAELens's on-disk format -----------------------------------------------------------------


def save_sae(sae: TopKSAE, folder: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Write ``sae`` to ``folder`` in SAELens's format (``SAE.load_from_disk(folder)`` loads it).

    - ``sae_weights.safetensors``: exactly W_enc (d_in, d_sae), b_enc (d_sae), W_dec
      (d_sae, d_in), b_dec (d_in), in the SAE's dtype (SAELens loads strictly).
    - ``cfg.json``: SAELens 6's TopK config: ``architecture`` "topk", ``d_in``, ``d_sae``,
      ``k``, ``dtype``, ``device``, ``apply_b_dec_to_input`` true, ``normalize_activations``
      "none", ``reshape_activations`` "none", ``rescale_acts_by_decoder_norm`` false, and
      ``metadata``: ``meta`` (SAELens reads ``model_name``, ``hook_name``, ``context_size``,
      ``prepend_bos``, … from there; for the output of block L in TransformerLens naming,
      ``hook_name`` is ``blocks.L.hook_resid_post``), plus ``sae_lens_version`` and our scale.

    The input scale s is *folded into the weights*, as SAELens's trainer does when training
    ends (W_enc·s, W_dec/s, b_dec/s, then ``normalize_activations`` "none"): the saved SAE
    maps raw activations to raw reconstructions with no scaling step, and its codes are
    unchanged (the encoder pre-activations are identical). s is also kept in
    ``metadata.alignlab_input_scale`` so ``load_sae`` restores unit decoder rows. Each file is
    written atomically (temp file + rename), the weights first.
    """
    from safetensors.torch import save

    from alignlab.store import atomic_write_bytes, atomic_write_text

    folder = Path(folder)
    s = float(sae.input_scale)
    with torch.no_grad():
        tensors = {"W_enc": sae.W_enc * s, "b_enc": sae.b_enc, "W_dec": sae.W_dec / s, "b_dec": sae.b_dec / s}
        tensors = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    cfg = {"architecture": "topk", "d_in": sae.d_in, "d_sae": sae.d_sae, "k": sae.k,
           "rescale_acts_by_decoder_norm": False, "dtype": str(sae.W_enc.dtype).removeprefix("torch."),
           "device": sae.W_enc.device.type, "apply_b_dec_to_input": True, "normalize_activations": "none",
           "reshape_activations": "none",
           "metadata": {"sae_lens_version": SAELENS_FORMAT, "sae_lens_training_version": None, **(meta or {}),
                        SCALE_KEY: s}}
    try:
        text = json.dumps(cfg, indent=2)
    except (TypeError, ValueError) as err:
        raise AlignlabError(f"save_sae: meta must be JSON-serialisable ({err}); "
                            "pass strings, numbers, lists and dicts") from err
    atomic_write_bytes(folder / WEIGHTS_FILE, save(tensors))
    atomic_write_text(folder / CONFIG_FILE, text + "\n")
    return folder


def _bad(path: Path, problem: str) -> AlignlabError:
    return AlignlabError(f"{path}: {problem}; save the SAE again with alignlab.interpretability.save_sae "
                         "(or SAELens's save_model)")


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise _bad(path, "missing")
    try:
        cfg = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _bad(path, f"not readable JSON ({err})") from err
    if not isinstance(cfg, dict):
        raise _bad(path, "not a JSON object")
    if cfg.get("architecture") != "topk":
        raise _bad(path, f"architecture {cfg.get('architecture')!r}, expected 'topk'")
    for key in ("d_in", "d_sae", "k"):
        if not isinstance(cfg.get(key), int) or cfg[key] < 1:
            raise _bad(path, f"{key} must be a positive integer, got {cfg.get(key)!r}")
    if cfg["k"] > cfg["d_sae"]:
        raise _bad(path, f"k={cfg['k']} exceeds d_sae={cfg['d_sae']}")
    for key in ("normalize_activations", "reshape_activations"):
        if cfg.get(key, "none") not in ("none", None):
            raise _bad(path, f"{key}={cfg[key]!r} is not supported (fold it into the weights first)")
    return cfg


def _read_weights(folder: Path, cfg: dict[str, Any], device: str | torch.device) -> dict[str, Tensor]:
    from safetensors.torch import load_file

    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise _bad(path, "missing")
    try:
        tensors = load_file(path, device=str(device))
    except Exception as err:  # safetensors raises its own error types for a truncated or garbled file
        raise _bad(path, f"not a readable safetensors file ({err})") from err
    d_in, d_sae = cfg["d_in"], cfg["d_sae"]
    shapes = {"W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,)}
    if set(tensors) != set(shapes):
        raise _bad(path, f"holds {sorted(tensors)}, expected exactly {sorted(shapes)}")
    for name, shape in shapes.items():
        if tuple(tensors[name].shape) != shape:
            raise _bad(path, f"{name} has shape {tuple(tensors[name].shape)}, cfg.json says {shape}")
        if not torch.isfinite(tensors[name]).all():
            raise _bad(path, f"{name} holds NaN or infinite values")
    return tensors


@torch.no_grad()
def load_sae(folder: str | Path, device: str | torch.device = "cpu",
             dtype: torch.dtype | None = None) -> tuple[TopKSAE, dict[str, Any]]:
    """Load a TopK SAE saved by ``save_sae`` or by SAELens (architecture "topk").

    Our folded input scale (``metadata.alignlab_input_scale``) is unfolded again, so the
    SAE has unit decoder rows and its ``input_scale`` back (outputs equal the saved SAE's
    up to float rounding). A SAELens SAE gets scale 1 and its weights as they are, with
    ``rescale_acts_by_decoder_norm`` and ``apply_b_dec_to_input: false`` folded into the
    weights (same codes and outputs). Any malformed folder raises ``AlignlabError``.

    Returns:
        (sae in eval mode, the cfg's ``metadata`` without our scale key).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AlignlabError(f"{folder}: no such SAE folder; pass the folder save_sae wrote "
                            f"(it holds {CONFIG_FILE} and {WEIGHTS_FILE})")
    cfg = _read_config(folder)
    w = _read_weights(folder, cfg, device)
    meta = dict(cfg.get("metadata") or {})
    s = meta.pop(SCALE_KEY, 1.0)
    if not isinstance(s, (int, float)) or not math.isfinite(s) or s <= 0:
        raise _bad(folder / CONFIG_FILE, f"metadata.{SCALE_KEY}={s!r} must be a positive number")
    if not cfg.get("apply_b_dec_to_input", True):  # x W + b = (x − b_dec) W + (b + b_dec W)
        w["b_enc"] = w["b_enc"] + w["b_dec"] @ w["W_enc"]
    if cfg.get("rescale_acts_by_decoder_norm", False):  # TopK on pre·‖W_dec‖, decode codes/‖W_dec‖
        norm = w["W_dec"].norm(dim=1).clamp_min(torch.finfo(w["W_dec"].dtype).tiny)
        w["W_enc"], w["b_enc"], w["W_dec"] = w["W_enc"] * norm, w["b_enc"] * norm, w["W_dec"] / norm[:, None]
    dtype = dtype or w["W_enc"].dtype
    sae = TopKSAE(cfg["d_in"], cfg["d_sae"], cfg["k"], dtype=dtype, device=device)
    sae.W_enc.copy_(w["W_enc"] / s)
    sae.b_enc.copy_(w["b_enc"])
    sae.W_dec.copy_(w["W_dec"] * s)
    sae.b_dec.copy_(w["b_dec"] * s)
    sae.input_scale.fill_(s)
    return sae.eval(), meta
