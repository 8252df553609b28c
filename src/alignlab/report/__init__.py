"""Reports and plots: figures with their intervals drawn, and self-contained HTML."""

from alignlab.report._dtype import dtype_note, dtype_of
from alignlab.report._html import render_report
from alignlab.report._plots import plot_layer_sweeps, save_figure, subplots

__all__ = ["dtype_note", "dtype_of", "plot_layer_sweeps", "render_report", "save_figure", "subplots"]
