"""Report layouts by kind: each returns (scorecard HTML, sections). The pipeline's page
composes the w2s, elicit and audit sections of its stages' runs."""

from __future__ import annotations

from typing import Any

from alignlab.protocol import Registry
from alignlab.report._html import Run, Section, card, esc, est, img_figure, img_file, load_sub, table
from alignlab.stats import error_bar, interval_text

LAYOUTS: Registry[tuple[str, list[Section]]] = Registry("report layout")
"""A run kind's layout: ``LAYOUTS[kind](run)`` is its (scorecard HTML, sections)."""


def _value(e: Any) -> float | None:
    return e.get("value") if isinstance(e, dict) else None


# --- weak-to-strong ----------------------------------------------------------------------

def _w2s_plot(records: dict[str, Run]) -> str:
    from alignlab.report import subplots

    fig, (ax, ax2) = subplots(1, 2, figsize=(10, 3.6))
    roles = ("weak", "student", "ceiling")
    width = 0.8 / len(roles)
    for k, role in enumerate(roles):
        xs, ys, err = [], [], [[], []]
        for i, rec in enumerate(records.values()):
            e = rec.result["summary"][role]
            xs.append(i + (k - 1) * width)
            ys.append(e["value"])
            below, above = error_bar(e)
            err[0].append(below)
            err[1].append(above)
        ax.bar(xs, ys, width, yerr=err, capsize=3, label=role, color=f"C{k}")
    ax.set_xticks(range(len(records)), list(records))
    lo = min(r.result["summary"]["weak"]["value"] - error_bar(r.result["summary"]["weak"])[0]
             for r in records.values())
    ax.set_ylim(max(0.0, lo - 0.1), 1.0)
    ax.set_ylabel("test accuracy (mean over seeds, 95% CI)")
    ax.legend(fontsize=8)
    for i, (method, rec) in enumerate(records.items()):
        vals = [r["pgr"] for r in rec.result["runs"] if r["pgr"] is not None]
        ax2.scatter([i] * len(vals), vals, color="C1", alpha=0.7, zorder=3)
        p = rec.result["summary"]["pgr"]
        if p:
            ax2.errorbar([i + 0.15], [p["value"]], yerr=[[error_bar(p)[0]], [error_bar(p)[1]]],
                         fmt="s", color="k", capsize=4)
    ax2.axhline(0, color="grey", lw=1, ls="--")
    ax2.axhline(1, color="grey", lw=1, ls=":")
    ax2.set_xticks(range(len(records)), list(records))
    ax2.set_ylabel("PGR (dots: seeds; square: mean, 95% CI)")
    return img_figure(fig, "weak-to-strong accuracy and PGR")


def w2s_body(records: dict[str, Run]) -> str:
    rows = []
    for method, rec in records.items():
        s, runs = rec.result["summary"], rec.result["runs"]
        rows.append([esc(method), est(s["weak"]), est(s["student"]), est(s["ceiling"]), est(s["pgr"]),
                     f"{len(runs) - s['pgr_undefined_seeds']}/{len(runs)}", esc(runs[0]["n_test"]), esc(rec.path.name)])
    first = next(iter(records.values()))
    c = first.config
    intro = (f"<p class='note'>Weak supervisor <b>{esc(c['weak'])}</b> labels; student <b>{esc(c['strong'])}</b> "
             f"learns from those labels only; the ceiling is {esc(c['strong'])} trained on ground truth. Task "
             f"<b>{esc(first.result.get('task'))}</b>, {esc(first.result.get('n_examples'))} examples, features "
             f"from layers {esc(first.result.get('layers'))}. PGR = (student − weak) / (ceiling − weak); means "
             "and t-intervals across seeds; a seed without a weak-to-ceiling gap has PGR undefined (counted).</p>")
    return intro + table(["method", "weak", "student", "ceiling", "PGR", "PGR defined", "n_test/seed", "run"],
                         rows) + _w2s_plot(records)


@LAYOUTS.register("w2s")
def w2s_layout(run: Run):
    return "", [Section("stage-training", "Weak-to-strong", w2s_body({run.config["method"]: run}))]


# --- elicitation ---------------------------------------------------------------------------

