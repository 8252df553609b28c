"""``alignlab run SPEC``: run any spec (every run of its sweep) on an executor."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from alignlab.cli._common import FORCE, RUNS, THREADS, console, sigterm_as_interrupt, threads_option, user_errors


def _kinds_help() -> str:
    from alignlab.runtime import SPECS

    return ", ".join(sorted(SPECS))


@user_errors
def run(
    spec: Path = typer.Argument(..., help="A YAML spec: `kind:` plus the config's fields, optional `sweep:`."),
    executor: str = typer.Option("inline", help="inline | local | ray"),
    workers: int = typer.Option(None, help="local: worker processes (default: one per core)."),
    timeout: float = typer.Option(None, help="local/ray: seconds before a run is killed and recorded as failed."),
    memory_gb: float = typer.Option(None, help="local: address-space limit per worker; ray: reservation per task."),
    address: str = typer.Option(None, help="ray: cluster address ('auto', 'ray://host:10001'); default: start one."),
    num_cpus: int = typer.Option(None, help="ray: CPUs of a locally started instance."),
    runs: Path = RUNS,
    threads: int = THREADS,
    force: bool = FORCE,
) -> None:
    """Run a spec; finished runs are reused, failed ones retried. Kinds: see `alignlab runs kinds`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    from alignlab.runtime import load_spec, run_spec


    loaded = load_spec(spec)
    n = len(loaded.configs())
    console.print(f"{loaded.kind}: {n} run(s) on the {executor} executor")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("eta"), TimeRemainingColumn(), console=console, transient=True) as progress:
        bar = progress.add_task("runs", total=n)
        try:
            with sigterm_as_interrupt(), threads_option(threads):
                result = run_spec(loaded, executor=executor, root=runs, on_done=lambda o: progress.advance(bar),
                                  force=force, workers=workers, timeout_s=timeout, memory_gb=memory_gb,
                                  address=address, num_cpus=num_cpus)
        except KeyboardInterrupt:
            progress.stop()
            console.print("[yellow]interrupted[/]: runs this process was running were stopped and recorded as "
                          "cancelled (runs it was only waiting for were left alone); finished runs are kept — "
                          "run the spec again to resume")
            raise typer.Exit(130) from None
    table = Table(title=f"{loaded.kind}: {n} run(s)")
    for col in ("run", "status", "seconds", "note"):
        table.add_column(col)
    for o in result.outcomes:
        status = "[green]finished[/]" if o["status"] == "finished" else "[red]failed[/]"
        note = "cached" if o["cached"] else (o["error"] or "")
        table.add_row(o["id"], status, f"{o['seconds']:.1f}", note[:100])
    console.print(table)
    if result.record is not None:
        console.print(f"sweep record: {result.record.path}")
    else:
        console.print(f"run record: {result.outcomes[0]['path']}")
    if result.failed:
        console.print(f"[red]{len(result.failed)} of {n} run(s) failed[/]: their error.json and log say why; "
                      "run the spec again to retry them (finished runs are kept)")
        raise typer.Exit(1)
