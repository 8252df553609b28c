"""``elicit.md``: supervised and unsupervised truth probes — every model x task of the
``elicit`` campaign (with a transfer task each), and the misleading-prefix runs, from
``runs/elicit-*``.

A *cell* is one experiment run with several split seeds (the campaign's seed axis). A
cell's number is the mean over its seeds, at each seed's reported layer, with a 95%
interval from a hierarchical bootstrap — seeds, then the task's groups within a seed —
over the test predictions the records keep; a single seed shows its own interval (a
cluster bootstrap over groups where items share one). Records written before the
records kept predictions fall back to a t-interval across seeds, and records without
balanced accuracy or AUROC show "—" there, never a crash or a substitute number.

The headline metric of a cell is balanced accuracy where its records say the task is
imbalanced (training majority class above 60%; for a record that predates the rule, its
test majority rate decides), else accuracy; the majority-class rate sits beside it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from alignlab.results._renderer import RENDERERS, CampaignRenderer, Records, missing_note

METHODS = (("logistic", "logistic"), ("mass_mean", "mass-mean"), ("ccs", "CCS"), ("crc", "CRC"),
           ("zeroshot", "zero-shot"))
KEYS = {"accuracy": "test", "balanced": "test_balanced", "auroc": "test_auroc"}
N_BOOT = 1000


# --- one record -------------------------------------------------------------------------

def _pct(e: dict | None) -> str:
    if not e or e.get("value") is None:
        return "—"
    lo, hi = e.get("lo"), e.get("hi")
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{100 * e['value']:.1f}"
    return f"{100 * e['value']:.1f} [{100 * lo:.0f}, {100 * hi:.0f}]"


def _is_balanced(res: dict) -> bool:
    """Whether a record's headline is balanced accuracy (the run's rule where it has one)."""
    from alignlab.interpretability import IMBALANCED_ABOVE

    if "headline" in res:
        return res["headline"] == "balanced_accuracy"
    p = res["positive_rate_test"]
    return max(p, 1 - p) > IMBALANCED_ABOVE


def _majority(res: dict) -> float:
    """Accuracy of always answering the majority class on test (the training majority
    where the record says it, else the test majority, as older records reported)."""
    if "majority" in res:
        return res["majority"]["test"]["value"]
    return max(res["positive_rate_test"], 1 - res["positive_rate_test"])


def _unit(items: dict | None, block: dict, pred_key: str = "test_pred") -> tuple[dict, list] | None:
    """One seed's per-item arrays for the bootstrap, or None where the record kept none."""
    if not items or pred_key not in block:
        return None
    unit = {"y": np.asarray(items["y"]), "pred": np.asarray(block[pred_key])}
    if "test_score" in block:
        unit["score"] = np.asarray(block["test_score"], dtype=float)
    return unit, items["group"]


def _draws(metric: str, unit: dict, W: np.ndarray) -> np.ndarray:
    """(B,) one seed's metric under each row of item weights ``W``."""
    from alignlab.interpretability import accuracy_draws, auroc_draws, balanced_accuracy_draws

    if metric == "auroc":
        return auroc_draws(unit["y"], unit["score"], W) if "score" in unit else np.full(len(W), np.nan)
    return (balanced_accuracy_draws if metric == "balanced" else accuracy_draws)(unit["y"], unit["pred"], W)


def _seeds_and_groups(units: list[tuple[dict, list]], metric: str, n_boot: int = N_BOOT, seed: int = 0) \
        -> tuple[float, float]:
    """95% percentile interval of the seed-mean of ``metric`` from a two-level bootstrap:
    draw the seeds with replacement, then, independently for every drawn seed, its
    groups with replacement (as ``alignlab.stats.hierarchical_bootstrap``, vectorised:
    slot s of replicate b is its own within-seed resample)."""
    from alignlab.interpretability import resample_weights

    n_seeds = len(units)
    picked = np.random.default_rng(seed).integers(0, n_seeds, size=(n_boot, n_seeds))  # (B, S) seed per slot
    values = np.empty((n_boot, n_seeds))
    for u, (unit, groups) in enumerate(units):
        W, _ = resample_weights(groups, len(unit["y"]), n_boot * n_seeds, seed + 1 + u)  # (B·S, n)
        mine = picked == u
        values[mine] = _draws(metric, unit, W).reshape(n_boot, n_seeds)[mine]
    boots = values.mean(1)
    boots = boots[np.isfinite(boots)]
    return tuple(float(q) for q in np.quantile(boots, [0.025, 0.975])) if boots.size else (np.nan, np.nan)


