"""A finding whose trials ran unsandboxed cannot be confirmed: its estimates are kept, its
confirmation is refused with the reason, and every trial row says how it ran."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("sandbox", ["auto", "off"])
def test_unsandboxed_trials_make_a_finding_unconfirmable(sandbox, tmp_home, tmp_path, monkeypatch):
    from alignlab.research import Ledger, parse_campaign, run_campaign

    monkeypatch.setenv("ALIGNLAB_SANDBOX", sandbox)
    campaign = parse_campaign({
        "name": "sealed", "question": "does mean_diff beat a random direction?", "testbed": "planted",
        "params": {"n_train": 40, "n_test": 200},
        "cells": {"search": [{"noise": 0.5}], "heldout": [{"noise": 0.75}]},
        "space": [{"variant": "mean_diff"}], "seeds": 5, "budget": {"trials": 20}, "proposer": {"name": "grid"}},
        "sealed")
    status = run_campaign(campaign, tmp_path / "sealed")
    with Ledger(tmp_path / "sealed" / "ledger.sqlite") as ledger:
        how = {t["sandbox"] for t in ledger.trials()}
    best = status["best"]
    assert best["heldout"]["beats_baseline"]  # mean_diff finds the planted direction either way
    if sandbox == "off":
        assert how == {"none: ALIGNLAB_SANDBOX=off"}
        assert best["finding_status"] == "rejected" and "not confirmable: 20 of its trials" in best["finding_text"]
    else:
        assert how == {"namespaces"}, how
        assert best["finding_status"] == "confirmed" and "not confirmable" not in best["finding_text"]
