"""``easy_to_hard.md``: learning from easy ground truth, tested on hard items (Hase et al.
2024) — from the ``easy_to_hard`` campaign's trial records (``kind: trial``,
``testbed: easy_to_hard``).

A cell is a task and a model. First, on validation, whether there is anything to report:
is hard harder (the **difficulty gap**: a head trained and tested on easy items minus one
trained and tested on hard items, equal training sizes) and does hard ground truth teach
more than the model already says (the **supervision gap**: ceiling − zero-shot on hard
val)? A cell is **eligible** when the difficulty gap's lower bound is above 0 and the
supervision gap's above ``min_gap``. Then, on hard test, each variant beside the ceiling
and zero-shot, and SGR = (easy-trained − zero-shot) / (ceiling − zero-shot) — the ratio of
seed-mean balanced accuracies — shown only for eligible cells.

Every interval is a hierarchical bootstrap: seeds resampled, then within each drawn seed
the groups of each part (a problem's true and false statement together), the roles of a
part resampled together (paired). Replicates where SGR is undefined are counted.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alignlab.results._renderer import RENDERERS, CampaignRenderer, Records, missing_note

N_BOOT = 2000
ORDER = ("easy_head", "easy_mass_mean", "easy_self_train")
LENGTH_FLAG = 1.25
"""A cell's text says length is confounded when hard and easy train items' mean token
counts differ by more than this factor."""
_ROLES = ("easy_trained", "easy_reference", "ceiling", "zeroshot", "zeroshot_plain")


def _bits(s: str) -> np.ndarray:
    return np.frombuffer(s.encode(), dtype=np.uint8) == ord("1")


@dataclass(frozen=True)
class Estimate:
    value: float
    lo: float
    hi: float
    undefined: int = 0
    """Bootstrap replicates where the statistic was undefined (counted, not hidden)."""

    @classmethod
    def of(cls, value: float, boots: np.ndarray) -> Estimate:
        finite = boots[np.isfinite(boots)]
        lo, hi = np.quantile(finite, [0.025, 0.975]) if finite.size else (np.nan, np.nan)
        return cls(float(value), float(lo), float(hi), int(boots.size - finite.size))

    def pct(self, sign: bool = False) -> str:
        if not np.isfinite(self.value):
            return "undefined"
        f = "{:+.1f}" if sign else "{:.1f}"
        return f"{f.format(100 * self.value)} [{f.format(100 * self.lo)}, {f.format(100 * self.hi)}]"

    def ratio(self) -> str:
        if not np.isfinite(self.value):
            return "undefined"
        note = f" ({self.undefined}/{N_BOOT} replicates undefined)" if self.undefined else ""
        return f"{self.value:.2f} [{self.lo:.2f}, {self.hi:.2f}]{note}"


class _Seed:
    """One trial record's revealed items, as per-part cluster counts."""

    def __init__(self, record):
        from alignlab.protocol.testbeds.easy_to_hard import ClusterCounts

        revealed = record.result["revealed"]
        part, y, group = np.array(revealed["part"]), _bits(revealed["y"]), np.array(revealed["group"])
        correct = {role: _bits(bits) for role, bits in revealed["correct"].items()}
        self.counts = {name: ClusterCounts.of(y[part == i], group[part == i], {r: c[part == i] for r, c in
                                                                                correct.items()})
                       for i, name in enumerate(revealed["parts"])}
        self.setup, self.record = revealed["setup"], record


def pooled(seeds: list[_Seed], n_boot: int = N_BOOT, seed: int = 0) -> dict[tuple[str, str], tuple[float, np.ndarray]]:
    """(part, role) -> (mean over seeds of the balanced accuracy, its hierarchical bootstrap
    replicates (n_boot,)). Each replicate draws the seeds with replacement, and each drawn
    seed's groups of every part afresh (a seed drawn twice is resampled twice); the roles
    of one part share the draw, so differences and ratios of roles are paired."""
    rng = np.random.default_rng(seed)
    S = len(seeds)
    chosen = rng.integers(0, S, size=(n_boot, S))  # (n_boot, S) seeds per replicate
    slot = np.arange(n_boot)[:, None] * S + np.arange(S)  # (n_boot, S): each slot its own item draw
    table = {}
    for part in seeds[0].counts:
        draws = [s.counts[part].draws(n_boot * S, rng) for s in seeds]  # per seed (n_boot * S, G)
        for role in seeds[0].counts[part].hits:
            point = float(np.mean([s.counts[part].balanced(role) for s in seeds]))
            values = np.stack([s.counts[part].balanced(role, d) for s, d in zip(seeds, draws)])  # (S, n_boot * S)
            table[(part, role)] = (point, values[chosen, slot].mean(1))
    return table


