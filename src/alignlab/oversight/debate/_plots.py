"""Figures for the debate results: accuracy against k, and one rendered game.

matplotlib is imported inside each function (Agg backend), so importing the debate
package never pulls in a plotting stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from alignlab.oversight.debate._data import SIDE


def plot_accuracy_vs_k(series: dict[str, list[tuple[int, dict]]], path: str | Path,
                       title: str = "") -> Path:
    """One line per series: (k, estimate dict with value/lo/hi) points with 95% error bars."""
    from alignlab.report import save_figure, subplots

    fig, ax = subplots(figsize=(6.4, 4.2))
    for i, (name, pts) in enumerate(series.items()):
        pts = sorted(pts, key=lambda p: p[0])
        k = np.array([p[0] for p in pts], dtype=float) + 0.06 * (i - len(series) / 2)
        v = np.array([p[1]["value"] for p in pts])
        err = np.array([[p[1]["value"] - p[1]["lo"], p[1]["hi"] - p[1]["value"]] for p in pts]).T
        ax.errorbar(k, 100 * v, yerr=100 * err, marker="o", capsize=3, label=name)
    ax.axhline(10, color="grey", lw=0.8, ls=":", label="chance (10%)")
    ax.set_xlabel("pixels revealed (k)")
    ax.set_ylabel("accuracy (%), 95% CI")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, path, dpi=120)


def render_game(example: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """The image with each side's pixels marked, the judge's view, and its belief per move."""
    from matplotlib.patches import Rectangle

    from alignlab.report import save_figure, subplots

    img = np.asarray(example["image"]).reshape(SIDE, SIDE)
    pix, movers = example["pixels"], example["movers"]
    honest, liar = example["label"], example["liar_claim"]
    beliefs = np.asarray(example["beliefs"])  # (k, 10)
    fig, axes = subplots(1, 3, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 1, 1.5]})
    axes[0].imshow(img, cmap="gray_r", vmin=0, vmax=1)
    axes[0].set_title(f"image (label {honest})", fontsize=9)
    view = np.full((SIDE, SIDE), np.nan)
    for t, (p, who) in enumerate(zip(pix, movers)):
        r, c = divmod(p, SIDE)
        view[r, c] = img[r, c]
        colour = "tab:blue" if who == "honest" else "tab:red"
        for ax in axes[:2]:
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec=colour, lw=2))
            ax.text(c, r, str(t + 1), ha="center", va="center", fontsize=8, color=colour,
                    fontweight="bold")
    axes[1].imshow(np.nan_to_num(view, nan=0.5), cmap="gray_r", vmin=0, vmax=1, alpha=0.9)
    axes[1].set_title("judge's view (blue honest, red liar)", fontsize=9)
    for ax in axes[:2]:
        ax.set_xticks([])
        ax.set_yticks([])
    moves = np.arange(1, len(pix) + 1)
    axes[2].plot(moves, beliefs[:, honest], "o-", color="tab:blue", label=f"P(honest claim {honest})")
    axes[2].plot(moves, beliefs[:, liar], "s-", color="tab:red", label=f"P(liar claim {liar})")
    two_way = beliefs[:, honest] / (beliefs[:, honest] + beliefs[:, liar])
    axes[2].plot(moves, two_way, "k--", lw=1, label="honest's share of the two (decides)")
    axes[2].axhline(0.5, color="grey", lw=0.6, ls=":")
    axes[2].set_xticks(moves, [f"{t}\n{'H' if w == 'honest' else 'L'}" for t, w in zip(moves, movers)])
    axes[2].set_ylim(0, 1)
    axes[2].set_xlabel("move (H honest, L liar)", fontsize=9)
    # Before the k-th pixel the judge sees fewer pixels than it was trained on: read the
    # early points as indications, the last one as the verdict.
    axes[2].set_title("judge's belief after each move", fontsize=9)
    axes[2].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=120)
