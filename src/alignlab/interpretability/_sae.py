"""A TopK sparse autoencoder (Gao et al. 2024, "Scaling and evaluating sparse autoencoders").

    z = ReLU(TopK_k(W_encᵀ(s·x − b_dec) + b_enc))          codes, (n, d_sae), ≥ 0
    x̂ = (W_decᵀ z + b_dec) / s                              reconstruction, (n, d_in)

Units (the input scaling convention). The parameters live in *normalised* units: the
buffer ``input_scale`` (s) is set by the trainer so that E‖s·x‖² = d_in over the
training activations, which makes one learning rate and one ``k`` work across layers
and models whose residual norms differ by orders of magnitude. The module multiplies
raw activations by s on the way in and divides the reconstruction by s on the way out,
so ``forward``/``encode``/``decode`` take and return *raw* activations; only the codes
are in normalised units. s = 1 means no scaling. (SAELens folds s into the weights when
it saves; ``save_sae`` does the same, see ``_sae_metrics``.)

The top-k is taken before the ReLU, as in the paper and SAELens: exactly k latents are
selected per token and the ReLU only zeroes a selected latent whose pre-activation is
negative, so a token has at most k non-zero codes.

Speed on CPU. Codes are k-sparse, so the decoder and every backward pass but the
encoder's forward matmul run on the k chosen latents only. Measured on this AVX2
2-core machine, 2 threads with a neighbour's job on one core (so noisy), fp32, ms, at
n=4096, d_in=576, d_sae=4608, k=32:

- decoder forward + backward: dense ``codes @ W_dec`` 308 + 430; gathering ``W_dec[idx]``
  and ``einsum`` 250 + 411; ``F.embedding_bag`` with per-sample weights 8 + 57 (used);
- encoder backward: the grad of W_enc as a dense (d_in, n) @ (n, d_sae) matmul 406,
  as a COO ``torch.sparse.mm`` 74 (used); the grad to the input as a dense matmul 475,
  as ``embedding_bag`` on W_encᵀ 25 (used). The encoder's forward matmul (~250) stays dense.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn


class _GatherPreacts(torch.autograd.Function):
    """The pre-activations at the chosen latents, with a sparse backward.

    ``pre`` is the dense pre-activation, computed without autograd: recording the dense
    (n, d_sae) matmul would make backward materialise a dense (n, d_sae) gradient and run
    two more dense matmuls for what are n·k non-zero entries.
    """

    @staticmethod
    def forward(ctx, pre: Tensor, xc: Tensor, W_enc: Tensor, b_enc: Tensor, idx: Tensor) -> Tensor:
        ctx.save_for_backward(xc, W_enc, idx)
        ctx.d_sae = b_enc.shape[0]
        return pre.gather(-1, idx)  # (n, k)

    @staticmethod
    def backward(ctx, g: Tensor):  # g: (n, k)
        xc, W_enc, idx = ctx.saved_tensors
        n, k = idx.shape
        g = g.contiguous()
        grad_xc = grad_W = grad_b = None
        if ctx.needs_input_grad[1]:  # d/dxc = Σ_j g_nj W_enc[:, idx_nj]
            grad_xc = F.embedding_bag(idx, W_enc.T.contiguous(), per_sample_weights=g, mode="sum")
        if ctx.needs_input_grad[2]:  # d/dW_enc[:, i] = Σ_{(n,j): idx_nj = i} g_nj xc_n
            rows = torch.arange(n, device=idx.device).repeat_interleave(k)
            sparse = torch.sparse_coo_tensor(torch.stack([idx.reshape(-1), rows]), g.reshape(-1),
                                             (ctx.d_sae, n), check_invariants=False)
            grad_W = torch.sparse.mm(sparse, xc).T.contiguous()  # (d_in, d_sae)
        if ctx.needs_input_grad[3]:
            grad_b = g.new_zeros(ctx.d_sae).index_add_(0, idx.reshape(-1), g.reshape(-1))
        return None, grad_xc, grad_W, grad_b, None


class TopKSAE(nn.Module):
    """TopK sparse autoencoder: exactly ``k`` of ``d_sae`` latents per token.

    Args:
        d_in: width of the activations (the model's d_model).
        d_sae: number of latents.
        k: latents kept per token.
        dtype, device: of the parameters (default: torch's defaults).

    Parameters: ``W_enc`` (d_in, d_sae), ``b_enc`` (d_sae), ``W_dec`` (d_sae, d_in) with
    unit-norm rows, ``b_dec`` (d_in); buffer ``input_scale`` (scalar, see the module
    docstring). A fresh module has random unit decoder rows, the tied encoder
    W_enc = W_decᵀ, zero biases and scale 1; ``train_sae`` sets all of them.
    """

    def __init__(self, d_in: int, d_sae: int, k: int, *, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None):
        super().__init__()
        if not 1 <= k <= d_sae:
            raise ValueError(f"k={k} must be between 1 and d_sae={d_sae}")
        self.d_in, self.d_sae, self.k = d_in, d_sae, k
        like = {"dtype": dtype, "device": device}
        self.W_enc = nn.Parameter(torch.empty(d_in, d_sae, **like))
        self.b_enc = nn.Parameter(torch.zeros(d_sae, **like))
        self.W_dec = nn.Parameter(torch.empty(d_sae, d_in, **like))
        self.b_dec = nn.Parameter(torch.zeros(d_in, **like))
        self.register_buffer("input_scale", torch.ones((), **like))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Random unit decoder rows, the tied encoder W_enc = W_decᵀ (the paper's init:
        it starts every latent as a matched filter for its own direction), zero biases."""
        W = torch.randn(self.W_dec.shape, generator=generator, dtype=torch.float32)
        self.W_dec.copy_(W)
        self.set_decoder_norm_to_unit_norm_()
        self.W_enc.copy_(self.W_dec.T)
        self.b_enc.zero_()
        self.b_dec.zero_()

    # -- the maths, in normalised units ------------------------------------------------

    def preacts(self, xn: Float[Tensor, "n d_in"], out: Tensor | None = None) -> Float[Tensor, "n d_sae"]:
        """Dense encoder pre-activations of already-normalised inputs (no autograd).

        ``out``: a reused (n, d_sae) buffer. A fresh 75 MB tensor per step (n=4096,
        d_sae=4608) costs ~75 ms of first-touch page faults here, a fifth of the matmul.
        """
        with torch.no_grad():
            return torch.addmm(self.b_enc, xn - self.b_dec, self.W_enc, out=out)

    def select(self, xn: Float[Tensor, "n d_in"], pre: Float[Tensor, "n d_sae"], idx: Int[Tensor, "n j"],
               ) -> Float[Tensor, "n j"]:
        """ReLU of the pre-activations at latents ``idx``, differentiable with respect to
        the encoder and b_dec through a sparse backward (cost ∝ n·j, not n·d_sae)."""
        return _GatherPreacts.apply(pre, xn - self.b_dec, self.W_enc, self.b_enc, idx).relu()

    def topk_normalised(self, xn: Float[Tensor, "n d_in"], out: Tensor | None = None,
                        ) -> tuple[Float[Tensor, "n k"], Int[Tensor, "n k"], Float[Tensor, "n d_sae"]]:
        """Codes of normalised inputs as (values, latent indices), plus the dense
        pre-activations (the trainer reuses them to pick AuxK's dead latents; ``out``
        as in ``preacts``)."""
        pre = self.preacts(xn, out)
        idx = pre.topk(self.k, dim=-1, sorted=False).indices  # (n, k)
        return self.select(xn, pre, idx), idx, pre

    def decode_normalised(self, values: Float[Tensor, "n j"], idx: Int[Tensor, "n j"],
                          bias: bool = True) -> Float[Tensor, "n d_in"]:
        """Σ_j values_j · W_dec[idx_j] (+ b_dec): the decoder on sparse codes."""
        out = F.embedding_bag(idx, self.W_dec, per_sample_weights=values.to(self.W_dec.dtype), mode="sum")
        return out + self.b_dec if bias else out

    # -- the public face, in raw units -------------------------------------------------

    def encode_topk(self, x: Float[Tensor, "... d_in"]) -> tuple[Float[Tensor, "... k"], Int[Tensor, "... k"]]:
        """Sparse codes of raw activations: (values ≥ 0, latent indices), k per token."""
        flat = x.reshape(-1, self.d_in).to(self.W_enc.dtype) * self.input_scale
        values, idx, _ = self.topk_normalised(flat)
        lead = x.shape[:-1]
        return values.reshape(*lead, self.k), idx.reshape(*lead, self.k)

    def decode_topk(self, values: Float[Tensor, "... k"], idx: Int[Tensor, "... k"]) -> Float[Tensor, "... d_in"]:
        """Raw reconstruction from sparse codes."""
        lead = values.shape[:-1]
        out = self.decode_normalised(values.reshape(-1, values.shape[-1]), idx.reshape(-1, idx.shape[-1]))
        return (out / self.input_scale).reshape(*lead, self.d_in)

    def encode(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_sae"]:
        """Dense codes (all but ≤ k per token zero), in the SAE's dtype."""
        values, idx = self.encode_topk(x)
        return values.new_zeros(*values.shape[:-1], self.d_sae).scatter_(-1, idx, values)

    def decode(self, codes: Float[Tensor, "... d_sae"]) -> Float[Tensor, "... d_in"]:
        """Raw reconstruction from dense codes."""
        return (codes.to(self.W_dec.dtype) @ self.W_dec + self.b_dec) / self.input_scale

    def forward(self, x: Float[Tensor, "... d_in"]) -> tuple[Float[Tensor, "... d_in"], Float[Tensor, "... d_sae"]]:
        """(reconstruction, dense codes); both in the SAE's dtype (cast them as needed)."""
        values, idx = self.encode_topk(x)
        codes = values.new_zeros(*values.shape[:-1], self.d_sae).scatter_(-1, idx, values)
        return self.decode_topk(values, idx), codes

    # -- the decoder constraint ----------------------------------------------------------

    @torch.no_grad()
    def set_decoder_norm_to_unit_norm_(self) -> None:
        """Rescale every decoder row to norm 1 (after each optimiser step): without it the
        encoder could shrink codes and grow rows, and code size would mean nothing."""
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(torch.finfo(self.W_dec.dtype).tiny))

    @torch.no_grad()
    def remove_gradient_parallel_to_decoder_directions_(self) -> None:
        """Project out of W_dec's gradient its component along each row (before each step):
        the renormalisation would undo that component anyway, and through Adam's
        per-coordinate scaling it would still leak into the direction."""
        if self.W_dec.grad is None:
            return
        W = self.W_dec
        along = (self.W_dec.grad * W).sum(dim=1, keepdim=True) / (W * W).sum(dim=1, keepdim=True).clamp_min(
            torch.finfo(W.dtype).tiny)  # (d_sae, 1)
        self.W_dec.grad.sub_(along * W)

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, d_sae={self.d_sae}, k={self.k}"
