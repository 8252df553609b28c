"""The CLI calls the same library functions the tests call; the probe sweep runs end to
end on a tiny model and a user task, writing a run record and a plot."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from alignlab.cli import app

runner = CliRunner()


def test_tasks_and_models_listing():
    out = runner.invoke(app, ["tasks", "list"], env={"COLUMNS": "200"})
    assert out.exit_code == 0 and "sarcasm" in out.output and "humaneval" in out.output
    sarcasm = next(line for line in out.output.splitlines() if "│ sarcasm" in line)
    assert "not installed" not in sarcasm  # evals is installed by make setup; bigbench may not be
    import importlib.util

    fever = next(line for line in out.output.splitlines() if "│ fever" in line)
    assert ("not installed" in fever) == (importlib.util.find_spec("bigbench") is None)
    out = runner.invoke(app, ["models", "list"])
    assert out.exit_code == 0 and "smollm2-135m" in out.output


def test_user_errors_are_one_line_and_exit_2():
    out = runner.invoke(app, ["models", "prepare", "nope"])
    assert out.exit_code == 2 and "unknown model 'nope'" in out.output and "Traceback" not in out.output
    out = runner.invoke(app, ["tasks", "show", "missing.jsonl"])
    assert out.exit_code == 2 and "no such file" in out.output


def test_probe_sweep_end_to_end_on_tiny_model(tmp_home):
    data = tmp_home / "toy.jsonl"
    rows = [{"text": ("good " if i % 2 else "bad ") * (1 + i % 3) + f"item {i}", "label": i % 2} for i in range(60)]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    args = ["probe-sweep", "--models", "tiny-llama,tiny-bert", "--task", str(data), "--n-examples", "60"]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "majority" in out.output and "plot:" in out.output and "best layer by validation" in out.output  # (rich wraps titles at 80 columns)
    run_dirs = [p for p in (tmp_home / "runs").iterdir() if p.is_dir()]  # (index.sqlite beside them)
    assert len(run_dirs) == 1
    result = json.loads((run_dirs[0] / "result.json").read_text())
    assert set(result["sweeps"]) == {"tiny-llama", "tiny-bert"}
    sweep = result["sweeps"]["tiny-llama"]
    assert sweep["n_test"] == 10 and sweep["n_train"] == 40 and sweep["best_layer_selected_on"] == "val"
    assert (run_dirs[0] / "probe_accuracy_by_layer.png").stat().st_size > 10_000
    # The cache now holds both models' activations; a re-run hits it.
    out = runner.invoke(app, ["cache", "ls"])
    assert out.exit_code == 0 and "2 entries" in out.output
    assert runner.invoke(app, args).exit_code == 0
    assert "2 entries" in runner.invoke(app, ["cache", "ls"]).output


def test_invalid_options_name_the_field_without_traceback(tmp_home):  # a failed run is recorded: not in ./runs
    tmp_path = tmp_home
    cases = [
        (["probe-sweep", "--pooling", "max"], "pooling"),
        (["w2s", "--n-examples", "5"], "n_examples"),
        (["debate", "pixels", "--search", "minimax", "--k", "6"], "k <= 3"),
        (["debate", "pixels", "--images", "100000"], "test split has"),
    ]
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("k: [unclosed\n")
    cases.append((["debate", "pixels", "--config", str(bad_yaml)], "cannot read the debate config"))
    a_list = tmp_path / "list.yaml"
    a_list.write_text("- seeds\n- 3\n")  # valid YAML, not a mapping of fields
    cases.append((["pipeline", "--config", str(a_list)], "expected a YAML mapping"))
    for args, expected in cases:
        out = runner.invoke(app, args)
        assert out.exit_code == 2, (args, out.output)
        assert expected in out.output and "Traceback" not in out.output, (args, out.output)
