"""The published debate results: a markdown table, a plot and one rendered game, all
generated from run records (``runs/debate-*``), next to the paper's MNIST numbers.

The ``debate`` results renderer (``alignlab results render debate``) builds the page from
these; nothing here runs an experiment, so the document can always be rebuilt from what
is on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Irving, Christiano & Amodei (2018), MNIST, pre-commit: judge alone -> debate (honest wins).
PAPER_MNIST = {6: (0.594, 0.889), 4: (0.482, 0.852)}


def load_debate_runs(root: str | Path, min_images: int = 100) -> list:
    """Finished debate run records under ``root`` with at least ``min_images`` images."""
    from alignlab.store import load_run

    out = []
    for path in sorted(Path(root).glob("debate-*")):
        try:
            rec = load_run(path)
        except FileNotFoundError:  # an interrupted run: never read as a result
            continue
        if rec.kind == "debate" and rec.result["n_images"] >= min_images:
            out.append(rec)
    return out


def _pct(e: dict) -> str:
    return f"{100 * e['value']:.1f} [{100 * e['lo']:.1f}, {100 * e['hi']:.1f}]"


def _variant(c: dict) -> str:
    commit = "pre-commit" if c["precommit"] else "no pre-commit"
    return f"{c['search']}, {commit}, {c['first']} first"


def _key(rec) -> tuple:
    c = rec.config
    return (not c["precommit"], c["first"], c["search"], c["k"], c["rollouts"], c["seed"],
            c["judge"]["seed"])


def results_table(records: list) -> str:
    """Every run as one markdown row, with n and 95% intervals."""
    head = ("| variant | k | rollouts/move | seed (search/judge) | images (games) | judge alone % | debate % "
            "(honest wins) | gain, points | honest wins per game % | judge evals | debate s |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n")
    rows = []
    for rec in sorted(records, key=_key):
        c, r = rec.config, rec.result
        rollouts = "exact" if c["search"] == "minimax" else c["rollouts"]
        g = r["gain"]
        rows.append(
            f"| {_variant(c)} | {c['k']} | {rollouts} | {c['seed']}/{c['judge']['seed']} "
            f"| {r['n_images']} ({r['n_games']}) "
            f"| {_pct(r['judge_alone'])} | {_pct(r['debate'])} "
            f"| {100 * g['value']:+.1f} [{100 * g['lo']:+.1f}, {100 * g['hi']:+.1f}] "
            f"| {_pct(r['debate_games'])} | {r['timing']['judge_evals']:,} "
            f"| {r['timing']['seconds_debate']:.0f} |")
    return head + "\n".join(rows) + "\n"


def paper_table(records: list) -> str:
    """Our main variant (PUCT, pre-commit, honest first, largest budget) beside the paper."""
    main = main_series(records)
    head = ("| k | paper MNIST: judge alone | paper MNIST: debate | ours 8x8: judge alone | "
            "ours 8x8: debate | rollouts (ours; paper 10,000) |\n|---|---|---|---|---|---|\n")
    rows = []
    for k in sorted(set(PAPER_MNIST) | set(main)):
        p = PAPER_MNIST.get(k)
        paper = (f"{100 * p[0]:.1f}", f"{100 * p[1]:.1f}") if p else ("—", "—")
        rec = main.get(k)
        ours = ((_pct(rec.result["judge_alone"]), _pct(rec.result["debate"]), rec.config["rollouts"])
                if rec else ("—", "—", "—"))
        rows.append(f"| {k} | {paper[0]} | {paper[1]} | {ours[0]} | {ours[1]} | {ours[2]} |")
    return head + "\n".join(rows) + "\n"


def main_series(records: list, **match: Any) -> dict[int, Any]:
    """k -> the run with the most images (then rollouts) among those matching ``match``."""
    want = {"search": "puct", "precommit": True, "first": "honest", "seed": 0, **match}
    want.setdefault("judge_seed", 0)
    best: dict[int, Any] = {}
    for rec in records:
        c = rec.config
        if c["judge"]["seed"] != want["judge_seed"]:
            continue
        if all(c[key] == v for key, v in want.items() if key not in ("rollouts", "judge_seed")):
            if "rollouts" in want and c["rollouts"] != want["rollouts"]:
                continue
            size = (rec.result["n_images"], c["rollouts"])  # most images, then most search
            if c["k"] not in best or size > (best[c["k"]].result["n_images"],
                                             best[c["k"]].config["rollouts"]):
                best[c["k"]] = rec
    return best


def figure_series(records: list) -> dict[str, list]:
    """The lines of the accuracy-vs-k plot."""
    main = main_series(records)
    series = {"judge alone (random pixels)": [(k, r.result["judge_alone"]) for k, r in main.items()]}
    budgets = sorted({r.config["rollouts"] for r in records if r.config["search"] == "puct"})
    for b in budgets:
        s = main_series(records, rollouts=b)
        if s:
            series[f"debate, pre-commit, {b} rollouts"] = [(k, r.result["debate"]) for k, r in s.items()]
    for label, match in (("debate, liar first", {"first": "liar"}),
                         ("debate, no pre-commit", {"precommit": False})):
        s = main_series(records, **match)
        if s:
            series[f"{label}, {max(r.config['rollouts'] for r in s.values())} rollouts"] = [
                (k, r.result["debate"]) for k, r in s.items()]
    return series
