"""Benchmark: the default pipeline (``make demo``), cold and warm.

- cold: models prepared, nothing else cached — a fresh ALIGNLAB_HOME whose ``models``
  folder links to the prepared models of the real one, and an empty runs folder; so the
  activations, the zero-shot scores, the organisms and every run are computed.
- warm: the same command again (everything finished: read back, report re-rendered);
  and ``warm_rerecord``: the pipeline's own record removed, so the pipeline runs again
  over finished stage runs and cached activations (what a changed report costs).

Each is ``alignlab pipeline`` in a subprocess, timed from outside. Writes
``bench/results/pipeline-<cold|warm>-<UTC time>.json`` with the stage timings of the
record and the machine (CPU model and capability, the compute dtype and why). Targets on
2 cores (issue 12): cold < 30 min on an AVX2-only CPU (fp32) and on a bf16 one, warm
< 5 s. The machine is shared: the load average before and after is in the record.

    python bench/pipeline.py [--phase cold|warm|both] [--work /tmp/alignlab-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from _record import write_record
ALIGNLAB = Path(sys.executable).parent / "alignlab"


def _run(work: Path, extra: list[str]) -> tuple[float, str]:
    env = {**os.environ, "ALIGNLAB_HOME": str(work / "home"), "ALIGNLAB_RUNS": str(work / "runs"),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "COLUMNS": "160"}
    start = time.perf_counter()
    out = subprocess.run([str(ALIGNLAB), "pipeline", *extra], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    (work / f"pipeline-{int(time.time())}.log").write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        raise SystemExit(f"pipeline failed (exit {out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return wall, out.stdout


def _record(phase: str, wall: float, work: Path, extra: dict) -> Path:
    runs = sorted((work / "runs").glob("pipeline-*/result.json"), key=lambda p: p.stat().st_mtime)
    result = json.loads(runs[-1].read_text()) if runs else {}
    from alignlab.machine import machine_record

    record = {"benchmark": f"pipeline-{phase}", "time": datetime.now(timezone.utc).isoformat(),
              "machine": machine_record(), "wall_s": wall,
              "target_s": 30 * 60 if phase == "cold" else 5, "stage_timings_s": result.get("timings"),
              "pipeline_run": runs[-1].parent.name if runs else None, **extra}
    return write_record(f"pipeline-{phase}", record)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--phase", choices=("cold", "warm", "both"), default="both")
    parser.add_argument("--work", default="/tmp/alignlab-bench")
    parser.add_argument("--args", default="", help="extra `alignlab pipeline` arguments")
    args = parser.parse_args()
    work = Path(args.work)
    extra = args.args.split()
    from alignlab.paths import home

    if args.phase in ("cold", "both"):
        shutil.rmtree(work, ignore_errors=True)
        (work / "home").mkdir(parents=True)
        (work / "home" / "models").symlink_to(home() / "models")  # prepared models only
        load = os.getloadavg()
        wall, _ = _run(work, extra)
        print(f"cold: {wall:.0f} s -> {_record('cold', wall, work, {'load_average_before': load, 'load_average_after': os.getloadavg()})}")
    if args.phase in ("warm", "both"):
        load = os.getloadavg()
        wall, _ = _run(work, extra)
        for p in (work / "runs").glob("pipeline-*"):  # the stage runs and caches stay
            shutil.rmtree(p)
        wall_re, _ = _run(work, extra)
        print(f"warm: {wall:.1f} s; pipeline record removed: {wall_re:.1f} s -> "
              f"{_record('warm', wall, work, {'warm_rerecord_s': wall_re, 'load_average_before': load, 'load_average_after': os.getloadavg(), 'note': 'warm_s: every run finished, read back; warm_rerecord_s: the pipeline record removed, stage runs and caches kept'})}")


if __name__ == "__main__":
    main()
