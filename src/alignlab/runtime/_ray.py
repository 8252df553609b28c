"""The Ray executor: each job is a Ray task (one CPU) on a cluster or a local instance.

``address=None`` starts a local Ray instance for the sweep (and shuts it down after);
``address="auto"`` or ``"ray://host:10001"`` connects to a running cluster. The tasks
run the same ``execute`` as the other executors and write the same records; on a
cluster the runs folder must be on a filesystem every node shares, and alignlab must be
installed on the nodes. ``timeout_s`` cancels a task (force-kills its worker);
``memory_gb`` is Ray's scheduling reservation per task (Ray's memory monitor enforces
it by killing the task, which is then recorded as failed).

A task whose run another process holds (its lock) returns ``busy`` at once instead of
waiting in a Ray worker; the driver keeps the job aside and submits it again when the
lock is free (or answers it from the result the other process wrote), so a timeout never
cancels a task that was only waiting. A cancelled task's worker dies a moment after
``ray.cancel``: its failure is recorded once it has let go of the run's lock (a few
seconds at most; else the next ``alignlab runs list`` records it as interrupted).
"""

from __future__ import annotations

import os
import time
from typing import Any

from alignlab.errors import MissingPackageError
from alignlab.runtime._executors import OnDone
from alignlab.runtime._spec import Job

_LET_GO_S = 5.0
"""How long a failure record waits for a cancelled task's worker to die (and so let go of
the run's lock)."""


def import_ray():
    try:
        import ray
    except ImportError:
        raise MissingPackageError("the ray executor needs Ray: pip install 'alignlab[ray]'") from None
    return ray


def _ray_execute(job: Job) -> dict[str, Any]:
    from alignlab.runtime._job import execute

    return execute(job, "ray", redirect_fds=True, wait=False)


WORKER_ENV = ("ALIGNLAB_HOME", "ALIGNLAB_RUNS", "ALIGNLAB_SANDBOX", "ALIGNLAB_SANDBOX_HIDE",
              "ALIGNLAB_VARIANT_MEMORY_GB", "ALIGNLAB_VARIANT_CPU_S", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
              "TOKENIZERS_PARALLELISM")
"""What Ray's workers inherit from this process: where homes and runs are, and how a
trial's variant is sandboxed and what it must not see (a campaign hides its folder
through ``ALIGNLAB_SANDBOX_HIDE``)."""


def worker_env() -> dict[str, str]:
    return {k: os.environ[k] for k in WORKER_ENV if k in os.environ}


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, timeout_s: float | None = None,
                 memory_gb: float | None = None):
        self.address = address
        self.num_cpus = num_cpus
        self.timeout_s = timeout_s
        self.memory_bytes = int(memory_gb * 2**30) if memory_gb else None

    def _init(self, ray) -> bool:
        """Start or join Ray; True when this call started it (and must shut it down)."""
        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False,
                                  "runtime_env": {"env_vars": worker_env()}}
        if self.address:
            ray.init(address=self.address, **kwargs)
        else:
            ray.init(num_cpus=self.num_cpus or os.cpu_count(), **kwargs)
        return True

    def run(self, jobs: list[Job], on_done: OnDone | None = None) -> list[dict[str, Any]]:
        from alignlab.runtime._job import BUSY, Outcomes

        outcomes = Outcomes(jobs, on_done)
        finish, fail, todo = outcomes.finish, outcomes.fail, outcomes.todo
        if not todo:
            return outcomes.results  # type: ignore[return-value]
        ray = import_ray()
        started_here = self._init(ray)
        options: dict[str, Any] = {"num_cpus": 1, "max_retries": 0}
        if self.memory_bytes:
            options["memory"] = self.memory_bytes
        task = ray.remote(**options)(_ray_execute)
        live: dict[Any, tuple[int, float]] = {}
        aside: list[int] = []  # jobs whose run another process holds
        try:
            for i in todo:
                live[task.remote(jobs[i])] = (i, time.monotonic())
            while live or aside:
                for i in [i for i in aside if outcomes.ready(i)]:
                    aside.remove(i)
                    if outcomes.results[i] is None:  # not answered from a result: run it
                        live[task.remote(jobs[i])] = (i, time.monotonic())
                if not live:
                    time.sleep(0.2)
                    continue
                ready, _ = ray.wait(list(live), num_returns=1, timeout=0.2)
                for ref in ready:
                    i, t0 = live.pop(ref)
                    try:
                        out = ray.get(ref)
                    except Exception as err:  # noqa: BLE001 — worker crash, OOM kill, cancel
                        fail(i, f"ray task failed: {type(err).__name__}: {str(err).strip().splitlines()[0]}",
                             time.monotonic() - t0, wait_s=_LET_GO_S)
                        continue
                    if out["status"] == BUSY:
                        aside.append(i)
                    else:
                        finish(i, out)
                if self.timeout_s:
                    # A queued task's clock starts when it is submitted: a conservative
                    # bound on a busy cluster; the reason says which limit was hit.
                    for ref, (i, t0) in list(live.items()):
                        if time.monotonic() - t0 > self.timeout_s:
                            ray.cancel(ref, force=True)
                            live.pop(ref)
                            fail(i, f"timed out after {self.timeout_s:g} s (since submission)", time.monotonic() - t0,
                                 wait_s=_LET_GO_S)
        except BaseException:
            for ref in live:
                ray.cancel(ref, force=True)
            for ref, (i, t0) in live.items():
                fail(i, "cancelled (interrupted)", time.monotonic() - t0, wait_s=_LET_GO_S)
            raise
        finally:
            if started_here:
                ray.shutdown()
        return outcomes.results  # type: ignore[return-value]
