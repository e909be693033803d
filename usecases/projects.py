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
