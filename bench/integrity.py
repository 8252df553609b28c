"""Benchmark: what verifying prepared weights by content costs.

For each prepared model: the bytes of its weight files; reading them (the baseline: no
check can be cheaper than reading every byte once); hashing them (sha256, what a full
check and ``alignlab doctor`` do), as a ratio to the read; and the check a new process
does when the files are unchanged (the remembered stamp: a stat per file), timed inside
a fresh interpreter so nothing is memoised in this one.

Writes ``bench/results/integrity-<UTC time>.json``.

    python bench/integrity.py [--models smollm2-135m,gemma3-270m,minilm-l6]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from _record import write_record

from alignlab.machine import machine_record

_CHILD = """
import json, time, sys
from alignlab.models import read_prepared
t = time.perf_counter(); read_prepared(sys.argv[1]); print(json.dumps(time.perf_counter() - t))
"""


def _read_all(files: list[Path]) -> float:
    start = time.perf_counter()
    for f in files:
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass
    return time.perf_counter() - start


def measure(name: str) -> dict:
    from alignlab.models import read_prepared
    from alignlab.models._weights import weight_files
    from alignlab.store import sha256_file

    prepared = read_prepared(name)  # verified (and remembered) before timing anything
    files = weight_files(prepared.path)
    size = sum(f.stat().st_size for f in files)
    _read_all(files)  # page cache warm: both timings below read from memory
    read_s = min(_read_all(files) for _ in range(3))
    hash_s = min(_timed(lambda: [sha256_file(f) for f in files]) for _ in range(3))
    child = [json.loads(subprocess.run([sys.executable, "-c", _CHILD, name], capture_output=True, text=True,
                                       check=True).stdout) for _ in range(3)]
    return {"model": name, "bytes": size, "files": len(files), "read_s": read_s, "hash_s": hash_s,
            "hash_over_read": hash_s / read_s, "hash_gb_per_s": size / hash_s / 1e9,
            "new_process_check_s": min(child)}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m,minilm-l6")
    args = parser.parse_args()
    rows = [measure(m.strip()) for m in args.models.split(",") if m.strip()]
    for r in rows:
        print(f"{r['model']}: {r['bytes'] / 1e9:.2f} GB; read {r['read_s']:.2f} s, sha256 {r['hash_s']:.2f} s "
              f"({r['hash_over_read']:.1f}x the read, {r['hash_gb_per_s']:.2f} GB/s); unchanged files in a new "
              f"process: {1000 * r['new_process_check_s']:.1f} ms")
    out = write_record("integrity", {"benchmark": "integrity", "time": datetime.now(timezone.utc).isoformat(),
                                     "machine": machine_record(), "rows": rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
