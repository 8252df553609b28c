"""``w2s.md``: weak-to-strong cells with validated gaps, and the transfer methods on
them — from the ``w2s`` campaign's trial records (``kind: trial``, ``testbed: w2s``).

A cell is a task and a (weak, strong) pair. First the gap: on validation, seed-mean
ceiling − weak and ceiling − majority with hierarchical intervals (seeds, then groups of
rows); a cell is **eligible** when both lower bounds exceed ``min_gap``. Only then PGR:
the ratio of seed-mean test accuracies with a hierarchical bootstrap whose undefined
replicates are counted. Methods are compared with the naive (``xent``) student on the
same seeds and weak labels, with an interval that resamples tasks, then cells, then seeds.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from alignlab.results._renderer import RENDERERS, CampaignRenderer, Records, missing_note

ORDER = ("xent", "aux_conf", "conf_filter", "bootstrap", "knn_smooth")
VALIDATED = (0.10, 0.05)
"""A cell's gap is "validated" when ceiling − weak on val is ≥ 10 points with a lower bound ≥ 5."""


def _bits(s: str) -> np.ndarray:
    return np.frombuffer(s.encode(), dtype=np.uint8) == ord("1")


def _pct(e, digits: int = 1, sign: bool = False) -> str:
    if e is None or e.value is None or not np.isfinite(e.value):
        return "undefined"
    f = f"{{:{'+' if sign else ''}.{digits}f}}"
    return f"{f.format(100 * e.value)} [{f.format(100 * e.lo)}, {f.format(100 * e.hi)}]"


def _ratio(e, undefined: int, n_boot: int) -> str:
    if e is None or not np.isfinite(e.value):
        return "undefined"
    note = f"; {undefined}/{n_boot} replicates undefined" if undefined else ""
    return f"{e.value:.2f} [{e.lo:.2f}, {e.hi:.2f}]{note}"


def _task(params: dict) -> str:
    """A task's name in a table: a file task by its file's stem."""
    task = params["task"]
    return Path(task.split("?")[0]).stem if "/" in task or "." in task else task


_STUDENT_ONLY = ("mid", "student_features")
"""Params that change only what the student gets (the weak supervisor, ceiling and split
are the same with or without them): part of the method's name, not of the cell's."""


def _cell_key(params: dict) -> str:
    return json.dumps({k: v for k, v in params.items() if k not in _STUDENT_ONLY}, sort_keys=True)


def _method(variant: dict, params: dict) -> str:
    vparams = variant.get("params", {})
    name = vparams.get("method", "xent")
    extra = {k: v for k, v in vparams.items() if k != "method"}
    return name + (f" {json.dumps(extra, sort_keys=True)}" if extra else "") + \
        (f" via {params['mid']}" if params.get("mid") else "") + \
        (" (student: middle block)" if params.get("student_features") == "middle" else "")


class Cell:
    """One task × pair: its trials by method, and by seed."""

    def __init__(self, params: dict):
        self.params = params
        self.trials: dict[str, dict[int, object]] = defaultdict(dict)  # method -> seed -> record
        self.planned: list[str] = []
        """The methods the campaign runs on this cell, in campaign order (missing ones included)."""
        self.missing = 0
        self.reference: str | None = None
        """The method whose trials establish the gap (``xent``; the gap does not depend on it)."""

    @property
    def label(self) -> str:
        from alignlab.protocol.testbeds.w2s import W2STestbedConfig

        p, default = self.params, W2STestbedConfig().model_dump(mode="json")
        knobs = [f"{k}={p[k]}" for k in ("weak_rows", "weak_depths", "n_examples") if p.get(k) != default[k]]
        return f"{p['weak']} → {p['strong']}" + (f" ({', '.join(knobs)})" if knobs else "")

    def seeds(self, method: str = "xent") -> list[int]:
        return sorted(self.trials.get(method, {}))

    def units(self, method: str, part: str) -> tuple[list[dict], list[list[str]]]:
        """Per seed: the roles' per-row correctness on ``part`` (val or test), and the rows' groups."""
        units, groups = [], []
        for seed in self.seeds(method):
            revealed = self.trials[method][seed].result["revealed"]
            units.append({role: _bits(bits) for role, bits in revealed[part].items()})
            groups.append(revealed["groups_val" if part == "val" else "groups"])
        return units, groups


