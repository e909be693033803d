"""Validation of a JSONL dataset against the text_template that will format it.

Every problem is an InputError naming the file, the line and the fix, raised BEFORE anything is
written or uploaded (AI Toolkit validated nothing: bad rows surfaced as a crash on the GPU).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import InputError
from scaffolds.params import template_fields

FIELD = "--dataset"
SMALL_DATASET_ROWS = 100  # AI Toolkit's maintainers saw tiny datasets produce no usable adapter
_SCALARS = (str, int, float)  # as training's row rule (project_helpers.row_problem): true/false is not text


@dataclass
class DatasetReport:
    path: str
    rows: int
    columns: list[str]
    warnings: list[str] = field(default_factory=list)


def _bad(message: str, fix: str) -> InputError:
    return InputError(message, field=FIELD, fix=fix)


def validate_lines(lines, name: str, text_template: str) -> DatasetReport:
    """``lines``: an iterable of text lines (with or without newline)."""
    fields = template_fields(text_template)
    answer = fields[-1]
    rows = 0
    columns: dict[str, None] = {}
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue  # blank lines (e.g. a trailing one) carry no row
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _bad(f"{name} is not JSONL: line {lineno} is not valid JSON ({exc.msg}).",
                       "write one JSON object per line, e.g. {\"phrase\": \"...\", \"tone\": \"...\"}") from None
        if not isinstance(row, dict):
            kind = "an array" if isinstance(row, list) else type(row).__name__
            raise _bad(f"{name} is not JSONL: line {lineno} is {kind}, not a JSON object.",
                       "write one JSON object per line (not one JSON array for the whole file)")
        missing = [f for f in fields if f not in row]
        if missing:
            raise _bad(f"{name} line {lineno} has no {', '.join(repr(m) for m in missing)} column "
                       f"(text_template needs {', '.join(fields)}; the row has {', '.join(row) or 'no columns'}).",
                       "add the column to every row, or change text_template with --set text_template=...")
        for f in fields:
            value = row[f]
            if value is None or isinstance(value, bool) or not isinstance(value, _SCALARS):
                got = "null" if value is None else "true/false" if isinstance(value, bool) else type(value).__name__
                raise _bad(f"{name} line {lineno}: column {f!r} must be text or a number (got {got}).", "fix that row")
        if not str(row[answer]).strip():
            raise _bad(f"{name} line {lineno}: the answer column {answer!r} is empty.", "fill it in or drop the row")
        for key in row:
            columns.setdefault(key, None)
        rows += 1
    if rows == 0:
        raise _bad(f"{name} has no rows.", "add at least one JSON object line")
    report = DatasetReport(path=name, rows=rows, columns=list(columns))
    if rows < SMALL_DATASET_ROWS:
        report.warnings.append(f"{name} has only {rows} rows; a useful adapter usually needs a few hundred or more")
    return report


def validate_file(path: Path, text_template: str) -> DatasetReport:
    path = Path(path)
    fix = "pass an existing .jsonl file to --dataset"
    if path.is_dir():
        raise _bad(f"Dataset {str(path)!r} is a folder, not a file.", fix)
    if os.path.lexists(path) and not path.is_file():
        # /dev/zero, a FIFO, a socket or a dangling link: reading it would hang or never end
        raise _bad(f"Dataset {str(path)!r} is not a regular file.", fix)
    if not path.is_file():
        raise _bad(f"Dataset file {str(path)!r} does not exist.", fix)
    try:
        with open(path, encoding="utf-8") as fh:
            return validate_lines(fh, path.name, text_template)
    except UnicodeDecodeError as exc:
        raise _bad(f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start}).",
                   "save the file as UTF-8 JSONL") from None
    except OSError as exc:
        raise _bad(f"Cannot read the dataset {str(path)!r} ({exc.strerror}).", "check the file's permissions") from None
