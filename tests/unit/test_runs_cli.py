"""``alignlab run``, ``runs list|show|compare|kinds`` and ``report`` on trivial runs."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from alignlab.cli import app

runner = CliRunner()


def test_run_then_list_show_compare_and_report(tmp_home):
    spec = tmp_home / "spec.yaml"
    spec.write_text(yaml.safe_dump({"kind": "trivial", "sweep": {"seed": [0, 1], "fail": [False, True]}}))
    out = runner.invoke(app, ["run", str(spec)])
    assert out.exit_code == 1, out.output  # two runs failed on purpose: a non-zero exit, not a traceback
    assert "2 of 4 run(s) failed" in out.output and "sweep record:" in out.output
    root = tmp_home / "runs"
    ids = sorted(p.name for p in root.glob("trivial-*"))
    finished = [i for i in ids if (root / i / "result.json").exists()]
    failed = [i for i in ids if (root / i / "error.json").exists()]
    assert len(finished) == len(failed) == 2

    out = runner.invoke(app, ["runs", "list"])
    assert out.exit_code == 0 and all(i in out.output for i in ids) and "failed" in out.output
    assert "mean=" in out.output  # headline numbers
    out = runner.invoke(app, ["runs", "list", "--status", "failed", "--rebuild"])
    assert out.exit_code == 0 and failed[0] in out.output and finished[0] not in out.output

    out = runner.invoke(app, ["runs", "show", finished[0].split("-")[1][:6]])  # a hash prefix is enough
    assert out.exit_code == 0 and "finished" in out.output and "mean" in out.output and "commit" in out.output
    out = runner.invoke(app, ["runs", "show", failed[0]])
    assert out.exit_code == 0 and "failed on purpose" in out.output

    out = runner.invoke(app, ["runs", "compare", finished[0], finished[1]])
    assert out.exit_code == 0 and "seed" in out.output and "difference" in out.output
    out = runner.invoke(app, ["runs", "compare", finished[0], failed[0]])
    assert out.exit_code == 2 and "did not finish" in out.output

    out = runner.invoke(app, ["report", finished[0]])
    assert out.exit_code == 0 and "report:" in out.output
    page = (root / finished[0] / "report.html").read_text()
    assert "id='provenance'" in page and "mean" in page and "http" not in page.split("</style>")[0]
    assert runner.invoke(app, ["report", failed[0]]).exit_code == 0
    assert "failed on purpose" in (root / failed[0] / "report.html").read_text()
    (sweep,) = root.glob("sweep-*")  # its config.yaml is the spec (kind: trivial): the sweep layout all the same
    assert runner.invoke(app, ["report", sweep.name]).exit_code == 0
    assert "2 of 4 runs finished, 2 failed" in (sweep / "report.html").read_text()

    out = runner.invoke(app, ["runs", "show", "zzzz"])
    assert out.exit_code == 2 and "no run 'zzzz'" in out.output
    out = runner.invoke(app, ["runs", "kinds"])
    assert out.exit_code == 0 and "w2s" in out.output and "pipeline" in out.output


def test_bad_spec_is_one_line_naming_the_field(tmp_home):
    spec = tmp_home / "spec.yaml"
    spec.write_text("kind: trivial\nn: lots\n")
    out = runner.invoke(app, ["run", str(spec)])
    assert out.exit_code == 2 and "n: Input should be a valid integer" in out.output
    assert "Traceback" not in out.output
    spec.write_text("kind: magic\n")
    out = runner.invoke(app, ["run", str(spec)])
    assert out.exit_code == 2 and "valid kinds:" in out.output and "w2s" in out.output
