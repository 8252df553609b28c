"""One trial: a testbed problem, a variant's answer in another process, sealed scoring.

    kind: trial
    testbed: planted
    variant: {name: mean_diff}
    sweep: {seed: [0, 1, 2], variant: [mean_diff, random]}

The trusted process (this one) opens the testbed: it writes the Problem folder and keeps
the evaluator's secret (labels, triggers) in memory only. The variant runs in a worker
process forked from a clean *forkserver* (started once from a fresh interpreter, so it
never held a secret) and is given the Problem folder's path, its reference and a seed —
nothing else: no secret on disk to find, none in its memory, no evaluator object to
reach through ``gc`` or frames. Its Submission comes back as JSON, is checked (one
prediction per item, numbers), saved with the run, and scored here.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import shutil
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alignlab.errors import AlignlabError
from alignlab.protocol._registry import Ref
from alignlab.protocol._types import Problem, Submission

_CONTEXT = None


class TrialConfig(BaseModel):
    """One variant on one problem of one testbed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    testbed: str = "planted"
    """A registered testbed (``alignlab testbeds list``)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """The testbed's config fields (its defaults for the rest)."""
    variant: Ref = Ref(name="random")
    """The variant: a name, or ``{name, params}``; one of the testbed's registered variants."""
    seed: int = 0
    """Draws the problem instance and seeds the variant."""
    timeout_s: float = Field(600.0, gt=0)
    """The variant's worker is killed after this long (a failed trial, never a hung one)."""

    @field_validator("variant", mode="before")
    @classmethod
    def _ref(cls, value: Any) -> Ref:
        return Ref.of(value)

    @model_validator(mode="after")
    def _known(self) -> TrialConfig:
        from alignlab.protocol.testbeds import TESTBEDS

        try:
            testbed = TESTBEDS.create(self.testbed)
            testbed.Config.model_validate(self.params)
            testbed.variants.validate(self.variant)
        except AlignlabError as err:
            raise ValueError(str(err)) from None
        return self


def _forkserver():
    """Workers fork from a server started from a fresh interpreter (no secrets in its
    memory), with numpy and the protocol preloaded: a trial's worker starts in ms."""
    global _CONTEXT
    if _CONTEXT is None:
        import pkgutil

        import alignlab.protocol.testbeds as testbeds

        _CONTEXT = multiprocessing.get_context("forkserver")
        # torch too: nearly every real variant needs it (heads, probes, models), and importing
        # it once in the server saves each worker 1-3 s; transformers (another ~1.5 s, and a
        # bigger process to fork for every trial) only the model-loading variants import.
        _CONTEXT.set_forkserver_preload(["numpy", "torch", "alignlab.protocol._trial",
                                         "alignlab.protocol._sandbox"] + [
            f"{testbeds.__name__}.{m.name}" for m in pkgutil.iter_modules(testbeds.__path__)])
    return _CONTEXT


@contextlib.contextmanager
def _without_main() -> Iterator[None]:
    """While a worker starts, hide ``__main__``'s file and spec: multiprocessing would
    otherwise run the parent's main script (the CLI, a user's script, pytest) again in
    the worker before the variant — seconds of imports, and code the variant must not
    depend on. Workers need nothing from ``__main__``: ``_worker`` imports by name."""
    main = sys.modules["__main__"]
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _worker(modules: list[str], testbed: str, folder: str, variant: dict[str, Any], seed: int, answer_to: Any,
            hide: list[str], sandbox_mode: str, limits: dict[str, float] | None = None) -> None:
    """In the worker process: enter the sandbox, build the variant, solve, send the
    submission (or the error) back through a pipe opened before the sandbox."""
    import importlib

    from alignlab.protocol._sandbox import isolate
    from alignlab.protocol.testbeds import TESTBEDS

    sandbox = "not entered"
    try:
        sandbox = isolate(keep=[Path(folder)], hide=[Path(h) for h in hide], how=sandbox_mode)
        if limits:
            from alignlab.protocol._sandbox import apply_limits

            apply_limits(**limits)
        for module in modules:  # a user's testbed or variant registers itself on import
            importlib.import_module(module)
        solver = TESTBEDS.create(testbed).variants.create(variant)
        submission = solver.solve(Problem(folder), seed)
        submission = Submission.model_validate(submission)
        answer = {"predictions": [float(x) for x in submission.predictions],
                  "notes": json.loads(json.dumps(submission.notes, default=str)),
                  "artifacts": dict(submission.artifacts), "sandbox": sandbox}
    except BaseException as err:  # noqa: BLE001 — the trial reports it as the variant's failure
        answer = {"error": f"{type(err).__name__}: {err}".strip(), "traceback": traceback.format_exc()[-4000:],
                  "sandbox": sandbox}
    answer_to.send_bytes(json.dumps(answer).encode())
    answer_to.close()


def worker_modules(testbed: Any, variant: Ref) -> list[str]:
    """The modules a variant's worker imports before building it: the testbed's, the
    variant's, and what the variant's class names for its params (a ``worker_modules``
    staticmethod: the detector variant names the module of the detector it runs). Asked
    of the class, never of an instance: no variant code runs in this process."""
    factory = testbed.variants.get(variant.name).factory
    extra = getattr(factory, "worker_modules", None)
    return [type(testbed).__module__, factory.__module__, *(extra(**variant.params) if extra else [])]


