"""``alignlab debate ...`` (issue 7; filled in by the oversight work)."""

import typer

app = typer.Typer(no_args_is_help=True)
