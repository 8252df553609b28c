"""The evaluator service (issue 16, item 1) and the anti-gaming rules it enforces: tokens,
budgets, a confirmation scored once, probing refused, Scores verified, an audit line per
request, a restart that loses secrets but never budgets — through FastAPI's TestClient,
restarted in-process (the real server, killed and restarted, is in ``_e2e``)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from alignlab.protocol import Problem, Scores, Submission
from alignlab.protocol.testbeds.planted import MeanDiff, Planted, PlantedConfig
from alignlab.research import (
    BudgetExhausted,
    EvaluatorAuthError,
    EvaluatorClient,
    EvaluatorConflict,
    EvaluatorDown,
    EvaluatorError,
    ProbeRefused,
    ProblemGone,
    create_app,
    probe_items,
    remote_trial,
)

ADMIN = "the-admin-token"


class _Swap:
    """An ASGI app that can be replaced under its clients: a restart of the service."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


class Service:
    def __init__(self, state):
        self.state = state
        self.asgi = _Swap(create_app(state, ADMIN))

    def client(self, token, **kwargs) -> EvaluatorClient:
        return EvaluatorClient("http://testserver", token, http=TestClient(self.asgi), backoff_s=0, **kwargs)

    def campaign(self, name: str, budget: int, confirm_slots: int = 1) -> EvaluatorClient:
        return self.client(self.client(ADMIN).new_campaign(name, budget, confirm_slots))

    def restart(self) -> None:
        """What a killed service leaves behind: its state folder, not its memory."""
        self.asgi.app.state.evaluator.close()
        self.asgi.app = create_app(self.state, ADMIN)

    def audit(self) -> list[dict]:
        return [json.loads(line) for line in (self.state / "audit.jsonl").read_text().splitlines()]


@pytest.fixture
def service(tmp_path):
    return Service(tmp_path / "state")


def _far(seed: int, n: int = 400) -> np.ndarray:
    """Predictions unlike any other seed's (every item differs)."""
    return np.random.default_rng(seed).random(n)


def test_tokens_admit_a_campaign_to_its_own_problems_only(service):
    a = service.campaign("a", 5)
    opened = a.open_problem("planted")
    for token in (None, "wrong"):
        bad = service.client(token)
        with pytest.raises(EvaluatorAuthError, match="a valid campaign token is required") as err:
            bad.status()
        assert err.value.status == 401
        with pytest.raises(EvaluatorAuthError):
            bad.open_problem("planted")
        with pytest.raises(EvaluatorAuthError):
            bad.score(opened.problem_id, _far(0))
    with pytest.raises(EvaluatorError, match="no problem") as err:
        service.campaign("b", 5).score(opened.problem_id, _far(0))  # another campaign's token
    assert err.value.status == 404
    with pytest.raises(EvaluatorAuthError, match="admin token"):
        a.new_campaign("c", 100)  # a campaign cannot mint itself budget
    with pytest.raises(EvaluatorConflict, match="exists"):
        service.client(ADMIN).new_campaign("a", 100)
    assert a.status()["used"] == 0
    assert sum(line["decision"].startswith("refused 401") for line in service.audit()) == 7


def test_a_spent_budget_is_429_and_nothing_is_scored(service):
    c = service.campaign("a", 2)
    opened = c.open_problem("planted")
    assert [c.score(opened.problem_id, _far(s)).queries_left for s in (1, 2)] == [1, 0]
    with pytest.raises(BudgetExhausted, match="used its 2 queries; nothing was scored") as err:
        c.score(opened.problem_id, _far(3))
    assert err.value.status == 429
    assert c.status() | {"boot": None} == {"campaign": "a", "budget": 2, "used": 2, "left": 0, "refused": 0,
                                          "confirm_slots": 1, "flagged": 0, "open_problems": 1, "boot": None}
    scores = [line for line in service.audit() if line["action"] == "score"]
    assert [line["decision"].split(":")[0] for line in scores] == ["scored", "scored", "refused 429"]
    n = service.asgi.app.state.evaluator._db.execute("select count(*) from submissions").fetchone()[0]
    assert n == 2  # the refused one is in no history either


