"""Check a dataset before training (``ftstudio data check``): the report, with a project's defaults.

Given a project, what the flags leave out comes from it: the model (its local folder or repo id,
and the ``model-cache/`` copy that may hold the tokenizer), its dataset format, column mapping and
``text_template``, and the sequence length training truncates at (``source_max_len``). Nothing is
written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional


def check_dataset(path: str | Path, *, model: Optional[str] = None, dataset_format: Optional[str] = None,
                  mapping: Optional[dict[str, str]] = None, max_length: Optional[int] = None,
                  text_template: Optional[str] = None, project: Any = None) -> dict[str, Any]:
    """The dataset report (``scaffolds.datasets.report.check``); ``project``: a ``Project`` or None."""
    from scaffolds.datasets import report

    root = None
    source = "--max-length"
    if project is not None:
        root = project.root
        config = project.train_config()
        m = config.get("model") or {}
        dataset = config.get("dataset") if isinstance(config.get("dataset"), dict) else {}
        training = config.get("training") if isinstance(config.get("training"), dict) else {}
        if not model:
            model = m.get("path") if m.get("source") == "local" else m.get("repo")
        if text_template is None and isinstance(dataset.get("text_template"), str):
            text_template = dataset["text_template"]
        if dataset_format is None and dataset.get("format") not in (None, "auto"):
            dataset_format = dataset["format"]  # the rows are read as the project's training reads them
        if not mapping and isinstance(dataset.get("column_map"), dict):
            mapping = dataset["column_map"]
        seq = training.get("source_max_len")
        if max_length is None and isinstance(seq, int) and not isinstance(seq, bool) and seq > 0:
            max_length, source = seq, "the project's source_max_len"
    doc = report.check(path, model=model, dataset_format=dataset_format, mapping=mapping, max_length=max_length,
                       text_template=text_template, project_root=root, max_length_source=source)
    doc["project"] = str(root) if root else None
    return doc
