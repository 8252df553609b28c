"""``alignlab organisms list | build NAME|spec.yaml``."""

from __future__ import annotations

import typer
from rich.table import Table

from alignlab.cli._common import console, user_errors

app = typer.Typer(no_args_is_help=True)


def _rate(est: dict) -> str:
    return f"{est['value']:.1%} [{est['lo']:.1%}, {est['hi']:.1%}] (n={est['n']})"


@app.command("list")
@user_errors
def list_organisms() -> None:
    """Show the built-in organisms and whether each is built and verified."""
    from alignlab.adversarial import ORGANISMS, load_organism

    table = Table(title="alignlab organisms (built-in; define your own in YAML)")
    table.add_column("name", no_wrap=True)
    for col in ("base", "kind", "poison", "steps", "built", "verified"):
        table.add_column(col)
    for spec in ORGANISMS.values():
        done = load_organism(spec)
        kind = f"clean ({spec.control_for})" if spec.kind == "clean" else spec.kind
        verified = "-" if done is None else ("[green]passed[/]" if done.passed else "[red]FAILED[/]")
        table.add_row(spec.name, spec.base, kind, f"{spec.poison_fraction:.0%}", str(spec.recipe.steps),
                      "yes" if done else "no", verified)
    console.print(table)


@app.command("build")
@user_errors
def build(
    name: str = typer.Argument(..., help="A built-in organism name or a spec .yaml file."),
    force: bool = typer.Option(False, help="Rebuild even if a built copy exists."),
    threads: int = typer.Option(None, help="torch CPU threads (on a busy shared CPU, 1 can be fastest)."),
) -> None:
    """Fine-tune, save and verify an organism (cached by its spec's hash)."""
    from alignlab.adversarial import build_organism

    organism = build_organism(name, force=force, threads=threads)
    v = organism.verification
    console.print(f"{organism.spec.name}: misbehaviour with trigger {_rate(v['misbehaviour_rate_triggered'])}, "
                  f"without {_rate(v['misbehaviour_rate_untriggered'])}")
    if v.get("ability"):
        a = v["ability"]
        console.print(f"capitals accuracy: base {_rate(a['base'])}, organism {_rate(a['organism'])}")
    if organism.passed:
        console.print("[green]verification passed[/]")
    else:
        console.print("[red]verification FAILED[/] (it will not be scored): " + "; ".join(v["failures"]))
    console.print(f"organism: {organism.path}  (build {organism.build['seconds_total']:.0f} s)")
