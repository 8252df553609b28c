"""Generate docs/results/debate.md and its figures from debate run records.

    python scripts/debate_results.py            # render from runs/debate-* on disk
    python scripts/debate_results.py --sweep    # first run every configuration below that
                                                # is not on disk yet (tens of minutes on 2 cores)

The document is rebuilt from the records alone; the prose below quotes numbers from them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alignlab.oversight.debate import DebateConfig, JudgeConfig, run_sweep
from alignlab.stats import wilson
from alignlab.oversight.debate import load_debate_runs, main_series, write_results_doc

ROOT = Path(__file__).resolve().parents[1]
KS = [2, 3, 4, 6]

# (ks, rollout budgets, config overrides): everything the document reports.
SWEEP: list[tuple[list[int], list[int], dict]] = [
    (KS, [100, 1000], {}),                                 # the main line, two budgets
    (KS, [1000], {"precommit": False}),                    # liar picks its label at the end
    (KS, [1000], {"first": "liar"}),                       # who moves first
    ([2], [1000], {"search": "minimax"}),                  # exact play: how good is MCTS?
    ([4, 6], [1000], {"search": "uct"}),                   # the other selection rule
    ([4, 6], [1000], {"seed": 1, "judge": JudgeConfig(seed=1)}),  # a second seed
    # The paper's budget, on fewer images; smaller batches keep the trees in memory
    # (the tree table is batch_games x (rollouts + 1) x 64 int32).
    ([6], [10000], {"images": 100, "batch_games": 90}),
]


def sweep(runs: Path, images: int) -> None:
    for ks, budgets, overrides in SWEEP:
        base = DebateConfig(**{"images": images, "k": min(ks), **overrides})  # k swept below
        for rec in run_sweep(ks, budgets, base, root=str(runs)):
            c, r = rec.config, rec.result
            print(f"{c['search']} precommit={c['precommit']} first={c['first']} k={c['k']} "
                  f"R={c['rollouts']}: judge {r['judge_alone']['value']:.3f} "
                  f"debate {r['debate']['value']:.3f}  ({rec.path.name})", flush=True)


def _pct(e: dict) -> str:
    return f"{100 * e['value']:.1f}% [{100 * e['lo']:.1f}, {100 * e['hi']:.1f}]"


def notes(runs: Path) -> str:
    """The prose: every variant per k, quoted from the records."""
    records = load_debate_runs(runs)
    main = main_series(records)
    variants = [
        ("100 rollouts", main_series(records, rollouts=100)),
        ("10,000 rollouts (the paper's budget), first 100 images only",
         main_series(records, rollouts=10000)),
        ("liar moving first", main_series(records, first="liar")),
        ("without pre-commit", main_series(records, precommit=False)),
        ("UCT instead of PUCT", main_series(records, search="uct")),
        ("exact minimax play", main_series(records, search="minimax")),
        ("second seed (search 1, judge 1)", main_series(records, seed=1, judge_seed=1)),
    ]
    out = ["## What the numbers say\n",
           "Debate accuracy (honest wins against every liar), 95% CI, per k; the main line is "
           "PUCT, pre-commit, honest first, 1,000 rollouts per move.\n"]
    for k in sorted(main):
        r = main[k].result
        out.append(f"- **k = {k}**: judge alone {_pct(r['judge_alone'])}; debate {_pct(r['debate'])}")
        for name, series in variants:
            if k in series and series[k] is not main[k]:
                extra = ""
                if name.startswith("second seed"):
                    extra = f" (its judge alone {_pct(series[k].result['judge_alone'])})"
                if name.startswith("10,000"):  # same split, so its images are main's first n
                    n = series[k].result["n_images"]
                    same = wilson(sum(r["per_image"]["honest_wins"][:n]), n).as_dict()
                    extra = f" (1,000 rollouts on the same {n} images: {_pct(same)})"
                out.append(f"  - {name}: {_pct(series[k].result['debate'])}{extra}")
    out.append(NOTES)
    return "\n".join(out) + "\n"


NOTES = """
## How the effect compares

