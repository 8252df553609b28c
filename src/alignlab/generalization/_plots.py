"""Figures of a weak-to-strong sweep, from run records: PGR per method with error bars,
and student accuracy against strong-model size per weak supervisor (the analogue of
Burns et al.'s main figure)."""

from __future__ import annotations

import math
from pathlib import Path

from alignlab.stats import error_bar
from alignlab.store import RunRecord

MAX_UNDEFINED = 1
"""PGR is plotted only where at most this many seeds lack a weak-to-ceiling gap."""


def _task(record: RunRecord) -> str:
    return record.result["task"].split("[")[0]


def pgr_is_meaningful(summary: dict, max_undefined: int = MAX_UNDEFINED) -> bool:
    p = summary["pgr"]
    return (p is not None and p["value"] is not None and math.isfinite(p["value"])
            and summary["pgr_undefined_seeds"] <= max_undefined)


def plot_pgr(records: list[RunRecord], path: Path, methods: list[str], max_undefined: int = MAX_UNDEFINED) -> Path:
    """One panel per task: PGR (mean over seeds, 95% t-CI) per weak/strong pair and method."""
    from alignlab.report import save_figure, subplots

    tasks = sorted({_task(r) for r in records})
    fig, axes = subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.8), dpi=110, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        rows = [r for r in records if _task(r) == task]
        pairs = sorted({(r.config["weak"], r.config["strong"]) for r in rows})
        plotted = False
        for j, method in enumerate(methods):
            xs, ys, lo, hi = [], [], [], []
            for i, pair in enumerate(pairs):
                hit = [r for r in rows if (r.config["weak"], r.config["strong"]) == pair and r.config["method"] == method]
                if not hit or not pgr_is_meaningful(hit[0].result["summary"], max_undefined):
                    continue  # no real gap to recover: flagged in tables, not plotted
                p = hit[0].result["summary"]["pgr"]
                xs.append(i + (j - (len(methods) - 1) / 2) * 0.15)
                ys.append(p["value"])
                lo.append(error_bar(p)[0])
                hi.append(error_bar(p)[1])
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", ms=4, capsize=2, label=method, color=f"C{j}")
            plotted = plotted or bool(xs)
        ax.axhline(0, color="k", lw=0.8)
        ax.axhline(1, color="k", lw=0.8, ls=":")
        ax.set_xticks(range(len(pairs)))
        ax.set_xticklabels([f"{w.split('-')[0]}\n→{s.split('-')[0]}" for w, s in pairs], fontsize=8)
        ax.set_title(task, fontsize=10)
        if not plotted:
            ax.text(0.5, 0.5, "ceiling does not beat the weak\nsupervisor: PGR not meaningful",
                    ha="center", va="center", transform=ax.transAxes, fontsize=9, color="0.3")
        ax.set_ylim(-1.5, 2.0)
    axes[0][0].set_ylabel("PGR (mean over seeds, 95% t-CI)")
    fig.suptitle(f"PGR where at most {max_undefined} seed(s) lack a weak-to-ceiling gap", fontsize=9)
    axes[0][-1].legend(fontsize=7, loc="upper right")
    return save_figure(fig, path)


def plot_sizes(records: list[RunRecord], path: Path, method: str = "xent") -> Path:
    """One panel per task: test accuracy against the strong model's parameter count, one
    line per weak supervisor — the student (``method``, solid) and the ceiling (dashed),
    with the weak supervisor's own accuracy as a dotted level."""
    from alignlab.report import save_figure, subplots

    tasks = sorted({_task(r) for r in records})
    fig, axes = subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.8), dpi=110, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        rows = [r for r in records if _task(r) == task and r.config["method"] == method and "n_params" in r.result]
        for k, weak in enumerate(sorted({r.config["weak"] for r in rows})):
            mine = sorted((r for r in rows if r.config["weak"] == weak), key=lambda r: r.result["n_params"]["strong"])
            if not mine:
                continue
            x = [r.result["n_params"]["strong"] / 1e6 for r in mine]
            for role, style in (("student", "-o"), ("ceiling", "--s")):
                s = [r.result["summary"][role] for r in mine]
                ax.errorbar(x, [e["value"] for e in s], yerr=[[error_bar(e)[0] for e in s],
                            [error_bar(e)[1] for e in s]], fmt=style, color=f"C{k}", ms=4, capsize=2,
                            label=f"{role}, weak = {weak}" if role == "student" else None, alpha=1 if role == "student" else 0.5)
            ax.axhline(mine[0].result["summary"]["weak"]["value"], color=f"C{k}", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("strong model parameters (M, log)")
        ax.set_title(f"{task}: {method} student (solid), ceiling (dashed)", fontsize=9)
    axes[0][0].set_ylabel("test accuracy (mean over seeds, 95% t-CI)")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)
