"""Where every benchmark's record goes: ``bench/results/<name>-<UTC time>.json``, with
the machine it ran on (CPU model and capability, compute dtype and why) always in it.

Imported by the bench scripts as ``from _record import write_record`` (a script's own
folder is first on ``sys.path``)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def write_record(name: str, record: dict[str, Any]) -> Path:
    """Write ``record`` (adding ``machine`` if it has none) and return its path."""
    if "machine" not in record:
        from alignlab.machine import machine_record

        record = {**record, "machine": machine_record()}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    return out
