"""The dataset report (``ftstudio data check``): read, detect, normalise, count; write nothing.

``check(path, model=..., dataset_format=..., mapping=..., max_length=..., text_template=...)``
returns a plain dict (the ``--json`` document): the detected format, the rows, token lengths
(p50/p95/max), how many rows the sequence length truncates, the share of tokens trained on, the
first example rendered as training sees it (``prompt``/``trained`` strings and the ordered
``segments``), and the bad rows (``problems``: line, problem, fix). Cheap checks (format name,
mapping, the file's format) come before the tokenizer is loaded.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Optional

from core.errors import InputError
from scaffolds.dataset import SMALL_DATASET_ROWS
from scaffolds.datasets import tokens
from scaffolds.project_code import input_errors, training_data

formats, sources = training_data.formats, training_data.sources
TRAINED_PART, Example, Problem = training_data.shape.TRAINED_PART, training_data.shape.Example, training_data.shape.Problem

MAX_PROBLEMS = 1000  # listed in the report; ``problem_rows`` counts them all
MARK_OPEN, MARK_CLOSE = "⟦", "⟧"  # the trained part, in human output


def percentile(values: list[int], p: float) -> Optional[int]:
    """Nearest-rank percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def marked(segments: Iterable[tuple[str, bool]]) -> str:
    """The rendered example with the trained part wrapped in ⟦ ⟧."""
    return "".join(f"{MARK_OPEN}{text}{MARK_CLOSE}" if trained else text for text, trained in segments)


def _positive(max_length: Optional[int]) -> Optional[int]:
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1):
        raise InputError(f"--max-length {max_length!r} is not a positive number of tokens.", field="--max-length",
                         fix="pass a positive integer, e.g. --max-length 1024")
    return max_length


def check(path: str | Path, *, model: Optional[str] = None, dataset_format: Optional[str] = None,
          mapping: Optional[dict[str, str]] = None, max_length: Optional[int] = None,
          text_template: Optional[str] = None, project_root: Optional[Path] = None,
          max_length_source: str = "--max-length") -> dict[str, Any]:
    """The report of the dataset at ``path`` (InputError when it cannot be read at all).

    ``max_length`` (default: the model's context length, else 1024) is the sequence length that
    truncation is counted at; ``max_length_source`` says where it came from. ``project_root``: a
    project whose ``model-cache/<repo>`` copy of the model may hold the tokenizer.
    """
    _positive(max_length)
    with input_errors():
        formats.format_name(dataset_format)
        source = sources.open_source(path)
        detection = formats.detect(source.peek(formats.HEAD_ROWS), name=source.name, dataset_format=dataset_format,
                                   mapping=mapping, text_template=text_template)
        counter = tokens.load(model, project_root=project_root)
        return _report(source, detection, counter, model, max_length, max_length_source)


def _report(source, detection, counter, model, max_length, max_length_source) -> dict[str, Any]:
    if max_length is not None:
        limit, limit_source = max_length, max_length_source
    elif counter.context:
        limit, limit_source = counter.context, "the model's context length"
    else:
        limit, limit_source = tokens.DEFAULT_MAX_LENGTH, "the default: the model's context length is unknown"

    rows = 0
    lengths: list[int] = []
    seen = trained = truncated = starved = 0
    problems: list[Problem] = []
    problem_rows = 0
    first: Optional[tuple[Example, tokens.Measured]] = None
    for number, row in source:
        rows += 1
        result = formats.normalise(number, row, detection)
        if isinstance(result, Example):
            try:
                measured = counter.measure(result)
            except tokens.TemplateRefused as exc:
                result = Problem(number, f"the model's chat template refused the row ({exc})",
                                 "change the turns the template complains about, or drop the row")
        if isinstance(result, Problem):
            problem_rows += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append(result)
            continue
        if first is None:
            first = (result, measured)
        lengths.append(measured.length)
        seen += min(measured.length, limit)
        kept = measured.trained_within(limit)
        trained += kept
        if measured.length > limit:
            truncated += 1
            starved += kept == 0
    if rows == 0:
        raise InputError(f"{source.name} has no rows.", field="FILE", fix="add at least one row")

    warnings = []
    if counter.note:
        warnings.append(counter.note)
    if lengths and len(lengths) < SMALL_DATASET_ROWS:
        warnings.append(f"only {len(lengths)} usable row(s); a useful adapter usually needs a few hundred or more")
    if starved:
        warnings.append(f"{starved} row(s) lose their whole trained part at {limit} tokens: raise the sequence "
                        "length or shorten those prompts")
    return {
        "path": str(source.path),
        "source": source.kind,
        "format": detection.format,
        "detection": detection.to_json(),
        "rows": rows,
        "valid_rows": len(lengths),
        "model": model,
        "tokenizer": {"exact": counter.exact, "method": counter.method, "source": counter.source,
                      "template": counter.template, "note": counter.note or None},
        "max_length": limit,
        "max_length_source": limit_source,
        "tokens": {"p50": percentile(lengths, 50), "p95": percentile(lengths, 95),
                   "max": max(lengths) if lengths else None, "total": sum(lengths),
                   "exact": counter.exact, "method": counter.method},
        "truncated": truncated,
        "trained_token_share": round(trained / seen, 4) if seen else None,
        "trained_part": TRAINED_PART[detection.format],
        "example": _example(first, counter),
        "problems": [p.to_json() for p in problems],
        "problem_rows": problem_rows,
        "unit": source.unit,
        "warnings": warnings,
    }


def _example(first: Optional[tuple[Example, "tokens.Measured"]], counter: "tokens.Counter") -> Optional[dict]:
    if first is None:
        return None
    example, measured = first
    segments = measured.segments
    return {
        "line": example.number,
        "rendered_with": counter.template if example.chat else "the text as is (plain prompt and completion)",
        "prompt": "".join(text for text, trained in segments if not trained),
        "trained": "".join(text for text, trained in segments if trained),
        "segments": [{"text": text, "trained": trained} for text, trained in segments],
        "tokens": measured.length,
    }
