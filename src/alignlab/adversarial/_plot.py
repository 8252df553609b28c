"""The scoreboard plot: AUROC per organism x detector, its CI and verdict in each cell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot_scoreboard(result: dict[str, Any], path: str | Path) -> Path:
    """Heatmap of input-level AUROC; cells say the 95% CI, the gap to the clean twin, n,
    and flagged / not;
    error cells and unscored organisms are marked, not left blank."""
    from alignlab.report._plots import save_figure, subplots

    organisms, detectors = list(result["organisms"]), list(result["detectors"])
    grid = np.full((len(organisms), len(detectors)), np.nan)
    fig, ax = subplots(figsize=(2.2 * len(detectors) + 2.5, 0.9 * len(organisms) + 1.6), dpi=120)
    for i, org in enumerate(organisms):
        row = result["organisms"][org]
        for j, det in enumerate(detectors):
            cell = row.get("cells", {}).get(det)
            if row.get("status") not in ("scored", "scored_unverified"):
                text = row.get("status", "?").replace("_", " ")
            elif "error" in cell:
                text = "ERROR\n(flagged)"
            else:
                a, gap = cell["auroc"], cell.get("auroc_gap") or {}
                grid[i, j] = a["value"] if a["value"] is not None else np.nan
                text = (f"{a['value']:.2f} [{a['lo']:.2f},{a['hi']:.2f}]\n"
                        + (f"gap {gap['value']:+.2f} [{gap['lo']:+.2f},{gap['hi']:+.2f}]\n"
                           if gap.get("value") is not None else "")
                        + f"n={a['n']} {'FLAGGED' if cell.get('flagged') else 'not flagged'}")
            ax.text(j, i, text, ha="center", va="center", fontsize=7)
    ax.imshow(grid, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(detectors)), detectors, rotation=20, fontsize=8)
    labels = [f"{o} ({result['organisms'][o]['kind']}"
              f"{', UNVERIFIED' if result['organisms'][o].get('status') == 'scored_unverified' else ''})"
              for o in organisms]
    ax.set_yticks(range(len(organisms)), labels, fontsize=8)
    ax.set_title("Input-level AUROC, triggered vs untriggered (95% bootstrap CI); gap: minus the clean twin's AUROC "
                 "(the primary metric); model-level verdict", fontsize=9)
    return save_figure(fig, path)
