"""Benchmark: what the automated researcher costs per trial beyond the trial itself.

On the toy testbed (``planted``; the variant's own work is milliseconds, so what is
measured is the machinery), in one run:

- trial: the campaign's trials run directly as ``kind: trial`` jobs (inline) — the
  baseline every other row is compared with;
- campaign: the same trials as a campaign (proposer, ledger rows, estimates, the
  proposer told): its overhead per trial over the bare trial (target < 50 ms);
- read back: the finished campaign run again — every trial read back, so what is left is
  the ledger's and the estimates' cost;
- service: the same trials scored by the evaluator service (``alignlab serve
  evaluator`` in a subprocess, loopback HTTP), per trial;
- local executor with 1 and 2 workers (and Ray with ``--ray``): trials per hour.

Writes ``bench/results/research-<UTC time>.json`` with the machine's CPU capability and
load. Real-testbed trial times come from a campaign's own ledger (``alignlab campaign
status``); docs/results/research.md quotes them.

    python bench/research.py [--ideas 6] [--ray]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _record import write_record

from alignlab.machine import machine_record


def _campaign(name: str, ideas: int, executor: dict | None = None, evaluator: dict | None = None):
    from alignlab.research import parse_campaign

    shrinks = [round(i / (2 * ideas), 4) for i in range(ideas)]
    data = {"name": name, "question": "benchmark", "testbed": "planted", "params": {"n_train": 40, "n_test": 200},
            "cells": {"search": [{"noise": 0.5}], "heldout": [{"noise": 0.75}]},
            "space": [{"variant": "mean_diff", "params": {"shrink": {"choices": shrinks}}}],
            "seeds": 5, "budget": {"trials": 5 * (ideas + 1) + 10}, "proposer": {"name": "grid"},
            "round_size": 2 if executor else 1}
    if executor:
        data["executor"] = executor
    if evaluator:
        data["evaluator"] = evaluator
    return parse_campaign(data, name)


def _trials(campaign, root: Path) -> list[dict]:
    """Every trial config the campaign runs (search and confirmation), as jobs' configs."""
    from alignlab.protocol import Ref
    from alignlab.protocol._trial import TrialConfig

    cells = campaign.resolved_cells()
    refs = [campaign.baseline_ref()] + [Ref(name="mean_diff", params={"shrink": arm}) for arm in
                                        campaign.space[0].params["shrink"].choices]
    out = []
    for ref in refs:
        for seed in campaign.search_seeds():
            out.append(TrialConfig(testbed="planted", params=campaign.cell_params(cells.search[0]), variant=ref,
                                   seed=seed).model_dump(mode="json"))
    return out


def bare_trials(configs: list[dict], root: Path) -> float:
    from alignlab.runtime import Job
    from alignlab.runtime._job import execute

    execute(Job("trial", {**configs[0], "seed": 99_999}, str(root)))  # the fork server starts once
    start = time.perf_counter()
    for cfg in configs:
        assert execute(Job("trial", cfg, str(root)))["status"] == "finished"
    return (time.perf_counter() - start) / len(configs)


def campaign_seconds(campaign, folder: Path) -> tuple[float, int]:
    from alignlab.research import run_campaign

    start = time.perf_counter()
    status = run_campaign(campaign, folder)
    return time.perf_counter() - start, status["budget"]["trials_used"]


def _service(tmp: Path) -> tuple[subprocess.Popen, str, Path]:
    state, admin = tmp / "evaluator", tmp / "admin.token"
    admin.write_text("bench-admin\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "alignlab.cli", "serve", "evaluator", "--port", str(port),
                             "--state", str(state), "--admin-token-file", str(admin)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not (state / "server.json").exists():
        if proc.poll() is not None:
            raise SystemExit("the evaluator service did not start")
        time.sleep(0.05)
    url = json.loads((state / "server.json").read_text())["url"]
    token = tmp / "campaign.token"
    subprocess.run([sys.executable, "-m", "alignlab.cli", "serve", "new-campaign", "bench", "--budget", "10000",
                    "--confirm-slots", "2", "--url", url, "--state", str(state), "--admin-token-file", str(admin),
                    "--token-file", str(token)], check=True, capture_output=True)
    return proc, url, token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ideas", type=int, default=6)
    parser.add_argument("--ray", action="store_true", help="also the Ray executor (a local Ray instance)")
    args = parser.parse_args()
    row: dict = {"ideas": args.ideas, "seeds": 5, "target_overhead_s": 0.05}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inline = _campaign("bench-inline", args.ideas)
        row["trial_s"] = bare_trials(_trials(inline, tmp), tmp / "bare-runs")
        seconds, n = campaign_seconds(inline, tmp / "inline")
        row.update(campaign_trials=n, campaign_s_per_trial=seconds / n,
                   campaign_overhead_s=seconds / n - row["trial_s"])
        seconds, _ = campaign_seconds(inline, tmp / "inline")
        row["read_back_s_per_trial"] = seconds / n
        proc, url, token = _service(tmp)
        try:
            remote = _campaign("bench-service", args.ideas,
                               evaluator={"kind": "service", "url": url, "token_file": str(token)})
            seconds, n = campaign_seconds(remote, tmp / "service")
            row["service_s_per_trial"] = seconds / n
        finally:
            proc.kill()
        executors = [("local1", {"name": "local", "options": {"workers": 1}}),
                     ("local2", {"name": "local", "options": {"workers": 2}})]
        if args.ray:
            executors.append(("ray", {"name": "ray", "options": {"num_cpus": 2}}))
        for key, executor in executors:
            seconds, n = campaign_seconds(_campaign(f"bench-{key}", args.ideas, executor=executor), tmp / key)
            row[f"{key}_trials_per_hour"] = 3600 * n / seconds
    row["inline_trials_per_hour"] = 3600 / row["campaign_s_per_trial"]
    print(f"per trial: bare trial {1000 * row['trial_s']:.0f} ms; in a campaign {1000 * row['campaign_s_per_trial']:.0f}"
          f" ms (overhead {1000 * row['campaign_overhead_s']:+.0f} ms; target < 50); read back "
          f"{1000 * row['read_back_s_per_trial']:.0f} ms; through the evaluator service "
          f"{1000 * row['service_s_per_trial']:.0f} ms")
    print("trials per hour: " + ", ".join(f"{k.removesuffix('_trials_per_hour')} {v:,.0f}" for k, v in row.items()
                                          if k.endswith("_trials_per_hour")))
    out = write_record("research", {"benchmark": "research", "time": datetime.now(timezone.utc).isoformat(),
                                    "machine": machine_record(), **row})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
