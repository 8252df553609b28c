"""Shared CLI plumbing: one console, and user errors printed without a traceback."""

from __future__ import annotations

import functools
import logging
import os

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def user_errors(fn):
    """Print an ``AlignlabError`` as one red line and exit 2; let bugs raise."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from alignlab.errors import AlignlabError

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        try:
            return fn(*args, **kwargs)
        except AlignlabError as err:
            err_console.print(f"[bold red]error:[/] {err}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
