"""The run index: one SQLite row per run folder, for ``alignlab runs list|show|compare``.

The run folders are the truth; ``runs/index.sqlite`` is a cache of what they hold (kind,
status, timings, headline numbers), updated whenever a run is written and rebuildable
from the folders at any time (``rebuild_index``). It runs in WAL mode with a busy
timeout, and every write is one ``BEGIN IMMEDIATE`` transaction, so any number of
processes (local workers, Ray workers on one filesystem) can write at once: a writer
waits for the lock instead of failing, and readers never see half a write.

Statuses: ``running`` (started, nothing written yet — or killed without a trace, until a
reader notices its lock is free: see ``_runs.recover_run``), ``finished``
(``result.json``), ``failed`` (``error.json``: the run raised, timed out, ran out of
memory, was cancelled or its process vanished).

An index file SQLite cannot read (overwritten, truncated, failing its integrity check)
is never an error for long: ``quarantine`` moves it (and its ``-wal``/``-shm``) aside as
``index.sqlite.corrupt-<time>`` for inspection, and the caller rebuilds from the folders.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
INDEX_NAME = "index.sqlite"
_BUSY_MS = 60_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    started REAL,
    finished REAL,
    seconds REAL,
    executor TEXT,
    pid INTEGER,
    commit_sha TEXT,
    config TEXT NOT NULL,
    summary TEXT,
    error TEXT,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_kind ON runs(kind);
"""
COLUMNS = ("id", "kind", "status", "started", "finished", "seconds", "executor", "pid", "commit_sha",
           "config", "summary", "error", "updated")


def index_path(root: str | Path) -> Path:
    return Path(root) / INDEX_NAME


@contextlib.contextmanager
def connect(root: str | Path, write: bool = True) -> Iterator[sqlite3.Connection]:
    """A connection to ``root``'s index, closed on exit. A writing connection creates the
    index on first use and sets WAL mode; a reading one (``write=False``, for an index
    that exists) does neither, so readers polling the index take no write lock."""
    Path(root).mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(index_path(root), timeout=_BUSY_MS / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
        if write:
            # WAL: readers do not block the writer nor see its partial transaction.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        conn.row_factory = sqlite3.Row
        yield conn
    finally:
        conn.close()


def _retrying(write: Callable[[], None], attempts: int = 8) -> None:
    """Run one write transaction, again after a short wait if SQLite says the database is
    locked: some lock states (a WAL being reset as another process's last connection
    closes) return "locked" at once instead of waiting out the busy timeout."""
    for attempt in range(attempts):
        try:
            return write()
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2 ** attempt)


def _upsert_sql(row: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """The statement inserting or updating one row; keys not given keep their stored value."""
    row = {k: (json.dumps(v, sort_keys=True) if k in ("config", "summary") and not isinstance(v, str)
               and v is not None else v) for k, v in row.items()}
    row["updated"] = time.time()
    unknown = set(row) - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown index columns {sorted(unknown)}")
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    updates = ", ".join(f"{c}=excluded.{c}" for c in row if c != "id")
    return f"INSERT INTO runs ({cols}) VALUES ({marks}) ON CONFLICT(id) DO UPDATE SET {updates}", tuple(row.values())


def upsert_many(root: str | Path, rows: list[dict[str, Any]]) -> None:
    """Insert or update rows in one transaction (a rebuild: one commit, not one per run)."""
    statements = [_upsert_sql(row) for row in rows]

    def write() -> None:
        with connect(root) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    conn.execute(sql, args)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    _retrying(write)


def upsert(root: str | Path, row: dict[str, Any]) -> None:
    """Insert or update one run's row; keys not given keep their stored value."""
    upsert_many(root, [row])


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for key in ("config", "summary"):
        out[key] = json.loads(out[key]) if out[key] else None
    return out


def query(root: str | Path, kind: str | None = None, status: str | None = None,
          limit: int | None = None) -> list[dict[str, Any]]:
    """Rows, newest first, optionally filtered by kind and status."""
    if not index_path(root).exists():
        return []
    where, args = [], []
    if kind:
        where.append("kind = ?")
        args.append(kind)
    if status:
        where.append("status = ?")
        args.append(status)
    sql = "SELECT * FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "")
    sql += " ORDER BY COALESCE(finished, started, updated) DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    with connect(root, write=False) as conn:
        try:
            return [_decode(r) for r in conn.execute(sql, args)]
        except sqlite3.OperationalError as err:
            if "no such table" in str(err):  # created a moment ago, schema not yet written
                return []
            raise


def lookup(root: str | Path, run: str) -> list[dict[str, Any]]:
    """Rows whose id is ``run`` or starts with it (or whose hash part does)."""
    if not index_path(root).exists():
        return []
    with connect(root, write=False) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone():
            return []
        exact = conn.execute("SELECT * FROM runs WHERE id = ?", (run,)).fetchall()
        if exact:
            return [_decode(r) for r in exact]
        rows = conn.execute("SELECT * FROM runs WHERE id LIKE ? OR id LIKE ?",
                            (f"{run}%", f"%-{run}%")).fetchall()
        return [_decode(r) for r in rows]


def delete_missing(root: str | Path, present: set[str]) -> int:
    """Drop rows whose folder is gone; returns how many."""
    with connect(root) as conn:
        ids = {r["id"] for r in conn.execute("SELECT id FROM runs")}
        gone = sorted(ids - present)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("DELETE FROM runs WHERE id = ?", [(g,) for g in gone])
        conn.execute("COMMIT")
    return len(gone)


def integrity(root: str | Path) -> str:
    """SQLite's own integrity check: ``"ok"`` for a sound database."""
    with connect(root) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def is_corruption(err: BaseException) -> bool:
    """Whether SQLite said the file itself is bad ("file is not a database", "database
    disk image is malformed"), as opposed to busy, locked or missing a table."""
    return isinstance(err, sqlite3.DatabaseError) and not isinstance(err, sqlite3.OperationalError)


def damage(root: str | Path) -> str | None:
    """Why ``root``'s index file cannot be used, or None (sound, or no file yet)."""
    if not index_path(root).exists():
        return None
    try:
        with connect(root, write=False) as conn:
            verdict = conn.execute("PRAGMA quick_check(1)").fetchone()
    except sqlite3.DatabaseError as err:
        return str(err) if is_corruption(err) else None
    return None if not verdict or verdict[0] == "ok" else f"failed its integrity check: {verdict[0]}"


def quarantine(root: str | Path, reason: str | None = None) -> tuple[Path, str] | None:
    """Move an unreadable index aside (``index.sqlite.corrupt-<time>``, with its ``-wal``
    and ``-shm``) so the next write starts a new one; returns (where it went, why), or
    None when the index is sound or absent. ``reason``: the caller saw SQLite fail on it
    (a fault the quick check can miss): move it whatever the check says. One process at
    a time (the runs folder's lock), and the check is repeated under it: another may have
    just done it."""
    from alignlab.store._lock import folder_lock

    root = Path(root)
    if reason is None and damage(root) is None:
        return None
    with folder_lock(root, timeout=60):
        reason = damage(root) or reason
        if reason is None or not index_path(root).exists():
            return None
        base = index_path(root)
        moved = base.with_name(f"{INDEX_NAME}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        n = 1
        while moved.exists():
            moved, n = base.with_name(f"{INDEX_NAME}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{n}"), n + 1
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{base}{suffix}", f"{moved}{suffix}")
        log.warning("run index %s is unreadable (%s): moved it to %s; rebuilding it from the run folders",
                    base, reason, moved.name)
        return moved, reason
