"""Stage 2 — interpretability: probes, sparse autoencoders, explained features."""

from alignlab._lazy import lazy_exports
from alignlab.interpretability._ccs import CCS, ccs_loss
from alignlab.interpretability._crc import CRC
from alignlab.interpretability._layer_sweep import LayerSweep, probe_layers
from alignlab.interpretability._logistic import LogisticProbe
from alignlab.interpretability._mass_mean import MassMeanProbe
from alignlab.interpretability._normalize import PairNormalizer
from alignlab.interpretability._truth_probe import (TruthProbe, accuracy_draws, auroc_draws, balanced_accuracy_draws,
                                                     best_sign_accuracy, resample_weights, resolve_sign)
from alignlab.interpretability._zeroshot import ZeroShot, choice_logprobs
from alignlab.interpretability._elicit import IMBALANCED_ABOVE, PROBES, ElicitConfig, run_elicit  # noqa: E402,I001  (after the probes it registers)

# The sparse-autoencoder names resolve on first use (PEP 562), as in ``alignlab.models``:
# their modules import torch, which the probes above do not need.
_WHERE = {
    "TopKSAE": "_sae",
    "SAETrainConfig": "_sae_train", "train_sae": "_sae_train",
    "load_sae": "_sae_metrics", "reconstruction_metrics": "_sae_metrics", "save_sae": "_sae_metrics",
    "spliced_loss": "_sae_metrics",
}

__getattr__ = lazy_exports(__name__, globals(), _WHERE)

__all__ = [
    "IMBALANCED_ABOVE", "PROBES",
    "ElicitConfig",
    "run_elicit",
    "CCS", "CRC", "LayerSweep", "LogisticProbe", "MassMeanProbe", "PairNormalizer", "TruthProbe",
    "ZeroShot", "best_sign_accuracy", "ccs_loss", "choice_logprobs", "probe_layers", "resolve_sign",
    "accuracy_draws", "auroc_draws", "balanced_accuracy_draws", "resample_weights",
    "SAETrainConfig", "TopKSAE", "load_sae", "reconstruction_metrics", "save_sae", "spliced_loss", "train_sae",
]