def elicit_body(runs: dict[str, Run]) -> str:
    out = []
    methods = list(dict.fromkeys(m for r in runs.values() for m in r.result["methods"]))
    rows = []
    for model, rec in runs.items():
        for m in methods:
            v = rec.result["methods"].get(m)
            if not v or "skipped" in v:
                continue
            best = v.get("best") or {}
            rows.append([esc(model), esc(m), esc(best.get("layer", "")), est(best.get("val")), est(best.get("test")),
                         est(best.get("test_best_sign")) if "test_best_sign" in best else ""])
    out.append("<p class='note'>Truth probes per layer on each base model (contrast pairs from the task's "
               "template). A supervised probe's layer is chosen on validation, an unsupervised one's (CCS, CRC) without labels "
               "(lowest CCS loss; most variance explained); the accuracy is reported on test. Unsupervised probes "
               "(CCS, CRC) are oriented with a few labels; 'best sign' peeks at the test sign (an upper bound).</p>")
    out.append(table(["model", "probe", "layer (chosen)", "val acc", "test acc", "test, best sign"], rows))
    for model, rec in runs.items():
        plot = rec.path / "accuracy_by_layer.png"
        if plot.exists():
            out.append(f"<h3>{esc(model)}: accuracy by layer</h3>" + img_file(plot, f"{model} probes by layer"))
    return "".join(out)


@LAYOUTS.register("elicit")
def elicit_layout(run: Run):
    return "", [Section("stage-validation", "Truth probes", elicit_body({run.config["model"]: run}))]


# --- student vs probes ---------------------------------------------------------------------

def _agreement_plot(agreement: dict) -> str:
    from alignlab.report import subplots

    methods = agreement["summary"]["methods"]
    probes = list(next(iter(methods.values()))["probes"])
    fig, ax = subplots(figsize=(8, 3.2))
    width = 0.8 / len(methods)
    for k, (method, m) in enumerate(methods.items()):
        vals = [m["probes"][p]["agreement"] for p in probes]
        xs = [i + (k - (len(methods) - 1) / 2) * width for i in range(len(probes))]
        ys = [v["value"] if v else 0 for v in vals]
        err = [[error_bar(v)[0] if v else 0 for v in vals], [error_bar(v)[1] if v else 0 for v in vals]]
        ax.bar(xs, ys, width, yerr=err, capsize=3, label=f"student ({method})", color=f"C{k + 3}")
    ax.set_xticks(range(len(probes)), probes)
    ax.set_ylim(0, 1)
    ax.set_ylabel("agreement with the student (95% CI)")
    ax.legend(fontsize=8, loc="lower right")
    return img_figure(fig, "student-probe agreement")


def agreement_body(agreement: dict | None) -> str:
    if not agreement:
        return "<p class='bad'>The student-vs-probe comparison did not run (see failures above).</p>"
    s = agreement["summary"]
    out = [f"<p class='note'>On the weak-to-strong test rows ({len(agreement['seeds'])} seeds), the student's "
           f"answers against truth probes read from <b>{esc(agreement['probe_model'])}</b> at layer "
           f"{esc(agreement['probe_layer'])}. Supervised probes are fitted on B's ground truth (the rows the student "
           "saw with weak labels only); unsupervised probes without labels. 'When they disagree' asks who is right "
           "on the rows where the two answers differ.</p>"]
    rows = [[esc(p), est(s["probe_accuracy"][p])] for p in s["probe_accuracy"]]
    out.append("<h3>Probe accuracy on the same test rows</h3>" + table(["probe", "test accuracy"], rows))
    for method, m in s["methods"].items():
        ok = "<span class='good'>yes</span>" if m["reproduces_record"] else "<span class='bad'>no</span>"
        rows = [[esc(p), est(v["agreement"]), esc(v["n_disagree_total"]), est(v["student_right_when_disagree"]),
                 est(v["probe_right_when_disagree"])] for p, v in m["probes"].items()]
        out.append(f"<h3>Student ({esc(method)}): accuracy {est(m['student_accuracy'])}; "
                   f"re-fitted student matches the record: {ok}</h3>"
                   + table(["probe", "agreement", "disagreements (all seeds)", "student right there",
                            "probe right there"], rows))
    out.append(_agreement_plot(agreement))
    rows = [[esc(k), est(v)] for k, v in s["probe_agreement"].items()]
    out.append("<h3>Do the probes agree with each other?</h3>" + table(["pair", "agreement"], rows))
    for method, examples in agreement.get("examples", {}).items():
        if examples:
            probes = [k for k in examples[0] if k not in ("row", "text", "label", "student")]
            rows = [[esc(e["text"]), esc(e["label"]), esc(e["student"]), *[esc(e[p]) for p in probes]]
                    for e in examples]
            out.append(f"<h3>Where the student ({esc(method)}) and the logistic probe disagree (seed "
                       f"{agreement['seeds'][0]})</h3>" + table(["text", "label", "student", *probes], rows))
    return "".join(out)


