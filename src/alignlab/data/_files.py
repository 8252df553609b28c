"""User tasks from JSONL or CSV files, with a column mapping.

A task reference names a file and, optionally, which of its columns hold the text, the
label and the group, in a query-string suffix — one string that works as a spec field,
in YAML and on the command line (quote it there: ``?`` and ``&`` are shell syntax)::

    data.csv                                         columns text, label (and group, if present)
    data.jsonl?text=statement&label=is_true          renamed columns
    data.csv?text=claim&label=verdict&group=pair_id  items sharing pair_id share a split

    alignlab elicit --task 'data.csv?text=claim&label=verdict&group=pair_id'
    task: data.csv?text=claim&label=verdict          (in a spec)

The other columns become each example's meta fields. A labelled file given no template
gets ``DEFAULT_TEMPLATE``: the text as a statement, answered `` False``/`` True`` — so
zero-shot scoring and contrast pairs (``alignlab elicit``) work on it; pass
``task_from_file(template=...)`` for another prompt. Every malformed row is reported with
its file, line and column; nothing is silently skipped.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alignlab.data._task import Example, Task, Template
from alignlab.errors import DataError

FILE_SUFFIXES = (".jsonl", ".ndjson", ".csv")
COLUMN_ROLES = ("text", "label", "group")
"""The column roles a task reference may map (``path?text=COL&label=COL&group=COL``)."""
DEFAULT_TEMPLATE = Template(format="{text}", choices=(" False", " True"))
"""What a labelled file task without a template gets (statement-like data, label 1 = true)."""
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
    raise DataError(f"{where}: cannot read {value!r} as a binary label; use 0/1, true/false or yes/no")


def is_task_file(ref: str) -> bool:
    """Whether ``ref`` names a task file (a .jsonl/.ndjson/.csv path, perhaps with a mapping)."""
    return Path(ref.partition("?")[0]).suffix.lower() in FILE_SUFFIXES


def parse_task_ref(ref: str) -> tuple[Path, dict[str, str]]:
    """``"data.csv?text=claim&label=verdict"`` -> (the path, ``{"text": "claim", "label": "verdict"}``)."""
    path, _, query = ref.partition("?")
    columns: dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        role, eq, column = pair.partition("=")
        role, column = role.strip(), column.strip()
        if not eq or not column:
            raise DataError(f"task {ref!r}: {pair!r} is not ROLE=COLUMN (e.g. {path}?text=statement&label=is_true)")
        if role not in COLUMN_ROLES:
            raise DataError(f"task {ref!r}: unknown column role {role!r}; the roles are {', '.join(COLUMN_ROLES)}")
        if role in columns:
            raise DataError(f"task {ref!r}: column role {role!r} is given twice")
        columns[role] = column
    return Path(path).expanduser(), columns


def load_task_file(ref: str) -> Task:
    """The task a file reference names (``path?text=COL&label=COL&group=COL``; see the module)."""
    path, columns = parse_task_ref(ref)
    return task_from_file(path, **columns)


def check_task_file(ref: str) -> None:
    """Raise ``DataError`` unless ``ref``'s file exists and has the mapped columns — read
    from the CSV header or the first JSONL object only, so a large file checks fast."""
    path, columns = parse_task_ref(ref)
    rows = _open_rows(path)
    first = next(rows, None)
    rows.close()
    if first is None:
        raise DataError(f"{path}: no rows; a task needs at least one example")
    lineno, row = first
    for role, column in {"text": "text", "label": "label", **columns}.items():
        if column not in row:
            raise DataError(f"{_column_line(path, lineno)}: missing {role} column {column!r} (columns: {sorted(row)})")


def _column_line(path: Path, lineno: int) -> str:
    """Where a missing column is reported: a CSV's columns are its header's (line 1)."""
    return f"{path}:{1 if path.suffix.lower() == '.csv' else lineno}"


def _open_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.exists():
        raise DataError(f"{path}: no such file (relative to {Path.cwd()})")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl(path)
    if suffix == ".csv":
        return read_csv(path)
    raise DataError(f"{path}: unsupported file type {suffix!r}; use .jsonl or .csv")


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
        text, label, group: the column holding each field (label None: unlabelled task;
            group None: the ``group`` column where every row has one, else no groups —
            a file with a ``group`` column never has its pairs split apart by default).
        label_map: raw label value -> 0/1, for labels that are not yes/no-like.
        template: how to render an example; the other columns are its meta fields. None:
            ``DEFAULT_TEMPLATE`` for a labelled file, a bare ``{text}`` for an unlabelled one.
    """
    path = Path(path).expanduser()
    rows = list(_open_rows(path))
    if group is None and rows and all("group" in row for _, row in rows):
        group = "group"
    mapped = {"text": text, "label": label, "group": group}
    examples = []
    for lineno, row in rows:
        where = f"{path}:{lineno}"
        for role, column in mapped.items():
            if column is not None and column not in row:
                raise DataError(f"{_column_line(path, lineno)}: missing {role} column {column!r}"
                                f" (columns: {sorted(row)})")
            if column is not None and role != "label" and row[column] in (None, ""):
                raise DataError(f"{where}: empty {role} in column {column!r}")
        y = None if label is None else parse_label(row[label], f"{where}: column {label!r}", label_map)
        meta = {k: v for k, v in row.items() if k not in (text, label, group)}
        g = None if group is None else str(row[group])
        examples.append(Example(text=str(row[text]), label=y, group=g, meta=meta))
    if not examples:
        raise DataError(f"{path}: no rows; a task needs at least one example")
    if template is None:
        template = DEFAULT_TEMPLATE if label is not None else Template()
    return Task(name or path.stem, tuple(examples), template,
                "binary" if label is not None else "code", description, source=str(path))
