"""Pilot helpers: wait for workers (except DirectoryTree's loader loop, which never ends) and for the
screen to settle (DataTable sizes its columns on idle)."""
from __future__ import annotations

import asyncio
import time

from textual.widgets import DirectoryTree
from textual.worker import WorkerFailed


async def wait_workers(pilot, timeout: float = 30.0) -> None:
    """Wait (bounded) until every worker except DirectoryTree's endless loader loop is done (its
    per-folder ``_load_directory`` workers are waited for), then let the screen settle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = [w for w in pilot.app.workers
                   if not (isinstance(w.node, DirectoryTree) and w.name == "_loader") and not w.is_finished]
        if not workers:
            break
        try:
            await asyncio.wait_for(asyncio.gather(*(w.wait() for w in workers), return_exceptions=True),
                                   max(0.01, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            break
        await pilot.pause()  # handlers of the finished workers may start new ones
    for _ in range(3):
        await pilot.pause()


async def wait_for(pilot, predicate, timeout: float = 30.0, step: float = 0.05) -> bool:
    """Pause until ``predicate()`` is true (False on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await pilot.pause(step)
    return bool(predicate())


async def palette_titles(pilot, query: str = "") -> list[str]:
    """Open the command palette, type ``query``, and return the titles it offers (then close it)."""
    from textual.command import CommandPalette

    await pilot.press("ctrl+p")
    await pilot.pause(0.1)
    if query:
        await pilot.press(*query)
    await pilot.pause(0.5)
    palette = pilot.app.screen
    assert isinstance(palette, CommandPalette)
    options = palette.query_one("CommandList")
    found = [str(options.get_option_at_index(i).prompt).split("\n")[0] for i in range(options.option_count)]
    await pilot.press("escape")
    return found


__all__ = ["wait_workers", "wait_for", "palette_titles", "WorkerFailed"]
