"""Detectors of misalignment, one file each, under one registry keyed by name.

Each is a scikit-learn estimator (see ``_base.Detector``): fitted only on data without
triggers, ``anomaly_score`` per input with higher = more suspicious.

- ``defection_probe``: linear probe from generic yes/no contrast pairs (simple probes).
- ``activation_anomaly``: Mahalanobis / PCA residual against clean calibration activations.
- ``behaviour_search``: black box; behaviour gap to the base model, and a search over
  generic candidate triggers that reports what it found.
- ``trigger_occlusion``: our own; the reply's sensitivity to deleting one input span.
- ``shared_text``: the shortcut baseline; text an input shares with the others, no model.
"""

from __future__ import annotations

from typing import Any

from alignlab.adversarial.detectors._base import Detector
from alignlab.adversarial.detectors.activation_anomaly import ActivationAnomaly
from alignlab.adversarial.detectors.behaviour_search import BehaviourSearch
from alignlab.adversarial.detectors.defection_probe import DefectionProbe
from alignlab.adversarial.detectors.shared_text import SharedText
from alignlab.adversarial.detectors.trigger_occlusion import TriggerOcclusion
from alignlab.errors import AlignlabError
from alignlab.protocol import Registry

DETECTORS: Registry[Detector] = Registry("detector")
"""Every detector class by name (``DETECTORS[name]`` is the class)."""
DETECTORS.register("defection_probe", DefectionProbe)
DETECTORS.register("activation_anomaly", ActivationAnomaly)
DETECTORS.register("behaviour_search", BehaviourSearch)
DETECTORS.register("trigger_occlusion", TriggerOcclusion)
DETECTORS.register("shared_text", SharedText)


def register_detector(name: str, *, description: str = ""):
    """Register a detector class under ``name`` (a decorator); a duplicate name raises."""
    return DETECTORS.register(name, description=description)


def make_detector(name: str, **params: Any) -> Detector:
    """A fresh detector by name; ``params`` override its defaults (recorded via get_params,
    and as the reference ``.ref``)."""
    accepted = DETECTORS.get(name).params_model().model_fields  # an unknown name lists the known ones
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise AlignlabError(f"detector {name!r} has no parameter(s) {unknown}; it takes {sorted(accepted)}")
    return DETECTORS.create({"name": name, "params": params})


__all__ = ["DETECTORS", "ActivationAnomaly", "BehaviourSearch", "DefectionProbe", "Detector", "SharedText", "TriggerOcclusion",
           "make_detector", "register_detector"]
