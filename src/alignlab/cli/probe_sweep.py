"""``alignlab demo``: the main job on built-in defaults."""

from __future__ import annotations

import typer
from rich.table import Table

from alignlab.cli._common import console, user_errors


@user_errors
def demo(
    models: str = typer.Option("smollm2-135m,gemma3-270m", help="Comma-separated model names."),
    task: str = typer.Option("sarcasm", help="Task name or .jsonl/.csv path."),
    n: int = typer.Option(1500, help="Examples drawn from the task."),
    pooling: str = typer.Option("mean", help="mean | last"),
    seed: int = typer.Option(0, help="Seed for the examples and the split."),
) -> None:
    """Probe every layer of real models for a real label: table, plot, run record."""
    from alignlab.demo import DemoConfig, run_demo

    config = DemoConfig(models=tuple(m.strip() for m in models.split(",") if m.strip()),
                        task=task, n_examples=n, pooling=pooling, seed=seed)
    result = run_demo(config)
    for name, sweep in result.sweeps.items():
        table = Table(title=f"{name} on {task}: probe accuracy per layer "
                            f"(n_train={sweep.n_train}, 95% Wilson CI)")
        for col in ("layer", "val acc", "test acc", "test 95% CI", "n_test"):
            table.add_column(col, justify="right")
        best = sweep.best_layer
        for layer, val, acc in zip(sweep.layers, sweep.val_accuracy, sweep.accuracy):
            style = "bold green" if layer == best else None
            table.add_row(str(layer), f"{val.value:.3f}", f"{acc.value:.3f}", f"[{acc.lo:.3f}, {acc.hi:.3f}]",
                          str(acc.n), style=style)
        table.add_row("majority", "", f"{sweep.majority.value:.3f}",
                      f"[{sweep.majority.lo:.3f}, {sweep.majority.hi:.3f}]", str(sweep.majority.n), style="dim")
        console.print(table)
        console.print(f"{name}: best layer by validation accuracy: {best}; its test accuracy "
                      f"{sweep.best_test_accuracy} vs majority class {sweep.majority.value:.3f}")
    console.print(f"plot: {result.plot}")
    console.print(f"run record: {result.run_dir}")
