"""Running a campaign: the baseline, then ideas from the proposer until the budget is
spent, each evaluated as sealed trials on every search cell × seed; then the best idea
confirmed on the held-out cells with fresh seeds, against the baseline.

    folder/campaign.yaml     the campaign as run (a different one is refused here)
    folder/ledger.sqlite     ideas, trials, findings (``_ledger``)
    folder/optuna.journal    the optuna proposer's study
    folder/runs/             the trial records (``kind: trial``, content-addressed)
    folder/STOP              ``alignlab campaign stop``: stop before the next trial

Every trial is a ``kind: trial`` job through an executor, so the trial's trusted process
is the evaluator, a finished trial is never run twice (its record is read back), and a
killed campaign resumes where it stopped: a trial recorded in the ledger is not run
again, a proposal not yet told is evaluated and told, nothing is counted twice. The
proposer hears one number per idea (its mean gain over the baseline); the trial records
— the evaluator's revealed data included — stay in ``runs/``, which the variants'
sandbox hides, as it hides this whole folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from alignlab.errors import AlignlabError
from alignlab.protocol import Ref
from alignlab.research._campaign import Campaign, CampaignError, parse_campaign
from alignlab.research._ledger import Ledger
from alignlab.research._proposer import PROPOSERS, Proposal, Told

log = logging.getLogger(__name__)
STOP_FILE = "STOP"
MAX_DUPLICATES = 100
"""Consecutive proposals of ideas already evaluated before the proposer counts as exhausted."""


class ProposalRefused(AlignlabError):
    """A proposer asked for a variant outside the campaign's space."""


class _Stopped(Exception):
    pass


def default_folder(campaign: Campaign) -> Path:
    return Path("campaigns") / campaign.name


