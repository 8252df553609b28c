"""Stage 2 — interpretability: probes, sparse autoencoders, explained features."""

from alignlab.interpretability._layer_sweep import LayerSweep, probe_layers

__all__ = ["LayerSweep", "probe_layers"]