_CAVEATS = """What these numbers are not:

- **Small models, linear heads, small sets.** 135M and 270M models, a logistic head on one
  layer's activations, and train sets of tens to a few hundred items per difficulty: Hase et
  al.'s 70-100% is for 7B-70B models. A cell that is not eligible says nothing about whether
  easy data would suffice for a model that knows the hard items.
- **Population is a proxy for difficulty, and the difficulty gap checks it.** Where hard is
  not shown to be harder on validation, the cell is reported with its accuracies but without
  an SGR: the easy/hard split did not separate what the model finds easy from what it finds
  hard (a rare territory's currency or continent can be as guessable as a large country's).
- **Zero-shot is calibrated** per difficulty without labels (the raw answer is in its own
  column); a weaker zero-shot would make every SGR look larger.
- **Seeds re-split one pool**, so their test sets overlap; the intervals cover the split and
  the items drawn, not new data per seed."""


class Cell:
    """A task x model: its trusted roles pooled over seeds, and each variant's."""

    def __init__(self, task: str, model: str, extra: str, seeds: list[_Seed], variants: dict[str, list[_Seed]],
                 min_gap: float):
        """``seeds``: one record per seed (any variant's: the trusted roles are the same for
        every variant of a seed); ``variants``: each variant's records, by seed."""
        self.task, self.model, self.extra, self.seeds, self.variants = task, model, extra, seeds, variants
        self.min_gap = min_gap
        self.trusted = pooled(seeds)
        self.pooled = {name: pooled(v) for name, v in variants.items() if v}
        t = self.trusted
        diff = lambda a, b: Estimate.of(t[a][0] - t[b][0], t[a][1] - t[b][1])  # noqa: E731
        self.gaps = {"difficulty": diff(("easy_val", "easy_reference"), ("hard_val", "ceiling")),
                     "zeroshot": diff(("easy_val", "zeroshot"), ("hard_val", "zeroshot")),
                     "supervision": diff(("hard_val", "ceiling"), ("hard_val", "zeroshot"))}

    @property
    def name(self) -> str:
        """The model, and the testbed params that differ from the defaults (beyond task and model)."""
        return f"{self.model} {self.extra}" if self.extra else self.model

    def eligible(self) -> tuple[bool, str]:
        g = self.gaps
        why = []
        if not g["difficulty"].lo > 0:
            why.append("hard is not shown to be harder (difficulty gap's lower bound ≤ 0)")
        if not g["supervision"].lo > self.min_gap:
            why.append(f"the ceiling does not beat zero-shot on hard val by more than {100 * self.min_gap:g} points "
                       "(lower bound)")
        return not why, "; ".join(why)


def _sgr(t: dict, min_gap: float) -> Estimate:
    from alignlab.protocol.testbeds.easy_to_hard import sgr

    e, z, c = (t[("hard_test", r)] for r in ("easy_trained", "zeroshot", "ceiling"))
    return Estimate.of(float(sgr(e[0], z[0], c[0], min_gap)), sgr(e[1], z[1], c[1], min_gap))


def _thresholds(task: str, thresholds: dict) -> str:
    """The easy and hard thresholds; for a task graded by popularity (difficulty −ln
    population), as populations."""
    easy, hard = thresholds["easy_max"], thresholds["hard_min"]
    if not _by_population(task):
        return f"difficulty ≤ {easy:.3g} / ≥ {hard:.3g}"
    return f"population ≥ {_people(np.exp(-easy))} / ≤ {_people(np.exp(-hard))}"


