"""User tasks from JSONL or CSV files with a column mapping.

Every malformed row is reported with its file and line; nothing is silently skipped.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alignlab.data._task import Example, Task, Template
from alignlab.errors import DataError

_TRUE = {"1", "true", "yes", "y", "t", "positive", "pos"}
_FALSE = {"0", "false", "no", "n", "f", "negative", "neg"}


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a bad line names file:line."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{lineno}: malformed JSON ({err.msg}); fix or remove the line") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row


def read_csv(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    path = Path(path)
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            raise DataError(f"{path}: empty CSV (no header row)")
        for row in reader:
            if None in row:  # more cells than header columns
                raise DataError(f"{path}:{reader.line_num}: more cells than header columns")
            yield reader.line_num, row


def parse_label(value: Any, where: str, label_map: dict[str, int] | None = None) -> int:
    """0/1 from a bool, 0/1 number, or a yes/no-like string (or ``label_map``)."""
    if label_map is not None:
        key = str(value)
        if key not in label_map:
            raise DataError(f"{where}: label {value!r} is not in the label map {sorted(label_map)}")
        return int(label_map[key])
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return 1
    if text in _FALSE:
        return 0
    raise DataError(f"{where}: cannot read {value!r} as a binary label; pass a label_map")


def task_from_file(
    path: str | Path,
    *,
    text: str = "text",
    label: str | None = "label",
    group: str | None = None,
    label_map: dict[str, int] | None = None,
    template: Template | None = None,
    name: str | None = None,
    description: str = "",
) -> Task:
    """A task from a ``.jsonl`` or ``.csv`` file.

    Args:
        text, label, group: the column holding each field (label None: unlabelled task).
        label_map: raw label value -> 0/1, for labels that are not yes/no-like.
        template: how to render an example; the other columns are its meta fields.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        rows = read_jsonl(path)
    elif suffix == ".csv":
        rows = read_csv(path)
    else:
        raise DataError(f"{path}: unsupported file type {suffix!r}; use .jsonl or .csv")
    examples = []
    for lineno, row in rows:
        where = f"{path}:{lineno}"
        if text not in row or row[text] in (None, ""):
            raise DataError(f"{where}: missing text column {text!r} (columns: {sorted(row)})")
        y = None
        if label is not None:
            if label not in row:
                raise DataError(f"{where}: missing label column {label!r} (columns: {sorted(row)})")
            y = parse_label(row[label], where, label_map)
        meta = {k: v for k, v in row.items() if k not in (text, label, group)}
        g = str(row[group]) if group is not None and row.get(group) is not None else None
        examples.append(Example(text=str(row[text]), label=y, group=g, meta=meta))
    if not examples:
        raise DataError(f"{path}: no rows; a task needs at least one example")
    return Task(name or path.stem, tuple(examples), template or Template(),
                "binary" if label is not None else "code", description, source=str(path))
