"""The findings ledger: one SQLite file (WAL) in the campaign folder holding every idea,
every trial (failed ones included) and every finding, for humans to review.

    ideas      a variant reference (its hash is its id), its role (baseline, idea,
               reference), what proposed it, its parent, its search gain
    proposals  every ask, in order, duplicates included, and the gain told back
    trials     one row per trial run: idea, phase (search/confirm), cell, seed, status,
               primary value, the Scores' own baseline (shortcut) value, error, and
               the evaluator service's query id when it scored the trial, and how the
               variant's worker was sandboxed (``namespaces``, or ``none: <why>``)
    findings   kind result/hypothesis/insight/error; its idea; its seeds; the estimate
               against the baseline variant on the same cells; status proposed →
               searched → confirmed | rejected; what proposed it

Anti-gaming lives here, not in the proposer: a finding's estimate is computed by the
ledger from *every* trial row of the idea on the campaign's cells and seeds (a missing
one is an error, so no seed can be left out), and a "result" with fewer than 5 seeds is
refused (in code and by a CHECK in the table). Every insert is keyed (a run id, an idea's
hash, a finding's key), so a resumed campaign that records the same thing again changes
nothing.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alignlab.errors import AlignlabError
from alignlab.protocol import Ref
from alignlab.research._campaign import MIN_SEEDS
from alignlab.research._estimate import IdeaEstimate, Outcome, paired_estimate

KINDS = ("result", "hypothesis", "insight", "error")
STATUSES = ("proposed", "searched", "confirmed", "rejected")
_ORDER = {"proposed": 0, "searched": 1, "confirmed": 2, "rejected": 2}

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ideas (
    id TEXT PRIMARY KEY, variant TEXT NOT NULL, role TEXT NOT NULL, proposer TEXT, parent TEXT,
    status TEXT NOT NULL DEFAULT 'proposed', gain REAL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS proposals (
    n INTEGER PRIMARY KEY, token INTEGER NOT NULL UNIQUE, idea TEXT NOT NULL REFERENCES ideas(id),
    told REAL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    run_id TEXT PRIMARY KEY, idea TEXT NOT NULL REFERENCES ideas(id), phase TEXT NOT NULL,
    cell INTEGER NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL, value REAL, shortcut REAL,
    failures INTEGER, error TEXT, seconds REAL, created REAL NOT NULL, query_id TEXT, sandbox TEXT);
CREATE TABLE IF NOT EXISTS findings (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ({", ".join(repr(k) for k in KINDS)})),
    idea TEXT REFERENCES ideas(id),
    status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    proposed_by TEXT, text TEXT, seeds TEXT NOT NULL DEFAULT '[]', estimate TEXT,
    heldout_seeds TEXT, heldout TEXT, comparisons TEXT, created REAL NOT NULL, updated REAL NOT NULL,
    CHECK (kind != 'result' OR json_array_length(seeds) >= {MIN_SEEDS}));
CREATE INDEX IF NOT EXISTS trials_by_idea ON trials (idea, phase);
"""


class LedgerError(AlignlabError):
    """A finding the ledger refuses (too few seeds, a missing trial, a status going back)."""


def idea_id(ref: Ref) -> str:
    from alignlab.store import stable_hash

    return stable_hash(Ref.of(ref).model_dump(mode="json"), length=12)


