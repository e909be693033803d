"""Home: recent projects, new project, open folder."""
from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Label, OptionList, Static
from textual.widgets.option_list import Option

from tui.screens import recent
from tui.widgets.paths import display_path


class HomeScreen(Screen):
    AUTO_FOCUS = "#recent"

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="home"):
            yield Static("[b]ftstudio[/b]  fine-tune small language models on Azure Container Apps GPUs or locally",
                         id="home-title")
            with Horizontal(id="home-buttons"):
                yield Button("New project", id="new-project", variant="primary")
                yield Button("Open folder", id="open-folder")
            yield Label("Recent projects", classes="section")
            yield OptionList(id="recent")
            yield Static("Ctrl+P: every command   F1: keys and help", id="home-hint", classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        options = self.query_one("#recent", OptionList)
        options.clear_options()
        projects = recent.load()
        if not projects:
            options.add_option(Option("No recent projects: create one (New project) or open a folder.", disabled=True))
            return
        for path in projects:
            options.add_option(Option(f"{path.name}  [dim]{display_path(path)}[/dim]", id=str(path)))

    @on(OptionList.OptionSelected, "#recent")
    def _open_recent(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.app.open_project(Path(event.option.id))

    @on(Button.Pressed, "#new-project")
    def _new(self) -> None:
        self.app.run_action("new_project")

    @on(Button.Pressed, "#open-folder")
    def _open(self) -> None:
        self.app.run_action("open_folder")
