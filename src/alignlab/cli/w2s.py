"""``alignlab w2s``: one weak-to-strong experiment over seeds; ``alignlab w2s sweep``: a grid."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from alignlab.cli._common import FORCE, RUNS, THREADS, console, print_warnings, read_config, run_recorded, seed_values, user_errors
from alignlab.stats import interval_text

app = typer.Typer(invoke_without_command=True, no_args_is_help=False)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _fmt(e: dict | None, digits: int = 3) -> str:
    from alignlab.stats import interval_text

    return "undefined" if e is None else f"{e['value']:.{digits}f} {interval_text(e, digits)}"


_OLD_SEEDS = typer.Option(None, "--seeds", hidden=True)


def _no_count(seeds: int | None) -> None:
    if seeds is not None:
        from alignlab.errors import AlignlabError

        raise AlignlabError(f"--seeds was a count; give seed values instead: --seed {','.join(map(str, range(seeds)))}")


@app.callback()
@user_errors
def w2s(
    ctx: typer.Context,
    weak: str = typer.Option("smollm2-135m", help="Weak supervisor model."),
    strong: str = typer.Option("gemma3-270m", help="Strong student model."),
    mid: str = typer.Option(None, help="Intermediate model (for --method bootstrap)."),
    task: str = typer.Option("sarcasm", help="Binary task name or .jsonl/.csv path "
                                             "('path?text=COL&label=COL&group=COL' maps columns)."),
    method: str = typer.Option("aux_conf", help="xent | aux_conf | conf_filter | bootstrap | knn_smooth"),
    seed: str = typer.Option("0,1,2,3,4", help="Seed values, comma-separated; each draws its own split."),
    n_examples: int = typer.Option(2000, help="Examples drawn from the task."),
    train: str = typer.Option("head", help="head (frozen activations, fast) | finetune (the model itself)."),
    lora: bool = typer.Option(False, help="With --train finetune: LoRA adapters instead of every weight."),
    runs: Path = RUNS,
    threads: int = THREADS,
    force: bool = FORCE,
    seeds: int = _OLD_SEEDS,
) -> None:
    """Weak-to-strong: weak, student, ceiling accuracy and PGR (or `w2s sweep` for a grid)."""
    if ctx.invoked_subcommand is not None:
        return
    from alignlab.generalization import FinetuneConfig, W2SConfig

    _no_count(seeds)
    config = W2SConfig(weak=weak, strong=strong, mid=mid, task=task, method=method, train=train,
                       finetune=FinetuneConfig(lora=lora), seeds=seed_values(seed), n_examples=n_examples)
    record = run_recorded("w2s", config, runs, force, threads)
    s = record.result["summary"]
    seed_runs = record.result["runs"]
    interval = "95% t-interval across seeds" if len(seed_runs) > 1 else "one seed: no interval"
    table = Table(title=f"{weak} -> {strong} on {task}, {method} ({train}): test accuracy, mean over "
                        f"{len(seed_runs)} seed(s) ({interval})")
    for col in ("", "mean", "95% CI", "n_test per seed"):
        table.add_column(col, justify="right")
    for role in ("weak", "student", "ceiling"):
        e = s[role]
        table.add_row(role, f"{e['value']:.3f}", interval_text(e), str(seed_runs[0]["n_test"]))
    if "majority_rate" in record.result:
        table.add_row("majority class", f"{record.result['majority_rate']:.3f}", "", "", style="dim")
    if s.get("pgr_withheld"):
        table.add_row("PGR", "not reported", "a role is at or below the majority class", "")
    elif s["pgr"] is None:
        table.add_row("PGR", "undefined", "ceiling does not beat weak", "")
    else:
        table.add_row("PGR", f"{s['pgr']['value']:.2f}", interval_text(s["pgr"], 2),
                      f"{s['pgr']['n']} seeds defined", style="bold")
    console.print(table)
    if s["pgr_undefined_seeds"]:
        console.print(f"[yellow]{s['pgr_undefined_seeds']} seed(s) had no weak-to-ceiling gap: PGR undefined there[/]")
    print_warnings(record.result)
    console.print(f"run record: {record.path}")


@app.command()
@user_errors
def sweep(
    config: Path = typer.Option(None, help="A W2SSweepConfig YAML; the options below override it."),
    tasks: str = typer.Option(None, help="Comma-separated tasks."),
    pairs: str = typer.Option(None, help="Comma-separated weak:strong pairs."),
    methods: str = typer.Option(None, help="Comma-separated methods."),
    seed: str = typer.Option(None, help="Seed values, comma-separated (override the config's)."),
    n_examples: int = typer.Option(None, help="Examples drawn from each task."),
    runs: Path = RUNS,
    threads: int = THREADS,
    force: bool = FORCE,
    seeds: int = _OLD_SEEDS,
) -> None:
    """Tasks x model pairs x methods (finished runs reused): a table, PGR and size plots."""
    from alignlab.generalization import W2SSweepConfig

    _no_count(seeds)
    data = read_config(config, "sweep config")
    if tasks:
        data["tasks"] = _csv(tasks)
    if pairs:
        data["pairs"] = [tuple(p.split(":")) for p in _csv(pairs)]
    if methods:
        data["methods"] = _csv(methods)
    base = dict(data.get("base", {}))
    if seed is not None:
        base["seeds"] = list(seed_values(seed))
    if n_examples:
        base["n_examples"] = n_examples
    data["base"] = base
    record = run_recorded("w2s-sweep", W2SSweepConfig.model_validate(data), runs, force, threads)
    table = Table(title="weak-to-strong sweep: test accuracy and PGR, mean over seeds (95% t-CI)")
    for col in ("task", "weak -> strong", "method", "weak", "student", "ceiling", "PGR", "n_test x seeds"):
        table.add_column(col, justify="right")
    for row in record.result["rows"]:
        pgr = _fmt(row["pgr"], 2) if row["pgr"] else f"no gap ({row['pgr_undefined_seeds']} seeds)"
        table.add_row(row["task"], f"{row['weak']} -> {row['strong']}", row["method"], _fmt(row["weak"]),
                      _fmt(row["student"]), _fmt(row["ceiling"]), pgr, f"{row['n_test']} x {row['seeds']}")
    console.print(table)
    console.print(f"sweep record and figures: {record.path}")