def solve_isolated(testbed: Any, name: str, problem: Problem, variant: Ref, seed: int, out: Path,
                   timeout_s: float = 600.0, hide: list[Path] | None = None) -> tuple[Submission, str]:
    """The variant's Submission, computed in a sandboxed worker process that sees only
    ``problem`` (``_sandbox``), and how it was sandboxed; the answer as the worker sent it
    is saved at ``out``. The worker is killed as soon as its answer is in (its teardown,
    10-15 ms for a process with torch loaded, is not waited for), after ``timeout_s``,
    or if this process is interrupted: no orphan keeps computing."""
    from multiprocessing.connection import wait

    from alignlab.protocol._sandbox import hidden_paths, limits, mode
    from alignlab.store import atomic_write_bytes

    out.unlink(missing_ok=True)
    hide = [str(p) for p in (hidden_paths(out.parent.parent) if hide is None else hide)]
    modules = worker_modules(testbed, variant)
    context = _forkserver()
    reader, writer = context.Pipe(duplex=False)
    proc = context.Process(target=_worker, args=(modules, name, str(problem.folder), variant.model_dump(),
                                                 seed, writer, hide, mode(), limits()))
    try:
        with _without_main():
            proc.start()
        writer.close()  # the worker holds the only write end: its death is an EOF here
        if not wait([reader], timeout_s):
            raise AlignlabError(f"variant {variant.name!r} gave no answer within {timeout_s:g} s (timeout_s); "
                                "its worker was killed")
        try:
            data = reader.recv_bytes()
        except EOFError:
            proc.join(5)
            raise AlignlabError(f"variant {variant.name!r} died without an answer "
                                f"(exit code {proc.exitcode})") from None
    finally:
        reader.close()
        if proc.is_alive():
            proc.kill()
            if sys.exc_info()[0] is not None:  # a failed trial: wait until it is gone, sandbox and all
                proc.join()
    atomic_write_bytes(out, data)
    answer = json.loads(data)
    if "error" in answer:
        raise AlignlabError(f"variant {variant.name!r} failed: {answer['error']}")
    artifacts = {name: str(_artifact(problem, name, path)) for name, path in answer.get("artifacts", {}).items()}
    return Submission.model_validate({"predictions": answer["predictions"], "notes": answer.get("notes", {}),
                                      "artifacts": artifacts}), answer["sandbox"]


def _artifact(problem: Problem, name: str, path: str) -> Path:
    """The absolute path of a file or folder a variant names, once it is shown to lie
    inside the Problem's ``out/`` folder with no link on the way or inside: nothing the
    evaluator reads can point at a file the variant was not allowed to write."""
    import os

    from alignlab.protocol._types import OUT

    out = (problem.folder / OUT).resolve()
    target = problem.folder / path
    if Path(path).is_absolute() or not target.resolve().is_relative_to(out) or not target.exists():
        raise AlignlabError(f"artifact {name!r}: {path!r} is not a file or folder under the Problem's "
                            f"{OUT}/ folder (write it under problem.out and give its path relative to the Problem)")
    on_the_way = [problem.folder / p for p in (Path(path), *Path(path).parents)]  # out/sae, out, .
    inside = [Path(root) / f for root, dirs, files in os.walk(target) for f in dirs + files]
    if any(p.is_symlink() for p in on_the_way + inside):
        raise AlignlabError(f"artifact {name!r}: {path!r} is or holds a symbolic link; write plain files")
    return target.resolve()


def run_trial(config: TrialConfig, runs_root: str | Path | None = None):
    """Open the problem, solve it in a worker, score it here; the record holds the
    Scores (``result.json``), the submission and the Problem folder."""
    from alignlab.protocol.testbeds import TESTBEDS
    from alignlab.store import run_path, write_run

    from alignlab.protocol._sandbox import hidden_paths

    testbed = TESTBEDS.create(config.testbed)
    tb_config = testbed.Config.model_validate(config.params)
    record_config = config.model_dump(mode="json")
    folder = run_path("trial", record_config, runs_root)
    hide = hidden_paths(folder.parent)  # checked before anything is written
    shutil.rmtree(folder / "problem", ignore_errors=True)  # written afresh: a variant may have left files
    problem = Problem(folder / "problem")
    secret = testbed.open(tb_config, config.seed, problem)
    n_items = len(problem.json("items"))
    submission, sandbox = solve_isolated(testbed, config.testbed, problem, config.variant, config.seed,
                                         folder / "submission.json", config.timeout_s, hide)
    if len(submission.predictions) != n_items:
        raise AlignlabError(f"variant {config.variant.name!r} returned {len(submission.predictions)} predictions "
                            f"for {n_items} items (submission.predictions must have one per item, in order)")
    missing = [name for name in getattr(testbed, "artifacts", ()) if name not in submission.artifacts]
    if missing:
        raise AlignlabError(f"variant {config.variant.name!r} answered without the file(s) {config.testbed!r} scores: "
                            f"{', '.join(missing)} (Submission.artifacts, paths under problem.out)")
    scores = testbed.score(tb_config, secret, submission, config.seed)
    result = {"scores": scores.model_dump(mode="json"), "sandbox": sandbox}
    if hasattr(testbed, "reveal"):  # what the evaluator discloses once the variant is gone
        result["revealed"] = testbed.reveal(tb_config, secret, submission)
    return write_run("trial", record_config, result, root=runs_root)