def _gap(cell: Cell, rival: str, n_boot: int):
    from alignlab.generalization import seed_mean_diff
    from alignlab.stats import hierarchical_bootstrap

    units, groups = cell.units(cell.reference, "val")
    return hierarchical_bootstrap(lambda us: seed_mean_diff(us, "ceiling", rival), units, groups, n_boot=n_boot)[0]


def _role(cell: Cell, method: str, role: str, part: str, n_boot: int):
    from alignlab.stats import hierarchical_bootstrap

    units, groups = cell.units(method, part)
    return hierarchical_bootstrap(lambda us: sum(float(u[role].mean()) for u in us) / len(us), units, groups,
                                  n_boot=n_boot)[0]


def _pgr(cell: Cell, method: str, min_gap: float, n_boot: int):
    from alignlab.generalization import seed_mean_pgr
    from alignlab.stats import hierarchical_bootstrap

    units, groups = cell.units(method, "test")
    return hierarchical_bootstrap(lambda us: seed_mean_pgr(us, min_gap), units, groups, n_boot=n_boot)


def _versus_xent(cells: list[Cell], method: str, n_boot: int, seed: int = 0):
    """Student accuracy of ``method`` minus ``xent``'s, averaged over cells, with an interval
    that resamples tasks, then cells within a task, then seeds within a cell (paired:
    the same split and weak labels per seed)."""
    diffs: dict[str, list[list[float]]] = defaultdict(list)  # task -> cells -> per-seed differences
    for cell in cells:
        common = sorted(set(cell.seeds(method)) & set(cell.seeds("xent")))
        if common:
            diffs[_task(cell.params)].append([
                float(_bits(cell.trials[method][s].result["revealed"]["test"]["student"]).mean()
                      - _bits(cell.trials["xent"][s].result["revealed"]["test"]["student"]).mean())
                for s in common])
    if not diffs:
        return None, 0, 0
    from alignlab.stats import Estimate

    tasks = list(diffs)
    point = float(np.mean([np.mean(d) for t in tasks for d in diffs[t]]))
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        values = []
        for t in rng.choice(len(tasks), len(tasks)):
            task_cells = diffs[tasks[t]]
            for c in rng.choice(len(task_cells), len(task_cells)):
                per_seed = task_cells[c]
                values.append(np.mean(np.asarray(per_seed)[rng.choice(len(per_seed), len(per_seed))]))
        boots.append(np.mean(values))
    lo, hi = np.quantile(boots, [0.025, 0.975])
    n_cells = sum(len(v) for v in diffs.values())
    better = sum(np.mean(d) > 0 for v in diffs.values() for d in v)
    return Estimate(point, float(lo), float(hi), n_cells, 0.95, "bootstrap: tasks, cells, seeds"), better, len(tasks)


