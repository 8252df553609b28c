"""Unlabelled natural text for dictionary learning (sparse autoencoders).

    >>> from alignlab.data import text_corpus
    >>> corpus = text_corpus()               # every document, deduplicated, in a fixed order
    >>> train = corpus.documents("train")    # ~95 %; "heldout" is the rest

Documents are the natural-language passages that OpenAI's ``evals`` package ships as
prompts (the same installed package the sarcasm task reads; never imported): web text
(OpenWebText) and Wikipedia passages, fables, paper abstracts, consensus statements,
GPT-written and human essays, news headlines. Only the passage a row is about is taken —
a chat row's user message, a Schelling-point row's original text (its key ``"0"``; the
other keys are shuffled copies) — never a system prompt or an answer. Exact duplicates
are dropped (``mix.jsonl`` repeats the other two files).

The held-out part is chosen by a hash of each document's text, so it does not move when
a source is added or reordered, and no document is in both parts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from alignlab.errors import DataError

Part = Literal["train", "heldout"]
HELDOUT_PER_MILLE = 50
"""Documents whose text hashes below this (of 1000) are held out: ~5 %."""

_EVALS = "pip install --no-deps evals==3.0.1.post1"
SOURCES: tuple[tuple[str, str], ...] = (
    ("owt", "schelling_point/owt_5.jsonl"),
    ("wikipedia", "schelling_point/wikipedia_5.jsonl"),
    ("owt+wikipedia", "schelling_point/mix.jsonl"),
    ("fables", "parable-to-moral-match/parable-to-moral-match-en.jsonl"),
    ("abstracts", "abstract2title/samples.jsonl"),
    ("consensus", "consensus_summary/samples.jsonl"),
    ("essays", "GPT-model-text-detection/samples.jsonl"),
    ("headlines", "sarcasm/samples.jsonl"),
)
"""(name, path under evals' ``registry/data``): natural English prose only — the package's
ciphers, mazes, matrices and number lists would teach a dictionary their own syntax."""
MIN_CHARS = 20


def _passages(row: dict) -> list[str]:
    """The passage(s) a row is about: its original text, or its user messages."""
    if "0" in row:
        return [row["0"]]
    messages = row.get("input")
    if isinstance(messages, list):
        return [m["content"] for m in messages if isinstance(m, dict) and m.get("role") == "user"
                and isinstance(m.get("content"), str)]
    return []


def part_of(text: str) -> Part:
    """Which part a document belongs to, from its text alone."""
    h = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % 1000
    return "heldout" if h < HELDOUT_PER_MILLE else "train"


@dataclass(frozen=True)
class Corpus:
    """Deduplicated documents with their source names, in a fixed order."""

    texts: tuple[str, ...]
    sources: tuple[str, ...]
    fingerprint: str
    """sha256 over every document (texts and order): a cache key for what is built from it."""
    counts: dict[str, int] = field(default_factory=dict)

    def documents(self, part: Part) -> list[str]:
        if part not in ("train", "heldout"):
            raise DataError(f"corpus part {part!r}: expected 'train' or 'heldout'")
        return [t for t in self.texts if part_of(t) == part]


@cache
def text_corpus() -> Corpus:
    """The shipped corpus (read once per process)."""
    from alignlab.models._sources import package_dir

    root = package_dir("evals", _EVALS) / "registry" / "data"
    seen: set[str] = set()
    texts: list[str] = []
    sources: list[str] = []
    counts: dict[str, int] = {}
    for name, relpath in SOURCES:
        path = root / relpath
        if not path.exists():
            raise DataError(f"{path} is missing; reinstall with: {_EVALS}")
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                passages = _passages(json.loads(line))
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{lineno}: not JSON ({err}); reinstall with: {_EVALS}") from None
            for text in passages:
                text = text.strip()
                if len(text) >= MIN_CHARS and text not in seen:
                    seen.add(text)
                    texts.append(text)
                    sources.append(name)
                    counts[name] = counts.get(name, 0) + 1
    digest = hashlib.sha256()
    for text in texts:
        digest.update(hashlib.sha256(text.encode()).digest())
    return Corpus(tuple(texts), tuple(sources), digest.hexdigest()[:24], counts)
