"""Small formatting helpers for tables (times, durations)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional


def short_time(iso: Optional[str]) -> str:
    if not iso:
        return "—"
    try:
        stamp = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return stamp.strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: Optional[float], none: str = "—") -> str:
    """``1h02m``, ``3m05s``, ``42s`` (the CLI's status table and the dashboard)."""
    if seconds is None:
        return none
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


STATUS_STYLE = {
    "Succeeded": "green",
    "Failed": "red",
    "Stopped": "yellow",
    "Degraded": "red",
    "Running": "cyan",
    "Processing": "cyan",
    "Queued": "yellow",
}


def status_markup(status: str) -> str:
    style = STATUS_STYLE.get(status)
    return f"[{style}]{status}[/]" if style else status
