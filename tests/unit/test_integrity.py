"""Weights verified by content: a prepared model whose bytes changed in place (same size)
is refused with the repair command; nothing cached for the good weights is served for
changed ones; each file is hashed once per version (remembered by its stamp across
processes), fully re-hashed by the doctor; one prepare at a time."""

from __future__ import annotations

import json
import os
import shutil
import threading

import pytest
import torch

import alignlab.models._weights as weights_mod
from alignlab.activations import task_activations
from alignlab.data import Example, Task, Template
from alignlab.errors import WeightsMismatchError
from alignlab.models import load_model, prepare, read_prepared
from alignlab.models._prepare import MANIFEST, prepared_dir
from alignlab.store import ActivationStore, sha256_file

NAME = "tiny-prepared"


@pytest.fixture
def builds(tmp_home, fake_prepared):
    """A registered model whose "dequantize" step writes tiny-llama; counts the builds
    (each 0.3 s: long enough for a second, unlocked prepare to start building too)."""
    return fake_prepared(NAME, delay_s=0.3)


@pytest.fixture
def hashes(monkeypatch):
    """Counts how many times a file is really read and hashed."""
    counter = {"n": 0}
    real = weights_mod._hash

    def counting(path):
        counter["n"] += 1
        return real(path)

    monkeypatch.setattr(weights_mod, "_hash", counting)
    return counter


@pytest.fixture
def task():
    return Task("toy", tuple(Example(text=f"item number {i}", label=i % 2) for i in range(6)),
                Template(format="Q: {text}"))


def _weights_file(folder=None):
    return (folder or prepared_dir(NAME)) / "model.safetensors"


