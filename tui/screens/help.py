"""Keys and commands: the action registry as a table (what the palette offers here is marked)."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from tui.actions import commands, offered


class HelpScreen(ModalScreen):
    BINDINGS = [("escape", "dismiss", "Close"), ("f1", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help", classes="dialog wide"):
            yield Label("Keys and commands", classes="dialog-title")
            yield Static("Ctrl+P opens the command palette; it offers the commands marked ● (valid here).",
                         classes="hint")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, width in (("", 1), ("Command", 48), ("Key", 7), ("What it does", 60)):
            table.add_column(label, width=width)
        for action in commands():
            here = "●" if offered(action, self.app) else " "
            key = (action.key or "").replace("ctrl+", "Ctrl+").replace("f1", "F1").replace("f5", "F5")
            table.add_row(here, action.title, key, action.help, key=action.id)
        table.focus()
