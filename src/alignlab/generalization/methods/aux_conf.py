"""``aux_conf``: the auxiliary confidence loss of Burns et al. (2023), eq. 1.

    L = (1 - a) * CE(f(x), f_w(x)) + a * CE(f(x), hard_t(f(x)))

The second term pulls the student toward its own hardened predictions, so it can
disagree with the weak labels where it is confident. ``hard_t`` thresholds the
student's probabilities at the batch quantile that makes the hardened class balance
match the weak labels' balance in the batch (so the term cannot collapse to one class).
``a`` ramps linearly from 0 to ``alpha_max`` over the first ``warmup`` share of steps,
every step — not in a jump.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alignlab.generalization.methods import Method, register_method

if TYPE_CHECKING:
    from torch import Tensor


def alpha_at(step: int, n_steps: int, alpha_max: float, warmup: float) -> float:
    """Linear ramp 0 -> alpha_max over the first ``warmup`` fraction of steps."""
    ramp_steps = warmup * n_steps
    if ramp_steps <= 0:
        return alpha_max
    return alpha_max * min(1.0, step / ramp_steps)


def hardened(logits: Tensor, weak: Tensor) -> Tensor:
    """Student predictions hardened at the threshold matching the weak positive rate."""
    import torch

    probs = torch.sigmoid(logits).detach()  # targets carry no gradient
    positive_rate = float(weak.mean())
    threshold = torch.quantile(probs, 1.0 - positive_rate)
    return (probs > threshold).float()


def aux_conf_loss(logits: Tensor, weak: Tensor, alpha: float) -> Tensor:
    from alignlab.generalization._head import soft_xent

    return (1 - alpha) * soft_xent(logits, weak) + alpha * soft_xent(logits, hardened(logits, weak))


@register_method("aux_conf")
class AuxConf(Method):
    def __init__(self, alpha_max: float = 0.75, warmup: float = 0.2):
        self.alpha_max, self.warmup = alpha_max, warmup

    def loss(self, logits: Tensor, targets: Tensor, step: int, n_steps: int) -> Tensor:
        return aux_conf_loss(logits, targets, alpha_at(step, n_steps, self.alpha_max, self.warmup))