# --- seeds pooled -----------------------------------------------------------------------

def _pool(entries: list[tuple[dict | None, tuple | None]], metric: str) -> dict | None:
    """The seed-mean of per-seed estimates, with an interval that respects seeds and
    groups (hierarchical bootstrap) where every seed kept its items; one seed: its own
    interval; else a t-interval across seeds. None where no seed has the number."""
    from alignlab.stats import mean_ci

    have = [(e, u) for e, u in entries if e and e.get("value") is not None]
    if not have:
        return None
    value = float(np.mean([e["value"] for e, _ in have]))
    if len(have) == 1:
        return {**have[0][0], "seeds": 1}
    if all(u is not None for _, u in have):
        lo, hi = _seeds_and_groups([u for _, u in have], metric)
        return {"value": value, "lo": lo, "hi": hi, "n": len(have), "seeds": len(have),
                "method": "hierarchical bootstrap (seeds, groups)"}
    est = mean_ci([e["value"] for e, _ in have])  # a proportion's interval: clipped to [0, 1]
    return {"value": value, "lo": max(est.lo, 0.0), "hi": min(est.hi, 1.0), "n": len(have), "seeds": len(have),
            "method": "t-interval across seeds"}


def _method_entry(res: dict, method: str, metric: str, where: str = "best") -> tuple[dict | None, tuple | None]:
    block = res["methods"].get(method, {}).get(where) or {}
    return block.get(KEYS[metric]), _unit(res.get("test_items"), block)


class Cell:
    """One campaign experiment over its seeds: its config (the first seed's) and the
    records found (None for a seed without one)."""

    def __init__(self, config, records: list):
        self.config, self.records = config, records
        self.done = [r.result for r in records if r is not None]
        self._pooled: dict[tuple, dict | None] = {}

    @property
    def balanced(self) -> bool:
        return any(_is_balanced(r) for r in self.done)

    @property
    def headline(self) -> str:
        return "balanced" if self.balanced else "accuracy"

    def pooled(self, method: str, metric: str | None = None, where: str = "best") -> dict | None:
        metric = metric or self.headline
        key = (method, metric, where)
        if key not in self._pooled:  # the tables ask for the same numbers more than once
            self._pooled[key] = _pool([_method_entry(r, method, metric, where) for r in self.done], metric)
        return self._pooled[key]

    def best_sign(self, method: str) -> float | None:
        """Seed-mean of max(acc, 1 − acc) on test at the reported layer."""
        vals = [(r["methods"].get(method, {}).get("best") or {}).get("test_best_sign") for r in self.done]
        vals = [v for v in vals if v is not None]
        return float(np.mean(vals)) if vals else None

    def layers(self, method: str, where: str = "best") -> str:
        got = [(r["methods"].get(method, {}).get(where) or {}).get("layer") for r in self.done]
        return ",".join("?" if g is None else str(g) for g in got)

    def seeds(self) -> str:
        return f"{len(self.done)}" if len(self.done) == len(self.records) else f"{len(self.done)}/{len(self.records)}"

    def n_test(self) -> str:
        return "/".join(dict.fromkeys(str(r["n_test"]) for r in self.done))

    def majority(self) -> float:
        return float(np.mean([_majority(r) for r in self.done]))


