"""The published debate results: a markdown table, a plot and one rendered game, all
generated from run records (``runs/debate-*``), next to the paper's MNIST numbers.

``scripts/debate_results.py`` calls :func:`write_results_doc`; nothing here runs an
experiment, so the document can always be rebuilt from what is on disk.
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


def write_results_doc(runs_root: str | Path, out_md: str | Path, notes: str = "",
                      min_images: int = 100) -> Path:
    """Write the results markdown and its two figures next to it; returns the markdown path."""
    from alignlab.oversight.debate._plots import plot_accuracy_vs_k, render_game

    records = load_debate_runs(runs_root, min_images)
    if not records:
        raise FileNotFoundError(f"no finished debate runs with >= {min_images} images in {runs_root}")
    out_md = Path(out_md)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    plot = plot_accuracy_vs_k(figure_series(records), out_md.parent / "debate_accuracy.png",
                              "8x8 digits: judge alone vs debate (95% CI)")
    main = main_series(records)
    k_ex = max(main)
    ex_rec = main[k_ex]
    example = ex_rec.result["examples"][0]
    game = render_game(example, out_md.parent / "debate_game.png",
                       f"k={k_ex}, {ex_rec.config['rollouts']} rollouts: honest ({example['label']}) "
                       f"vs strongest liar ({example['liar_claim']}); "
                       f"{'honest wins' if example['honest_wins'] else 'liar wins'}")
    text = (
        "# Debate with a sparse judge on 8x8 digits\n\n"
        "_Generated by `scripts/debate_results.py` from the run records in `runs/debate-*`; "
        "do not edit by hand._\n\n"
        "A reproduction of the MNIST experiment of Irving, Christiano & Amodei (2018), "
        "\"AI safety via debate\", on scikit-learn's 8x8 digits.\n\n"
        "## Against the paper\n\n" + paper_table(records) + "\n"
        f"![accuracy vs k]({plot.name})\n\n"
        "## Every run\n\n"
        "Judge alone: mean over images of the judge's accuracy on 20 random k-pixel masks per "
        "image (lit pixels preferred, as in training), bootstrap CI over images. Debate: share of "
        "images on which the honest debater beats *every* liar (nine games per image with "
        "pre-commit; one adaptive liar without), Wilson CI. Gain: debate minus judge alone, "
        "paired per image, bootstrap CI. Honest wins per game: over all games (Wilson).\n\n"
        + results_table(records) + "\n"
        "## One game\n\n"
        f"![example game]({game.name})\n\n" + notes
    )
    out_md.write_text(text)
    return out_md
