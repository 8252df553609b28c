"""Specs, the run index and the executors: round trips, bad input, failure records,
timeouts and memory limits, resume after a killed sweep, concurrent index writers, and
identical records from the inline, local and Ray executors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from alignlab.errors import UnknownNameError
from alignlab.runtime import SPECS, Spec, SpecError, load_spec, parse_spec, run_spec
from alignlab.store import _index, rebuild_index, run_status


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_every_registered_spec_round_trips_through_yaml(kind, tmp_path):
    cls = SPECS[kind].config_class()
    spec = Spec(kind, cls())
    path = tmp_path / "spec.yaml"
    path.write_text(spec.to_yaml())
    assert load_spec(path) == spec
    field = next(iter(cls.model_fields))  # a sweep over a field survives the trip too
    swept = Spec(kind, cls(), {field: [getattr(cls(), field)]})
    path.write_text(swept.to_yaml())
    assert load_spec(path) == swept
    assert len(swept.configs()) == 1


def test_a_run_folder_config_is_a_spec(tmp_home):
    spec = parse_spec({"kind": "trivial", "seed": 3})
    outcome = run_spec(spec, root=tmp_home / "runs").outcomes[0]
    again = load_spec(Path(outcome["path"]) / "config.yaml")
    assert again == spec


@pytest.mark.parametrize("text, expected", [
    ("kind: nope\n", "unknown spec kind 'nope'; valid kinds: "),
    ("seed: 1\n", "no 'kind' key; valid kinds"),
    ("kind: trivial\nseed: abc\n", "seed: Input should be a valid integer"),
    ("kind: trivial\nseeed: 1\n", "seeed: Extra inputs are not permitted"),
    ("kind: w2s\nhead: {C: many}\n", "head.C: Input should be a valid number"),
    ("kind: trivial\nseed: [1,\n", "line 3"),
    ("kind: trivial\nsweep: {sed: [1, 2]}\n", "sweep over unknown field(s) ['sed']"),
    ("kind: trivial\nsweep: {n: [10, -1]}\n", "n (in sweep): Input should be greater than or equal to 2, got -1"),
    ("- just\n- a list\n", "expected a mapping"),
])
def test_bad_specs_name_the_field_and_expected_type(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises((SpecError, UnknownNameError)) as err:
        load_spec(path)
    assert expected in str(err.value)


def test_inline_sweep_records_failures_and_reruns_instantly(tmp_home):
    root = tmp_home / "runs"
    spec = parse_spec({"kind": "trivial", "sweep": {"seed": [0, 1, 2], "fail": [False, True]}})
    result = run_spec(spec, root=root)
    statuses = [o["status"] for o in result.outcomes]
    assert statuses == ["finished", "failed"] * 3  # a failure does not stop the sweep
    failed = Path(result.failed[0]["path"])
    error = json.loads((failed / "error.json").read_text())
    assert "failed on purpose" in error["reason"] and any("RuntimeError" in line for line in error["traceback_tail"])
    assert not (failed / "result.json").exists() and run_status(failed) == "failed"
    assert "failed on purpose" in (failed / "log").read_text()
    groups = {json.dumps(g["axes"]): g for g in result.record.result["groups"]}
    ok = groups['{"fail": false}']
    assert ok["n_finished"] == 3 and ok["mean"]["mean"]["n"] == 3  # mean over seeds, t-interval
    assert groups['{"fail": true}']["n_failed"] == 3 and result.record.result["n_failed"] == 3
    rows = {r["id"]: r for r in _index.query(root)}
    assert rows[failed.name]["status"] == "failed" and rows[result.outcomes[0]["id"]]["status"] == "finished"
    assert rows[result.outcomes[0]["id"]]["seconds"] is not None
    start = time.perf_counter()
    again = run_spec(spec, root=root)
    assert [o["cached"] for o in again.outcomes] == [True, False] * 3  # failed runs are retried
    assert time.perf_counter() - start < 5


def test_local_executor_timeout_memory_limit_and_logs(tmp_home):
    root = tmp_home / "runs"
    spec = parse_spec({"kind": "trivial", "sweep": {"seconds": [0.0, 30.0], "allocate_mb": [0, 3000]}})
    start = time.perf_counter()
    result = run_spec(spec, executor="local", root=root, workers=2, timeout_s=4, memory_gb=1.5)
    assert time.perf_counter() - start < 25  # the 30 s runs were killed at 4 s
    by_axes = {(a["seconds"], a["allocate_mb"]): o for (a, _), o in zip(spec.configs(), result.outcomes)}
    assert by_axes[(0.0, 0)]["status"] == "finished"
    assert "trivial run: seed=0" in (Path(by_axes[(0.0, 0)]["path"]) / "log").read_text()  # print() captured
    assert by_axes[(0.0, 3000)]["status"] == "failed" and "MemoryError" in by_axes[(0.0, 3000)]["error"]
    assert "timed out after 4 s" in by_axes[(30.0, 0)]["error"]
    assert run_status(by_axes[(30.0, 0)]["path"]) == "failed"


def _rows(root):
    return {r["id"]: r for r in _index.query(root)} if (root / "index.sqlite").exists() else {}


def test_resume_after_a_killed_sweep_loses_no_finished_run(tmp_home):
    """Kill a worker mid-run (recorded as failed, the sweep goes on), then kill the whole
    sweep; running the spec again keeps every finished run and completes the rest."""
    root = tmp_home / "runs"
    spec_path = tmp_home / "sweep.yaml"
    spec_path.write_text(yaml.safe_dump({"kind": "trivial", "seconds": 0.5, "sweep": {"seed": list(range(8))}}))
    cli = [sys.executable, "-m", "alignlab.cli", "run", str(spec_path), "--executor", "local", "--workers", "2"]
    proc = subprocess.Popen(cli, env={**os.environ, "ALIGNLAB_RUNS": str(root)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        victim, deadline = None, time.time() + 60
        while victim is None and time.time() < deadline:  # a run that is running in a worker
            running = [r for r in _rows(root).values() if r["status"] == "running" and r["pid"] != proc.pid]
            finished = [r for r in _rows(root).values() if r["status"] == "finished"]
            if running and finished:
                victim = running[0]
            time.sleep(0.05)
        assert victim is not None, "the sweep never got going"
        os.kill(victim["pid"], signal.SIGKILL)  # (it may have moved on to its next run: that one dies)
        failed = []
        while not failed and time.time() < deadline:
            failed = [r for r in _rows(root).values() if r["status"] == "failed"]
            time.sleep(0.05)
        assert len(failed) == 1 and "exit code -9" in failed[0]["error"], failed
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGKILL)  # the whole sweep dies without cleaning up
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    finished = {p.name: p.joinpath("result.json").stat().st_mtime_ns
                for p in root.glob("trivial-*") if (p / "result.json").exists()}
    assert 1 <= len(finished) < 8
    spec = load_spec(spec_path)
    again = run_spec(spec, root=root)
    assert all(o["status"] == "finished" for o in again.outcomes)
    for o in again.outcomes:  # finished runs were read back, not redone
        assert o["cached"] == (o["id"] in finished)
        if o["id"] in finished:
            assert (Path(o["path"]) / "result.json").stat().st_mtime_ns == finished[o["id"]]
    assert all(r["status"] == "finished" for r in _rows(root).values() if r["kind"] == "trivial")


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_kill_stops_a_local_sweep_cleanly(tmp_home, sig):
    root = tmp_home / "runs"
    spec_path = tmp_home / "sweep.yaml"
    spec_path.write_text(yaml.safe_dump({"kind": "trivial", "seconds": 20.0, "sweep": {"seed": [0, 1, 2]}}))
    cli = [sys.executable, "-m", "alignlab.cli", "run", str(spec_path), "--executor", "local", "--workers", "2"]

    def session_with_default_sigint():  # a background child may inherit SIGINT ignored
        os.setsid()
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(cli, env={**os.environ, "ALIGNLAB_RUNS": str(root)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=session_with_default_sigint)
    try:
        deadline = time.time() + 60
        while len([r for r in _rows(root).values() if r["status"] == "running"]) < 2 and time.time() < deadline:
            time.sleep(0.05)
        workers = [r["pid"] for r in _rows(root).values() if r["status"] == "running"]
        if sig == "SIGINT":
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
        else:
            os.kill(proc.pid, signal.SIGTERM)  # `kill PID`: the parent only
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130 and "interrupted" in out and "Traceback" not in out, out
    rows = _rows(root).values()
    assert sorted(r["status"] for r in rows) == ["failed", "failed"]  # the third never started
    assert all(r["error"] == "cancelled (interrupted)" for r in rows)
    time.sleep(0.2)
    for pid in workers:  # no orphaned worker left running
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


_WRITER = """
import sys
from alignlab.store import write_run
root, offset = sys.argv[1], int(sys.argv[2])
for i in range(offset, offset + 40):
    write_run("trivial", {"seed": i, "n": 2, "seconds": 0.0, "fail": False, "allocate_mb": 0},
              {"mean": {"value": 0.5, "lo": 0.4, "hi": 0.6, "n": 2}}, root=root)
