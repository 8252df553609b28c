"""``alignlab cache ls [KIND] | clear [KIND ...]``: every cache under ``$ALIGNLAB_HOME``
(the catalogue: ``alignlab.store._caches``)."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from alignlab.cli._common import console, human_bytes, user_errors

app = typer.Typer(no_args_is_help=True)


def _count(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"


def _when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _what(item) -> str:
    """An entry's labels (names of its model, task, organism), else its key's fields, else that it has no manifest."""
    if item.labels:
        return ", ".join(map(str, item.labels.values()))
    if item.key:
        return " ".join(f"{k}={str(v)[:16]}" for k, v in list(item.key.items())[:4])
    return "(no key recorded: written before manifests)"


@app.command("ls")
@user_errors
def ls(kind: str | None = typer.Argument(None, help="One cache kind: list its entries.")) -> None:
    """List every cache kind with its entries and size (with KIND: that kind's entries)."""
    from alignlab.paths import home
    from alignlab.store import list_cache, list_caches

    if kind is not None:
        _ls_kind(list_cache(kind))
        return
    usage = list_caches()
    table = Table(title=f"caches in {home()}")
    table.add_column("kind", no_wrap=True)
    table.add_column("entries", justify="right", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("newest", no_wrap=True)
    table.add_column("cleared", no_wrap=True)
    for u in usage:
        table.add_row(u.kind.name, _count(u.n_entries), human_bytes(u.size_bytes), _when(u.newest),
                      "by default" if u.kind.is_default else "by name")
    console.print(table)
    console.print(f"{human_bytes(sum(u.size_bytes for u in usage))} in all. `alignlab cache ls KIND`: a kind's entries "
                  "and what it holds; `alignlab cache clear [KIND ...]`: clear (by default only the cheap kinds)",
                  soft_wrap=True, highlight=False)


def _ls_kind(usage) -> None:
    kind = usage.kind
    console.print(f"{kind.name}: {kind.holds}", soft_wrap=True, highlight=False)
    console.print(f"  in {kind.root}\n  keyed by {kind.keyed_by}\n  if cleared: {kind.rebuild}", soft_wrap=True,
                  highlight=False)
    table = Table()
    table.add_column("entry", no_wrap=True)
    table.add_column("what")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("created", no_wrap=True)
    for item in usage.items:
        table.add_row(item.name[:26], _what(item), human_bytes(item.size_bytes), _when(item.created))
    console.print(table)
    console.print(f"{_count(usage.n_entries)}, {human_bytes(usage.size_bytes)}")


def _outcome(done) -> str:
    """One line for what clearing a kind did."""
    if done.busy and not done.n_removed and not done.n_leftovers:
        return (f"{done.kind}: skipped, in use by a running build ({'; '.join(done.busy)}); nothing removed, "
                "clear it when that finishes")
    line = f"{done.kind}: removed {_count(done.n_removed)} ({human_bytes(done.bytes_freed)})"
    if done.n_leftovers:
        line += f" and {done.n_leftovers} interrupted write(s)"
    if done.busy:
        line += f"; kept what running builds hold ({'; '.join(done.busy)})"
    return line


@app.command("clear")
@user_errors
def clear(
    kinds: list[str] | None = typer.Argument(None, help="Cache kinds to clear (default: those `cache ls` marks "
                                                        "'by default', cheap to rebuild)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
) -> None:
    """Delete every entry of the named cache kinds; without names, only the ones cheap to rebuild.
    Organisms and prepared models are cleared only when named, and skipped while a build runs."""
    from alignlab.paths import home
    from alignlab.store import cache_kinds, clear_cache, default_kinds, get_cache_kind

    names = list(dict.fromkeys(kinds or default_kinds()))
    for name in names:
        get_cache_kind(name)  # an unknown kind: one line naming the valid ones, before anything is deleted
    if not yes and not typer.confirm(f"delete every entry of {', '.join(names)} in {home()}?"):
        raise typer.Exit(1)
    for name in names:
        console.print(_outcome(clear_cache(name)), soft_wrap=True, highlight=False)
    if not kinds:
        kept = [k.name for k in cache_kinds() if not k.is_default]
        console.print(f"kept {', '.join(kept)} (cleared only when named)", soft_wrap=True, highlight=False)
