"""``run_spec``: expand a spec into runs, run them on an executor, aggregate.

A spec with a sweep also gets a record of its own (kind ``sweep``): the runs by their
axis values, and per group of runs that differ only in ``seed``, every headline number
as a mean with a t-interval across seeds. Failed runs are listed and counted, never
silently left out. Runs that finished before are answered from disk, so an interrupted
sweep resumes where it stopped and re-running a finished one is instant.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignlab.runtime._spec import Spec


@dataclass(frozen=True)
class SweepResult:
    spec: Spec
    outcomes: list[dict[str, Any]]
    """One per run, in the spec's order: id, path, status, cached, seconds, error."""
    record: Any | None
    """The sweep's own RunRecord (specs with a sweep only)."""

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [o for o in self.outcomes if o["status"] != "finished"]


def run_spec(spec: Spec, executor: str = "inline", root: str | Path | None = None,
             on_done: Callable[[dict[str, Any]], None] | None = None, force: bool = False,
             **executor_options: Any) -> SweepResult:
    """Run every run of ``spec`` on ``executor`` (see ``make_executor`` for options);
    ``force``: run again runs that are already finished."""
    return run_specs([spec], executor, root, on_done, force, **executor_options)[0]


def run_specs(specs: list[Spec], executor: str = "inline", root: str | Path | None = None,
              on_done: Callable[[dict[str, Any]], None] | None = None, force: bool = False,
              **executor_options: Any) -> list[SweepResult]:
    """``run_spec`` for several specs (a file of several documents, a campaign): their
    runs go to one executor together (one worker pool, one Ray start), and each spec
    with a sweep gets its own sweep record. A run that two specs share runs once."""
    from alignlab.paths import runs_dir
    from alignlab.runtime._executors import make_executor

    root = Path(root or runs_dir()).resolve()
    jobs = [spec.jobs(root, force) for spec in specs]
    outcomes = make_executor(executor, **executor_options).run([j for group in jobs for j in group], on_done)
    results, start = [], 0
    for spec, group in zip(specs, jobs):
        mine, start = outcomes[start:start + len(group)], start + len(group)
        results.append(SweepResult(spec, mine, write_sweep(spec, mine, root) if spec.sweep else None))
    return results


def aggregate(spec: Spec, outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Groups of runs equal on every axis but ``seed``, each headline estimate's value
    averaged over the group's finished runs (mean, t-interval, n seeds)."""
    from alignlab.stats import mean_ci
    from alignlab.store import headline

    groups: dict[str, dict[str, Any]] = {}
    for (axes, _), out in zip(spec.configs(), outcomes):
        key_axes = {k: v for k, v in axes.items() if k != "seed"}
        group = groups.setdefault(json.dumps(key_axes, sort_keys=True),
                                  {"axes": key_axes, "runs": [], "failed": [], "values": {}})
        result_path = Path(out["path"]) / "result.json"
        if out["status"] != "finished" or not result_path.exists():  # (deleted since: not counted as done)
            group["failed"].append(out["id"])
            continue
        group["runs"].append(out["id"])
        result = json.loads(result_path.read_text())
        for name, value in headline(result).items():
            v = value["value"] if isinstance(value, dict) else value
            if isinstance(v, (int, float)):
                group["values"].setdefault(name, []).append(float(v))
    out = []
    for group in groups.values():
        means = {name: mean_ci(vals).as_dict() for name, vals in group.pop("values").items()}
        out.append({**group, "n_finished": len(group["runs"]), "n_failed": len(group["failed"]), "mean": means})
    return out


def write_sweep(spec: Spec, outcomes: list[dict[str, Any]], root: Path):
    from alignlab.store import write_run

    runs = [{"id": o["id"], "status": o["status"], "axes": axes, "error": o["error"]}
            for (axes, _), o in zip(spec.configs(), outcomes)]
    result = {"n_runs": len(outcomes), "n_finished": sum(o["status"] == "finished" for o in outcomes),
              "n_failed": sum(o["status"] != "finished" for o in outcomes), "runs": runs,
              "groups": aggregate(spec, outcomes)}
    # Its config is the spec itself (``kind`` = its runs' kind), so the record's
    # config.yaml re-runs the sweep; the folder's name (sweep-<hash>) says it is a sweep
    # record (``store.record_kind``), also when the index is rebuilt from the folders.
    return write_run("sweep", spec.to_dict(), result, root=root)
