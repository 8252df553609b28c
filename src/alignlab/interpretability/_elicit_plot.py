"""The elicitation plot: test accuracy against layer for every method, with bands."""

from __future__ import annotations

from pathlib import Path

_LABELS = {"logistic": "logistic (supervised)", "mass_mean": "mass-mean (supervised)",
           "ccs": "CCS (sign from k labels)", "crc": "CRC (sign from k labels)"}


def plot_elicit(result: dict, path: str | Path) -> Path:
    """One line per probe (95% Wilson band), the layer each chose on validation marked,
    and the zero-shot baseline and chance as horizontal lines."""
    from alignlab.report import save_figure, subplots

    fig, ax = subplots(figsize=(7, 4.2), dpi=120)
    for i, (method, rec) in enumerate(result["methods"].items()):
        color = f"C{i}"
        if method == "zeroshot":
            if "test" in rec:
                ax.axhline(rec["test"]["value"], color="k", ls="--", lw=1,
                           label=f"zero-shot ({rec['test']['value']:.3f})")
            continue
        pts = [(layer, a) for layer, a in zip(rec["layers"], rec["test"]) if a is not None]
        if not pts:
            continue
        xs = [p[0] for p in pts]
        ax.plot(xs, [p[1]["value"] for p in pts], color=color, marker="o", ms=3,
                label=_LABELS.get(method, method).replace("k labels", f"{result['sign_labels']} labels"))
        ax.fill_between(xs, [p[1]["lo"] for p in pts], [p[1]["hi"] for p in pts], color=color, alpha=0.15, lw=0)
        if rec.get("best_layer") is not None:
            ax.axvline(rec["best_layer"], color=color, ls=":", lw=1)
    ax.axhline(0.5, color="grey", lw=0.8, alpha=0.6)
    ax.set_xlabel("block (dotted: the chosen layer — supervised on validation, CCS/CRC without labels)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0.3, 1.02)
    ax.set_title(f"{result['model']} on {result['task']} (n_test={result['n_test']}, 95% Wilson CI)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=7)
    return save_figure(fig, path)
