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


@pytest.fixture(scope="session")
def tiny_llama():
    from alignlab.models import load_model

    return load_model("tiny-llama", dtype="float32", device="cpu")
