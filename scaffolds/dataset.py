"""The dataset ``ftstudio new`` puts in a project, checked by training's own rules before anything is written.

Every format (messages, sharegpt, prompt_completion, alpaca, text_template) and every source
(JSONL, JSON, CSV, Parquet, a ``save_to_disk`` folder) that training reads is read here with the
project's ``training_data`` package: a row training would refuse is refused here, named by its
line with the fix (exit 2), and nothing is written. A Hugging Face dataset (``hf:ORG/NAME``) is
loaded by the job, not here (it may be large or private): only its id is checked, and the report
says so (``ftstudio data check hf:...`` reads it where the hub is reachable).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from core.errors import InputError
from scaffolds.project_code import input_errors, training_data

FIELD = "--dataset"
SMALL_DATASET_ROWS = 100  # AI Toolkit's maintainers saw tiny datasets produce no usable adapter


@dataclass
class DatasetReport:
    path: str  # what messages call it (a file or folder name, or hf:ID)
    rows: Optional[int]  # None: not read here (a hub dataset)
    format: Optional[str]  # None: detected by the job (a hub dataset without --format)
    columns: list[str] = field(default_factory=list)
    reason: str = ""  # why this format
    warnings: list[str] = field(default_factory=list)


def check(spec: str | Path, *, dataset_format: Optional[str] = None, mapping: Optional[dict] = None,
          text_template: Optional[str] = None, name: Optional[str] = None, what: str = FIELD) -> DatasetReport:
    """The report of the dataset at ``spec`` (a path, or hf:ORG/NAME[:SPLIT]); InputError naming ``what``
    when training could not use it."""
    with input_errors():
        fmt = training_data.formats.format_name(dataset_format)
        if training_data.sources.hub_id(str(spec)):
            return DatasetReport(str(spec), None, fmt, reason="loaded by the training job", warnings=[
                f"{spec} is read by the training job, not now: check it first with `ftstudio data check {spec}`"])
    path = Path(spec).expanduser()
    if os.path.lexists(path) and not (path.is_file() or path.is_dir()):
        raise InputError(f"Dataset {str(path)!r} is not a regular file.", field=what,
                         fix="pass a .jsonl, .json, .csv or .parquet file, a save_to_disk folder or hf:ORG/NAME")
    try:
        with input_errors():
            detection, examples, problems, source = training_data.read_examples(
                str(path), dataset_format=dataset_format, mapping=mapping, text_template=text_template)
    except InputError as exc:
        exc.field = what if exc.field == "FILE" else exc.field
        raise
    except OSError as exc:
        raise InputError(f"Cannot read the dataset {str(path)!r} ({exc.strerror}).", field=what,
                         fix="check the file's permissions") from None
    label = name or source.name
    if problems:
        message, fix = training_data.first_problem(label, source.unit, problems)
        raise InputError(message, field=what, fix=fix)
    report = DatasetReport(label, len(examples), detection.format, reason=detection.reason)
    if len(examples) < SMALL_DATASET_ROWS:
        report.warnings.append(f"{label} has only {len(examples)} rows; a useful adapter usually needs a few "
                               "hundred or more")
    return report
