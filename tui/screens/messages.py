"""Messages thread workers post back to their screen (workers never touch widgets).

A worker calls a core function with ``on_event=sink(screen, group)``; every ``core.events`` event
arrives on the UI thread as a ``BackendEvent``; the worker's outcome as ``TaskDone``/``TaskFailed``.
"""
from __future__ import annotations

from typing import Any, Callable

from textual.message import Message


class BackendEvent(Message):
    def __init__(self, group: str, event: Any) -> None:
        super().__init__()
        self.group = group
        self.event = event


class TaskDone(Message):
    def __init__(self, group: str, result: Any = None) -> None:
        super().__init__()
        self.group = group
        self.result = result


class TaskFailed(Message):
    def __init__(self, group: str, error: str, field: str | None = None) -> None:
        super().__init__()
        self.group = group
        self.error = error
        self.field = field  # the input an InputError names, so a form can show it under that field


def sink(node, group: str) -> Callable[[Any], None]:
    """An ``on_event`` callback for a worker: posts each event to ``node`` (thread-safe)."""

    def post(event: Any) -> None:
        node.post_message(BackendEvent(group, event))

    return post


def describe_error(exc: BaseException) -> str:
    """One line for people: an FtError's message with its fix, else the exception's type and text."""
    from core.errors import FtError

    if isinstance(exc, FtError):
        return exc.one_line()
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_task(node, group: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Body of a thread worker: run ``fn`` and post TaskDone/TaskFailed to ``node``."""
    from textual.worker import get_current_worker

    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a message, never a crash
        if not get_current_worker().is_cancelled:
            node.post_message(TaskFailed(group, describe_error(exc), getattr(exc, "field", None)))
        return
    if not get_current_worker().is_cancelled:
        node.post_message(TaskDone(group, result))
