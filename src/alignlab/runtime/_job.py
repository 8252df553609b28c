"""One run, the same way under every executor: skip it if finished, mark it running,
run the kind's function with its output captured to the run's ``log``, and record a
failure (reason + traceback tail in ``error.json``) instead of raising it.

The inline, local and Ray executors all call ``execute``; only where it runs differs,
so their records are identical.
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


def record_failure(job: Job, reason: str, traceback_text: str = "") -> Path:
    """``error.json`` for a job that could not say so itself (killed, timed out)."""
    from alignlab.store import write_error

    try:
        cfg = record_config(job)
    except Exception:  # noqa: BLE001 — a config that cannot even be keyed: file it under itself
        cfg = job.config
    return write_error(job.kind, cfg, reason, traceback_text, root=job.root)


def cached_outcome(job: Job) -> dict[str, Any] | None:
    """The outcome of an already finished job; a failed outcome for a job that cannot
    even be keyed (an unknown organism named in its config); None when it must run."""
    try:
        path = job_path(job)
    except Exception as err:  # noqa: BLE001
        reason = f"{type(err).__name__}: {err}"
        return outcome(job, record_failure(job, reason, traceback.format_exc()), "failed", error=reason)
    return outcome(job, path, "finished", cached=True) if (path / "result.json").exists() else None


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

    def fail(self, i: int, reason: str, seconds: float) -> None:
        record_failure(self.jobs[i], reason)
        self.finish(i, outcome(self.jobs[i], job_path(self.jobs[i]), "failed", seconds=seconds, error=reason))


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


def execute(job: Job, executor: str = "inline", redirect_fds: bool = False) -> dict[str, Any]:
    """Run ``job`` unless it is finished; never raises for a failure of the run itself
    (it is recorded), except ``KeyboardInterrupt``, which is recorded and re-raised."""
    from alignlab.runtime._registry import get_spec_entry
    from alignlab.store import active_run, mark_running, write_error

    done = cached_outcome(job)
    if done is not None:
        return done
    entry = get_spec_entry(job.kind)
    cfg = record_config(job)
    path = mark_running(job.kind, cfg, root=job.root, executor=executor, pid=os.getpid())
    start = time.perf_counter()
    with open(path / "log", "a") as log:
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {path.name} on {executor} (pid {os.getpid()})\n")
    with _captured(path / "log", redirect_fds):
        with active_run(path, executor):
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
                return outcome(job, path, "failed", seconds=time.perf_counter() - start, error=reason)
    if Path(record.path).resolve() != path.resolve():  # a kind that records elsewhere: say so
        logging.getLogger(__name__).warning("%s wrote its record to %s, not %s", job.kind, record.path, path)
    return outcome(job, Path(record.path), "finished", seconds=time.perf_counter() - start)
