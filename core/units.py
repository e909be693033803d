"""Amounts as people read them: ``1.5 MB``, ``12 files``; one format for every front end and log line."""
from __future__ import annotations

from typing import Optional


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def human_amount(n: float, unit: str) -> str:
    """Bytes (unit "B") scaled; anything else counted (``12 files``)."""
    return human_bytes(n) if unit == "B" else f"{int(n)} {unit}"


def progress_text(done: float, total: Optional[float], unit: str) -> str:
    """``3.0 MB / 12.0 MB (25%)``, or the amount alone when the total is unknown."""
    if total:
        return f"{human_amount(done, unit)} / {human_amount(total, unit)} ({100 * done / max(1, total):.0f}%)"
    return human_amount(done, unit)
