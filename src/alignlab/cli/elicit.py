"""``alignlab elicit``: truth probes (supervised and unsupervised) vs zero-shot."""

from __future__ import annotations

import typer
from rich.table import Table

from alignlab.cli._common import console, user_errors


def _fmt(est: dict | None) -> str:
    return "—" if not est else f"{est['value']:.3f} [{est['lo']:.3f}, {est['hi']:.3f}]"


@user_errors
def elicit(
    model: str = typer.Option("gemma3-270m", help="Model name, local folder or Hugging Face id."),
    task: str = typer.Option("capitals", help="Task with template choices (name or .jsonl/.csv)."),
    methods: str = typer.Option("logistic,mass_mean,ccs,crc,zeroshot",
                                help="Comma-separated: logistic, mass_mean, ccs, crc, zeroshot."),
    transfer: str = typer.Option(None, help="Also test the probes on this task's test split."),
    n: int = typer.Option(600, help="Items (contrast pairs) drawn from the task."),
    layer_stride: int = typer.Option(1, help="Probe every s-th block (the last always)."),
    sign_labels: int = typer.Option(8, help="Labelled training items that orient CCS/CRC."),
    prefix: str = typer.Option("none", help="none | misleading (wrongly answered few-shot preamble)."),
    seed: int = typer.Option(0, help="Seed for items, split, sign labels and CCS restarts."),
    threads: int = typer.Option(1, help="torch threads (1 is fastest for these small fits on shared CPUs)."),
    dtype: str = typer.Option("auto", help="auto (bf16 where native, else fp32) | bfloat16 | float32 | float16."),
) -> None:
    """Accuracy per method at the layer chosen on validation, with 95% CIs; plot; run record."""
    from alignlab.interpretability._elicit import ElicitConfig, run_elicit
    from alignlab.threads import torch_threads

    config = ElicitConfig(model=model, task=task, methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
                          transfer=transfer, n_items=n, layer_stride=layer_stride, sign_labels=sign_labels,
                          prefix=prefix, seed=seed, dtype=dtype)
    with torch_threads(threads):
        out = run_elicit(config)
    res = out.result
    table = Table(title=f"{res['model']} on {res['task']}: test accuracy at the layer chosen on validation "
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
    console.print(f"plot: {out.plot}")
    console.print(f"run record: {out.run_dir}")
