"""Campaigns end to end on the planted toy: each proposer runs one to its confirmation; a
stopped or killed campaign resumes without running or counting a trial twice; the budget
holds; confirmation uses held-out cells and seeds the search never saw; failed trials are
counted and scored; a proposer that leaves the space is refused; a proposer hears only
scalar gains."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alignlab.errors import AlignlabError
from alignlab.protocol import Problem, Registry, Submission
from alignlab.protocol.testbeds import TESTBEDS
from alignlab.protocol.testbeds.planted import MeanDiff, Planted, RandomDirection
from alignlab.research import (
    PROPOSERS,
    Ledger,
    Proposal,
    campaign_status,
    parse_campaign,
    resume_campaign,
    run_campaign,
    stop_campaign,
)

# --- a planted testbed with variants that fail or answer a constant (registered here and, when
# a trial's worker imports this module, there) ------------------------------------------------


class Flaky(MeanDiff):
    """``mean_diff`` that crashes on odd seeds."""

    def solve(self, problem: Problem, seed: int) -> Submission:
        if seed % 2:
            raise RuntimeError(f"flaky on seed {seed}")
        return super().solve(problem, seed)


class Constant:
    """Answers 1 for every item: what the majority-class shortcut gets, at best."""

    def solve(self, problem: Problem, seed: int) -> Submission:
        return Submission(predictions=[1.0] * len(problem.json("items")))


class Snoop(MeanDiff):
    """``mean_diff`` that looks for the campaign's ledger above its Problem folder and says
    in its notes whether it found one."""

    def solve(self, problem: Problem, seed: int) -> Submission:
        found = [str(p) for up in problem.folder.resolve().parents for p in up.glob("ledger.sqlite*")]
        return Submission(predictions=super().solve(problem, seed).predictions, notes={"found": found})


class ResearchBed(Planted):
    variants = Registry("researchbed variant")


for _name, _cls in (("mean_diff", MeanDiff), ("random", RandomDirection), ("flaky", Flaky), ("constant", Constant),
                    ("snoop", Snoop)):
    ResearchBed.variants.register(_name)(_cls)
if "researchbed" not in TESTBEDS:
    TESTBEDS.register("researchbed")(ResearchBed)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One trial-records folder for the module's campaigns: the baseline's trials (same
    cells, seeds and variant) run once and are read back by the others, as designed."""
    return tmp_path_factory.mktemp("runs")


def campaign(**changes):
    base = {"name": "toy", "question": "does shrinking the direction help?", "testbed": "researchbed",
            "params": {"n_train": 30, "n_test": 100},
            "cells": {"search": [{"noise": 0.5}], "heldout": [{"noise": 1.0}]},
            "space": [{"variant": "mean_diff", "params": {"shrink": {"low": 0.0, "high": 1.0}}}],
            "seeds": 5, "budget": {"trials": 25}, "proposer": {"name": "random", "params": {"seed": 0}},
            "timeout_s": 30}
    return parse_campaign({**base, **changes})


def _ledger(folder):
    return Ledger(folder / "ledger.sqlite")


def _check_consistent(folder, c) -> dict:
    """What every campaign must satisfy, whatever its proposer."""
    st = campaign_status(folder)
    with _ledger(folder) as led:
        trials = led.trials()
        keys = [(t["idea"], t["phase"], t["cell"], t["seed"]) for t in trials]
        assert len(keys) == len(set(keys)), "a trial counted twice"
        assert len(trials) <= c.budget.trials, "over the trial budget"
        search, confirm = [t for t in trials if t["phase"] == "search"], [t for t in trials if t["phase"] == "confirm"]
        assert {t["seed"] for t in search} == set(c.search_seeds())
        if confirm:
            assert {t["seed"] for t in confirm} == set(c.heldout_seeds())
            assert set(c.search_seeds()).isdisjoint(c.heldout_seeds())
        for f in led.findings("result"):  # every seed handed out, every search cell, in each result
            if f["status"] != "proposed":
                assert f["seeds"] == c.search_seeds() and f["estimate"]["seeds"] == c.search_seeds()
                assert f["estimate"]["n"] == len(c.resolved_cells().search) * c.seeds
                assert f["estimate"]["baseline_mean"] is not None and f["estimate"]["shortcut"] is not None
        runs = Path(st["runs"])
        for t in trials:  # the ledger says what the records say
            assert (runs / t["run_id"] / ("result.json" if t["status"] == "finished" else "error.json")).exists()
    return st


