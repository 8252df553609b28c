"""``alignlab w2s``: one weak-to-strong experiment over seeds."""

from __future__ import annotations

import typer
from rich.table import Table

from alignlab.cli._common import console, user_errors


@user_errors
def w2s(
    weak: str = typer.Option("smollm2-135m", help="Weak supervisor model."),
    strong: str = typer.Option("gemma3-270m", help="Strong student model."),
    mid: str = typer.Option(None, help="Intermediate model (for --method bootstrap)."),
    task: str = typer.Option("sarcasm", help="Binary task name or .jsonl/.csv path."),
    method: str = typer.Option("aux_conf", help="xent | aux_conf | conf_filter | bootstrap | knn_smooth"),
    seeds: int = typer.Option(5, help="Number of seeds (0..seeds-1)."),
    n: int = typer.Option(2000, help="Examples drawn from the task."),
) -> None:
    """Weak-to-strong on frozen activations: weak, student, ceiling accuracy and PGR."""
    from alignlab.generalization import W2SConfig, run_w2s

    record = run_w2s(W2SConfig(weak=weak, strong=strong, mid=mid, task=task, method=method,
                               seeds=tuple(range(seeds)), n_examples=n))
    s = record.result["summary"]
    runs = record.result["runs"]
    table = Table(title=f"{weak} -> {strong} on {task}, {method}: test accuracy, mean over "
                        f"{len(runs)} seeds (95% t-interval across seeds)")
    for col in ("", "mean", "95% CI", "n_test per seed"):
        table.add_column(col, justify="right")
    for role in ("weak", "student", "ceiling"):
        e = s[role]
        table.add_row(role, f"{e['value']:.3f}", f"[{e['lo']:.3f}, {e['hi']:.3f}]", str(runs[0]["n_test"]))
    if s["pgr"] is None:
        table.add_row("PGR", "undefined", "ceiling does not beat weak", "")
    else:
        table.add_row("PGR", f"{s['pgr']['value']:.2f}", f"[{s['pgr']['lo']:.2f}, {s['pgr']['hi']:.2f}]",
                      f"{s['pgr']['n']} seeds defined", style="bold")
    console.print(table)
    if s["pgr_undefined_seeds"]:
        console.print(f"[yellow]{s['pgr_undefined_seeds']} seed(s) had no weak-to-ceiling gap: PGR undefined there[/]")
    console.print(f"run record: {record.path}")
