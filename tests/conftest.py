"""Shared fixtures. Unit tests get a private ALIGNLAB_HOME and runs folder; integration
tests reuse the real home so a prepared model is built once per machine."""

from __future__ import annotations

import os

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
