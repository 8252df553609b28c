"""The evaluator service as it runs: `alignlab serve evaluator` in a subprocess (uvicorn on
an ephemeral port), a campaign token from `alignlab serve new-campaign`, a planted variant
solving through it with the Scores `run_trial` gives, then the service killed (-9) and
started again: old problems are 410, the budget and the audit log are kept."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.protocol import Scores
from alignlab.protocol._trial import TrialConfig, run_trial
from alignlab.research import EvaluatorClient, EvaluatorDown, ProblemGone, remote_trial

ADMIN = "e2e-admin-token-not-on-any-command-line"


def _start(state, token_file, port: int) -> tuple[subprocess.Popen, str]:
    """The service in its own process; its URL once it accepts connections."""
    (state / "server.json").unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "alignlab.cli", "serve", "evaluator", "--port", str(port),
                             "--state", str(state), "--admin-token-file", str(token_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (state / "server.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the evaluator did not start: {proc.communicate()}")
        time.sleep(0.05)
    return proc, json.loads((state / "server.json").read_text())["url"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_real_evaluator_scores_like_run_trial_and_survives_a_kill(tmp_home):
    state, token_file = tmp_home / "evaluator", tmp_home / "admin.token"
    token_file.write_text(ADMIN + "\n")
    port = _free_port()
    proc, url = _start(state, token_file, port)
    try:
        assert url == f"http://127.0.0.1:{port}"
        assert ADMIN not in Path(f"/proc/{proc.pid}/cmdline").read_text()  # `ps` never shows the admin token
        made = CliRunner().invoke(app, ["serve", "new-campaign", "e2e", "--budget", "3", "--state", str(state),
                                        "--admin-token-file", str(token_file)])
        assert made.exit_code == 0, made.output
        client = EvaluatorClient(url, made.stdout.strip(), retries=1, backoff_s=0.05)

        trial = remote_trial(client, "planted", {}, "mean_diff", seed=3)
        record = run_trial(TrialConfig(testbed="planted", variant="mean_diff", seed=3))
        assert trial.scores == Scores.model_validate(record.result["scores"])
        assert trial.sandbox == record.result["sandbox"]  # sealed the same way ("namespaces" where the kernel allows)

        second = subprocess.run([sys.executable, "-m", "alignlab.cli", "serve", "evaluator", "--port", "0",
                                 "--state", str(state), "--admin-token-file", str(token_file)],
                                check=False, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and "another evaluator holds the state folder" in second.stderr

        opened = client.open_problem("planted", seed=4)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with pytest.raises(EvaluatorDown, match=f"the evaluator at {url} is not answering .*alignlab serve evaluator"):
            client.status()

        proc, _ = _start(state, token_file, port)  # the same state folder and port
        with pytest.raises(ProblemGone, match="reopen the problem") as err:
            client.score(opened.problem_id, [0.5] * opened.n_items)
        assert err.value.status == 410
        assert not os.path.exists(opened.folder)
        status = client.status()
        assert (status["used"], status["left"]) == (1, 2)  # the budget survived the kill
        assert remote_trial(client, "planted", {}, "mean_diff", seed=4).scores.seed == 4
    finally:
        proc.kill()
        proc.wait()
    lines = [json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()]
    assert [(line["action"], line["decision"].split(":")[0]) for line in lines] == [
        ("new_campaign", "created"), ("open", "opened"), ("score", "scored"), ("close", "closed"),
        ("open", "opened"),                                 # killed here
        ("score", "refused 410"), ("status", "answered"),   # restarted
        ("open", "opened"), ("score", "scored"), ("close", "closed")]
    assert len({line["boot"] for line in lines}) == 2


def test_a_campaign_scored_by_the_service_spends_its_queries_and_confirms_within_its_slots(tmp_home, tmp_path):
    """`evaluator: service`: every trial of a campaign is opened and scored by the
    service (a query id per ledger row, one query per trial, nothing more), held-out
    instances within the campaign's confirm slots; a campaign whose slots cannot hold
    its confirmation is refused before any trial runs."""
    from alignlab.research import CampaignError, Ledger, parse_campaign, run_campaign

    state, token_file = tmp_home / "evaluator", tmp_home / "admin.token"
    token_file.write_text(ADMIN + "\n")
    proc, url = _start(state, token_file, _free_port())
    try:
        def campaign(name: str, slots: int):
            made = CliRunner().invoke(app, ["serve", "new-campaign", name, "--budget", "25", "--confirm-slots",
                                            str(slots), "--url", url, "--state", str(state), "--admin-token-file",
                                            str(token_file), "--token-file", str(tmp_path / f"{name}.token")])
            assert made.exit_code == 0, made.output
            return parse_campaign({
                "name": name, "question": "does shrinking help?", "testbed": "planted",
                "params": {"n_train": 40, "n_test": 200},
                "cells": {"search": [{"noise": 0.5}], "heldout": [{"noise": 0.75}]},
                "space": [{"variant": "mean_diff", "params": {"shrink": {"choices": [0.0, 0.5]}}}],
                "seeds": 5, "budget": {"trials": 25}, "proposer": {"name": "grid"},
                "evaluator": {"kind": "service", "url": url, "token_file": str(tmp_path / f"{name}.token")}},
                name)

        with pytest.raises(CampaignError, match="scores 1 submission.*needs 2.*--confirm-slots 2"):
            run_campaign(campaign("one-slot", 1), tmp_path / "one-slot")
        status = run_campaign(campaign("svc", 2), tmp_path / "svc")
        assert status["status"] == "done" and status["confirmation"] in ("confirmed", "rejected")
        with Ledger(tmp_path / "svc" / "ledger.sqlite") as ledger:
            trials = ledger.trials()
        assert len(trials) == 25 and all(t["status"] == "finished" and t["query_id"] for t in trials)
        assert not (tmp_path / "svc" / "runs").exists()  # no trusted process here: no trial records, no labels
        with EvaluatorClient(url, (tmp_path / "svc.token").read_text().strip()) as client:
            assert client.status()["used"] == 25
            assert client.status()["left"] == 0
            assert client.verify(trials[0]["query_id"], {"bogus": 1}) is False
    finally:
        proc.kill()
        proc.wait()
    lines = [json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()]
    scored = [line for line in lines if line["action"] == "score" and line["decision"] == "scored"]
    assert len(scored) == 25 and {line["campaign"] for line in scored} == {"svc"}
