"""The ``alignlab`` command: thin wrappers that parse, call one library function, and
print where the results went. Each command group lives in its own module here."""

from __future__ import annotations

import typer

from alignlab.cli import audit, organisms  # noqa: I001  (stage 3: adversarial)
from alignlab.cli import serve  # the evaluator service (issue 16)
from alignlab.cli import campaign  # the automated researcher's campaigns (issue 16)
from alignlab.cli import cache, debate, doctor, elicit, models, pipeline, probe_sweep, report, results, run, runs, tasks, testbeds, w2s

app = typer.Typer(
    name="alignlab",
    help="An automated alignment lab on real language models, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"alignlab {version('alignlab')}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print alignlab's version and exit.")) -> None:
    """An automated alignment lab on real language models, offline."""


app.add_typer(models.app, name="models", help="Offline model zoo: list and prepare models.")
app.add_typer(tasks.app, name="tasks", help="Labelled tasks: list and inspect them.")
app.add_typer(cache.app, name="cache", help="Every cache under ALIGNLAB_HOME: list them, clear them.")
app.add_typer(debate.app, name="debate", help="Scalable oversight: debate with a sparse judge.")
app.command("doctor")(doctor.doctor)
app.command("demo")(pipeline.demo)
app.command("probe-sweep")(probe_sweep.probe_sweep)
app.command("elicit")(elicit.elicit)
app.add_typer(w2s.app, name="w2s", help="Weak-to-strong: one experiment, or `w2s sweep` for a grid.")
app.add_typer(runs.app, name="runs", help="Run records: list, show and compare them.")
app.command("run")(run.run)
app.command("report")(report.report)
app.add_typer(results.app, name="results", help="Results documents: list them, render one from run records.")
app.command("pipeline")(pipeline.pipeline)
app.add_typer(testbeds.app, name="testbeds", help="Testbeds of the experiment protocol: list them, show their schemas.")
app.add_typer(organisms.app, name="organisms", help="Model organisms of misalignment: list and build them.")
app.command("audit")(audit.audit)
app.add_typer(serve.app, name="serve", help="The evaluator service that holds the labels: run it, give campaigns tokens.")
app.add_typer(campaign.app, name="campaign", help="Automated research: run, resume, stop a campaign; its ledger's status.")
