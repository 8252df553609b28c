"""``alignlab campaign run|status|stop|resume|check``: the automated researcher's campaigns."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from alignlab.cli._common import console, sigterm_as_interrupt, user_errors

app = typer.Typer(no_args_is_help=True)
FOLDER = typer.Option(None, "--folder", help="The campaign's folder [default: campaigns/<name>].")


@app.command("run")
@user_errors
def run(file: str = typer.Argument(..., help="A campaign YAML file, or a shipped one's name: planted, w2s."),
        folder: Path = FOLDER,
        runs: Path = typer.Option(None, "--runs", help="Where trial records go [default: FOLDER/runs]; share "
                                                       "one between campaigns to reuse their trials.")) -> None:
    """Run a campaign (or continue it, if its folder holds it): the baseline, ideas until
    the budget is spent, the best one confirmed on held-out cells."""
    from alignlab.research import load_campaign, run_campaign

    campaign = load_campaign(file)
    _run(lambda: run_campaign(campaign, folder, runs=runs, on_event=_say))


@app.command("resume")
@user_errors
def resume(folder: Path = typer.Argument(..., help="A campaign folder.")) -> None:
    """Continue a stopped or killed campaign: nothing finished is run or counted again."""
    from alignlab.research import resume_campaign

    _run(lambda: resume_campaign(folder, on_event=_say))


@app.command("stop")
@user_errors
def stop(folder: Path = typer.Argument(..., help="A campaign folder.")) -> None:
    """Ask a running campaign to stop cleanly before its next trial (pool executors: once
    their running trials finish); `resume` continues it."""
    from alignlab.research import stop_campaign

    console.print(f"stop requested: {stop_campaign(folder)}")


@app.command("status")
@user_errors
def status(folder: Path = typer.Argument(..., help="A campaign folder."),
           as_json: bool = typer.Option(False, "--json", help="Print the status as JSON.")) -> None:
    """Budget spent, every idea with its estimate against the baseline, the confirmation."""
    from alignlab.research import campaign_status

    st = campaign_status(folder)
    if as_json:
        console.print_json(json.dumps(st, default=str))
    else:
        _show(st)


@app.command("check")
@user_errors
def check(file: str = typer.Argument(..., help="A campaign YAML file, or a shipped one's name.")) -> None:
    """Validate a campaign and print what it would run (no trial runs)."""
    from alignlab.research import load_campaign

    c = load_campaign(file)
    cells = c.resolved_cells()
    console.print(f"{c.name}: {c.question}\n  testbed {c.testbed}; baseline {c.baseline_ref().name} "
                  f"{json.dumps(c.baseline_ref().params)}; proposer {c.proposer.name}; executor {c.executor.name}\n"
                  f"  search: {len(cells.search)} cell(s) x seeds {c.search_seeds()} = {c.trials_per_idea()} "
                  f"trials per idea\n  held out: {len(cells.heldout)} cell(s) x seeds {c.heldout_seeds()} "
                  f"({c.confirmation_trials()} trials reserved)\n  budget: {c.budget.trials} trials"
                  f"{f', {c.budget.ideas} ideas' if c.budget.ideas else ''}"
                  f"{f', {c.budget.wall_s:g} s' if c.budget.wall_s else ''}; space: {len(c.space)} arm(s)", soft_wrap=True)


def _variant(ref: dict) -> str:
    """``name(a=0.1274, b=x)``: short enough for a table column."""
    def short(v):
        return f"{v:.4g}" if isinstance(v, float) else json.dumps(v) if isinstance(v, dict) else str(v)

    def flat(params: dict, prefix: str = "") -> list[str]:
        return [x for k, v in params.items() for x in (flat(v, f"{prefix}{k}.") if isinstance(v, dict) and v
                                                        else [f"{prefix}{k}={short(v)}"])]

    return f"{ref['name']}({', '.join(flat(ref['params']))})"


def _say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


def _run(start) -> None:
    try:
        with sigterm_as_interrupt():
            st = start()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished trials are kept; `alignlab campaign resume FOLDER` continues")
        raise typer.Exit(130) from None
    _show(st)


def _show(st: dict) -> None:
    b = st["budget"]
    console.print(f"[bold]{st['name']}[/] ({st['status']}{', stop requested' if st['stop_requested'] else ''}): "
                  f"{st['question']}", soft_wrap=True)
    console.print(f"trials {b['trials_used']}/{b['trials']} (search {st['trials']['search']}, confirmation "
                  f"{st['trials']['confirm']}, failed {st['trials']['failed']}); ideas {b['ideas']}"
                  f"{'/' + str(b['ideas_limit']) if b['ideas_limit'] else ''}; {b['elapsed_s']:.0f} s"
                  f"{' of ' + format(b['wall_s'], 'g') if b['wall_s'] else ''}"
                  f"{'; search ended: ' + st['search_ended'] if st['search_ended'] else ''}", soft_wrap=True)
    table = Table(title=f"{st['metric'] or 'primary'} ({st['direction'] or '?'} is better) minus the baseline "
                        f"{st['baseline']['name']}, same cells and seeds; 95% interval over cells, then seeds")
    for col in ("idea", "variant", "diff", "interval", "n", "failed", "finding"):
        table.add_column(col)
    ranked = sorted((i for i in st["ideas"] if i["role"] == "idea"), key=lambda i: -(i["gain"] or float("-inf")))
    for i in ranked:
        e = i["estimate"] or {}
        table.add_row(i["id"], _variant(i["variant"]), f"{e['diff']:+.3f}" if e else "",
                      f"[{e['lo']:+.3f}, {e['hi']:+.3f}]" if e else "",
                      str(e.get("n", "")), str(e.get("n_failed", "")), i["finding_status"] or "")
    console.print(table)
    best = st["best"]
    if best and best["heldout"]:
        h = best["heldout"]
        console.print(f"best idea {best['id']} [bold]{best['finding_status']}[/] on held-out cells: diff "
                      f"{h['diff']:+.4f} [{h['lo']:+.4f}, {h['hi']:+.4f}] (n={h['n']}, seeds {h['seeds']})",
                      soft_wrap=True)
        for ref, cmp in (best["comparisons"] or {}).items():
            console.print(f"  vs reference {ref}: {cmp['diff']:+.4f} [{cmp['lo']:+.4f}, {cmp['hi']:+.4f}]")
    console.print(f"ledger: {Path(st['folder']) / 'ledger.sqlite'}")
