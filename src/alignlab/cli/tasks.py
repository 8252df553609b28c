"""``alignlab tasks list | show NAME``."""

from __future__ import annotations

import typer
from rich.table import Table

from alignlab.cli._common import console, user_errors

app = typer.Typer(no_args_is_help=True)


@app.command("list")
@user_errors
def list_tasks() -> None:
    """Show the built-in tasks."""
    import importlib.util

    from alignlab.data import list_tasks as entries

    def package(name: str) -> str:  # found without importing it (evals and bigbench are heavy)
        missing = name != "alignlab" and importlib.util.find_spec(name.replace("-", "_")) is None
        return f"{name} [red](not installed)[/]" if missing else name

    table = Table(title="alignlab tasks")
    for col in ("name", "package", "description"):
        table.add_column(col)
    for e in entries():
        table.add_row(e.name, package(e.package), e.description)
    console.print(table)
    console.print("Your own: any .jsonl/.csv path with 'text' and 'label' columns; map others with "
                  "'path?text=COL&label=COL&group=COL' (quote it in a shell).")


@app.command("show")
@user_errors
def show_task(
    name: str = typer.Argument(..., help="A built-in task name or a .jsonl/.csv path "
                                         "('path?text=COL&label=COL&group=COL')."),
    show: int = typer.Option(3, help="Examples to print."),
    seed: int = typer.Option(0, help="Seed of the split whose sizes are shown."),
) -> None:
    """Size, label balance, fingerprint, template, split sizes and a few rendered examples."""
    import numpy as np

    from alignlab.data import load_task

    task = load_task(name)
    console.print(f"[bold]{task.name}[/] — {task.description}")
    console.print(f"kind: {task.kind}   n: {len(task)}   source: {task.source}   fingerprint: {task.fingerprint}")
    if task.kind != "code":
        console.print(f"positive rate: {np.mean(task.labels):.3f}")
    if task.n_groups != len(task):
        console.print(f"groups: {task.n_groups} (items of a group always share a split)")
    splits = task.split(seed=seed)
    console.print(f"split (seed {seed}): train {len(splits.train)}, val {len(splits.val)}, test {len(splits.test)}")
    console.print(f"template: {task.template.format!r}   choices: {task.template.choices}")
    for i, text in enumerate(task.texts(range(min(show, len(task))))):
        console.rule(f"example {i}  label={task.examples[i].label}")
        console.print(text, highlight=False, markup=False)