def test_a_confirmation_is_scored_once_on_an_instance_the_search_never_saw(service):
    c = service.campaign("a", 10)
    opened = c.open_problem("planted", seed=5, split="confirm")
    c.score(opened.problem_id, _far(1))
    with pytest.raises(EvaluatorConflict, match="already scored 1 time") as err:
        c.score(opened.problem_id, _far(2))
    assert err.value.status == 409
    with pytest.raises(EvaluatorConflict, match="already scored 1 time"):  # a new problem id is no second chance
        c.open_problem("planted", seed=5, split="confirm")
    c.open_problem("planted", seed=6)
    with pytest.raises(EvaluatorConflict, match="never saw"):  # the same instance, its defaults spelled out
        c.open_problem("planted", {"n_test": 400}, seed=6, split="confirm")
    service.restart()
    with pytest.raises(EvaluatorConflict, match="already scored 1 time"):  # remembered across a restart
        c.open_problem("planted", seed=5, split="confirm")
    assert c.status()["used"] == 1
    b = service.campaign("b", 1)  # another campaign has its own confirmation
    b.score(b.open_problem("planted", seed=5, split="confirm").problem_id, _far(1))


def test_confirm_slots_bound_how_many_submissions_a_held_out_instance_scores(service):
    """A campaign created for an idea, its baseline and one reference scores three
    submissions on a held-out instance, and not a fourth (no confirming idea after idea)."""
    c = service.campaign("slots", 10, confirm_slots=3)
    for s in (1, 2, 3):
        c.score(c.open_problem("planted", seed=5, split="confirm").problem_id, _far(s))
    with pytest.raises(EvaluatorConflict, match=r"already scored 3 time\(s\).*confirm_slots \(3\)"):
        c.open_problem("planted", seed=5, split="confirm")
    assert c.status()["confirm_slots"] == 3 and c.status()["used"] == 3


def test_probing_the_labels_one_item_at_a_time_is_refused_and_charged(service, tmp_path):
    n, k = 400, probe_items(400)
    assert (k, probe_items(10), probe_items(1000)) == (4, 2, 10)
    a = _far(0, n)
    flipped = a.copy()
    flipped[0] = 0.1 if a[0] > 0.5 else 0.9
    # The control: scored, the one-item flip would give item 0's label (accuracy moves by 1/n).
    config, testbed = PlantedConfig(), Planted()
    y = testbed.open(config, 1, Problem(tmp_path / "control"))
    acc = [testbed.score(config, y, Submission(predictions=p.tolist()), 1).metrics["accuracy"].value
           for p in (a, flipped)]
    assert abs(acc[1] - acc[0]) == pytest.approx(1 / n)
    assert (acc[1] > acc[0]) == (y[0] == int(flipped[0] > 0.5))

    prober = service.campaign("prober", 50)
    first = prober.open_problem("planted", seed=1)
    base = prober.score(first.problem_id, a)
    with pytest.raises(ProbeRefused, match="differs from an earlier one to the same instance in only 1 item") as err:
        prober.score(first.problem_id, flipped)
    assert err.value.status == 403
    near = a.copy()
    near[:k] += 1e-6  # k values moved: still a probe
    with pytest.raises(ProbeRefused, match=f"only {k} item"):
        prober.score(first.problem_id, near)
    again = prober.open_problem("planted", seed=1)  # a fresh problem id of the same instance
    with pytest.raises(ProbeRefused):
        prober.score(again.problem_id, flipped)
    other = service.campaign("other", 5)  # another campaign on the same instance
    with pytest.raises(ProbeRefused):
        other.score(other.open_problem("planted", seed=1).problem_id, flipped)
    service.restart()  # the history is on disk
    with pytest.raises(ProbeRefused):
        prober.score(prober.open_problem("planted", seed=1).problem_id, flipped)

    reopened = prober.open_problem("planted", seed=1)
    assert prober.score(reopened.problem_id, a).scores == base.scores  # a resubmission is no probe
    wide = a.copy()
    wide[:k + 1] += 1e-6  # more than k values moved, no decision: scored, unflagged
    assert prober.score(reopened.problem_id, wide).flags == []
    # Every value moved (nothing to refuse) but one decision flipped: scored, flagged for review.
    camouflaged = np.where(a > 0.5, (1 + a) / 2, a / 2)
    camouflaged[0] = flipped[0]
    assert prober.score(reopened.problem_id, camouflaged).flags == ["near_decisions"]
    status = prober.status()
    assert (status["used"], status["refused"], status["flagged"]) == (8, 4, 1)  # refusals are charged
    decisions = [line["decision"] for line in service.audit() if line["action"] == "score"]
    assert sum(d.startswith("refused 403: refused as a probe") for d in decisions) == 5


