"""Creating a project: the generator (``scaffolds``) plus what the front ends own in it, the
``.vscode/tasks.json`` generated from the command registry. Both front ends create projects here."""
from __future__ import annotations

from typing import Callable

from core import events as ev
from scaffolds.generate import GeneratedProject, ProjectSpec
from usecases.registry import vscode_tasks

TASKS_FILE = ".vscode/tasks.json"


def generate_project(spec: ProjectSpec, on_event: Callable = ev.ignore) -> GeneratedProject:
    from scaffolds.generate import generate_project as generate

    return generate(spec, on_event, extra_json={TASKS_FILE: vscode_tasks()})


def dataset_summary(result: GeneratedProject) -> dict | None:
    """The generated project's dataset report in short (token lengths with the model's tokenizer when it
    is available offline, else approximate; truncation at the project's source_max_len; the trained
    share), or None for a dataset the job loads (hf:ID). Never fails the generation it follows."""
    from core.errors import FtError
    from scaffolds.project import Project
    from usecases.data import check_dataset

    if result.train_file.startswith("hf:"):
        return None
    try:
        doc = check_dataset(result.path / result.train_file, project=Project(result.path))
    except (FtError, OSError):
        return None
    return {k: doc[k] for k in ("tokens", "truncated", "max_length", "trained_token_share", "trained_part")} | {
        "tokenizer": doc["tokenizer"]["method"]}
