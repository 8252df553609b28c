"""The compute dtype: chosen by what the hardware does natively, never assumed.

bf16 halves memory and, where the hardware has it natively, runs 3-4x faster than fp32
(CUDA since Ampere; CPUs with AVX512-BF16 or AMX). Where it does not, it is emulated and
far slower: on a 2-core AVX2-only EPYC a bf16 matmul ran at 1.2 GFLOP/s against 67 in
fp32, and SmolLM2 extraction at 45 against 328 tok/s. So ``"auto"`` (the default of every
dtype alignlab chooses) means:

1. ``$ALIGNLAB_DTYPE`` when set (``auto``, ``bfloat16``, ``float32`` or ``float16``);
2. CUDA: bf16 where the GPU supports it, else fp32 (fp16 overflows in Gemma's residual
   stream, so it is never picked for you);
3. a CPU whose flags are readable (x86 Linux): bf16 with ``avx512_bf16`` or ``amx_bf16``,
   fp32 without — the flags decide, nothing is timed;
4. any other CPU (an ARM laptop, flags unreadable): a sub-second matmul probe of both
   dtypes, bf16 only if it is clearly faster; the answer is cached per machine under
   ``$ALIGNLAB_HOME/machine/`` (a corrupt file is re-probed, never trusted).

An explicit dtype in a config or call always wins; one the device cannot run at all
is a one-line error before any model is loaded.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from typing import Literal

from alignlab.errors import AlignlabError

log = logging.getLogger(__name__)

DType = Literal["auto", "bfloat16", "float32", "float16"]
DTYPES = ("bfloat16", "float32", "float16")
_NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# bf16 is picked by the probe only when clearly faster: at equal speed fp32 is more exact.
_PROBE_MIN_SPEEDUP = 1.5
_PROBE_VERSION = 1


@dataclass(frozen=True)
class DTypeChoice:
    """What ``auto`` resolves to on a device, and why (``alignlab doctor`` shows it)."""

    dtype: str
    device: str
    reason: str
    cpu_capability: str | None = None
    probe: dict | None = None
    """Measured GFLOP/s of both dtypes, when a probe decided."""


def resolve_dtype(dtype: str | None = "auto", device: str | None = None) -> str:
    """The concrete dtype name for ``dtype`` on ``device`` (see the module docstring).

    Raises ``AlignlabError`` for an unknown name (from a config or ``$ALIGNLAB_DTYPE``)
    or a dtype the device cannot run.
    """
    from alignlab.models._load import default_device

    device = device or default_device()
    dtype = dtype or "auto"
    if dtype == "auto":
        dtype = _env_dtype() or auto_dtype(device).dtype
    elif dtype not in DTYPES:
        raise AlignlabError(f"unknown dtype {dtype!r}; choose auto, bfloat16, float32 or float16")
    _check_runnable(dtype, device)
    return dtype


def _env_dtype() -> str | None:
    raw = os.environ.get("ALIGNLAB_DTYPE", "").strip()
    if raw in ("", "auto"):
        return None
    if raw not in DTYPES:
        raise AlignlabError(f"ALIGNLAB_DTYPE={raw!r}: choose auto, bfloat16, float32 or float16 (or unset it)")
    return raw


def auto_dtype(device: str | None = None) -> DTypeChoice:
    """What the capability rule picks on ``device`` (ignores ``$ALIGNLAB_DTYPE``)."""
    from alignlab.models._load import default_device

    return _auto_dtype(device or default_device())


@functools.lru_cache(maxsize=8)
def _auto_dtype(device: str) -> DTypeChoice:
    if device == "cpu" and (flags := cpu_flags()) is not None:  # decided without importing torch (seconds)
        native = [f for f in _NATIVE_BF16_FLAGS if f in flags]
        if native:
            return DTypeChoice("bfloat16", device, f"CPU has native bf16 ({', '.join(native)})", _capability())
        return DTypeChoice("float32", device, f"CPU has no native bf16 (capability {_capability()}; "
                           "no avx512_bf16/amx_bf16 flag): bf16 would be emulated, many times slower", _capability())
    import torch

    if device.startswith("cuda"):
        if torch.cuda.is_bf16_supported():
            return DTypeChoice("bfloat16", device, "CUDA device with bf16 support")
        return DTypeChoice("float32", device, "CUDA device without bf16 (fp16 is never picked: it overflows)")
    if device != "cpu":  # mps, xpu, ...: no rule of ours; the exact dtype is the safe one
        return DTypeChoice("float32", device, f"no capability rule for device {device!r}")
    capability = torch.backends.cpu.get_cpu_capability()
    probe = probe_matmul()
    faster = probe["bfloat16_gflops"] >= _PROBE_MIN_SPEEDUP * probe["float32_gflops"]
    return DTypeChoice("bfloat16" if faster else "float32", device,
                       f"matmul probe: bf16 {probe['bfloat16_gflops']:.0f} vs fp32 {probe['float32_gflops']:.0f} "
                       f"GFLOP/s (bf16 needs {_PROBE_MIN_SPEEDUP}x)", capability, probe)


@functools.lru_cache(maxsize=1)
def _capability() -> str:
    """torch's CPU capability (e.g. AVX2): from the flags where they tell, since importing
    torch to ask costs seconds; torch's own answer otherwise."""
    flags = cpu_flags() or set()
    for name, needs in (("AVX512", {"avx512f", "avx512bw", "avx512vl", "avx512dq"}), ("AVX2", {"avx2", "fma"})):
        if needs <= flags:
            return name
    import torch

    return torch.backends.cpu.get_cpu_capability()


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags from ``/proc/cpuinfo`` on x86 Linux; None elsewhere
    (ARM's cpuinfo names bf16 differently and not on every kernel: the probe decides)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return None


def matmul_gflops(dtype: str, seconds: float = 0.25, m: int = 512, k: int = 1024, n: int = 1024) -> float:
    """Best GFLOP/s of an (m, k) @ (k, n) CPU matmul in ``dtype`` over ~``seconds``
    (forward-pass-shaped by default: 512 tokens through a 1024-wide layer)."""
    import torch

    a = torch.randn(m, k).to(getattr(torch, dtype))
    b = torch.randn(k, n).to(getattr(torch, dtype))
    a @ b  # warm-up: kernel selection, thread pool start
    best, deadline, runs = 0.0, time.perf_counter() + seconds, 0
    while runs < 2 or (time.perf_counter() < deadline and runs < 200):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * m * k * n / (time.perf_counter() - t) / 1e9)
        runs += 1
        if runs == 1 and time.perf_counter() - t > seconds:  # 50x-slow emulation: one more is enough
            deadline = 0.0
    return best


