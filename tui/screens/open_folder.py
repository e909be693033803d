"""Open folder: type (or paste) the path of a project folder."""
from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class OpenFolderScreen(ModalScreen[str | None]):
    BINDINGS = [("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Open an ftstudio project folder", classes="dialog-title")
            yield Input(placeholder="~/projects/my-project", id="folder")
            yield Static("", id="folder-error", classes="error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Open", id="open", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted, "#folder")
    @on(Button.Pressed, "#open")
    def _open(self) -> None:
        from core.errors import FtError
        from scaffolds.project import Project

        text = self.query_one("#folder", Input).value.strip()
        error = self.query_one("#folder-error", Static)
        if not text:
            error.update("Type the folder of a project.")
            return
        try:
            project = Project.open(Path(text).expanduser())  # the core says whether it is a project
        except FtError as err:
            error.update(err.message.replace(str(Path.home()), "~"))
            return
        self.dismiss(str(project.root))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
