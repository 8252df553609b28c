"""Executors: where a list of jobs runs. One method, ``run(jobs, on_done)``, returning
one outcome per job in order; a failed job is an outcome, never an exception.

- ``inline``: in this process, one after another (debuggable; the tests' default).
- ``local``: a pool of worker processes on this machine (timeouts, memory limit, logs).
- ``ray``: tasks on a Ray cluster, or a local Ray instance (``pip install 'alignlab[ray]'``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from alignlab.errors import UnknownNameError
from alignlab.runtime._spec import Job

OnDone = Callable[[dict[str, Any]], None]


class Executor(Protocol):
    name: str

    def run(self, jobs: list[Job], on_done: OnDone | None = None) -> list[dict[str, Any]]:
        """Run every job; one outcome per job, in the order given."""
        ...


class InlineExecutor:
    """Jobs run in this process, in order; a failure is recorded and the next job runs."""

    name = "inline"

    def run(self, jobs: list[Job], on_done: OnDone | None = None) -> list[dict[str, Any]]:
        from alignlab.runtime._job import execute

        outcomes = []
        for job in jobs:
            outcomes.append(execute(job, self.name))
            if on_done:
                on_done(outcomes[-1])
        return outcomes


def make_executor(name: str, **options: Any) -> Executor:
    """``inline``, ``local`` (options: workers, timeout_s, memory_gb) or ``ray``
    (options: address, num_cpus, timeout_s, memory_gb)."""
    if name == "inline":
        return InlineExecutor()
    if name == "local":
        from alignlab.runtime._local import LocalExecutor

        return LocalExecutor(**{k: v for k, v in options.items() if k in ("workers", "timeout_s", "memory_gb")})
    if name == "ray":
        from alignlab.runtime._ray import RayExecutor

        return RayExecutor(**{k: v for k, v in options.items()
                              if k in ("address", "num_cpus", "timeout_s", "memory_gb")})
    raise UnknownNameError(f"unknown executor {name!r}; valid executors: inline, local, ray")
