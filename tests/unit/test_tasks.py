"""Tasks: deterministic disjoint grouped splits, fingerprints, templates, user files,
and the built-in tasks' real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError
from typer.testing import CliRunner

from alignlab.data import Example, Task, Template, contrast_tasks, load_task, task_from_file
from alignlab.data._files import DEFAULT_TEMPLATE
from alignlab.errors import DataError, UnknownNameError
from alignlab.names import TaskName


def _bb(*values):
    return pytest.param(*values, marks=pytest.mark.bigbench)


def _task(n=30, groups=False):
    return Task("t", tuple(Example(text=f"x{i}", label=i % 2, group=f"g{i // 2}" if groups else None)
                           for i in range(n)))


def test_split_is_deterministic_disjoint_and_complete():
    task = _task(100)
    a, b, c = task.split(seed=1), task.split(seed=1), task.split(seed=2)
    for x, y in zip(a.as_dict().values(), b.as_dict().values()):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.train, c.train)
    parts = [set(p.tolist()) for p in a.as_dict().values()]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert set().union(*parts) == set(range(100))
    assert (len(a.train), len(a.val), len(a.test)) == (60, 20, 20)


def test_groups_never_straddle_splits():
    task = _task(60, groups=True)
    s = task.split(seed=0)
    owner = {}
    for name, idx in s.as_dict().items():
        for i in idx:
            assert owner.setdefault(task.examples[i].group, name) == name


def test_split_errors():
    with pytest.raises(ValueError, match="summing to 1"):
        _task().split(fractions=(0.5, 0.5, 0.5))
    with pytest.raises(DataError, match="at least 3"):
        _task(2).split()
    with pytest.raises(DataError, match="no examples"):
        Task("empty", ())


def test_fingerprint_tracks_content_and_template():
    task = _task()
    assert task.fingerprint == _task().fingerprint
    assert task.fingerprint != task.with_template(Template(format="Q: {text}")).fingerprint
    assert task.fingerprint != _task(31).fingerprint


def test_subset_is_seeded_and_keeps_groups():
    task = _task(60, groups=True)
    a, b = task.subset(20, seed=3), task.subset(20, seed=3)
    assert [e.text for e in a.examples] == [e.text for e in b.examples]
    assert len(a) == 20 and a.fingerprint != task.fingerprint
    sizes = {}
    for e in a.examples:
        sizes[e.group] = sizes.get(e.group, 0) + 1
    assert set(sizes.values()) == {2}


def test_template_renders_meta_and_validates():
    t = Template(format="Q: {question} A: {text}", choices=(" No", " Yes"))
    assert t.render(Example(text="4", meta={"question": "2+2?"})) == "Q: 2+2? A: 4"
    with pytest.raises(DataError, match="needs field"):
        t.render(Example(text="4"))
    with pytest.raises(ValueError, match="uses no field"):
        Template(format="constant")
    assert Template.model_validate_json(t.model_dump_json()) == t


def test_jsonl_and_csv_with_column_mapping(tmp_path):
    jl = tmp_path / "d.jsonl"
    jl.write_text('{"s": "a", "y": "yes", "k": 1}\n\n{"s": "b", "y": "no", "k": 2}\n')
    task = task_from_file(jl, text="s", label="y", template=Template(format="{text} #{k}"))
    assert task.labels.tolist() == [1, 0] and task.texts() == ["a #1", "b #2"]
    csv = tmp_path / "d.csv"
    csv.write_text("text,label\nhello,pos\nbye,neg\n")
    assert task_from_file(csv, label_map={"pos": 1, "neg": 0}).labels.tolist() == [1, 0]
    yn = tmp_path / "yn.csv"
    yn.write_text("text,label\nhello,yes\nbye,no\n")
    assert load_task(str(yn)).labels.tolist() == [1, 0]


def test_malformed_files_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok", "label": 1}\n{"text": "broken", \n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: malformed JSON"):
        task_from_file(bad)
    nolabel = tmp_path / "nolabel.jsonl"
    nolabel.write_text('{"text": "ok"}\n')
    with pytest.raises(DataError, match=r"nolabel\.jsonl:1: missing label column"):
        task_from_file(nolabel)
    weird = tmp_path / "weird.csv"
    weird.write_text("text,label\nok,maybe\n")
    with pytest.raises(DataError, match=r"weird\.csv:2: column 'label': cannot read 'maybe' as a binary label"):
        task_from_file(weird)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(DataError, match="no rows"):
        task_from_file(empty)
    with pytest.raises(DataError, match="no such file"):
        task_from_file(tmp_path / "missing.jsonl")


def _renamed(tmp_path, suffix):
    """Two true/false pairs in a file whose columns are not text/label/group."""
    rows = [("Paris is in France.", "true", "p1", "geo"), ("Paris is in Peru.", "false", "p1", "geo"),
            ("Ice is cold.", "1", "p2", "phys"), ("Ice is hot.", "0", "p2", "phys")]
    path = tmp_path / f"facts{suffix}"
    if suffix == ".csv":
        path.write_text("statement,is_true,pair_id,topic\n" + "".join(",".join(r) + "\n" for r in rows))
    else:
        path.write_text("".join(json.dumps(dict(zip(("statement", "is_true", "pair_id", "topic"), r))) + "\n"
                                for r in rows))
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_column_mapping_in_a_task_reference(tmp_path, suffix):
    """``path?text=COL&label=COL&group=COL``: the same string for load_task, a spec's
    TaskName and the CLI; the group column becomes Example.group."""
    ref = f"{_renamed(tmp_path, suffix)}?text=statement&label=is_true&group=pair_id"
    assert TypeAdapter(TaskName).validate_python(ref) == ref
    task = load_task(ref)
    assert task.texts() == ["Paris is in France.", "Paris is in Peru.", "Ice is cold.", "Ice is hot."]
    assert task.labels.tolist() == [1, 0, 1, 0] and [e.group for e in task.examples] == ["p1", "p1", "p2", "p2"]
    assert task.examples[0].meta == {"topic": "geo"} and task.name == "facts" and task.n_groups == 2
    assert task.template == DEFAULT_TEMPLATE and task.template.choices == (" False", " True")
    assert load_task(ref).fingerprint == task.fingerprint
    ungrouped = load_task(ref.replace("&group=pair_id", ""))
    assert ungrouped.n_groups == 4 and ungrouped.examples[0].meta["pair_id"] == "p1"


def test_a_file_task_gets_the_default_true_false_template(tmp_path):
    """So `alignlab elicit --task FILE` has contrast pairs; built-in tasks keep their own."""
    task = task_from_file(_renamed(tmp_path, ".csv"), text="statement", label="is_true")
    false_side, true_side = contrast_tasks(task)
    assert true_side.texts([0]) == ["Paris is in France. True"] and false_side.texts([0]) == ["Paris is in France. False"]
    custom = Template(format="Claim: {text}", choices=(" No", " Yes"))
    assert task_from_file(_renamed(tmp_path, ".csv"), text="statement", label="is_true", template=custom).template == custom
    assert task_from_file(_renamed(tmp_path, ".csv"), text="statement", label=None).template.choices is None
    assert load_task("sarcasm").template.choices == (" No", " Yes")


def test_bad_task_references_and_rows_say_file_line_and_column(tmp_path):
    jl, csv = _renamed(tmp_path, ".jsonl"), _renamed(tmp_path, ".csv")
    with pytest.raises(DataError, match=r"facts\.csv:1: missing label column 'truth'"):
        load_task(f"{csv}?text=statement&label=truth")
    with pytest.raises(DataError, match=r"facts\.jsonl:1: missing text column 'text'"):
        load_task(str(jl))
    with pytest.raises(ValidationError, match=r"facts\.csv:1: missing group column 'pair'"):
        TypeAdapter(TaskName).validate_python(f"{csv}?text=statement&label=is_true&group=pair")
    with pytest.raises(DataError, match="unknown column role 'txt'; the roles are text, label, group"):
        load_task(f"{csv}?txt=statement")
    with pytest.raises(DataError, match="'label' is not ROLE=COLUMN"):
        load_task(f"{csv}?text=statement&label")
    with pytest.raises(DataError, match="'text' is given twice"):
        load_task(f"{csv}?text=statement&text=topic")
    bad_label = tmp_path / "bad_label.jsonl"
    bad_label.write_text('{"s": "a", "y": 1}\n{"s": "b", "y": 2}\n')
    with pytest.raises(DataError, match=r"bad_label\.jsonl:2: column 'y': cannot read 2 as a binary label"):
        load_task(f"{bad_label}?text=s&label=y")
    holes = tmp_path / "holes.jsonl"
    holes.write_text('{"s": "a", "y": 1, "g": "x"}\n{"s": "b", "y": 0}\n')
    with pytest.raises(DataError, match=r"holes\.jsonl:2: missing group column 'g'"):
        load_task(f"{holes}?text=s&label=y&group=g")
    blank = tmp_path / "blank.csv"
    blank.write_text("s,y,g\na,1,\n")
    with pytest.raises(DataError, match=r"blank\.csv:2: empty group in column 'g'"):
        load_task(f"{blank}?text=s&label=y&group=g")
    for empty, says in (("empty.csv", "empty CSV"), ("header.csv", "no rows"), ("empty.jsonl", "no rows")):
        (tmp_path / empty).write_text("s,y\n" if empty == "header.csv" else "")
        with pytest.raises(DataError, match=f"{empty}: {says}"):
            load_task(f"{tmp_path / empty}?text=s&label=y")
        with pytest.raises(ValidationError, match=f"{empty}: {says}"):
            TypeAdapter(TaskName).validate_python(f"{tmp_path / empty}?text=s&label=y")


def test_cli_shows_a_mapped_file_task(tmp_path):
    from alignlab.cli import app

    out = CliRunner().invoke(app, ["tasks", "show", f"{_renamed(tmp_path, '.csv')}?text=statement&label=is_true"])
    assert out.exit_code == 0, out.output
    assert "choices: (' False', ' True')" in out.output and "Paris is in France." in out.output


def test_a_bigbench_task_without_bigbench_says_how_to_install_it(bigbench_installed):
    from alignlab.errors import AlignlabError

    if bigbench_installed:
        pytest.skip("bigbench is installed here")
    for name in ("fever", "logical_deduction_objects"):
        with pytest.raises(AlignlabError, match="bigbench-1.0.0.tar.gz .*no longer on PyPI"):
            load_task(name)


def test_unknown_task_lists_builtins():
    with pytest.raises(UnknownNameError, match="Built-in tasks: .*sarcasm"):
        load_task("nope")


# Real data from the installed packages: sizes and balance as documented in DESIGN.md.
@pytest.mark.parametrize("name,n,pos_lo,pos_hi", [
    ("sarcasm", 28614, 0.47, 0.48), _bb("fever", 6612, 0.49, 0.51), _bb("strategyqa", 2290, 0.4, 0.6),
    _bb("sports_understanding", 1000, 0.45, 0.55), _bb("navigate", 1000, 0.4, 0.6),
    _bb("anachronisms", 230, 0.4, 0.6), _bb("misconceptions", 219, 0.4, 0.6), _bb("winowhy", 2865, 0.4, 0.6),
    _bb("epistemic_reasoning", 2000, 0.3, 0.5), _bb("politifact", 400, 0.4, 0.6), ("capitals", None, 0.5, 0.5),
    _bb("truthfulqa", None, 0.2, 0.3), _bb("hhh", 442, 0.5, 0.5),
])
def test_builtin_binary_tasks(name, n, pos_lo, pos_hi):
    task = load_task(name)
    if n is not None:
        assert len(task) == n
    assert pos_lo <= task.labels.mean() <= pos_hi
    assert all(t.strip() for t in task.texts(range(5)))
    assert task.template.choices is not None


def test_builtin_grouped_and_code_tasks(bigbench_installed):
    caps = load_task("capitals")
    assert len(caps) > 400 and len(caps) == 2 * len({e.group for e in caps.examples}) == 2 * caps.n_groups
    assert "The capital of France is Paris." in caps.texts()
    if bigbench_installed:
        tqa = load_task("truthfulqa")
        assert len({e.group for e in tqa.examples}) == 299
    he = load_task("humaneval")
    assert len(he) == 164 and he.kind == "code" and "def " in he.texts([0])[0]
    assert {"test", "entry_point"} <= set(he.examples[0].meta)


@pytest.mark.usefixtures("one_thread")
def test_cli_elicit_runs_on_a_file_task_without_a_template(tmp_home):
    """Before the default template this ended in 'task has no template choices'."""
    from alignlab.cli import app

    data = tmp_home / "claims.csv"
    data.write_text("claim,verdict,pair\n" + "".join(f"Item {i} is even.,{'yes' if i % 2 == 0 else 'no'},p{i // 2}\n"
                                                   for i in range(60)))
    args = ["elicit", "--model", "tiny-bert", "--task", f"{data}?text=claim&label=verdict&group=pair",
            "--n-items", "40", "--methods", "logistic,zeroshot"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "claims" in out.output and "zeroshot" in out.output
