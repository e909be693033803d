"""The AI Toolkit/Olive ``text_template``: ``{column}`` fields in text, the last one the answer.

The LAST field and everything after it is the answer (the completion training computes the loss
on), everything before it the prompt; serving builds its prompt from the same prompt part and stops
at the answer's suffix (e.g. ``<|end|>``). Standard library only.
"""
from __future__ import annotations

import re
import string

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


def template_fields(template: str) -> list[str]:
    """The fields of ``template`` in order (TemplateError when it is not a valid template)."""
    return field_names(parse_template(template))


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
