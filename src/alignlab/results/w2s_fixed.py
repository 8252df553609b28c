"""``w2s_fixed.md``: weak-to-strong on frozen activations with the older, fixed protocol
(one middle layer, C = 1, ungrouped splits, eligibility read off test) — every task x
(weak, strong) pair x transfer method of the ``w2s_fixed`` campaign, with PGR figures,
from ``runs/w2s-*``. Superseded by ``w2s.md`` (per-role selection, validated gaps)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from alignlab.results._renderer import RENDERERS, CampaignRenderer, missing_note

ORDER = ("xent", "aux_conf", "conf_filter", "bootstrap", "knn_smooth")
"""Row and legend order of the methods (others follow in campaign order)."""


def _fmt(e: dict | None, digits: int = 3) -> str:
    if e is None:
        return "undefined"
    return f"{e['value']:.{digits}f} [{e['lo']:.{digits}f}, {e['hi']:.{digits}f}]"


def _pgr_cell(summary: dict) -> str:
    from alignlab.generalization import pgr_is_meaningful

    if not pgr_is_meaningful(summary):
        return "not meaningful (no gap)"
    return _fmt(summary["pgr"], 2)


def _key(c: dict) -> tuple:
    """One experiment, however its record was keyed: a record written before a config
    field existed (e.g. ``mid``) hashes differently but describes the same run."""
    return (c["task"], c["weak"], c["strong"], c.get("mid"), c["method"], tuple(c["seeds"]), c.get("n_examples"),
            c.get("layer_fraction", 0.5), c.get("pooling", "mean"))


def _records_by_key(runs_root: Path) -> dict[tuple, object]:
    """The newest finished head-mode record per experiment under ``runs_root``."""
    from alignlab.store import load_run

    newest = {}
    for path in sorted(Path(runs_root).glob("w2s-[!s]*"), key=lambda p: (p.stat().st_mtime, p.name)):  # not w2s-sweep-*
        try:
            record = load_run(path)
        except FileNotFoundError:
            continue  # unfinished: never reported
        if record.config.get("train", "head") != "head" or "n_params" not in record.result:
            continue  # this page is the head-mode sweep, from records of the current code
        newest[_key(record.config)] = record
    return newest


def _findings(records: list, methods: list[str]) -> list[str]:
    """Computed from the records, so the summary cannot drift from the tables."""
    from alignlab.generalization import MAX_UNDEFINED, pgr_is_meaningful

    meaningful = [r for r in records if pgr_is_meaningful(r.result["summary"])]
    n_seeds = max(len(r.result["seeds"]) for r in records)
    out = [f"- {len(records)} runs; PGR is meaningful (a weak-to-ceiling gap in at least "
           f"{n_seeds - MAX_UNDEFINED} of {n_seeds} seeds) in {len(meaningful)} of them:"]
    for r in sorted(meaningful, key=lambda r: -r.result["summary"]["pgr"]["value"]):
        p, s = r.result["summary"]["pgr"], r.result["summary"]
        verdict = "above 0" if p["lo"] > 0 else ("below 0" if p["hi"] < 0 else "CI spans 0")
        out.append(f"  - {r.result['task']}, {r.config['weak']} → {r.config['strong']}, {r.config['method']}: "
                   f"PGR {_fmt(p, 2)} ({verdict}); student {s['student']['value']:.3f} vs weak "
                   f"{s['weak']['value']:.3f}, ceiling {s['ceiling']['value']:.3f}")
    out += _paired_vs_xent(records, methods)
    no_gap = sorted({r.result["task"] for r in records} - {r.result["task"] for r in meaningful})
    if no_gap:
        out.append(f"- No meaningful PGR at all on: {', '.join(no_gap)} — at the middle layer these small "
                   "models' linear ceilings barely beat MiniLM's, so there is no gap to recover.")
    return out


def _paired_vs_xent(records: list, methods: list[str]) -> list[str]:
    """Each method's student against the naive student on the same task, pair and seeds:
    a comparison that needs no weak-to-ceiling gap, so it uses every cell."""
    from alignlab.stats import mean_ci

    cell = {(r.result["task"], r.config["weak"], r.config["strong"], r.config["method"]): r for r in records}
    out = ["- Student accuracy minus the naive (`xent`) student's, paired over task × pair cells (mean over "
           "cells, 95% t-interval; points):"]
    for method in (m for m in methods if m != "xent"):
        diffs = [100 * (r.result["summary"]["student"]["value"]
                        - cell[k[:3] + ("xent",)].result["summary"]["student"]["value"])
                 for k, r in cell.items() if k[3] == method and k[:3] + ("xent",) in cell]
        if len(diffs) >= 2:
            e = mean_ci(diffs)
            out.append(f"  - {method}: {e.value:+.1f} [{e.lo:+.1f}, {e.hi:+.1f}] over {len(diffs)} cells; better than "
                       f"xent in {sum(d > 0 for d in diffs)}/{len(diffs)}")
    return out


_PROTOCOL = (
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
    "too slow on 2 CPU cores for this grid.")


@RENDERERS.register("w2s_fixed", description="Weak-to-strong with the older fixed protocol (middle layer, "
                                             "C = 1): PGR per task, model pair and method.")
class W2SFixedResults(CampaignRenderer):
    name = "w2s_fixed"
    doc = "w2s_fixed.md"

    def render(self, runs_root: str | Path, out_dir: str | Path) -> Path:
        from alignlab.generalization import plot_pgr, plot_sizes
        from alignlab.report import dtype_note

        configs = [c.model_dump(mode="json") for c in self.configs("w2s")]
        index = _records_by_key(Path(runs_root))
        cells = [(c, index.get(_key(c))) for c in configs]
        records = [r for _, r in cells if r is not None]
        if not records:
            raise self.no_records(runs_root)
        campaign_methods = list(dict.fromkeys(c["method"] for c in configs))
        methods = [m for m in ORDER if m in campaign_methods] + [m for m in campaign_methods if m not in ORDER]
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        plot_pgr(records, out_dir / "w2s_fixed_pgr.png", methods)
        plot_sizes(records, out_dir / "w2s_fixed_sizes.png", method="xent")
        path = out_dir / self.doc
        path.write_text(self._text(cells, records, methods, dtype_note(r.path for r in records)))
        return path

    def _text(self, cells: list, records: list, methods: list[str], dtypes: str) -> str:
        heading = {r.config["task"]: r.result["task"].split("[")[0] for r in records}  # task -> section
        by_task = defaultdict(list)
        for config, record in cells:
            by_task[heading.get(config["task"], config["task"])].append((config, record))
        missing = sum(r is None for _, r in cells)
        lines = [
            "# Weak-to-strong generalization on frozen activations: the older, fixed protocol",
            "",
            f"_Generated by `alignlab results render {self.name}` from the run records in `runs/w2s-*`; "
            "do not edit by hand._",
            "",
            _PROTOCOL,
            "",
            dtypes + " The same experiments in fp32 on an AVX2-only CPU: [dtype.md](dtype.md).",
            "",
            "![PGR per method](w2s_fixed_pgr.png)",
            "",
            "![Accuracy against strong-model size](w2s_fixed_sizes.png)",
            "",
            "_Above: the analogue of Burns et al.'s main figure — test accuracy of the naive (`xent`) student "
            "(solid) and of the ceiling (dashed) against the strong model's parameter count, one colour per weak "
            "supervisor, whose own accuracy is the dotted level._",
            "",
            "## What the numbers say",
            "",
            f"- {missing_note(missing, len(cells))}",
            *_findings(records, methods),
            "",
        ]

        def order(cell):
            c = cell[0]
            return c["weak"], c["strong"], methods.index(c["method"])

        for task, rows in sorted(by_task.items()):
            lines += [f"## {task}", "",
                      "| weak → strong | method | seeds | n test/seed | weak | student | ceiling | PGR | "
                      "seeds without a gap |", "|---|---|---|---|---|---|---|---|---|"]
            for c, r in sorted(rows, key=order):
                if r is None:
                    lines.append(f"| {c['weak']} → {c['strong']} | {c['method']} | missing: no record |||||||")
                    continue
                s = r.result["summary"]
                lines.append(
                    f"| {c['weak']} → {c['strong']} | {c['method']} | {len(r.result['seeds'])} | "
                    f"{r.result['runs'][0]['n_test']} | {_fmt(s['weak'])} | {_fmt(s['student'])} | "
                    f"{_fmt(s['ceiling'])} | {_pgr_cell(s)} | {s['pgr_undefined_seeds']} |")
            lines.append("")
        return "\n".join(lines) + "\n"
