"""Starting a fine-tuning run, one flow for the CLI and the terminal UI.

A run that starts while another is unfinished may queue behind it for GPU capacity, so both front
ends ask first (the CLI when it may prompt; the terminal UI with a dialog) and say so otherwise.
"""
from __future__ import annotations

from typing import Callable, Optional

from core.errors import Cancelled
from core.events import EventSink, ignore
from core.models import Execution


class AskFirst(Exception):
    """Raised by a ``confirm`` that cannot answer now (a UI worker thread): ask, then start again."""

    def __init__(self, names: list[str]):
        super().__init__(question(names))
        self.names = names


def busy(backend) -> list[str]:
    """Names of the executions that have not ended."""
    return [ex.name for ex in backend.running_executions()]


def question(names: list[str]) -> str:
    return f"{', '.join(names)} is already running. Start another run?"


def start(backend, *, resume: Optional[str] = None, confirm: Callable[[list[str]], bool],
          on_event: EventSink = ignore) -> Execution:
    """Sync and start a run (``resume``: a RUN_ID, or "latest"). ``confirm(names)`` is asked when
    other executions are unfinished; False is ``Cancelled`` (exit 130: the person said no)."""
    names = busy(backend)
    if names and not confirm(names):
        raise Cancelled("Not started.")
    return backend.run(resume=resume, on_event=on_event)