@pytest.mark.parametrize("proposer", [{"name": "grid", "params": {"points": 2}}, {"name": "random"},
                                      {"name": "optuna", "params": {"n_startup_trials": 1}}])
def test_each_proposer_runs_a_campaign_to_its_confirmation(proposer, tmp_path, runs):
    c = campaign(proposer=proposer, budget={"trials": 30 if proposer["name"] == "grid" else 25})  # grid: room to spare
    st = run_campaign(c, tmp_path / "c", runs=runs)
    assert st["status"] == "done" and st["confirmation"] in ("confirmed", "rejected")
    _check_consistent(tmp_path / "c", c)
    ideas = [i for i in st["ideas"] if i["role"] == "idea"]
    assert len(ideas) == 2  # (25 - 5 baseline - 10 confirmation) / 5, or the grid of 2
    assert st["budget"]["trials_used"] == 5 * (1 + len(ideas)) + 10
    best = st["best"]
    assert best["gain"] == max(i["gain"] for i in ideas)
    assert best["heldout"]["seeds"] == c.heldout_seeds() and best["heldout"]["n"] == 5
    assert best["finding_status"] == ("confirmed" if best["heldout"]["lo"] > 0 else "rejected")
    # mean_diff finds the planted direction; the baseline projects on a random one
    assert best["finding_status"] == "confirmed" and best["heldout"]["diff"] > 0.05
    if proposer["name"] == "optuna":
        assert (tmp_path / "c" / "optuna.journal").stat().st_size > 0
    if proposer["name"] == "grid":
        assert st["search_ended"] == "proposer exhausted"


