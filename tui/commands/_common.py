"""Helpers shared by command modules: open the project and its backend from the global options."""
from __future__ import annotations

from scaffolds.project import Project


def open_project(args) -> Project:
    return Project.open(getattr(args, "project", None))


def open_backend_for(args, project: Project):
    from infra.backend import open_backend

    return open_backend(project, getattr(args, "target", None))
