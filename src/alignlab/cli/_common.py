"""Shared CLI plumbing: one console, and user errors printed without a traceback."""

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
