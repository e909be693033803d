"""Model catalog: a searchable table (name, size, licence, gated, minimum GPU), details, "Configure project"."""
from __future__ import annotations

from typing import Optional

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Static


def human_size(params: Optional[int]) -> str:
    if not params:
        return "?"
    if params >= 1e9:
        return f"{params / 1e9:.1f}B"
    return f"{params / 1e6:.0f}M"


class CatalogScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("ctrl+f,slash", "search", "Search"),
        Binding("ctrl+g", "configure", "Configure project"),
    ]
    AUTO_FOCUS = "#models"

    def __init__(self, models: Optional[list[dict]] = None) -> None:
        super().__init__()
        self.models: list[dict] = list(models) if models is not None else []
        self._given = models is not None
        self.shown: list[dict] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="catalog"):
            with Vertical(id="catalog-left"):
                yield Input(placeholder="search: name, family, licence, GPU (e.g. 'phi mit' or 'T4')",
                            id="catalog-search")
                yield DataTable(id="models", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="model-details"):
                yield Label("Details", classes="section")
                yield Static(id="model-details-text")
                with Horizontal(classes="buttons"):
                    yield Button("Configure project", id="configure", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        from scaffolds import catalog

        self.sub_title = "model catalog"
        if not self._given:
            self.models = catalog.entries()
        table = self.query_one("#models", DataTable)
        # fixed widths: DataTable sizes columns on idle, which made pictures depend on timing
        for label, key, width in (("Model", "id", 38), ("Size", "size", 6), ("Min GPU", "gpu", 10),
                                  ("Gated", "gated", 6), ("Licence", "licence", 14)):
            table.add_column(label, key=key, width=width)
        self.filter("")

    def filter(self, text: str) -> None:
        from scaffolds import catalog

        self.shown = catalog.search(text, self.models)
        table = self.query_one("#models", DataTable)
        table.clear()
        for model in self.shown:
            table.add_row(model["id"], human_size(model.get("params")), model.get("min_gpu_label", ""),
                          "[yellow]gated[/]" if model.get("gated") else "", model.get("licence") or "?",
                          key=model["id"])
        self.show_details(self.shown[0] if self.shown else None)

    @property
    def selected(self) -> Optional[dict]:
        table = self.query_one("#models", DataTable)
        if not self.shown or table.cursor_row < 0 or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row]

    def show_details(self, model: Optional[dict]) -> None:
        text = self.query_one("#model-details-text", Static)
        self.query_one("#configure", Button).disabled = model is None
        if model is None:
            text.update("[dim]No model matches. Clear the search (Esc) or type another word.[/dim]")
            return
        defaults = model.get("defaults") or {}
        rows = [
            ("Repo", model.get("repo")),
            ("Family", model.get("family")),
            ("Architecture", model.get("architecture")),
            ("Parameters", human_size(model.get("params"))),
            ("Context", model.get("context_length")),
            ("Licence", model.get("licence")),
            ("Access", "gated: accept the licence on Hugging Face and add an HF_TOKEN secret" if model.get("gated")
             else "open"),
            ("Min GPU", f"{model.get('min_gpu_label')} ({model.get('min_gpu')})"),
            ("GPUs per run", model.get("gpu_quota")),
            ("Chat format", model.get("chat_format")),
            ("Default recipe", model.get("default_recipe")),
            ("Defaults", ", ".join(f"{k}={v}" for k, v in defaults.items()) or "generic"),
        ]
        lines = [f"[b]{escape(model['id'])}[/b]", ""]
        lines += [f"[b]{k}[/b]: {escape(str(v))}" for k, v in rows if v not in (None, "")]
        text.update("\n".join(lines))

    @on(DataTable.RowHighlighted, "#models")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_details(self.selected)

    @on(DataTable.RowSelected, "#models")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_configure()

    @on(Input.Changed, "#catalog-search")
    def _search(self, event: Input.Changed) -> None:
        self.filter(event.value)

    @on(Input.Submitted, "#catalog-search")
    def _search_done(self) -> None:
        self.query_one("#models").focus()

    def action_search(self) -> None:
        self.query_one("#catalog-search", Input).focus()

    @on(Button.Pressed, "#configure")
    def action_configure(self) -> None:
        model = self.selected
        if model is None:
            return
        from tui.screens.configure import ConfigureScreen

        self.app.push_screen(ConfigureScreen(model))
