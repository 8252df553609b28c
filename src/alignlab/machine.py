"""What this machine is, for records: every benchmark record and ``alignlab doctor``
carry it, so a number is never read without the CPU kind and dtype it was measured on.

    >>> from alignlab.machine import machine_record
    >>> machine_record()["compute_dtype"]      # 'float32' on an AVX2-only CPU
"""

from __future__ import annotations

import os
import platform
from typing import Any


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "Model")):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_record(device: str | None = None) -> dict[str, Any]:
    """Platform, CPU model and capability, cores, torch threads and version, the load
    average, and the compute dtype ``auto`` picks here and why (imports torch)."""
    import torch

    from alignlab.errors import AlignlabError
    from alignlab.models import default_device, dtype_record

    device = device or default_device()
    record: dict[str, Any] = {
        "platform": platform.platform(), "cpu": cpu_model(), "cpus": os.cpu_count(),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "device": device,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }
    if device.startswith("cuda"):
        record["gpu"] = torch.cuda.get_device_name(device)
    try:
        record.update(dtype_record(device))
    except AlignlabError as err:  # a bad $ALIGNLAB_DTYPE: said, not fatal to a record
        record.update(compute_dtype=None, dtype_error=str(err))
    record["cpu_capability"] = torch.backends.cpu.get_cpu_capability()  # also on a GPU machine
    return record
