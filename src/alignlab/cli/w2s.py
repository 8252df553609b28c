"""``alignlab w2s``: one weak-to-strong experiment over seeds; ``alignlab w2s sweep``: a grid."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from alignlab.cli._common import console, read_config, user_errors

app = typer.Typer(invoke_without_command=True, no_args_is_help=False)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _fmt(e: dict | None, digits: int = 3) -> str:
    return "undefined" if e is None else f"{e['value']:.{digits}f} [{e['lo']:.{digits}f}, {e['hi']:.{digits}f}]"


@app.callback()
@user_errors
def w2s(
    ctx: typer.Context,
    weak: str = typer.Option("smollm2-135m", help="Weak supervisor model."),
    strong: str = typer.Option("gemma3-270m", help="Strong student model."),
    mid: str = typer.Option(None, help="Intermediate model (for --method bootstrap)."),
    task: str = typer.Option("sarcasm", help="Binary task name or .jsonl/.csv path."),
    method: str = typer.Option("aux_conf", help="xent | aux_conf | conf_filter | bootstrap | knn_smooth"),
    seeds: int = typer.Option(5, help="Number of seeds (0..seeds-1)."),
    n: int = typer.Option(2000, help="Examples drawn from the task."),
    train: str = typer.Option("head", help="head (frozen activations, fast) | finetune (the model itself)."),
    lora: bool = typer.Option(False, help="With --train finetune: LoRA adapters instead of every weight."),
) -> None:
    """Weak-to-strong: weak, student, ceiling accuracy and PGR (or `w2s sweep` for a grid)."""
    if ctx.invoked_subcommand is not None:
        return
    from alignlab.generalization import FinetuneConfig, W2SConfig, run_w2s

    record = run_w2s(W2SConfig(weak=weak, strong=strong, mid=mid, task=task, method=method, train=train,
                               finetune=FinetuneConfig(lora=lora), seeds=tuple(range(seeds)), n_examples=n))
    s = record.result["summary"]
    runs = record.result["runs"]
    table = Table(title=f"{weak} -> {strong} on {task}, {method} ({train}): test accuracy, mean over "
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


@app.command()
@user_errors
def sweep(
    config: Path = typer.Option(None, help="A W2SSweepConfig YAML; the options below override it."),
    tasks: str = typer.Option(None, help="Comma-separated tasks."),
    pairs: str = typer.Option(None, help="Comma-separated weak:strong pairs."),
    methods: str = typer.Option(None, help="Comma-separated methods."),
    seeds: int = typer.Option(None, help="Number of seeds (0..seeds-1)."),
    n: int = typer.Option(None, help="Examples drawn from each task."),
) -> None:
    """Tasks x model pairs x methods (finished runs reused): a table, PGR and size plots."""
    from alignlab.generalization import W2SSweepConfig, run_w2s_sweep

    data = read_config(config, "sweep config")
    if tasks:
        data["tasks"] = _csv(tasks)
    if pairs:
        data["pairs"] = [tuple(p.split(":")) for p in _csv(pairs)]
    if methods:
        data["methods"] = _csv(methods)
    base = dict(data.get("base", {}))
    if seeds:
        base["seeds"] = list(range(seeds))
    if n:
        base["n_examples"] = n
    data["base"] = base
    record = run_w2s_sweep(W2SSweepConfig.model_validate(data))
    table = Table(title="weak-to-strong sweep: test accuracy and PGR, mean over seeds (95% t-CI)")
    for col in ("task", "weak -> strong", "method", "weak", "student", "ceiling", "PGR", "n_test x seeds"):
        table.add_column(col, justify="right")
    for row in record.result["rows"]:
        pgr = _fmt(row["pgr"], 2) if row["pgr"] else f"no gap ({row['pgr_undefined_seeds']} seeds)"
        table.add_row(row["task"], f"{row['weak']} -> {row['strong']}", row["method"], _fmt(row["weak"]),
                      _fmt(row["student"]), _fmt(row["ceiling"]), pgr, f"{row['n_test']} x {row['seeds']}")
    console.print(table)
    console.print(f"sweep record and figures: {record.path}")
