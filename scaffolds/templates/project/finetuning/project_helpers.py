"""What the project's scripts share: config paths, JSON files, run ids, the text_template rule, defaults.

Imported by ``finetuning/train.py``, ``fetch_model.py``, ``invoke_olive.py`` and ``inference/``
(each puts this folder on ``sys.path`` first), and loaded by ftstudio itself to check a
``text_template`` when it generates the project: one implementation, so generation, training and
serving cannot disagree. Standard library only. A problem is a ``ValueError`` whose message is one
line; each script turns it into its own error and exit code.
"""
from __future__ import annotations

import json
import os
import re
import string
import time
from pathlib import Path

DTYPES = ("bfloat16", "float16", "float32")
QUANT_TYPES = ("nf4", "fp4")
# The "training" values a hand-edited train_config.json may leave out (ftstudio writes them all,
# with these as its generic defaults).
TRAINING_DEFAULTS = {
    "num_train_epochs": 3, "max_steps": -1, "gradient_accumulation_steps": 1, "logging_steps": 10,
    "save_steps": 100, "save_total_limit": 2, "seed": 42, "warmup_steps": 0.03, "compute_dtype": "bfloat16",
}
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # a folder name on every OS and on Azure Files


# -- paths and JSON ------------------------------------------------------------------------------
def project_root(config_path: Path) -> Path:
    """The folder the config's paths are relative to: the project root for finetuning/train_config.json,
    the config's own folder for a config elsewhere."""
    config_path = Path(config_path).resolve()
    return config_path.parent.parent if config_path.parent.name == "finetuning" else config_path.parent


