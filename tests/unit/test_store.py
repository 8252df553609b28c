"""The activation cache: hits do no model work, any change misses, damage is detected
and rebuilt, interrupted writes leave nothing."""

from __future__ import annotations

import json

import pytest
import torch

import alignlab.models._extract as extract_mod
from alignlab.activations import task_activations
from alignlab.data import Example, Task, Template
from alignlab.store import ActivationKey, ActivationStore


@pytest.fixture
def task():
    examples = tuple(Example(text=f"item number {i}", label=i % 2) for i in range(12))
    return Task("toy", examples, Template(format="Q: {text}"))


def test_hit_does_no_model_work(tmp_path, tiny_llama, task, calls):
    store = ActivationStore(tmp_path)
    first = task_activations(tiny_llama, task, layers=[0, 2], store=store, progress=False)
    n_after_first = calls["n"]
    assert n_after_first > 0
    second = task_activations(tiny_llama, task, layers=[0, 2], store=store, progress=False)
    assert calls["n"] == n_after_first
    torch.testing.assert_close(first, second)
    assert len(store.ls()) == 1


@pytest.mark.parametrize("change", ["layers", "pooling", "template", "rows", "max_length"])
def test_any_change_misses(tmp_path, tiny_llama, task, calls, change):
    store = ActivationStore(tmp_path)
    base = dict(layers=[0], pooling="last", indices=None, max_length=512)
    task_activations(tiny_llama, task, store=store, progress=False, **base)
    n = calls["n"]
    other = dict(base)
    t = task
    if change == "template":
        t = task.with_template(Template(format="Statement: {text}"))
    else:
        other[change] = {"layers": [1], "pooling": "mean", "rows": None, "max_length": 8}[change]
        if change == "rows":
            other.pop("rows")
            other["indices"] = [3, 1, 2]
    task_activations(tiny_llama, t, store=store, progress=False, **other)
    assert calls["n"] > n
    assert len(store.ls()) == 2


def _key(**kw) -> ActivationKey:
    base = dict(model_digest="m", task_fingerprint="t", rows="all", template="{text}",
                layers=(0,), pooling="last", dtype="float32", max_length=512)
    return ActivationKey(**{**base, **kw})


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete_shard", "bad_manifest"])
def test_damaged_entry_is_detected_and_dropped(tmp_path, damage, caplog):
    store = ActivationStore(tmp_path)
    key = _key()
    path = store.put(key, torch.randn(10, 1, 4))
    shard = next(path.glob("shard-*.safetensors"))
    if damage == "truncate":
        shard.write_bytes(shard.read_bytes()[:-7])
    elif damage == "flip":
        data = bytearray(shard.read_bytes())
        data[-1] ^= 0xFF
        shard.write_bytes(bytes(data))
    elif damage == "delete_shard":
        shard.unlink()
    else:
        (path / "manifest.json").write_text("{not json")
    assert store.get(key) is None
    assert "damaged" in caplog.text
    assert not path.exists()  # dropped, so the next request recomputes


def test_recompute_after_damage(tmp_path, tiny_llama, task, calls):
    store = ActivationStore(tmp_path)
    first = task_activations(tiny_llama, task, layers=[1], store=store, progress=False)
    shard = next(store.ls()[0].path.glob("shard-*"))
    shard.write_bytes(b"garbage")
    n = calls["n"]
    again = task_activations(tiny_llama, task, layers=[1], store=store, progress=False)
    assert calls["n"] > n
    torch.testing.assert_close(first, again)


def test_interrupted_put_leaves_no_entry(tmp_path, monkeypatch):
    import safetensors.torch

    store = ActivationStore(tmp_path)
    key = _key()

    def die(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", die)
    with pytest.raises(KeyboardInterrupt):
        store.put(key, torch.randn(3, 1, 4))
    assert store.get(key) is None and store.ls() == []
    assert list(tmp_path.iterdir()) == []


def test_multi_shard_roundtrip_and_clear(tmp_path, monkeypatch):
    import alignlab.store._activations as acts_mod

    monkeypatch.setattr(acts_mod, "_SHARD_BYTES", 64)  # 4 rows of 4 float32 per shard
    store = ActivationStore(tmp_path)
    x = torch.randn(10, 1, 4)
    path = store.put(_key(), x, labels={"model": "m"})
    meta = json.loads((path / "manifest.json").read_text())
    assert [s["rows"] for s in meta["shards"]] == [4, 4, 2]
    torch.testing.assert_close(store.get(_key()), x)
    assert store.ls()[0].labels == {"model": "m"}
    assert store.clear() == 1 and store.ls() == []


def test_key_roundtrips_and_forbids_extras():
    key = _key(layers=(1, 2))
    assert ActivationKey.model_validate_json(key.model_dump_json()) == key
    assert _key().digest != _key(dtype="bfloat16").digest
    with pytest.raises(ValueError):
        ActivationKey(**{**key.model_dump(), "extra": 1})


def test_interrupted_extraction_leaves_no_entry_and_next_run_recomputes(tmp_path, tiny_llama, task, monkeypatch):
    store = ActivationStore(tmp_path)
    real = extract_mod.capture

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt  # the user interrupts while the model is running

    monkeypatch.setattr(extract_mod, "capture", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        task_activations(tiny_llama, task, layers=[0], store=store, progress=False)
    assert store.ls() == [] and not any(tmp_path.iterdir())
    monkeypatch.setattr(extract_mod, "capture", real)
    acts = task_activations(tiny_llama, task, layers=[0], store=store, progress=False)
    assert acts.shape == (len(task), 1, tiny_llama.d_model) and len(store.ls()) == 1
