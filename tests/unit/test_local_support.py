"""Helpers and fixtures for the local backend's tests (no tests here).

A hand-made local project: ``infra/finetuning.config.json`` with TARGET local and COMMANDS that run
small python scripts from ``/mount``; FTSTUDIO_LOCAL_PYTHON points at this interpreter so no venv
is built (test_local_env.py and the e2e test build real ones).
"""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from infra.local import runs
from infra.local.layout import LocalLayout
from scaffolds.project import Project
from tui.cli import main


def make_local_project(root: Path, commands: list[str], files: dict[str, str] | None = None,
                       name: str = "demo") -> Project:
    root.mkdir(parents=True, exist_ok=True)
    (root / "infra").mkdir(exist_ok=True)
    (root / "infra/finetuning.config.json").write_text(
        json.dumps({"TARGET": "local", "COMMANDS": commands}), encoding="utf-8")
    (root / "infra/inference.config.json").write_text(json.dumps({"TARGET": "local"}), encoding="utf-8")
    (root / ".ftstudio-answers.json").write_text(json.dumps({"project_name": name}), encoding="utf-8")
    (root / "setup").mkdir(exist_ok=True)
    (root / "setup/requirements.txt").write_text("", encoding="utf-8")
    for rel, text in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return Project(root)


def step(script: str) -> list[str]:
    """COMMANDS as the generator writes them, ending with one of our scripts."""
    return ["cd /mount", "pip install -r ./setup/requirements.txt", f"python3 ./{script}"]


def stop_everything(project: Project) -> None:
    layout = LocalLayout.for_project(project)
    dirs = [layout.inference] + (sorted(layout.runs.iterdir()) if layout.runs.is_dir() else [])
    for run_dir in dirs:
        if run_dir.is_dir():
            runs.stop(run_dir, grace=1.0)


@pytest.fixture
def local_python(monkeypatch):
    monkeypatch.setenv("FTSTUDIO_LOCAL_PYTHON", sys.executable)
    return sys.executable


@pytest.fixture
def new_project(tmp_path, local_python):
    """A factory of local projects; every run they started is stopped at the end of the test."""
    made: list[Project] = []

    def factory(commands: list[str], files: dict[str, str] | None = None, name: str = "demo") -> Project:
        project = make_local_project(tmp_path / f"p{len(made)}" / name, commands, files, name)
        made.append(project)
        return project

    yield factory
    for project in made:
        stop_everything(project)


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the real CLI in-process; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
