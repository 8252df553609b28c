"""``diagnose()``: what a user checks first, and what to do about anything missing.

The machine (device, CPU model and capability, fp32 and bf16 matmul rates measured
now), the dtype and threads alignlab will use and why, the offline models (installed?
prepared? weights intact: re-hashed against their manifests, about a second per GB,
unless ``verify=False``), the caches and their sizes, and the optional tools: Chromium
(the report's browser test) and a sandbox for model-written code (bubblewrap).
``alignlab doctor`` prints it on one screen, or as JSON.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any


def _folder_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size  # links (cold-bench homes) not followed
            except OSError:
                pass
    return total


def _models(verify: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A row per registered model, and what checking the weights cost: ``verify``
    re-hashes every prepared weight file against its manifest (about 1 s per GB, so
    1–3 s for the default zoo); without it a file unchanged since its last check (same
    stamp) is trusted."""
    import time

    from alignlab.errors import AlignlabError
    from alignlab.models import REGISTRY, read_prepared

    out, checked, t0 = [], 0, time.perf_counter()
    for entry in REGISTRY.values():
        row: dict[str, Any] = {"name": entry.name, "installed": entry.source.is_installed(),
                               "in_tests": entry.in_tests, "prepared": False}
        if not row["installed"]:
            row["fix"] = entry.source.install
        else:
            try:
                ready = read_prepared(entry.name, full=verify)
            except AlignlabError as err:
                row.update(prepared="damaged", fix=f"alignlab models prepare {entry.name} --force ({err})")
            else:
                row["prepared"] = ready is not None
                if ready is None:
                    row["fix"] = f"alignlab models prepare {entry.name} (or let first use do it)"
                else:
                    row["size_bytes"] = ready.size_bytes
                    checked += ready.size_bytes
        out.append(row)
    check = {"full": verify, "bytes": checked, "seconds": round(time.perf_counter() - t0, 2)}
    return out, check


def _caches() -> dict[str, Any]:
    from alignlab.paths import home, runs_dir

    root = home()
    sizes = {p.name: _folder_bytes(p) for p in sorted(root.iterdir()) if p.is_dir()} if root.is_dir() else {}
    runs = runs_dir()
    return {"home": str(root), "sizes": sizes, "runs": str(runs.resolve()),
            "runs_bytes": _folder_bytes(runs) if runs.is_dir() else 0,
            "free_bytes": shutil.disk_usage(root if root.exists() else Path.home()).free}


def _tools() -> dict[str, Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    bwrap = shutil.which("bwrap")
    return {
        "chromium": {"path": chromium, "fix": None if chromium else
                     "make browser (apt-get install -y chromium): the report's browser test needs it"},
        "sandbox": {"path": bwrap, "fix": None if bwrap else
                    "no bubblewrap (bwrap) to isolate model-written code (no network, read-only files): "
                    "apt-get install -y bubblewrap"},
    }


def diagnose(measure: bool = True, verify: bool = True) -> dict[str, Any]:
    """Everything ``alignlab doctor`` shows, as plain data; ``measure`` times an fp32
    and a bf16 matmul now (about a second; the bf16 one is slow where it is emulated);
    ``verify`` re-hashes every prepared model's weights against its manifest (about a
    second per GB; without it, files unchanged since their last check are trusted)."""
    import torch

    from alignlab.errors import AlignlabError
    from alignlab.machine import machine_record
    from alignlab.models._dtype import matmul_gflops
    from alignlab.threads import env_threads

    machine = machine_record()
    report: dict[str, Any] = {"machine": machine}
    if measure:
        report["matmul_gflops"] = {d: round(matmul_gflops(d), 1) for d in ("float32", "bfloat16")}
    report["threads"] = {"torch": torch.get_num_threads(), "cpus": os.cpu_count(),
                         "policy": "all for extraction, generation and training; 1 for small fits"}
    try:
        report["threads"]["ALIGNLAB_THREADS"] = env_threads()
    except AlignlabError as err:
        report["threads"].update(ALIGNLAB_THREADS=None, error=str(err))
    report["models"], report["weights_check"] = _models(verify)
    report["caches"] = _caches()
    report["tools"] = _tools()
    report["todo"] = _todo(report)
    return report


def _todo(report: dict[str, Any]) -> list[str]:
    todo = [f"{m['name']}: {m['fix']}" for m in report["models"] if m.get("fix") and m["in_tests"]]
    todo += [t["fix"] for t in report["tools"].values() if t["fix"]]
    rates = report.get("matmul_gflops")
    machine = report["machine"]
    todo += [e for e in (machine.get("dtype_error"), report["threads"].get("error")) if e]
    if rates and machine["compute_dtype"] == "bfloat16" and rates["bfloat16"] < rates["float32"]:
        todo.append(f"bf16 is in force but measured slower than fp32 here ({rates['bfloat16']} vs "
                    f"{rates['float32']} GFLOP/s): unset ALIGNLAB_DTYPE, or set it to float32")
    if machine.get("load_average") and machine["load_average"][0] > (machine["cpus"] or 1):
        todo.append(f"load average {machine['load_average'][0]} exceeds {machine['cpus']} cores: timings will be "
                    "slow and noisy; ALIGNLAB_THREADS=1 can help")
    if report["caches"]["free_bytes"] < 8 * 2**30:
        todo.append(f"{report['caches']['free_bytes'] / 2**30:.1f} GB free: a fresh setup needs about 6 GB, "
                    "the default pipeline's caches a few more")
    return todo
