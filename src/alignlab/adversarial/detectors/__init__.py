"""Detectors of misalignment, one file each, under one registry keyed by name.

Each is a scikit-learn estimator (see ``_base.Detector``): fitted only on data without
triggers, ``anomaly_score`` per input with higher = more suspicious.

- ``defection_probe``: linear probe from generic yes/no contrast pairs (simple probes).
- ``activation_anomaly``: Mahalanobis / PCA residual against clean calibration activations.
- ``behaviour_search``: black box; behaviour gap to the base model, and a search over
  generic candidate triggers that reports what it found.
- ``trigger_occlusion``: our own; the reply's sensitivity to deleting one input span.
"""

from __future__ import annotations

from typing import Any

from alignlab.adversarial.detectors._base import Detector
from alignlab.adversarial.detectors.activation_anomaly import ActivationAnomaly
from alignlab.adversarial.detectors.behaviour_search import BehaviourSearch
from alignlab.adversarial.detectors.defection_probe import DefectionProbe
from alignlab.adversarial.detectors.trigger_occlusion import TriggerOcclusion
from alignlab.errors import AlignlabError, UnknownNameError

DETECTORS: dict[str, type[Detector]] = {}


def register_detector(name: str):
    """Register a detector class under ``name``; a duplicate name raises."""

    def deco(cls: type[Detector]) -> type[Detector]:
        if name in DETECTORS:
            raise ValueError(f"duplicate detector name {name!r}")
        DETECTORS[name] = cls
        return cls

    return deco


for _name, _cls in (("defection_probe", DefectionProbe), ("activation_anomaly", ActivationAnomaly),
                    ("behaviour_search", BehaviourSearch), ("trigger_occlusion", TriggerOcclusion)):
    register_detector(_name)(_cls)


def make_detector(name: str, **params: Any) -> Detector:
    """A fresh detector by name; ``params`` override its defaults (recorded via get_params)."""
    try:
        cls = DETECTORS[name]
    except KeyError:
        raise UnknownNameError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}") from None
    unknown = set(params) - set(cls().get_params())
    if unknown:
        raise AlignlabError(f"detector {name!r} has no parameter(s) {sorted(unknown)}; "
                            f"it takes {sorted(cls().get_params())}")
    return cls(**params)


__all__ = ["DETECTORS", "ActivationAnomaly", "BehaviourSearch", "DefectionProbe", "Detector", "TriggerOcclusion",
           "make_detector", "register_detector"]