- **It reproduces, at about the paper's size.** With pre-commit and 1,000 rollouts per
  move, debate lifts the judge by roughly 35-45 points at k = 4 and 6 and lands within
  about 3 points of the paper's MNIST debate numbers (85.2% at k = 4, 88.9% at k = 6);
  our judge-alone baselines are also within about 3 points of the paper's (48.2%, 59.4%).
  The k = 2 and 3 rows have no counterpart in the paper.
- **Search matters, and more search helps honesty.** At 100 rollouts per move the honest
  side wins much less often (above); the liar searches with the same budget, so the
  extra search favours the truth. Going from 1,000 to the paper's 10,000 rollouts (k = 6,
  the same 100 images) moved it by one point, well inside intervals of about +-6 points:
  no measurable gain from 10x more search there. At k = 2, 1,000-rollout PUCT is within a couple of
  points of exact minimax play, so the k = 2 number is close to the game's true value
  for this judge; UCT and PUCT agree within their intervals.
- **Pre-commitment is essential.** A liar who picks its label after the last pixel pulls
  debate down to within about 10 points of the judge alone at even k (below it at k = 2),
  25-70 points under debate with pre-commit — the paper's warning, measured.
- **Who moves first matters through parity only.** For odd k the first mover reveals
  one pixel more than the other and that side dominates (k = 3: honest first vs liar
  first above); for even k the first mover changes the result by less than the intervals.
- **A second seed** (new judge and new search seeds) at k = 4 and 6 moved debate accuracy
  by under a point, far inside the intervals; seed-to-seed spread is not what limits these
  numbers, the 300 images are.

## Differences from the paper, and what they mean

- **Data.** 8x8 digits (1,797 images; 1,437 train / 360 test, stratified, split seed 0),
  not 28x28 MNIST. We debate the first 300 test images. An 8x8 pixel is a 4x4 block of
  the original 32x32 bitmap, so one revealed pixel carries far more of the digit than one
  MNIST pixel; there are also only 64 pixels to choose from, not 784.
- **Judge.** A 2-layer MLP (128-128) on (mask, mask x image), trained for 1,000 epochs of
  fresh random masks with lit pixels 5x likelier than dark ones (the paper used a
  convolutional judge and lit pixels only). Its accuracy on random masks happens to land
  close to the paper's MNIST judge; that is a coincidence of sizes, not a matched design.
- **Search.** PUCT with a uniform prior and random playouts to a full k-pixel leaf, a
  fresh tree per move, 1,000 rollouts per move by default (the paper: 10,000). A 100-rollout
  line shows how much the budget matters; exact minimax at k = 2 shows how close MCTS is
  to optimal play there.
- **Scoring.** As in the paper: with pre-commit, nine games per image (one per false
  label), and the image counts for honesty only if the honest player wins all nine.
  Ties in the judge's logits go to the liar. Without pre-commit the liar takes the
  judge's best false label after the last pixel, so honesty wins only if the judge's
  top label is the true one.
- **Intervals.** Debate: Wilson 95% over images. Judge alone: 20 random masks per image,
  bootstrap 95% over images. One seed per configuration (search seed 0, judge seed 0,
  split seed 0): the intervals cover image sampling, not judge retraining or seeds.

## Reproduce

```
python scripts/debate_results.py --sweep     # runs what is missing, then renders this page
alignlab debate pixels --k 6 --images 300 --rollouts 1000   # one run, printed
python bench/debate.py                        # the speed benchmark (bench/results/debate.json)
```
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=ROOT / "runs")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "debate.md")
    ap.add_argument("--sweep", action="store_true", help="run missing configurations first")
    ap.add_argument("--images", type=int, default=300)
    args = ap.parse_args()
    if args.sweep:
        sweep(args.runs, args.images)
    path = write_results_doc(args.runs, args.out, notes=notes(args.runs))
    print(f"wrote {path} and its figures")


if __name__ == "__main__":
    main()
