"""Provision wizard: subscription → resource group (pick or create) → GPU location → preview → apply.

The look-ups are the core's (``infra.azure.inputs.Directory``), the inputs are saved with the core's
``save_inputs`` (the CLI reads the same state), the preview is ``backend.plan`` and apply is
``backend.provision`` with one line of progress per resource.
"""
from __future__ import annotations

from typing import Optional

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, ContentSwitcher, DataTable, Footer, Header, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from infra.azure.names import validate_resource_group
from core.errors import InputError
from tui.screens.messages import BackendEvent, TaskDone, TaskFailed, run_task, sink
from tui.widgets.steps import StepList

PAGES = ("subscription", "group", "location", "preview", "apply")
TITLES = {"subscription": "Subscription", "group": "Resource group", "location": "Location",
          "preview": "Preview", "apply": "Apply"}
NEW_GROUP = "__new__"
ACTION_STYLE = {"create": "green", "update": "yellow", "delete": "red", "unchanged": "dim"}


def open_directory(app):
    """The core's Azure look-ups (subscriptions, resource groups, GPU locations) for this project,
    over the backend's session (re-bound to the subscription being looked into, as provision does)."""
    import dataclasses

    from infra.azure.inputs import SessionDirectory

    backend = app.backend
    gpu_profile = app.project.parameters("finetuning").get("gpuProfileType")

    def session_for(subscription_id):
        session = backend.session
        if subscription_id and session.subscription_id != subscription_id:
            session = dataclasses.replace(session, subscription_id=subscription_id)
        return session

    return SessionDirectory(session_for, gpu_profile)


