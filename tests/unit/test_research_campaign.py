"""Campaign YAML: the shipped campaigns validate and round-trip; a bad campaign ends in one
line naming the field, before any trial runs; the variant space accepts its own points
and refuses every other; the optuna proposer is imported only when used."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from alignlab.errors import AlignlabError
from alignlab.protocol import Ref
from alignlab.research import (
    CampaignError,
    Space,
    example_campaign,
    load_campaign,
    parse_campaign,
)

BASE = {"name": "toy", "question": "does shrinking help?", "testbed": "planted", "params": {"n_test": 100},
        "space": [{"variant": "mean_diff", "params": {"shrink": {"low": 0.0, "high": 1.0}}}],
        "seeds": 5, "budget": {"trials": 40}, "proposer": {"name": "grid"}}


def _with(**changes) -> dict:
    return {**BASE, **changes}


@pytest.mark.parametrize("name", ["planted", "w2s"])
def test_shipped_campaigns_validate_and_round_trip_through_yaml(name):
    campaign = load_campaign(example_campaign(name))
    assert campaign.seeds >= 5 and campaign.budget.trials >= campaign.trials_per_idea() * 2
    again = parse_campaign(yaml.safe_load(campaign.to_yaml()))
    assert again == campaign
    assert load_campaign(name) == campaign  # a shipped campaign by name


def test_defaults_come_from_the_testbed():
    c = parse_campaign(BASE)
    assert c.baseline_ref() == Ref(name="random")  # planted's baseline_variant
    assert c.resolved_cells().search == [{}]  # planted has no cells: one, {}
    w2s = load_campaign("w2s")
    from alignlab.protocol.testbeds import TESTBEDS

    assert w2s.resolved_cells().model_dump() == TESTBEDS.create("w2s").cells
    assert set(w2s.search_seeds()).isdisjoint(w2s.heldout_seeds())


@pytest.mark.parametrize("changes, says", [
    ({"testbed": "nope"}, "testbed: unknown testbed 'nope'; known:"),
    ({"space": [{"variant": "mean_dif"}]}, "space[0].variant: unknown planted variant 'mean_dif'"),
    ({"space": [{"variant": "mean_diff", "params": {"shrinkage": {"low": 0, "high": 1}}}]},
     "space[0].params.shrinkage: variant 'mean_diff' has no parameter 'shrinkage'; it takes shrink"),
    ({"space": [{"variant": "mean_diff", "params": {"shrink": {"choices": [0.1, "lots"]}}}]},
     "space[0].params: planted variant 'mean_diff': shrink: Input should be a valid number"),
    ({"space": [{"variant": "mean_diff", "params": {"shrink": {"low": 1.0, "high": 0.0}}}]},
     "low (1) must be below high (0)"),
    ({"space": [{"variant": "mean_diff", "fixed": {"shrink": 0.1}, "params": {"shrink": {"low": 0, "high": 1}}}]},
     "params.shrink is also fixed"),
    ({"seeds": 3}, "seeds: Input should be greater than or equal to 5"),
    ({"confirm_seeds": 2}, "confirm_seeds: Input should be greater than or equal to 5"),
    ({"budget": {"trials": 12}}, "budget.trials: 12 cannot cover the baseline and one idea"),
    ({"cells": {"search": [{"noise": 0.5}], "heldout": [{"noise": 0.5}]}}, "cells.heldout[0]: is also a search cell"),
    ({"cells": {"search": [{"noise": -1}], "heldout": [{"noise": 0.5}]}}, "cells.search[0]: noise: Input should be"),
    ({"baseline": "nope"}, "baseline: unknown planted variant 'nope'"),
    ({"proposer": {"name": "annealing"}}, "proposer: unknown proposer 'annealing'; known: grid, optuna, random"),
    ({"proposer": {"name": "grid", "params": {"pionts": 3}}}, "proposer: proposer 'grid': pionts: Extra inputs"),
    ({"executor": {"name": "slurm"}}, "executor.name: unknown executor 'slurm'"),
    ({"budget": {"trials": 40, "wall": 3}}, "budget.wall: Extra inputs are not permitted"),
])
def test_a_bad_campaign_is_one_line_naming_the_field(changes, says):
    with pytest.raises(CampaignError) as err:
        parse_campaign(_with(**changes))
    message = str(err.value)
    assert says in message and "\n" not in message, message


def test_the_cli_refuses_a_bad_campaign_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from alignlab.cli import app

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_with(seeds=4)))
    out = CliRunner().invoke(app, ["campaign", "run", str(path), "--folder", str(tmp_path / "c")])
    assert out.exit_code == 2
    assert "seeds: Input should be greater than or equal to 5" in out.output
    assert not (tmp_path / "c").exists()  # refused before anything was made
    out = CliRunner().invoke(app, ["campaign", "check", "planted"])
    assert out.exit_code == 0 and "10 trials per idea" in out.output


def test_the_space_accepts_its_points_and_refuses_the_rest():
    from alignlab.protocol.testbeds import TESTBEDS
    from alignlab.research._space import Arm

    w2s = TESTBEDS.create("w2s").variants
    space = Space([Arm(variant="transfer", fixed={"method": "knn_smooth"},
                       params={"method_params.k": {"low": 3, "high": 9, "integer": True},
                               "epochs": {"low": 10, "high": 30, "step": 10},
                               "C": {"choices": [0.1, 1.0]}})], w2s)
    points = list(space.grid())
    assert len(points) == 3 * 3 * 2 and all(isinstance(v["method_params.k"], int) for _, v in points)
    assert isinstance(points[0][1]["epochs"], int)  # the schema types epochs as an integer
    ref = space.build(*points[0])
    assert ref.params == {"method": "knn_smooth", "method_params": {"k": 3}, "epochs": 10, "C": 0.1}
    assert space.check(ref) is None
    import numpy as np

    for seed in range(20):
        assert space.check(space.build(*space.sample(np.random.default_rng(seed)))) is None
    outside = [
        Ref(name="transfer", params={**ref.params, "method_params": {"k": 50}}),    # out of range
        Ref(name="transfer", params={**ref.params, "method_params": {"k": 4.5}}),   # not an integer
        Ref(name="transfer", params={**ref.params, "method": "xent"}),              # a fixed value changed
        Ref(name="transfer", params={**ref.params, "lr": 0.5}),                     # a parameter not searched
        Ref(name="transfer", params={k: v for k, v in ref.params.items() if k != "C"}),  # one missing
        Ref(name="other", params={}),
    ]
    for bad in outside:
        assert space.check(bad) is not None, bad


def test_importing_alignlab_research_imports_neither_optuna_nor_torch():
    code = ("import sys, alignlab, alignlab.research as r; r.load_campaign('planted'); r.Ledger; r.PROPOSERS.names(); "
            "bad = [m for m in ('optuna', 'torch', 'fastapi') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_unreadable_campaign_file_is_one_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: [unclosed")
    with pytest.raises(AlignlabError, match="cannot read campaign") as err:
        load_campaign(path)
    assert "\n" not in str(err.value)
