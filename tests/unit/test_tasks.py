"""Tasks: deterministic disjoint grouped splits, fingerprints, templates, user files,
and the built-in tasks' real data."""

from __future__ import annotations

import numpy as np
import pytest

from alignlab.data import Example, Task, Template, load_task, task_from_file
from alignlab.errors import DataError, UnknownNameError


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
    with pytest.raises(DataError, match=r"weird\.csv:2: cannot read 'maybe'"):
        task_from_file(weird)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(DataError, match="no rows"):
        task_from_file(empty)
    with pytest.raises(DataError, match="no such file"):
        task_from_file(tmp_path / "missing.jsonl")


def test_unknown_task_lists_builtins():
    with pytest.raises(UnknownNameError, match="Built-in tasks: .*sarcasm"):
        load_task("nope")


# Real data from the installed packages: sizes and balance as documented in DESIGN.md.
@pytest.mark.parametrize("name,n,pos_lo,pos_hi", [
    ("sarcasm", 28614, 0.47, 0.48), ("fever", 6612, 0.49, 0.51), ("strategyqa", 2290, 0.4, 0.6),
    ("sports_understanding", 1000, 0.45, 0.55), ("navigate", 1000, 0.4, 0.6),
    ("anachronisms", 230, 0.4, 0.6), ("misconceptions", 219, 0.4, 0.6), ("winowhy", 2865, 0.4, 0.6),
    ("epistemic_reasoning", 2000, 0.3, 0.5), ("politifact", 400, 0.4, 0.6), ("capitals", None, 0.5, 0.5),
    ("truthfulqa", None, 0.2, 0.3), ("hhh", 442, 0.5, 0.5),
])
def test_builtin_binary_tasks(name, n, pos_lo, pos_hi):
    task = load_task(name)
    if n is not None:
        assert len(task) == n
    assert pos_lo <= task.labels.mean() <= pos_hi
    assert all(t.strip() for t in task.texts(range(5)))
    assert task.template.choices is not None


def test_builtin_grouped_and_code_tasks():
    caps = load_task("capitals")
    assert len(caps) > 400 and len(caps) == 2 * len({e.group for e in caps.examples}) == 2 * caps.n_groups
    assert "The capital of France is Paris." in caps.texts()
    tqa = load_task("truthfulqa")
    assert len({e.group for e in tqa.examples}) == 299
    he = load_task("humaneval")
    assert len(he) == 164 and he.kind == "code" and "def " in he.texts([0])[0]
    assert {"test", "entry_point"} <= set(he.examples[0].meta)
