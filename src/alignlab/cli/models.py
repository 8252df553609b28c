"""``alignlab models list | prepare NAME``."""

from __future__ import annotations

import typer
from rich.table import Table

from alignlab.cli._common import console, human_bytes, user_errors

app = typer.Typer(no_args_is_help=True)


@app.command("list")
@user_errors
def list_models() -> None:
    """Show the offline models: installed, prepared, size, d_model, n_layers."""
    from alignlab.errors import AlignlabError
    from alignlab.models import REGISTRY, TINY_CONFIGS, read_prepared

    table = Table(title="alignlab models")
    table.add_column("name", no_wrap=True)
    for col in ("installed", "prepared", "size", "d_model", "n_layers", "notes"):
        table.add_column(col)
    for entry in REGISTRY.values():
        installed = entry.source.is_installed()
        prepared, size = "no", ""
        if installed:
            try:
                ready = read_prepared(entry.name)
            except AlignlabError:
                prepared = "damaged"
            else:
                if ready is not None:
                    prepared, size = "yes", human_bytes(ready.size_bytes)
        table.add_row(entry.name, "yes" if installed else "[yellow]no[/]", prepared, size,
                      str(entry.d_model), str(entry.n_layers), entry.notes)
    for name, spec in TINY_CONFIGS.items():
        table.add_row(name, "built-in", "-", "-", str(spec["hidden_size"]),
                      str(spec["num_hidden_layers"]), f"random {spec['model_type']}, for tests")
    console.print(table)
    console.print("Also accepted anywhere a model is named: a local Hugging Face folder (a relative or absolute "
                  "path), or a hub id org/name already in the local Hugging Face cache.")


@app.command("prepare")
@user_errors
def prepare_model(
    name: str = typer.Argument(..., help="A registered model name (see `alignlab models list`)."),
    force: bool = typer.Option(False, help="Rebuild even if already prepared (repairs changed weights)."),
) -> None:
    """Verify, dequantize and cache a model as safetensors under $ALIGNLAB_HOME (one
    process at a time: a second waits, then finds it ready)."""
    from alignlab.models import prepare

    ready = prepare(name, force=force)
    console.print(f"{name}: ready at {ready.path} ({human_bytes(ready.size_bytes)}, "
                  f"sha256 {ready.weights_sha256[:16]}…)")
