"""Secrets of the fine-tuning job or of the inference app: list names, add (masked), remove.

Values go straight from the masked input to ``backend.secret_set`` in a worker; the UI never shows,
logs or keeps them (the modal is gone once it returns).
"""
from __future__ import annotations

from typing import Optional

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Static

from tui.screens.messages import TaskDone, TaskFailed, run_task


class AddSecretScreen(ModalScreen[Optional[tuple[str, str]]]):
    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Add a secret to the {self.where}", classes="dialog-title")
            yield Static("Exposed to the code as an environment variable of the same name.", classes="hint")
            yield Input(placeholder="NAME (e.g. HF_TOKEN)", id="secret-name")
            yield Input(placeholder="value", password=True, id="secret-value")
            yield Static("", id="secret-error", classes="error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Add", id="add", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted, "#secret-name")
    def _next(self) -> None:
        self.query_one("#secret-value", Input).focus()

    @on(Input.Submitted, "#secret-value")
    @on(Button.Pressed, "#add")
    def _add(self) -> None:
        name = self.query_one("#secret-name", Input).value.strip()
        value = self.query_one("#secret-value", Input).value
        error = self.query_one("#secret-error", Static)
        if not name:
            error.update("NAME is required.")
            self.query_one("#secret-name", Input).focus()
        elif not value:
            error.update("The value is empty.")
            self.query_one("#secret-value", Input).focus()
        else:
            self.dismiss((name, value))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class SecretsScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("a", "add", "Add"),
        Binding("delete,d", "remove", "Remove"),
    ]

    def __init__(self, *, inference: bool = False, open_add: bool = False) -> None:
        super().__init__()
        self.inference = inference
        self.open_add = open_add
        self.names: list[str] = []

    @property
    def where(self) -> str:
        return "inference app" if self.inference else "fine-tuning job"

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="secrets"):
            yield Static(f"Secrets of the {self.where}", classes="screen-title")
            yield Static("Names only: values are write-only and never shown.", classes="hint")
            yield DataTable(id="secrets-table", cursor_type="row")
            yield Static("", id="secrets-status", classes="status")
            with Horizontal(classes="buttons"):
                yield Button("Add secret", id="add", variant="primary")
                yield Button("Remove selected", id="remove", variant="error")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"secrets: {self.where}"
        self.query_one(DataTable).add_column("Name", key="name", width=40)
        self.reload()
        if self.open_add:
            self.action_add()

    def _status(self, text: str) -> None:
        self.query_one("#secrets-status", Static).update(text)

    def reload(self) -> None:
        self._status("Loading…")
        self._list()

    @work(thread=True, exclusive=True, exit_on_error=False, group="secrets-list")
    def _list(self) -> None:
        run_task(self, "list", self.app.backend.secret_list, inference=self.inference)

    # description given: the default one would hold the arguments' repr, i.e. the secret value
    @work(thread=True, exclusive=True, exit_on_error=False, group="secrets-change", description="set secret")
    def _set(self, name: str, value: str) -> None:
        run_task(self, "set", self.app.backend.secret_set, name, value, inference=self.inference)

    @work(thread=True, exclusive=True, exit_on_error=False, group="secrets-change")
    def _remove(self, name: str) -> None:
        run_task(self, "remove", self.app.backend.secret_remove, name, inference=self.inference)

    @on(TaskDone)
    def _done(self, message: TaskDone) -> None:
        if message.group == "list":
            self.names = sorted(message.result or [])
            table = self.query_one(DataTable)
            table.clear()
            for name in self.names:
                table.add_row(name, key=name)
            self._status(f"{len(self.names)} secret(s)." if self.names else "No secrets yet (a: add).")
        elif message.group in ("set", "remove"):
            self.notify("Secret saved." if message.group == "set" else "Secret removed.", title="Secrets")
            self.reload()

    @on(TaskFailed)
    def _failed(self, message: TaskFailed) -> None:
        self._status(f"[b red]✗[/] {message.error}")
        self.notify(message.error, title="Secrets", severity="error", timeout=10)

    @on(Button.Pressed, "#add")
    def action_add(self) -> None:
        def added(result: Optional[tuple[str, str]]) -> None:
            if result:
                self._status(f"Saving {result[0]}…")
                self._set(*result)

        self.app.push_screen(AddSecretScreen(self.where), added)

    @on(Button.Pressed, "#remove")
    def action_remove(self) -> None:
        table = self.query_one(DataTable)
        if not self.names or table.cursor_row < 0:
            self._status("Select a secret first.")
            return
        name = self.names[table.cursor_row]
        self._status(f"Removing {name}…")
        self._remove(name)
