"""``alignlab pipeline``: the main job (``make demo``) — three stages, one report."""

from __future__ import annotations

from pathlib import Path

import typer

from alignlab.cli._common import console, read_config, sigterm_as_interrupt, user_errors


@user_errors
def pipeline(
    config: Path = typer.Option(None, help="A YAML PipelineConfig (or a `kind: pipeline` spec); default: built-in."),
    seeds: int = typer.Option(None, help="Override: number of seeds (0..seeds-1)."),
    n: int = typer.Option(None, help="Override: weak-to-strong examples."),
    no_stress: bool = typer.Option(False, "--no-stress", help="Skip stage 3 (organisms and audit)."),
) -> None:
    """Weak-to-strong, truth probes on the student, organisms and audit; prints the report's path."""
    from alignlab.pipeline import PipelineConfig
    from alignlab.runtime._spec import _validate
    from alignlab.errors import AlignlabError
    from alignlab.runtime._job import execute
    from alignlab.runtime._spec import Job
    from alignlab.paths import runs_dir
    from alignlab.store import load_run

    data = read_config(config, "the pipeline config")
    if seeds is not None:
        data["seeds"] = list(range(seeds))
    if n is not None:
        data["n_examples"] = n
    if no_stress:
        data["stress_test"] = False
    cfg = _validate(PipelineConfig, data)
    try:
        with sigterm_as_interrupt():
            out = execute(Job("pipeline", cfg.model_dump(mode="json"), str(runs_dir().resolve())), "inline")
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: the running stage was recorded as cancelled; finished stages "
                      "are kept — run it again to resume")
        raise typer.Exit(130) from None
    if out["status"] != "finished":
        raise AlignlabError(f"the pipeline failed: {out['error']} (details: {out['path']}/error.json and log)")
    record = load_run(out["path"])
    report = record.path / "report.html"
    if not report.exists():  # a finished pipeline read back from disk
        from alignlab.report import render_report

        render_report(record.path)
    _print_scorecard(record.result["scorecard"])
    t = record.result["timings"]
    console.print(f"stage times when the pipeline ran: training {t['training']:.0f} s, validation "
                  f"{t['validation']:.0f} s, stress test {t['stress']:.0f} s (a finished pipeline is read back)")
    console.print(f"run record: {record.path}")
    console.print(f"[bold]report: {report}[/]")


def _est(e) -> str:
    if not e or e.get("value") is None:
        return "undefined"
    return f"{e['value']:.3f} [{e['lo']:.3f}, {e['hi']:.3f}]"


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
        table.add_row("stress", f"{cell.get('organism')} x {cell.get('detector')}",
                      f"AUROC {_est(cell.get('auroc'))}; {cell.get('verdict', '')}")
    console.print(table)
