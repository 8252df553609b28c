"""``sae``: train a sparse autoencoder on a model's residual stream; the evaluator splices it in.

The Problem holds a middle layer's activations on the training part of the shipped corpus
(``alignlab.data.text_corpus``; float16 safetensors shards, hard-linked from the
activation cache) and the model's name and layer. A variant answers with an SAE in
SAELens's format, written under ``problem.out`` (``Submission.artifacts["sae"]``).

The evaluator holds the held-out part: documents no variant saw. On their activations it
measures the SAE itself — its codes are computed here, from its weights, so a variant
cannot claim a sparsity it does not have — explained variance, L0, the fraction of
latents that never fire; on held-out token windows it splices the reconstruction into the
model and reports the next-token loss recovered (zero ablation = 0, the clean model = 1)
and the KL to the clean model. Intervals are bootstraps over windows (tokens of a window
are not independent).

- Primary: explained variance, **only for an SAE whose L0 is within ``l0_budget``**;
  above it the primary is withheld and the trial counts as a failure (a dense identity map
  would otherwise win).
- Baseline: the explained variance of PCA with ``l0_budget`` components fitted on the
  training activations — the best a rank-L0 linear code can do, so an SAE beats it only by
  being a dictionary. The ``pca`` variant submits exactly that PCA as a TopK SAE (each
  component as a ± pair of latents, k = rank), the floor a method must clear.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from alignlab.names import ModelRef
from alignlab.protocol import Metric, Problem, Registry, Scores, Submission
from alignlab.protocol.testbeds import TESTBEDS

VARIANTS: Registry = Registry("sae variant")
_PCA_ROWS = 100_000
"""Training rows the evaluator's PCA baseline is fitted on (a fixed, seeded sample)."""


class SAETestbedConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: ModelRef = "smollm2-135m"
    layer: int | None = None
    """The block whose output is encoded; None: the middle one (n_layers // 2)."""
    context: int = Field(128, ge=4)
    """Tokens per window (the first, the BOS, is never encoded)."""
    n_train_tokens: int = Field(1_000_000, ge=100)
    n_eval_tokens: int = Field(65_536, ge=100)
    """Held-out tokens for explained variance, L0 and dead latents."""
    n_loss_windows: int = Field(32, ge=1)
    """Held-out windows (of ``context`` tokens) the SAE is spliced into for the loss."""
    l0_budget: float = Field(64, gt=0)
    """The most active latents per token, on average, an SAE may use to be scored."""


def _layer(config: SAETestbedConfig, n_layers: int) -> int:
    return n_layers // 2 if config.layer is None else config.layer


def train_activations(problem: Problem):
    """The Problem's training activations, (n_tokens, d_model) float16, read-only."""
    import torch
    from safetensors.torch import load_file

    shards = sorted((problem.folder / "acts_train").glob("shard-*.safetensors"))
    return torch.cat([load_file(str(f))["acts"] for f in shards])


@TESTBEDS.register("sae", description="sparse autoencoders on a model's residual stream, spliced back in "
                                          "(explained variance within an L0 budget, loss recovered)")
class SparseAutoencoders:
    Config, variants, baseline_variant, artifacts = SAETestbedConfig, VARIANTS, "pca", ("sae",)
    tiny_config = {"model": "tiny-llama", "context": 16, "n_train_tokens": 3000, "n_eval_tokens": 600,
                   "n_loss_windows": 4, "l0_budget": 4}

    def open(self, config: SAETestbedConfig, seed: int, problem: Problem) -> dict[str, Any]:
        from alignlab.interpretability._harvest import harvest
        from alignlab.models import load_model
        from alignlab.store import ActivationStore, link_or_copy

        lm = load_model(config.model)
        layer = _layer(config, lm.n_layers)
        store = ActivationStore()
        train = harvest(lm, layer, "train", config.n_train_tokens, context=config.context, store=store)
        heldout = harvest(lm, layer, "heldout", config.n_eval_tokens, context=config.context, store=store)
        folder = problem.folder / "acts_train"
        folder.mkdir(parents=True, exist_ok=True)
        if train.path is not None:  # hard links: a million tokens cost no copy per trial
            for shard in sorted(train.path.glob("shard-*.safetensors")):
                link_or_copy(shard, folder / shard.name)
        else:
            from safetensors.torch import save_file

            save_file({"acts": train.acts.contiguous()}, str(folder / "shard-00000.safetensors"))
        problem.write_json("items", [])
        problem.write_json("about", {"model": config.model, "layer": layer, "d_model": lm.d_model,
                                     "n_tokens": len(train.acts), "context": config.context,
                                     "l0_budget": config.l0_budget})
        return {"lm": lm, "layer": layer, "heldout": heldout, "pca": _pca(train.acts, config, seed)}

    def score(self, config: SAETestbedConfig, secret: dict[str, Any], submission: Submission, seed: int) -> Scores:
        from alignlab.errors import AlignlabError
        from alignlab.interpretability import load_sae

        if "sae" not in submission.artifacts:
            raise AlignlabError("the submission names no 'sae' artifact (write the SAE with save_sae under "
                                "problem.out and return Submission(predictions=[], artifacts={'sae': ...}))")
        sae, _ = load_sae(Path(submission.artifacts["sae"]))
        heldout, lm = secret["heldout"], secret["lm"]
        if sae.W_enc.shape[0] != lm.d_model:
            raise AlignlabError(f"the SAE encodes d_in={sae.W_enc.shape[0]}, the model's layer has {lm.d_model}")
        windows = _windows(heldout.acts, config.context)
        recon = _reconstruction(sae, windows)
        pca = _reconstruction(secret["pca"], windows)
        within = recon["l0"].mean() <= config.l0_budget
        loss = _loss(lm, sae, secret["layer"], heldout.input_ids[:config.n_loss_windows])
        metrics = {
            "explained_variance": _ev_metric(recon, withheld=not within),
            "explained_variance_any_l0": _ev_metric(recon),
            "pca_explained_variance": _ev_metric(pca),
            "explained_variance_gain_over_pca": _gain_metric(recon, pca),
            "explained_variance_per_token": _mean_metric(
                recon["per_token"], "per token 1 - |x - x_hat|^2 / |x - mean|^2, then averaged ("
                "outlier tokens weigh no more than others)"),
            "l0": _mean_metric(recon["l0"], "mean active latents per token"),
            "dead_fraction": Metric(value=float(recon["dead"]), n=int(recon["n_latents"]),
                                    method="latents that never fire on the held-out tokens"),
            **loss,
        }
        return Scores(testbed="sae", seed=seed, metrics=metrics, primary="explained_variance",
                      baseline="pca_explained_variance", failures=0 if within else 1,
                      n_items=int(windows.shape[0] * windows.shape[1]))


