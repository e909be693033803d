"""Rows of a dataset file or folder, each with the number a person finds it by.

JSONL: the file's line number (blank lines carry no row; a line that is not a JSON object is a
``RowError`` for that line, so every bad line is reported, not only the first). JSON array, CSV,
Parquet and ``datasets.save_to_disk`` folders: the row index + 1. A file that cannot be read at
all (missing, not UTF-8, not valid JSON, an unknown extension) is an ``DataError`` naming it.

pyarrow (Parquet) and datasets (save_to_disk folders) are imported only for those sources.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .errors import DataError

FIELD = "FILE"
KINDS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "csv",
         ".parquet": "parquet", ".pq": "parquet"}
_SUPPORTED = "a .jsonl, .json, .csv or .parquet file, or a folder written by datasets' save_to_disk"
_FIX_ROW = 'write one JSON object per line, e.g. {"messages": [{"role": "user", "content": "..."}, ...]}'


@dataclass(frozen=True)
class RowError:
    """A row that could not be read as an object."""

    problem: str
    fix: str


@dataclass
class Source:
    path: Path
    name: str  # what messages call it (the file or folder name)
    kind: str  # jsonl | json | csv | parquet | arrow | hub
    unit: str  # "line" (JSONL) or "row": what the numbers count
    _rows: Iterator[tuple[int, Any]]

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        return self._rows

    def peek(self, n: int) -> list[tuple[int, Any]]:
        """The first ``n`` rows, without consuming them."""
        head = list(islice(self._rows, n))
        self._rows = chain(head, self._rows)
        return head


def _bad(message: str, fix: str) -> DataError:
    return DataError(message, field=FIELD, fix=fix)


HUB_PREFIX = "hf:"


def hub_id(spec: str | Path) -> tuple[str, str] | None:
    """``(repo, split)`` of ``hf:ORG/NAME[:SPLIT]`` (split default ``train``); None for a path."""
    text = str(spec)
    if not text.startswith(HUB_PREFIX):
        return None
    repo, _, split = text[len(HUB_PREFIX):].partition(":")
    parts = repo.split("/")
    if len(parts) > 2 or not all(p and all(c.isalnum() or c in "-_." for c in p) for p in parts) \
            or not all(c.isalnum() or c in "-_.[]:%" for c in split):
        raise _bad(f"{text!r} is not a Hugging Face dataset id.", "write it as hf:ORG/NAME or hf:ORG/NAME:SPLIT")
    return repo, split or "train"


def open_source(path: str | Path) -> Source:
    """The rows of ``path`` (a file, a save_to_disk folder, or ``hf:ORG/NAME[:SPLIT]``); DataError
    when it is none of them."""
    hub = hub_id(path)
    if hub is not None:
        return _hub(*hub)
    path = Path(path).expanduser()
    if path.is_dir():
        return _arrow_folder(path)
    if os.path.lexists(path) and not path.is_file():
        raise _bad(f"Dataset {str(path)!r} is not a regular file.", f"pass {_SUPPORTED}")
    if not path.is_file():
        raise _bad(f"Dataset {str(path)!r} does not exist.", f"pass {_SUPPORTED}")
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        raise _bad(f"{path.name}: unknown dataset file type {path.suffix or '(no extension)'!r}.",
                   f"pass {_SUPPORTED}")
    reader: Callable[[Path], Iterator[tuple[int, Any]]] = {
        "jsonl": _jsonl, "json": _json, "csv": _csv, "parquet": _parquet}[kind]
    text_kind = kind in ("jsonl", "json", "csv")
    if kind == "json" and _looks_like_jsonl(path):
        kind, reader = "jsonl", _jsonl  # JSON Lines saved as .json (the datasets json loader reads both)
    try:
        rows = reader(path)
    except UnicodeDecodeError as exc:
        raise _bad(f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start}).",
                   "save the file as UTF-8") from None
    return Source(path, path.name, kind, "line" if kind == "jsonl" else "row",
                  _guard_text(rows, path) if text_kind else rows)


def _guard_text(rows: Iterator[tuple[int, Any]], path: Path) -> Iterator[tuple[int, Any]]:
    try:
        yield from rows
    except UnicodeDecodeError as exc:
        raise _bad(f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start}).",
                   "save the file as UTF-8") from None


def _looks_like_jsonl(path: Path) -> bool:
    """Objects one per line, not one JSON document (a lone object, e.g. {"train": [...]}, is a document)."""
    text = path.read_text(encoding="utf-8-sig", errors="replace").lstrip()
    if not text.startswith("{"):
        return False
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return True
    return False


def _jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    with open(path, encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, RowError(f"not valid JSON ({exc.msg}, column {exc.colno})", _FIX_ROW)
                continue
            if not isinstance(row, dict):
                kind = "an array" if isinstance(row, list) else type(row).__name__
                yield number, RowError(f"is {kind}, not a JSON object", _FIX_ROW)
                continue
            yield number, row


def _json(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise _bad(f"{path.name} line {exc.lineno}: not valid JSON ({exc.msg}).",
                   "fix the JSON, or write one object per line in a .jsonl file") from None
    if isinstance(data, dict):
        lists = [k for k, v in data.items() if isinstance(v, list)]
        data = data[lists[0]] if len(lists) == 1 and len(data) == 1 else [data]  # {"train": [...]}, or one row
    if not isinstance(data, list):
        raise _bad(f"{path.name} is a JSON {type(data).__name__}, not an array of rows.",
                   "write a JSON array of objects, e.g. [{\"prompt\": \"...\", \"completion\": \"...\"}]")
    return _numbered(data)


def _numbered(rows: Iterable[Any]) -> Iterator[tuple[int, Any]]:
    for index, row in enumerate(rows):
        if isinstance(row, dict):
            yield index + 1, row
        else:
            kind = "an array" if isinstance(row, list) else type(row).__name__ if row is not None else "null"
            yield index + 1, RowError(f"is {kind}, not an object", "make every row an object with named columns")


def _csv(path: Path) -> Iterator[tuple[int, Any]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        try:
            dialect = csv.Sniffer().sniff(fh.read(8192), delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
        fh.seek(0)
        reader = csv.DictReader(fh, dialect=dialect)
        if not reader.fieldnames:
            return
        for index, row in enumerate(reader):
            if None in row:
                yield index + 1, RowError(f"has {len(row[None])} more value(s) than the header has columns",
                                          "quote values that contain the separator, or fix the row")
                continue
            if any(v is None for v in row.values()):
                yield index + 1, RowError("has fewer values than the header has columns", "fill in every column")
                continue
            yield index + 1, row


def _parquet(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise _bad(f"Reading {path.name} needs pyarrow, which is not installed.",
                   "pip install pyarrow (or convert the file to JSONL)") from None
    try:
        handle = pq.ParquetFile(str(path))
    except Exception as exc:  # noqa: BLE001 - pyarrow's ArrowInvalid and friends: not a Parquet file
        raise _bad(f"{path.name} is not a readable Parquet file ({exc}).", "re-export the file") from None
    return _numbered(row for batch in handle.iter_batches(batch_size=1024) for row in batch.to_pylist())


def _hub(repo: str, split: str) -> Source:
    """A Hugging Face dataset, loaded with ``datasets`` (HF_TOKEN, when set, for private and gated ones)."""
    try:
        from datasets import load_dataset
    except ImportError:
        raise _bad(f"Loading hf:{repo} needs the datasets library, which is not installed.",
                   "pip install datasets (or download the rows to a JSONL file)") from None
    try:
        data = load_dataset(repo, split=split, token=os.environ.get("HF_TOKEN") or None)
    except Exception as exc:  # noqa: BLE001 - not found, no access, offline, bad split: its own words
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _bad(f"Cannot load the dataset hf:{repo} split {split!r} ({reason}).",
                   "check the id and the split, and set HF_TOKEN for a private or gated dataset") from None
    return Source(Path(repo), f"hf:{repo}", "hub", "row", _numbered(iter(data)))


def _arrow_folder(folder: Path) -> Source:
    if (folder / "dataset_dict.json").is_file():
        splits = sorted(p.name for p in folder.iterdir() if (p / "state.json").is_file())
        pick = "train" if "train" in splits else splits[0] if len(splits) == 1 else None
        if pick is None:
            raise _bad(f"{folder.name} holds the splits {', '.join(splits) or 'none'} and none is 'train'.",
                       f"point at one split's folder, e.g. {folder / (splits[0] if splits else 'train')}")
        folder = folder / pick
    if not (folder / "state.json").is_file() or not (folder / "dataset_info.json").is_file():
        raise _bad(f"{folder} is a folder but not one written by datasets' save_to_disk "
                   "(no state.json and dataset_info.json).", f"pass {_SUPPORTED}")
    try:
        from datasets import load_from_disk
    except ImportError:
        raise _bad(f"Reading the save_to_disk folder {folder.name} needs the datasets library, which is not "
                   "installed.", "pip install datasets (or export the rows to JSONL)") from None
    try:
        data = load_from_disk(str(folder))
    except Exception as exc:  # noqa: BLE001 - a damaged folder: its message is the best we have
        raise _bad(f"Cannot read the save_to_disk folder {folder} ({exc}).", "save the dataset again") from None
    return Source(folder, folder.name, "arrow", "row", _numbered(iter(data)))
