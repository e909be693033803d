"""Which format a dataset's rows are in, and each row normalised to an ``Example`` (or a ``Problem``).

Formats (``shape.FORMATS``):
- ``messages``: ``{"messages": [{"role": "system"|"user"|"assistant"|"tool", "content": "..."}]}``,
  multi-turn; assistant ``tool_calls`` and tool turns are passed through; loss on assistant turns;
- ``sharegpt``: ``{"conversations": [{"from": "human"|"gpt"|"system", "value": "..."}]}`` (also
  ``function_call``/``observation`` for tools, an optional ``system`` column); loss on gpt turns;
- ``prompt_completion``: ``prompt``/``completion`` strings (plain text, loss on the completion) or
  lists of messages (conversational: the completion's assistant turns are trained);
- ``alpaca``: ``instruction`` (+ optional ``input``, ``system``) and ``output``; loss on the output;
- ``text_template``: flat columns named by an AI Toolkit/Olive template's ``{fields}`` (existing
  projects); the last field and what follows it is the answer (project_helpers.split_template).

Detection looks at the keys of the first rows (after the column mapping): every format whose
columns are there is a candidate, and the one that explains the most columns wins (the most
specific); a tie goes to text_template when a template was given, then to the order above. A list
column's turns decide between messages (role/content) and sharegpt (from/value), whatever its name.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable, Optional, Union

from .errors import DataError
from .shape import (ALIASES, ALPACA, FORMATS, MESSAGES, PROMPT_COMPLETION, SHAREGPT,
                                      TEXT_TEMPLATE, Detection, Example, Problem, Turn)
from .sources import RowError
from .text_template import TemplateError, field_names, parse_template, row_problem, split_row, template_fields

HEAD_ROWS = 20  # detection reads this many rows
LIST_COLUMNS = ("messages", "conversations")
INNER_KEYS = ("role", "content", "from", "value")  # keys inside a turn (mapped too)
MAPPABLE = (*LIST_COLUMNS, "prompt", "completion", "instruction", "input", "output", "system", "tools", *INNER_KEYS)
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system",
                  "function_call": "assistant", "observation": "tool", "tool": "tool"}
PASSED_THROUGH = ("tool_calls", "tool_call_id", "name")
_FORMAT_FIX = ("pass --format with one of " + ", ".join(FORMATS) + ", or name the columns with --map "
               "(e.g. --map instruction=question --map output=answer)")
Result = Union[Example, Problem]


# -- the user's choices --------------------------------------------------------------------------
def format_name(text: Optional[str]) -> Optional[str]:
    """``--format``'s value as one of FORMATS (None: detect); DataError for anything else."""
    if text is None:
        return None
    key = text.strip().lower().replace(" ", "_").replace("-", "_")
    if key in FORMATS:
        return key
    if key.replace("_", "-") in ALIASES:
        return ALIASES[key.replace("_", "-")]
    raise DataError(f"Unknown dataset format {text!r}.", field="--format",
                     fix=f"use one of {', '.join(FORMATS)} (or leave --format out to detect it)")


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """``["instruction=question", ...]`` → ``{"instruction": "question"}`` (checked in ``detect``)."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        ours, sep, theirs = pair.partition("=")
        ours, theirs = ours.strip(), theirs.strip()
        if not sep or not ours or not theirs:
            raise DataError(f"--map {pair!r} is not FIELD=COLUMN.", field="--map",
                             fix="write it as FIELD=COLUMN, e.g. --map instruction=question")
        if ours in mapping and mapping[ours] != theirs:
            raise DataError(f"--map gives {ours!r} twice ({mapping[ours]!r} and {theirs!r}).", field="--map",
                             fix=f"keep one --map {ours}=COLUMN")
        mapping[ours] = theirs
    return mapping


def _check_mapping(mapping: dict[str, str], fields: list[str], head: list[dict], name: str) -> None:
    allowed = (*MAPPABLE, *fields)
    for ours, theirs in mapping.items():
        if ours not in allowed:
            raise DataError(f"--map {ours}={theirs}: {ours!r} is not a field ftstudio reads.", field="--map",
                             fix=f"map one of {', '.join(allowed)} to your column, e.g. --map output={theirs}")
        if ours not in INNER_KEYS and head and not any(theirs in row for row in head):
            columns = ", ".join(sorted({k for row in head for k in row})) or "none"
            raise DataError(f"--map {ours}={theirs}: {name} has no column {theirs!r} in its first rows "
                             f"(columns: {columns}).", field="--map", fix="map to one of those columns")


def mapped(row: dict, mapping: dict[str, str]) -> dict:
    """The row with the dataset's column names replaced by ours (turn keys are mapped when read)."""
    top = {ours: theirs for ours, theirs in mapping.items() if ours not in INNER_KEYS and theirs in row}
    if not top:
        return row
    out = {k: v for k, v in row.items() if k not in top.values()}
    out.update({ours: row[theirs] for ours, theirs in top.items()})
    return out