def test_a_wrong_count_or_a_malformed_body_is_one_line_and_free(service):
    c = service.campaign("a", 5)
    opened = c.open_problem("planted")
    with pytest.raises(EvaluatorError, match=r"^399 predictions for 400 items \(one per item") as err:
        c.score(opened.problem_id, _far(0)[:399])
    assert err.value.status == 422
    raw = TestClient(service.asgi).post(f"/problems/{opened.problem_id}/score", json={"predictions": ["x"]},
                                        headers={"Authorization": "Bearer whatever"})
    assert raw.status_code == 422 and "\n" not in raw.json()["detail"]
    assert raw.json()["detail"].startswith("invalid request: predictions.0")
    with pytest.raises(EvaluatorError, match="testbed 'nope': unknown testbed 'nope'"):
        c.open_problem("nope")
    with pytest.raises(EvaluatorError, match="n_test"):
        c.open_problem("planted", {"n_test": -1})
    assert c.status()["used"] == 0


def test_the_answer_is_scores_only_and_a_tampered_score_fails_verification(service):
    c = service.campaign("a", 5)
    opened = c.open_problem("planted")
    body = TestClient(service.asgi).post(f"/problems/{opened.problem_id}/score",
                                         json={"predictions": _far(0).tolist()},
                                         headers={"Authorization": c._http.headers["Authorization"]}).json()
    assert set(body) == {"scores", "query_id", "query", "queries_left", "flags"}  # no reveal, no per-item data
    scored = Scores.model_validate(body["scores"])
    assert set(body["scores"]) == set(Scores.model_fields) and scored.n_items == 400
    assert c.verify(body["query_id"], scored)
    metrics = {**scored.metrics, "accuracy": scored.metrics["accuracy"].model_copy(update={"value": 0.99})}
    assert not c.verify(body["query_id"], scored.model_copy(update={"metrics": metrics}))
    assert not c.verify("q-forged", scored)
    assert not service.campaign("b", 1).verify(body["query_id"], scored)  # another campaign's record


def test_a_restart_loses_secrets_not_budgets_nor_answers(service):
    c = service.campaign("a", 5)
    opened = c.open_problem("planted")
    first = c.score(opened.problem_id, _far(0), request_id="r-1")
    assert c.score(opened.problem_id, _far(0), request_id="r-1").query_id == first.query_id  # a retry: no charge
    with pytest.raises(EvaluatorConflict, match="request id 'r-1' was used for another submission"):
        c.score(opened.problem_id, _far(1), request_id="r-1")  # never an answer to another submission
    assert (opened.folder / "items.json").exists()
    service.restart()
    assert not opened.folder.exists()  # a Problem whose secret is gone is removed
    with pytest.raises(ProblemGone, match="reopen the problem") as err:
        c.score(opened.problem_id, _far(1))
    assert err.value.status == 410
    with pytest.raises(EvaluatorError, match="no problem") as err:
        c.score("p-never", _far(1))
    assert err.value.status == 404
    # The answer to a request that was counted survives: a client retrying after the restart gets it.
    assert c.score(opened.problem_id, _far(0), request_id="r-1").query_id == first.query_id
    assert c.status()["used"] == 1


