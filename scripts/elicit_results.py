"""Generate docs/results/elicit.md and its figures from elicit run records.

    python scripts/elicit_results.py --run      # first run every configuration below that
                                                # has no finished record yet (tens of minutes)
    python scripts/elicit_results.py            # render from runs/elicit-* on disk only

Every number in the document is read from ``runs/elicit-*/result.json``; a
configuration whose record is missing is listed as missing, never filled in.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from alignlab.interpretability import ElicitConfig, run_elicit
from alignlab.report import dtype_note
from alignlab.store import find_run

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "results"
MODELS = ["gemma3-270m", "smollm2-135m", "minilm-l6"]
TASKS = ["capitals", "fever", "strategyqa", "sarcasm", "truthfulqa"]
# each main run also tests its probes on one other task (the transfer table)
TRANSFER = {"capitals": "fever", "fever": "capitals", "strategyqa": "fever", "sarcasm": "capitals",
            "truthfulqa": "capitals"}
PREFIX_MODELS, PREFIX_TASKS = ["gemma3-270m", "smollm2-135m"], ["capitals", "fever"]
METHODS = ["logistic", "mass_mean", "ccs", "crc", "zeroshot"]
# Budget on a shared 2-core CPU: 400 items per task, every 2nd block (and the last).
BASE = dict(n_items=400, layer_stride=2, seed=0)


def configs() -> list[tuple[str, ElicitConfig]]:
    out = []
    for model in MODELS:
        for task in TASKS:
            out.append(("main", ElicitConfig(model=model, task=task, transfer=TRANSFER[task], **BASE)))
    for model in PREFIX_MODELS:
        for task in PREFIX_TASKS:
            out.append(("prefix", ElicitConfig(model=model, task=task, prefix="misleading", **BASE)))
    return out


def record_of(config: ElicitConfig, runs: Path):
    return find_run("elicit", config.model_dump(mode="json"), runs)


def _pct(e: dict | None) -> str:
    return "—" if not e else f"{100 * e['value']:.1f} [{100 * e['lo']:.0f}, {100 * e['hi']:.0f}]"


def _best(res: dict, method: str) -> dict | None:
    rec = res["methods"].get(method, {})
    return (rec.get("best") or {}).get("test")


def main_table(rows) -> list[str]:
    lines = ["| model | task | n test | majority class | logistic | mass-mean | CCS (8-label sign) | CCS max(acc,1−acc) "
             "| CRC (8-label sign) | CRC max(acc,1−acc) | zero-shot |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for config, rec in rows:
        if rec is None:
            lines.append(f"| {config.model} | {config.task} | missing: not run in the time budget ||||||||| |")
            continue
        r = rec.result
        cells = []
        for m in ("logistic", "mass_mean", "ccs"):
            e = _best(r, m)
            cells.append(f"{_pct(e)} @L{r['methods'][m]['best_layer']}" if e else "—")
            if m == "ccs":
                cells.append(f"{100 * r['methods'][m]['best']['test_best_sign']:.1f}" if e else "—")
        e = _best(r, "crc")
        cells += [f"{_pct(e)} @L{r['methods']['crc']['best_layer']}" if e else "—",
                  f"{100 * r['methods']['crc']['best']['test_best_sign']:.1f}" if e else "—"]
        zs = r["methods"].get("zeroshot", {})
        cells.append(_pct(zs.get("test")) if "test" in zs else "n/a (encoder)")
        majority = max(r["positive_rate_test"], 1 - r["positive_rate_test"])
        lines.append(f"| {config.model} | {config.task} | {r['n_test']} | {100 * majority:.1f} | "
                     + " | ".join(cells) + " |")
    return lines


def ccs_vs_zeroshot(rows) -> tuple[list[str], str]:
    diffs = []
    for config, rec in rows:
        if rec is None or "test" not in rec.result["methods"].get("zeroshot", {}):
            continue
        r = rec.result
        diffs.append((config.model, config.task, r["methods"]["ccs"]["best"]["test"]["value"],
                      r["methods"]["ccs"]["best"]["test_best_sign"], r["methods"]["zeroshot"]["test"]["value"],
                      r["methods"]["zeroshot"]["test_calibrated"]["value"]))
    if not diffs:
        return [], "no run had both CCS and zero-shot"
    import numpy as np

    from alignlab.stats import mean_ci

    d_sign = mean_ci([c - z for _, _, c, _, z, _ in diffs])
    d_best = mean_ci([b - z for _, _, _, b, z, _ in diffs])
    wins = sum(c > z for _, _, c, _, z, _ in diffs)
    lines = ["| model | task | CCS (8-label sign) | CCS max(acc,1−acc) | zero-shot | zero-shot calibrated |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {m} | {t} | {100 * c:.1f} | {100 * b:.1f} | {100 * z:.1f} | {100 * zc:.1f} |"
              for m, t, c, b, z, zc in diffs]
    summary = (f"Over {len(diffs)} model × task runs with a zero-shot answer, CCS (sign from 8 labels) minus "
               f"zero-shot = {100 * d_sign.value:+.1f} points (95% t-interval across runs "
               f"[{100 * d_sign.lo:+.1f}, {100 * d_sign.hi:+.1f}]); CCS wins {wins}/{len(diffs)}. With the "
               f"label-free max(acc, 1−acc) (an upper bound: it takes the better sign on test): "
               f"{100 * d_best.value:+.1f} [{100 * d_best.lo:+.1f}, {100 * d_best.hi:+.1f}]. "
               f"Mean zero-shot accuracy {100 * np.mean([z for *_, z, _ in diffs]):.1f}%.")
    return lines, summary


def summary(rows) -> list[str]:
    """Mean test accuracy of each method across the finished runs (t-interval across runs)."""
    from alignlab.stats import mean_ci

    lines = ["| method | runs | mean test accuracy (95% t-interval across runs) | runs above 60% |",
             "|---|---|---|---|"]
    for m, label in (("logistic", "logistic"), ("mass_mean", "mass-mean"), ("ccs", "CCS (8-label sign)"),
                     ("crc", "CRC (8-label sign)"), ("zeroshot", "zero-shot")):
        vals = [_best(rec.result, m)["value"] for _, rec in rows if rec is not None and _best(rec.result, m)]
        if vals:
            e = mean_ci(vals)
            lines.append(f"| {label} | {len(vals)} | {100 * e.value:.1f} [{100 * e.lo:.1f}, {100 * e.hi:.1f}] | "
                         f"{sum(v > 0.6 for v in vals)} |")
    for m, label in (("ccs", "CCS max(acc,1−acc) (upper bound)"), ("crc", "CRC max(acc,1−acc) (upper bound)")):
        vals = [rec.result["methods"][m]["best"]["test_best_sign"] for _, rec in rows
                if rec is not None and _best(rec.result, m)]
        if vals:
            e = mean_ci(vals)
            lines.append(f"| {label} | {len(vals)} | {100 * e.value:.1f} [{100 * e.lo:.1f}, {100 * e.hi:.1f}] | "
                         f"{sum(v > 0.6 for v in vals)} |")
    # Template leakage (an elk bug report): block 0 has seen only token embeddings and
    # little context, so a probe that reads truth there is reading the prompt, not a belief.
    vals = [rec.result["methods"]["logistic"]["test"][0]["value"] for _, rec in rows
            if rec is not None and rec.result["methods"].get("logistic", {}).get("layers", [None])[0] == 0
            and rec.result["methods"]["logistic"]["test"][0] is not None]
    if vals:
        e = mean_ci(vals)
        lines.append(f"| logistic at block 0 (leakage check, not layer-selected) | {len(vals)} | "
                     f"{100 * e.value:.1f} [{100 * e.lo:.1f}, {100 * e.hi:.1f}] | {sum(v > 0.6 for v in vals)} |")
    return lines


def prefix_table(runs: Path) -> list[str]:
    lines = ["| model | task | method | plain prompt | misleading prefix | change (points) |",
             "|---|---|---|---|---|---|"]
    for model in PREFIX_MODELS:
        for task in PREFIX_TASKS:
            plain = record_of(ElicitConfig(model=model, task=task, transfer=TRANSFER[task], **BASE), runs)
            misled = record_of(ElicitConfig(model=model, task=task, prefix="misleading", **BASE), runs)
            if plain is None or misled is None:
                lines.append(f"| {model} | {task} | missing: not run in the time budget | | | |")
                continue
            for m in ("zeroshot", "ccs", "crc", "logistic"):
                a, b = _best(plain.result, m), _best(misled.result, m)
                if a and b:
                    lines.append(f"| {model} | {task} | {m} | {_pct(a)} | {_pct(b)} | "
                                 f"{100 * (b['value'] - a['value']):+.1f} |")
    return lines


def transfer_table(rows, target_norm: bool) -> list[str]:
    lines = ["| model | train → test | n test | logistic | mass-mean | CCS (8-label sign) | CRC (8-label sign) "
             "| in-domain logistic on the test task | zero-shot on the test task |",
             "|---|---|---|---|---|---|---|---|---|"]
    key = "test_target_norm" if target_norm else "test"
    by = {(c.model, c.task): rec for c, rec in rows}
    for config, rec in rows:
        if rec is None or "transfer" not in rec.result:
            continue
        tr = rec.result["transfer"]
        cells = [_pct(tr["methods"].get(m, {}).get(key)) for m in ("logistic", "mass_mean", "ccs", "crc")]
        home = by.get((config.model, config.transfer))
        cells.append(_pct(_best(home.result, "logistic")) if home else "—")
        cells.append(_pct(tr["methods"].get("zeroshot", {}).get("test")) if "zeroshot" in tr["methods"]
                     else "n/a")
        lines.append(f"| {config.model} | {config.task} → {config.transfer} | {tr['n_test']} | " + " | ".join(cells)
                     + " |")
    return lines


def speed() -> list[str]:
    """The latest bench/probes.py record, if any."""
    import json

    records = sorted((ROOT / "bench" / "results").glob("probes-*.json"))
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


def render(runs: Path) -> Path:
    rows = [(c, record_of(c, runs)) for kind, c in configs() if kind == "main"]
    done = [r for _, r in rows if r is not None]
    for _, rec in rows:
        if rec is not None and (rec.path / "accuracy_by_layer.png").exists():
            c = rec.config
            shutil.copy(rec.path / "accuracy_by_layer.png", DOCS / f"elicit_{c['model']}_{c['task']}.png")
    zs_lines, zs_summary = ccs_vs_zeroshot(rows)
    failures = sum(len(m.get("failures", [])) for r in done for m in r.result["methods"].values())
    missing = [f"{c.model}/{c.task}" for c, r in rows if r is None]
    text = [
        "# Eliciting latent knowledge: supervised and unsupervised truth probes",
        "",
        "*Generated by `scripts/elicit_results.py` from `runs/elicit-*` records; do not edit by hand.*",
        "",
        "## Setup",
        "",
        f"- Models: {', '.join(MODELS)} (minilm-l6 is an encoder: no LM head, so no zero-shot). "
        f"Tasks: {', '.join(TASKS)}. {len(done)}/{len(rows)} model × task runs finished"
        + (f"; missing: {', '.join(missing)}." if missing else "."),
        "- Contrast pairs are built by each task's own template: the rendered prompt followed by each of "
        "the template's two completions (capitals: `The capital of X is Y.` + ` False`/` True`; fever and "
        "politifact: the claim + ` false`/` true`; the others: a question + ` No`/` Yes`). Activations: the last "
        "token (the completion), every 2nd block and the last.",
        dtype_note(r.path for r in done) + " The same experiments in fp32 on an AVX2-only CPU: [dtype.md](dtype.md).",
        f"- {BASE['n_items']} items per task (seed 0, whole groups kept together), split 60/20/20 by group "
        "(train/validation/test). Each side of a pair is centred and scaled with statistics from the "
        "training rows only, applied unchanged to validation, test and transfer rows.",
        "- Methods: logistic regression (C=0.1) and mass-mean (difference of class means) on the pair "
        "difference x̃⁺−x̃⁻ — supervised; CCS (10 restarts, 1000 AdamW steps, lr 1e-2, lowest loss kept) "
        "and CRC (top principal direction of x̃⁺−x̃⁻) — unsupervised, sign set by 8 labelled training items "
        "(labels never enter the loss); zero-shot compares log p(choice 1) with log p(choice 0).",
        "- **The layer of each method is chosen on validation accuracy; the test accuracy at that layer is "
        "reported** with a 95% interval: Wilson where items are independent; where items share a group "
        "(capitals: the true and the false statement of one country; TruthfulQA: answers to one question) a "
        "cluster bootstrap that resamples whole groups, since such items are not independent.",
        "- \"max(acc, 1−acc)\" is Burns et al.'s label-free number: the better of the two signs *on test*, "
        "an upper bound, not an achievable accuracy.",
        f"- Failed probe fits (counted, recorded per layer in result.json): {failures}.",
        "",
        "## Summary across runs",
        "",
        *summary(rows),
        "",
        "## Accuracy per method at the validation-chosen layer (test %, 95% CI, @L = block)",
        "",
        *main_table(rows),
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
        *prefix_table(runs),
        "",
        "## Transfer: probe trained on one task, tested on another",
        "",
        "The probe is fitted on the source task at the layer chosen on the source's validation split and "
        "applied to the target task's test split. First with its weights *and* its normaliser unchanged "
        "(strict): when the two templates end in different completions (` True`/` False` vs ` true`/` false` "
        "vs ` Yes`/` No`) the source's per-side centring leaves a constant offset, and most probes then "
        "predict one class (50%).",
        "",
        *transfer_table(rows, target_norm=False),
        "",
        "Second, the same weights and sign, with the per-side centring and scale re-fitted on the target's "
        "*training* rows (no labels used): does the direction itself transfer?",
        "",
        *transfer_table(rows, target_norm=True),
        "",
        "## Accuracy against layer",
        "",
    ]
    for c, rec in rows:
        if rec is not None:
            text.append(f"![{c.model} {c.task}](elicit_{c.model}_{c.task}.png)")
    text += ["", "## Speed", "", *speed(), "", "## Caveats", "",
             f"- {BASE['n_items']} items per task leave 80 test items: a 95% interval is about ±10 points (wider "
             "for grouped tasks), so most differences between methods on one task are not significant; the "
             "across-run summary is the better guide.",
             "- minilm-l6 is an encoder: its \"last token\" is the closing [SEP], which sees the whole text "
             "in both directions; it has no zero-shot answer.",
             "- The small causal models mostly answer one way whatever the item (zero-shot ≈ the rate of "
             "that answer); the calibrated column subtracts the median training log-odds (no labels).",
             "- CCS here: 10 restarts of a linear probe on d = 384–640 dimensions with 240 training pairs, "
             "no dimensionality reduction; Burns et al. used larger models and datasets.",
             ]
    text += ["", "## Reproduce", "", "```", "OMP_NUM_THREADS=1 python scripts/elicit_results.py --run", "```",
             "", "Single run: `alignlab elicit --model gemma3-270m --task capitals --methods "
             "logistic,ccs,crc,zeroshot --transfer fever`.", ""]
    path = DOCS / "elicit.md"
    path.write_text("\n".join(text))
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", action="store_true", help="run configurations that have no record yet")
    ap.add_argument("--runs", default=str(ROOT / "runs"))
    ap.add_argument("--only", default="", help="comma-separated models to run (with --run)")
    ap.add_argument("--kind", default="", help="main | prefix (with --run)")
    ap.add_argument("--force", action="store_true", help="re-run configurations that have a record")
    args = ap.parse_args()
    runs = Path(args.runs)
    DOCS.mkdir(parents=True, exist_ok=True)
    if args.run:
        import torch

        torch.set_num_threads(1)
        for kind, config in configs():
            if (args.only and config.model not in args.only.split(",")) or (args.kind and kind != args.kind):
                continue
            if args.force or record_of(config, runs) is None:
                out = run_elicit(config, runs_root=runs)
                print(f"{kind} {config.model} {config.task}: "
                      + ", ".join(f"{m}={(v.get('best') or {}).get('test', {}).get('value', float('nan')):.3f}"
                                  for m, v in out.result["methods"].items()), flush=True)
    print(render(runs))


if __name__ == "__main__":
    main()
