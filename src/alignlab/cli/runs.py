"""``alignlab runs list|show|compare|kinds``: the run index and the run folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from alignlab.cli._common import RUNS, console, user_errors

app = typer.Typer(no_args_is_help=True)
_ROOT = RUNS


def _fmt(value: Any) -> str:
    if isinstance(value, dict) and "value" in value:
        v, lo, hi = value.get("value"), value.get("lo"), value.get("hi")
        if v is None:
            return "undefined"
        ci = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
        return f"{v:.3f}{ci}" + (f" n={value['n']}" if value.get("n") is not None else "")
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _root(root: Path | None) -> Path:
    from alignlab.paths import runs_dir

    return Path(root or runs_dir())


@app.command("list")
@user_errors
def list_runs(
    kind: str = typer.Option(None, help="Only runs of this kind."),
    status: str = typer.Option(None, help="finished | failed | running"),
    limit: int = typer.Option(50, help="Newest N runs."),
    rebuild: bool = typer.Option(False, help="Recreate the index from the run folders first."),
    root: Path = _ROOT,
) -> None:
    """Runs in the index, newest first, with their first headline numbers. A missing or
    unreadable index is rebuilt from the run folders; a run whose process is gone is
    recorded as failed."""
    import time

    from alignlab.store import list_runs

    root = _root(root)
    listing = list_runs(root, kind=kind, status=status, limit=limit, rebuild=rebuild)
    for note in listing.notes:
        console.print(note, markup=False, highlight=False, soft_wrap=True)
    rows = listing.rows
    table = Table(title=f"runs in {root} ({len(rows)} shown)")
    table.add_column("id", no_wrap=True)
    for col in ("status", "when", "seconds", "headline"):
        table.add_column(col, overflow="fold")
    for r in rows:
        when = r["finished"] or r["started"]
        head = "; ".join(f"{k}={_fmt(v)}" for k, v in list((r["summary"] or {}).items())[:4])
        color = {"finished": "green", "failed": "red"}.get(r["status"], "yellow")
        table.add_row(r["id"], f"[{color}]{r['status']}[/]",
                      time.strftime("%m-%d %H:%M", time.localtime(when)) if when else "",
                      f"{r['seconds']:.1f}" if r["seconds"] is not None else "", head or (r["error"] or "")[:80])
    console.print(table)


@app.command("show")
@user_errors
def show(run: str = typer.Argument(..., help="Run id, unambiguous prefix, or folder."), root: Path = _ROOT) -> None:
    """A run's config, status, headline numbers, environment and (if it failed) error."""
    import yaml

    from alignlab.store import headline, lock_holder, resolve_run, run_status

    path = resolve_run(run, _root(root))
    status = run_status(path)  # a run whose process is gone is recorded as failed here
    who = lock_holder(path) if status == "running" else {}
    console.print(f"[bold]{path.name}[/]  {status}" + (f" (pid {who.get('pid')} on {who.get('host')})" if who else "")
                  + f"  ({path})")
    console.print(yaml.safe_dump(yaml.safe_load((path / "config.yaml").read_text()), sort_keys=False).rstrip())
    if status == "finished":
        table = Table(title="headline numbers (95% CI)")
        table.add_column("metric")
        table.add_column("value")
        for k, v in headline(json.loads((path / "result.json").read_text())).items():
            table.add_row(k, _fmt(v))
        console.print(table)
        env = json.loads((path / "env.json").read_text())
        git = env.get("git", {})
        timing = env.get("run", {})
        console.print(f"commit {git.get('commit')} (dirty: {git.get('dirty')}); python {env.get('python')}; "
                      f"torch {env.get('packages', {}).get('torch')}"
                      + (f"; {timing['seconds']:.1f} s on {timing['executor']}" if timing else ""))
    elif status == "failed":
        err = json.loads((path / "error.json").read_text())
        console.print(f"[red]failed:[/] {err['reason']}")
        console.print("\n".join(err.get("traceback_tail", [])[-15:]), markup=False, highlight=False)
    files = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
    console.print("files: " + ", ".join(files))


@app.command("compare")
@user_errors
def compare(a: str = typer.Argument(..., help="First run."), b: str = typer.Argument(..., help="Second run."),
            root: Path = _ROOT) -> None:
    """What differs between two runs' configs, and their headline numbers side by side."""
    import yaml

    from alignlab.errors import AlignlabError
    from alignlab.store import headline, resolve_run

    paths = [resolve_run(r, _root(root)) for r in (a, b)]
    configs = [yaml.safe_load((p / "config.yaml").read_text()) for p in paths]
    table = Table(title="config differences")
    for col in ("field", paths[0].name, paths[1].name):
        table.add_column(col, overflow="fold")
    for key in sorted(set(configs[0]) | set(configs[1])):
        va, vb = configs[0].get(key), configs[1].get(key)
        if va != vb:
            table.add_row(key, json.dumps(va), json.dumps(vb))
    console.print(table if table.row_count else "configs are identical")
    missing = [p.name for p in paths if not (p / "result.json").exists()]
    if missing:
        raise AlignlabError(f"{', '.join(missing)} did not finish: nothing to compare "
                            "(`alignlab runs show` says why)")
    heads = [headline(json.loads((p / "result.json").read_text())) for p in paths]
    table = Table(title="headline numbers (95% CI)")
    for col in ("metric", paths[0].name, paths[1].name, "difference"):
        table.add_column(col, overflow="fold")
    for key in list(dict.fromkeys([*heads[0], *heads[1]])):
        va, vb = heads[0].get(key), heads[1].get(key)
        xa = va.get("value") if isinstance(va, dict) else va
        xb = vb.get("value") if isinstance(vb, dict) else vb
        diff = ""
        if isinstance(xa, (int, float)) and isinstance(xb, (int, float)):
            diff = f"{xb - xa:+d}" if isinstance(xa, int) and isinstance(xb, int) else f"{xb - xa:+.3f}"
        table.add_row(key, _fmt(va), _fmt(vb), diff)
    console.print(table)


@app.command("kinds")
@user_errors
def kinds() -> None:
    """The kinds of spec `alignlab run` accepts."""
    from alignlab.runtime import SPECS

    table = Table(title="spec kinds")
    table.add_column("kind")
    table.add_column("what it runs")
    for name in sorted(SPECS):
        table.add_row(name, SPECS[name].description)
    console.print(table)
