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
from alignlab.protocol import Registry
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


EXECUTORS: Registry[Executor] = Registry("executor")
"""Every executor by name; the factories import their module (and Ray) only when called."""


@EXECUTORS.register("inline")
def inline() -> Executor:
    """In this process, one job after another."""
    return InlineExecutor()


@EXECUTORS.register("local")
def local(workers: int | None = None, timeout_s: float | None = None, memory_gb: float | None = None,
          persistent: bool = False) -> Executor:
    """A pool of worker processes on this machine (default: one per CPU); ``persistent``
    keeps them between ``run`` calls until ``close()``."""
    from alignlab.runtime._local import LocalExecutor

    return LocalExecutor(workers=workers, timeout_s=timeout_s, memory_gb=memory_gb, persistent=persistent)


@EXECUTORS.register("ray")
def ray(address: str | None = None, num_cpus: int | None = None, timeout_s: float | None = None,
        memory_gb: float | None = None) -> Executor:
    """Tasks on a Ray cluster at ``address``, or on a local Ray instance."""
    from alignlab.runtime._ray import RayExecutor

    return RayExecutor(address=address, num_cpus=num_cpus, timeout_s=timeout_s, memory_gb=memory_gb)


def make_executor(name: str, **options: Any) -> Executor:
    """``inline``, ``local`` (options: workers, timeout_s, memory_gb) or ``ray``
    (options: address, num_cpus, timeout_s, memory_gb); options the executor does not
    take are ignored (the CLI passes every executor's)."""
    if name not in EXECUTORS:
        raise UnknownNameError(f"unknown executor {name!r}; valid executors: {', '.join(EXECUTORS.names())}")
    takes = EXECUTORS.get(name).params_model().model_fields
    return EXECUTORS.create({"name": name, "params": {k: v for k, v in options.items() if k in takes}})
