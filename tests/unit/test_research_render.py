"""docs/results/research.md is rendered from campaign ledgers alone: every idea with its
interval against the baseline, the best one's held-out confirmation, the same text every
time; no ledger is one line naming the command that makes one."""

from __future__ import annotations

import pytest

from alignlab.results import RENDERERS, NoRecordsError


def test_the_research_document_reports_every_idea_and_the_confirmation(tmp_home, tmp_path):
    from alignlab.research import parse_campaign, run_campaign

    campaign = parse_campaign({
        "name": "render", "question": "does shrinking help?", "testbed": "planted",
        "params": {"n_train": 40, "n_test": 200},
        "cells": {"search": [{"noise": 0.5}], "heldout": [{"noise": 0.75}]},
        "space": [{"variant": "mean_diff", "params": {"shrink": {"choices": [0.0, 0.5, 1.0]}}}],
        "seeds": 5, "budget": {"trials": 30}, "proposer": {"name": "grid"}}, "render")
    folder = tmp_path / "campaigns" / "render"
    status = run_campaign(campaign, folder)
    renderer = RENDERERS.create({"name": "research", "params": {"folders": [str(folder), str(tmp_path / "none")]}})
    text = renderer.render(tmp_home / "runs", tmp_path / "docs").read_text()
    assert text.startswith("# ") and "alignlab results render research" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "mean_diff" in line]
    assert len(rows) == 3 == len([i for i in status["ideas"] if i["role"] == "idea"])
    assert "Search cells: noise=0.5. Held-out cells: noise=0.75." in text
    assert f"**{status['best']['finding_status']}**" in text and "fresh seeds 5–9" in text
    assert "## Not run here" in text and "none" in text  # a missing ledger is listed, not dropped
    assert renderer.render(tmp_home / "runs", tmp_path / "docs").read_text() == text


def test_no_ledger_is_one_line_naming_the_command(tmp_path):
    with pytest.raises(NoRecordsError) as err:
        RENDERERS.create({"name": "research", "params": {"folders": [str(tmp_path / "x")]}}).render(tmp_path, tmp_path)
    assert "alignlab campaign run" in str(err.value) and "\n" not in str(err.value)