def _by_population(task: str) -> bool:
    """Whether the task is graded by population (its difficulty is −ln population)."""
    from alignlab.data import load_task
    from alignlab.errors import AlignlabError

    try:
        return "difficulty" not in load_task(task).examples[0].meta
    except AlignlabError:  # a task that no longer loads: the numbers as recorded
        return False


def _people(n: float) -> str:
    return f"{n / 1e6:.3g}M" if n >= 1e6 else f"{n / 1e3:.3g}k"


def _label(params: dict) -> str:
    """Non-default testbed params beyond task and model, for a cell's name."""
    from alignlab.protocol.testbeds.easy_to_hard import EasyToHardConfig

    defaults = EasyToHardConfig().model_dump(mode="json")
    extra = {k: v for k, v in params.items() if k not in ("task", "model") and defaults.get(k) != v}
    return json.dumps(extra, sort_keys=True) if extra else ""


@RENDERERS.register("easy_to_hard", description="Easy-to-hard generalization: train on easy ground truth, test on "
                                                "hard; supervision gap recovered with hierarchical intervals.")
class EasyToHardResults(CampaignRenderer):
    name = "easy_to_hard"
    doc = "easy_to_hard.md"

    def render(self, runs_root: str | Path, out_dir: str | Path) -> Path:
        from alignlab.protocol.testbeds.easy_to_hard import EasyToHardConfig

        configs = [c for c in self.configs("trial") if c.testbed == "easy_to_hard"]
        index = Records("trial", runs_root)
        found = [(c, index.find(c)) for c in configs]
        if not any(r is not None for _, r in found):
            raise self.no_records(runs_root)
        planned: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        params_of: dict[tuple, EasyToHardConfig] = {}
        for config, record in found:
            params = EasyToHardConfig.model_validate(config.params)
            key = (params.task, params.model, _label(config.params))
            params_of[key] = params
            planned[key][config.variant.name].append((config.seed, record))
        cells, rows = [], []
        for key, variants in planned.items():
            by_seed = {}
            for name in variants:
                for seed, record in variants[name]:
                    if record is not None:
                        by_seed.setdefault(seed, _Seed(record))
            done = {name: [_Seed(r) for _, r in sorted(v, key=lambda x: x[0]) if r is not None]
                    for name, v in variants.items()}
            planned_n = {name: len(v) for name, v in variants.items()}
            if by_seed:
                cells.append((Cell(*key, [by_seed[s] for s in sorted(by_seed)], done, params_of[key].min_gap),
                              planned_n))
            else:
                rows += [f"| {key[0]} | {key[1]}{' ' + key[2] if key[2] else ''} | {name} | missing: no record |"
                         for name in variants]
        missing = sum(r is None for _, r in found)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / self.doc
        path.write_text("\n".join(self._text(cells, rows, missing_note(missing, len(found)), found)) + "\n")
        return path

    # ------------------------------------------------------------------ the document
    def _text(self, cells: list, missing_rows: list[str], missing: str, found: list) -> list[str]:
        from alignlab.generalization import CS, FOLDS
        from alignlab.protocol.testbeds.easy_to_hard import EasyToHardConfig

        d = EasyToHardConfig()
        train = 1 - d.val_fraction - d.test_fraction
        return [
            "# Easy-to-hard generalization on small models",
            "",
            f"_Generated by `alignlab results render {self.name}` from the trial records (`runs/trial-*`, testbed "
            f"`easy_to_hard`) of `{self.campaign_label()}`; do not edit by hand._ Reproduce: `{self.command()}`. "
            + missing,
            "",
            "After Hase et al. (2024), \"The Unreasonable Effectiveness of Easy Training Data for Hard Tasks\": a "
            "linear head on a model's activations is trained on **easy** ground truth and tested on **hard** items, "
            "beside the same head trained on hard ground truth (the ceiling) and the model's zero-shot answer. "
            "**Supervision gap recovered** SGR = (easy-trained − zero-shot) / (ceiling − zero-shot) on hard test; "
            "Hase et al. report 70–100% for much larger models (7B–70B) and their own tasks.",
            "",
            "## Setup",
            "",
            "The testbed's defaults (`alignlab testbeds show easy_to_hard`); a cell that differs names its "
            "params beside its model.",
            "",
            "- **Difficulty** is defined by the item alone: digits per operand (`arithmetic_digits`), objects in the "
            "puzzle (`logical_deduction_objects`, `shuffled_objects`), −log(population) of the subject for the fact "
            "tasks (the country for `capitals`, `currencies`, `continents`; the city for `cities`: less populous "
            f"is taken as harder — the difficulty gap below tests whether it is). Groups at or below the {d.easy_quantile:.3g} quantile of the "
            f"groups' difficulties are easy, at or above the {d.hard_quantile:.3g} quantile hard; those between "
            "are not used.",
            "- **Splits** (per seed): each pool is split by group — a problem's true and false statement stay "
            f"together — into train / val / test ({100 * train:.0f} / {100 * d.val_fraction:.0f} / "
            f"{100 * d.test_fraction:.0f}% of groups); the easy and hard train sets are cut to the same number of "
            "items.",
            f"- **Features and C** are chosen per role by group {FOLDS}-fold cross-validation on that role's own "
            f"train labels ({len(d.depths)} relative depths × mean/last-token pooling × C ∈ "
            f"{{{', '.join(f'{c:g}' for c in CS)}}}): the easy-trained head on easy-train, the ceiling on "
            "hard-train. No choice sees a val or test label (a unit test shuffles them: every choice is unchanged).",
            "- **Zero-shot**: the model's own answer by the log-probabilities of the template's two answers, "
            "calibrated without labels to the median log-odds of the train rows of the same difficulty (the raw "
            "answer is in its own column: a raw answer that always says \"Yes\" would make a supervision gap out "
            "of nothing).",
            "- **Scores**: balanced accuracy (the mean of the two classes' recalls; every task here has one true "
            "and one false statement per group, so it equals accuracy). Intervals: 95% hierarchical bootstrap "
            f"({N_BOOT} replicates), seeds then groups. The seeds re-split one fixed pool of items, so their test "
            "sets overlap: the interval covers the choice of split and of items, not fresh data per seed. Variants: `easy_head` (a logistic head — the baseline, "
            "and the recipe of the trusted easy reference), `easy_mass_mean` (difference of class means), "
            "`easy_self_train` (pseudo-labels its most confident unlabelled hard items, twice).",
            "",
            "## Is hard harder, and is there a gap to recover? (validation)",
            "",
            "Difficulty gap: balanced accuracy of the easy reference on easy-val minus the ceiling's on hard-val "
            "(each trained on its own difficulty, same training size). Zero-shot gap: zero-shot on easy-val minus "
            "hard-val. Supervision gap: ceiling minus zero-shot on hard-val. All in points.",
            "",
            "| task | model | seeds | easy / hard | train items (each) | hard-val / hard-test items | "
            "mean tokens easy → hard train | difficulty gap | zero-shot gap | supervision gap | eligible |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            *[self._gap_row(c) for c, _ in cells],
            "",
            "## Hard test: easy-trained vs hard-trained vs zero-shot",
            "",
            "Balanced accuracy (%) on hard test, mean over seeds [95% hierarchical CI]. SGR only where the cell is "
            "eligible above (else \"—\" and why). The last column is the same easy-trained head on **easy** test.",
            "",
            "| task | model | variant | seeds | easy-trained | ceiling (hard-trained) | zero-shot (calibrated) | "
            "zero-shot (raw) | majority class | SGR | easy-trained on easy test |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            *[row for c, planned_n in cells for row in self._test_rows(c, planned_n)],
            *missing_rows,
            "",
            "## What the numbers say",
            "",
            *self._summary([c for c, _ in cells]),
            "",
            "Per cell:",
            "",
            *[line for c, _ in cells for line in self._sentences(c)],
            "",
            _CAVEATS,
            "",
            "## Choices (mode over seeds)",
            "",
            "| task | model | easy-trained features, C | ceiling features, C | mean difficulty easy / hard test |",
            "|---|---|---|---|---|",
            *[self._choice_row(c) for c, _ in cells],
            "",
            "## Compute",
            "",
            *self._compute(found),
            "",
        ]

    @staticmethod
    def _gap_row(c: Cell) -> str:
        s = c.seeds[0].setup
        g, (ok, why) = c.gaps, c.eligible()
        sizes, tokens = s["sizes"], [np.mean([x.setup["length"][p]["tokens"] for x in c.seeds])
                                     for p in ("easy_train", "hard_train")]
        thresholds = _thresholds(c.task, s["thresholds"])
        return (f"| {c.task} | {c.name} | {len(c.seeds)} | {thresholds} | "
                f"{sizes['easy_train']['items']} | {sizes['hard_val']['items']} / {sizes['hard_test']['items']} | "
                f"{tokens[0]:.0f} → {tokens[1]:.0f} (×{tokens[1] / tokens[0]:.2f}) | {g['difficulty'].pct(True)} | "
                f"{g['zeroshot'].pct(True)} | {g['supervision'].pct(True)} | "
                f"{'**yes**' if ok else 'no: ' + why} |")

    @staticmethod
    def _test_rows(c: Cell, planned_n: dict[str, int]) -> list[str]:
        ok, _ = c.eligible()
        out = []
        for name in sorted(c.variants, key=lambda v: (ORDER.index(v) if v in ORDER else len(ORDER), v)):
            seeds = c.variants[name]
            n = f"{len(seeds)}" if len(seeds) == planned_n[name] else f"{len(seeds)} of {planned_n[name]}"
            if not seeds:
                out.append(f"| {c.task} | {c.name} | {name} | missing: no record |")
                continue
            t = c.pooled[name]
            acc = {r: Estimate.of(*t[("hard_test", r)]) for r in ("easy_trained", "ceiling", "zeroshot",
                                                                 "zeroshot_plain")}
            majority = np.mean([s.record.result["scores"]["metrics"]["majority"]["value"] for s in seeds])
            ratio = _sgr(t, c.min_gap).ratio() if ok else "— (not eligible)"
            out.append(f"| {c.task} | {c.name} | {name} | {n} | {acc['easy_trained'].pct()} | "
                       f"{acc['ceiling'].pct()} | {acc['zeroshot'].pct()} | {acc['zeroshot_plain'].pct()} | "
                       f"{100 * majority:.1f} | {ratio} | {Estimate.of(*t[('easy_test', 'easy_trained')]).pct()} |")
        return out

    @staticmethod
    def _summary(cells: list[Cell]) -> list[str]:
        """Statements over all cells, each computed from the pooled numbers above."""
        eligible = [c for c in cells if c.eligible()[0]]
        out = [f"- **{len(eligible)} of {len(cells)} task × model cells are eligible** (hard shown harder on "
               "validation, and a supervision gap there): "
               + (", ".join(f"{c.task} × {c.name}" for c in eligible) or "none") + "."]
        names = sorted({n for c in eligible for n in c.pooled}, key=lambda v: (ORDER.index(v) if v in ORDER
                                                                               else len(ORDER), v))
        for name in names:
            sgrs = [(c, _sgr(c.pooled[name], c.min_gap)) for c in eligible if name in c.pooled]
            shown = ", ".join(f"{c.task} × {c.name} {e.ratio()}" for c, e in sgrs)
            above = sum(np.isfinite(e.lo) and e.lo > 0 for _, e in sgrs)
            reach = sum(np.isfinite(e.hi) and e.hi >= 0.7 for _, e in sgrs)
            out.append(f"- `{name}` SGR on the eligible cells: {shown}. Lower bound above 0 in {above} of "
                       f"{len(sgrs)}; the upper bound reaches Hase et al.'s 0.70 in {reach} of {len(sgrs)}.")
        blind = [c for c in cells if "easy_head" in c.pooled
                 and not Estimate.of(*c.pooled["easy_head"][("easy_test", "easy_trained")]).lo > 0.5]
        if blind:
            out.append("- **No signal even on easy items** (`easy_head` on easy test, lower bound at or under 50%): "
                       + ", ".join(f"{c.task} × {c.name}" for c in blind) + ". These cells test nothing about "
                       "easy-to-hard transfer: a head on the model's features is not shown to tell true from false "
                       "statements even at the easy end.")
        below = [(c, name, Estimate.of(*t[("hard_test", "easy_trained")])) for c in cells
                 for name, t in c.pooled.items()]
        below = [(c, name, e) for c, name, e in below if e.hi < 0.5]
        if below:
            out.append("- **Below chance on hard test** (upper bound under 50%), whatever the eligibility: "
                       + "; ".join(f"{c.task} × {c.name} `{name}` {e.pct()}" for c, name, e in below)
                       + ". The easy-trained head does not merely fail to transfer there: it answers the hard "
                       "items the wrong way round.")
        return out

    @staticmethod
    def _sentences(c: Cell) -> list[str]:
        g, (ok, why) = c.gaps, c.eligible()
        n = len(c.seeds)
        head = (f"- **{c.task} × {c.name}** ({n} seed{'s' if n > 1 else ''}): on validation hard is "
                f"{'harder' if g['difficulty'].lo > 0 else 'not shown to be harder'} — difficulty gap "
                f"{g['difficulty'].pct(True)} points; the ceiling beats zero-shot on hard val by "
                f"{g['supervision'].pct(True)} points. ")
        tokens = [np.mean([x.setup["length"][p]["tokens"] for x in c.seeds]) for p in ("easy_train", "hard_train")]
        if tokens[1] > LENGTH_FLAG * tokens[0] or tokens[0] > LENGTH_FLAG * tokens[1]:
            head += (f"Length is confounded with difficulty here: hard train items average {tokens[1]:.0f} tokens, "
                     f"easy ones {tokens[0]:.0f} (×{tokens[1] / tokens[0]:.2f}); it cannot be matched by "
                     "subsampling when difficulty is the length of the problem. ")
        if not ok:
            return [head + f"**Not eligible: {why}** — no SGR is reported for this cell."]
        parts = []
        for name, seeds in c.variants.items():
            if seeds:
                t = c.pooled[name]
                e = Estimate.of(*t[("hard_test", "easy_trained")])
                parts.append(f"`{name}` {e.pct()} on hard test, SGR {_sgr(t, c.min_gap).ratio()}")
        return [head + "Eligible: " + "; ".join(parts) + "."]

    @staticmethod
    def _choice_row(c: Cell) -> str:
        def mode(role: str) -> str:
            picks = Counter(f"{s.setup['choices'][role]['features']}, C={s.setup['choices'][role]['C']:g}"
                            for s in c.seeds)
            (best, n), = picks.most_common(1)
            return f"{best} ({n}/{len(c.seeds)})"

        level = [np.mean([s.setup["difficulty"][p] for s in c.seeds]) for p in ("easy_test", "hard_test")]
        shown = (f"population {_people(np.exp(-level[0]))} / {_people(np.exp(-level[1]))} (geometric mean)"
                 if _by_population(c.task) else f"{level[0]:.3g} / {level[1]:.3g}")
        return f"| {c.task} | {c.name} | {mode('easy_reference')} | {mode('ceiling')} | {shown} |"

    @staticmethod
    def _compute(found: list) -> list[str]:
        envs = []
        for _, record in found:
            if record is not None and (record.path / "env.json").exists():
                envs.append(json.loads((record.path / "env.json").read_text()))
        if not envs:
            return ["No environment recorded."]
        kinds = Counter(f"{e.get('cpu', '?')} ({e.get('cpu_capability', '?')}), {e.get('torch_threads', '?')} torch "
                        f"threads, {e.get('compute_dtype', '?')}" for e in envs)
        seconds = [e["run"]["seconds"] for e in envs if isinstance(e.get("run"), dict) and "seconds" in e["run"]]
        timing = (f" Trial wall time (open + variant + scoring, activations and zero-shot answers read from the "
                  "cache where an earlier run — of this campaign, of another, or a warm-up — put them, so extraction "
                  f"is mostly not in it): median {np.median(seconds):.0f} s, total {sum(seconds) / 60:.0f} min "
                  f"over {len(seconds)} trials." if seconds else "")
        return ["Machines (from each record's env.json): " + "; ".join(f"{k}: {n} trials" for k, n in
                                                                       kinds.most_common()) + "." + timing,
                "Timings on a shared 2-core machine are inflated by its other load; they say what this run took, "
                "not what the method costs."]

