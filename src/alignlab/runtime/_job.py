"""One run, the same way under every executor: skip it if finished, take the run's lock,
mark it running, run the kind's function with its output captured to the run's ``log``,
and record a failure (reason + traceback tail in ``error.json``) instead of raising it.

The inline, local and Ray executors all call ``execute``; only where it runs differs,
so their records are identical.

One process runs a run at a time: ``execute`` holds the run folder's lock
(``store.folder_lock``, an OS lock the kernel drops when its holder dies) from before
it marks the run running until its result or failure is written, and looks for
``result.json`` again once it has the lock. When another process holds it (a second
``alignlab run`` of the same spec, or a second sweep sharing a run):

- the inline executor (``wait=True``) waits for it, then answers from the result that
  process wrote (or runs it, if that process failed or was killed). Ctrl-C while waiting
  leaves the run alone: only the lock holder may record a failure.
- the local and Ray executors (``wait=False``) get the outcome ``busy`` at once and keep
  the job aside, outside any worker, until the lock is free; then they answer it from
  the result or hand it to a worker. So a worker never waits on someone else's run, and
  its timeout can never kill it and record a failure for a run it was not running.

A failure or cancellation is recorded only for a run this process holds the lock of,
and never over a finished ``result.json`` (``store.write_error``); if the run finished
before its worker was stopped, its outcome is ``finished``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alignlab.runtime._spec import Job

log = logging.getLogger(__name__)
BUSY = "busy"
"""The outcome status of a job whose run another process holds (``execute(wait=False)``):
not a result; the executor keeps the job aside and tries it again when the lock is free."""


def outcome(job: Job, path: Path, status: str, cached: bool = False, seconds: float = 0.0,
            error: str | None = None) -> dict[str, Any]:
    """What an executor reports for a job (plain data: it crosses process boundaries)."""
    return {"id": path.name, "kind": job.kind, "path": str(path), "status": status, "cached": cached,
            "seconds": seconds, "error": error}


def record_config(job: Job) -> dict[str, Any]:
    """The config dict the job's run folder is keyed by (usually ``job.config``)."""
    from alignlab.runtime._registry import get_spec_entry

    return get_spec_entry(job.kind).record_dict(job.config)


def job_path(job: Job) -> Path:
    from alignlab.store import run_path

    return run_path(job.kind, record_config(job), job.root)


def record_failure(job: Job, reason: str, traceback_text: str = "", wait_s: float = 0.0) -> Path:
    """``error.json`` for a job that could not say so itself (killed, timed out), if this
    process may speak for its run (see ``store.write_error``); ``wait_s``: how long to
    wait for a worker being killed to let go of the run's lock."""
    from alignlab.store import write_error

    try:
        cfg = record_config(job)
    except Exception:  # noqa: BLE001 — a config that cannot even be keyed: file it under itself
        cfg = job.config
    return write_error(job.kind, cfg, reason, traceback_text, root=job.root, wait_s=wait_s)


def cached_outcome(job: Job) -> dict[str, Any] | None:
    """The outcome of an already finished job (never for ``job.force``: it runs again); a
    failed outcome for a job that cannot even be keyed (an unknown organism named in its
    config); None when it must run."""
    try:
        path = job_path(job)
    except Exception as err:  # noqa: BLE001
        reason = f"{type(err).__name__}: {err}"
        return outcome(job, record_failure(job, reason, traceback.format_exc()), "failed", error=reason)
    finished = (path / "result.json").exists() and not job.force
    return outcome(job, path, "finished", cached=True) if finished else None


class Outcomes:
    """The outcome of every job of a sweep, in job order, as executors collect them:
    finished runs answer at once (``todo`` lists the rest), a failure is recorded in
    the run's folder before it is reported, and ``on_done`` hears each one."""

    def __init__(self, jobs: list[Job], on_done=None):
        self.jobs, self.on_done = jobs, on_done
        self.results: list[dict[str, Any] | None] = [None] * len(jobs)
        self.todo: list[int] = []
        for i, job in enumerate(jobs):
            done = cached_outcome(job)
            if done is None:
                self.todo.append(i)
            else:
                self.finish(i, done)

    def finish(self, i: int, out: dict[str, Any]) -> None:
        self.results[i] = out
        if self.on_done:
            self.on_done(out)

    def fail(self, i: int, reason: str, seconds: float, wait_s: float = 0.0) -> None:
        """Record and report a job that its worker could not finish (killed, timed out,
        cancelled). If the run finished before it was stopped, its result stands and the
        outcome is ``finished``."""
        path = record_failure(self.jobs[i], reason, wait_s=wait_s)
        if (path / "result.json").exists():
            self.finish(i, outcome(self.jobs[i], path, "finished", seconds=seconds,
                                   error=f"recorded its result, then: {reason}"))
        else:
            self.finish(i, outcome(self.jobs[i], path, "failed", seconds=seconds, error=reason))

    def ready(self, i: int) -> bool:
        """For a job kept aside as ``busy``: True once no other process holds its run
        (then it is either answered here from the result that process wrote, or is to be
        run again); False while the other process still holds it."""
        from alignlab.store import is_locked

        if is_locked(job_path(self.jobs[i])):
            return False
        done = cached_outcome(self.jobs[i])
        if done is not None:
            self.finish(i, done)
        return True


