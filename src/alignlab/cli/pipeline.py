"""``alignlab pipeline``: the main job (``make demo``) — three stages, one report."""

from __future__ import annotations

from pathlib import Path

import typer

from alignlab.cli._common import FORCE, RUNS, THREADS, console, read_config, run_recorded, seed_values, user_errors


@user_errors
def pipeline(
    config: Path = typer.Option(None, help="A YAML PipelineConfig (or a `kind: pipeline` spec); default: built-in."),
    seed: str = typer.Option(None, help="Override: seed values, comma-separated (e.g. 0,1,2)."),
    n_examples: int = typer.Option(None, help="Override: weak-to-strong examples."),
    no_stress: bool = typer.Option(False, "--no-stress", help="Skip stage 3 (organisms and audit)."),
    executor: str = typer.Option(None, help="Where the stages' runs execute: inline | local | ray "
                                            "(default: the config's, inline)."),
    workers: int = typer.Option(None, help="local: worker processes (default: one per core)."),
    runs: Path = RUNS,
    threads: int = THREADS,
    force: bool = FORCE,
) -> None:
    """Weak-to-strong, truth probes on the student, organisms and audit; prints the report's path."""
    from alignlab.pipeline import PipelineConfig
    from alignlab.runtime._spec import _validate

    data = read_config(config, "the pipeline config")
    if seed is not None:
        data["seeds"] = list(seed_values(seed))
    if n_examples is not None:
        data["n_examples"] = n_examples
    if no_stress:
        data["stress_test"] = False
    if executor is not None:
        data["executor"] = {"name": executor, "params": {"workers": workers} if workers else {}}
    record = run_recorded("pipeline", _validate(PipelineConfig, data), runs, force, threads)
    report = record.path / "report.html"
    if not report.exists():  # a finished pipeline read back from disk
        from alignlab.report import render_report

        render_report(record.path)
    _print_scorecard(record.result["scorecard"])
    t = record.result["timings"]
    console.print(f"stage times when the pipeline ran: training (with the base models' probes) {t['training']:.0f} s, validation "
                  f"{t['validation']:.0f} s, stress test {t['stress']:.0f} s (a finished pipeline is read back)")
    console.print(f"run record: {record.path}")
    console.print(f"[bold]report: {report}[/]")


@user_errors
def demo(runs: Path = RUNS, threads: int = THREADS) -> None:
    """The main job on built-in defaults (what `make demo` runs): `alignlab pipeline`."""
    pipeline(config=None, seed=None, n_examples=None, no_stress=False, executor=None, workers=None, runs=runs,
             threads=threads, force=False)


def _est(e) -> str:
    if not e or e.get("value") is None:
        return "undefined"
    from alignlab.stats import interval_text

    return f"{e['value']:.3f} {interval_text(e)}"


def _print_scorecard(card: dict) -> None:
    from rich.table import Table

    table = Table(title="scorecard (95% CIs)")
    table.add_column("stage")
    table.add_column("what")
    table.add_column("number")
    for method, s in card["pgr"].items():
        table.add_row("training", f"PGR, {method}", "failed" if s is None else
                      f"{_est(s['pgr'])} over {s['n_seeds'] - s['undefined_seeds']} seeds")
    for model, probes in card["probes"].items():
        for m, v in (probes or {}).items():
            table.add_row("validation", f"{model}: {m} probe test acc (layer {v['layer']})", _est(v["test"]))
    for method, s in card["student"].items():
        table.add_row("validation", f"student ({method}) agrees with logistic / CCS probe",
                      f"{_est(s['agreement_logistic'])} / {_est(s['agreement_ccs'])}")
    for cell in card.get("detection") or []:
        gap = f"gap to {cell['twin']} {_est(cell['auroc_gap'])}; " if cell.get("auroc_gap") else ""
        table.add_row("stress", f"{cell.get('organism')} x {cell.get('detector')}",
                      f"{gap}AUROC {_est(cell.get('auroc'))}; {cell.get('verdict', '')}")
    console.print(table)