def test_the_audit_log_has_one_line_per_request(service):
    c = service.campaign("a", 5)                        # 1
    opened = c.open_problem("planted")                  # 2
    p = _far(0)
    c.score(opened.problem_id, p)                       # 3
    c.status()                                          # 4
    with pytest.raises(EvaluatorError):
        c.score(opened.problem_id, p[:3])               # 5
    with pytest.raises(EvaluatorAuthError):
        service.client("wrong").status()                # 6
    c.close_problem(opened.problem_id)                  # 7
    service.client("x").health()                        # not logged: health carries no campaign
    lines = service.audit()
    assert [line["action"] for line in lines] == ["new_campaign", "open", "score", "status", "score", "status",
                                                  "close"]
    scored = lines[2]
    assert scored["predictions_sha256"] == hashlib.sha256(p.tobytes()).hexdigest()
    assert (scored["campaign"], scored["problem"], scored["decision"]) == ("a", opened.problem_id, "scored")
    assert all(not isinstance(v, list) for line in lines for v in line.values())  # no predictions, no labels


def test_the_client_says_the_evaluator_is_down_and_how_to_start_it():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = EvaluatorClient(f"http://127.0.0.1:{port}", "t", retries=2, backoff_s=0.01)
    with pytest.raises(EvaluatorDown, match=r"not answering \(ConnectError.*3 tries\): start it with "
                                            "`alignlab serve evaluator`"):
        client.status()


def test_the_client_retries_transient_failures_with_the_same_request_id():
    seen: list[dict] = []
    scores = Planted().score(PlantedConfig(n_test=2), np.array([0, 1]), Submission(predictions=[0.0, 1.0]), 0)
    answer = {"scores": json.loads(scores.model_dump_json()), "query_id": "q-1", "query": 1, "queries_left": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        if len(seen) == 1:
            raise httpx.ReadTimeout("the answer was lost", request=request)  # counted or not? the id decides
        return httpx.Response(503) if len(seen) == 2 else httpx.Response(200, json=answer)

    http = httpx.Client(base_url="http://evaluator", transport=httpx.MockTransport(handler))
    scored = EvaluatorClient("http://evaluator", "t", http=http, backoff_s=0).score("p-1", [0.0, float("nan")])
    assert scored.scores == scores and len(seen) == 3
    assert len({body["request_id"] for body in seen}) == 1
    assert seen[0]["predictions"] == [0.0, None]  # a non-finite prediction travels as null: a failed item


def test_a_trial_through_the_service_survives_a_restart_mid_trial(service, tmp_home, monkeypatch):
    import alignlab.protocol._trial as trial

    c = service.campaign("a", 10)
    real, calls = trial.solve_isolated, []

    def solve_then_restart(*args, **kwargs):
        calls.append(args[2].folder)
        out = real(*args, **kwargs)
        if len(calls) == 1:
            service.restart()  # the secret of the problem being solved is lost
        return out

    monkeypatch.setattr(trial, "solve_isolated", solve_then_restart)
    result = remote_trial(c, "planted", {}, "mean_diff", seed=2)
    assert len(calls) == 2 and calls[0] != calls[1]  # reopened and solved again
    config, testbed = PlantedConfig(), Planted()  # the same trial, in one process
    y = testbed.open(config, 2, Problem(tmp_home / "direct"))
    assert result.scores == testbed.score(config, y, MeanDiff().solve(Problem(tmp_home / "direct"), 2), 2)
    assert c.verify(result.query_id, result.scores)
    assert c.status()["used"] == 1 and c.status()["open_problems"] == 0  # closed after scoring
    assert sum(line["decision"].startswith("refused 410") for line in service.audit() if line["action"] == "score") == 1


def test_importing_the_research_package_loads_no_web_stack():
    code = ("import sys, alignlab, alignlab.research, alignlab.cli; alignlab.research.run_remote_trial; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'httpx', 'starlette') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"  # each is imported by the function that uses it
