"""Shared CLI plumbing: one console, user errors printed without a traceback, the options
every command spells the same way, and one path from a command to a recorded run.

One vocabulary: ``--runs`` is the runs folder (``$ALIGNLAB_RUNS``), ``--threads`` torch's
CPU threads (``$ALIGNLAB_THREADS``), ``--force`` runs again what is already recorded,
``--seed`` is a seed value (several, comma-separated, where a command runs over seeds),
and ``--n-examples`` / ``--n-items`` count what is drawn from a task."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)

RUNS = typer.Option(None, "--runs", envvar="ALIGNLAB_RUNS", show_envvar=False,
                    help="Runs folder [default: $ALIGNLAB_RUNS, else ./runs].")
THREADS = typer.Option(None, "--threads", min=1, help="torch CPU threads [default: $ALIGNLAB_THREADS, else torch's].")
FORCE = typer.Option(False, "--force", help="Run again though a finished record exists (replaced when the new one "
                                            "finishes).")


def _describe(err: Exception) -> str | None:
    """The one-line message for a user error, or None for a bug."""
    from pydantic import ValidationError

    from alignlab.errors import AlignlabError

    if isinstance(err, AlignlabError):
        return str(err)
    if isinstance(err, ValidationError):  # a bad option or config field: name its path
        return "; ".join(f"invalid {'.'.join(map(str, e['loc'])) or 'config'}: {e['msg'].removeprefix('Value error, ')}"
                         for e in err.errors())
    return None


def user_errors(fn):
    """Print a user error (``AlignlabError``, an invalid config) as one red line and
    exit 2; let bugs raise with their traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            message = _describe(err)
            if message is None:
                raise
            # escape(): a message may quote user text holding [brackets] rich would parse;
            # soft_wrap: one line whatever the width (rich would break it at 80 columns
            # where there is no terminal, and a grep for the message would miss it)
            err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def read_config(path, what: str) -> dict:
    """The fields in a YAML config file (``{}`` without one): unreadable files, broken
    YAML and non-mappings end in one ``DataError`` naming ``what`` and the file. A run
    record's ``config.yaml`` can be passed back in: its ``kind`` key is dropped."""
    import yaml

    from alignlab.errors import DataError

    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise DataError(f"cannot read {what} {path}: {err}") from None
    if not isinstance(data, dict):
        raise DataError(f"cannot read {what} {path}: expected a YAML mapping of fields, got {type(data).__name__}")
    data.pop("kind", None)
    return data


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, ``kill`` (SIGTERM) stops a run like Ctrl-C: workers killed,
    running runs recorded as cancelled, finished ones kept."""
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def seed_values(text: str | None) -> tuple[int, ...] | None:
    """``"0,1,2"`` as seed values (``None`` stays None); a malformed list is a user error."""
    from alignlab.errors import AlignlabError

    if text is None:
        return None
    try:
        seeds = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise AlignlabError(f"--seed {text!r}: expected seed values separated by commas, e.g. --seed 0,1,2") from None
    if not seeds:
        raise AlignlabError("--seed: give at least one seed value, e.g. --seed 0")
    return seeds


@contextlib.contextmanager
def threads_option(threads: int | None) -> Iterator[None]:
    """``--threads`` for the block: ``$ALIGNLAB_THREADS`` set to it (the stages' own thread
    choices and local/Ray workers read it, so the option wins over them) and torch's count
    in this process, both restored after. Without the option torch is not touched (nor
    imported: a run read back from its record loads no torch — a warm `make demo` in
    0.5 s, not 3)."""
    saved = os.environ.get("ALIGNLAB_THREADS")
    if threads:
        os.environ["ALIGNLAB_THREADS"] = str(threads)
    try:
        if threads:
            from alignlab.threads import torch_threads

            with torch_threads(threads):
                yield
        else:
            yield
    finally:
        if saved is None:
            os.environ.pop("ALIGNLAB_THREADS", None)
        else:
            os.environ["ALIGNLAB_THREADS"] = saved


def run_recorded(kind: str, config, runs=None, force: bool = False, threads: int | None = None):
    """Run one config of ``kind`` the way ``alignlab run`` does (its run folder's lock, log,
    index row, ``error.json`` on failure; a finished record is read back unless
    ``force``) and return its ``RunRecord``. A failed run is a one-line error naming its
    folder; Ctrl-C or ``kill`` stops it, recorded as cancelled."""
    from pathlib import Path

    from alignlab.errors import AlignlabError
    from alignlab.paths import runs_dir
    from alignlab.runtime._job import execute
    from alignlab.runtime._spec import Job
    from alignlab.store import load_run

    job = Job(kind, config.model_dump(mode="json"), str(Path(runs or runs_dir()).resolve()), force)
    try:
        with sigterm_as_interrupt(), threads_option(threads):
            out = execute(job, "inline")
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: the run was recorded as cancelled; finished runs are kept — "
                      "run it again to resume")
        raise typer.Exit(130) from None
    if out["status"] != "finished":
        raise AlignlabError(f"the {kind} run failed: {out['error']} (details: {out['path']}/error.json and log)")
    return load_run(out["path"])


def print_warnings(result: dict) -> None:
    """A record's warnings (degenerate data, roles at chance), in yellow."""
    for warning in result.get("warnings") or []:
        console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