def _stop_after(monkeypatch, n: int, how: str, folder):
    """Stop (a stop file, or Ctrl-C) once ``n`` trials are recorded in this session."""
    real = Ledger.add_trial
    seen = {"n": 0}

    def add_trial(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        seen["n"] += 1
        if seen["n"] == n:
            if how == "stop":
                stop_campaign(folder)
            else:
                raise KeyboardInterrupt
        return out

    monkeypatch.setattr(Ledger, "add_trial", add_trial)


@pytest.mark.parametrize("how, proposer", [("stop", {"name": "random", "params": {"seed": 3}}),
                                           ("kill", {"name": "optuna", "params": {"n_startup_trials": 1}})])
def test_a_stopped_campaign_resumes_without_running_or_counting_anything_twice(how, proposer, tmp_path, monkeypatch):
    import alignlab.protocol._trial as trial_module

    c, folder = campaign(proposer=proposer), tmp_path / "c"
    ran: list[str] = []
    real_run = trial_module.run_trial
    monkeypatch.setattr(trial_module, "run_trial", lambda config, root=None: ran.append(config.seed) or
                        real_run(config, root))
    with monkeypatch.context() as m:
        _stop_after(m, 8, how, folder)  # mid-idea: 5 baseline trials, then 3 of the first idea's 5
        if how == "stop":
            assert run_campaign(c, folder)["status"] == "stopped"
        else:
            with pytest.raises(KeyboardInterrupt):
                run_campaign(c, folder)
    first = len(ran)
    st = campaign_status(folder)
    assert st["status"] == ("stopped" if how == "stop" else "interrupted") and st["budget"]["trials_used"] == 8
    assert first == 8
    st = resume_campaign(folder)
    assert st["status"] == "done" and not st["stop_requested"]
    assert len(ran) - first == st["budget"]["trials_used"] - 8  # nothing that finished ran again
    _check_consistent(folder, c)
    with _ledger(folder) as led:
        assert all(p["told"] is not None for p in led.proposals())  # the interrupted idea was told once done
    if how == "stop":  # and it asked what an uninterrupted campaign asks: same ideas, same estimates
        whole = run_campaign(c, tmp_path / "whole", runs=folder / "runs")  # same trial records: all read back
        assert len(ran) - first == st["budget"]["trials_used"] - 8

        def strip(s):
            return [(i["variant"], i["estimate"]) for i in s["ideas"]]

        assert strip(whole) == strip(st) and whole["best"]["heldout"] == st["best"]["heldout"]


def test_a_folder_holds_one_campaign(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "campaign.yaml").write_text(campaign().to_yaml())
    with pytest.raises(AlignlabError, match="holds a different campaign"):
        run_campaign(campaign(seeds=6, budget={"trials": 40}), tmp_path / "c")
    assert not (tmp_path / "c" / "ledger.sqlite").exists()  # refused before anything ran


class _Cheat:
    """Asks for what it was built to ask for, whatever the space."""

    def __init__(self, ask_for: dict):
        self.ask_for = ask_for

    def start(self, space, folder, history):
        pass

    def ask(self):
        return Proposal(ref=self.ask_for, token=0)  # type: ignore[arg-type]

    def tell(self, proposal, gain):
        pass


@pytest.mark.parametrize("ask_for, says", [
    ({"name": "mean_diff", "params": {"shrink": 5.0}}, "shrink=5.0 outside its range"),
    ({"name": "constant", "params": {}}, "variant 'constant' is not in the space"),
    ({"name": "mean_diff", "params": {"shrink": 0.5, "seed": 1}}, "other parameters than its fixed and searched"),
])
def test_a_proposer_outside_the_space_is_refused_in_one_line(ask_for, says, tmp_path, monkeypatch, runs):
    from alignlab.protocol import Ref

    monkeypatch.setitem(PROPOSERS, "cheat", lambda: _Cheat(Ref.model_validate(ask_for)))
    with pytest.raises(AlignlabError, match="outside the campaign's variant space") as err:
        run_campaign(campaign(proposer="cheat"), tmp_path / "c", runs=runs)
    assert says in str(err.value) and "\n" not in str(err.value)
    with _ledger(tmp_path / "c") as led:
        assert [i["role"] for i in led.ideas()] == ["baseline"]  # nothing of the cheat's ran


class _Spy:
    """A grid that records everything the campaign tells it."""

    heard: list = []

    def __init__(self):
        self.grid = PROPOSERS.create({"name": "grid", "params": {"points": 2}})

    def start(self, space, folder, history):
        self.grid.start(space, folder, history)

    def ask(self):
        return self.grid.ask()

    def tell(self, proposal, gain):
        _Spy.heard.append((proposal, gain))


def test_failures_are_counted_and_scored_and_a_proposer_hears_one_number(tmp_path, monkeypatch, runs):
    monkeypatch.setitem(PROPOSERS, "spy", _Spy)
    _Spy.heard = []
    c = campaign(space=[{"variant": "flaky", "params": {"shrink": {"choices": [0.0]}}},
                        {"variant": "constant"}],
                 proposer="spy", failure_value=0.0)
    st = run_campaign(c, tmp_path / "c", runs=runs)
    _check_consistent(tmp_path / "c", c)
    assert [type(g) for _, g in _Spy.heard] == [float, float]  # a scalar gain per idea, nothing else
    assert all(set(vars(p)) == {"ref", "token", "parent"} for p, _ in _Spy.heard)
    by_name = {i["variant"]["name"]: i for i in st["ideas"]}
    flaky = by_name["flaky"]["estimate"]
    assert flaky["n"] == 5 and flaky["n_failed"] == 2  # seeds 1 and 3 crashed: counted, not dropped
    with _ledger(tmp_path / "c") as led:
        rows = led.trials(by_name["flaky"]["id"], "search")
        assert sorted(t["seed"] for t in rows if t["status"] == "failed") == [1, 3]
        assert all("flaky on seed" in t["error"] for t in rows if t["status"] == "failed")
        assert flaky["mean"] == pytest.approx(sum(t["value"] or 0.0 for t in rows) / 5)  # failures score 0.0
        (error,) = led.findings("error")
        assert error["idea"] == by_name["flaky"]["id"] and "2 of 5 trials failed" in error["text"]
    constant = by_name["constant"]["estimate"]
    assert constant["mean"] <= constant["shortcut"] + 1e-9  # the majority shortcut bounds a constant answer
    assert st["trials"]["failed"] >= 2
    json.dumps(st)  # the status is plain data


def test_the_budget_stops_the_search_however_many_ideas_the_proposer_has(tmp_path, runs):
    c = campaign(proposer={"name": "random", "params": {"seed": 1}}, budget={"trials": 24, "ideas": 10})
    st = run_campaign(c, tmp_path / "c", runs=runs)
    assert st["budget"]["trials_used"] == 20  # of 24: the 4 left could not hold a 5-trial idea
    assert "trial budget" in st["search_ended"]
    c = campaign(proposer={"name": "random", "params": {"seed": 1}}, budget={"trials": 100, "ideas": 1})
    st = run_campaign(c, tmp_path / "d", runs=runs)  # the same first idea: its trials are read back
    assert st["budget"]["ideas"] == 1 and "idea budget" in st["search_ended"]


def test_confirmation_is_on_held_out_cells_with_fresh_seeds(tmp_path, runs):
    c = campaign(confirm_seeds=6, references=[{"name": "mean_diff", "params": {"shrink": 0.9}}],
                 budget={"trials": 28})
    st = run_campaign(c, tmp_path / "c", runs=runs)
    import yaml

    with _ledger(tmp_path / "c") as led:
        trials = led.trials()
    config = {t["run_id"]: yaml.safe_load((runs / t["run_id"] / "config.yaml").read_text()) for t in trials}
    seeds = {phase: {config[t["run_id"]]["seed"] for t in trials if t["phase"] == phase} for phase in ("search", "confirm")}
    assert seeds == {"search": {0, 1, 2, 3, 4}, "confirm": {5, 6, 7, 8, 9, 10}}
    noise = {phase: {config[t["run_id"]]["params"]["noise"] for t in trials if t["phase"] == phase}
             for phase in ("search", "confirm")}
    assert noise == {"search": {0.5}, "confirm": {1.0}}  # the held-out cell was never scored in the search
    (ref,) = st["best"]["comparisons"].values()
    assert ref["n"] == 6 and ref["seeds"] == c.heldout_seeds()
    assert np.isfinite(ref["diff"])


def test_variants_cannot_see_the_campaign_folder(tmp_path):
    c = campaign(space=[{"variant": "snoop", "params": {"shrink": {"choices": [0.0]}}}], budget={"trials": 20},
                 proposer="grid")
    st = run_campaign(c, tmp_path / "c")  # trial records in the campaign folder: the default
    assert st["status"] == "done"
    (snooped,) = [i["id"] for i in st["ideas"] if i["variant"]["name"] == "snoop"]
    with _ledger(tmp_path / "c") as led:
        rows = [t for t in led.trials(snooped) if t["status"] == "finished"]
    assert len(rows) == 10
    records = [tmp_path / "c" / "runs" / t["run_id"] for t in rows]
    if any(json.loads((r / "result.json").read_text())["sandbox"].startswith("none") for r in records):
        pytest.skip("this kernel refuses the sandbox's namespaces (trials ran unsandboxed)")
    assert all(json.loads((r / "submission.json").read_text())["notes"]["found"] == [] for r in records)
    # the control: the same search, unsandboxed, from a trial's Problem folder finds the ledger
    found = Snoop().solve(Problem(records[0] / "problem"), 0).notes["found"]
    assert str((tmp_path / "c" / "ledger.sqlite").resolve()) in found
