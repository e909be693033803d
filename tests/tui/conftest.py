"""TUI test setup: a fixed home folder (paths show as ~/...), no cursor blink, and project factories."""
from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from tests.tui.doubles import FixedBackend, write_project


@pytest.fixture(autouse=True)
def _stable_ui(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    # a blinking cursor makes screenshots depend on timing (Harlequin freezes it the same way)
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    yield home


@pytest.fixture
def home(_stable_ui) -> Path:
    return _stable_ui


@pytest.fixture
def demo_project(home):
    return write_project(home / "projects" / "demo")


@pytest.fixture
def fixed_app(demo_project):
    """The app over the demo project and a FixedBackend (the snapshot tests' app)."""
    from tui.app import FtStudioApp

    backend = FixedBackend(demo_project)
    app = FtStudioApp(project=demo_project, backend_factory=lambda project: backend, remember_projects=False)
    app.fixed_backend = backend
    return app