def _probe_key() -> dict:
    import torch

    from alignlab.machine import cpu_model

    return {"version": _PROBE_VERSION, "machine": platform.machine(), "cpu": cpu_model(), "node": platform.node(),
            "torch": torch.__version__, "capability": torch.backends.cpu.get_cpu_capability()}


def probe_matmul(refresh: bool = False) -> dict:
    """fp32 and bf16 CPU matmul rates, measured once per machine and cached under
    ``$ALIGNLAB_HOME/machine/dtype-probe.json``; a corrupt or foreign file is re-probed."""
    from alignlab.paths import home
    from alignlab.store import atomic_write_text

    path = home() / "machine" / "dtype-probe.json"
    key = _probe_key()
    if not refresh and path.exists():
        try:
            cached = json.loads(path.read_text())
            if cached["key"] == key and all(float(cached[d]) > 0 for d in ("float32_gflops", "bfloat16_gflops")):
                return cached
        except (ValueError, KeyError, TypeError) as err:
            log.warning("ignoring unreadable dtype probe %s (%s); measuring again", path, err)
    result = {"key": key, "float32_gflops": matmul_gflops("float32"), "bfloat16_gflops": matmul_gflops("bfloat16"),
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    atomic_write_text(path, json.dumps(result, indent=1))
    return result


@functools.lru_cache(maxsize=16)
def _check_runnable(dtype: str, device: str) -> None:
    """A tiny matmul in ``dtype`` on ``device``: refused here, with advice, rather than
    deep inside a forward pass."""
    if device == "cpu" and dtype == "float32":
        return  # always runs; no need to import torch to show it
    import torch

    if device.startswith("cuda") and dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
        raise AlignlabError(f"{device} cannot run bfloat16; use dtype float32 (or auto)")
    try:
        x = torch.ones(4, 4, dtype=getattr(torch, dtype), device=device)
        (x @ x).sum().item()
    except (RuntimeError, TypeError) as err:
        raise AlignlabError(f"{device} cannot run {dtype} ({str(err).splitlines()[0]}); use dtype auto "
                            "or float32") from None
    if device == "cpu" and dtype == "bfloat16" and auto_dtype("cpu").dtype != "bfloat16":
        log.warning("bfloat16 on a CPU without native bf16 is emulated and many times slower than float32 "
                    "(%s); dtype auto picks float32 here", auto_dtype("cpu").reason)


def dtype_record(device: str | None = None) -> dict:
    """What a run or benchmark record says about the dtype ``auto`` means here."""
    choice = auto_dtype(device)
    return {"compute_dtype": resolve_dtype("auto", choice.device), "auto_dtype": choice.dtype,
            "dtype_reason": choice.reason, "cpu_capability": choice.cpu_capability,
            **({"dtype_probe": {k: choice.probe[k] for k in ("float32_gflops", "bfloat16_gflops")}}
               if choice.probe else {})}