"""


def test_two_processes_writing_the_index_at_once(tmp_path):
    root = tmp_path / "runs"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(root), str(k * 1000)], stderr=subprocess.PIPE,
                              text=True) for k in range(2)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    assert not any("not updated" in e for e in errs), errs  # no write lost to a lock
    rows = _index.query(root)
    assert len(rows) == 80 and all(r["status"] == "finished" for r in rows)
    assert _index.integrity(root) == "ok"
    (root / "index.sqlite").unlink()  # the folders are the truth: the index comes back
    for extra in ("-wal", "-shm"):
        Path(f"{root / 'index.sqlite'}{extra}").unlink(missing_ok=True)
    assert rebuild_index(root) == 80 and len(_index.query(root)) == 80


def _records(root: Path) -> dict[str, tuple[dict, dict]]:
    return {p.name: (yaml.safe_load((p / "config.yaml").read_text()), json.loads((p / "result.json").read_text()))
            for p in sorted(root.glob("trivial-*"))}


def test_inline_local_and_ray_give_identical_records(tmp_path):
    pytest.importorskip("ray", reason="pip install 'alignlab[ray]' (make setup installs it)")
    spec = parse_spec({"kind": "trivial", "sweep": {"seed": [0, 1, 2, 3]}})
    records = {}
    for name, options in (("inline", {}), ("local", {"workers": 2}), ("ray", {"num_cpus": 2})):
        result = run_spec(spec, executor=name, root=tmp_path / name, **options)
        assert [o["status"] for o in result.outcomes] == ["finished"] * 4, result.outcomes
        records[name] = _records(tmp_path / name)
        env = json.loads((Path(result.outcomes[0]["path"]) / "env.json").read_text())
        assert env["run"]["executor"] == name
    assert len(records["inline"]) == 4
    assert records["inline"] == records["local"] == records["ray"]


def test_unknown_executor_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="inline, local, ray"):
        run_spec(parse_spec({"kind": "trivial"}), executor="slurm")


def test_importing_alignlab_runtime_loads_neither_ray_nor_torch():
    code = ("import sys, alignlab, alignlab.runtime, alignlab.cli, alignlab.pipeline; "
            "print('ray' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_index_write_retries_when_sqlite_says_locked_and_readers_take_no_write_lock(tmp_path):
    import sqlite3

    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise sqlite3.OperationalError("database is locked")

    _index._retrying(flaky)
    assert len(calls) == 3
    with pytest.raises(sqlite3.OperationalError, match="no such column"):
        _index._retrying(lambda: (_ for _ in ()).throw(sqlite3.OperationalError("no such column: x")))
    # a reader on an index file whose schema is not written yet sees no rows, and writes nothing
    (tmp_path / _index.INDEX_NAME).touch()
    assert _index.query(tmp_path) == [] and _index.lookup(tmp_path, "x") == []
    assert (tmp_path / _index.INDEX_NAME).stat().st_size == 0
    _index.upsert(tmp_path, {"id": "trivial-1", "kind": "trivial", "status": "running", "config": {}})
    assert [r["id"] for r in _index.query(tmp_path)] == ["trivial-1"]


def test_a_persistent_local_executor_keeps_its_workers_between_runs_until_closed(tmp_home):
    """Two batches on one persistent executor run in the same worker processes (a
    campaign's rounds pay for the workers' start once); a plain one starts new ones;
    close() stops them."""
    import re

    from alignlab.runtime import Job, make_executor
    from alignlab.runtime._trivial import TrivialConfig

    root = str(tmp_home / "runs")

    def pids(executor, seeds):
        outs = executor.run([Job("trivial", TrivialConfig(seed=s).model_dump(), root) for s in seeds])
        assert all(o["status"] == "finished" for o in outs), outs
        return {int(re.search(r"\(pid (\d+)\)", Path(o["path"], "log").read_text()).group(1)) for o in outs}

    keep = make_executor("local", workers=2, persistent=True)
    first, second = pids(keep, [1, 2, 3, 4]), pids(keep, [5, 6, 7, 8])
    assert first == second and len(first) <= 2
    workers = [w.process for w in keep._pool]
    keep.close()
    assert workers and not any(p.is_alive() for p in workers)
    plain = make_executor("local", workers=2)
    assert pids(plain, [9, 10]).isdisjoint(pids(plain, [11, 12]))


def test_ray_workers_inherit_what_the_sandbox_hides(monkeypatch):
    """A campaign hides its folder from variants through ALIGNLAB_SANDBOX_HIDE; Ray's
    workers (which do not inherit this process's environment) are given it."""
    from alignlab.runtime._ray import worker_env

    monkeypatch.setenv("ALIGNLAB_SANDBOX_HIDE", "/somewhere/campaign")
    monkeypatch.setenv("ALIGNLAB_SANDBOX", "require")
    env = worker_env()
    assert env["ALIGNLAB_SANDBOX_HIDE"] == "/somewhere/campaign" and env["ALIGNLAB_SANDBOX"] == "require"
    monkeypatch.delenv("ALIGNLAB_SANDBOX_HIDE")
    assert "ALIGNLAB_SANDBOX_HIDE" not in worker_env()
