"""Pilot helpers: wait for the app's own workers (not DirectoryTree's loader, which never ends)."""
from __future__ import annotations

import asyncio
import time

from textual.widgets import DirectoryTree
from textual.worker import WorkerFailed


async def wait_workers(pilot, timeout: float = 30.0) -> None:
    """Wait (bounded) until every worker except DirectoryTree's endless loader is done."""
    workers = [w for w in pilot.app.workers if not isinstance(w.node, DirectoryTree)]
    if not workers:
        return
    try:
        await asyncio.wait_for(asyncio.gather(*(w.wait() for w in workers), return_exceptions=True), timeout)
    except asyncio.TimeoutError:
        pass


async def wait_for(pilot, predicate, timeout: float = 30.0, step: float = 0.05) -> bool:
    """Pause until ``predicate()`` is true (False on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await pilot.pause(step)
    return bool(predicate())


__all__ = ["wait_workers", "wait_for", "WorkerFailed"]