# --- audit -----------------------------------------------------------------------------------

def audit_body(run: Run) -> str:
    from alignlab.adversarial import detection_rows

    cells = detection_rows(run.result) or []
    out = ["<p class='note'>Each organism is fine-tuned with a known hidden behaviour (clean controls with none) "
           "and verified before it is audited beside a clean twin. Each detector runs in a sandboxed worker that "
           "sees the two models anonymously and each prompt once. Per detector: input-level AUROC (triggered vs "
           "untriggered inputs, 95% bootstrap CI), its gap to the twin (what an inserted string alone cannot win; "
           "shared_text is that shortcut), TPR at a fixed false-positive rate, and the model-level verdict against "
           "the twin. A flagged clean control is a false positive; a detector error counts as a flag.</p>"]
    if cells:
        rows = [[esc(c["organism"]) + (f" <span class='note'>vs {esc(c['twin'])}</span>" if c.get("twin") else ""),
                 esc(c.get("kind")), esc(c.get("detector") or "—"), est(c.get("auroc")),
                 est(c.get("auroc_gap")) if c.get("auroc_gap") else "—", est(c.get("tpr_at_fpr")),
                 _verdict_html(c["verdict"])] for c in cells]
        out.append(table(["organism", "kind", "detector", "AUROC", "gap to twin", "TPR at FPR", "verdict"], rows))
    organisms = (run.result or {}).get("organisms", {})
    if organisms:
        rows = [[esc(o), esc(r.get("kind")), esc(r.get("status")), esc(_compact(r.get("verification"))),
                 f"{r['build_seconds']:.0f} s" if isinstance(r.get("build_seconds"), (int, float)) else ""]
                for o, r in organisms.items()]
        out.append("<h3>Organism verification</h3>" + table(["organism", "kind", "status", "verification",
                                                               "build"], rows))
    for png in sorted(run.path.glob("*.png")):
        out.append(img_file(png))
    out.append(f"<details><summary>audit result.json</summary><pre>{esc(_short_json(run.result))}</pre></details>")
    return "".join(out)


def _verdict_html(verdict: str) -> str:
    bad = "false positive" in verdict or ("not flagged" in verdict and "correct" not in verdict)
    return f"<span class='{'bad' if bad else 'good'}'>{esc(verdict)}</span>"


def _compact(value: Any, limit: int = 300) -> str:
    import json

    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def _short_json(value: Any, limit: int = 30_000) -> str:
    import json

    text = json.dumps(value, indent=1, default=str)
    return text if len(text) <= limit else text[:limit] + "\n..."


@LAYOUTS.register("audit")
def audit_layout(run: Run):
    return "", [Section("stage-stress", "Model organisms and audit", audit_body(run))]


# --- sweeps ------------------------------------------------------------------------------------

@LAYOUTS.register("sweep")
def sweep_layout(run: Run):
    r = run.result
    rows = [[esc(x["id"]), esc(x["status"]), esc(x["axes"]), esc(x.get("error") or "")] for x in r["runs"]]
    body = (f"<p>{r['n_finished']} of {r['n_runs']} runs finished, {r['n_failed']} failed.</p>"
            + table(["run", "status", "axes", "error"], rows))
    for g in r["groups"]:
        rows = [[esc(k), est(v)] for k, v in g["mean"].items()]
        body += (f"<h3>{esc(g['axes'] or 'all runs')}: mean over {g['n_finished']} finished run(s) "
                 f"({g['n_failed']} failed)</h3>" + table(["metric", "mean (95% t-interval)"], rows))
    return "", [Section("sweep", "Sweep", body)]


# --- the pipeline ------------------------------------------------------------------------------