class Ledger:
    """The campaign folder's ``ledger.sqlite``; one writer (the campaign), any readers."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        # WAL: `campaign status` reads while a campaign writes, and a killed writer loses at
        # most the transaction it was in.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(trials)")}
        for column in ("query_id", "sandbox"):  # a ledger from before these columns: added, nothing lost
            if column not in columns:
                self._db.execute(f"ALTER TABLE trials ADD COLUMN {column} TEXT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Statements inside commit together or not at all (a kill between them leaves neither)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def journal_mode(self) -> str:
        return self._db.execute("PRAGMA journal_mode").fetchone()[0]

    # --- meta -------------------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set(self, key: str, value: Any) -> None:
        self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                         "excluded.value", (key, json.dumps(value)))

    # --- ideas and proposals ----------------------------------------------------------------

    def add_idea(self, ref: Ref, role: str, proposer: Ref | None = None, parent: str | None = None) -> str:
        """The idea's id; inserted once (a second add of the same variant is a no-op)."""
        iid = idea_id(ref)
        self._db.execute("INSERT OR IGNORE INTO ideas (id, variant, role, proposer, parent, created) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (iid, json.dumps(ref.model_dump(mode="json")), role,
                          None if proposer is None else json.dumps(proposer.model_dump(mode="json")), parent,
                          time.time()))
        return iid

    def idea(self, iid: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT * FROM ideas WHERE id = ?", (iid,)).fetchone()
        return None if row is None else _idea_row(row)

    def ideas(self, role: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM ideas", ()
        if role is not None:
            sql, args = sql + " WHERE role = ?", (role,)
        return [_idea_row(r) for r in self._db.execute(sql + " ORDER BY created, id", args)]

    def mark_searched(self, iid: str, gain: float) -> None:
        self._db.execute("UPDATE ideas SET status = 'searched', gain = ? WHERE id = ?", (gain, iid))

    def add_proposal(self, token: int, iid: str) -> None:
        self._db.execute("INSERT OR IGNORE INTO proposals (n, token, idea, created) VALUES "
                         "((SELECT COALESCE(MAX(n), -1) + 1 FROM proposals), ?, ?, ?)", (token, iid, time.time()))

    def told(self, token: int, gain: float) -> None:
        self._db.execute("UPDATE proposals SET told = ? WHERE token = ?", (gain, token))

    def proposals(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute("SELECT * FROM proposals ORDER BY n")]

    # --- trials -----------------------------------------------------------------------------

    def add_trial(self, run_id: str, iid: str, phase: str, cell: int, seed: int, status: str,
                  value: float | None = None, shortcut: float | None = None, failures: int | None = None,
                  error: str | None = None, seconds: float | None = None, query_id: str | None = None,
                  sandbox: str | None = None) -> bool:
        """Record a trial once (keyed by its run id); True if it was new."""
        cur = self._db.execute(
            "INSERT OR IGNORE INTO trials (run_id, idea, phase, cell, seed, status, value, shortcut, failures, error, "
            "seconds, created, query_id, sandbox) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, iid, phase, cell, seed, status, value, shortcut, failures, error, seconds, time.time(),
             query_id, sandbox))
        return cur.rowcount == 1

    def trials(self, iid: str | None = None, phase: str | None = None) -> list[dict[str, Any]]:
        where, args = [], []
        for col, val in (("idea", iid), ("phase", phase)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        sql = "SELECT * FROM trials" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created"
        return [dict(r) for r in self._db.execute(sql, args)]

    def recorded_runs(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT run_id FROM trials")}

    def outcomes(self, iid: str, phase: str) -> dict[tuple[int, int], Outcome]:
        return {(t["cell"], t["seed"]): Outcome(t["value"] if t["status"] == "finished" else None, t["shortcut"])
                for t in self.trials(iid, phase)}

    # --- estimates and findings ---------------------------------------------------------------

    def estimate(self, iid: str, baseline: str, phase: str, cells: int, seeds: list[int], *, metric: str,
                 direction: str, failure_value: float | None = None) -> IdeaEstimate:
        """``iid`` against ``baseline`` over every (cell, seed) the campaign handed out in
        ``phase``: all of them, or an error — the estimate is never of a chosen subset."""
        want = {(c, s) for c in range(cells) for s in seeds}
        rows = {who: {p: o for p, o in self.outcomes(who, phase).items() if p in want} for who in (iid, baseline)}
        for who, got in rows.items():
            if set(got) != want:
                missing = sorted(want - set(got))
                raise LedgerError(f"idea {who} has no {phase} trial for (cell, seed) {missing[:5]}"
                                  f"{' …' if len(missing) > 5 else ''}: an estimate covers every seed handed out")
        everyone = [self.outcomes(i, phase) for i in {t["idea"] for t in self.trials(phase=phase)}]
        from alignlab.research._estimate import worst_values

        return paired_estimate(rows[iid], rows[baseline], metric=metric, direction=direction,  # type: ignore[arg-type]
                               worst=worst_values(everyone, direction), failure_value=failure_value)

    def add_finding(self, kind: str, *, key: str | None = None, idea: str | None = None, seeds: list[int] = (),
                    estimate: dict[str, Any] | None = None, status: str = "proposed", proposed_by: Any = None,
                    text: str = "") -> int:
        """A finding's id; with ``key``, added once (a second add returns the first's id).
        A ``result`` needs at least 5 distinct seeds."""
        if kind not in KINDS:
            raise LedgerError(f"unknown finding kind {kind!r}; kinds: {', '.join(KINDS)}")
        if status not in STATUSES:
            raise LedgerError(f"unknown finding status {status!r}; statuses: {', '.join(STATUSES)}")
        seeds = sorted({int(s) for s in seeds})
        if kind == "result" and len(seeds) < MIN_SEEDS:
            raise LedgerError(f"a result needs at least {MIN_SEEDS} seeds; this one has {len(seeds)} "
                              "(record it as a hypothesis, or run more seeds)")
        now = time.time()
        by = proposed_by.model_dump(mode="json") if isinstance(proposed_by, Ref) else proposed_by
        cur = self._db.execute(
            "INSERT OR IGNORE INTO findings (key, kind, idea, status, proposed_by, text, seeds, estimate, created, "
            "updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, kind, idea, status, json.dumps(by), text, json.dumps(seeds),
             None if estimate is None else json.dumps(estimate), now, now))
        if cur.rowcount == 1:
            return int(cur.lastrowid)
        return int(self._db.execute("SELECT id FROM findings WHERE key = ?", (key,)).fetchone()[0])

    def update_finding(self, fid: int, *, status: str | None = None, estimate: dict[str, Any] | None = None,
                       heldout_seeds: list[int] | None = None, heldout: dict[str, Any] | None = None,
                       comparisons: dict[str, Any] | None = None, text: str | None = None) -> None:
        """Move a finding on (its status never goes back) and add what was measured."""
        row = self._db.execute("SELECT status, kind FROM findings WHERE id = ?", (fid,)).fetchone()
        if row is None:
            raise LedgerError(f"no finding {fid}")
        if status is not None:
            if status not in STATUSES:
                raise LedgerError(f"unknown finding status {status!r}; statuses: {', '.join(STATUSES)}")
            if _ORDER[status] < _ORDER[row["status"]] or (_ORDER[status] == 2 == _ORDER[row["status"]]
                                                          and status != row["status"]):
                raise LedgerError(f"finding {fid} is {row['status']}; it cannot become {status}")
        if heldout_seeds is not None and row["kind"] == "result" and len(set(heldout_seeds)) < MIN_SEEDS:
            raise LedgerError(f"a result is confirmed on at least {MIN_SEEDS} seeds; got {len(set(heldout_seeds))}")
        sets, args = ["updated = ?"], [time.time()]
        for col, val in (("status", status), ("estimate", estimate), ("heldout_seeds", heldout_seeds),
                         ("heldout", heldout), ("comparisons", comparisons), ("text", text)):
            if val is not None:
                sets.append(f"{col} = ?")
                args.append(val if isinstance(val, str) else json.dumps(val))
        self._db.execute(f"UPDATE findings SET {', '.join(sets)} WHERE id = ?", (*args, fid))

    def findings(self, kind: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM findings", ()
        if kind is not None:
            sql, args = sql + " WHERE kind = ?", (kind,)
        out = []
        for r in self._db.execute(sql + " ORDER BY id", args):
            f = dict(r)
            for col in ("proposed_by", "seeds", "estimate", "heldout_seeds", "heldout", "comparisons"):
                f[col] = None if f[col] is None else json.loads(f[col])
            out.append(f)
        return out

    def finding_for(self, key: str) -> dict[str, Any] | None:
        return next((f for f in self.findings() if f["key"] == key), None)


def _idea_row(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["variant"] = json.loads(out["variant"])
    out["proposer"] = None if out["proposer"] is None else json.loads(out["proposer"])
    return out