_PROTOCOL = """\
Protocol (Burns et al. 2023, on frozen activations). Per seed, one trial per method: the task's
groups (a fact's true and false statement; a question's answers) are split into test (25 %),
validation (15 %) and A/B (the rest, halved), so no group straddles two parts. Each role picks its
features — the residual stream after the blocks at 25/50/75/100 % depth, mean- or last-token pooled —
and its L2 strength (C ∈ {0.01, 0.1, 1}) by 3-fold group cross-validation on its own data: the weak
supervisor on A's ground truth, the ceiling on B's ground truth, the student on B's *weak* labels
(agreement with its supervisor, the only thing it can measure). The weak supervisor's soft predictions
on B are the weak labels; the student is a head trained on them by the transfer method. Nothing is
chosen on a validation or test label (a test flips every val and test label and finds every choice and
every file the student sees unchanged). The variant (the transfer method) runs in a sandboxed worker
that sees the student's features, the weak labels and B's groups only; scoring happens outside it.

**The gap is established first, on validation**: seed-mean accuracy of the ceiling minus the weak
supervisor's and minus the majority class's (the majority of A and B's labels), with 95 % intervals
from a hierarchical bootstrap (seeds resampled, then groups of rows within each seed). A cell is
**eligible** when both lower bounds exceed 2 points; its gap is **validated** when ceiling − weak is
≥ 10 points with a lower bound ≥ 5. PGR is reported only for eligible cells: (S̄ − W̄) / (C̄ − W̄) of
seed-mean *test* accuracies, with the same hierarchical bootstrap; replicates in which the ceiling does
not beat the weak supervisor are undefined and counted beside the interval, never dropped."""


@RENDERERS.register("w2s", description="Weak-to-strong cells with validated gaps (per-role CV selection) and "
                                       "the transfer methods on them, PGR with hierarchical intervals.")
