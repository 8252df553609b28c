"""``alignlab doctor``: the machine, the dtype and threads in force, models, caches,
tools, and what to do about anything missing — one screen, or ``--json``."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from alignlab.cli._common import console, human_bytes, user_errors


@user_errors
def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print the diagnosis as JSON."),
    measure: bool = typer.Option(True, help="Time an fp32 and a bf16 matmul now (about a second)."),
    verify: bool = typer.Option(True, help="Re-hash every prepared model's weights against its manifest "
                                           "(about a second per GB); --no-verify trusts files unchanged since "
                                           "their last check."),
) -> None:
    """What alignlab will use on this machine, and what to fix first."""
    from alignlab.doctor import diagnose

    report = diagnose(measure=measure, verify=verify)
    if as_json:
        typer.echo(json.dumps(report, indent=1, default=str))
        return
    m, t = report["machine"], report["threads"]
    rates = report.get("matmul_gflops")
    table = Table(title="alignlab doctor", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("device", m["device"] + (f" ({m['gpu']})" if m.get("gpu") else ""))
    load = " ".join(f"{x:.1f}" for x in m["load_average"] or [])
    table.add_row("CPU", f"{m['cpu']}, {m['cpus']} cores, capability {m['cpu_capability']}, load {load}")
    if rates:
        table.add_row("matmul now", f"fp32 {rates['float32']:.0f} GFLOP/s, bf16 {rates['bfloat16']:.1f} GFLOP/s")
    table.add_row("dtype", f"[bold]{m['compute_dtype']}[/] — {m.get('dtype_reason') or m.get('dtype_error')}")
    table.add_row("threads", f"{t['torch']} torch threads (ALIGNLAB_THREADS={t['ALIGNLAB_THREADS']}); {t['policy']}")
    for row in report["models"]:
        state = ("prepared " + human_bytes(row["size_bytes"]) if row["prepared"] is True
                 else "[yellow]damaged[/]" if row["prepared"] == "damaged"
                 else "installed, not prepared" if row["installed"] else "[yellow]not installed[/]")
        table.add_row(f"model {row['name']}", state + ("" if row["in_tests"] else " (optional)"))
    w = report["weights_check"]
    weights = (f"re-hashed {human_bytes(w['bytes'])} in {w['seconds']:.1f} s (prepared models against their "
               "manifests)" if w["full"] else "checked by stamp only (--no-verify): files unchanged since their "
               "last hash are trusted")
    table.add_row("weights", weights)
    c = report["caches"]
    sizes = ", ".join(f"{k} {human_bytes(v)}" for k, v in c["sizes"].items()) or "empty"
    table.add_row("caches", f"{c['home']}: {sizes}; {human_bytes(c['free_bytes'])} free")
    table.add_row("runs", f"{c['runs']}: {human_bytes(c['runs_bytes'])}")
    for name, tool in report["tools"].items():
        table.add_row(name, tool["path"] or "[yellow]missing[/]")
    console.print(table)
    if report["todo"]:
        console.print("[bold]to do:[/]")
        for item in report["todo"]:
            console.print(f"  • {item}", soft_wrap=True)
    else:
        console.print("[green]nothing to fix[/]")
