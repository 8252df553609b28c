"""``alignlab debate ...``: the sparse-pixel debate experiment (issue 7).

Thin: build a ``DebateConfig``, call the library, print the numbers and where they went.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from alignlab.cli._common import FORCE, RUNS, THREADS, read_config, run_recorded, user_errors

app = typer.Typer(no_args_is_help=True)

_SEARCH = typer.Option("puct", help="puct | uct | minimax (minimax: k <= 3).")
_FIRST = typer.Option("honest", help="Who reveals the first pixel: honest | liar.")


def _config(config: Optional[Path], **overrides):
    from alignlab.oversight.debate import DebateConfig

    base = read_config(config, "the debate config")
    judge_epochs = overrides.pop("judge_epochs")
    if judge_epochs is not None:
        base["judge"] = {**base.get("judge", {}), "epochs": judge_epochs}
    return DebateConfig(**{**base, **{k: v for k, v in overrides.items() if v is not None}})


@app.command()
@user_errors
def pixels(
    k: Optional[int] = typer.Option(None, help="Pixels revealed per game [default 6]."),
    images: Optional[int] = typer.Option(None, help="Test images debated [default 300]."),
    rollouts: Optional[int] = typer.Option(None, help="MCTS rollouts per move [default 1000]."),
    search: Optional[str] = typer.Option(None, help="puct | uct | minimax (k <= 3)."),
    first: Optional[str] = typer.Option(None, help="Who moves first: honest | liar."),
    precommit: Optional[bool] = typer.Option(None, "--precommit/--no-precommit",
                                             help="Liar states its label up front [default yes]."),
    seed: Optional[int] = typer.Option(None, help="Search and baseline seed [default 0]."),
    judge_epochs: Optional[int] = typer.Option(None, help="Judge training epochs [default 1000]."),
    config: Optional[Path] = typer.Option(None, help="YAML DebateConfig; flags override it."),
    runs: Optional[Path] = RUNS,
    threads: Optional[int] = THREADS,
    force: bool = FORCE,
) -> None:
    """Judge alone vs debate on 8x8 digits; prints both with 95% intervals."""
    cfg = _config(config, k=k, images=images, rollouts=rollouts, search=search, first=first,
                  precommit=precommit, seed=seed, judge_epochs=judge_epochs)
    rec = run_recorded("debate", cfg, runs, force, threads)
    r = rec.result
    typer.echo(f"k={cfg.k} images={r['n_images']} games={r['n_games']} search={cfg.search} "
               f"rollouts={cfg.rollouts} first={cfg.first} precommit={cfg.precommit}")
    typer.echo(f"judge alone (random pixels): {_fmt(r['judge_alone'])}")
    typer.echo(f"debate (honest wins):        {_fmt(r['debate'])}")
    typer.echo(f"gain (paired, bootstrap):    {_fmt(r['gain'])}")
    t = r["timing"]
    typer.echo(f"{t['judge_evals']:,} judge evaluations in {t['seconds_debate']:.1f}s "
               f"({t['judge_evals_per_second']:,.0f}/s)")
    typer.echo(f"run record: {rec.path}")


@app.command()
@user_errors
def sweep(
    ks: str = typer.Option("2,3,4,6", help="Comma-separated k values."),
    rollouts: str = typer.Option("100,1000", help="Comma-separated rollout budgets."),
    images: int = typer.Option(300, help="Test images per run."),
    first: str = _FIRST,
    precommit: bool = typer.Option(True, "--precommit/--no-precommit"),
    search: str = _SEARCH,
    seed: int = typer.Option(0, help="Search and baseline seed."),
    runs: Optional[Path] = RUNS,
    threads: Optional[int] = THREADS,
    force: bool = FORCE,
) -> None:
    """One run record per (k, rollouts); finished runs are reused. Then render the
    results with ``alignlab results render debate``."""
    from alignlab.oversight.debate import DebateConfig

    base = DebateConfig(images=images, first=first, precommit=precommit, search=search, seed=seed)
    configs = [base.model_copy(update={"k": int(k), "rollouts": int(r)})
               for k in ks.split(",") for r in rollouts.split(",")]
    for cfg in configs:  # every one validated before the first runs
        DebateConfig.model_validate(cfg.model_dump())
    for cfg in configs:
        rec = run_recorded("debate", cfg, runs, force, threads)
        r = rec.result
        typer.echo(f"k={rec.config['k']} rollouts={rec.config['rollouts']}: judge alone "
                   f"{_fmt(r['judge_alone'])}  debate {_fmt(r['debate'])}  -> {rec.path}")


def _fmt(e: dict) -> str:
    from alignlab.stats import interval_text

    return f"{100 * e['value']:5.1f}% {interval_text(e, 1, scale=100)} (n={e['n']})"
