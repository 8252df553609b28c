"""``debate.md``: debate with a sparse judge on 8x8 digits (Irving et al. 2018) — every
variant of the ``debate`` campaign beside the paper's MNIST numbers, with a plot and one
rendered game, from ``runs/debate-*``."""

from __future__ import annotations

from pathlib import Path

from alignlab.results._renderer import RENDERERS, CampaignRenderer, Records, missing_note


def _pct(e: dict) -> str:
    return f"{100 * e['value']:.1f}% [{100 * e['lo']:.1f}, {100 * e['hi']:.1f}]"


def _notes(records: list) -> str:
    """The prose: every variant per k, quoted from the records."""
    from alignlab.oversight.debate import main_series
    from alignlab.stats import wilson

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
    return "\n".join(out) + "\n"


# Written from the committed records (docs/results/debate.md); the numbers it quotes are
# in the tables above it, rendered from the records.
_DISCUSSION = """
## How the effect compares

- **It reproduces, at about the paper's size.** With pre-commit and 1,000 rollouts per
  move, debate lifts the judge by roughly 35-45 points at k = 4 and 6 and lands within
  about 3 points of the paper's MNIST debate numbers (85.2% at k = 4, 88.9% at k = 6);
  our judge-alone baselines are also within about 3 points of the paper's (48.2%, 59.4%).
  The k = 2 and 3 rows have no counterpart in the paper.
- **Search matters, and more search helps honesty.** At 100 rollouts per move the honest
  side wins much less often (above); the liar searches with the same budget, so the
  extra search favours the truth. Going from 1,000 to the paper's 10,000 rollouts (k = 6,
  the same 100 images) moved it by at most a point (both lines above), well inside
  intervals of about +-6 points:
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
"""


def _missing_list(missing: list, total: int) -> str:
    if not missing:
        return missing_note(0, total) + "\n"
    rows = "".join(f"- {c.search}, {'pre-commit' if c.precommit else 'no pre-commit'}, {c.first} first, k = {c.k}, "
                   f"{c.rollouts} rollouts, {c.images} images, seed {c.seed}/{c.judge.seed}\n" for c in missing)
    return missing_note(len(missing), total) + "\n\n" + rows


@RENDERERS.register("debate", description="Debate with a sparse judge on 8x8 digits, beside the paper's MNIST "
                                          "numbers.")
class DebateResults(CampaignRenderer):
    name = "debate"
    doc = "debate.md"

    def render(self, runs_root: str | Path, out_dir: str | Path) -> Path:
        from alignlab.oversight.debate import (
            figure_series,
            main_series,
            paper_table,
            plot_accuracy_vs_k,
            render_game,
            results_table,
        )

        configs = self.configs("debate")
        index = Records("debate", runs_root)
        found = [(c, index.find(c)) for c in configs]
        records = list({r.path: r for _, r in found if r is not None}.values())
        if not records:
            raise self.no_records(runs_root)
        missing = [c for c, r in found if r is None]
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        plot = plot_accuracy_vs_k(figure_series(records), out_dir / "debate_accuracy.png",
                                  "8x8 digits: judge alone vs debate (95% CI)")
        main = main_series(records)
        game = ""
        if main:  # the main line (PUCT, pre-commit, honest first, seed 0) at its largest k
            k_ex = max(main)
            example = main[k_ex].result["examples"][0]
            drawn = render_game(example, out_dir / "debate_game.png",
                                f"k={k_ex}, {main[k_ex].config['rollouts']} rollouts: honest ({example['label']}) "
                                f"vs strongest liar ({example['liar_claim']}); "
                                f"{'honest wins' if example['honest_wins'] else 'liar wins'}")
            game = f"![example game]({drawn.name})\n\n"
        else:
            game = "No run of the main line (PUCT, pre-commit, honest first, seed 0) to draw a game from.\n\n"
        text = (
            "# Debate with a sparse judge on 8x8 digits\n\n"
            f"_Generated by `alignlab results render {self.name}` from the run records in `runs/debate-*`; "
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
            + _missing_list(missing, len(found)) + "\n"
            "## One game\n\n" + game + _notes(records) + _DISCUSSION + "\n## Reproduce\n\n```\n"
            f"{self.command():<44} # runs what is missing, then renders this page\n"
            "alignlab debate pixels --k 6 --images 300 --rollouts 1000   # one run, printed\n"
            "python bench/debate.py                        # the speed benchmark (bench/results/debate.json)\n"
            "```\n"
        )
        path = out_dir / self.doc
        path.write_text(text)
        return path