def stop_campaign(folder: str | Path) -> Path:
    """Ask the campaign running in ``folder`` to stop before its next trial (inline
    executor) or its next round (pool executors: their running trials finish)."""
    folder = Path(folder)
    if not (folder / "campaign.yaml").exists():
        raise CampaignError(f"{folder} holds no campaign (no campaign.yaml)")
    (folder / STOP_FILE).write_text(f"stop requested at {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    return folder / STOP_FILE


def resume_campaign(folder: str | Path, **options: Any) -> dict[str, Any]:
    """Continue the campaign in ``folder`` (its ``campaign.yaml``): finished trials are read
    back, proposals not yet told are evaluated and told, then the search goes on."""
    import yaml

    folder = Path(folder)
    try:
        data = yaml.safe_load((folder / "campaign.yaml").read_text())
    except OSError:
        raise CampaignError(f"{folder} holds no campaign (no campaign.yaml): start it with `alignlab campaign run`"
                            ) from None
    return run_campaign(parse_campaign(data, str(folder / "campaign.yaml")), folder, **options)


def run_campaign(campaign: Campaign, folder: str | Path | None = None, runs: str | Path | None = None,
                 on_event: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or continue) ``campaign`` in ``folder`` (default ``campaigns/<name>``); trial
    records go to ``runs`` (default ``folder/runs``). Returns ``campaign_status``."""
    from alignlab.store import FolderBusy, folder_lock

    folder = Path(folder or default_folder(campaign)).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with folder_lock(folder, wait=False):
            _claim(campaign, folder)
            (folder / STOP_FILE).unlink(missing_ok=True)  # a run (or resume) is a request to go on
            with Ledger(folder / "ledger.sqlite") as ledger:
                runner = _Runner(campaign, folder, ledger, runs, on_event or (lambda text: None))
                runner.run()
    except FolderBusy as busy:
        raise AlignlabError(f"campaign folder {folder} is in use by another process ({busy.holder or '?'}); "
                            "stop it with `alignlab campaign stop` or wait") from None
    return campaign_status(folder)


def _claim(campaign: Campaign, folder: Path) -> None:
    """Write ``campaign.yaml``, or check that the folder's is the same campaign."""
    import yaml

    from alignlab.store import atomic_write_text

    path = folder / "campaign.yaml"
    if path.exists():
        held = parse_campaign(yaml.safe_load(path.read_text()), str(path))
        if held != campaign:
            raise CampaignError(f"{folder} holds a different campaign ({held.name!r}, or the same one edited); "
                                "run it in another --folder, or `alignlab campaign resume` this one as it was")
        return
    atomic_write_text(path, campaign.to_yaml())


@contextlib.contextmanager
def _hidden_from_variants(folder: Path) -> Iterator[None]:
    """Variants' sandboxes hide the campaign folder too (the ledger, the study): a
    variant can neither read other ideas' scores nor write the records."""
    from alignlab.protocol import hidden_paths

    hidden_paths(folder)  # a folder that would hide the worker's own Python fails here, in one line
    saved = os.environ.get("ALIGNLAB_SANDBOX_HIDE")
    os.environ["ALIGNLAB_SANDBOX_HIDE"] = os.pathsep.join(p for p in (saved, str(folder)) if p)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("ALIGNLAB_SANDBOX_HIDE", None)
        else:
            os.environ["ALIGNLAB_SANDBOX_HIDE"] = saved


class _Runner:
    def __init__(self, campaign: Campaign, folder: Path, ledger: Ledger, runs: str | Path | None,
                 say: Callable[[str], None]):
        from alignlab.runtime import make_executor

        self.c, self.folder, self.ledger, self.say = campaign, folder, ledger, say
        recorded = ledger.get("runs")
        self.runs = str(Path(runs or recorded or folder / "runs").resolve())
        if recorded is None:
            ledger.set("runs", self.runs)
        self.cells = campaign.resolved_cells()
        self.space = campaign.variant_space()
        # Workers kept between rounds (an executor that can): a round is seconds of work,
        # a worker's start (interpreter, torch, the trial fork server) seconds more.
        self.executor = make_executor(campaign.executor.name, **{"persistent": True, **campaign.executor.options})
        self.baseline = ledger.add_idea(campaign.baseline_ref(), "baseline")
        self.started = time.monotonic()

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        self.ledger.set("status", "running")
        self.ledger.set("pid", os.getpid())
        try:
            if self.c.evaluator.kind == "service":
                self._check_service()
            with _hidden_from_variants(self.folder):
                self._search()
                self._confirm()
            self.ledger.set("status", "done")
        except _Stopped:
            self.ledger.set("status", "stopped")
            self.say("stopped (stop file): resume with `alignlab campaign resume`")
        except KeyboardInterrupt:
            self.ledger.set("status", "interrupted")
            raise
        except BaseException:
            self.ledger.set("status", "failed")
            raise
        finally:
            self.ledger.set("elapsed_s", self._elapsed())
            if getattr(self, "_service", None) is not None:
                self._service.close()
            if hasattr(self.executor, "close"):
                self.executor.close()

    def _elapsed(self) -> float:
        return float(self.ledger.get("elapsed_s", 0.0)) + time.monotonic() - self.started

    def _search(self) -> None:
        c, ledger = self.c, self.ledger
        if ledger.idea(self.baseline)["status"] != "searched":
            self.say(f"baseline {c.baseline_ref().name}: {c.trials_per_idea()} trials")
            self._evaluate([self.baseline], "search")
            ledger.mark_searched(self.baseline, 0.0)
        proposer = PROPOSERS.create(c.proposer)
        by_token = {p["token"]: p for p in ledger.proposals()}
        history = [Told(self._proposal(p), p["told"]) for p in by_token.values()]
        proposer.start(self.space, self.folder, history)
        pending = [t.proposal for t in history if t.gain is None]  # asked before a stop, not told yet
        if pending:
            self._round(proposer, pending)
        duplicates = 0
        while True:
            self._check_stop()
            why = self._spent()
            if why:
                self.say(f"search over: {why}")
                ledger.set("search_ended", why)
                return
            batch: list[Proposal] = []
            for _ in range(c.round_size):
                if self._spent():
                    break
                proposal = proposer.ask()
                if proposal is None:
                    break
                self._admit(proposal)
                batch.append(proposal)
            if not batch:
                self.say("search over: the proposer has nothing left to propose")
                ledger.set("search_ended", "proposer exhausted")
                return
            new = self._round(proposer, batch)
            duplicates = 0 if new else duplicates + len(batch)
            if duplicates >= MAX_DUPLICATES:
                ledger.set("search_ended", f"{MAX_DUPLICATES} proposals in a row repeated evaluated ideas")
                return

    def _proposal(self, row: dict[str, Any]) -> Proposal:
        idea = self.ledger.idea(row["idea"])
        return Proposal(Ref.model_validate(idea["variant"]), row["token"], idea["parent"])

    def _admit(self, proposal: Proposal) -> None:
        """Check a proposal against the space and record it (a new idea: its finding,
        proposed, with the seeds the campaign hands it)."""
        why = self.space.check(Ref.of(proposal.ref))
        if why is not None:
            raise ProposalRefused(f"proposer {self.c.proposer.name!r} asked for {proposal.ref.name} "
                                  f"{json.dumps(proposal.ref.params)}, outside the campaign's variant space: {why}")
        with self.ledger.transaction():  # the idea, its proposal and its finding, or none of them
            iid = self.ledger.add_idea(proposal.ref, "idea", self.c.proposer, proposal.parent)
            self.ledger.add_proposal(proposal.token, iid)
            self.ledger.add_finding("result", key=f"result:{iid}", idea=iid, seeds=self.c.search_seeds(),
                                    proposed_by=self.c.proposer, text=self.c.question)

    def _round(self, proposer: Any, batch: list[Proposal]) -> int:
        """Evaluate the batch's ideas not yet searched, tell the proposer each one's gain;
        how many ideas were new."""
        from alignlab.research._ledger import idea_id

        ids = list(dict.fromkeys(idea_id(p.ref) for p in batch))
        todo = [i for i in ids if self.ledger.idea(i)["status"] != "searched"]
        if todo:
            self._evaluate(todo, "search")
            for iid in todo:
                self._searched(iid)
        for p in batch:
            gain = self.ledger.idea(idea_id(p.ref))["gain"]
            proposer.tell(p, gain)
            self.ledger.told(p.token, gain)
        return len(todo)

    def _searched(self, iid: str) -> None:
        c, ledger = self.c, self.ledger
        est = ledger.estimate(iid, self.baseline, "search", len(self.cells.search), c.search_seeds(),
                              **self._metric())
        ledger.mark_searched(iid, est.gain)
        finding = ledger.finding_for(f"result:{iid}")
        ledger.update_finding(finding["id"], status="searched", estimate=est.as_dict())
        if est.n_failed:
            errors = [t["error"] for t in ledger.trials(iid, "search") if t["error"]]
            ledger.add_finding("error", key=f"error:{iid}", idea=iid, seeds=c.search_seeds(), status="searched",
                               proposed_by=c.proposer, text=f"{est.n_failed} of {est.n} trials failed (scored as "
                               f"the worst value): {errors[0] if errors else 'no value'}")
        variant = ledger.idea(iid)["variant"]
        self.say(f"idea {iid} {variant['name']} {json.dumps(variant['params'])}: {est.metric} {est.mean:.4f} vs "
                 f"{est.baseline_mean:.4f}, diff {est.diff:+.4f} [{est.lo:+.4f}, {est.hi:+.4f}], "
                 f"{est.n_failed}/{est.n} failed")

    def _spent(self) -> str | None:
        """Why no further idea may be proposed, or None."""
        c = self.c
        ideas = len(self.ledger.ideas("idea"))
        planned = (ideas + 1) * c.trials_per_idea()  # the baseline's and every idea's, recorded or not
        if planned + c.trials_per_idea() + c.confirmation_trials() > c.budget.trials:
            return f"trial budget ({c.budget.trials}, {c.confirmation_trials()} reserved for the confirmation)"
        if c.budget.ideas is not None and ideas >= c.budget.ideas:
            return f"idea budget ({c.budget.ideas})"
        if c.budget.wall_s is not None and self._elapsed() >= c.budget.wall_s:
            return f"wall-time budget ({c.budget.wall_s:g} s)"
        return None

    def _check_stop(self) -> None:
        if (self.folder / STOP_FILE).exists():
            raise _Stopped

    def _metric(self) -> dict[str, Any]:
        return {"metric": self.ledger.get("metric", "?"), "direction": self.ledger.get("direction", "higher"),
                "failure_value": self.c.failure_value}

    # --- confirmation -----------------------------------------------------------------------

    def _confirm(self) -> None:
        c, ledger = self.c, self.ledger
        ideas = [i for i in ledger.ideas("idea") if i["status"] == "searched"]
        if not ideas:
            ledger.set("confirmation", "no idea was searched")
            return
        best = max(ideas, key=lambda i: i["gain"])  # the earliest of equals (ideas come in order)
        ledger.set("best", best["id"])
        refs = [ledger.add_idea(r, "reference") for r in c.references]
        who = list(dict.fromkeys([best["id"], self.baseline, *refs]))
        seeds, cells = c.heldout_seeds(), len(self.cells.heldout)
        self.say(f"confirming idea {best['id']} on {cells} held-out cell(s) x seeds {seeds[0]}-{seeds[-1]}")
        self._evaluate(who, "confirm")
        est = ledger.estimate(best["id"], self.baseline, "confirm", cells, seeds, **self._metric())
        comparisons = {r: ledger.estimate(best["id"], r, "confirm", cells, seeds, **self._metric()).as_dict()
                       for r in refs if r != best["id"]}
        finding = ledger.finding_for(f"result:{best['id']}")
        status = "confirmed" if est.beats_baseline else "rejected"
        # A finding from trials whose variants ran unsandboxed cannot be confirmed: they could
        # have read what the sandbox hides (labels in package data, other runs' records).
        open_trials = [t for i in who for t in ledger.trials(i) if str(t["sandbox"] or "").startswith("none")]
        note = None
        if open_trials:
            status = "rejected"
            note = (f"not confirmable: {len(open_trials)} of its trials (or its comparators') ran unsandboxed "
                    f"({open_trials[0]['sandbox']}); the estimates stand, the confirmation does not")
        ledger.update_finding(finding["id"], status=status, heldout_seeds=seeds, heldout=est.as_dict(),
                              comparisons=comparisons, text=f"{finding['text']} | {note}" if note else None)
        ledger.set("confirmation", status)
        if note:
            self.say(note)
        self.say(f"idea {best['id']} {status}: diff {est.diff:+.4f} [{est.lo:+.4f}, {est.hi:+.4f}] on held-out cells")

    # --- trials -----------------------------------------------------------------------------

    def _jobs(self, ids: list[str], phase: str) -> list[tuple[Any, tuple[str, int, int]]]:
        """(job, (idea, cell, seed)) for every trial of ``ids`` in ``phase`` not yet in the
        ledger (recorded ones, finished or failed, stand: a failure is not retried away)."""
        from alignlab.protocol import TrialConfig
        from alignlab.runtime import Job
        from alignlab.store import run_path

        cells = self.cells.search if phase == "search" else self.cells.heldout
        seeds = self.c.search_seeds() if phase == "search" else self.c.heldout_seeds()
        recorded = self.ledger.recorded_runs()
        out = []
        for iid in ids:
            ref = Ref.model_validate(self.ledger.idea(iid)["variant"])
            for k, cell in enumerate(cells):
                for seed in seeds:
                    cfg = TrialConfig(testbed=self.c.testbed, params=self.c.cell_params(cell), variant=ref, seed=seed,
                                      timeout_s=self.c.timeout_s).model_dump(mode="json")
                    if run_path("trial", cfg, self.runs).name not in recorded:
                        out.append((Job("trial", cfg, self.runs), (iid, k, seed)))
        return out

    def _evaluate(self, ids: list[str], phase: str) -> None:
        """Run the missing trials of ``ids`` and record each one as it ends; with the inline
        executor the stop file is honoured between trials, else between batches."""
        from alignlab.store import run_path

        jobs = self._jobs(ids, phase)
        where = {run_path("trial", job.config, self.runs).name: key for job, key in jobs}

        def done(outcome: dict[str, Any]) -> None:
            if outcome["status"] != "finished" and str(outcome.get("error") or "").startswith("cancelled"):
                return  # stopped, not failed: run again on resume
            self._record(outcome, phase, *where[outcome["id"]])

        if self.c.evaluator.kind == "service":
            self._evaluate_remote(jobs, phase)
            return
        plain = [job for job, _ in jobs]
        chunks = [[j] for j in plain] if self.executor.name == "inline" else [plain]
        for chunk in chunks:
            if chunk:
                self._check_stop()
                self.executor.run(chunk, on_done=done)

    def _client(self):
        """The campaign's client of the evaluator service (its token from the file the
        campaign names, else ``$ALIGNLAB_EVALUATOR_TOKEN``)."""
        if getattr(self, "_service", None) is None:
            from alignlab.research._client import EvaluatorClient

            choice, token = self.c.evaluator, None
            if choice.token_file:
                try:
                    token = Path(choice.token_file).expanduser().read_text().strip()
                except OSError as err:
                    raise CampaignError(f"evaluator.token_file: cannot read {choice.token_file}: "
                                        f"{err.strerror or err}") from None
            url = choice.url
            if url is None and not os.environ.get("ALIGNLAB_EVALUATOR_URL"):
                from alignlab.research._http import server_url

                url = server_url()
            self._service = EvaluatorClient(url, token)
        return self._service

    def _check_service(self) -> None:
        """Before any trial: the service answers, and its campaign may score every variant
        the confirmation compares on a held-out instance (not found out at the end)."""
        status = self._client().status()
        needed = len({idea_ref for idea_ref in ("idea", self.c.baseline_ref().model_dump_json(),
                                                *(r.model_dump_json() for r in self.c.references))})
        if status.get("confirm_slots", 1) < needed:
            raise CampaignError(f"the evaluator's campaign {status['campaign']!r} scores {status['confirm_slots']} "
                                f"submission(s) per held-out instance; this campaign's confirmation needs {needed} "
                                f"(the best idea, the baseline, each reference): create it with "
                                f"`alignlab serve new-campaign {status['campaign']} --confirm-slots {needed} ...`")
        self.say(f"evaluator service: campaign {status['campaign']!r}, {status['left']} of {status['budget']} "
                 "queries left")

    def _evaluate_remote(self, jobs: list[tuple[Any, tuple[str, int, int]]], phase: str) -> None:
        """The trials through the evaluator service, one at a time: it opens each problem
        and scores the submission (held-out ones once); the variant solves in its sandboxed
        worker here. A refused query (a probe) or a crashed variant is a failed trial; a
        service that is down or out of budget stops the campaign (resume continues it)."""
        from alignlab.research._client import BudgetExhausted, EvaluatorAuthError, EvaluatorDown
        from alignlab.research._remote import remote_trial
        from alignlab.store import run_path

        for job, (iid, cell, seed) in jobs:
            self._check_stop()
            cfg = job.config
            start = time.perf_counter()
            try:
                trial = remote_trial(self._client(), cfg["testbed"], cfg["params"], cfg["variant"], seed,
                                     self.c.timeout_s, split="confirm" if phase == "confirm" else "search")
            except (EvaluatorDown, EvaluatorAuthError, BudgetExhausted):
                raise
            except AlignlabError as err:
                self.ledger.add_trial(run_path("trial", cfg, self.runs).name, iid, phase, cell, seed, "failed",
                                      error=str(err).splitlines()[0], seconds=time.perf_counter() - start)
                continue
            scores = trial.scores
            if self.ledger.get("direction") is None:
                self.ledger.set("direction", scores.direction)
                self.ledger.set("metric", scores.primary)
            self.ledger.add_trial(run_path("trial", cfg, self.runs).name, iid, phase, cell, seed, "finished",
                                  scores.metrics[scores.primary].value,
                                  scores.metrics[scores.baseline].value if scores.baseline else None,
                                  scores.failures, None, time.perf_counter() - start, query_id=trial.query_id,
                                  sandbox=trial.sandbox)

    def _record(self, outcome: dict[str, Any], phase: str, iid: str, cell: int, seed: int) -> None:
        """One trial's row: the primary value and the Scores' own baseline metric, nothing
        of what the evaluator revealed."""
        value = shortcut = failures = sandbox = None
        error = outcome.get("error")
        status = outcome["status"]
        if status == "finished":
            try:
                result = json.loads((Path(outcome["path"]) / "result.json").read_text())
                scores, sandbox = result["scores"], result.get("sandbox")
                value = scores["metrics"][scores["primary"]]["value"]
                if scores.get("baseline"):
                    shortcut = scores["metrics"][scores["baseline"]]["value"]
                failures = scores.get("failures")
                if self.ledger.get("direction") is None:
                    self.ledger.set("direction", scores.get("direction", "higher"))
                    self.ledger.set("metric", scores["primary"])
            except (OSError, KeyError, ValueError) as err:
                status, error = "failed", f"unreadable result: {type(err).__name__}: {err}"
        self.ledger.add_trial(outcome["id"], iid, phase, cell, seed, status, value, shortcut, failures, error,
                              outcome.get("seconds"), sandbox=sandbox)


def campaign_status(folder: str | Path) -> dict[str, Any]:
    """Where the campaign in ``folder`` stands: its status, budget spent, every idea with
    its search estimate, and the confirmation — from the ledger alone."""
    import yaml

    folder = Path(folder)
    if not (folder / "campaign.yaml").exists():
        raise CampaignError(f"{folder} holds no campaign (no campaign.yaml)")
    campaign = parse_campaign(yaml.safe_load((folder / "campaign.yaml").read_text()), str(folder / "campaign.yaml"))
    with Ledger(folder / "ledger.sqlite") as ledger:
        findings = {f["idea"]: f for f in ledger.findings("result")}
        trials = ledger.trials()
        ideas = []
        for idea in ledger.ideas():
            f = findings.get(idea["id"], {})
            ideas.append({"id": idea["id"], "role": idea["role"], "variant": idea["variant"], "status": idea["status"],
                          "gain": idea["gain"], "finding": f.get("id"), "finding_status": f.get("status"),
                          "finding_text": f.get("text"),
                          "estimate": f.get("estimate"), "heldout": f.get("heldout"),
                          "comparisons": f.get("comparisons")})
        best = ledger.get("best")
        return {
            "folder": str(folder), "name": campaign.name, "question": campaign.question, "testbed": campaign.testbed,
            "status": ledger.get("status", "new"), "stop_requested": (folder / STOP_FILE).exists(),
            "proposer": campaign.proposer.model_dump(mode="json"), "metric": ledger.get("metric"),
            "direction": ledger.get("direction"), "baseline": campaign.baseline_ref().model_dump(mode="json"),
            "budget": {"trials": campaign.budget.trials, "trials_used": len(trials),
                       "ideas": len(ledger.ideas("idea")), "ideas_limit": campaign.budget.ideas,
                       "wall_s": campaign.budget.wall_s, "elapsed_s": ledger.get("elapsed_s", 0.0)},
            "trials": {"search": sum(t["phase"] == "search" for t in trials),
                       "confirm": sum(t["phase"] == "confirm" for t in trials),
                       "failed": sum(t["status"] != "finished" or t["value"] is None for t in trials)},
            "search_ended": ledger.get("search_ended"), "ideas": ideas,
            "best": next((i for i in ideas if i["id"] == best), None), "confirmation": ledger.get("confirmation"),
            "runs": ledger.get("runs"),
        }
