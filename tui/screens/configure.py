"""Configure: the recipe form (defaults from the catalog, inline validation from the parameter registry),
a dataset preview, and "Generate project" with progress.

Validation is the core's: ``scaffolds.params.coerce`` per field, then ``scaffolds.params.resolve`` over
the whole form (its InputError names the field, shown under that field). Generation is the core's
generator, in a thread worker.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static

from tui.screens.messages import BackendEvent, TaskDone, TaskFailed, run_task, sink
from tui.widgets.paths import display_path
from tui.widgets.steps import StepList

# The registry parameters the form shows (the rest keep their defaults; `--set` in the CLI reaches all).
FORM_PARAMS = ("lora_r", "lora_alpha", "lora_dropout", "learning_rate", "num_train_epochs", "max_steps",
               "per_device_train_batch_size", "source_max_len")
LABELS = {
    "lora_r": "LoRA rank", "lora_alpha": "LoRA alpha", "lora_dropout": "LoRA dropout",
    "learning_rate": "Learning rate", "num_train_epochs": "Epochs", "max_steps": "Max steps (-1: epochs)",
    "per_device_train_batch_size": "Batch size", "source_max_len": "Sequence length",
}
# the generator's InputError.field -> the form field that shows it
FIELD_OF = {"NAME": "name", "--dir": "location", "--dataset": "dataset", "--recipe": "recipe", "--target": "target",
            "--model": "name", **{n: n for n in FORM_PARAMS}}
TARGETS = (("Azure Container Apps (serverless GPU)", "azure"), ("This machine (local)", "local"))


def default_name(model: dict) -> str:
    base = str(model.get("id") or "model").rsplit("/", 1)[-1].lower()
    cleaned = "".join(ch if ch.isalnum() else "-" for ch in base).strip("-")
    return f"{cleaned or 'model'}-finetune"


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


@dataclass
class Preview:
    name: str
    rows: Optional[int]
    format: Optional[str]  # as training will read the rows (None: unknown, e.g. unreadable)
    reason: str  # why that format
    head: list
    problems: list
    warnings: list


def build_preview(path: Optional[str], template: Optional[str], dataset_format: Optional[str] = None,
                  head: int = 3) -> Preview:
    """The dataset the project will train on, checked by training's own rules (the format, the rows, the
    first bad line); the first rows are shown as the training data reads them."""
    from core.errors import FtError
    from scaffolds import dataset, sample_dataset
    from scaffolds.project_code import training_data

    fmt = None if dataset_format in (None, "", "auto") else dataset_format
    if fmt is None and template:
        fmt = "text_template"  # as `new` reads it: a template means rows in its columns
    if path is None:
        flat = fmt == "text_template"
        rows = sample_dataset.rows() if flat else [sample_dataset.conversation(r["phrase"], r["tone"])
                                                   for r in sample_dataset.rows()[:head]]
        return Preview(f"{sample_dataset.FILE_NAME} (sample, written with the project)", len(sample_dataset.rows()),
                       fmt or "messages", "the sample's format", rows[:head], [], [])
    try:
        report = dataset.check(path, dataset_format=fmt, text_template=template)
    except FtError as err:
        return Preview(Path(path).name, None, None, "", [], [err.one_line()], [])
    shown: list = []
    if report.rows is not None:
        try:
            source = training_data.sources.open_source(path)
            shown = [row for _, row in source.peek(head) if isinstance(row, dict)]
        except (training_data.DataError, OSError):
            shown = []
    return Preview(report.path, report.rows, report.format, report.reason, shown, [], report.warnings)


class ConfigureScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("ctrl+g", "generate", "Generate project")]

    def __init__(self, model: dict, *, location: Optional[Path] = None) -> None:
        super().__init__()
        self.model = model
        self.location = Path(location) if location else Path(os.getcwd())
        self.values: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.generated: Optional[Path] = None

    # -- layout ------------------------------------------------------------------------------------------
    def _field(self, name: str, label: str, widget, hint: str = "", help_text: str = "") -> ComposeResult:
        widget.compact = True
        if help_text:
            widget.tooltip = help_text
        with Horizontal(classes="field"):
            yield Label(label, classes="field-label")
            yield widget
            yield Label(hint, classes="field-hint")
        yield Static("", id=f"err-{name}", classes="field-error")

    def compose(self) -> ComposeResult:
        from scaffolds import catalog, params

        model = self.model
        defaults = self.defaults()
        yield Header()
        with Horizontal(id="configure"):
            with VerticalScroll(id="form"):
                yield Static(f"Configure a fine-tuning project for [b]{escape(model['id'])}[/b]", classes="screen-title")
                yield from self._field("name", "Project name", Input(default_name(model), id="f-name"))
                yield from self._field("location", "Location", Input(display_path(self.location), id="f-location"),
                                       "parent folder", "The project folder is created inside it.")
                recipe_default = model.get("default_recipe") or "lora"
                yield from self._field("recipe", "Recipe",
                                       Select([(r, r) for r in catalog.RECIPES], value=recipe_default,
                                              allow_blank=False, id="f-recipe"))
                yield from self._field("dataset", "Dataset",
                                       Input(placeholder="file, folder or hf:ID; empty: the sample", id="f-dataset"))
                yield from self._field("target", "Target",
                                       Select(TARGETS, value="azure", allow_blank=False, id="f-target"))
                for name in FORM_PARAMS:
                    p = params.BY_NAME[name]
                    yield from self._field(name, LABELS[name], Input(_text(defaults.get(name)), id=f"f-{name}"),
                                           _hint(p), p.help)
                with Horizontal(classes="buttons"):
                    yield Button("Generate project", id="generate", variant="primary")
                    yield Button("Back", id="back")
                yield StepList(id="generate-progress")
            with VerticalScroll(id="preview-pane"):
                yield Label("Dataset preview", classes="section")
                yield Static(id="dataset-preview")
                yield Label("GPU", classes="section")
                yield Static(id="gpu-summary")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"configure: {self.model['id']}"
        self.validate()
        self.refresh_preview()

    # -- values and validation ------------------------------------------------------------------------------------
    def defaults(self, recipe: Optional[str] = None) -> dict:
        from scaffolds import catalog, params

        recipe = recipe or self.model.get("default_recipe") or "lora"
        try:
            return params.resolve(self.model, recipe, {}, gpu_profile_for=catalog.gpu_profile_for)
        except Exception:  # a catalog entry the registry rejects still shows a form (errors appear inline)
            return {p.name: p.default for p in params.PARAMS}

    def field_value(self, name: str) -> str:
        widget = self.query_one(f"#f-{name}")
        value = widget.value
        return "" if value is Select.BLANK or value is None else str(value)

    @property
    def model_ref(self) -> str:
        """What the generator resolves: the local folder of a local model, else its id."""
        return str(self.model.get("path") or self.model["id"]) if self.model.get("source") == "local" \
            else str(self.model["id"])

    @property
    def recipe(self) -> str:
        return self.field_value("recipe")

    @property
    def target(self) -> str:
        return self.field_value("target")

    def overrides(self) -> tuple[dict, dict]:
        """Typed values of the form's registry fields the person changed (a field left at its default
        is not an override, so the generator derives it as the CLI does: e.g. a smaller batch raises
        gradient accumulation), and per-field type errors."""
        from core.errors import FtError
        from scaffolds import params

        defaults = self.defaults(self.recipe or None)
        derived = getattr(self, "_derived", {})  # what _show_derived filled in, not the person
        values, errors = {}, {}
        for name in FORM_PARAMS:
            raw = self.field_value(name)
            try:
                value = params.coerce(name, raw)
            except FtError as err:
                errors[name] = err.message
                continue
            if value != defaults.get(name) and value != derived.get(name):
                values[name] = value
        return values, errors

    def _show_derived(self, values: dict, resolved: dict) -> None:
        """Fields the person left alone show what generation will write (e.g. a smaller batch once a
        longer sequence no longer fits the GPU at the default batch)."""
        derived = getattr(self, "_derived", {})
        for name in FORM_PARAMS:
            if name in values or name not in resolved:
                continue
            widget = self.query_one(f"#f-{name}", Input)
            if widget.value != _text(resolved[name]):
                derived[name] = resolved[name]
                widget.value = _text(resolved[name])  # validates again: now not an override
        self._derived = derived

    def validate(self) -> bool:
        """Inline messages, all from the core: the generator's name rule, the registry per field
        (each override resolved alone, so every bad field shows), then the whole form (cross-field)."""
        from core.errors import FtError
        from scaffolds import catalog, generate, params

        values, errors = self.overrides()
        try:
            generate.validate_name(self.field_value("name"))
        except FtError as err:
            errors["name"] = err.message
        if not self.field_value("location").strip():
            errors["location"] = "The location is required."

        def resolve(overrides: dict) -> dict:
            return params.resolve(self.model, self.recipe, overrides, gpu_profile_for=catalog.gpu_profile_for)

        for name, value in values.items():
            try:
                resolve({name: value})
            except FtError as err:
                if err.field == name:
                    errors[name] = err.message
        resolved = None
        if not any(name in errors for name in FORM_PARAMS):
            try:
                resolved = resolve(values)
            except FtError as err:
                errors[err.field if err.field in FORM_PARAMS else "recipe"] = err.message
        self.values = resolved or {}
        self.errors = errors
        if resolved:
            self._show_derived(values, resolved)
        for name in ("name", "location", "recipe", "target", *FORM_PARAMS):
            self.show_error(name, errors.get(name, ""))
        self.query_one("#generate", Button).disabled = bool(errors)
        self._render_gpu()
        return not errors

    def show_error(self, name: str, text: str) -> None:
        widget = self.query_one(f"#err-{name}", Static)
        widget.update(escape(text))
        widget.display = bool(text)

    def _render_gpu(self) -> None:
        from scaffolds import catalog

        text = self.query_one("#gpu-summary", Static)
        if self.target == "local":
            text.update("Runs on this machine (GPU when present, else the CPU).")
            return
        profile = self.values.get("gpuProfileType") or catalog.gpu_profile_for(self.model, self.recipe)
        dtype = self.values.get("compute_dtype") or "—"
        text.update(f"{escape(catalog.gpu_label(profile))}  [dim]{escape(profile)}[/dim]\ncompute dtype {escape(dtype)}")

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if event.input.id == "f-dataset":
            return
        self.validate()

    @on(Select.Changed)
    def _selected(self, event: Select.Changed) -> None:
        if event.select.id == "f-recipe":
            # the recipe changes the defaults: refill the fields still showing the previous recipe's default
            new = self.defaults(self.recipe)
            old = getattr(self, "_shown_defaults", None) or self.defaults()
            for name in FORM_PARAMS:
                widget = self.query_one(f"#f-{name}", Input)
                if widget.value == _text(old.get(name)):
                    widget.value = _text(new.get(name))
            self._shown_defaults = new
            self.validate()
        else:
            self._render_gpu()

    @on(Input.Submitted, "#f-dataset")
    @on(Input.Blurred, "#f-dataset")
    def _dataset_changed(self) -> None:
        self.refresh_preview()

    # -- dataset preview (worker) -----------------------------------------------------------------------------------------
    def dataset_path(self) -> Optional[Path]:
        raw = self.field_value("dataset").strip()
        return Path(raw).expanduser() if raw else None

    def refresh_preview(self) -> None:
        self.query_one("#dataset-preview", Static).update("[dim]Reading…[/dim]")
        path = self.dataset_path()
        self._preview(str(path) if path else None, self.values.get("text_template"))

    @work(thread=True, exclusive=True, exit_on_error=False, group="dataset-preview")
    def _preview(self, path: Optional[str], template: Optional[str]) -> None:
        run_task(self, "preview", build_preview, path, template, self.values.get("dataset_format"))

    def _render_preview(self, preview: "Preview") -> None:
        text = self.query_one("#dataset-preview", Static)
        rows = "?" if preview.rows is None else f"{preview.rows:,}"
        lines = [f"[b]{escape(preview.name)}[/b]  {rows} rows" if preview.rows is not None or preview.problems
                 else f"[b]{escape(preview.name)}[/b]  (read by the training job)"]
        if preview.format:
            lines.append(f"Format: [b]{escape(preview.format)}[/b] ({escape(preview.reason)})")
        for problem in preview.problems[:3]:
            lines.append(f"[red]✗ {escape(problem)}[/]")
        for warning in preview.warnings[:2]:
            lines.append(f"[yellow]! {escape(warning)}[/]")
        lines.append("")
        for i, row in enumerate(preview.head, 1):
            cells = "  ".join(f"[b]{escape(str(k))}[/b]: {escape(_clip(_turns(v)))}" for k, v in row.items())
            lines.append(f"[dim]{i}.[/dim] {cells}")
        text.update("\n".join(lines))
        self.show_error("dataset", preview.problems[0] if preview.problems else "")

    # -- generate (worker) -------------------------------------------------------------------------------------------------
    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.app.pop_screen()

    @on(Button.Pressed, "#generate")
    def action_generate(self) -> None:
        if not self.validate():
            self.notify("Fix the fields marked in red first.", severity="error")
            return
        values, _ = self.overrides()
        progress = self.query_one("#generate-progress", StepList)
        progress.reset()
        progress.note("Generating the project…")
        self.query_one("#generate", Button).disabled = True
        location = Path(self.field_value("location").strip()).expanduser()
        self._generate(self.field_value("name").strip(), location, self.recipe, self.dataset_path(), self.target,
                       values)

    @work(thread=True, exclusive=True, exit_on_error=False, group="generate")
    def _generate(self, name: str, location: Path, recipe: str, dataset: Optional[Path], target: str,
                  overrides: dict) -> None:
        def generate():
            from scaffolds import generate

            spec = generate.ProjectSpec(name=name, model=self.model_ref, parent=location, recipe=recipe,
                                        dataset=dataset, overrides=overrides, target=target)
            from usecases.projects import generate_project

            return generate_project(spec, sink(self, "generate"))

        run_task(self, "generate", generate)

    @on(BackendEvent)
    def _event(self, message: BackendEvent) -> None:
        if message.group == "generate":
            self.query_one("#generate-progress", StepList).handle(message.event)

    @on(TaskDone)
    def _done(self, message: TaskDone) -> None:
        if message.group == "preview":
            self._render_preview(message.result)
        elif message.group == "generate":
            root = Path(message.result.path)
            self.generated = root
            self.query_one("#generate-progress", StepList).note(f"Generated {display_path(root)}")
            self.app.open_project(root)

    @on(TaskFailed)
    def _failed(self, message: TaskFailed) -> None:
        if message.group == "generate" and message.field in FIELD_OF:
            self.show_error(FIELD_OF[message.field], message.error)
        if message.group == "preview":
            self.query_one("#dataset-preview", Static).update(f"[red]✗ {escape(message.error)}[/]")
            self.show_error("dataset", message.error)
        elif message.group == "generate":
            self.query_one("#generate-progress", StepList).note(f"Not generated: {message.error}", "warning")
            self.query_one("#generate", Button).disabled = False
            self.notify(message.error, title="Generate failed", severity="error", timeout=12)


def _hint(p) -> str:
    if p.min is not None and p.max is not None:
        from scaffolds.params import format_number

        return f"{format_number(p.min)}…{format_number(p.max)}"
    return p.describe_range()


def _turns(value: Any) -> Any:
    """A conversation column shown as its turns (role: text | ...; the system prompt left out: the same
    on most rows), anything else as it is."""
    if isinstance(value, list) and value and all(isinstance(t, dict) for t in value):
        turns = [t for t in value if t.get("role", t.get("from")) != "system"]
        return " | ".join(f"{t.get('role', t.get('from', '?'))}: {t.get('content', t.get('value', ''))}" for t in turns)
    return value


def _clip(value: Any, width: int = 90) -> str:
    text = str(value).replace("\n", "⏎")
    return text if len(text) <= width else text[: width - 1] + "…"
