"""The local executor: a pool of worker processes on this machine.

Each worker is a fresh (spawned) Python process that runs jobs one at a time with its
output redirected to the run's ``log``. The parent assigns jobs, watches the clock and
the workers' exit: a job past ``timeout_s`` has its worker killed; a worker that dies
(killed, out of memory, segfault) is replaced; either way the job gets an
``error.json`` and the sweep goes on. ``memory_gb`` caps each worker's address space
(``RLIMIT_AS``): an allocation beyond it raises ``MemoryError`` inside the run, which
is recorded like any failure. Ctrl-C kills the workers, marks their runs cancelled and
re-raises; finished runs are kept, so running the spec again resumes.

A job whose run another process holds (its lock: another ``alignlab run`` of the same
spec) comes back from the worker at once as ``busy``; the parent keeps it aside, off the
clock and without a worker, until the lock is free, then answers it from the result the
other process wrote, or runs it if that process failed. A worker never waits on a lock,
so a timeout only ever kills a worker running its own run.

``persistent=True`` keeps the workers between ``run`` calls (until ``close``): a caller
that runs many short batches — a campaign's rounds — pays for the workers' start (a
fresh interpreter, torch, the trial fork server: seconds) once, not per batch.

Why not ``concurrent.futures.ProcessPoolExecutor``: one dead worker breaks the whole
pool there (``BrokenProcessPool``), and it has no per-task timeout.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

from alignlab.runtime._executors import OnDone
from alignlab.runtime._spec import Job


def _worker_main(conn, memory_bytes: int | None, threads: int) -> None:
    # The parent owns Ctrl-C: it kills workers and records their runs as cancelled.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Before torch or numpy load: workers share the cores instead of each taking all.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    if memory_bytes:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    from alignlab.runtime._job import execute

    while True:
        try:
            job = conn.recv()
        except EOFError:  # the parent is gone
            return
        if job is None:
            return
        conn.send(execute(job, "local", redirect_fds=True, wait=False))


@dataclass
class _Worker:
    process: Any
    conn: Any
    job: tuple[int, Job] | None = None
    started: float = 0.0


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int | None = None, timeout_s: float | None = None, memory_gb: float | None = None,
                 persistent: bool = False):
        self.workers = max(1, workers or (os.cpu_count() or 1))
        self.persistent = persistent
        self.timeout_s = timeout_s
        self.memory_bytes = int(memory_gb * 2**30) if memory_gb else None
        self._ctx = mp.get_context("spawn")  # fork after torch has threads is unsafe
        self._pool: list[_Worker] = []

    def _start(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        # Not daemonic: a run may start processes of its own (a trial's variant runs in a
        # forked worker), which multiprocessing refuses to a daemon. The pool is killed in
        # ``_shutdown`` (a finally), so no worker outlives the executor.
        process = self._ctx.Process(target=_worker_main, args=(child, self.memory_bytes, threads), daemon=False)
        process.start()
        child.close()
        return _Worker(process, parent)

    def _kill(self, worker: _Worker) -> None:
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(5)
        worker.conn.close()

    def run(self, jobs: list[Job], on_done: OnDone | None = None) -> list[dict[str, Any]]:
        from alignlab.runtime._job import BUSY, Outcomes

        outcomes = Outcomes(jobs, on_done)
        finish, fail = outcomes.finish, outcomes.fail
        pending = deque(outcomes.todo)  # finished runs answered at once, without a worker
        aside: list[int] = []  # jobs whose run another process holds: back in the queue once it lets go
        self._pool = [w for w in self._pool if w.job is None and w.process.is_alive()]  # kept from the last run
        self._pool += [self._start() for _ in range(min(self.workers, len(pending)) - len(self._pool))]
        try:
            while pending or aside or any(w.job for w in self._pool):
                for i in [i for i in aside if outcomes.ready(i)]:
                    aside.remove(i)
                    if outcomes.results[i] is None:  # not answered from a result: run it
                        pending.appendleft(i)
                for k, w in enumerate(self._pool):
                    if w.job is None and pending:
                        if not w.process.is_alive():  # a dead worker's slot, kept while nothing was pending
                            w = self._pool[k] = self._start()
                        i = pending.popleft()
                        w.job, w.started = (i, jobs[i]), time.monotonic()
                        w.conn.send(jobs[i])
                busy = [w for w in self._pool if w.job]
                if busy:
                    wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=0.2)
                else:
                    time.sleep(0.2)  # only jobs kept aside: poll their locks
                for k, w in enumerate(self._pool):
                    if w.job is None:
                        continue
                    i, elapsed = w.job[0], time.monotonic() - w.started
                    if w.conn.poll():
                        try:
                            out = w.conn.recv()
                            w.job = None
                            if out["status"] == BUSY:
                                aside.append(i)
                            else:
                                finish(i, out)
                            continue
                        except EOFError:
                            pass  # died while answering: handled below
                    if not w.process.is_alive():
                        code = w.process.exitcode
                        why = " (SIGKILL: killed, or out of memory)" if code == -signal.SIGKILL else ""
                        self._kill(w)  # joined: the kernel has dropped its run's lock
                        fail(i, f"worker process died with exit code {code}{why}", elapsed)
                        self._pool[k] = self._start() if pending else _Worker(w.process, w.conn)
                    elif self.timeout_s and elapsed > self.timeout_s:
                        self._kill(w)
                        fail(i, f"timed out after {self.timeout_s:g} s", elapsed)
                        self._pool[k] = self._start() if pending else _Worker(w.process, w.conn)
        except BaseException:  # Ctrl-C (or a bug here): no orphans, cancelled runs recorded
            for w in self._pool:
                if w.job is not None:
                    self._kill(w)
                    fail(w.job[0], "cancelled (interrupted)", time.monotonic() - w.started)
                    w.job = None
            self._shutdown()
            raise
        if not self.persistent:
            self._shutdown()
        return outcomes.results  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the workers (a persistent executor keeps them until this)."""
        self._shutdown()

    def _shutdown(self) -> None:
        for w in self._pool:
            if w.process.is_alive() and w.job is None:
                try:
                    w.conn.send(None)
                except OSError:
                    pass
        for w in self._pool:
            w.process.join(2)
            self._kill(w)
        self._pool = []
