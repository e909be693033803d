"""The ftstudio terminal UI: catalog → configure → generate, dashboard, provision, run, logs, secrets, deploy.

A thin front end over ``scaffolds/`` and ``infra/`` (the CLI's core): every blocking call runs in a
screen's thread worker that posts messages; the one action registry (``tui.actions``) gives the keys,
the command palette and the help screen.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from textual.app import App

from tui import actions
from tui.actions import ActionsProvider


class FtStudioApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "ftstudio"
    SUB_TITLE = "fine-tune small language models"
    COMMANDS = {ActionsProvider}
    COMMAND_PALETTE_BINDING = "ctrl+p"
    BINDINGS = actions.bindings()  # ctrl+p (the palette) is Textual's own, shown at the footer's right

    def __init__(self, project=None, *, backend_factory: Optional[Callable] = None, start_error: str = "",
                 remember_projects: bool = True) -> None:
        super().__init__()
        self.project = project
        self._backend = None
        self._backend_root: Optional[Path] = None
        self._backend_factory = backend_factory
        self._start_error = start_error
        self._remember = remember_projects

    # -- project and backend ---------------------------------------------------------------------------
    @property
    def backend(self):
        """The project's backend (opened once per project; Azure clients are built lazily inside it)."""
        if self.project is None:
            raise RuntimeError("no project is open")
        if self._backend is None or self._backend_root != self.project.root:
            factory = self._backend_factory
            if factory is None:
                from infra.backend import open_backend as factory
            self._backend = factory(self.project)
            self._backend_root = self.project.root
        return self._backend

    def reset_backend(self) -> None:
        """Forget the opened backend (after provisioning inputs changed, e.g. the subscription)."""
        self._backend = None

    def open_project(self, root: Path | str) -> bool:
        """Open the project at ``root`` and show its dashboard (False, with a notification, if it is not one)."""
        from core.errors import FtError
        from scaffolds.project import Project

        try:
            project = Project.open(Path(root).expanduser())
        except FtError as err:
            self.notify(err.one_line(), title="Not a project", severity="error", timeout=8)
            return False
        self.project = project
        self._backend = None
        if self._remember:
            from tui.screens import recent

            recent.remember(project.root)
        self.show_dashboard()
        return True

    def show_dashboard(self):
        from tui.screens.dashboard import DashboardScreen

        self.pop_to_home()
        screen = DashboardScreen()
        self.push_screen(screen)
        return screen

    def dashboard(self):
        """The dashboard (shown first if another screen is on top)."""
        from tui.screens.dashboard import DashboardScreen

        for screen in self.screen_stack:
            if isinstance(screen, DashboardScreen):
                while self.screen is not screen:
                    self.pop_screen()
                return screen
        return self.show_dashboard()

    def pop_to_home(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()

    # -- lifecycle -----------------------------------------------------------------------------------------
    def on_mount(self) -> None:
        from tui.screens.home import HomeScreen

        self.push_screen(HomeScreen())
        if self.project is not None:
            if self._remember:
                from tui.screens import recent

                recent.remember(self.project.root)
            from tui.screens.dashboard import DashboardScreen

            self.push_screen(DashboardScreen())
        if self._start_error:
            self.notify(self._start_error, title="Not a project", severity="error", timeout=10)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        entry = actions.by_id(action)
        if entry is not None and not actions.offered(entry, self):
            return False
        return True

    # -- actions (ids from tui.actions) ---------------------------------------------------------------------
    def action_home(self) -> None:
        self.pop_to_home()

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_new_project(self) -> None:
        from tui.screens.catalog import CatalogScreen

        self.push_screen(CatalogScreen())

    def action_open_folder(self) -> None:
        from tui.screens.open_folder import OpenFolderScreen

        def opened(path: Optional[str]) -> None:
            if path:
                self.open_project(path)

        self.push_screen(OpenFolderScreen(), opened)

    def action_dashboard(self) -> None:
        self.dashboard()

    def action_refresh(self) -> None:
        self.dashboard().refresh_all()

    def action_provision_finetuning(self) -> None:
        from tui.screens.provision import ProvisionScreen

        self.push_screen(ProvisionScreen("finetuning"))

    def action_provision_inference(self) -> None:
        from tui.screens.provision import ProvisionScreen

        self.push_screen(ProvisionScreen("inference"))

    def action_sync(self) -> None:
        self.dashboard().start_sync()

    def action_run_job(self) -> None:
        self.dashboard().start_run()

    def action_resume_job(self) -> None:
        self.dashboard().start_run(resume="latest")

    def action_stop_job(self) -> None:
        self.dashboard().start_stop()

    def action_download(self) -> None:
        self.dashboard().start_download()

    def action_deploy(self) -> None:
        self.dashboard().start_deploy()

    def action_teardown(self) -> None:
        from tui.screens.confirm import ConfirmScreen

        def answered(yes: Optional[bool]) -> None:
            if yes:
                self.dashboard().start_teardown()

        self.push_screen(ConfirmScreen("Delete every Azure resource provision created for this project?",
                                       confirm="Delete"), answered)

    def action_logs(self, execution: str = "") -> None:
        from tui.screens.logs import LogsScreen

        self.push_screen(LogsScreen(execution=execution or None))

    def action_inference_logs(self) -> None:
        from tui.screens.logs import LogsScreen

        self.push_screen(LogsScreen(inference=True))

    def _secrets(self, inference: bool, add: bool) -> None:
        from tui.screens.secrets import SecretsScreen

        self.push_screen(SecretsScreen(inference=inference, open_add=add))

    def action_add_secret(self) -> None:
        self._secrets(False, True)

    def action_secrets(self) -> None:
        self._secrets(False, False)

    def action_add_inference_secret(self) -> None:
        self._secrets(True, True)

    def action_inference_secrets(self) -> None:
        self._secrets(True, False)


def run_app(project: Optional[str] = None) -> int:
    """``ftstudio`` with no command: open the project given (or the one in the current folder), else Home."""
    from core.errors import FtError
    from scaffolds.project import Project

    opened, error = None, ""
    try:
        opened = Project.open(project)
    except FtError as err:
        if project is not None:  # asked for this folder explicitly: say why it did not open
            error = err.one_line()
    FtStudioApp(project=opened, start_error=error).run()
    return 0
