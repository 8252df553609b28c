"""Reports and plots."""

from alignlab.report._plots import plot_layer_sweeps, save_figure, subplots

__all__ = ["plot_layer_sweeps", "save_figure", "subplots"]