# -- detection ------------------------------------------------------------------------------------
def _turn_keys(style: str, mapping: dict[str, str]) -> tuple[str, str]:
    if style == SHAREGPT:
        return mapping.get("from", mapping.get("role", "from")), mapping.get("value", mapping.get("content", "value"))
    return mapping.get("role", "role"), mapping.get("content", "content")


def _list_style(column: str, value: Any, mapping: dict[str, str]) -> str:
    first = value[0] if isinstance(value, list) and value else None
    if isinstance(first, dict):
        if any(k in first for k in _turn_keys(MESSAGES, mapping)):
            return MESSAGES
        if any(k in first for k in _turn_keys(SHAREGPT, mapping)):
            return SHAREGPT
    return MESSAGES if column == "messages" else SHAREGPT


def _candidates(keys: set, sample: dict, fields: list[str], mapping: dict) -> list[tuple[int, int, str, Optional[str], str]]:
    """(columns explained, tie rank, format, list column, reason) of every format the keys fit."""
    found = []
    for column in LIST_COLUMNS:
        if column in keys:
            fmt = _list_style(column, sample.get(column), mapping)
            style = "role/content" if fmt == MESSAGES else "from/value"
            found.append((1 + ("system" in keys and fmt == SHAREGPT), FORMATS.index(fmt), fmt, column,
                          f"a {column!r} column of {style} turns"))
    if {"prompt", "completion"} <= keys:
        found.append((2, FORMATS.index(PROMPT_COMPLETION), PROMPT_COMPLETION, None, "'prompt' and 'completion' columns"))
    if {"instruction", "output"} <= keys:
        extra = [k for k in ("input", "system") if k in keys]
        found.append((2 + len(extra), FORMATS.index(ALPACA), ALPACA, None,
                      "'instruction', " + "".join(f"{k!r}, " for k in extra) + "'output' columns"))
    if fields and set(fields) <= keys:
        found.append((len(set(fields)), -1, TEXT_TEMPLATE, None, "the text_template's fields " + ", ".join(fields)))
    return found


def detect(head: list[tuple[int, Any]], *, name: str, dataset_format: Optional[str] = None,
           mapping: Optional[dict[str, str]] = None, text_template: Optional[str] = None) -> Detection:
    """The format of rows whose first ones are ``head`` ([(number, row)]).

    ``dataset_format`` overrides detection (a name or alias of FORMATS); ``mapping`` renames the
    dataset's columns to ours (``{"instruction": "question"}``: the instruction is in "question");
    ``text_template`` makes the text_template format possible (the project's template).
    """
    mapping = dict(mapping or {})
    fmt = format_name(dataset_format)
    try:
        fields = template_fields(text_template) if text_template is not None else []
    except TemplateError as exc:
        raise DataError(f"The text_template {exc}.", field="--text-template",
                        fix="write it as text with {column} fields, the answer's field last") from None
    if fmt == TEXT_TEMPLATE and not fields:
        raise DataError("The text_template format needs the template.", field="--text-template",
                         fix="pass --text-template with the project's template, e.g. '{question} => {answer}'")
    rows = [row for _, row in head if isinstance(row, dict)]
    if not rows:
        bad = next(((n, r) for n, r in head if isinstance(r, RowError)), None)
        if bad:
            raise DataError(f"{name} line {bad[0]} {bad[1].problem}.", field="FILE", fix=bad[1].fix)
        raise DataError(f"{name} has no rows.", field="FILE", fix="add at least one row")
    _check_mapping(mapping, fields, rows, name)
    rows = [mapped(r, mapping) for r in rows]
    common = set.intersection(*(set(r) for r in rows))
    found = _candidates(common, rows[0], fields, mapping) or _candidates(set(rows[0]), rows[0], fields, mapping)
    if fmt is not None:
        pick = next((c for c in found if c[2] == fmt), None)
        column = pick[3] if pick else ("conversations" if fmt == SHAREGPT else "messages")
        return Detection(fmt, "--format", "given with --format", column if fmt in (MESSAGES, SHAREGPT) else None,
                         text_template if fmt == TEXT_TEMPLATE else None, mapping)
    if not found:
        columns = ", ".join(sorted(rows[0])) or "none"
        raise DataError(f"{name}: cannot tell the dataset's format from the columns of its first rows ({columns}).",
                         field="--format", fix=_FORMAT_FIX)
    score, _, fmt, column, reason = max(found, key=lambda c: (c[0], -c[1]))
    return Detection(fmt, "detected", f"the first rows have {reason}", column,
                     text_template if fmt == TEXT_TEMPLATE else None, mapping)


