"""The findings ledger: WAL mode; a "result" needs 5 seeds (in code and in the table);
inserts are idempotent; statuses only move forward; an estimate covers every seed handed
out (no cherry-picking), scores failures as the worst value, and resamples cells."""

from __future__ import annotations

import sqlite3

import pytest

from alignlab.protocol import Ref
from alignlab.research import Ledger, LedgerError
from alignlab.research._estimate import Outcome, paired_estimate

SEEDS = [0, 1, 2, 3, 4]
METRIC = {"metric": "accuracy", "direction": "higher"}


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite") as led:
        yield led


def _ideas(ledger: Ledger) -> tuple[str, str]:
    return ledger.add_idea(Ref(name="random"), "baseline"), ledger.add_idea(Ref(name="mean_diff"), "idea")


def _trials(ledger: Ledger, iid: str, values: dict[tuple[int, int], float | None], phase: str = "search"):
    for (cell, seed), v in values.items():
        ledger.add_trial(f"trial-{iid}-{phase}-{cell}-{seed}", iid, phase, cell, seed,
                         "finished" if v is not None else "failed", v, 0.5, 0, None if v is not None else "boom")


def test_the_ledger_is_sqlite_in_wal_mode(ledger, tmp_path):
    assert ledger.journal_mode() == "wal"
    _ideas(ledger)
    with sqlite3.connect(tmp_path / "ledger.sqlite") as reader:  # a second reader while the writer is open
        assert reader.execute("SELECT COUNT(*) FROM ideas").fetchone()[0] == 2


def test_a_result_needs_five_seeds_in_code_and_in_the_table(ledger, tmp_path):
    _, idea = _ideas(ledger)
    with pytest.raises(LedgerError, match="a result needs at least 5 seeds; this one has 4"):
        ledger.add_finding("result", idea=idea, seeds=[0, 1, 2, 3])
    with pytest.raises(LedgerError, match="has 4"):  # repeated seeds are one seed
        ledger.add_finding("result", idea=idea, seeds=[0, 1, 2, 3, 3])
    assert ledger.add_finding("hypothesis", idea=idea, seeds=[0], text="a hunch") > 0
    assert ledger.add_finding("result", idea=idea, seeds=SEEDS) > 0
    with sqlite3.connect(tmp_path / "ledger.sqlite") as raw, pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        raw.execute("INSERT INTO findings (kind, status, seeds, created, updated) VALUES "
                    "('result', 'proposed', '[1, 2]', 0, 0)")  # past the code, the table still refuses


def test_inserts_are_idempotent(ledger):
    base, idea = _ideas(ledger)
    assert ledger.add_idea(Ref(name="mean_diff"), "idea") == idea
    assert ledger.add_trial("trial-1", idea, "search", 0, 0, "finished", 0.7)
    assert not ledger.add_trial("trial-1", idea, "search", 0, 0, "finished", 0.7)
    first = ledger.add_finding("result", key=f"result:{idea}", idea=idea, seeds=SEEDS)
    assert ledger.add_finding("result", key=f"result:{idea}", idea=idea, seeds=SEEDS) == first
    ledger.add_proposal(7, idea)
    ledger.add_proposal(7, idea)
    assert len(ledger.ideas()) == 2 and len(ledger.trials()) == 1 and len(ledger.findings()) == 1
    assert len(ledger.proposals()) == 1


def test_a_finding_status_only_moves_forward(ledger):
    _, idea = _ideas(ledger)
    fid = ledger.add_finding("result", idea=idea, seeds=SEEDS)
    ledger.update_finding(fid, status="searched")
    ledger.update_finding(fid, status="rejected", heldout_seeds=[5, 6, 7, 8, 9])
    for back in ("proposed", "searched", "confirmed"):
        with pytest.raises(LedgerError, match="it cannot become"):
            ledger.update_finding(fid, status=back)
    with pytest.raises(LedgerError, match="at least 5 seeds"):
        ledger.update_finding(fid, heldout_seeds=[5, 6])