def _windows(acts, context: int):
    """Held-out activations as (windows, context - 1, d): whole windows only."""
    n = len(acts) // (context - 1)
    return acts[: n * (context - 1)].view(n, context - 1, -1)


def _reconstruction(sae, windows) -> dict[str, Any]:
    """Per window: squared error and squared deviation (from the held-out mean) summed over
    tokens and dims, the mean over its tokens of each token's explained fraction, and the
    mean active latents per token; which latents ever fired."""
    import torch

    mean = windows.float().mean(dim=(0, 1))
    err, dev, l0, per_token, fired = [], [], [], [], None
    with torch.no_grad():
        for chunk in torch.split(windows, max(1, 4096 // windows.shape[1])):
            x = chunk.float().reshape(-1, chunk.shape[-1]).to(sae.W_enc.dtype)  # (B*T, d)
            x_hat, codes = sae(x)
            active = codes != 0
            fired = active.any(0) if fired is None else fired | active.any(0)
            B, T = chunk.shape[:2]
            e, d = ((x - x_hat) ** 2).sum(-1).view(B, T).double(), ((x - mean) ** 2).sum(-1).view(B, T).double()
            err.append(e.sum(1))
            dev.append(d.sum(1))
            per_token.append((1 - e / d).mean(1))
            l0.append(active.sum(-1).view(B, T).float().mean(1).double())
    return {"err": torch.cat(err).numpy(), "dev": torch.cat(dev).numpy(), "l0": torch.cat(l0).numpy(),
            "per_token": torch.cat(per_token).numpy(), "dead": float(1 - fired.float().mean()),
            "n_latents": len(fired)}


def _ev_metric(r: dict[str, Any], withheld: bool = False) -> Metric:
    from alignlab.stats import bootstrap_ci

    if withheld:
        return Metric(value=None, n=len(r["err"]), method="withheld: L0 above the budget")
    est = bootstrap_ci(lambda e, d: 1 - e.sum() / d.sum(), r["err"], r["dev"])
    return Metric(value=est.value, lo=est.lo, hi=est.hi, n=est.n,
                  method="1 - SSE/SST pooled over tokens and dims; bootstrap over held-out windows")


def _gain_metric(r: dict[str, Any], base: dict[str, Any]) -> Metric:
    """Explained variance minus the PCA baseline's on the same windows (a paired bootstrap:
    both are resampled together, so the windows' shared difficulty cancels)."""
    from alignlab.stats import bootstrap_ci

    est = bootstrap_ci(lambda e, b, d: (b.sum() - e.sum()) / d.sum(), r["err"], base["err"], r["dev"])
    return Metric(value=est.value, lo=est.lo, hi=est.hi, n=est.n,
                  method="EV(SAE) - EV(PCA at the budget), paired bootstrap over held-out windows")


def _mean_metric(values: np.ndarray, what: str) -> Metric:
    from alignlab.stats import bootstrap_ci

    est = bootstrap_ci(np.mean, values)
    return Metric(value=est.value, lo=est.lo, hi=est.hi, n=est.n, method=f"{what}; bootstrap over windows")


def _loss(lm, sae, layer: int, input_ids) -> dict[str, Metric]:
    """Loss recovered and KL with the SAE spliced in, with intervals over windows."""
    from alignlab.interpretability import spliced_loss
    from alignlab.stats import bootstrap_ci

    rows = spliced_loss(lm.model, sae, layer, input_ids)["per_row"]  # sums per window
    clean, spliced, zero, kl, n = (np.asarray(rows[k], dtype=float)
                                   for k in ("clean", "spliced", "zero", "kl", "n_positions"))
    rec = bootstrap_ci(lambda c, s, z: (z.sum() - s.sum()) / (z.sum() - c.sum()), clean, spliced, zero)
    kl_est = bootstrap_ci(lambda k, m: k.sum() / m.sum(), kl, n)
    how = "bootstrap over held-out windows"
    ce = {name: Metric(value=float(v.sum() / n.sum()), n=int(n.sum()), method="next-token CE, nats per token")
          for name, v in (("ce_clean", clean), ("ce_spliced", spliced), ("ce_zero_ablated", zero))}
    return {"ce_loss_recovered": Metric(value=rec.value, lo=rec.lo, hi=rec.hi, n=rec.n,
                                        method=f"(CE zero-ablated - CE spliced) / (CE zero-ablated - CE clean); {how}"),
            "kl_div": Metric(value=kl_est.value, lo=kl_est.lo, hi=kl_est.hi, n=kl_est.n,
                             method=f"KL(clean || spliced), nats per token; {how}"), **ce}


def _pca(acts, config: SAETestbedConfig, seed: int):
    """PCA with ``l0_budget`` components on a seeded sample of the training activations,
    as a TopK SAE (see ``pca_sae``)."""
    import torch

    rng = np.random.default_rng([seed, 11])
    rows = rng.choice(len(acts), size=min(len(acts), _PCA_ROWS), replace=False)
    return pca_sae(acts[torch.as_tensor(np.sort(rows))].float(), int(config.l0_budget))


def pca_sae(x, rank: int):
    """The rank-``rank`` PCA reconstruction as a TopK SAE: latents ±v_i, k = rank. Of each
    pair exactly one is positive (or both zero), so TopK keeps all positive ones and the
    decoder adds back sum_i (v_i . (x - mean)) v_i — PCA's reconstruction, exactly."""
    import torch

    from alignlab.interpretability import TopKSAE

    mean = x.mean(0)
    rank = min(rank, x.shape[1])
    _, _, V = torch.linalg.svd(x - mean, full_matrices=False)  # V: (d, d), rows are components
    comps = V[:rank]  # (rank, d)
    sae = TopKSAE(d_in=x.shape[1], d_sae=2 * rank, k=rank)
    with torch.no_grad():
        sae.W_dec.copy_(torch.cat([comps, -comps]))
        sae.W_enc.copy_(sae.W_dec.T)
        sae.b_enc.zero_()
        sae.b_dec.copy_(mean)
    return sae


@VARIANTS.register("topk")
class TopK:
    """A TopK SAE (Gao et al. 2024) trained on the Problem's activations. Params are
    ``SAETrainConfig``'s fields (None: its default, documented there), plus ``n_tokens``
    to train on the first n tokens only."""

    def __init__(self, k: int | None = None, expansion: int | None = None, lr: float | None = None,
                 aux_coef: float | None = None, k_aux: int | None = None, batch_size: int | None = None,
                 dead_tokens: int | None = None, epochs: int | None = None, n_tokens: int | None = None):
        from alignlab.interpretability import SAETrainConfig

        given = dict(k=k, expansion=expansion, lr=lr, aux_coef=aux_coef, k_aux=k_aux, batch_size=batch_size,
                     dead_tokens=dead_tokens, epochs=epochs)
        self.n_tokens = n_tokens
        self.train = SAETrainConfig(**{name: v for name, v in given.items() if v is not None})

    def solve(self, problem: Problem, seed: int) -> Submission:
        from alignlab.interpretability import save_sae, train_sae

        about = problem.json("about")
        acts = train_activations(problem)[: self.n_tokens]
        sae, history = train_sae(acts, self.train.model_copy(update={"seed": seed}))
        save_sae(sae, problem.out / "sae", {"model_name": about["model"], "layer": about["layer"]})
        return Submission(predictions=[], artifacts={"sae": "out/sae"}, notes={"train": history.get("summary", {})})


@VARIANTS.register("pca")
class PCA:
    """PCA with ``rank`` components (default: the L0 budget) as a TopK SAE: the floor."""

    def __init__(self, rank: int | None = None, n_rows: int = _PCA_ROWS):
        self.rank, self.n_rows = rank, n_rows

    def solve(self, problem: Problem, seed: int) -> Submission:
        import torch

        from alignlab.interpretability import save_sae

        about = problem.json("about")
        acts = train_activations(problem)
        rows = np.random.default_rng(seed).choice(len(acts), size=min(len(acts), self.n_rows), replace=False)
        sae = pca_sae(acts[torch.as_tensor(np.sort(rows))].float(), self.rank or int(about["l0_budget"]))
        save_sae(sae, problem.out / "sae", {"model_name": about["model"], "layer": about["layer"]})
        return Submission(predictions=[], artifacts={"sae": "out/sae"})
