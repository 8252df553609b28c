"""``alignlab run SPEC``: run any spec (every run of its sweep; every spec of a file of
several) on an executor."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from alignlab.cli._common import FORCE, RUNS, THREADS, console, sigterm_as_interrupt, threads_option, user_errors

# The executor options, spelled once: `alignlab results render --run` takes them too.
EXECUTOR = typer.Option("inline", help="inline | local | ray")
WORKERS = typer.Option(None, help="local: worker processes (default: one per core).")
TIMEOUT = typer.Option(None, help="local/ray: seconds before a run is killed and recorded as failed.")
MEMORY_GB = typer.Option(None, help="local: address-space limit per worker; ray: reservation per task.")
ADDRESS = typer.Option(None, help="ray: cluster address ('auto', 'ray://host:10001'); default: start one.")
NUM_CPUS = typer.Option(None, help="ray: CPUs of a locally started instance.")


def _kinds_help() -> str:
    from alignlab.runtime import SPECS

    return ", ".join(sorted(SPECS))


@user_errors
def run(
    spec: Path = typer.Argument(..., help="A YAML spec: `kind:` plus the config's fields, optional `sweep:`; "
                                          "several specs as YAML documents separated by `---`."),
    executor: str = EXECUTOR,
    workers: int = WORKERS,
    timeout: float = TIMEOUT,
    memory_gb: float = MEMORY_GB,
    address: str = ADDRESS,
    num_cpus: int = NUM_CPUS,
    runs: Path = RUNS,
    threads: int = THREADS,
    force: bool = FORCE,
) -> None:
    """Run a spec; finished runs are reused, failed ones retried. Kinds: see `alignlab runs kinds`."""
    from alignlab.runtime import load_specs

    results = run_specs_shown(load_specs(spec), executor=executor, runs=runs, threads=threads, force=force,
                              workers=workers, timeout_s=timeout, memory_gb=memory_gb, address=address,
                              num_cpus=num_cpus)
    if sum(len(r.failed) for r in results):
        raise typer.Exit(1)


def run_specs_shown(specs, executor: str = "inline", runs: Path | None = None, threads: int | None = None,
                    force: bool = False, **executor_options):
    """``runtime.run_specs`` with a progress bar, a table of the outcomes and where the
    records went; failures are printed with what to do, and returned (the caller decides
    the exit code). Ctrl-C or ``kill`` stops the runs (recorded as cancelled) and exits 130."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    from alignlab.runtime import run_specs

    n = sum(len(s.configs()) for s in specs)
    kinds = ", ".join(dict.fromkeys(s.kind for s in specs))
    console.print(f"{kinds}: {n} run(s){f' from {len(specs)} specs' if len(specs) > 1 else ''} "
                  f"on the {executor} executor")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("eta"), TimeRemainingColumn(), console=console, transient=True) as progress:
        bar = progress.add_task("runs", total=n)
        try:
            with sigterm_as_interrupt(), threads_option(threads):
                results = run_specs(specs, executor=executor, root=runs, on_done=lambda o: progress.advance(bar),
                                    force=force, **executor_options)
        except KeyboardInterrupt:
            progress.stop()
            console.print("[yellow]interrupted[/]: runs this process was running were stopped and recorded as "
                          "cancelled (runs it was only waiting for were left alone); finished runs are kept — "
                          "run the spec again to resume")
            raise typer.Exit(130) from None
    table = Table(title=f"{kinds}: {n} run(s)")
    for col in ("run", "status", "seconds", "note"):
        table.add_column(col)
    for o in (o for r in results for o in r.outcomes):
        status = "[green]finished[/]" if o["status"] == "finished" else "[red]failed[/]"
        note = "cached" if o["cached"] else (o["error"] or "")
        table.add_row(o["id"], status, f"{o['seconds']:.1f}", note[:100])
    console.print(table)
    for result in results:
        if result.record is not None:
            console.print(f"sweep record: {result.record.path}")
        else:
            console.print(f"run record: {result.outcomes[0]['path']}")
    failed = sum(len(r.failed) for r in results)
    if failed:
        console.print(f"[red]{failed} of {n} run(s) failed[/]: their error.json and log say why; "
                      "run the spec again to retry them (finished runs are kept)")
    return results
