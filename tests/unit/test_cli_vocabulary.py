"""One CLI vocabulary: every command that runs an experiment takes ``--runs``,
``--threads`` and ``--force`` with one meaning; ``--seed`` is a value; ``--force`` runs
again (through the same runtime path as ``alignlab run``) and replaces the record only
when the new one is written."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from alignlab.cli import app

runner = CliRunner()
EXPERIMENTS = [("w2s",), ("w2s", "sweep"), ("elicit",), ("probe-sweep",), ("pipeline",), ("audit",),
               ("debate", "pixels"), ("debate", "sweep"), ("run",)]


def _command(path: tuple[str, ...]):
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]  # a group's own options are those of its callback (``w2s``)
    return cmd


def _options(path) -> set[str]:
    return {opt for p in _command(path).params if p.param_type_name == "option" and not p.hidden for opt in p.opts}


@pytest.mark.parametrize("path", EXPERIMENTS, ids=" ".join)
def test_every_experiment_command_speaks_one_vocabulary(path):
    opts = _options(path)
    assert {"--runs", "--threads", "--force"} <= opts, (path, sorted(opts))
    assert not {"--n", "--root", "--runs-dir", "--seeds"} & opts, (path, sorted(opts))


def test_runs_folder_option_is_the_same_everywhere():
    for path in [("runs", "list"), ("runs", "show"), ("runs", "compare"), ("report",), ("demo",)]:
        assert "--runs" in _options(path) and "--root" not in _options(path), path
    assert {"--threads", "--force"} <= _options(("organisms", "build"))
    assert "--force" in _options(("models", "prepare"))


def _headers(run_dir) -> int:
    """How many times a run executed: execute writes one '=== ' line to its log per start."""
    return sum(line.startswith("=== ") for line in (run_dir / "log").read_text().splitlines())


def test_force_runs_again_and_replaces_the_record(tmp_home, one_thread):
    spec = tmp_home / "spec.yaml"
    spec.write_text("kind: trivial\nseed: 3\n")
    runs = tmp_home / "elsewhere"
    assert runner.invoke(app, ["run", str(spec), "--runs", str(runs)]).exit_code == 0
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    first = (run_dir / "result.json").stat().st_mtime_ns
    assert runner.invoke(app, ["run", str(spec), "--runs", str(runs)]).exit_code == 0
    assert _headers(run_dir) == 1  # cached
    out = runner.invoke(app, ["run", str(spec), "--runs", str(runs), "--force"])
    assert out.exit_code == 0, out.output
    assert _headers(run_dir) == 2 and (run_dir / "result.json").stat().st_mtime_ns > first
    assert not (tmp_home / "runs").exists()  # --runs, not $ALIGNLAB_RUNS


def test_w2s_force_recomputes_through_the_run_function(tmp_home, one_thread):
    data = tmp_home / "toy.jsonl"
    data.write_text("\n".join(json.dumps({"text": f"{'up' if i % 2 else 'down'} {i}", "label": i % 2})
                              for i in range(60)))
    args = ["w2s", "--weak", "tiny-bert", "--strong", "tiny-llama", "--task", str(data), "--method", "xent",
            "--seed", "0,1", "--n-examples", "60", "--threads", "1"]
    assert runner.invoke(app, args).exit_code == 0
    (run_dir,) = (tmp_home / "runs").glob("w2s-*")
    before = json.loads((run_dir / "result.json").read_text())
    assert runner.invoke(app, args).exit_code == 0 and _headers(run_dir) == 1
    out = runner.invoke(app, [*args, "--force"])
    assert out.exit_code == 0, out.output
    assert _headers(run_dir) == 2  # w2s's own find_run did not hand back the old record
    after = json.loads((run_dir / "result.json").read_text())
    assert after["summary"] == before["summary"]  # same config, same seeds: same numbers
