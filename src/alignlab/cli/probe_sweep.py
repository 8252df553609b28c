"""``alignlab probe-sweep``: a logistic probe on every layer of each model, for one task."""

from __future__ import annotations

import typer
from rich.table import Table

from pathlib import Path

from alignlab.cli._common import FORCE, RUNS, THREADS, console, print_warnings, run_recorded, user_errors


@user_errors
def probe_sweep(
    models: str = typer.Option("smollm2-135m,gemma3-270m", help="Comma-separated model names."),
    task: str = typer.Option("sarcasm", help="Task name or .jsonl/.csv path "
                                             "('path?text=COL&label=COL&group=COL' maps columns)."),
    n_examples: int = typer.Option(1500, help="Examples drawn from the task."),
    pooling: str = typer.Option("mean", help="mean | last"),
    seed: int = typer.Option(0, help="Seed for the examples and the split."),
    runs: Path = RUNS,
    threads: int = THREADS,
    force: bool = FORCE,
) -> None:
    """Probe every layer of real models for a real label: table, plot, run record."""
    from alignlab.demo import DemoConfig
    from alignlab.interpretability import LayerSweep

    config = DemoConfig(models=tuple(m.strip() for m in models.split(",") if m.strip()),
                        task=task, n_examples=n_examples, pooling=pooling, seed=seed)
    record = run_recorded("probe-sweep", config, runs, force, threads)
    for name, data in record.result["sweeps"].items():
        sweep = LayerSweep.from_dict(data)
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
    print_warnings(record.result)
    console.print(f"plot: {record.path / 'probe_accuracy_by_layer.png'}")
    console.print(f"run record: {record.path}")
