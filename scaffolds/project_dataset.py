"""The datasets of a new project: which files go into ``dataset/``, checked before anything is written.

``plan(...)`` reads the training (and eval) dataset with training's own rules (``scaffolds.dataset``)
and decides what ``train_config.json`` says about them: the file (or ``hf:ID``), its format as
detected (so training reads the rows the way they were checked), the column mapping, the eval file.
``write(...)`` copies them into the project. Without ``--dataset`` the project trains on the sample
(``sample_dataset``), which every project also carries as an example.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from core.errors import InputError
from scaffolds import dataset as checks, sample_dataset

DATASET_DIR = "dataset"


@dataclass
class DatasetPlan:
    train_file: str  # project-relative path, or hf:ID
    report: checks.DatasetReport
    format: str  # the format training reads the rows as ("auto": detected by the job, for hf:ID)
    mapping: dict = field(default_factory=dict)
    eval_file: Optional[str] = None
    eval_report: Optional[checks.DatasetReport] = None
    copies: list[tuple[Path, str]] = field(default_factory=list)  # (source, project-relative destination)
    flat_sample: bool = False  # the sample as phrase/tone rows, for a text_template project

    @property
    def warnings(self) -> list[str]:
        return self.report.warnings + (self.eval_report.warnings if self.eval_report else [])

    def config(self) -> dict:
        """What train_config.json's "dataset" section says about the files (the other keys are parameters)."""
        return {"train_file": self.train_file, "format": self.format, "column_map": self.mapping,
                "eval_file": self.eval_file}


def _is_hub(spec: object) -> bool:
    return str(spec).startswith("hf:")


def _destination(spec: Path, taken: set[str], what: str) -> str:
    rel = f"{DATASET_DIR}/{spec.name}"
    if rel in taken:
        raise InputError(f"Two datasets named {spec.name!r} would both be {rel}.", field=what,
                         fix="rename one of the files")
    taken.add(rel)
    return rel


def plan(spec_dataset: Optional[object], spec_eval: Optional[object], *, dataset_format: Optional[str],
         mapping: dict, text_template: Optional[str]) -> DatasetPlan:
    """Check the datasets and decide the project's files; InputError (nothing written) when training could
    not use them."""
    kw = {"dataset_format": dataset_format, "mapping": mapping, "text_template": text_template}
    taken: set[str] = {f"{DATASET_DIR}/{sample_dataset.FILE_NAME}"}
    copies: list[tuple[Path, str]] = []
    flat = dataset_format == "text_template"  # AI Toolkit-style projects: the sample in the template's columns
    if spec_dataset is None:
        with tempfile.TemporaryDirectory() as tmp:
            sample = Path(tmp) / sample_dataset.FILE_NAME
            sample.write_text(sample_dataset.jsonl(flat=flat), encoding="utf-8")
            report = checks.check(sample, name=f"{sample_dataset.FILE_NAME} (the sample)", **kw)
        train_file = f"{DATASET_DIR}/{sample_dataset.FILE_NAME}"
    elif _is_hub(spec_dataset):
        report = checks.check(str(spec_dataset), **kw)
        train_file = str(spec_dataset)
    else:
        path = Path(str(spec_dataset)).expanduser()
        report = checks.check(path, **kw)
        taken.discard(f"{DATASET_DIR}/{sample_dataset.FILE_NAME}")  # a user's file of that name replaces it
        train_file = _destination(path, taken, "--dataset")
        copies.append((path, train_file))
    eval_file, eval_report = None, None
    if spec_eval is not None:
        fmt = report.format or dataset_format  # the eval rows are read like the training rows
        eval_kw = {**kw, "dataset_format": fmt}
        if _is_hub(spec_eval):
            eval_report, eval_file = checks.check(str(spec_eval), what="--eval-dataset", **eval_kw), str(spec_eval)
        else:
            path = Path(str(spec_eval)).expanduser()
            eval_report = checks.check(path, what="--eval-dataset", **eval_kw)
            eval_file = _destination(path, taken, "--eval-dataset")
            copies.append((path, eval_file))
    return DatasetPlan(train_file, report, report.format or "auto", dict(mapping), eval_file, eval_report, copies,
                       flat_sample=flat)


def write(plan_: DatasetPlan, dest: Path) -> list[str]:
    """Copy the datasets into the project at ``dest`` (and the sample, unless a user file took its name)."""
    written = []
    sample = f"{DATASET_DIR}/{sample_dataset.FILE_NAME}"
    if sample not in {rel for _, rel in plan_.copies}:
        (dest / DATASET_DIR).mkdir(parents=True, exist_ok=True)
        (dest / sample).write_text(sample_dataset.jsonl(flat=plan_.flat_sample), encoding="utf-8")
        written.append(sample)
    for source, rel in plan_.copies:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():  # a save_to_disk folder
            shutil.copytree(source, dest / rel)
            written += [f"{rel}/{p.relative_to(source).as_posix()}" for p in sorted(source.rglob("*")) if p.is_file()]
        else:
            shutil.copyfile(source, dest / rel)
            written.append(rel)
    return written
