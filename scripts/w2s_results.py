"""Run the weak-to-strong sweep (resumable) and render docs/results/w2s.md from the
run records. Without --run it only re-renders from runs/w2s-*.

    python scripts/w2s_results.py --run            # compute what is missing, then render
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from alignlab.generalization import W2SSweepConfig
from alignlab.generalization import MAX_UNDEFINED, pgr_is_meaningful, plot_pgr, plot_sizes
from alignlab.report import dtype_note

# The ladder: minilm-l6 (22M) < smollm2-135m < gemma3-270m < qwen2.5-coder-0.5b (`make qwen`).
SWEEP = W2SSweepConfig(
    pairs=(("minilm-l6", "smollm2-135m"), ("minilm-l6", "gemma3-270m"), ("minilm-l6", "qwen2.5-coder-0.5b"),
           ("smollm2-135m", "gemma3-270m"), ("smollm2-135m", "qwen2.5-coder-0.5b"),
           ("gemma3-270m", "qwen2.5-coder-0.5b")),
    mid={"minilm-l6->gemma3-270m": "smollm2-135m", "minilm-l6->qwen2.5-coder-0.5b": "gemma3-270m",
         "smollm2-135m->qwen2.5-coder-0.5b": "gemma3-270m"},
)
METHODS = list(SWEEP.methods)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "results"


def fmt(e: dict | None, digits: int = 3) -> str:
    if e is None:
        return "undefined"
    return f"{e['value']:.{digits}f} [{e['lo']:.{digits}f}, {e['hi']:.{digits}f}]"


def pgr_cell(summary: dict) -> str:
    if not pgr_is_meaningful(summary):
        return "not meaningful (no gap)"
    return fmt(summary["pgr"], 2)


def findings(records: list) -> list[str]:
    """Computed from the records, so the summary cannot drift from the tables."""
    meaningful = [r for r in records if pgr_is_meaningful(r.result["summary"])]
    out = [f"- {len(records)} runs; PGR is meaningful (a weak-to-ceiling gap in at least "
           f"{5 - MAX_UNDEFINED} of 5 seeds) in {len(meaningful)} of them:"]
    for r in sorted(meaningful, key=lambda r: -r.result["summary"]["pgr"]["value"]):
        p, s = r.result["summary"]["pgr"], r.result["summary"]
        verdict = "above 0" if p["lo"] > 0 else ("below 0" if p["hi"] < 0 else "CI spans 0")
        out.append(f"  - {r.result['task']}, {r.config['weak']} → {r.config['strong']}, {r.config['method']}: "
                   f"PGR {fmt(p, 2)} ({verdict}); student {s['student']['value']:.3f} vs weak "
                   f"{s['weak']['value']:.3f}, ceiling {s['ceiling']['value']:.3f}")
    out += paired_vs_xent(records)
    no_gap = sorted({r.result["task"] for r in records} - {r.result["task"] for r in meaningful})
    if no_gap:
        out.append(f"- No meaningful PGR at all on: {', '.join(no_gap)} — at the middle layer these small "
                   "models' linear ceilings barely beat MiniLM's, so there is no gap to recover.")
    return out


def paired_vs_xent(records: list) -> list[str]:
    """Each method's student against the naive student on the same task, pair and seeds:
    a comparison that needs no weak-to-ceiling gap, so it uses every cell."""
    from alignlab.stats import mean_ci

    cell = {(r.result["task"], r.config["weak"], r.config["strong"], r.config["method"]): r for r in records}
    out = ["- Student accuracy minus the naive (`xent`) student's, paired over task × pair cells (mean over "
           "cells, 95% t-interval; points):"]
    for method in METHODS[1:]:
        diffs = [100 * (r.result["summary"]["student"]["value"] - cell[k[:3] + ("xent",)].result["summary"]["student"]["value"])
                 for k, r in cell.items() if k[3] == method and k[:3] + ("xent",) in cell]
        if len(diffs) >= 2:
            e = mean_ci(diffs)
            out.append(f"  - {method}: {e.value:+.1f} [{e.lo:+.1f}, {e.hi:+.1f}] over {len(diffs)} cells; better than "
                       f"xent in {sum(d > 0 for d in diffs)}/{len(diffs)}")
    return out


def load_records(runs: Path) -> list:
    from alignlab.store import load_run

    newest = {}
    for path in sorted(runs.glob("w2s-[!s]*"), key=lambda p: p.stat().st_mtime):  # not w2s-sweep-*
        try:
            record = load_run(path)
        except FileNotFoundError:
            continue  # unfinished: never reported
        c = record.config
        # One row per experiment: a record written before a config field existed
        # (e.g. `mid`) hashes differently but describes the same run.
        if c.get("train", "head") != "head" or "n_params" not in record.result:
            continue  # this page is the head-mode sweep, from records of the current code
        key = (record.result["task"], c["weak"], c["strong"], c.get("mid"), c["method"], tuple(c["seeds"]),
               c.get("n_examples"), c.get("layer_fraction", 0.5), c.get("pooling", "mean"))
        newest[key] = record
    return list(newest.values())


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
        "weak supervisor by more than 2 points, and such seeds are counted, not averaged. The ladder: MiniLM-L6 "
        "(encoder, 23M parameters), SmolLM2-135M, Gemma-3-270M, Qwen2.5-Coder-0.5B. `bootstrap` supervises through "
        "the model between (MiniLM → SmolLM2 → Gemma-3, MiniLM → Gemma-3 → Qwen, SmolLM2 → Gemma-3 → Qwen). "
        "`knn_smooth` is alignlab's own idea (weak labels smoothed over the strong model's nearest neighbours), "
        "not from the paper. Nothing is selected on labels — no early stopping, no model selection — so there is "
        "no oracle column. These are heads on frozen activations (`train: head`); the fine-tuning mode "
        "(`train: finetune`, full or LoRA) runs the same protocol and methods on the models themselves, and is "
        "too slow on 2 CPU cores for this grid.",
        "",
        dtype_note(r.path for r in records) + " The same experiments in fp32 on an AVX2-only CPU: "
        "[dtype.md](dtype.md).",
        "",
        "![PGR per method](w2s_pgr.png)",
        "",
        "![Accuracy against strong-model size](w2s_sizes.png)",
        "",
        "_Above: the analogue of Burns et al.'s main figure — test accuracy of the naive (`xent`) student "
        "(solid) and of the ceiling (dashed) against the strong model's parameter count, one colour per weak "
        "supervisor, whose own accuracy is the dotted level._",
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
    parser.add_argument("--tasks", default=",".join(SWEEP.tasks))
    args = parser.parse_args()
    if args.run:
        from alignlab.generalization import run_w2s_sweep

        record = run_w2s_sweep(SWEEP.model_copy(update={"tasks": tuple(args.tasks.split(","))}), args.runs)
        print(f"sweep record: {record.path}")
    records = load_records(args.runs)
    if not records:
        raise SystemExit(f"no finished w2s runs under {args.runs}; run with --run")
    DOCS.mkdir(parents=True, exist_ok=True)
    plot_pgr(records, DOCS / "w2s_pgr.png", METHODS)
    plot_sizes(records, DOCS / "w2s_sizes.png", method="xent")
    (DOCS / "w2s.md").write_text(render(records))
    print(f"wrote {DOCS / 'w2s.md'} from {len(records)} runs")


if __name__ == "__main__":
    main()