def resolve(root: Path, value: str) -> Path:
    """A config path: absolute (``~`` expanded) as it is, relative under ``root``."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else root / path


def read_json(path: Path) -> dict | None:
    """The JSON object in ``path``, or None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_json_object(path: Path, what: str = "config file", missing_hint: str = "") -> dict:
    """The JSON object in ``path``; ValueError naming the problem (missing, invalid JSON, not an object)."""
    if not path.is_file():
        raise ValueError(f"{what} {path} not found{missing_hint}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return data


def write_json(path: Path, data: dict) -> None:
    """Atomically: a reader (or a crash) never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# -- runs ------------------------------------------------------------------------------------------
def default_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.fullmatch(run_id):
        raise ValueError(f"RUN_ID {run_id!r} must be letters, digits, '.', '_' or '-'")
    return run_id


def fill_training_defaults(training: dict) -> dict:
    """``training`` with TRAINING_DEFAULTS for what it lacks; max_steps 0 or null means -1 (use epochs)."""
    for key, default in TRAINING_DEFAULTS.items():
        training.setdefault(key, default)
    if training["max_steps"] in (None, 0):
        training["max_steps"] = -1
    return training


def adapter_base_model(model_cfg: dict) -> str:
    """What an adapter records as its base: the hub repo, or the project-relative local_dir (portable,
    never this machine's absolute path)."""
    if model_cfg.get("source") == "hub" and model_cfg.get("repo"):
        return model_cfg["repo"]
    return model_cfg["local_dir"]


# -- text_template -------------------------------------------------------------------------------
class TemplateError(ValueError):
    """A text_template that is not text with {column} fields. The message reads after "text_template"."""


# Dataset columns are often named "question-text" or "user input": besides identifiers (any script),
# ASCII words joined by '-' or spaces are plain column names too.
_ASCII_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_\- ]*")


def is_column_name(name: str) -> bool:
    """A plain column name: never positional ({0}, {}), attribute ({a.b}) or index ({a[0]}) access."""
    return name.isidentifier() or bool(_ASCII_COLUMN.fullmatch(name))


def parse_template(template: str) -> list[tuple[str, str | None]]:
    """``[(literal, field), ...]`` of a text_template; TemplateError when it is not a valid one."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"is not a valid template ({exc})") from None
    segments = []
    for literal, field, spec, conversion in parsed:
        if field is not None and (not is_column_name(field) or spec or conversion):
            raise TemplateError(f"field {{{field}}} must be a plain column name")
        segments.append((literal, field))
    if not any(field is not None for _, field in segments):
        raise TemplateError("has no {column} field for the answer")
    return segments


def field_names(segments: list[tuple[str, str | None]]) -> list[str]:
    """The template's fields in order; the last one is the answer."""
    return [field for _, field in segments if field is not None]


def split_template(segments: list[tuple[str, str | None]]) -> tuple[list[tuple[str, str | None]], str, str]:
    """(prompt segments, answer field, answer suffix): the LAST field and everything after it is the
    answer, everything before it the prompt (training's loss is on the answer only, and serving
    builds its prompts from the same prompt part and stops at the suffix, e.g. ``<|end|>``)."""
    last = max(i for i, (_, field) in enumerate(segments) if field is not None)
    prompt = segments[:last] + [(segments[last][0], None)]
    suffix = "".join(literal for literal, _ in segments[last + 1:])
    return prompt, segments[last][1], suffix


def fill(segments: list[tuple[str, str | None]], values: dict) -> str:
    return "".join(literal + (str(values[field]) if field is not None else "") for literal, field in segments)


def split_row(segments: list[tuple[str, str | None]], row: dict) -> tuple[str, str]:
    """(prompt, completion) of one dataset row."""
    prompt, answer, suffix = split_template(segments)
    return fill(prompt, row), str(row[answer]) + suffix


# -- dataset rows ----------------------------------------------------------------------------------
class DatasetError(ValueError):
    """A dataset that training cannot use; the message names the file and line."""


def read_rows(path: Path, display: str) -> list[tuple[int, object]]:
    """``[(line number, parsed row)]`` of a JSONL file (or a JSON array file)."""
    if not path.is_file():
        raise DatasetError(f"dataset file {display} not found; fix dataset.train_file")
    text = path.read_text(encoding="utf-8-sig")
    if text.lstrip().startswith("["):
        try:
            return [(i + 1, row) for i, row in enumerate(json.loads(text))]
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{display} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{display} line {number}: not valid JSON ({exc.msg})") from None
    return rows


def row_problem(row, fields: list, answer: str):
    """Why ``row`` cannot fill the template (None when it can)."""
    if not isinstance(row, dict):
        return "not a JSON object"
    for field in fields:
        if field not in row or row[field] is None:
            return f"missing field {field!r}"
        if not isinstance(row[field], (str, int, float)) or isinstance(row[field], bool):
            return f"field {field!r} is not text"
    if not str(row[answer]).strip():
        return f"field {answer!r} (the answer) is empty"
    return None


def prompt_completion_pairs(template: str, path: Path, display: str) -> list:
    """Every row of the dataset checked against ``template``, as ``{"prompt", "completion"}`` pairs;
    the first bad row is named by its line number."""
    try:
        segments = parse_template(template)
    except ValueError as exc:
        raise DatasetError(f"dataset.text_template {exc}") from None
    fields = field_names(segments)
    answer = fields[-1]
    rows = read_rows(path, display)
    if not rows:
        raise DatasetError(f"{display} has no rows; add JSONL rows with fields {', '.join(fields)}")
    pairs, bad = [], []
    for number, row in rows:
        problem = row_problem(row, fields, answer)
        if problem:
            bad.append((number, problem))
            continue
        prompt, completion = split_row(segments, row)
        pairs.append({"prompt": prompt, "completion": completion})
    if bad:
        number, problem = bad[0]
        more = f" ({len(bad)} bad rows in all)" if len(bad) > 1 else ""
        raise DatasetError(f"{display} line {number}: {problem}{more}; every row needs "
                           f"{', '.join(repr(f) for f in fields)} (dataset.text_template)")
    return pairs
