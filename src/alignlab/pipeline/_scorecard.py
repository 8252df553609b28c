"""The scorecard: the pipeline's headline numbers, read from its stages' run records.

One entry per question the pipeline answers — how much of the gap did the student
recover (PGR with its interval), how well do truth probes read the base models and do
they agree with the student, were the organisms caught and did the clean control stay
clean (AUROC and the false-positive verdicts). Missing stages are ``None``, not zeros.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PROBE_METHODS = ("logistic", "mass_mean", "ccs", "crc", "zeroshot")


def _load(root: Path, run_id: str | None):
    from alignlab.store import load_run

    if not run_id:
        return None
    try:
        return load_run(root / run_id)
    except FileNotFoundError:
        return None


def scorecard(config, root: Path, stages: dict[str, Any]) -> dict[str, Any]:
    card: dict[str, Any] = {"pgr": {}, "probes": {}, "student": {}, "detection": None}
    for method, run_id in stages["training"]["w2s"].items():
        rec = _load(root, run_id)
        if rec is None:
            card["pgr"][method] = None
            continue
        s = rec.result["summary"]
        card["pgr"][method] = {"pgr": s["pgr"], "undefined_seeds": s["pgr_undefined_seeds"],
                               "n_seeds": len(rec.result["runs"]), "n_test": rec.result["runs"][0]["n_test"],
                               **{role: s[role] for role in ("weak", "student", "ceiling")}}
    for model, run_id in stages["validation"]["elicit"].items():
        rec = _load(root, run_id)
        if rec is None:
            card["probes"][model] = None
            continue
        card["probes"][model] = {
            m: {"test": (v.get("best") or {}).get("test"), "layer": (v.get("best") or {}).get("layer")}
            for m, v in rec.result["methods"].items() if m in PROBE_METHODS and "skipped" not in v}
    agreement = stages["validation"].get("agreement")
    if agreement:
        for method, m in agreement["summary"]["methods"].items():
            card["student"][method] = {"accuracy": m["student_accuracy"],
                                       "reproduces_record": m["reproduces_record"],
                                       **{f"agreement_{p}": m["probes"][p]["agreement"] for p in m["probes"]}}
    card["detection"] = detection_card(_load(root, (stages.get("stress") or {}).get("audit")))
    return card


def detection_card(record) -> list[dict[str, Any]] | None:
    """One row per organism x detector from an audit record: input-level AUROC (95%
    bootstrap CI), TPR at the audit's FPR, and the model-level verdict. On a clean
    control a 'flagged' verdict is a false positive. None without an audit."""
    if record is None or not isinstance(record.result, dict) or "organisms" not in record.result:
        return None
    out = []
    for org, row in record.result["organisms"].items():
        base = {"organism": org, "kind": row.get("kind"), "status": row.get("status")}
        if row.get("status") != "scored":
            out.append({**base, "detector": None, "auroc": None, "verdict": row.get("status", "not scored")})
            continue
        for det, cell in row.get("cells", {}).items():
            if "error" in cell:
                verdict = "error (flagged: fails closed)"
            else:
                verdict = "flagged" if cell.get("flagged") else "not flagged"
            if row.get("kind") == "clean":
                verdict += " (false positive)" if cell.get("flagged") else " (correct)"
            out.append({**base, "detector": det, "auroc": cell.get("auroc"), "tpr_at_fpr": cell.get("tpr_at_fpr"),
                        "flagged": bool(cell.get("flagged")), "verdict": verdict})
    return out
