"""One action registry feeds keys, the palette and help; the palette offers only what fits the project."""
from __future__ import annotations

import pytest

from tests.tui.doubles import FixedBackend, write_project
from tests.tui.helpers import palette_titles, wait_workers
from tui import actions
from tui.app import FtStudioApp

pytestmark = pytest.mark.asyncio


def titles(app) -> set[str]:
    return {a.title for a in actions.available(app)}


async def test_context_decides_what_is_offered(home):
    app = FtStudioApp(remember_projects=False)
    async with app.run_test() as pilot:
        assert "project: New fine-tuning project" in titles(app)
        assert "fine-tuning: Run" not in titles(app)  # no project open
        assert not any("fine-tuning: Run" in t for t in await palette_titles(pilot, "run"))

    azure_new = write_project(home / "p1", provisioned=False)
    app = FtStudioApp(project=azure_new, backend_factory=FixedBackend, remember_projects=False)
    async with app.run_test() as pilot:
        await wait_workers(pilot)
        offered = titles(app)
        assert "fine-tuning: Provision Azure Container Apps job" in offered
        assert "fine-tuning: Run" not in offered and "inference: Deploy" not in offered
        assert app.check_action("run_job", ()) is False  # so the ctrl+r key does nothing either

    local = write_project(home / "p2", target="local")
    app = FtStudioApp(project=local, backend_factory=FixedBackend, remember_projects=False)
    async with app.run_test() as pilot:
        await wait_workers(pilot)
        offered = titles(app)
        assert {"fine-tuning: Run", "logs: Show streaming logs", "secrets: Add job secret", "inference: Deploy"} <= offered
        assert not any(t.startswith("fine-tuning: Provision") for t in offered)  # nothing to provision locally
        found = await palette_titles(pilot, "secret")
        assert "secrets: Add job secret" in found and "secrets: Add inference secret" in found


async def test_palette_runs_the_command(fixed_app):
    async with fixed_app.run_test(size=(120, 40)) as pilot:
        await wait_workers(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"secrets: manage job", "enter")
        await wait_workers(pilot)
        await pilot.pause()
        assert type(fixed_app.screen).__name__ == "SecretsScreen"
        assert fixed_app.screen.names == ["HF_TOKEN", "WANDB_API_KEY"]


async def test_help_lists_every_action_with_its_key(fixed_app):
    async with fixed_app.run_test(size=(160, 48)) as pilot:
        await wait_workers(pilot)
        await pilot.press("f1")
        await pilot.pause()
        table = fixed_app.screen.query_one("#help-table")
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert [r[1] for r in rows] == [a.title for a in actions.ACTIONS]
        run = next(r for r in rows if r[1] == "fine-tuning: Run")
        assert run[2] == "Ctrl+r" and run[0] == "●"


async def test_every_action_has_a_handler_and_unique_keys():
    from tui.app import FtStudioApp

    for action in actions.ACTIONS:
        assert callable(getattr(FtStudioApp, f"action_{action.id}", None)), action.id
        assert ": " in action.title
    keys = [a.key for a in actions.ACTIONS if a.key]
    assert len(keys) == len(set(keys))
