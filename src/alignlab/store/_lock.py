"""Exclusive locks on folders of the store (a run, an organism build, the run index).

One process at a time does the work a folder stands for; another that meets the lock
waits (``wait=True``) or hears who holds it (``FolderBusy``) and moves on. The lock is an
OS lock (``flock``) on ``<folder>/.lock``: the kernel drops it when its holder dies,
however it dies, so a SIGKILLed process never leaves a lock behind, and "is it locked?"
is answered by trying, never guessed from a pid. Beside it, ``.lock.json`` says who took
it last (pid, host, since), for messages and for runs started before locks existed.

Why ``flock`` itself rather than a library: its semantics are the contract here. A
``flock`` belongs to one open file description, so closing another descriptor of the
same file (``is_locked`` probing it) never releases it, as a POSIX ``fcntl`` lock would;
the descriptor is close-on-exec, so a program the holder starts does not inherit it.

A filesystem without ``flock`` (Lustre mounted without ``-o flock``, some FUSE mounts)
cannot give this guarantee: there the lock is skipped with a warning, the work goes on
as it did before locks, and ``is_locked`` answers None (cannot tell).

Re-entrant within one thread: a thread that holds a folder's lock may take it again
(``execute`` holds a run's lock while the run's own ``write_run`` takes it), and the
folder stays locked until the outermost block ends. Two threads of one process exclude
each other like two processes do.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
LOCK_NAME = ".lock"
HOLDER_NAME = ".lock.json"
POLL_S = 0.1

# (resolved folder, thread id) -> [descriptor, depth]: the locks this process holds.
_HELD: dict[tuple[str, int], list[int]] = {}
_HELD_GUARD = threading.Lock()


class FolderBusy(RuntimeError):
    """Another live process (or thread) holds the folder's lock."""

    def __init__(self, folder: Path, holder: dict[str, Any]):
        self.folder, self.holder = folder, holder
        super().__init__(f"{folder} is in use by {describe(holder)}; wait for it to finish (or stop that process)")


def describe(holder: dict[str, Any]) -> str:
    """``pid N on HOST`` for a holder record, or ``another process``."""
    return f"pid {holder.get('pid')} on {holder.get('host')}" if holder else "another process"


def holder(folder: str | Path) -> dict[str, Any]:
    """Who last took the folder's lock (pid, host, since), or ``{}``."""
    try:
        data = json.loads((Path(folder) / HOLDER_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _key(folder: Path) -> str:
    return str(folder.resolve())


def is_locked(folder: str | Path) -> bool | None:
    """Whether a live process holds the folder's lock right now (tried, not guessed;
    True also when this process holds it); None where the filesystem has no locks."""
    folder = Path(folder)
    key = _key(folder)
    with _HELD_GUARD:
        if any(k == key for k, _ in _HELD):
            return True
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # no lock file: never locked
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # no flock on this filesystem
        return None
    finally:
        os.close(fd)  # closing releases the probe's own lock, never another's (flock semantics)
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


def _acquire(fd: int, folder: Path, wait: bool, timeout: float | None,
             on_wait: Callable[[dict[str, Any]], None] | None) -> None:
    """``flock`` ``fd``, polling (so Ctrl-C and a timeout interrupt the wait)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not wait or (deadline is not None and time.monotonic() >= deadline):
                raise FolderBusy(folder, holder(folder)) from None
        except OSError as err:  # ENOSYS, EOPNOTSUPP, ENOLCK: this filesystem has no flock
            _warn_unlockable(folder, err)
            return
        if on_wait is not None and not told:
            on_wait(holder(folder))
            told = True
        time.sleep(POLL_S)


_WARNED: set[int] = set()


def _warn_unlockable(folder: Path, err: OSError) -> None:
    device = os.stat(folder).st_dev
    if device not in _WARNED:  # once per filesystem
        _WARNED.add(device)
        log.warning("%s: this filesystem does not support file locks (%s); going on without them, so two "
                    "processes could do the same work at once", folder, err)


@contextlib.contextmanager
def folder_lock(folder: str | Path, *, wait: bool = True, timeout: float | None = None,
                on_wait: Callable[[dict[str, Any]], None] | None = None) -> Iterator[Path]:
    """Hold ``folder``'s lock for the block (creating the folder). ``wait=False`` raises
    ``FolderBusy`` at once if another process holds it; ``timeout`` bounds the wait (then
    ``FolderBusy``); ``on_wait(holder)`` is called once if the lock has to be waited for."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = (_key(folder), threading.get_ident())
    if key in _HELD:  # re-entered by the thread that holds it
        _HELD[key][1] += 1
        try:
            yield folder
        finally:
            _HELD[key][1] -= 1
        return
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        _acquire(fd, folder, wait, timeout, on_wait)
    except BaseException:
        os.close(fd)
        raise
    with _HELD_GUARD:
        _HELD[key] = [fd, 1]
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        tmp = folder / f"{HOLDER_NAME}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_text(json.dumps(info))
        os.replace(tmp, folder / HOLDER_NAME)
        yield folder
    finally:
        with _HELD_GUARD:
            del _HELD[key]
        os.close(fd)  # releases the lock (the only descriptor of this open file description)


def _forget_after_fork() -> None:
    """A forked child does not hold its parent's locks: close its copies, so the lock
    goes when the parent lets go or dies, not when the last child does."""
    global _HELD_GUARD
    _HELD_GUARD = threading.Lock()  # another thread may have held it at the fork
    for fd, _ in _HELD.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
