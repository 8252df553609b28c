"""The model registry: names, model references (folders, missing paths, hub ids), clear
errors, sha256 refusal, damaged prepared folders. Weights integrity: test_integrity.py."""

from __future__ import annotations

import json
import shutil

import pytest

from alignlab.errors import (
    AlignlabError,
    IntegrityError,
    MissingPackageError,
    MissingPathError,
    NotAModelError,
    UnknownNameError,
)
from alignlab.models import REGISTRY, get_entry, load_model, model_reference, read_prepared, resolve_dtype
from alignlab.models._prepare import prepared_dir
from alignlab.models._sources import ConcatenatedChunks, GGUFInPackage, verify_sha256


def test_registry_has_the_offline_zoo():
    assert {"smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "minilm-l6"} <= set(REGISTRY)
    assert get_entry("minilm-l6").arch == "encoder"


def test_unknown_model_lists_known_names():
    with pytest.raises(UnknownNameError, match="Known names: smollm2-135m.*tiny-llama"):
        load_model("gpt-17")


def test_bad_dtype_and_missing_folder_are_clear(tmp_path):
    with pytest.raises(AlignlabError, match="unknown dtype 'fp8'"):
        load_model("tiny-llama", dtype="fp8")
    with pytest.raises(MissingPathError, match="no such folder: .*nothing-here"):
        load_model(str(tmp_path / "nothing-here"))


def test_missing_package_gives_install_command(tmp_path):
    src = GGUFInPackage("no_such_module_xyz", "m.gguf", "0" * 64, "pip install no-such-package==1.0")
    assert not src.is_installed()
    with pytest.raises(MissingPackageError, match="pip install no-such-package==1.0"):
        src.materialize(tmp_path)
    chunks = ConcatenatedChunks(("no-such-dist-part1",), "m.gguf", "0" * 64, "make qwen")
    with pytest.raises(MissingPackageError, match="make qwen"):
        chunks.materialize(tmp_path)


def test_sha256_mismatch_refuses_and_names_file(tmp_path):
    f = tmp_path / "weights.gguf"
    f.write_bytes(b"not the real weights")
    with pytest.raises(IntegrityError, match=r"sha256 mismatch for .*weights\.gguf"):
        verify_sha256(f, "0" * 64)


def test_damaged_prepared_folder_is_reported(tmp_home):
    folder = prepared_dir("smollm2-135m")
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"x" * 10)
    (folder / "alignlab.json").write_text(json.dumps({"weights_sha256": "ab", "size_bytes": 999}))
    with pytest.raises(IntegrityError, match="missing or truncated.*--force"):
        read_prepared("smollm2-135m")


def test_unprepared_is_none(tmp_home):
    assert read_prepared("gemma3-270m") is None


def test_tiny_models_are_deterministic():
    a, b = load_model("tiny-gemma3", dtype="float32"), load_model("tiny-gemma3", dtype="float32")
    assert a.digest == b.digest and a.digest != load_model("tiny-llama").digest
    for (_, p), (_, q) in zip(a.model.named_parameters(), b.model.named_parameters()):
        assert (p == q).all()
    assert load_model("tiny-llama").dtype == resolve_dtype("auto")  # the capability rule's pick


def test_local_folder_loads_with_weights_digest(tmp_path):
    lm = load_model("tiny-llama", dtype="float32")
    lm.model.save_pretrained(tmp_path / "m")
    lm.tokenizer.save_pretrained(tmp_path / "m")
    again = load_model(str(tmp_path / "m"), dtype="float32")
    assert again.arch == "causal" and len(again.digest) == 64
    for (_, p), (_, q) in zip(lm.model.named_parameters(), again.model.named_parameters()):
        assert (p == q).all()


@pytest.fixture
def saved_tiny(tmp_path, monkeypatch):
    """tiny-llama saved as mymodels/foo under a working directory of its own."""
    lm = load_model("tiny-llama", dtype="float32")
    lm.model.save_pretrained(tmp_path / "mymodels" / "foo")
    lm.tokenizer.save_pretrained(tmp_path / "mymodels" / "foo")
    monkeypatch.chdir(tmp_path)
    return lm


@pytest.mark.parametrize("ref", ["mymodels/foo", "./mymodels/foo", "mymodels/foo/", "ABS"])
def test_an_existing_folder_loads_however_it_is_written(saved_tiny, tmp_path, ref):
    ref = str(tmp_path / "mymodels" / "foo") if ref == "ABS" else ref
    assert model_reference(ref) == ("folder", tmp_path / "mymodels" / "foo")
    lm = load_model(ref, dtype="float32")
    assert lm.arch == "causal" and lm.digest == load_model("mymodels/foo", dtype="float32").digest


@pytest.mark.parametrize("ref", ["mymodels/bar", "./mymodel", "mymodels/foo/bar", "~/no-such-alignlab-folder/x",
                                 "no/such/place"])
def test_a_missing_path_is_reported_as_missing_not_tried_as_a_hub_id(saved_tiny, ref):
    with pytest.raises(MissingPathError, match="no such folder") as err:
        load_model(ref, dtype="float32")
    assert "huggingface" not in str(err.value).lower() and "\n" not in str(err.value)


def test_a_hub_id_is_still_a_hub_id_and_fails_clearly_offline(saved_tiny):
    assert model_reference("someorg/somemodel") == ("hub", "someorg/somemodel")
    with pytest.raises(AlignlabError, match="as a Hugging Face id.*registered model") as err:
        load_model("someorg/somemodel", dtype="float32")
    assert not isinstance(err.value, MissingPathError) and "\n" not in str(err.value)


def test_a_folder_that_is_not_a_model_says_what_is_missing(saved_tiny, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotAModelError, match="no config.json and no weights"):
        load_model("empty")
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text("{}")
    with pytest.raises(NotAModelError, match="has no weights"):
        load_model("cfg")
    shutil.copy(tmp_path / "mymodels" / "foo" / "model.safetensors", tmp_path / "cfg")
    with pytest.raises(NotAModelError, match="cannot read the config of .*model_type") as err:
        load_model("cfg")  # a config.json transformers cannot read: one line, not a raw ValueError
    assert "\n" not in str(err.value)
    with pytest.raises(NotAModelError, match="is a file, not a model folder"):
        load_model("mymodels/foo/config.json")


def test_a_hub_model_in_the_local_cache_is_keyed_by_its_files(saved_tiny, tmp_path, monkeypatch):
    import huggingface_hub.constants

    from alignlab.store import sha256_file

    repo = tmp_path / "hub" / "models--someorg--tiny"
    shutil.copytree(tmp_path / "mymodels" / "foo", repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    lm = load_model("someorg/tiny", dtype="float32")
    # Content, not the id: the old "hf-" + hash(id, commit) read a commit transformers 5 no longer sets.
    assert lm.digest == sha256_file(repo / "snapshots" / "abc123" / "model.safetensors")
    assert lm.digest == load_model("mymodels/foo", dtype="float32").digest
