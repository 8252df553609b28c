"""``alignlab serve evaluator | new-campaign``: the evaluator service that holds the labels,
and a campaign's bearer token for it. Tokens never go on a command line (``ps`` shows
those): the admin token is read from a file or ``$ALIGNLAB_EVALUATOR_ADMIN_TOKEN``."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from alignlab.cli._common import console, user_errors

app = typer.Typer(no_args_is_help=True)

STATE = typer.Option(None, "--state", help="The service's state folder: audit log, budgets, problems "
                                           "(default: $ALIGNLAB_HOME/evaluator).")
ADMIN_TOKEN_FILE = typer.Option(None, "--admin-token-file", help="A file holding the admin token (default: "
                                "$ALIGNLAB_EVALUATOR_ADMIN_TOKEN, else STATE/admin.token, made at first start).")


@app.command("evaluator")
@user_errors
def evaluator(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback: only this machine's processes)."),
    port: int = typer.Option(8787, help="Port (0: a free one; the URL goes to STATE/server.json)."),
    state: Path = STATE,
    admin_token_file: Path = ADMIN_TOKEN_FILE,
    max_open: int = typer.Option(256, min=1, help="Problems whose secrets are held at once (older ones: reopen)."),
) -> None:
    """Run the evaluator service: predictions in, Scores out, labels never."""
    from alignlab.research import serve_evaluator

    serve_evaluator(state, host, port, admin_token_file, max_open, announce=console.print)


@app.command("new-campaign")
@user_errors
def new_campaign(
    name: str = typer.Argument(..., help="The campaign's name (letters, digits, '_', '.', '-')."),
    budget: int = typer.Option(..., min=1, help="Evaluator queries the campaign may spend."),
    confirm_slots: int = typer.Option(1, min=1, help="Submissions each held-out instance may score (`alignlab "
                                                     "campaign` needs 2 + its references: the best idea, the "
                                                     "baseline, each reference)."),
    url: str = typer.Option(None, help="The service (default: $ALIGNLAB_EVALUATOR_URL, else the URL in "
                                       "STATE/server.json, else http://127.0.0.1:8787)."),
    state: Path = STATE,
    admin_token_file: Path = ADMIN_TOKEN_FILE,
    token_file: Path = typer.Option(None, help="Write the campaign's token to this file (mode 0600) instead of "
                                               "printing it."),
) -> None:
    """Create a campaign on the running service and give its bearer token."""
    from alignlab.research import (
        EvaluatorClient,
        admin_token,
        default_state,
        server_url,
    )

    state = state or default_state()
    url = url or os.environ.get("ALIGNLAB_EVALUATOR_URL") or server_url(state)
    with EvaluatorClient(url, admin_token(state, admin_token_file), retries=1) as client:
        token = client.new_campaign(name, budget, confirm_slots)
    if token_file is None:
        typer.echo(token)
        return
    token_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    console.print(f"campaign {name!r} ({budget} queries) on {url}; its token is in {token_file}")