class W2SResults(CampaignRenderer):
    name = "w2s"
    doc = "w2s.md"
    n_boot = 1000

    def _cells(self, runs_root: Path) -> tuple[list[Cell], int, int]:
        from alignlab.protocol.testbeds import TESTBEDS

        records = Records("trial", runs_root)
        testbed = TESTBEDS.create("w2s")
        cells: dict[str, Cell] = {}
        total = missing = 0
        for config in self.configs("trial"):
            if config.testbed != "w2s":
                continue
            params = testbed.Config.model_validate(config.params).model_dump(mode="json")
            cell = cells.setdefault(_cell_key(params), Cell(params))
            total += 1
            method = _method(config.variant.model_dump(mode="json"), params)
            if method not in cell.planned:
                cell.planned.append(method)
            record = records.find(config)
            if record is None or "revealed" not in record.result:
                missing += 1
                cell.missing += 1
                continue
            cell.trials[method][config.seed] = record
        for cell in cells.values():
            cell.reference = "xent" if cell.seeds("xent") else next(iter(cell.trials), None)
        return list(cells.values()), total, missing

    def render(self, runs_root: str | Path, out_dir: str | Path) -> Path:
        cells, total, missing = self._cells(Path(runs_root))
        if not any(c.trials for c in cells):
            raise self.no_records(runs_root)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / self.doc
        path.write_text(self._text(cells, total, missing))
        return path

    def _text(self, cells: list[Cell], total: int, missing: int) -> str:
        n = self.n_boot
        lines = ["# Weak-to-strong generalization: cells with validated gaps", "",
                 f"_Generated by `{self.command().removesuffix(' --run')}` from the trial records of "
                 f"`{self.campaign_label()}`; do not edit by hand._", "", _PROTOCOL, "",
                 f"{missing_note(missing, total, 'trials')}", "", "## The gaps, on validation", "",
                 "| task | weak → strong | seeds | val rows/seed | weak | ceiling | majority | ceiling − weak | "
                 "ceiling − majority | eligible | validated |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        eligible, validated = [], []
        for cell in sorted(cells, key=lambda c: (_task(c.params), c.label)):
            ref = cell.reference
            if ref is None:
                lines.append(f"| {_task(cell.params)} | {cell.label} | missing: no record |||||||||")
                continue
            min_gap = cell.params["min_gap"]
            units, _ = cell.units(ref, "val")
            g_weak, g_major = _gap(cell, "weak", n), _gap(cell, "majority", n)
            ok = g_weak.lo > min_gap and g_major.lo > min_gap
            strong = g_weak.value >= VALIDATED[0] and g_weak.lo >= VALIDATED[1]
            eligible += [cell] if ok else []
            validated += [cell] if ok and strong else []
            lines.append(
                f"| {_task(cell.params)} | {cell.label} | {len(units)} | {len(units[0]['weak'])} | "
                f"{_pct(_role(cell, ref, 'weak', 'val', n))} | {_pct(_role(cell, ref, 'ceiling', 'val', n))} | "
                f"{_pct(_role(cell, ref, 'majority', 'val', n))} | {_pct(g_weak, sign=True)} | "
                f"{_pct(g_major, sign=True)} | {'yes' if ok else 'no'} | {'yes' if ok and strong else 'no'} |")
        lines += ["", f"Accuracies in %, seed means with 95 % hierarchical-bootstrap intervals ({n} replicates). "
                      f"**{len(eligible)} of {len(cells)} cells are eligible; {len(validated)} have a validated gap "
                      f"(≥ {100 * VALIDATED[0]:.0f} points, lower bound ≥ {100 * VALIDATED[1]:.0f}) over "
                      f"{len({c.params['task'] for c in validated})} tasks.**", ""]
        cells = [c for c in cells if c.reference]
        lines += self._choices(cells)
        def order(m: str) -> tuple:
            return ORDER.index(m.split()[0]) if m.split()[0] in ORDER else len(ORDER), m

        methods = sorted({m for c in eligible for m in c.planned}, key=order)
        lines += ["## The methods on eligible cells (test)", "",
                  "| task | weak → strong | method | seeds | weak | student | ceiling | PGR |",
                  "|---|---|---|---|---|---|---|---|"]
        for cell in sorted(eligible, key=lambda c: (_task(c.params), c.label)):
            for method in sorted(cell.planned, key=order):
                if not cell.seeds(method):
                    lines.append(f"| {_task(cell.params)} | {cell.label} | {method} | missing: no record |||||")
                    continue
                pgr, undefined = _pgr(cell, method, cell.params["min_gap"], n)
                lines.append(
                    f"| {_task(cell.params)} | {cell.label} | {method} | {len(cell.seeds(method))} | "
                    f"{_pct(_role(cell, method, 'weak', 'test', n))} | {_pct(_role(cell, method, 'student', 'test', n))} | "
                    f"{_pct(_role(cell, method, 'ceiling', 'test', n))} | {_ratio(pgr, undefined, n)} |")
        lines += ["", "## Each method against the naive student", "",
                  "Student test accuracy minus `xent`'s on the same seeds and weak labels, averaged over the "
                  "eligible cells, with a 95 % interval that resamples tasks, then cells, then seeds (cells of "
                  "one task share its data, and a method's cells share its weak labels, so they are not "
                  "independent).", "", "| method | cells | tasks | difference (points) | better than xent in |",
                  "|---|---|---|---|---|"]
        for method in (m for m in methods if m != "xent"):
            e, better, n_tasks = _versus_xent(eligible, method, n)
            if e is not None:
                lines.append(f"| {method} | {e.n} | {n_tasks} | {_pct(e, sign=True)} | {better}/{e.n} cells |")
        lines += ["", "Where an interval spans 0 the method is not distinguishable from the naive student on "
                      "these cells; the pipeline's default transfer method is a choice, not a finding, unless it "
                      "is confirmed on held-out cells.", ""]
        return "\n".join(lines) + "\n"

    def _choices(self, cells: list[Cell]) -> list[str]:
        """What cross-validation picked per role, counted over every trial's record."""
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for cell in cells:
            for seed in cell.seeds(cell.reference):
                for role, choice in cell.trials[cell.reference][seed].result["revealed"]["choices"].items():
                    layer, pooling = choice["features"].split("/")
                    counts[role][f"block {layer[1:]}, {pooling} pooling, C={choice['C']:g}"] += 1
        lines = ["What cross-validation chose (over every cell and seed):", ""]
        for role in ("weak", "ceiling", "student", "mid"):
            if role in counts:
                top = sorted(counts[role].items(), key=lambda kv: -kv[1])[:3]
                lines.append(f"- {role}: " + "; ".join(f"{k} ×{v}" for k, v in top))
        return lines + [""]
