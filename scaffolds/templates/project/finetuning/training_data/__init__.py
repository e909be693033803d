"""The project's training data: every format a fine-tune reads, normalised to one shape, then rendered.

- ``sources``: rows of a JSONL, JSON array, CSV or Parquet file, a ``datasets.save_to_disk``
  folder or a Hugging Face dataset (``hf:ORG/NAME[:SPLIT]``), each with its line or row number;
- ``formats``: the format of the rows (detected from their columns, or given), a column mapping,
  and each row as a ``shape.Example`` or a ``shape.Problem`` naming the row and the fix;
- ``text_template``: the AI Toolkit/Olive ``{column}`` template of existing projects;
- ``render``: an example as the model sees it (the chat template, the trained part, the ids),
  shared by training, serving and ftstudio's dataset report.

ftstudio loads this very package to check a dataset before it writes or uploads anything, so a
dataset it accepts is one training accepts. Standard library only, except the sources and
``render`` functions that take a tokenizer (pyarrow, datasets, transformers are imported there).
"""
from __future__ import annotations

from typing import Optional

from .errors import DataError
from .formats import HEAD_ROWS, detect, normalise
from .shape import Detection, Example, Problem
from .sources import Source, open_source


def read_examples(spec: str, *, dataset_format: Optional[str] = None, mapping: Optional[dict] = None,
                  text_template: Optional[str] = None) -> tuple[Detection, list[Example], list[Problem], Source]:
    """(detection, examples, problems, the source) of every row of ``spec`` (a path or hf:ID); a problem's
    number is a ``source.unit``: the file's line for JSONL, the row otherwise."""
    source = open_source(spec)
    detection = detect(source.peek(HEAD_ROWS), name=source.name, dataset_format=dataset_format,
                       mapping=mapping, text_template=text_template)
    examples: list[Example] = []
    problems: list[Problem] = []
    for number, row in source:
        result = normalise(number, row, detection)
        (examples if isinstance(result, Example) else problems).append(result)
    if not examples and not problems:
        raise DataError(f"{source.name} has no rows.", field="FILE", fix="add at least one row")
    return detection, examples, problems, source


def first_problem(name: str, unit: str, problems: list[Problem]) -> tuple[str, str]:
    """(message, fix) naming the first bad row and how many there are, for a refusal."""
    first = problems[0]
    more = f" ({len(problems)} bad rows in all; `ftstudio data check` lists them)" if len(problems) > 1 else ""
    return f"{name} {unit} {first.number}: {first.problem}{more}.", first.fix


__all__ = ["DataError", "Detection", "Example", "Problem", "first_problem", "read_examples"]
