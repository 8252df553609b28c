"""The model registry: names, clear errors, sha256 refusal, damaged prepared folders."""

from __future__ import annotations

import json

import pytest

from alignlab.errors import AlignlabError, IntegrityError, MissingPackageError, UnknownNameError
from alignlab.models import REGISTRY, get_entry, load_model, read_prepared, resolve_dtype
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
    with pytest.raises(AlignlabError, match="no model folder"):
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