# -- normalisation ----------------------------------------------------------------------------------
def normalise(number: int, row: Any, detection: Detection) -> Result:
    """One row as an Example, or the Problem that makes it unusable (the first one found)."""
    if isinstance(row, RowError):
        return Problem(number, row.problem, row.fix)
    row = mapped(row, detection.mapping)
    return _NORMALISERS[detection.format](number, row, detection)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    names = {list: "a list", dict: "an object", str: "text", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), f"a {type(value).__name__}")


def _missing(number: int, column: str, detection: Detection) -> Problem:
    return Problem(number, f"has no {column!r} column (the rows are read as {detection.format}: {detection.reason})",
                   f"add {column!r} to the row, or pass --format / --map {column}=COLUMN")


def _turns(number: int, items: Any, where: str, style: str, mapping: dict) -> Union[list[tuple], Problem]:
    """[(role, content, extra, label, where, index)] of a list of turns, or the first Problem in it."""
    role_key, content_key = _turn_keys(style, mapping)
    example = f'{{"{role_key}": "...", "{content_key}": "..."}}'
    if not isinstance(items, list):
        return Problem(number, f"{where} is {_kind(items)}, not a list of turns", f"write it as a list of {example}")
    if not items:
        return Problem(number, f"{where} is an empty list", "add the conversation's turns, or drop the row")
    out = []
    for i, item in enumerate(items, 1):
        at = f"{where} turn {i}"
        if not isinstance(item, dict):
            return Problem(number, f"{at} is {_kind(item)}, not an object", f"write each turn as {example}")
        label = item.get(role_key)
        if label is None:
            return Problem(number, f"{at} has no {role_key!r}", f"give every turn a {role_key!r}")
        role = (SHAREGPT_ROLES.get(label) if style == SHAREGPT else label) if isinstance(label, str) else None
        if role not in ("system", "user", "assistant", "tool"):
            known = "human, gpt, system (function_call, observation for tools)" if style == SHAREGPT \
                else "system, user, assistant (tool for tool results)"
            return Problem(number, f"{at} has the unknown role {label!r}", f"use one of {known}")
        extra = {k: item[k] for k in PASSED_THROUGH if style == MESSAGES and item.get(k) not in (None, [], "")}
        content = item.get(content_key)
        if content is None and role == "assistant" and extra.get("tool_calls"):
            content = ""
        if content is None:
            what = "is empty" if role == "assistant" else f"has no {content_key!r}"
            return Problem(number, f"{at}: the {label} turn {what}", "write its text, or drop the row")
        if not isinstance(content, str):
            return Problem(number, f"{at}: {content_key!r} is {_kind(content)}, not text",
                           "write the content as one string")
        if role == "assistant" and not content.strip() and not extra.get("tool_calls") and label != "function_call":
            return Problem(number, f"{at}: the {label} turn is empty", "write the answer, or drop the row")
        out.append((role, content, extra, label, where, i))
    return out


def _conversation(number: int, parsed: list[tuple], trained: list[bool], chat_tools: Any) -> Result:
    """Check the order of the turns; the Example when it is one a model can be trained on."""
    prev: Optional[str] = None
    for i, (role, _, _, label, where, index) in enumerate(parsed):
        at = f"{where} turn {index}"
        if i:
            _, _, _, _, where_before, index_before = parsed[i - 1]
            pair = f"{where} turns {index_before} and {index}" if where_before == where else \
                f"{where_before} turn {index_before} and {at}"
        if role == "system" and prev is not None:
            return Problem(number, f"{at} is a system turn after the conversation started",
                           "put the one system turn first")
        if role == "user" and prev == "user":
            return Problem(number, f"two {label} turns in a row ({pair})",
                           "merge them, or put the assistant's answer between them")
        if role == "assistant" and prev in (None, "system"):
            return Problem(number, f"the conversation starts with an assistant turn ({at})",
                           "start with a user turn (after an optional system turn)")
        if role == "assistant" and prev == "assistant":
            return Problem(number, f"two {label} turns in a row ({pair})",
                           "merge them, or put a user turn between them")
        if role == "tool" and prev not in ("assistant", "tool"):
            return Problem(number, f"{at} is a tool result that follows no assistant tool call",
                           "put the assistant turn with the tool call before it")
        prev = role
    if not any(role == "assistant" for role, *_ in parsed):
        return Problem(number, "has no assistant turn: nothing to train on", "add the assistant's answer")
    if prev in ("user", "tool"):
        return Problem(number, f"ends with a {parsed[-1][3]} turn that has no answer "
                       f"({parsed[-1][4]} turn {parsed[-1][5]})",
                       "add the assistant's answer after it, or drop that turn")
    turns = tuple(Turn(role, content, flag, extra) for (role, content, extra, *_), flag in zip(parsed, trained))
    return Example(number, turns, chat=True, tools=chat_tools if isinstance(chat_tools, list) else None)


