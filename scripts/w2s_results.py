"""Run the weak-to-strong sweep (resumable) and render docs/results/w2s.md from the
run records. Without --run it only re-renders from runs/w2s-*.

    python scripts/w2s_results.py --run            # compute what is missing, then render
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from pathlib import Path

TASKS = ["sarcasm", "fever", "strategyqa", "sports_understanding"]
PAIRS = [("minilm-l6", "smollm2-135m"), ("minilm-l6", "gemma3-270m"), ("smollm2-135m", "gemma3-270m")]
MID = {("minilm-l6", "gemma3-270m"): "smollm2-135m"}
METHODS = ["xent", "aux_conf", "conf_filter", "bootstrap", "knn_smooth"]
MAX_UNDEFINED = 1  # PGR is shown only where at least 4 of 5 seeds have a real weak-to-ceiling gap
DOCS = Path(__file__).resolve().parents[1] / "docs" / "results"


def fmt(e: dict | None, digits: int = 3) -> str:
    if e is None:
        return "undefined"
    return f"{e['value']:.{digits}f} [{e['lo']:.{digits}f}, {e['hi']:.{digits}f}]"


def pgr_cell(summary: dict) -> str:
    if summary["pgr_undefined_seeds"] > MAX_UNDEFINED or summary["pgr"] is None:
        return "not meaningful (no gap)"
    return fmt(summary["pgr"], 2)


def findings(records: list) -> list[str]:
    """Computed from the records, so the summary cannot drift from the tables."""
    meaningful = [r for r in records if r.result["summary"]["pgr"] is not None
                  and r.result["summary"]["pgr_undefined_seeds"] <= MAX_UNDEFINED]
    out = [f"- {len(records)} runs; PGR is meaningful (a weak-to-ceiling gap in at least "
           f"{5 - MAX_UNDEFINED} of 5 seeds) in {len(meaningful)} of them:"]
    for r in sorted(meaningful, key=lambda r: -r.result["summary"]["pgr"]["value"]):
        p, s = r.result["summary"]["pgr"], r.result["summary"]
        verdict = "above 0" if p["lo"] > 0 else ("below 0" if p["hi"] < 0 else "CI spans 0")
        out.append(f"  - {r.result['task']}, {r.config['weak']} → {r.config['strong']}, {r.config['method']}: "
                   f"PGR {fmt(p, 2)} ({verdict}); student {s['student']['value']:.3f} vs weak "
                   f"{s['weak']['value']:.3f}, ceiling {s['ceiling']['value']:.3f}")
    no_gap = sorted({r.result["task"] for r in records} - {r.result["task"] for r in meaningful})
    if no_gap:
        out.append(f"- No meaningful PGR at all on: {', '.join(no_gap)} — at the middle layer these small "
                   "models' linear ceilings barely beat MiniLM's, so there is no gap to recover.")
    return out


def load_records(runs: Path) -> list:
    from alignlab.store import load_run

    newest = {}
    for path in sorted(runs.glob("w2s-*"), key=lambda p: p.stat().st_mtime):
        try:
            record = load_run(path)
        except FileNotFoundError:
            continue  # unfinished: never reported
        c = record.config
        # One row per experiment: a record written before a config field existed
        # (e.g. `mid`) hashes differently but describes the same run.
        key = (record.result["task"], c["weak"], c["strong"], c.get("mid"), c["method"], tuple(c["seeds"]),
               c.get("n_examples"), c.get("layer_fraction", 0.5), c.get("pooling", "mean"))
        newest[key] = record
    return list(newest.values())


def plot(records: list, path: Path) -> None:
    from alignlab.report import save_figure, subplots

    tasks = sorted({r.result["task"].split("[")[0] for r in records})
    fig, axes = subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.8), dpi=110, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        rows = [r for r in records if r.result["task"].startswith(task)]
        pairs = sorted({(r.config["weak"], r.config["strong"]) for r in rows})
        for j, method in enumerate(METHODS):
            xs, ys, lo, hi = [], [], [], []
            for i, pair in enumerate(pairs):
                hit = [r for r in rows if (r.config["weak"], r.config["strong"]) == pair and r.config["method"] == method]
                p = hit[0].result["summary"]["pgr"] if hit else None
                if (p is None or p["value"] is None or not math.isfinite(p["value"])
                        or hit[0].result["summary"]["pgr_undefined_seeds"] > MAX_UNDEFINED):
                    continue  # no real gap to recover: flagged in the table, not plotted
                xs.append(i + (j - 2) * 0.15)
                ys.append(p["value"])
                lo.append(p["value"] - p["lo"])
                hi.append(p["hi"] - p["value"])
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", ms=4, capsize=2, label=method, color=f"C{j}")
        ax.axhline(0, color="k", lw=0.8)
        ax.axhline(1, color="k", lw=0.8, ls=":")
        ax.set_xticks(range(len(pairs)))
        ax.set_xticklabels([f"{w.split('-')[0]}\n→{s.split('-')[0]}" for w, s in pairs], fontsize=8)
        ax.set_title(task, fontsize=10)
        if not ax.lines:
            ax.text(0.5, 0.5, "ceiling does not beat the weak\nsupervisor: PGR not meaningful",
                    ha="center", va="center", transform=ax.transAxes, fontsize=9, color="0.3")
        ax.set_ylim(-1.5, 2.0)
    axes[0][0].set_ylabel("PGR (mean over seeds, 95% t-CI)")
    fig.suptitle(f"PGR where at most {MAX_UNDEFINED} of 5 seeds lacks a weak-to-ceiling gap", fontsize=9)
    axes[0][-1].legend(fontsize=7, loc="upper right")
    save_figure(fig, path)


def render(records: list) -> str:
    by_task = defaultdict(list)
    for r in records:
        by_task[r.result["task"].split("[")[0]].append(r)
    lines = [
        "# Weak-to-strong generalization on frozen activations",
        "",
        "_Generated by `scripts/w2s_results.py` from the run records in `runs/w2s-*`; do not edit by hand._",
        "",
        "Protocol (Burns et al. 2023): per seed, a random A/B/test split (A, B halves of 75%; test 25%). "
        "Weak supervisor = logistic head on the weak model's features trained on A's ground truth; its soft "
        "predictions on B are the weak labels. Ceiling = head on the strong model's features trained on B's "
        "ground truth. Student = head on the strong features trained on B's weak labels by the method. "
        "Features: mean-pooled activations of each model's middle block (fixed by depth, never chosen on labels). "
        "Test accuracy per role is a mean over seeds with a 95% t-interval across seeds; PGR = (student − weak) / "
        "(ceiling − weak) per seed, then averaged; it is **undefined** for a seed whose ceiling does not beat the "
        "weak supervisor by more than 2 points, and such seeds are counted, not averaged. `bootstrap` supervises "
        "MiniLM → SmolLM2 → Gemma-3. `knn_smooth` is alignlab's own idea (weak labels smoothed over the strong "
        "model's nearest neighbours), not from the paper.",
        "",
        "![PGR per method](w2s_pgr.png)",
        "",
        "## What the numbers say",
        "",
        *findings(records),
        "",
    ]
    for task, rows in sorted(by_task.items()):
        lines += [f"## {task}", "", "| weak → strong | method | seeds | n test/seed | weak | student | ceiling | PGR | seeds without a gap |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(rows, key=lambda r: (r.config["weak"], r.config["strong"], METHODS.index(r.config["method"]))):
            s = r.result["summary"]
            lines.append(
                f"| {r.config['weak']} → {r.config['strong']} | {r.config['method']} | {len(r.result['seeds'])} | "
                f"{r.result['runs'][0]['n_test']} | {fmt(s['weak'])} | {fmt(s['student'])} | {fmt(s['ceiling'])} | "
                f"{pgr_cell(s)} | {s['pgr_undefined_seeds']} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", action="store_true", help="compute missing runs first")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--tasks", default=",".join(TASKS))
    args = parser.parse_args()
    if args.run:
        from alignlab.generalization import sweep_w2s

        sweep_w2s(args.tasks.split(","), PAIRS, METHODS, mid=MID, runs_root=args.runs)
    records = load_records(args.runs)
    if not records:
        raise SystemExit(f"no finished w2s runs under {args.runs}; run with --run")
    DOCS.mkdir(parents=True, exist_ok=True)
    plot(records, DOCS / "w2s_pgr.png")
    (DOCS / "w2s.md").write_text(render(records))
    print(f"wrote {DOCS / 'w2s.md'} from {len(records)} runs")


if __name__ == "__main__":
    main()
