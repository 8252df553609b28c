"""The campaign's side of the evaluator service: open a problem, submit predictions,
read the budget — and errors that say what happened.

    client = EvaluatorClient("http://127.0.0.1:8787", token)   # or $ALIGNLAB_EVALUATOR_URL/_TOKEN
    opened = client.open_problem("planted", {}, seed=0)
    scored = client.score(opened.problem_id, predictions)     # .scores, .query_id, .queries_left

Transient failures (connection refused, a timeout, 502/503/504) are retried with
exponential backoff, then end in ``EvaluatorDown`` naming the URL and how to start the
service. Retrying a score is safe: every score carries a request id the service
de-duplicates, so a submission that was counted before the answer was lost is answered
again from the service's record, never charged twice.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from alignlab.errors import AlignlabError
from alignlab.protocol import Scores

URL_ENV, TOKEN_ENV = "ALIGNLAB_EVALUATOR_URL", "ALIGNLAB_EVALUATOR_TOKEN"


class EvaluatorError(AlignlabError):
    """The evaluator refused a request or failed; the message is the service's reason."""

    status: int | None = None

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class EvaluatorDown(EvaluatorError):
    """The service does not answer (not started, killed, restarting)."""


class EvaluatorAuthError(EvaluatorError):
    """401: no token, or not a valid one."""


class BudgetExhausted(EvaluatorError):
    """429: the campaign's query budget is spent; nothing was scored."""


class ProblemGone(EvaluatorError):
    """410: the service no longer holds the problem's secret (it restarted): reopen it."""


class ProbeRefused(EvaluatorError):
    """403: the submission was too close to an earlier one on the same instance."""


class EvaluatorConflict(EvaluatorError):
    """409: a confirmation scored twice, an instance used in both splits, a taken name."""


_ERRORS = {401: EvaluatorAuthError, 403: ProbeRefused, 409: EvaluatorConflict, 410: ProblemGone,
           429: BudgetExhausted}
_TRANSIENT = (502, 503, 504)


class OpenedProblem(BaseModel):
    """A problem the service opened: its folder (for the worker) and its item count."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    problem_id: str
    folder: Path
    n_items: int
    split: str
    service_dir: Path
    """The service's state folder: to be hidden from the worker (audit log, other problems)."""


class Scored(BaseModel):
    """The service's answer to a submission."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    scores: Scores
    query_id: str
    """Names this answer in the service's record (``EvaluatorClient.verify``)."""
    query: int
    queries_left: int
    flags: list[str] = []


class EvaluatorClient:
    """HTTP client of ``alignlab serve evaluator`` for one campaign (its bearer token).
    ``http``: an ``httpx.Client``-like object to use instead (FastAPI's TestClient)."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout_s: float = 600.0,
                 retries: int = 4, backoff_s: float = 0.25, http: Any = None):
        import httpx

        self.url = (url or os.environ.get(URL_ENV) or "http://127.0.0.1:8787").rstrip("/")
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        self.retries, self.backoff_s = retries, backoff_s
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if http is None:  # timeout: opening a real testbed's problem runs its trusted part (minutes)
            http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout_s, connect=5.0))
        http.headers.update(headers)
        self._http = http

    def __enter__(self) -> EvaluatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, body: Any = None, retries: int | None = None) -> Any:
        """The JSON answer; transient failures retried with backoff (every request here is
        safe to repeat: a score's request id makes it so)."""
        import httpx

        retries = self.retries if retries is None else retries
        delay, last = self.backoff_s, ""
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(delay)
                delay *= 2
            try:
                response = self._http.request(method, path, json=body)
            except httpx.TransportError as err:
                last = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
                continue
            if response.status_code in _TRANSIENT:
                last = f"HTTP {response.status_code}"
                continue
            if response.status_code < 400:
                return response.json()
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            cls = _ERRORS.get(response.status_code, EvaluatorError)
            prefix = "the evaluator failed: " if response.status_code >= 500 else ""
            raise cls(f"{prefix}{detail}", response.status_code)
        raise EvaluatorDown(f"the evaluator at {self.url} is not answering ({last}; {retries + 1} tries): start it "
                            "with `alignlab serve evaluator` (and give the campaign a token with `alignlab serve "
                            f"new-campaign`), or point ${URL_ENV} at the one running")

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health")

    def new_campaign(self, name: str, budget: int, confirm_slots: int = 1) -> str:
        """A new campaign's bearer token (this client must hold the admin token)."""
        return self._request("POST", "/campaigns", {"name": name, "budget": budget,
                                                    "confirm_slots": confirm_slots})["token"]

    def status(self) -> dict[str, Any]:
        """The campaign's budget, queries used and left, refused probes, flags."""
        return self._request("GET", "/campaign")

    def open_problem(self, testbed: str, params: dict[str, Any] | None = None, seed: int = 0,
                     split: str = "search") -> OpenedProblem:
        return OpenedProblem.model_validate(self._request(
            "POST", "/problems", {"testbed": testbed, "params": params or {}, "seed": seed, "split": split}))

    def score(self, problem_id: str, predictions: Sequence[float], notes: dict[str, Any] | None = None,
              request_id: str | None = None) -> Scored:
        """Submit one prediction per item (a non-finite one counts as a failed item)."""
        body = {"predictions": [x if math.isfinite(x) else None for x in map(float, predictions)],
                "notes": notes or {}, "request_id": request_id or uuid.uuid4().hex}
        return Scored.model_validate(self._request("POST", f"/problems/{problem_id}/score", body))

    def close_problem(self, problem_id: str) -> None:
        """Free the problem's secret and folder on the service (best effort: one try)."""
        self._request("DELETE", f"/problems/{problem_id}", retries=0)

    def verify(self, query_id: str, scores: Scores | dict[str, Any]) -> bool:
        """Whether ``scores`` is what the service issued as ``query_id``."""
        data = json.loads(scores.model_dump_json()) if isinstance(scores, Scores) else scores
        return bool(self._request("POST", "/verify", {"query_id": query_id, "scores": data})["valid"])
