"""Exclusive locks on folders of the store (a run, an organism build, a prepared model).

One process at a time does the work a folder stands for; another that meets the lock
waits (``wait=True``) or hears who holds it (``FolderBusy``) and moves on. The lock is an
OS file lock (``filelock``, ``flock`` on POSIX) on ``<folder>/.lock``: the kernel drops it
when its holder dies, however it dies, so a SIGKILLed process never leaves a lock
behind. Beside it, ``.lock.json`` says who holds it (pid, host, since) for messages and
for recovering a ``running`` record whose process is gone (``holder_alive``).

Locks are not re-entrant across calls: take one per folder per unit of work.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LOCK_NAME = ".lock"
HOLDER_NAME = ".lock.json"


class FolderBusy(RuntimeError):
    """Another live process holds the folder's lock."""

    def __init__(self, folder: Path, holder: dict[str, Any]):
        self.folder, self.holder = folder, holder
        who = f"pid {holder.get('pid')} on {holder.get('host')}" if holder else "another process"
        super().__init__(f"{folder} is in use by {who}; wait for it to finish (or stop that process)")


def holder(folder: str | Path) -> dict[str, Any]:
    """Who last took the folder's lock (pid, host, since), or ``{}``."""
    try:
        data = json.loads((Path(folder) / HOLDER_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_locked(folder: str | Path) -> bool:
    """Whether a live process holds the folder's lock right now (tried, not guessed)."""
    from filelock import FileLock, Timeout

    path = Path(folder) / LOCK_NAME
    if not path.exists():
        return False
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    lock.release()
    return False


def pid_alive(pid: int | None, host: str | None = None) -> bool | None:
    """True/False for a pid on this host; None when it cannot be told (another host)."""
    if not pid:
        return None
    if host and host != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, ValueError):
        return None
    return True


@contextlib.contextmanager
def folder_lock(folder: str | Path, *, wait: bool = True, timeout: float | None = None) -> Iterator[Path]:
    """Hold ``folder``'s lock for the block (creating the folder). ``wait=False`` raises
    ``FolderBusy`` at once if another process holds it; ``timeout`` bounds the wait."""
    from filelock import FileLock, Timeout

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / LOCK_NAME), timeout=0 if not wait else (-1 if timeout is None else timeout))
    try:
        lock.acquire(poll_interval=0.2)
    except Timeout:
        raise FolderBusy(folder, holder(folder)) from None
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        tmp = folder / f"{HOLDER_NAME}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(info))
        os.replace(tmp, folder / HOLDER_NAME)
        yield folder
    finally:
        lock.release()