class ProvisionScreen(Screen):
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, kind: str = "finetuning", *, directory_factory=None) -> None:
        super().__init__()
        self.kind = kind
        self.directory_factory = directory_factory
        self.subscription: Optional[str] = None
        self.resource_group: Optional[str] = None
        self.group_location: Optional[str] = None
        self.location: Optional[str] = None
        self.new_group = False
        self.plan: list = []
        self.applied = False
        self._directory = None

    @property
    def what(self) -> str:
        return "fine-tuning job" if self.kind == "finetuning" else "inference app"

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="wizard"):
            yield Static(f"Provision the {self.what} on Azure Container Apps", classes="screen-title")
            yield Static(id="wizard-steps")
            with ContentSwitcher(initial="subscription", id="pages"):
                with Vertical(id="subscription", classes="wizard-page"):
                    yield Label("Pick the subscription (never assumed, even when there is only one).")
                    yield OptionList(id="subscriptions")
                with Vertical(id="group", classes="wizard-page"):
                    yield Label("Pick a resource group, or create a new one.")
                    yield OptionList(id="groups")
                    yield Input(placeholder="name of the new resource group", id="new-group")
                with Vertical(id="location", classes="wizard-page"):
                    yield Label("Regions offering the GPU workload profile this model needs:")
                    yield OptionList(id="locations")
                with Vertical(id="preview", classes="wizard-page"):
                    yield Static(id="preview-inputs")
                    with Horizontal(classes="buttons"):
                        yield Button("Apply", id="apply-button", variant="primary")
                        yield Button("Back", id="preview-back")
                    yield DataTable(id="plan-table", cursor_type="row", show_cursor=False)
                with Vertical(id="apply", classes="wizard-page"):
                    yield Static(id="apply-result")
                    with Horizontal(classes="buttons"):
                        yield Button("Done", id="done", variant="primary")
                    with VerticalScroll(id="apply-scroll"):
                        yield StepList(id="apply-steps")
            yield Static(id="wizard-status", classes="status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"provision {self.kind}"
        self.query_one("#new-group", Input).display = False
        plan = self.query_one("#plan-table", DataTable)
        for label, width in (("Resource", 15), ("Name", 28), ("Change", 10), ("Details", 60)):
            plan.add_column(label, width=width)
        from infra.azure.inputs import saved_inputs

        saved = saved_inputs(self.app.project)
        self.saved = saved
        self.show("subscription")
        self._status("Loading subscriptions…")
        self._load("subscriptions")

    # -- pages --------------------------------------------------------------------------------------------
    @property
    def page(self) -> str:
        return self.query_one(ContentSwitcher).current or "subscription"

    def show(self, page: str) -> None:
        self.query_one(ContentSwitcher).current = page
        marks = []
        for i, name in enumerate(PAGES, 1):
            label = f"{i} {TITLES[name]}"
            marks.append(f"[b reverse] {label} [/]" if name == page else f"[dim]{label}[/dim]")
        self.query_one("#wizard-steps", Static).update("  ›  ".join(marks))
        focus = {"subscription": "#subscriptions", "group": "#groups", "location": "#locations",
                 "preview": "#apply-button", "apply": "#done"}[page]
        self.query_one(focus).focus()

    def _status(self, text: str, error: bool = False) -> None:
        self.query_one("#wizard-status", Static).update(f"[red]✗ {escape(text)}[/]" if error else escape(text))

    def action_back(self) -> None:
        page = self.page
        if page in ("subscription", "apply"):
            self.workers.cancel_node(self)
            self.app.pop_screen()
        else:
            self.show(PAGES[PAGES.index(page) - 1])

    # -- look-ups (thread workers) -----------------------------------------------------------------------------
    def directory(self):
        if self._directory is None:
            factory = self.directory_factory or (lambda: open_directory(self.app))
            self._directory = factory()
        return self._directory

    @work(thread=True, exclusive=True, exit_on_error=False, group="provision-lookup")
    def _load(self, what: str) -> None:
        def lookup():
            directory = self.directory()
            if what == "subscriptions":
                return directory.subscriptions()
            if what == "groups":
                return directory.resource_groups(self.subscription)
            return directory.gpu_locations(self.subscription)

        run_task(self, what, lookup)

    @work(thread=True, exclusive=True, exit_on_error=False, group="provision-plan")
    def _plan(self) -> None:
        def plan():
            from infra.azure.inputs import AzureInputs, save_inputs

            sources = {"subscription": "prompt", "resource group": "prompt", "location": "prompt"}
            save_inputs(self.app.project, AzureInputs(self.subscription, self.resource_group, self.location, sources))
            self.app.reset_backend()  # the Azure session is bound to the subscription it was opened with
            return self.app.backend.plan(self.kind, on_event=sink(self, "plan"))

        run_task(self, "plan", plan)

    @work(thread=True, exclusive=True, exit_on_error=False, group="provision-apply")
    def _apply(self) -> None:
        run_task(self, "apply", self.app.backend.provision, self.kind, on_event=sink(self, "apply"))

    # -- results -----------------------------------------------------------------------------------------------
    @on(TaskDone)
    def _done(self, message: TaskDone) -> None:
        group, result = message.group, message.result
        if group == "subscriptions":
            self._fill("#subscriptions", [(sid, f"{name}  [dim]{sid}[/dim]" if name else sid) for sid, name in result],
                       self.saved.get("subscription"))
            self._status("" if result else "No subscription is visible to this login (az login?).")
        elif group == "groups":
            items = [(rg, f"{rg}  [dim]{loc}[/dim]") for rg, loc in result]
            self.group_locations = dict(result)
            items.append((NEW_GROUP, "[b]+ create a new resource group[/b]"))
            self._fill("#groups", items, self.saved.get("resource group"))
            self._status("")
        elif group == "locations":
            preferred = self.group_location if self.group_location in result else self.saved.get("location")
            self._fill("#locations", [(loc, loc + ("  [dim](the resource group's)[/dim]" if loc == self.group_location
                                                   else "")) for loc in result], preferred)
            self._status("" if result else "No region offers the GPU profile in this subscription.", error=not result)
        elif group == "plan":
            self.plan = list(result or [])
            self._render_plan()
            self._status("")
            self.show("preview")
        elif group == "apply":
            self.applied = True
            self.query_one("#apply-result", Static).update(
                "[green]✓ Provisioned.[/] Run the job with Ctrl+R, or deploy inference from the dashboard.")
            self._status("")
            self.query_one("#done", Button).disabled = False

    @on(TaskFailed)
    def _failed(self, message: TaskFailed) -> None:
        if message.group == "apply":
            self.query_one("#apply-result", Static).update(f"[red]✗ Provisioning failed:[/] {escape(message.error)}")
            self.query_one("#done", Button).disabled = False
        self._status(message.error, error=True)

    @on(BackendEvent)
    def _event(self, message: BackendEvent) -> None:
        if message.group == "apply":
            self.query_one("#apply-steps", StepList).handle(message.event)
        elif message.group == "plan" and hasattr(message.event, "text"):
            self._status(message.event.text)

    def _fill(self, selector: str, items: list[tuple[str, str]], preferred: Optional[str]) -> None:
        options = self.query_one(selector, OptionList)
        options.clear_options()
        options.add_options([Option(label, id=value) for value, label in items])
        ids = [value for value, _ in items]
        if preferred in ids:
            options.highlighted = ids.index(preferred)
        elif ids:
            options.highlighted = 0

    def _render_plan(self) -> None:
        table = self.query_one("#plan-table", DataTable)
        table.clear()
        for change in self.plan:
            style = ACTION_STYLE.get(change.action, "")
            details = "; ".join(f"{k}: {_short(v)}" for k, v in (change.changes or {}).items())
            table.add_row(change.resource, change.name, f"[{style}]{change.action}[/]" if style else change.action,
                          details or "")
        counts: dict = {}
        for change in self.plan:
            counts[change.action] = counts.get(change.action, 0) + 1
        summary = ", ".join(f"{n} to {a}" if a != "unchanged" else f"{n} unchanged" for a, n in counts.items())
        self.query_one("#preview-inputs", Static).update(
            f"[b]Subscription[/b] {escape(self.subscription or '')}   [b]Resource group[/b] "
            f"{escape(self.resource_group or '')}{' (new)' if self.new_group else ''}   "
            f"[b]Location[/b] {escape(self.location or '')}\n{summary or 'Nothing to change.'}")

    # -- choices -------------------------------------------------------------------------------------------------
    @on(OptionList.OptionSelected, "#subscriptions")
    def _pick_subscription(self, event: OptionList.OptionSelected) -> None:
        self.subscription = event.option.id
        self._directory_groups_for = self.subscription
        self._status("Loading resource groups…")
        self.show("group")
        self._load("groups")

    @on(OptionList.OptionSelected, "#groups")
    def _pick_group(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == NEW_GROUP:
            field = self.query_one("#new-group", Input)
            field.display = True
            field.focus()
            return
        self.new_group = False
        self.resource_group = event.option.id
        self.group_location = getattr(self, "group_locations", {}).get(self.resource_group)
        self._to_location()

    @on(Input.Submitted, "#new-group")
    def _new_group(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        if not name:
            self._status("Type the name of the new resource group.", error=True)
            return
        try:
            validate_resource_group(name, "resource group")
        except InputError as err:
            self._status(err.one_line(), error=True)
            return
        self.new_group = True
        self.resource_group = name
        self.group_location = None
        self._to_location()

    def _to_location(self) -> None:
        self._status("Finding regions that offer the GPU profile…")
        self.show("location")
        self._load("locations")

    @on(OptionList.OptionSelected, "#locations")
    def _pick_location(self, event: OptionList.OptionSelected) -> None:
        self.location = event.option.id
        self._status("Computing the preview (what-if)…")
        self._plan()

    @on(Button.Pressed, "#preview-back")
    def _preview_back(self) -> None:
        self.show("location")

    @on(Button.Pressed, "#apply-button")
    def _apply_pressed(self) -> None:
        self.show("apply")
        self.query_one("#apply-steps", StepList).reset()
        self.query_one("#apply-result", Static).update("Provisioning… (each resource reports here)")
        self.query_one("#done", Button).disabled = True
        self._apply()

    @on(Button.Pressed, "#done")
    def _finish(self) -> None:
        self.app.pop_screen()


def _short(value) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"{_short(value[0])} → {_short(value[1])}"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "…"
