"""One trial through the evaluator service: how a campaign runs a variant on a problem
without ever holding the problem's labels.

    scores = run_remote_trial(client, "planted", {}, "mean_diff", seed=0)

The service opens the problem (its secret stays in the service's memory); the variant
solves the Problem folder in a sandboxed worker forked from the clean fork server
(``protocol._trial.solve_isolated``) that sees that folder and nothing else of the
service's state; this process submits the predictions and gets ``Scores`` back. Unlike
``run_trial``, no process on this side could score: the labels were never here.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignlab.errors import AlignlabError
from alignlab.protocol import Ref, Scores, Submission
from alignlab.research._client import EvaluatorClient, EvaluatorError, ProblemGone

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteTrial:
    """A trial scored by the service, with what a ledger records beside the Scores."""

    scores: Scores
    query_id: str
    """The service's name for these Scores (``EvaluatorClient.verify``)."""
    problem_id: str
    submission: Submission
    sandbox: str
    """How the worker was sandboxed (``namespaces``, or ``none: <why>``)."""
    flags: tuple[str, ...] = ()


def remote_trial(client: EvaluatorClient, testbed: str, params: dict[str, Any] | None,
                 variant: str | dict[str, Any] | Ref, seed: int, timeout_s: float = 600.0,
                 split: str = "search") -> RemoteTrial:
    """Open through the service, solve sealed, submit. If the service restarts between
    the open and the score (410: the secret is gone), the trial is run once more on a
    reopened problem; a score already counted is never submitted twice (request ids)."""
    from alignlab.protocol import Problem
    from alignlab.protocol import hidden_paths, solve_isolated
    from alignlab.protocol.testbeds import TESTBEDS

    tb = TESTBEDS.create(testbed)
    ref = tb.variants.validate(variant)  # before the service does any work
    for attempt in (1, 2):
        opened = client.open_problem(testbed, params, seed, split)
        try:
            with tempfile.TemporaryDirectory(prefix="alignlab-remote-") as work:
                # The worker sees its Problem folder only: the service's state (audit log, other
                # problems) and this scratch folder go under the sandbox's tmpfs with the homes.
                hide = hidden_paths(opened.service_dir, work)
                submission, sandbox = solve_isolated(tb, testbed, Problem(opened.folder), ref, seed,
                                                     Path(work) / "submission.json", timeout_s, hide)
            if len(submission.predictions) != opened.n_items:
                raise AlignlabError(f"variant {ref.name!r} returned {len(submission.predictions)} predictions for "
                                    f"{opened.n_items} items (submission.predictions must have one per item, in "
                                    "order)")
            if submission.artifacts:
                raise AlignlabError(f"variant {ref.name!r} answered with files ({', '.join(submission.artifacts)}); "
                                    "the evaluator service scores predictions only: run this testbed's campaign "
                                    "with evaluator: {kind: trial}")
            scored = client.score(opened.problem_id, submission.predictions, submission.notes)
            return RemoteTrial(scored.scores, scored.query_id, opened.problem_id, submission, sandbox,
                               tuple(scored.flags))
        except ProblemGone:
            if attempt == 2:
                raise
            log.warning("the evaluator lost problem %s (it restarted): reopening it and running the variant again",
                        opened.problem_id)
        finally:
            with contextlib.suppress(EvaluatorError):
                client.close_problem(opened.problem_id)
    raise AssertionError("unreachable")


def run_remote_trial(client: EvaluatorClient, testbed: str, params: dict[str, Any] | None,
                     variant_ref: str | dict[str, Any] | Ref, seed: int, timeout_s: float = 600.0,
                     split: str = "search") -> Scores:
    """The Scores of ``variant_ref`` on the service's problem ``(testbed, params, seed)``
    (``remote_trial`` for the query id, the submission and the sandbox too)."""
    return remote_trial(client, testbed, params, variant_ref, seed, timeout_s, split).scores
