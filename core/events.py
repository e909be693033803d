"""Events that long operations report to whichever front end asked (CLI or TUI).

Operations take an ``on_event`` callback; they never print and never import Textual.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional


@dataclass(frozen=True)
class StepStarted:
    step: str  # stable id, e.g. "storage", "environment"
    title: str  # for people, e.g. "Storage account aistorage1a2b3"
    link: Optional[str] = None  # portal link when there is one


@dataclass(frozen=True)
class StepFinished:
    step: str
    title: str
    detail: str = ""  # e.g. "created", "updated", "unchanged"
    link: Optional[str] = None


@dataclass(frozen=True)
class StepFailed:
    step: str
    title: str
    error: str  # one line, with the fix
    link: Optional[str] = None


@dataclass(frozen=True)
class Progress:
    """Bytes or items done out of a total (total None when unknown)."""

    step: str
    done: int
    total: Optional[int] = None
    unit: str = "B"


@dataclass(frozen=True)
class Info:
    """A human-readable note (goes to stderr in the CLI)."""

    text: str
    level: str = "info"  # info | warning


@dataclass(frozen=True)
class LogLine:
    """One console/system log line. ``timestamp`` is ISO-8601 text when known."""

    text: str
    timestamp: Optional[str] = None
    stream: str = "console"  # console | system
    source: str = ""  # replica / container / execution name


@dataclass(frozen=True)
class StreamState:
    """Log stream lifecycle: queued, running, reconnecting, ended (with final status)."""

    state: str
    detail: str = ""
    status: Optional[str] = None
    exit_code: Optional[int] = None


Event = object
EventSink = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """Default sink: drop events."""


@dataclass
class Collector:
    """A sink that keeps every event (for tests and for the TUI's message bridge)."""

    events: list = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        self.events.append(event)
