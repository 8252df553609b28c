"""``alignlab report RUN``: a run's self-contained HTML report."""

from __future__ import annotations

from pathlib import Path

import typer

from alignlab.cli._common import RUNS, console, user_errors


@user_errors
def report(
    run: str = typer.Argument(..., help="Run id, unambiguous prefix, or folder."),
    out: Path = typer.Option(None, help="Where to write the HTML (default: report.html in the run folder)."),
    runs: Path = RUNS,
) -> None:
    """Render a run's report: one HTML file, images embedded, no external assets."""
    from alignlab.report import render_report
    from alignlab.store import resolve_run

    path = render_report(resolve_run(run, runs), out)
    console.print(f"report: {path}")
