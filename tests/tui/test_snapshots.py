"""SVG snapshots of every screen at 100x32 and 160x48, one class per feature (Posting style).

Deterministic: fixed project files and backend answers (tests/tui/doubles.py), a fixed home folder,
no cursor blink, and every worker finished before the picture is taken.
Update the baselines only after looking at them: pytest tests/tui --snapshot-update.
"""
from __future__ import annotations

import pytest

from tests.tui.doubles import MODEL, MODELS, FixedDirectory
from tests.tui.helpers import wait_workers

SIZES = [pytest.param((100, 32), id="100x32"), pytest.param((160, 48), id="160x48")]


@pytest.fixture(params=SIZES)
def size(request):
    return request.param


async def settle(pilot, delay: float = 0.2) -> None:
    """Let workers finish and the log view's batched flush run."""
    await wait_workers(pilot)
    await pilot.pause(delay)
    await wait_workers(pilot)
    await pilot.pause()


class TestHome:
    def test_home_with_recent_projects(self, snap_compare, demo_project, size):
        from tui.app import FtStudioApp
        from tui.screens import recent

        recent.remember(demo_project.root)
        assert snap_compare(FtStudioApp(), terminal_size=size, run_before=settle)

    def test_open_folder_dialog_says_why_not(self, snap_compare, home, size):
        from tui.app import FtStudioApp

        async def run_before(pilot):
            await pilot.app.run_action("open_folder")
            await pilot.pause()
            await pilot.press(*"~/nowhere", "enter")
            await settle(pilot)

        assert snap_compare(FtStudioApp(), terminal_size=size, run_before=run_before)


class TestCatalog:
    def test_catalog(self, snap_compare, size):
        from tui.app import FtStudioApp
        from tui.screens.catalog import CatalogScreen

        async def run_before(pilot):
            await pilot.app.push_screen(CatalogScreen(models=MODELS))
            await settle(pilot)

        assert snap_compare(FtStudioApp(), terminal_size=size, run_before=run_before)

    def test_catalog_search_gated(self, snap_compare, size):
        from tui.app import FtStudioApp
        from tui.screens.catalog import CatalogScreen

        async def run_before(pilot):
            await pilot.app.push_screen(CatalogScreen(models=MODELS))
            await pilot.app.screen.run_action("search")
            await pilot.press(*"llama")
            await settle(pilot)

        assert snap_compare(FtStudioApp(), terminal_size=size, run_before=run_before)


class TestConfigure:
    def test_configure_defaults(self, snap_compare, home, size):
        from tui.app import FtStudioApp
        from tui.screens.configure import ConfigureScreen

        async def run_before(pilot):
            await pilot.app.push_screen(ConfigureScreen(MODEL, location=home / "projects"))
            await settle(pilot)

        assert snap_compare(FtStudioApp(), terminal_size=size, run_before=run_before)

    def test_configure_inline_errors(self, snap_compare, home, size):
        from textual.widgets import Input

        from tui.app import FtStudioApp
        from tui.screens.configure import ConfigureScreen

        async def run_before(pilot):
            await pilot.app.push_screen(ConfigureScreen(MODEL, location=home / "projects"))
            await settle(pilot)
            screen = pilot.app.screen
            screen.query_one("#f-lora_r", Input).value = "0"
            screen.query_one("#f-learning_rate", Input).value = "fast"
            await settle(pilot)

        assert snap_compare(FtStudioApp(), terminal_size=size, run_before=run_before)


class TestDashboard:
    def test_dashboard(self, snap_compare, fixed_app, size):
        assert snap_compare(fixed_app, terminal_size=size, run_before=settle)

    def test_dashboard_after_deploy(self, snap_compare, fixed_app, size):
        async def run_before(pilot):
            await settle(pilot)
            await pilot.app.run_action("deploy")
            await settle(pilot)

        assert snap_compare(fixed_app, terminal_size=size, run_before=run_before)


class TestProvision:
    def _open(self, kind="finetuning"):
        from tui.screens.provision import ProvisionScreen

        return ProvisionScreen(kind, directory_factory=FixedDirectory)

    def test_subscription_page(self, snap_compare, fixed_app, size):
        async def run_before(pilot):
            await pilot.app.push_screen(self._open())
            await settle(pilot)

        assert snap_compare(fixed_app, terminal_size=size, run_before=run_before)

    def test_location_page(self, snap_compare, fixed_app, size):
        async def run_before(pilot):
            await pilot.app.push_screen(self._open())
            await settle(pilot)
            await pilot.press("enter")  # subscription
            await settle(pilot)
            await pilot.press("enter")  # resource group (rg-demo, saved)
            await settle(pilot)

        assert snap_compare(fixed_app, terminal_size=size, run_before=run_before)

    def test_preview_page(self, snap_compare, fixed_app, size):
        async def run_before(pilot):
            await pilot.app.push_screen(self._open())
            await settle(pilot)
            for _ in range(3):
                await pilot.press("enter")
                await settle(pilot)

        assert snap_compare(fixed_app, terminal_size=size, run_before=run_before)

    def test_apply_failure_shows_the_fix(self, snap_compare, fixed_app, size):
        async def run_before(pilot):
            await pilot.app.push_screen(self._open())
            await settle(pilot)
            for _ in range(3):
                await pilot.press("enter")
                await settle(pilot)
            await pilot.click("#apply-button")
            await settle(pilot)

        assert snap_compare(fixed_app, terminal_size=size, run_before=run_before)


class TestLogs:
    def test_logs_streamed_to_the_end(self, snap_compare, fixed_app, size):
        async def run_before(pilot):
            await settle(pilot)
            await pilot.app.run_action("logs")
            await settle(pilot, 0.3)

        assert snap_compare(fixed_app, terminal_size=size, run_before=run_before)

    def test_logs_find(self, snap_compare, fixed_app, size):
        async def run_before(pilot):
            await settle(pilot)
            await pilot.app.run_action("logs")
            await settle(pilot, 0.3)
            await pilot.press("slash", *"step': 50", "enter")
            await settle(pilot)

        assert snap_compare(fixed_app, terminal_size=size, run_before=run_before)


class TestSecrets:
    def test_secrets_list(self, snap_compare, fixed_app, size):
        async def run_before(pilot):
            await settle(pilot)
            await pilot.app.run_action("secrets")
            await settle(pilot)

        assert snap_compare(fixed_app, terminal_size=size, run_before=run_before)

    def test_add_secret_is_masked(self, snap_compare, fixed_app, size):
        async def run_before(pilot):
            await settle(pilot)
            await pilot.app.run_action("add_secret")
            await settle(pilot)
            await pilot.press(*"HF_TOKEN", "enter", *"hf_secretvalue")
            await settle(pilot)

        assert snap_compare(fixed_app, terminal_size=size, run_before=run_before)


class TestHelpAndPalette:
    def test_help(self, snap_compare, fixed_app, size):
        async def run_before(pilot):
            await settle(pilot)
            await pilot.press("f1")
            await settle(pilot)

        assert snap_compare(fixed_app, terminal_size=size, run_before=run_before)

    def test_palette_offers_project_commands(self, snap_compare, fixed_app, size):
        async def run_before(pilot):
            await settle(pilot)
            await pilot.press("ctrl+p")
            await pilot.pause(0.2)
            await pilot.press(*"logs")
            await pilot.pause(0.5)
            await settle(pilot)

        assert snap_compare(fixed_app, terminal_size=size, run_before=run_before)
