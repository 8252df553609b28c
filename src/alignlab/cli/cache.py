"""``alignlab cache ls | clear``."""

from __future__ import annotations

import typer
from rich.table import Table

from alignlab.cli._common import console, human_bytes, user_errors

app = typer.Typer(no_args_is_help=True)


@app.command("ls")
@user_errors
def ls() -> None:
    """List cached activations."""
    from alignlab.store import ActivationStore

    store = ActivationStore()
    entries = store.ls()
    table = Table(title=f"activation cache: {store.root}")
    for col in ("key", "model", "task", "shape", "layers", "pooling", "dtype", "size"):
        table.add_column(col)
    for e in entries:
        layers = e.key["layers"]
        span = f"{layers[0]}..{layers[-1]} ({len(layers)})" if len(layers) > 3 else str(layers)
        table.add_row(e.path.name[:12], e.labels.get("model", "?"), e.labels.get("task", "?"),
                      "×".join(map(str, e.shape)), span, e.key["pooling"], e.key["dtype"],
                      human_bytes(e.size_bytes))
    console.print(table)
    console.print(f"{len(entries)} entries, {human_bytes(sum(e.size_bytes for e in entries))}")


@app.command("clear")
@user_errors
def clear(yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask.")) -> None:
    """Delete every cached activation (prepared models are kept)."""
    from alignlab.store import ActivationStore

    store = ActivationStore()
    if not yes and not typer.confirm(f"delete all cached activations in {store.root}?"):
        raise typer.Exit(1)
    console.print(f"removed {store.clear()} entries from {store.root}")
