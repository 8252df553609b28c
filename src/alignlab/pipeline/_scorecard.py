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
    audit = _load(root, (stages.get("stress") or {}).get("audit"))
    if audit is None:
        card["detection"] = None
    else:  # an audit record exists, so stage 3 is installed
        from alignlab.adversarial import detection_rows

        card["detection"] = detection_rows(audit.result)
    return card
