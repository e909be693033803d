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


def settled(*steps):
    """A run_before: each step, then settle. A step is None (settle only), a coroutine function of
    the pilot, or a tuple of them run back to back; a step's ``delay`` attribute is settle's delay."""

    async def run_before(pilot):
        for step in steps:
            for part in step if isinstance(step, tuple) else (step,):
                if part is not None:
                    await part(pilot)
            await settle(pilot, getattr(step, "delay", 0.2))

    return run_before


def action(name: str, delay: float = 0.2, *, on_screen: bool = False):
    async def step(pilot):
        await (pilot.app.screen if on_screen else pilot.app).run_action(name)

    step.delay = delay
    return step


def press(*keys: str):
    async def step(pilot):
        await pilot.press(*keys)

    return step


def pause(delay=None):
    async def step(pilot):
        await pilot.pause(delay)

    return step


def push(screen_factory):
    async def step(pilot):
        await pilot.app.push_screen(screen_factory())

    return step


@pytest.fixture
def snap(snap_compare, size):
    """snap(app, *steps): the snapshot of `app` at this test's size after ``settled(*steps)``."""

    def take(app, *steps) -> bool:
        return snap_compare(app, terminal_size=size, run_before=settled(*steps))

    return take


class TestHome:
    def test_home_with_recent_projects(self, snap, demo_project):
        from tui.app import FtStudioApp
        from tui.screens import recent

        recent.remember(demo_project.root)
        assert snap(FtStudioApp(), None)

    def test_open_folder_dialog_says_why_not(self, snap, home):
        from tui.app import FtStudioApp

        assert snap(FtStudioApp(), (action("open_folder"), pause(), press(*"~/nowhere", "enter")))


class TestCatalog:
    def test_catalog(self, snap):
        from tui.app import FtStudioApp
        from tui.screens.catalog import CatalogScreen

        assert snap(FtStudioApp(), push(lambda: CatalogScreen(models=MODELS)))

    def test_catalog_search_gated(self, snap):
        from tui.app import FtStudioApp
        from tui.screens.catalog import CatalogScreen

        search = (push(lambda: CatalogScreen(models=MODELS)), action("search", on_screen=True), press(*"llama"))
        assert snap(FtStudioApp(), search)


class TestConfigure:
    def _open(self, home):
        from tui.screens.configure import ConfigureScreen

        return push(lambda: ConfigureScreen(MODEL, location=home / "projects"))

    def test_configure_defaults(self, snap, home):
        from tui.app import FtStudioApp

        assert snap(FtStudioApp(), self._open(home))

    def test_configure_inline_errors(self, snap, home):
        from textual.widgets import Input

        from tui.app import FtStudioApp

        async def type_bad_values(pilot):
            screen = pilot.app.screen
            screen.query_one("#f-lora_r", Input).value = "0"
            screen.query_one("#f-learning_rate", Input).value = "fast"

        assert snap(FtStudioApp(), self._open(home), type_bad_values)


class TestDashboard:
    def test_dashboard(self, snap, fixed_app):
        assert snap(fixed_app, None)

    def test_dashboard_after_deploy(self, snap, fixed_app):
        assert snap(fixed_app, None, action("deploy"))


class TestProvision:
    def _open(self, kind="finetuning"):
        from tui.screens.provision import ProvisionScreen

        return ProvisionScreen(kind, directory_factory=FixedDirectory)

    # the pages: subscription, resource group (rg-demo, saved), location, preview
    def test_subscription_page(self, snap, fixed_app):
        assert snap(fixed_app, push(self._open))

    def test_location_page(self, snap, fixed_app):
        assert snap(fixed_app, push(self._open), *[press("enter")] * 2)

    def test_preview_page(self, snap, fixed_app):
        assert snap(fixed_app, push(self._open), *[press("enter")] * 3)

    def test_apply_failure_shows_the_fix(self, snap, fixed_app):
        async def apply(pilot):
            await pilot.click("#apply-button")

        assert snap(fixed_app, push(self._open), *[press("enter")] * 3, apply)


class TestLogs:
    def test_logs_streamed_to_the_end(self, snap, fixed_app):
        assert snap(fixed_app, None, action("logs", 0.3))

    def test_logs_find(self, snap, fixed_app):
        assert snap(fixed_app, None, action("logs", 0.3), press("slash", *"step': 50", "enter"))


class TestSecrets:
    def test_secrets_list(self, snap, fixed_app):
        assert snap(fixed_app, None, action("secrets"))

    def test_add_secret_is_masked(self, snap, fixed_app):
        assert snap(fixed_app, None, action("add_secret"), press(*"HF_TOKEN", "enter", *"hf_secretvalue"))


class TestHelpAndPalette:
    def test_help(self, snap, fixed_app):
        assert snap(fixed_app, None, press("f1"))

    def test_palette_offers_project_commands(self, snap, fixed_app):
        assert snap(fixed_app, None, (press("ctrl+p"), pause(0.2), press(*"logs"), pause(0.5)))
