"""Run records are atomic and self-describing; intervals behave at the edges."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alignlab.stats import bootstrap_ci, mean_ci, wilson
from alignlab.store import atomic_write_text, write_run
from alignlab.store._runs import load_run


def test_write_and_load_run(tmp_path):
    rec = write_run("demo", {"a": 1, "t": (1, 2)}, {"acc": 0.5}, root=tmp_path)
    assert rec.path.name.startswith("demo-")
    env = json.loads((rec.path / "env.json").read_text())
    assert {"git", "packages", "python"} <= set(env)
    loaded = load_run(rec.path)
    assert loaded.config == {"a": 1, "t": [1, 2]} and loaded.result == {"acc": 0.5}
    assert write_run("demo", {"a": 1, "t": [1, 2]}, {}, root=tmp_path).path == rec.path
    assert write_run("demo", {"a": 2}, {}, root=tmp_path).path != rec.path


def test_record_names_the_commit_and_whether_tracked_files_differ(tmp_path, monkeypatch):
    import subprocess

    from alignlab.store import active_run, run_path

    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "f.txt").write_text("one\n")
    subprocess.run([*git, "add", "f.txt"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "one"], cwd=repo, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    monkeypatch.chdir(repo)
    assert json.loads((write_run("demo", {"a": 1}, {}, root=tmp_path / "runs").path / "env.json")
                      .read_text())["git"] == {"commit": head, "dirty": False}
    path = run_path("demo", {"a": 2}, tmp_path / "runs")
    with active_run(path, "inline"):  # git asked when the run starts: an edit during it is not the run's code
        (repo / "f.txt").write_text("two\n")
        env = json.loads((write_run("demo", {"a": 2}, {}, root=tmp_path / "runs").path / "env.json").read_text())
    assert env["git"]["commit"] == head and env["run"]["executor"] == "inline"
    assert json.loads((write_run("demo", {"a": 3}, {}, root=tmp_path / "runs").path / "env.json")
                      .read_text())["git"] == {"commit": head, "dirty": True}
    monkeypatch.chdir(tmp_path)  # not a repository
    assert json.loads((write_run("demo", {"a": 4}, {}, root=tmp_path / "runs").path / "env.json")
                      .read_text())["git"] == {"commit": None, "dirty": None}


def test_results_are_strict_json(tmp_path):
    rec = write_run("demo", {"a": 1}, {"pgr": float("nan"), "xs": [1.0, float("inf")], "v": np.float32(0.5)},
                    root=tmp_path)
    assert rec.result == {"pgr": None, "xs": [1.0, None], "v": 0.5}
    assert load_run(rec.path).result == rec.result
    assert "NaN" not in (rec.path / "result.json").read_text()


def test_unfinished_run_is_refused(tmp_path):
    rec = write_run("demo", {"a": 1}, {"acc": 0.5}, root=tmp_path)
    (rec.path / "result.json").unlink()
    with pytest.raises(FileNotFoundError, match="did not finish"):
        load_run(rec.path)


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    import os

    target = tmp_path / "f.txt"
    atomic_write_text(target, "old")

    def fail(*a):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_wilson_edges_and_known_value():
    assert wilson(0, 10).lo == 0 and wilson(10, 10).hi == 1
    est = wilson(81, 100)
    assert est.lo == pytest.approx(0.7222, abs=1e-3) and est.hi == pytest.approx(0.8751, abs=1e-3)
    with pytest.raises(ValueError):
        wilson(0, 0)


def test_mean_and_bootstrap_intervals():
    e = mean_ci([1.0, 2.0, 3.0])
    assert e.value == 2 and e.lo < 2 < e.hi and e.n == 3
    assert np.isnan(mean_ci([0.7]).lo)  # one value: no interval (issue 14), not a zero-width one
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    b = bootstrap_ci(lambda a: a.mean(), y)
    assert b.lo < y.mean() < b.hi and b.hi - b.lo < 0.15


def test_find_run_sees_finished_runs_only(tmp_path):
    from alignlab.store import find_run, run_path

    assert find_run("demo", {"a": 1}, tmp_path) is None
    rec = write_run("demo", {"a": 1}, {"acc": 0.5}, root=tmp_path)
    assert run_path("demo", {"a": 1}, tmp_path) == rec.path
    assert find_run("demo", {"a": 1}, tmp_path).result == {"acc": 0.5}
    (rec.path / "result.json").unlink()
    assert find_run("demo", {"a": 1}, tmp_path) is None


def test_accuracy_ci_widens_for_clustered_items():
    import numpy as np

    from alignlab.stats import accuracy_ci, wilson

    rng = np.random.default_rng(0)
    per_group = rng.random(50) < 0.7  # 50 groups, each answered all-right or all-wrong
    correct = np.repeat(per_group, 4)  # 200 items, 4 per group
    groups = np.repeat(np.arange(50), 4)
    flat = accuracy_ci(correct)  # as if independent
    clustered = accuracy_ci(correct, groups)
    assert flat == wilson(int(correct.sum()), 200)
    assert clustered.value == flat.value and clustered.n == 200 and "50 groups" in clustered.method
    assert (clustered.hi - clustered.lo) > 1.6 * (flat.hi - flat.lo)  # ~ sqrt(4) wider
    assert accuracy_ci(correct, np.arange(200)) == flat  # singleton groups: Wilson