def test_an_estimate_covers_every_seed_handed_out(ledger):
    base, idea = _ideas(ledger)
    _trials(ledger, base, {(0, s): 0.5 for s in SEEDS})
    _trials(ledger, idea, {(0, s): 0.9 for s in SEEDS[:4]})  # seed 4 "forgotten"
    with pytest.raises(LedgerError, match=r"no search trial for \(cell, seed\) \[\(0, 4\)\]"):
        ledger.estimate(idea, base, "search", 1, SEEDS, **METRIC)
    _trials(ledger, idea, {(0, 4): 0.1})
    est = ledger.estimate(idea, base, "search", 1, SEEDS, **METRIC)
    assert est.n == 5 and est.seeds == SEEDS and est.mean == pytest.approx((4 * 0.9 + 0.1) / 5)
    assert est.baseline_mean == pytest.approx(0.5) and est.shortcut == pytest.approx(0.5)


def test_a_failed_trial_scores_the_worst_value_seen_on_its_problem(ledger):
    base, idea = _ideas(ledger)
    other = ledger.add_idea(Ref(name="other"), "idea")
    _trials(ledger, base, {(0, s): 0.6 for s in SEEDS})
    _trials(ledger, other, {(0, s): 0.3 if s == 0 else 0.9 for s in SEEDS})
    _trials(ledger, idea, {(0, s): None if s == 0 else 0.8 for s in SEEDS})
    est = ledger.estimate(idea, base, "search", 1, SEEDS, **METRIC)
    assert est.n == 5 and est.n_failed == 1
    assert est.mean == pytest.approx((0.3 + 4 * 0.8) / 5)  # seed 0: the worst value there (other's 0.3)
    fixed = ledger.estimate(idea, base, "search", 1, SEEDS, failure_value=0.0, **METRIC)
    assert fixed.mean == pytest.approx(4 * 0.8 / 5)


def test_the_interval_resamples_cells_then_seeds():
    # Cell 0 gains 0.2 on every seed, cell 1 nothing: with two cells the honest interval
    # spans both (a new cell may be either kind); resampling the 10 pairs as if iid would not.
    idea = {(c, s): Outcome(0.7 if c == 0 else 0.5) for c in (0, 1) for s in SEEDS}
    base = {(c, s): Outcome(0.5) for c in (0, 1) for s in SEEDS}
    est = paired_estimate(idea, base, worst={}, **METRIC)
    assert est.diff == pytest.approx(0.1) and est.n_cells == 2
    assert est.lo == pytest.approx(0.0) and est.hi == pytest.approx(0.2)
    assert est.beats_baseline is False
    lower = paired_estimate(base, idea, worst={}, metric="loss", direction="lower")  # lower is better
    assert lower.diff == pytest.approx(-0.1) and lower.gain == pytest.approx(0.1)
    one_cell = {k: v for k, v in idea.items() if k[0] == 0}
    sure = paired_estimate(one_cell, {k: base[k] for k in one_cell}, worst={}, **METRIC)
    assert sure.lo == pytest.approx(0.2) and sure.beats_baseline


def test_the_cluster_bootstrap_matches_the_reference_two_level_bootstrap():
    import numpy as np

    from alignlab.research._estimate import cluster_bootstrap
    from alignlab.stats import hierarchical_bootstrap

    d = np.random.default_rng(0).normal(size=(4, 6)) + np.arange(4)[:, None] * 0.5  # (cells, seeds)
    lo, hi = cluster_bootstrap(d, n_boot=20000)
    ref, _ = hierarchical_bootstrap(lambda us: float(np.mean(np.concatenate([u["d"] for u in us]))),
                                    [{"d": row} for row in d], n_boot=20000)
    assert ref.value == pytest.approx(d.mean())
    assert (lo, hi) == pytest.approx((ref.lo, ref.hi), abs=0.03)
    assert hi - lo > 0.8  # between-cell spread dominates: far wider than the seeds alone would make it


def test_pairs_must_match():
    with pytest.raises(ValueError, match="must be the same"):
        paired_estimate({(0, 0): Outcome(1.0)}, {(0, 1): Outcome(1.0)}, worst={}, **METRIC)
