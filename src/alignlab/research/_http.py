"""The evaluator service over HTTP: the FastAPI app around an ``Evaluator``
(``_service``), its admin token, and the server (uvicorn on loopback).

    alignlab serve evaluator --state DIR              # admin token: DIR/admin.token (0600)
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from alignlab.errors import AlignlabError
from alignlab.research._service import (
    ADMIN_TOKEN_ENV,
    DEFAULT_PORT,
    Evaluator,
    NewCampaign,
    OpenRequest,
    ScoreRequest,
    ServiceError,
    VerifyRequest,
)


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def create_app(state: str | Path, admin_token: str, max_open: int = 256):
    """The FastAPI app around an ``Evaluator`` on ``state`` (``app.state.evaluator``).
    Endpoints are sync: FastAPI runs them in its thread pool and the lock orders them."""
    from fastapi import FastAPI, Header
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response

    evaluator = Evaluator(state, admin_token, max_open)
    app = FastAPI(title="alignlab evaluator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.evaluator = evaluator

    @app.exception_handler(ServiceError)
    async def _refused(request, err: ServiceError):
        return JSONResponse({"detail": err.message}, status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, err):  # one line, and logged like every other request
        message = "invalid request: " + "; ".join(
            f"{'.'.join(map(str, e['loc'][1:])) or 'body'}: {e['msg']}" for e in err.errors())
        evaluator.log(request.url.path, f"refused 422: {message}")
        return JSONResponse({"detail": message}, status_code=422)

    @app.get("/health")
    def health():
        return {"ok": True, "service": "alignlab evaluator", "boot": evaluator.boot}

    @app.post("/campaigns")
    def new_campaign(body: NewCampaign, authorization: str | None = Header(None)):
        return evaluator.new_campaign(_bearer(authorization), body)

    @app.get("/campaign")
    def status(authorization: str | None = Header(None)):
        return evaluator.status(evaluator.authenticate(_bearer(authorization), "status"))

    @app.post("/problems")
    def open_problem(body: OpenRequest, authorization: str | None = Header(None)):
        return evaluator.open_problem(evaluator.authenticate(_bearer(authorization), "open"), body)

    @app.post("/problems/{problem_id}/score")
    def score(problem_id: str, body: ScoreRequest, authorization: str | None = Header(None)):
        campaign = evaluator.authenticate(_bearer(authorization), "score")
        return Response(evaluator.score(campaign, problem_id, body), media_type="application/json")

    @app.delete("/problems/{problem_id}")
    def close_problem(problem_id: str, authorization: str | None = Header(None)):
        return evaluator.close_problem(evaluator.authenticate(_bearer(authorization), "close"), problem_id)

    @app.post("/verify")
    def verify(body: VerifyRequest, authorization: str | None = Header(None)):
        return evaluator.verify(evaluator.authenticate(_bearer(authorization), "verify"), body)

    return app


def default_state() -> Path:
    """``$ALIGNLAB_HOME/evaluator``: under the home the sandbox hides from every variant."""
    from alignlab.paths import home

    return home() / "evaluator"


def admin_token(state: str | Path, token_file: str | Path | None = None, create: bool = False) -> str:
    """The admin token: from ``token_file``, else ``$ALIGNLAB_EVALUATOR_ADMIN_TOKEN``, else
    ``STATE/admin.token`` (written, mode 0600, when ``create`` and absent). Never an
    argument on a command line, where ``ps`` would show it."""
    if token_file is not None:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as err:
            raise AlignlabError(f"cannot read the admin token file {token_file}: {err.strerror}") from None
        if not token:
            raise AlignlabError(f"the admin token file {token_file} is empty")
        return token
    if os.environ.get(ADMIN_TOKEN_ENV, "").strip():
        return os.environ[ADMIN_TOKEN_ENV].strip()
    path = Path(state) / "admin.token"
    if not path.exists() and create:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
    try:
        return path.read_text().strip()
    except OSError:
        raise AlignlabError(f"no admin token: {path} does not exist (start the evaluator with this --state, or "
                            f"pass --admin-token-file, or set ${ADMIN_TOKEN_ENV})") from None


def server_url(state: str | Path | None = None) -> str:
    """The URL the evaluator on ``state`` announced (``STATE/server.json``), else the default."""
    try:
        return json.loads((Path(state or default_state()) / "server.json").read_text())["url"]
    except (OSError, ValueError, KeyError):
        return f"http://127.0.0.1:{DEFAULT_PORT}"


def serve_evaluator(state: str | Path | None = None, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                    token_file: str | Path | None = None, max_open: int = 256, announce=print) -> None:
    """Run the service until interrupted. One service per state folder (a lock: a second
    one is refused, so budgets are never charged by two); port 0 picks a free port, and
    the URL is written to ``STATE/server.json`` before requests are accepted."""
    import socket

    import uvicorn

    from alignlab.store import FolderBusy, atomic_write_text, folder_lock

    state = Path(state or default_state()).expanduser().resolve()
    token = admin_token(state, token_file, create=True)
    try:
        with folder_lock(state, wait=False):
            try:
                # proto=IPPROTO_TCP, not create_server's 0: asyncio sets TCP_NODELAY only on sockets
                # that say they are TCP, and without it every answer on a kept-alive connection
                # waited 40 ms for a delayed ACK (44 ms per query instead of ~2).
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, port))
                sock.listen(128)
            except OSError as err:
                raise AlignlabError(f"cannot listen on {host}:{port}: {err.strerror} (another evaluator? "
                                    "choose another --port)") from None
            app = create_app(state, token, max_open)
            url = f"http://{host}:{sock.getsockname()[1]}"
            atomic_write_text(state / "server.json", json.dumps({"url": url, "pid": os.getpid(),
                                                                 "boot": app.state.evaluator.boot}))
            announce(f"evaluator on {url}; state {state}; audit log {state / 'audit.jsonl'}")
            try:
                uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
            finally:
                app.state.evaluator.close()
                (state / "server.json").unlink(missing_ok=True)
    except FolderBusy as err:
        raise AlignlabError(f"another evaluator holds the state folder {state} ({err}); stop it or choose "
                            "another --state") from None