def _flip_sign(file, keep_mtime: bool = False) -> None:
    """Negate every mlp.down_proj in place, keeping the file's size (and, optionally, mtime)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save

    before = file.stat()
    with safe_open(str(file), "pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(file))
    flipped = [k for k in tensors if "mlp.down_proj" in k]
    assert flipped
    for k in flipped:
        tensors[k] = -tensors[k]
    data = save(tensors, metadata=metadata)
    assert len(data) == before.st_size
    with open(file, "r+b") as f:  # overwrite the bytes in place: same inode, same size
        f.write(data)
    after = file.stat()
    assert after.st_size == before.st_size and after.st_ino == before.st_ino  # same size, same file
    if keep_mtime:
        os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert file.stat().st_mtime_ns == before.st_mtime_ns


def test_manifest_records_a_sha256_per_weight_file(builds):
    ready = prepare(NAME)
    meta = json.loads((ready.path / MANIFEST).read_text())
    assert meta["files"] == {"model.safetensors": sha256_file(_weights_file())}
    assert ready.weights_sha256 == meta["weights_sha256"] == meta["files"]["model.safetensors"]


def test_same_size_edit_is_refused_with_the_repair_command(builds):
    good = load_model(NAME, dtype="float32")
    _flip_sign(_weights_file())
    with pytest.raises(WeightsMismatchError) as err:
        load_model(NAME, dtype="float32")
    message = str(err.value)
    assert str(_weights_file()) in message and f"alignlab models prepare {NAME} --force" in message
    assert "\n" not in message  # the CLI prints it as one line
    assert builds["n"] == 1  # refused, not silently rebuilt
    prepare(NAME, force=True)
    assert load_model(NAME, dtype="float32").digest == good.digest


def test_edit_with_mtime_put_back_is_still_caught(builds):
    # os.utime can restore mtime but not ctime, which is in the stamp.
    load_model(NAME, dtype="float32")
    _flip_sign(_weights_file(), keep_mtime=True)
    with pytest.raises(WeightsMismatchError, match="--force"):
        read_prepared(NAME)


def test_cache_for_good_weights_is_never_served_for_changed_ones(builds, task, tmp_path, calls):
    store = ActivationStore(tmp_path / "acts")
    good = load_model(NAME, dtype="float32")
    good_acts = task_activations(good, task, layers=[2], store=store, progress=False)
    n_good = calls["n"]
    assert n_good > 0

    _flip_sign(_weights_file())
    with pytest.raises(WeightsMismatchError):
        load_model(NAME, dtype="float32")
    # The changed bytes reached by path (the prepared folder itself) are keyed by their own
    # content: computed afresh, never served the good model's activations.
    bad = load_model(str(prepared_dir(NAME)), dtype="float32")
    assert bad.digest != good.digest
    n = calls["n"]
    bad_acts = task_activations(bad, task, layers=[2], store=store, progress=False)
    assert calls["n"] > n and not torch.allclose(bad_acts, good_acts)
    # ... and the same bytes elsewhere are the same model: content, not path, is the key.
    shutil.copytree(prepared_dir(NAME), tmp_path / "copy")
    copy = load_model(str(tmp_path / "copy"), dtype="float32")
    n = calls["n"]
    assert copy.digest == bad.digest
    torch.testing.assert_close(task_activations(copy, task, layers=[2], store=store, progress=False), bad_acts)
    assert calls["n"] == n

    prepare(NAME, force=True)  # repaired: the good digest again, and its cache is a hit
    repaired = load_model(NAME, dtype="float32")
    assert repaired.digest == good.digest
    n = calls["n"]
    torch.testing.assert_close(task_activations(repaired, task, layers=[2], store=store, progress=False), good_acts)
    assert calls["n"] == n


def test_edited_local_folder_is_another_model(tmp_path, tmp_home):  # tmp_home: the stamp record is not the real one
    lm = load_model("tiny-llama", dtype="float32")
    lm.model.save_pretrained(tmp_path / "m")
    lm.tokenizer.save_pretrained(tmp_path / "m")
    before = load_model(str(tmp_path / "m"), dtype="float32").digest
    _flip_sign(_weights_file(tmp_path / "m"))
    after = load_model(str(tmp_path / "m"), dtype="float32").digest
    assert before != after and after == sha256_file(_weights_file(tmp_path / "m"))


def test_each_version_of_a_file_is_hashed_once_across_processes(builds, hashes):
    prepare(NAME)
    n_build = hashes["n"]
    assert n_build == 1  # hashed once while building; the rename keeps its stamp
    read_prepared(NAME)
    assert hashes["n"] == n_build
    weights_mod._MEMO.clear()  # a second process: only the stamp record on disk
    read_prepared(NAME)
    assert hashes["n"] == n_build
    os.utime(_weights_file())  # touched: a new version as far as anyone can tell cheaply
    read_prepared(NAME)
    assert hashes["n"] == n_build + 1
    read_prepared(NAME)
    assert hashes["n"] == n_build + 1
    read_prepared(NAME, full=True)  # the doctor's check reads every byte regardless
    assert hashes["n"] == n_build + 2


def test_doctor_full_check_catches_what_the_stamp_trusts(builds):
    from alignlab.doctor import _models

    prepare(NAME)
    good = sha256_file(_weights_file())
    _flip_sign(_weights_file())
    # Bytes changed under an unchanged stamp (a failing disk): forge the record to say so.
    record = weights_mod._stamps_path()
    st = _weights_file().stat()
    stamps = {str(_weights_file().resolve()): {"stamp": list(weights_mod._stamp(st)), "sha256": good}}
    record.write_text(json.dumps({"version": 1, "files": stamps}))
    weights_mod._MEMO.clear()
    assert read_prepared(NAME).weights_sha256 == good  # the stamp is trusted
    rows, check = _models(verify=False)
    assert next(r for r in rows if r["name"] == NAME)["prepared"] is True and not check["full"]
    rows, check = _models(verify=True)
    row = next(r for r in rows if r["name"] == NAME)
    assert row["prepared"] == "damaged" and f"alignlab models prepare {NAME} --force" in row["fix"]
    assert check["full"] and check["seconds"] >= 0


def test_manifest_without_per_file_hashes_is_checked_whole(builds):
    prepare(NAME)
    manifest = prepared_dir(NAME) / MANIFEST
    meta = json.loads(manifest.read_text())
    del meta["files"]  # as written before per-file hashes
    manifest.write_text(json.dumps(meta))
    assert read_prepared(NAME).weights_sha256 == meta["weights_sha256"]
    _flip_sign(_weights_file())
    with pytest.raises(WeightsMismatchError, match=r"model\.safetensors does not match.*--force"):
        read_prepared(NAME)


def test_concurrent_prepares_build_once(builds):
    results, errors = [], []

    def run():
        try:
            results.append(prepare(NAME))
        except Exception as err:  # noqa: BLE001 - any failure in a thread is reported below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 2
    assert builds["n"] == 1  # the second waited on the lock, then found it prepared
    assert results[0].weights_sha256 == results[1].weights_sha256


def test_a_model_without_a_digest_is_never_cached(tiny_llama, task, tmp_path):
    from pydantic import ValidationError

    from alignlab.models import LoadedModel
    from alignlab.store import ActivationKey

    subject = LoadedModel("subject", tiny_llama.model, tiny_llama.tokenizer, digest="", arch="causal")
    store = ActivationStore(tmp_path)
    acts = task_activations(subject, task, layers=[1], store=store, progress=False)
    assert acts.shape[0] == len(task) and store.ls() == []
    with pytest.raises(ValidationError):
        ActivationKey(model_digest="", task_fingerprint="t", rows="all", template="{text}", layers=(1,),
                      pooling="last", dtype="float32", max_length=8)
