"""Which compute dtype a run used, as reports and results documents say it.

Records written before the dtype was recorded (issue 12) ran in bf16: alignlab then
loaded every model in bf16 whatever the CPU, so that is what they say.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_BEFORE = "bfloat16 (before the dtype was recorded: alignlab then always ran bf16)"


def dtype_of(env: dict[str, Any]) -> str:
    """'float32 on AVX2' from a run's env.json (see ``_BEFORE`` for older records)."""
    if "compute_dtype" not in env:
        return _BEFORE
    cpu = env.get("cpu_capability")
    return f"{env['compute_dtype']}" + (f" on {env.get('device', 'cpu')} ({cpu})" if cpu else "")


def dtype_note(run_dirs: Iterable[str | Path]) -> str:
    """One line for a results document: the compute dtypes of these runs, with counts."""
    counts: Counter[str] = Counter()
    for run_dir in run_dirs:
        path = Path(run_dir) / "env.json"
        env = json.loads(path.read_text()) if path.exists() else {}
        counts[dtype_of(env)] += 1
    if not counts:
        return "- Compute dtype: no runs."
    parts = [f"{what}: {n} run{'s' if n > 1 else ''}" for what, n in counts.most_common()]
    return "- Compute dtype (from each run's env.json): " + "; ".join(parts) + "."