def _chat(number: int, row: dict, detection: Detection) -> Result:
    column = detection.column or ("messages" if detection.format == MESSAGES else "conversations")
    if column not in row:
        return _missing(number, column, detection)
    parsed = _turns(number, row[column], column, detection.format, detection.mapping)
    if isinstance(parsed, Problem):
        return parsed
    system = row.get("system") if detection.format == SHAREGPT else None
    if system is not None and not isinstance(system, str):
        return Problem(number, f"'system' is {_kind(system)}, not text", "write it as a string")
    if system and system.strip() and parsed[0][0] != "system":
        parsed = [("system", system, {}, "system", "the 'system' column", 1), *parsed]
    return _conversation(number, parsed, [role == "assistant" for role, *_ in parsed], row.get("tools"))


def _prompt_completion(number: int, row: dict, detection: Detection) -> Result:
    for column in ("prompt", "completion"):
        if column not in row:
            return _missing(number, column, detection)
    prompt, completion = row["prompt"], row["completion"]
    if isinstance(prompt, str) and isinstance(completion, str):
        if not completion.strip():
            return Problem(number, "the completion is empty: nothing to train on", "write the answer, or drop the row")
        return Example(number, (Turn("user", prompt, False), Turn("assistant", completion, True)), chat=False)
    if isinstance(prompt, list) and isinstance(completion, list):
        head = _turns(number, prompt, "prompt", MESSAGES, detection.mapping)
        if isinstance(head, Problem):
            return head
        tail = _turns(number, completion, "completion", MESSAGES, detection.mapping)
        if isinstance(tail, Problem):
            return tail
        wrong = next((t for t in tail if t[0] in ("user", "system")), None)
        if wrong:
            return Problem(number, f"completion turn {wrong[5]} is a {wrong[3]} turn", "the completion holds the answer (assistant "
                           "turns) only: move the other turns into the prompt")
        trained = [False] * len(head) + [role == "assistant" for role, *_ in tail]
        return _conversation(number, [*head, *tail], trained, row.get("tools"))
    if isinstance(prompt, (str, list)) and isinstance(completion, (str, list)):
        return Problem(number, f"the prompt is {_kind(prompt)} and the completion {_kind(completion)}",
                       "make both text, or both lists of messages")
    column, value = ("prompt", prompt) if not isinstance(prompt, (str, list)) else ("completion", completion)
    return Problem(number, f"{column!r} is {_kind(value)}, not text", "write it as a string")


def _alpaca(number: int, row: dict, detection: Detection) -> Result:
    for column in ("instruction", "output"):
        if column not in row:
            return _missing(number, column, detection)
    values = {}
    for column in ("instruction", "input", "output", "system"):
        value = row.get(column)
        if value is not None and not isinstance(value, str):
            return Problem(number, f"{column!r} is {_kind(value)}, not text", "write it as a string")
        values[column] = value or ""
    if not values["output"].strip():
        return Problem(number, "the output is empty: nothing to train on", "write the answer, or drop the row")
    if not (values["instruction"].strip() or values["input"].strip()):
        return Problem(number, "the instruction and the input are both empty", "write the instruction")
    user = "\n".join(v for v in (values["instruction"], values["input"]) if v.strip())
    turns = ([Turn("system", values["system"], False)] if values["system"].strip() else []) + [
        Turn("user", user, False), Turn("assistant", values["output"], True)]
    return Example(number, tuple(turns), chat=True)


@lru_cache(maxsize=8)
def _segments(template: str) -> list:
    return parse_template(template)


def _text_template(number: int, row: dict, detection: Detection) -> Result:
    template = detection.text_template or ""
    fields = field_names(_segments(template))
    missing = [f for f in fields if f not in row]
    if missing:
        return Problem(number, f"has no {', '.join(repr(m) for m in missing)} column (the text_template needs "
                       f"{', '.join(fields)})", "add the column to every row, or map it with --map FIELD=COLUMN")
    problem = row_problem(row, fields, fields[-1])  # training's own rule for a row
    if problem:
        return Problem(number, problem, "fix that row")
    prompt, completion = split_row(_segments(template), row)
    return Example(number, (Turn("user", prompt, False), Turn("assistant", completion, True)), chat=False)


_NORMALISERS = {MESSAGES: _chat, SHAREGPT: _chat, PROMPT_COMPLETION: _prompt_completion, ALPACA: _alpaca,
                TEXT_TEMPLATE: _text_template}
