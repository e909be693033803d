"""``ftstudio download [REMOTE_PATH] [--to DIR]``: a run's outputs from the share into the project.

Default: ``outputs/<run-id>`` of the latest succeeded run, into the project's ``outputs/``.
"""
from __future__ import annotations

from pathlib import Path

from tui.commands._common import open_backend_for, open_project


def run(args, console) -> int:
    project = open_project(args)
    backend = open_backend_for(args, project)
    to = Path(args.to).expanduser().resolve() if args.to else project.root / "outputs"
    path = backend.download(args.remote_path, to, on_event=console.event)
    console.result({"path": str(path)}, human=f"Downloaded to {path}")
    return 0
