"""The evaluator service: the trusted process that holds the labels, on loopback HTTP.

    alignlab serve evaluator --state DIR              # admin token: DIR/admin.token (0600)
    alignlab serve new-campaign demo --budget 500     # prints the campaign's bearer token

A campaign opens a problem: ``testbed.open`` runs *here*, writes the Problem folder under
``DIR/problems/<campaign>/`` (workers read it) and returns the secret, which stays in this
process's memory only. The campaign's worker solves the Problem; the campaign submits the
predictions; the service answers with ``Scores`` — never ``reveal`` data or per-item
correctness — and is the only writer of Scores (``verify`` checks a Scores a ledger holds
against the one issued). Rules, each a refusal with one line that says why:

- a bearer token per campaign (401), its problems only (404);
- a query budget per campaign: one per scored submission and per refused probe (429 once
  spent, nothing scored);
- a ``confirm`` instance (testbed, config, seed) is scored at most ``confirm_slots``
  times per campaign (1 by default; the best idea, the baseline and the references it is
  compared with — fixed when the campaign is created) and never searched (409);
- probing: a submission that differs from an earlier one *to the same instance* (any
  problem id, any campaign) in 1..k items, k = max(2, 1 % of the items), is refused (403)
  and charged. Refused, not flagged: the score of a near-copy *is* the leak (two scores
  one item apart give that item's label), so a flag after the fact would come too late.
  A submission whose values all differ but whose decisions (> 0.5) differ in 1..k items
  is scored and flagged (``near_decisions``): neighbouring hyperparameters do that
  honestly, so refusing it would break searches;
- every request, refused ones included, is one line of ``DIR/audit.jsonl`` (fsynced):
  campaign, problem, a sha256 of the predictions, the decision.

State that survives a restart (``DIR/evaluator.db``, SQLite): campaigns (token hashes,
budgets), which instance was searched or confirmed, every submission's predictions (for
the probing check), every issued response (a retried request id gets it back, never a
second charge). Secrets do not: after a restart an old problem id is 410 Gone ("reopen
the problem"), never a wrong score, and the stale Problem folders are deleted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from alignlab.errors import AlignlabError

ADMIN_TOKEN_ENV = "ALIGNLAB_EVALUATOR_ADMIN_TOKEN"
DEFAULT_PORT = 8787
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SCHEMA = """
create table if not exists campaigns (name text primary key, token_sha text unique not null, budget int not null,
    used int not null default 0, refused int not null default 0, flagged int not null default 0, created real,
    confirm_slots int not null default 1);
create table if not exists problems (id text primary key, campaign text not null, instance text not null,
    split text not null, opened real);
create table if not exists splits (campaign text not null, instance text not null, split text not null,
    scored int not null default 0, primary key (campaign, instance));
create table if not exists submissions (instance text not null, predictions blob not null);
create index if not exists submissions_instance on submissions (instance);
create table if not exists queries (id text primary key, campaign text not null, request_id text not null,
    problem text not null, predictions_sha256 text not null, response text not null, unique (campaign, request_id));
"""


class ServiceError(Exception):
    """A refused request: the HTTP status and the one-line reason the client shows."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


# --- request bodies (module level: FastAPI reads their annotations) ------------------------------

class NewCampaign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    budget: int = Field(gt=0)
    """Scored queries (and refused probes) the campaign may spend."""
    confirm_slots: int = Field(1, ge=1)
    """Submissions each confirm instance may score: the best idea's, the baseline's and
    each reference's (2 + references for ``alignlab campaign``). Set when the campaign is
    created, so a search cannot confirm idea after idea until one passes."""


class OpenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    testbed: str
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    split: Literal["search", "confirm"] = "search"


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    predictions: list[float | None]
    """One per item, in order; null (a non-finite value) counts as a failed item."""
    notes: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = Field(None, max_length=128)
    """Client-chosen; a request id already answered gets the same answer, charged once."""


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query_id: str
    scores: dict[str, Any]


@dataclass
class _Open:
    """A problem whose secret this process holds."""

    campaign: str
    testbed: Any
    name: str
    config: Any
    seed: int
    split: str
    instance: str
    secret: Any
    n_items: int


def probe_items(n_items: int) -> int:
    """The most items a new submission may differ in from an earlier one and still be a
    probe: 2, or 1 % of the items on larger problems."""
    return max(2, math.ceil(0.01 * n_items))


def _decisions(p: np.ndarray) -> np.ndarray:
    """What a threshold metric sees of each prediction: above 0.5, not, or no answer."""
    return np.where(np.isfinite(p), p > 0.5, 2).astype(np.int8)


def _sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


