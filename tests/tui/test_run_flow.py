"""The CLI and the terminal UI start a run through the same flow (usecases.runs): with an unfinished
execution both ask first, and a "no" starts nothing."""
from __future__ import annotations

import pytest

from tests.tui.helpers import wait_for, wait_workers
from tui.cli import main

async def _press_run(pilot, app, answer: str) -> None:
    await pilot.press("ctrl+r")
    assert await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", timeout=10)
    assert "demo-job-x7k2p is already running. Start another run?" in str(app.screen.question)
    await pilot.click(answer)
    await wait_workers(pilot)


@pytest.mark.asyncio
async def test_a_busy_project_asks_before_a_second_run(fixed_app):
    backend = fixed_app.fixed_backend  # its executions include one still Queued
    async with fixed_app.run_test(size=(160, 48)) as pilot:
        await wait_workers(pilot)
        await _press_run(pilot, fixed_app, "#no")
        assert ("run", None) not in backend.calls
        await _press_run(pilot, fixed_app, "#yes")
        assert await wait_for(pilot, lambda: ("run", None) in backend.calls, timeout=10)


def test_the_cli_asks_the_same_question(fixed_app, monkeypatch, capsys):
    from tui.output import Console

    asked: list[str] = []
    monkeypatch.setattr(Console, "interactive", property(lambda self: True))
    monkeypatch.setattr(Console, "confirm", lambda self, q, default=False: asked.append(q) or False)
    monkeypatch.setattr("infra.backend.open_backend", lambda project, target=None: fixed_app.fixed_backend)
    code = main(["run", "--project", str(fixed_app.project.root)])
    assert asked == ["demo-job-x7k2p is already running. Start another run?"]
    assert code == 130 and ("run", None) not in fixed_app.fixed_backend.calls