def _cells(found: list) -> list[Cell]:
    """Configs that differ only in ``seed`` are one cell, in campaign order."""
    by: dict[str, list] = {}
    for config, rec in found:
        key = json.dumps({k: v for k, v in config.model_dump(mode="json").items() if k != "seed"}, sort_keys=True)
        by.setdefault(key, []).append((config, rec))
    return [Cell(group[0][0], [rec for _, rec in group]) for group in by.values()]


def _headline_name(cell: Cell) -> str:
    return "balanced acc." if cell.balanced else "accuracy"


# --- tables -----------------------------------------------------------------------------

def _main_table(cells: list[Cell]) -> list[str]:
    lines = ["| model | task | seeds | n test | majority class | headline | logistic | mass-mean | CCS (k-label sign) "
             "| CCS max(acc,1−acc) | CRC (k-label sign) | CRC max(acc,1−acc) | zero-shot |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for cell in cells:
        c = cell.config
        if not cell.done:
            lines.append(f"| {c.model} | {c.task} | missing: not run in the time budget |||||||||| |")
            continue
        cells_ = []
        for m in ("logistic", "mass_mean", "ccs", "crc"):
            e = cell.pooled(m)
            cells_.append(f"{_pct(e)} @L{cell.layers(m)}" if e else "—")
            if m in ("ccs", "crc"):
                b = cell.best_sign(m)
                cells_.append("—" if b is None else f"{100 * b:.1f}")
        zs_there = any("test" in r["methods"].get("zeroshot", {}) for r in cell.done)
        cells_.append(_pct(cell.pooled("zeroshot")) if zs_there else "n/a (encoder)")
        lines.append(f"| {c.model} | {c.task} | {cell.seeds()} | {cell.n_test()} | {100 * cell.majority():.1f} | "
                     f"{_headline_name(cell)} | " + " | ".join(cells_) + " |")
    return lines


def _detail_table(cells: list[Cell]) -> list[str]:
    """Every method beside every metric: accuracy, balanced accuracy, AUROC."""
    lines = ["| model | task | method | layer chosen by | layer per seed | accuracy | balanced accuracy | AUROC "
             "| majority class |", "|---|---|---|---|---|---|---|---|---|"]
    for cell in cells:
        if not cell.done:
            continue
        c, maj = cell.config, f"{100 * cell.majority():.1f}"
        for m, label in METHODS:
            if not any("test" in (r["methods"].get(m, {}).get("best") or {}) for r in cell.done):
                continue
            rules = {r["methods"][m].get("selection", "validation accuracy (older record)") for r in cell.done
                     if m in r["methods"]}
            rule = "—" if m == "zeroshot" else "; ".join(sorted(rules))
            row = [_pct(cell.pooled(m, k)) for k in ("accuracy", "balanced", "auroc")]
            layers = "—" if m == "zeroshot" else cell.layers(m)
            lines.append(f"| {c.model} | {c.task} | {label} | {rule} | {layers} | " + " | ".join(row) + f" | {maj} |")
            if any("oracle" in r["methods"].get(m, {}) for r in cell.done):
                row = [_pct(cell.pooled(m, k, "oracle")) for k in ("accuracy", "balanced", "auroc")]
                lines.append(f"| {c.model} | {c.task} | {label}: oracle (upper bound) | validation labels | "
                             f"{cell.layers(m, 'oracle')} | " + " | ".join(row) + f" | {maj} |")
    return lines


def _summary(cells: list[Cell]) -> list[str]:
    """Each method's cell values (seed means) across cells: mean with a t-interval, median."""
    from alignlab.stats import mean_ci

    def row(label: str, vals: list[float], aucs: list[float] | None = None) -> str:
        e = mean_ci(vals)
        auc = "—" if not aucs else f"{100 * np.mean(aucs):.1f} ({len(aucs)} cells)"
        ci = "(one cell)" if len(vals) == 1 else f"[{100 * e.lo:.1f}, {100 * e.hi:.1f}]"
        return (f"| {label} | {len(vals)} | {100 * e.value:.1f} {ci} | {100 * float(np.median(vals)):.1f} | "
                f"{sum(v > 0.6 for v in vals)} | {auc} |")

    lines = ["| method | cells | mean headline (95% t-interval across cells) | median | cells above 60% "
             "| mean AUROC |", "|---|---|---|---|---|---|"]
    done = [c for c in cells if c.done]
    for m, label in METHODS:
        label = f"{label} (k-label sign)" if m in ("ccs", "crc") else label
        vals = [e["value"] for e in (c.pooled(m) for c in done) if e]
        aucs = [e["value"] for e in (c.pooled(m, "auroc") for c in done) if e]
        if vals:
            lines.append(row(label, vals, aucs))
    for m, label in (("ccs", "CCS"), ("crc", "CRC")):
        vals = [e["value"] for e in (c.pooled(m, where="oracle") for c in done) if e]
        if vals:
            lines.append(row(f"{label} at the validation-chosen layer (oracle: upper bound)", vals))
        vals = [v for v in (c.best_sign(m) for c in done) if v is not None]
        if vals:
            lines.append(row(f"{label} max(acc,1−acc), accuracy (upper bound: sign from test)", vals))
    # Template leakage (an elk bug report): block 0 has seen only token embeddings and
    # little context, so a probe that reads truth there is reading the prompt, not a belief.
    vals = []
    for c in done:
        at0 = [r["methods"]["logistic"]["test"][0]["value"] for r in c.done
               if r["methods"].get("logistic", {}).get("layers", [None])[0] == 0
               and r["methods"]["logistic"]["test"][0] is not None]
        if at0:
            vals.append(float(np.mean(at0)))
    if vals:
        lines.append(row("logistic at block 0, accuracy (leakage check, not layer-selected)", vals))
    return lines


def loo_summary(diffs: dict[str, float]) -> dict:
    """Per-cell differences summarised so one cell cannot carry the claim: mean with a
    t-interval across cells, median, wins and losses, and leave-one-out — the mean and
    the median with each cell dropped in turn, whether their sign survives every drop,
    and the cell whose drop moves the mean most."""
    from alignlab.stats import mean_ci

    names, d = list(diffs), np.asarray(list(diffs.values()), dtype=float)
    e = mean_ci(d)
    out = {"n": len(d), "mean": e.value, "lo": e.lo, "hi": e.hi, "median": float(np.median(d)),
           "wins": int((d > 0).sum()), "losses": int((d < 0).sum())}
    if len(d) >= 2:
        means = np.array([np.delete(d, i).mean() for i in range(len(d))])
        medians = np.array([np.median(np.delete(d, i)) for i in range(len(d))])
        top = int(np.argmax(np.abs(means - e.value)))
        out |= {"loo_mean": (float(means.min()), float(means.max())),
                "loo_median": (float(medians.min()), float(medians.max())),
                "mean_sign_holds": bool(np.all(np.sign(means) == np.sign(e.value))),
                "median_sign_holds": bool(np.all(np.sign(medians) == np.sign(out["median"]))),
                "most_influential": names[top], "mean_without_it": float(means[top])}
    return out


def _loo_text(label: str, s: dict) -> str:
    ci = "one cell: no interval" if s["n"] < 2 else f"95% t-interval across cells [{100 * s['lo']:+.1f}, " \
                                                    f"{100 * s['hi']:+.1f}]"
    text = (f"{label}: over {s['n']} cells, median {100 * s['median']:+.1f} points, mean {100 * s['mean']:+.1f} "
            f"({ci}); CCS ahead in {s['wins']}, behind in {s['losses']}.")
    if s["n"] >= 2:
        lm, lmed = s["loo_mean"], s["loo_median"]
        text += (f" Leave one cell out: the mean ranges {100 * lm[0]:+.1f} to {100 * lm[1]:+.1f} "
                 f"(its sign {'holds' if s['mean_sign_holds'] else '**does not hold**'} in every drop), the median "
                 f"{100 * lmed[0]:+.1f} to {100 * lmed[1]:+.1f} (sign "
                 f"{'holds' if s['median_sign_holds'] else '**does not hold**'}); dropping {s['most_influential']} "
                 f"moves the mean most, to {100 * s['mean_without_it']:+.1f}.")
    return text


def _ccs_vs_zeroshot(cells: list[Cell]) -> tuple[list[str], str]:
    """CCS minus zero-shot per cell (seed means), summarised by ``loo_summary``: on the
    headline metric, on accuracy, and with CCS's max(acc, 1−acc) upper bound."""
    rows, head, acc, upper = [], {}, {}, {}
    for cell in cells:
        if not any("test" in r["methods"].get("zeroshot", {}) for r in cell.done):
            continue
        c_acc, z_acc = cell.pooled("ccs", "accuracy"), cell.pooled("zeroshot", "accuracy")
        if not c_acc or not z_acc:
            continue
        name = f"{cell.config.model}/{cell.config.task}"
        c_h, z_h, b = cell.pooled("ccs"), cell.pooled("zeroshot"), cell.best_sign("ccs")
        acc[name] = c_acc["value"] - z_acc["value"]
        if c_h and z_h:
            head[name] = c_h["value"] - z_h["value"]
        if b is not None:
            upper[name] = b - z_acc["value"]
        cal = [r["methods"]["zeroshot"]["test_calibrated"]["value"] for r in cell.done
               if "test_calibrated" in r["methods"].get("zeroshot", {})]

        def pct(e):
            return "—" if e is None else f"{100 * e:.1f}"

        rows.append(f"| {cell.config.model} | {cell.config.task} | {cell.seeds()} | {100 * cell.majority():.1f} | "
                    f"{_headline_name(cell)} | {pct(c_h and c_h['value'])} | {pct(z_h and z_h['value'])} | "
                    f"{'—' if name not in head else f'{100 * head[name]:+.1f}'} | {pct(c_acc['value'])} | "
                    f"{pct(b)} | {pct(z_acc['value'])} | {pct(float(np.mean(cal)) if cal else None)} |")
    if not acc:
        return [], "No cell had both CCS and zero-shot."
    lines = ["| model | task | seeds | majority class | headline | CCS (k-label sign), headline | zero-shot, headline "
             "| CCS − zero-shot (headline, points) | CCS accuracy | CCS max(acc,1−acc) | zero-shot accuracy "
             "| zero-shot calibrated accuracy |", "|---|---|---|---|---|---|---|---|---|---|---|---|", *rows]
    parts = [_loo_text("CCS (sign from a few training labels) minus zero-shot on the headline metric", loo_summary(head))
             if head else "No cell has the headline metric for both CCS and zero-shot (older records).",
             _loo_text("The same on plain accuracy", loo_summary(acc))]
    if upper:
        parts.append(_loo_text("CCS's max(acc, 1−acc) — an upper bound that takes the better sign on test — minus "
                               "zero-shot accuracy", loo_summary(upper)))
    return lines, " ".join(parts)


def _prefix_table(cells: list[Cell], prefixed: list[Cell]) -> list[str]:
    """Each misleading-prefix cell beside the plain cell of the same model and task."""
    plain = {(c.config.model, c.config.task): c for c in cells}
    lines = ["| model | task | method | headline | plain prompt | misleading prefix | change (points) |",
             "|---|---|---|---|---|---|---|"]
    for misled in prefixed:
        c = misled.config
        base = plain.get((c.model, c.task))
        if base is None or not base.done or not misled.done:
            lines.append(f"| {c.model} | {c.task} | missing: not run in the time budget | | | | |")
            continue
        metric = "balanced" if base.balanced or misled.balanced else "accuracy"
        for m in ("zeroshot", "ccs", "crc", "logistic"):
            a, b = base.pooled(m, metric), misled.pooled(m, metric)
            if a and b:
                lines.append(f"| {c.model} | {c.task} | {m} | {metric.replace('balanced', 'balanced acc.')} | "
                             f"{_pct(a)} | {_pct(b)} | {100 * (b['value'] - a['value']):+.1f} |")
    return lines


def _transfer_table(cells: list[Cell], target_norm: bool) -> list[str]:
    lines = ["| model | train → test | seeds | n test | logistic | mass-mean | CCS (k-label sign) | CRC (k-label sign) "
             "| in-domain logistic on the test task | zero-shot on the test task |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    key = "test_target_norm" if target_norm else "test"
    by = {(c.config.model, c.config.task): c for c in cells}
    for cell in cells:
        done = [r for r in cell.done if "transfer" in r]
        if not done:
            continue
        c = cell.config

        def pooled(m: str, k: str) -> dict | None:
            entries = []
            for r in done:
                block = r["transfer"]["methods"].get(m, {})
                entries.append((block.get(k), _unit(r["transfer"].get("test_items"), block, f"{k}_pred")))
            return _pool(entries, "accuracy")

        row = [_pct(pooled(m, key)) for m in ("logistic", "mass_mean", "ccs", "crc")]
        home = by.get((c.model, c.transfer))
        row.append(_pct(home.pooled("logistic", "accuracy")) if home and home.done else "—")
        zs_there = any("zeroshot" in r["transfer"]["methods"] for r in done)
        row.append(_pct(pooled("zeroshot", "test")) if zs_there else "n/a")
        n_test = "/".join(dict.fromkeys(str(r["transfer"]["n_test"]) for r in done))
        lines.append(f"| {c.model} | {c.task} → {c.transfer} | {len(done)} | {n_test} | " + " | ".join(row) + " |")
    return lines


def _speed(bench: Path) -> list[str]:
    """The latest bench/probes.py record, if any."""
    import json

    records = sorted(bench.glob("probes-*.json"))
    if not records:
        return ["No `bench/probes.py` record yet."]
    r = json.loads(records[-1].read_text())
    c = r["ccs_ratio"]
    fits = ", ".join(f"{k} {v:.1f} s" for k, v in r["fit_all_layers_s"].items())
    return [f"`bench/probes.py` ({records[-1].name}): {r['model']}, {r['n_pairs']} {r['task']} contrast pairs, "
            f"all {r['n_layers']} blocks from cached activations, one torch thread: {fits} "
            f"(total {r['fit_all_layers_total_s']:.0f} s). CCS with {r['ccs']['n_restarts']} restarts × "
            f"{r['ccs']['n_epochs']} steps on blocks {c['layers']}: vectorised {c['vectorised_s']:.1f} s vs a "
            f"one-restart-at-a-time PyTorch loop {c['reference_loop_s']:.1f} s in the same run — "
            f"{c['speedup']:.2f}× (target ≥ {c['target']:.0f}×)."]


@RENDERERS.register("elicit", description="Truth probes (supervised, CCS, CRC, zero-shot) per model and task; "
                                          "transfer; a misleading prefix.")
class ElicitResults(CampaignRenderer):
    name = "elicit"
    doc = "elicit.md"

    def __init__(self, campaign: str | None = None, bench: str = "bench/results"):
        """``bench``: the folder of benchmark records the speed section quotes."""
        super().__init__(campaign)
        self.bench = bench

    def render(self, runs_root: str | Path, out_dir: str | Path) -> Path:
        configs = self.configs("elicit")
        records = Records("elicit", runs_root)
        found = [(c, records.find(c)) for c in configs]
        if not any(rec is not None for _, rec in found):
            raise self.no_records(runs_root)
        # Main cells on the plain prompt, model-major; the misleading-prefix cells apart.
        models = list(dict.fromkeys(c.model for c in configs))
        tasks = list(dict.fromkeys(c.task for c in configs))
        order = lambda cell: (models.index(cell.config.model), tasks.index(cell.config.task))  # noqa: E731
        cells = _cells(found)
        plain = sorted((c for c in cells if c.config.prefix == "none"), key=order)
        prefixed = sorted((c for c in cells if c.config.prefix != "none"), key=order)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for cell in plain:  # the first seed's plot stands for the cell
            rec = next((r for r in cell.records if r is not None and (r.path / "accuracy_by_layer.png").exists()), None)
            if rec is not None:
                c = rec.config
                shutil.copy(rec.path / "accuracy_by_layer.png", out_dir / f"elicit_{c['model']}_{c['task']}.png")
        path = out_dir / self.doc
        path.write_text("\n".join(self._text(plain, prefixed, missing=sum(r is None for _, r in found),
                                             total=len(found))))
        return path

    def _text(self, cells: list[Cell], prefixed: list[Cell], missing: int, total: int) -> list[str]:
        from alignlab.report import dtype_note

        done = [r for c in cells for r in c.records if r is not None]
        main_models = list(dict.fromkeys(c.config.model for c in cells))
        main_tasks = list(dict.fromkeys(c.config.task for c in cells))
        n_items = sorted({c.config.n_items for c in cells + prefixed})
        seeds = sorted({len(c.records) for c in cells + prefixed})
        sign_labels = sorted({c.config.sign_labels for c in cells + prefixed})
        zs_lines, zs_summary = _ccs_vs_zeroshot(cells)
        failures = sum(len(m.get("failures", [])) for r in done for m in r.result["methods"].values())
        gone = [f"{c.config.model}/{c.config.task}" for c in cells if not c.done]
        k = "/".join(map(str, sign_labels))
        text = [
            "# Eliciting latent knowledge: supervised and unsupervised truth probes",
            "",
            f"*Generated by `alignlab results render {self.name}` from `runs/elicit-*` records; do not edit by hand.*",
            "",
            "## Setup",
            "",
            f"- Models: {', '.join(main_models)} (minilm-l6 is an encoder: no LM head, so no zero-shot). "
            f"Tasks: {', '.join(main_tasks)}. {sum(1 for c in cells if c.done)}/{len(cells)} model × task cells have "
            "at least one finished seed" + (f"; missing: {', '.join(gone)}." if gone else "."),
            f"- {missing_note(missing, total)}",
            "- Contrast pairs are built by each task's own template: the rendered prompt followed by each of "
            "the template's two completions (capitals: `The capital of X is Y.` + ` False`/` True`; fever and "
            "politifact: the claim + ` false`/` true`; the others: a question + ` No`/` Yes`). Activations: the last "
            "token (the completion), every 2nd block and the last.",
            dtype_note(r.path for r in done) + " The same experiments in fp32 on an AVX2-only CPU: "
            "[dtype.md](dtype.md).",
            f"- {' / '.join(map(str, n_items))} items per task, {' / '.join(map(str, seeds))} split seed(s) per cell "
            "(each seed draws its own items, whole groups kept together, and its own 60/20/20 train/validation/test "
            "split by group). Each side of a pair is centred and scaled with statistics from the training rows "
            "only, applied unchanged to validation, test and transfer rows.",
            "- Methods: logistic regression (C=0.1) and mass-mean (difference of class means) on the pair "
            "difference x̃⁺−x̃⁻ — supervised; CCS (10 restarts, 1000 AdamW steps, lr 1e-2, lowest loss kept) "
            f"and CRC (top principal direction of x̃⁺−x̃⁻) — unsupervised, sign set by {k} labelled training items "
            "(labels never enter the loss or the layer choice); zero-shot compares log p(choice 1) with "
            "log p(choice 0).",
            "- **Headline metric**: balanced accuracy (the mean of the two classes' recalls; any constant answer "
            "scores 0.5) where the training split's majority class exceeds 60% — TruthfulQA's is about 76% — else "
            "accuracy. Accuracy, balanced accuracy and AUROC (from the probe's scores) are all reported, with the "
            "majority-class rate (always answering the training majority, on test) beside them.",
            "- **Layer choice, never on test.** Supervised probes: the layer with the best validation headline "
            "metric. Unsupervised probes, without any label: CCS at the layer of lowest CCS loss (consistency + "
            "confidence) on the training pairs, CRC at the layer where its direction explains the largest share "
            "of the training differences' variance. The layer validation labels would have picked for them is "
            "shown apart as an *oracle* — an upper bound on label-free selection, not a result.",
            "- A cell's number is the mean over its seeds at each seed's chosen layer (@L lists them); its 95% "
            "interval is a hierarchical bootstrap over seeds and, within a seed, over the task's groups (capitals: "
            "a country's true and false statement; TruthfulQA: one question's answers). A cell with one seed shows "
            "that run's own interval (Wilson, or a cluster bootstrap over groups). \"—\": the record predates the "
            "number (older records carry accuracy only).",
            "- \"max(acc, 1−acc)\" is Burns et al.'s label-free number: the better of the two signs *on test*, "
            "an upper bound, not an achievable accuracy.",
            f"- Failed probe fits (counted, recorded per layer in result.json): {failures}.",
            "",
            "## Summary across cells",
            "",
            "Each cell counts once (its seed mean); the interval is across cells.",
            "",
            *_summary(cells),
            "",
            "## Headline metric per method at its chosen layer (test %, 95% CI, @L = block per seed)",
            "",
            *_main_table(cells),
            "",
            "## Accuracy, balanced accuracy and AUROC per method",
            "",
            *_detail_table(cells),
            "",
            "## Does CCS beat zero-shot?",
            "",
            zs_summary,
            "",
            *zs_lines,
            "",
            "## Misleading prefix",
            "",
            "Each prompt is preceded by 4 training examples answered wrongly (Burns et al.'s misleading-prefix "
            "experiment). The prefix is part of the template, so probes are re-fitted on the prefixed prompts.",
            "",
            *_prefix_table(cells, prefixed),
            "",
            "## Transfer: probe trained on one task, tested on another (accuracy)",
            "",
            "The probe is fitted on the source task at the layer its rule chose there and applied to the target "
            "task's test split. First with its weights *and* its normaliser unchanged (strict): when the two "
            "templates end in different completions (` True`/` False` vs ` true`/` false` vs ` Yes`/` No`) the "
            "source's per-side centring leaves a constant offset, and most probes then predict one class (50%).",
            "",
            *_transfer_table(cells, target_norm=False),
            "",
            "Second, the same weights and sign, with the per-side centring and scale re-fitted on the target's "
            "*training* rows (no labels used): does the direction itself transfer?",
            "",
            *_transfer_table(cells, target_norm=True),
            "",
            "## Accuracy against layer (first seed of each cell)",
            "",
        ]
        for cell in cells:
            if cell.done:
                c = cell.config
                text.append(f"![{c.model} {c.task}](elicit_{c.model}_{c.task}.png)")
        n = n_items[0] if len(n_items) == 1 else "a few hundred"
        text += ["", "## Speed", "", *_speed(Path(self.bench)), "", "## Caveats", "",
                 f"- {n} items per task leave about 80 test items per seed: one seed's 95% interval is about ±10 "
                 "points (wider for grouped tasks), so most differences between methods on one task are not "
                 "significant; the across-cell summary and the median / leave-one-out lines are the better guide.",
                 "- A few seeds make a seed-level bootstrap coarse: with 3 seeds it can only redraw 3 values.",
                 "- minilm-l6 is an encoder: its \"last token\" is the closing [SEP], which sees the whole text "
                 "in both directions; it has no zero-shot answer.",
                 "- The small causal models mostly answer one way whatever the item (zero-shot ≈ the rate of "
                 "that answer); the calibrated column subtracts the median training log-odds (no labels).",
                 "- CCS here: 10 restarts of a linear probe on d = 384–640 dimensions with 240 training pairs, "
                 "no dimensionality reduction; Burns et al. used larger models and datasets. With d ≥ n its "
                 "training loss can be low at many layers, which blunts it as a layer criterion: compare the "
                 "oracle rows.",
                 ]
        text += ["", "## Reproduce", "", "```", f"{self.command()} --threads 1", "```",
                 "", f"The runs are the campaign `{self.campaign_label()}`. Single run: "
                 "`alignlab elicit --model gemma3-270m --task capitals --methods logistic,ccs,crc,zeroshot "
                 "--transfer fever --seed 0`.", ""]
        return text
