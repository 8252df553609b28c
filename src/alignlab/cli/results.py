"""``alignlab results list|render``: the results documents, each rendered from run
records by a registered renderer, with the campaign of runs it reports."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from alignlab.cli._common import FORCE, RUNS, THREADS, console, user_errors
from alignlab.cli.run import ADDRESS, EXECUTOR, MEMORY_GB, NUM_CPUS, TIMEOUT, WORKERS, run_specs_shown

app = typer.Typer(no_args_is_help=True)


@app.command("list")
@user_errors
def list_results() -> None:
    """Every results document with its campaign (render one: `alignlab results render NAME`)."""
    from alignlab.results import RENDERERS

    table = Table(title="results documents (alignlab results render NAME [--run])")
    for col in ("name", "document", "campaign", "runs", "description"):
        table.add_column(col)
    for name in RENDERERS.names():
        renderer = RENDERERS.create(name)
        campaign, n_runs = "—", "—"
        if hasattr(renderer, "specs"):
            specs = renderer.specs()
            campaign = renderer.campaign_label()
            n_runs = f"{sum(len(s.configs()) for s in specs)} in {len(specs)} spec(s)"
        table.add_row(name, getattr(renderer, "doc", "—"), campaign, n_runs, RENDERERS.get(name).description)
    console.print(table)


@app.command("render")
@user_errors
def render(
    name: str = typer.Argument(..., help="A results document (`alignlab results list`)."),
    out: Path = typer.Option(Path("docs/results"), "--out", help="Folder the document and its figures go to."),
    run: bool = typer.Option(False, "--run", help="First run the campaign's runs that have no record (as "
                                                  "`alignlab run` runs a spec: finished runs are reused)."),
    campaign: Path = typer.Option(None, "--campaign", help="A spec file to run and report instead of the shipped "
                                                           "campaign (e.g. a smaller grid)."),
    bench: Path = typer.Option(None, "--bench", help="Benchmark records quoted by the speed sections "
                                                     "(default: bench/results)."),
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
    """Render a results document from the run records (with --run, first run what is missing)."""
    from alignlab.errors import AlignlabError
    from alignlab.paths import runs_dir
    from alignlab.results import RENDERERS

    params = {"campaign": str(campaign)} if campaign else {}
    if bench is not None and "bench" in RENDERERS.schema(name)["properties"]:
        params["bench"] = str(bench)
    renderer = RENDERERS.create({"name": name, "params": params})
    failed = 0
    if run:
        if not hasattr(renderer, "specs"):
            raise AlignlabError(f"results renderer {name!r} has no campaign to run; render it without --run")
        results = run_specs_shown(renderer.specs(), executor=executor, runs=runs, threads=threads, force=force,
                                  workers=workers, timeout_s=timeout, memory_gb=memory_gb, address=address,
                                  num_cpus=num_cpus)
        failed = sum(len(r.failed) for r in results)
    path = renderer.render(runs or runs_dir(), out)
    console.print(f"wrote {path}")
    if failed:
        console.print(f"[red]{failed} run(s) failed[/]: the document shows them as missing")
        raise typer.Exit(1)
