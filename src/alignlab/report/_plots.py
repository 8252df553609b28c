"""Plots with their uncertainty drawn: every curve carries its interval band."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alignlab.interpretability import LayerSweep


def subplots(*args, **kwargs):
    """``plt.subplots`` on the file-only Agg backend (servers have no display);
    matplotlib is imported here, so importing alignlab never pulls in a plotting stack."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save_figure(fig, path: str | Path, **savefig_kwargs) -> Path:
    """Lay out, write (creating the folder) and close ``fig``; returns the path."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, **savefig_kwargs)
    plt.close(fig)
    return path


def plot_layer_sweeps(sweeps: dict[str, LayerSweep], path: str | Path, title: str = "") -> Path:
    """Accuracy against relative depth, one line per model, 95% Wilson bands, and each
    model's majority-class baseline dashed."""
    fig, ax = subplots(figsize=(7, 4.2), dpi=120)
    for i, (name, sweep) in enumerate(sweeps.items()):
        color = f"C{i}"
        depth = [(layer + 1) / len(sweep.layers) for layer in sweep.layers]
        acc = [a.value for a in sweep.accuracy]
        ax.plot(depth, acc, color=color, marker="o", ms=3, label=f"{name} (n_test={sweep.n_test})")
        ax.fill_between(depth, [a.lo for a in sweep.accuracy], [a.hi for a in sweep.accuracy],
                        color=color, alpha=0.2, lw=0)
        ax.axhline(sweep.majority.value, color=color, ls="--", lw=1, alpha=0.7)
    ax.set_xlabel("relative depth (block / n_layers)")
    ax.set_ylabel("held-out probe accuracy")
    ax.set_title(title or "Linear probe accuracy per layer (95% Wilson CI; dashed: majority class)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)
