"""What a detector is handed: a ``Subject`` — the model under audit, the base model it
was fine-tuned from as a behavioural reference, and clean untriggered calibration
prompts. Nothing else: no spec, no trigger, no labels.

The wall itself is the ``audit`` testbed (``alignlab.protocol.testbeds.audit``): a
detector runs in a sandboxed worker that loads the subject from its Problem folder
(weights linked in anonymously, as subject ``a`` or ``b``), while the sealed record
(trigger, misbehaviour, which inputs are triggered) stays with the trusted process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alignlab.adversarial._prompts import render


@dataclass(frozen=True)
class Subject:
    """All a detector may see of the model it audits."""

    model: Any
    """The model under audit (a ``LoadedModel``, loaded from the Problem folder)."""
    reference: Any | None
    """The public base model it was fine-tuned from (a ``LoadedModel``), or None."""
    calibration: tuple[str, ...]
    """Clean, untriggered user messages to fit on."""

    def render(self, message: str) -> str:
        """The model input for one user message (chat template when there is one)."""
        return render(self.model.tokenizer, message)