class Evaluator:
    """The service's state and rules, without HTTP (``create_app`` puts routes on it).
    One lock serialises every change (budgets, histories, the audit log): checking a budget
    and charging it is one step."""

    def __init__(self, state: str | Path, admin_token: str, max_open: int = 256):
        if not admin_token:
            raise AlignlabError("the evaluator needs an admin token (an empty one was given)")
        self.state = Path(state).resolve()
        self.problems_root = self.state / "problems"
        # Problem folders of an earlier run lost their secrets with it: unscorable, so gone.
        shutil.rmtree(self.problems_root, ignore_errors=True)
        self.problems_root.mkdir(parents=True, exist_ok=True)
        self._admin_sha = _sha(admin_token)
        self._max_open = max_open
        self._lock = threading.RLock()
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self._history: dict[str, np.ndarray] = {}  # instance -> (m, n_items) predictions scored so far
        self._db = sqlite3.connect(self.state / "evaluator.db", check_same_thread=False)
        self._db.execute("pragma journal_mode=wal")
        self._db.execute("pragma synchronous=full")  # a charged query survives a power cut
        self._db.executescript(_SCHEMA)
        self._audit = open(self.state / "audit.jsonl", "a", encoding="utf-8")  # noqa: SIM115 (held open)
        self.boot = secrets.token_hex(4)

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._audit.close()

    # --- the audit log ---------------------------------------------------------------------------

    def log(self, action: str, decision: str, **fields: Any) -> None:
        """One JSON line per request, on disk (fsync) before the answer leaves."""
        line = json.dumps({"time": round(time.time(), 3), "boot": self.boot, "action": action,
                           "decision": decision, **fields}, default=str)
        with self._lock:
            self._audit.write(line + "\n")
            self._audit.flush()
            os.fsync(self._audit.fileno())

    def _refuse(self, status: int, message: str, action: str, **fields: Any) -> ServiceError:
        self.log(action, f"refused {status}: {message}", **fields)
        return ServiceError(status, message)

    # --- tokens and campaigns ----------------------------------------------------------------------

    def authenticate(self, token: str | None, action: str) -> str:
        """The campaign a bearer token belongs to (401 otherwise, logged)."""
        with self._lock:  # one connection, used by one thread at a time
            row = self._db.execute("select name from campaigns where token_sha = ?",
                                   (_sha(token),)).fetchone() if token else None
        if row is None:
            raise self._refuse(401, "a valid campaign token is required (Authorization: Bearer TOKEN; "
                                    "`alignlab serve new-campaign` makes one)", action)
        return row[0]

    def new_campaign(self, admin_token: str | None, body: NewCampaign) -> dict[str, Any]:
        action = "new_campaign"
        if not admin_token or not hmac.compare_digest(_sha(admin_token), self._admin_sha):
            raise self._refuse(401, "creating a campaign needs the admin token", action, campaign=body.name)
        if not _NAME.match(body.name):
            raise self._refuse(422, f"campaign name {body.name!r}: use letters, digits, '_', '.', '-' "
                                    "(at most 64)", action, campaign=body.name)
        token = secrets.token_urlsafe(32)
        with self._lock:
            try:
                with self._db:
                    self._db.execute("insert into campaigns (name, token_sha, budget, created, confirm_slots) "
                                     "values (?, ?, ?, ?, ?)",
                                     (body.name, _sha(token), body.budget, time.time(), body.confirm_slots))
            except sqlite3.IntegrityError:
                raise self._refuse(409, f"campaign {body.name!r} exists; choose another name", action,
                                   campaign=body.name) from None
            self.log(action, "created", campaign=body.name, budget=body.budget, confirm_slots=body.confirm_slots)
        return {"campaign": body.name, "token": token, "budget": body.budget, "confirm_slots": body.confirm_slots}

    def status(self, campaign: str) -> dict[str, Any]:
        with self._lock:
            budget, used, refused, flagged, slots = self._db.execute(
                "select budget, used, refused, flagged, confirm_slots from campaigns where name = ?",
                (campaign,)).fetchone()
            n_open = sum(p.campaign == campaign for p in self._open.values())
            self.log("status", "answered", campaign=campaign)
        return {"campaign": campaign, "budget": budget, "used": used, "left": budget - used, "refused": refused,
                "confirm_slots": slots,
                "flagged": flagged, "open_problems": n_open, "boot": self.boot}

    # --- problems ---------------------------------------------------------------------------------

    def open_problem(self, campaign: str, body: OpenRequest) -> dict[str, Any]:
        """Run ``testbed.open`` here: the Problem folder for the worker, the secret kept."""
        from pydantic import ValidationError

        from alignlab.protocol import Problem
        from alignlab.protocol.testbeds import TESTBEDS
        from alignlab.store import stable_hash

        where = {"campaign": campaign, "testbed": body.testbed, "seed": body.seed, "split": body.split}
        try:
            testbed = TESTBEDS.create(body.testbed)
            config = testbed.Config.model_validate(body.params)
        except (AlignlabError, ValidationError) as err:
            message = str(err) if isinstance(err, AlignlabError) else "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
            raise self._refuse(422, f"testbed {body.testbed!r}: {message}", "open", **where) from None
        instance = stable_hash({"testbed": body.testbed, "config": config, "seed": body.seed})
        with self._lock:
            self._check_split(campaign, instance, body.split, "open", where)
        problem_id = f"p-{secrets.token_hex(8)}"
        problem = Problem(self.problems_root / campaign / problem_id)
        secret = testbed.open(config, body.seed, problem)  # unlocked: a real testbed's open takes minutes
        n_items = len(problem.json("items"))
        with self._lock:
            self._check_split(campaign, instance, body.split, "open", where)  # again: another open raced
            with self._db:
                self._db.execute("insert or ignore into splits (campaign, instance, split) values (?, ?, ?)",
                                 (campaign, instance, body.split))
                self._db.execute("insert into problems values (?, ?, ?, ?, ?)",
                                 (problem_id, campaign, instance, body.split, time.time()))
            self._open[problem_id] = _Open(campaign, testbed, body.testbed, config, body.seed, body.split, instance,
                                           secret, n_items)
            while len(self._open) > self._max_open:  # the oldest go (and their folders): 410, reopen
                old_id, old = self._open.popitem(last=False)
                shutil.rmtree(self.problems_root / old.campaign / old_id, ignore_errors=True)
            self.log("open", "opened", problem=problem_id, instance=instance, n_items=n_items, **where)
        return {"problem_id": problem_id, "folder": str(problem.folder), "n_items": n_items, "split": body.split,
                "service_dir": str(self.state)}

    def _check_split(self, campaign: str, instance: str, split: str, action: str, where: dict) -> None:
        row = self._db.execute("select split, scored from splits where campaign = ? and instance = ?",
                               (campaign, instance)).fetchone()
        if row is None:
            return
        if row[0] != split:
            raise self._refuse(409, f"this instance (testbed, config, seed) was opened for {row[0]} in campaign "
                                    f"{campaign!r}; a confirmation must be on instances the search never saw",
                               action, **where)
        slots = self._db.execute("select confirm_slots from campaigns where name = ?", (campaign,)).fetchone()[0]
        if split == "confirm" and row[1] >= slots:
            raise self._refuse(409, f"this confirm instance was already scored {row[1]} time(s) in this campaign, all its "
                                    f"confirm_slots ({slots}); a confirmation is not a search", action, **where)

    def _problem(self, campaign: str, problem_id: str, action: str) -> _Open:
        with self._lock:
            problem = self._open.get(problem_id)
            if problem is not None and problem.campaign == campaign:
                self._open.move_to_end(problem_id)
                return problem
            row = self._db.execute("select 1 from problems where id = ? and campaign = ?",
                                   (problem_id, campaign)).fetchone()
        if row is None:
            raise self._refuse(404, f"no problem {problem_id!r} in campaign {campaign!r}", action,
                               campaign=campaign, problem=problem_id)
        raise self._refuse(410, f"problem {problem_id!r} is gone (the evaluator restarted, or the problem was "
                                "closed or evicted); its secret was in memory only: reopen the problem", action,
                           campaign=campaign, problem=problem_id)

    def close_problem(self, campaign: str, problem_id: str) -> dict[str, Any]:
        problem = self._problem(campaign, problem_id, "close")
        with self._lock:
            self._open.pop(problem_id, None)
            shutil.rmtree(self.problems_root / problem.campaign / problem_id, ignore_errors=True)
            self.log("close", "closed", campaign=campaign, problem=problem_id)
        return {"problem_id": problem_id, "closed": True}

    # --- scoring ----------------------------------------------------------------------------------

    def score(self, campaign: str, problem_id: str, body: ScoreRequest) -> str:
        """The response JSON for a submission: ``{scores, query_id, query, queries_left, flags}``."""
        from alignlab.protocol import Submission

        p = np.array([np.nan if x is None else x for x in body.predictions], dtype=np.float64)  # (n_items,)
        where = {"campaign": campaign, "problem": problem_id, "request_id": body.request_id,
                 "predictions_sha256": _sha(p.tobytes()), "n_predictions": len(p)}
        with self._lock:
            if body.request_id is not None:  # a retry of an answered request: the same answer, no charge
                row = self._db.execute("select problem, predictions_sha256, response from queries "
                                       "where campaign = ? and request_id = ?", (campaign, body.request_id)).fetchone()
                if row is not None and tuple(row[:2]) != (problem_id, where["predictions_sha256"]):
                    raise self._refuse(409, f"request id {body.request_id!r} was used for another submission; "
                                            "use a fresh id per submission", "score", **where)
                if row is not None:
                    self.log("score", "repeated request id: earlier answer returned, not charged", **where)
                    return row[2]
            problem = self._problem(campaign, problem_id, "score")
            where["instance"] = problem.instance
            if len(p) != problem.n_items:
                raise self._refuse(422, f"{len(p)} predictions for {problem.n_items} items (one per item, in the "
                                        "order of items.json)", "score", **where)
            if problem.split == "confirm":
                self._check_split(campaign, problem.instance, "confirm", "score", where)
            budget, used = self._db.execute("select budget, used from campaigns where name = ?",
                                            (campaign,)).fetchone()
            if used >= budget:
                raise self._refuse(429, f"campaign {campaign!r} has used its {budget} queries; nothing was scored",
                                   "score", **where)
            flags = self._probe_check(problem, p, where)
            submission = Submission(predictions=p.tolist(), notes=body.notes)
            scores = problem.testbed.score(problem.config, problem.secret, submission, problem.seed)
            query_id = f"q-{secrets.token_hex(8)}"
            response = json.dumps({"scores": json.loads(scores.model_dump_json()), "query_id": query_id,
                                   "query": used + 1, "queries_left": budget - used - 1, "flags": flags})
            with self._db:
                self._db.execute("update campaigns set used = used + 1, flagged = flagged + ? where name = ?",
                                 (int(bool(flags)), campaign))
                self._db.execute("insert into queries values (?, ?, ?, ?, ?, ?)",
                                 (query_id, campaign, body.request_id or query_id, problem_id,
                                  where["predictions_sha256"], response))
                self._db.execute("insert into submissions values (?, ?)", (problem.instance, p.tobytes()))
                if problem.split == "confirm":
                    self._db.execute("update splits set scored = scored + 1 where campaign = ? and instance = ?",
                                     (campaign, problem.instance))
            self._history[problem.instance] = np.vstack([self._past(problem.instance, len(p)), p[None]])
            self.log("score", "scored" + (f" (flagged: {', '.join(flags)})" if flags else ""), query_id=query_id,
                     query=used + 1, primary=scores.metrics[scores.primary].value, **where)
        return response

    def _past(self, instance: str, n_items: int) -> np.ndarray:
        """Every submission scored on ``instance`` so far, (m, n_items), from the database
        the first time after a start."""
        if instance not in self._history:
            rows = self._db.execute("select predictions from submissions where instance = ?", (instance,)).fetchall()
            self._history[instance] = np.array([np.frombuffer(r[0], dtype=np.float64) for r in rows],
                                               dtype=np.float64).reshape(len(rows), n_items)
        return self._history[instance]

    def _probe_check(self, problem: _Open, p: np.ndarray, where: dict) -> list[str]:
        """Refuse (403, charged) a near-copy of an earlier submission to the same instance;
        the flags of one that is only near in its decisions."""
        past = self._past(problem.instance, len(p))  # (m, n_items)
        if not len(past):
            return []
        k = probe_items(len(p))
        changed = (~np.isclose(past, p[None], rtol=1e-9, atol=1e-12, equal_nan=True)).sum(1)  # (m,)
        near = changed[(changed >= 1) & (changed <= k)]
        if len(near):
            with self._db:
                self._db.execute("update campaigns set used = used + 1, refused = refused + 1 where name = ?",
                                 (problem.campaign,))
            raise self._refuse(403, f"refused as a probe: this submission differs from an earlier one to the same "
                                    f"instance in only {near.min()} item(s) (at most {k} is a probe: the difference "
                                    "of the two scores would give those items' labels); the query was charged",
                               "score", **where)
        flipped = (_decisions(past) != _decisions(p)[None]).sum(1)  # (m,)
        return ["near_decisions"] if ((flipped >= 1) & (flipped <= k)).any() else []

    def verify(self, campaign: str, body: VerifyRequest) -> dict[str, Any]:
        """Whether ``scores`` is what this service issued as ``query_id`` (a record that
        claims Scores the evaluator never wrote is caught here)."""
        from alignlab.protocol import Scores

        with self._lock:
            row = self._db.execute("select response from queries where id = ? and campaign = ?",
                                   (body.query_id, campaign)).fetchone()
        if row is None:
            valid, reason = False, f"no query {body.query_id!r} in campaign {campaign!r}"
        else:
            try:
                valid = Scores.model_validate(body.scores) == Scores.model_validate(json.loads(row[0])["scores"])
                reason = "" if valid else "these Scores differ from the ones issued"
            except ValueError as err:
                valid, reason = False, f"not a Scores record: {str(err).splitlines()[0]}"
        self.log("verify", "valid" if valid else f"invalid: {reason}", campaign=campaign, query_id=body.query_id)
        return {"valid": valid, "reason": reason}