@contextlib.contextmanager
def _captured(log_path: Path, redirect_fds: bool) -> Iterator[None]:
    """Send log records (and, in a worker process, everything written to fd 1 and 2 —
    print, tqdm, C libraries) to ``log_path`` for the duration."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    saved = []
    if redirect_fds:
        sys.stdout.flush()
        sys.stderr.flush()
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        for target in (1, 2):
            saved.append((target, os.dup(target)))
            os.dup2(fd, target)
        os.close(fd)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        if redirect_fds:
            sys.stdout.flush()
            sys.stderr.flush()
            for target, copy in saved:
                os.dup2(copy, target)
                os.close(copy)


def execute(job: Job, executor: str = "inline", redirect_fds: bool = False, wait: bool = True) -> dict[str, Any]:
    """Run ``job`` unless it is finished; never raises for a failure of the run itself
    (it is recorded), except ``KeyboardInterrupt``, which is recorded and re-raised.

    ``wait``: if another process holds the run's lock, wait for it (then answer from its
    result if it finished), or with ``wait=False`` return at once with status ``BUSY``."""
    from alignlab.store import FolderBusy, folder_lock, lock_holder

    done = cached_outcome(job)
    if done is not None:
        return done
    path = job_path(job)

    def waiting(who: dict[str, Any]) -> None:
        log.warning("%s is being run by pid %s on %s; waiting for it to finish (Ctrl-C stops waiting and "
                    "leaves that run alone)", path.name, who.get("pid", "?"), who.get("host", "?"))

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(folder_lock(path, wait=wait, on_wait=waiting))
        except FolderBusy as busy:
            who = busy.holder or lock_holder(path)
            return outcome(job, path, BUSY, error=f"running elsewhere (pid {who.get('pid', '?')})")
        done = cached_outcome(job)  # finished by the process we waited for
        if done is not None:
            return done
        return _run_locked(job, path, executor, redirect_fds)


def _run_locked(job: Job, path: Path, executor: str, redirect_fds: bool) -> dict[str, Any]:
    """The run itself, its lock held by the caller."""
    from alignlab.runtime._registry import get_spec_entry
    from alignlab.store import active_run, mark_running, write_error

    entry = get_spec_entry(job.kind)
    cfg = record_config(job)
    mark_running(job.kind, cfg, root=job.root, executor=executor, pid=os.getpid())
    start = time.perf_counter()
    with open(path / "log", "a") as log_file:
        log_file.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {path.name} on {executor} (pid {os.getpid()})\n")
    with _captured(path / "log", redirect_fds), active_run(path, executor, force=job.force):
        try:
            config = entry.config_class().model_validate(job.config)
            record = entry.runner()(config, job.root)
        except KeyboardInterrupt:
            write_error(job.kind, cfg, "cancelled (interrupted)", traceback.format_exc(), root=job.root)
            raise
        except BaseException as err:  # noqa: BLE001 — a failed run is recorded, the sweep goes on
            reason = f"{type(err).__name__}: {err}".strip()
            logging.getLogger("alignlab.runtime").error("%s failed:\n%s", path.name, traceback.format_exc())
            write_error(job.kind, cfg, reason, traceback.format_exc(), root=job.root)
            if (path / "result.json").exists():  # it raised after recording its result: that stands
                return outcome(job, path, "finished", seconds=time.perf_counter() - start,
                               error=f"recorded its result, then raised {reason}")
            return outcome(job, path, "failed", seconds=time.perf_counter() - start, error=reason)
    if Path(record.path).resolve() != path.resolve():  # a kind that records elsewhere: say so
        logging.getLogger(__name__).warning("%s wrote its record to %s, not %s", job.kind, record.path, path)
    return outcome(job, Path(record.path), "finished", seconds=time.perf_counter() - start)