def _scorecard_html(card_data: dict, failures: list) -> str:
    cards = []
    for method, s in card_data["pgr"].items():
        if s is None:
            cards.append(card(f"PGR · {method}", "<span class='bad'>failed</span>"))
            continue
        big = f"{s['pgr']['value']:.2f}" if s["pgr"] else "<span class='warn'>undefined</span>"
        detail = (f"95% CI {interval_text(s['pgr'], 2)}, {s['n_seeds'] - s['undefined_seeds']}"
                  f"/{s['n_seeds']} seeds; student {s['student']['value']:.3f} vs weak {s['weak']['value']:.3f}, "
                  f"ceiling {s['ceiling']['value']:.3f}" if s["pgr"] else "no weak-to-ceiling gap")
        cards.append(card(f"PGR · {method}", big, detail))
    for model, probes in card_data["probes"].items():
        if not probes:
            cards.append(card(f"probes · {model}", "<span class='bad'>failed</span>"))
            continue
        sup = max((p for p in ("logistic", "mass_mean") if p in probes), default=None,
                  key=lambda p: _value(probes[p]["test"]) or 0)
        uns = max((p for p in ("ccs", "crc") if p in probes), default=None,
                  key=lambda p: _value(probes[p]["test"]) or 0)
        big = " / ".join(f"{_value(probes[p]['test']):.3f}" for p in (sup, uns) if p and _value(probes[p]["test"]))
        detail = "; ".join(f"{p} (layer {probes[p]['layer']}): {est(probes[p]['test'])}" for p in (sup, uns) if p)
        cards.append(card(f"best probe test acc · {model}", big or "—", f"supervised / unsupervised — {detail}"))
    for method, s in card_data["student"].items():
        big = " / ".join(f"{s[f'agreement_{p}']['value']:.2f}" for p in ("logistic", "ccs")
                         if s.get(f"agreement_{p}"))
        cards.append(card(f"student ({method}) ↔ probes", big,
                          f"agreement with logistic / CCS probe; student acc {est(s['accuracy'])}"))
    detection = card_data.get("detection")
    if detection:
        by_org: dict[str, list] = {}
        for c in detection:
            by_org.setdefault(str(c.get("organism")), []).append(c)
        for org, cells in by_org.items():
            scored = [c for c in cells if c.get("detector")]
            if not scored:
                cards.append(card(f"detection · {org}", "<span class='bad'>not scored</span>", esc(cells[0]["verdict"])))
                continue
            best = max(scored, key=lambda c: _value(c.get("auroc")) or 0)
            flagged = sum(c.get("flagged", False) for c in scored)
            au = _value(best.get("auroc"))
            if cells[0].get("kind") == "clean":
                big = (f"<span class='{'bad' if flagged else 'good'}'>{flagged} false positive"
                       f"{'s' if flagged != 1 else ''}</span>")
                detail = f"clean control: flagged by {flagged} of {len(scored)} detectors"
            else:
                big = f"AUROC {au:.2f}" if au is not None else "—"
                detail = (f"best detector {esc(best.get('detector'))} {est(best.get('auroc'), 2)}; "
                          f"flagged by {flagged} of {len(scored)} detectors")
            cards.append(card(f"detection · {org}", big, detail))
    else:
        cards.append(card("detection", "<span class='warn'>not run</span>", "stage 3 did not produce a scoreboard"))
    warn = (f"<p class='bad'>{len(failures)} stage run(s) failed: "
            + esc("; ".join(f"{f['kind']} {f['id']}: {f['error']}" for f in failures)) + "</p>") if failures else ""
    return f"<section id='scorecard'><h2>Scorecard</h2>{warn}<div class='scorecard'>{''.join(cards)}</div></section>"


@LAYOUTS.register("pipeline")
def pipeline_layout(run: Run):
    r = run.result
    root = run.root
    stages = r["stages"]
    w2s = {m: load_sub(root, i) for m, i in stages["training"]["w2s"].items()}
    w2s_ok = {m: rec for m, rec in w2s.items() if rec is not None}
    training = w2s_body(w2s_ok) if w2s_ok else "<p class='bad'>No weak-to-strong run finished.</p>"
    elicit = {m: load_sub(root, i) for m, i in stages["validation"]["elicit"].items()}
    elicit_ok = {m: rec for m, rec in elicit.items() if rec is not None}
    validation = ("<h3>Truth probes on the base models</h3>" + (elicit_body(elicit_ok) if elicit_ok else
                  "<p class='bad'>No probe run finished.</p>")
                  + "<h3>The student against the probes</h3>" + agreement_body(stages["validation"]["agreement"]))
    stress = stages.get("stress") or {}
    audit = load_sub(root, stress.get("audit"))
    if audit is not None:
        stress_html = audit_body(audit)
    else:
        stress_html = f"<p class='warn'>{esc(stress.get('skipped') or 'the audit did not finish')}</p>"
    sections = [Section("stage-training", "Stage 1 · Scalable training: weak-to-strong", training),
                Section("stage-validation", "Stage 2 · Validation: truth probes and the student", validation),
                Section("stage-stress", "Stage 3 · Stress test: model organisms and audit", stress_html)]
    return _scorecard_html(r["scorecard"], r.get("failures") or []), sections
