"""``alignlab elicit``: truth probes (supervised and unsupervised) vs zero-shot."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from alignlab.cli._common import FORCE, RUNS, THREADS, console, print_warnings, run_recorded, user_errors


def _fmt(est: dict | None) -> str:
    from alignlab.stats import interval_text

    return "—" if not est else f"{est['value']:.3f} {interval_text(est)}"


@user_errors
def elicit(
    model: str = typer.Option("gemma3-270m", help="Model name, local folder or Hugging Face id."),
    task: str = typer.Option("capitals", help="Task with template choices: a name, or a .jsonl/.csv path "
                                              "('path?text=COL&label=COL&group=COL' maps columns)."),
    methods: str = typer.Option("logistic,mass_mean,ccs,crc,zeroshot",
                                help="Comma-separated: logistic, mass_mean, ccs, crc, zeroshot."),
    transfer: str = typer.Option(None, help="Also test the probes on this task's test split."),
    n_items: int = typer.Option(600, help="Items (contrast pairs) drawn from the task."),
    layer_stride: int = typer.Option(1, help="Probe every s-th block (the last always)."),
    sign_labels: int = typer.Option(8, help="Labelled training items that orient CCS/CRC."),
    prefix: str = typer.Option("none", help="none | misleading (wrongly answered few-shot preamble)."),
    seed: int = typer.Option(0, help="Seed for items, split, sign labels and CCS restarts."),
    dtype: str = typer.Option("auto", help="auto (bf16 where native, else fp32) | bfloat16 | float32 | float16."),
    runs: Path = RUNS,
    threads: int = THREADS,
    force: bool = FORCE,
) -> None:
    """Accuracy per method at its chosen layer (supervised: on validation; CCS/CRC: without labels), with 95% CIs; plot; run record."""
    from alignlab.interpretability._elicit import ElicitConfig

    config = ElicitConfig(model=model, task=task, methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
                          transfer=transfer, n_items=n_items, layer_stride=layer_stride, sign_labels=sign_labels,
                          prefix=prefix, seed=seed, dtype=dtype)
    record = run_recorded("elicit", config, runs, force, threads)
    res = record.result
    table = Table(title=f"{res['model']} on {res['task']}: test accuracy at the chosen layer (supervised: on validation; CCS/CRC: without labels) "
                        f"(n_train={res['n_train']}, n_val={res['n_val']}, n_test={res['n_test']}, 95% Wilson CI)")
    for col in ("method", "layer", "test accuracy", "max(acc, 1-acc) on test"):
        table.add_column(col, justify="right")
    for method, rec in res["methods"].items():
        if "skipped" in rec:
            table.add_row(method, "—", rec["skipped"], "—", style="dim")
            continue
        best = rec.get("best") or {}
        unsup = method in ("ccs", "crc")
        name = f"{method} (sign: {res['sign_labels']} labels)" if unsup else method
        extra = f"{best['test_best_sign']:.3f}" if unsup and best else "—"
        table.add_row(name, str(best.get("layer", "—")), _fmt(best.get("test")), extra)
    console.print(table)
    if "transfer" in res:
        tr = res["transfer"]
        t2 = Table(title=f"transfer: trained on {res['task']}, tested on {tr['task']} (n_test={tr['n_test']})")
        for col in ("method", "layer", "test accuracy"):
            t2.add_column(col, justify="right")
        for method, rec in tr["methods"].items():
            t2.add_row(method, str(rec.get("layer", "—")), _fmt(rec.get("test")) if "test" in rec else rec["skipped"])
        console.print(t2)
    failures = sum(len(r.get("failures", [])) for r in res["methods"].values())
    if failures:
        console.print(f"[yellow]{failures} probe fits failed (recorded in result.json)[/]")
    print_warnings(res)
    console.print(f"plot: {record.path / 'accuracy_by_layer.png'}")
    console.print(f"run record: {record.path}")
