"""Project dashboard: files, provisioned resources, executions, inference endpoint, actions.

Every backend call runs in a thread worker of this screen (one exclusive group per operation), so
leaving the screen cancels them; results come back as TaskDone/TaskFailed, progress as BackendEvent.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, DataTable, DirectoryTree, Footer, Header, Label, Static

from tui import actions
from tui.screens.messages import BackendEvent, TaskDone, TaskFailed, run_task, sink
from tui.widgets.format import duration, short_time, status_markup
from tui.widgets.paths import display_path
from tui.widgets.steps import StepList

REFRESH_RUNNING_S = 5.0
BUTTONS = (
    ("run_job", "Run", "primary"),
    ("logs", "Logs", "default"),
    ("stop_job", "Stop", "default"),
    ("provision_finetuning", "Provision job", "default"),
    ("provision_inference", "Provision inference", "default"),
    ("deploy", "Deploy", "default"),
    ("secrets", "Secrets", "default"),
)
# a plan's action, read as the resource's state now
STATE_STYLE = {"succeeded": "green", "missing": "dim", "failed": "red", "canceled": "red"}
HIDDEN = {"__pycache__", "model-cache", ".git"}


class ProjectTree(DirectoryTree):
    """The project's files, without caches and dot-folders (kept: .vscode, .ftstudio-answers.json)."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        keep = {".vscode", ".ftstudio-answers.json", ".ftstudioignore", ".gitignore"}
        return sorted(
            (p for p in paths if p.name not in HIDDEN and (not p.name.startswith(".") or p.name in keep)),
            key=lambda p: (not p.is_dir(), p.name.lower()),
        )


class DashboardScreen(Screen):
    BINDINGS = [Binding("escape", "app.home", "Home")]

    def __init__(self) -> None:
        super().__init__()
        self.executions: list = []
        self.resources: list = []  # usecases.status.ResourceRow
        self.endpoint: Optional[str] = None
        self._busy: set[str] = set()
        self._run_resume: Optional[str] = None

    @property
    def project(self):
        return self.app.project

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="dash"):
            with Vertical(id="dash-files"):
                yield Label("Files", classes="section")
                yield ProjectTree(self.project.root, id="files")
            with VerticalScroll(id="dash-main"):
                yield Static(id="summary")
                with Horizontal(id="dash-buttons", classes="buttons"):
                    for action_id, label, variant in BUTTONS:
                        yield Button(label, id=action_id, variant=variant, compact=True)
                yield Label("Resources", classes="section")
                yield DataTable(id="resources", cursor_type="row", show_cursor=False)
                yield Static("[dim]State as Azure reports it; missing: provision creates it[/dim]", id="resources-hint")
                yield Label("Executions", classes="section")
                yield DataTable(id="executions", cursor_type="row")
                yield Label("Inference endpoint", classes="section")
                yield Static(id="endpoint")
                yield Label("Activity", classes="section")
                yield StepList(id="activity", empty="Nothing running. Ctrl+P lists every command.")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.project.name} ({self.project.target})"
        # fixed widths: auto-sizing happens on idle, so a busy app would show (and snapshot) shifting columns
        res = self.query_one("#resources", DataTable)
        for label, width in (("Resource", 16), ("Name", 42), ("State", 12)):
            res.add_column(label, width=width)
        ex = self.query_one("#executions", DataTable)
        for label, width in (("Execution", 26), ("Status", 11), ("Started", 19), ("Duration", 9), ("Exit code", 9)):
            ex.add_column(label, width=width)
        self.set_interval(REFRESH_RUNNING_S, self._refresh_running)

    def on_screen_resume(self) -> None:  # also sent when the screen is first shown
        self.update_buttons()
        self.render_summary()
        self.refresh_all()

    # -- rendering ---------------------------------------------------------------------------------------
    def render_summary(self) -> None:
        project = self.project
        answers = project.answers()
        model = answers.get("model")
        model_id = model.get("id") if isinstance(model, dict) else model
        lines = [
            [("Project", project.name), ("Target", project.target), ("Recipe", answers.get("recipe") or "—")],
            [("Model", model_id or "—")],
            [("Folder", display_path(project.root))],
        ]
        self.query_one("#summary", Static).update("\n".join(
            "   ".join(f"[b]{k}[/b] {escape(str(v))}" for k, v in line) for line in lines))
        self.update_buttons()
        self.render_endpoint()

    def update_buttons(self) -> None:
        for action_id, _label, _variant in BUTTONS:
            button = self.query_one(f"#{action_id}", Button)
            button.display = actions.offered(actions.BY_ID[action_id], self.app)
            button.disabled = action_id in self._busy

    def render_endpoint(self) -> None:
        project = self.project
        from usecases import status

        url = self.endpoint or status.endpoint(project)
        if url:
            text = f"[b]{escape(url)}[/b]  [dim]OpenAI-compatible /v1/chat/completions, chat UI at /[/dim]"
        elif project.target == "azure" and not project.inference_config().get("ACA_APP_NAME"):
            text = "[dim]Not provisioned: inference: Provision Azure Container App, then inference: Deploy.[/dim]"
        else:
            text = "[dim]Not deployed yet: inference: Deploy.[/dim]"
        self.query_one("#endpoint", Static).update(text)

    @staticmethod
    def _fill(table: DataTable, rows: list[tuple]) -> None:
        """Replace the rows only when they changed (a periodic refresh must not flicker or reset the cursor)."""
        if getattr(table, "_ft_rows", None) == rows:
            return
        table._ft_rows = rows
        cursor = table.cursor_row
        table.clear()
        for row in rows:
            table.add_row(*row[1:], key=row[0])
        if rows and cursor > 0:
            table.move_cursor(row=min(cursor, len(rows) - 1))

    def render_resources(self) -> None:
        table = self.query_one("#resources", DataTable)
        if not self.resources:
            self._fill(table, [(None, "—", "not provisioned" if self.project.target == "azure" else "local machine", "")])
            return
        rows = []
        for row in self.resources:  # usecases.status.ResourceRow
            style = STATE_STYLE.get(row.state.lower(), "yellow")
            state = f"[{style}]{escape(row.state)}[/]" if row.state else ""
            rows.append((None, row.kind, display_path(row.name) if row.name.startswith("/") else row.name, state))
        self._fill(table, rows)

    def render_executions(self) -> None:
        table = self.query_one("#executions", DataTable)
        if not self.executions:
            self._fill(table, [(None, "—", "no executions yet", "", "", "")])
            return
        self._fill(table, [
            (e.name, e.name, status_markup(e.status), short_time(e.start_time), duration(e.duration_s),
             "" if e.exit_code is None else str(e.exit_code))
            for e in self.executions])

    # -- loading -------------------------------------------------------------------------------------------
    def refresh_all(self) -> None:
        self._load_executions()
        if self._resources_known():
            self._load_resources()
        else:
            self.resources = []
            self.render_resources()

    def _resources_known(self) -> bool:
        """Something to read: a local project's folders, or a provisioned job or app."""
        from usecases import contexts

        return contexts.finetuning_ready(self.project) or contexts.inference_ready(self.project)

    def _refresh_running(self) -> None:
        if any(not e.finished for e in self.executions):
            self._load_executions()

    @work(thread=True, exclusive=True, exit_on_error=False, group="executions")
    def _load_executions(self) -> None:
        run_task(self, "executions", self.app.backend.executions)

    @work(thread=True, exclusive=True, exit_on_error=False, group="resources")
    def _load_resources(self) -> None:
        # what `ftstudio status` shows (usecases.status): reads of the resources, never the preflight
        from usecases import status

        run_task(self, "resources", status.resources, self.app.backend)

    # -- operations (called by the app's actions) --------------------------------------------------------------
    def _start(self, group: str, title: str) -> bool:
        if group in self._busy:
            self.notify(f"{title} is already running.", severity="warning")
            return False
        self._busy.add(group)
        self.update_buttons()
        activity = self.query_one("#activity", StepList)
        activity.reset()
        activity.note(f"{title}…")
        return True

    def start_sync(self) -> None:
        if self._start("sync", "Sync"):
            self._sync_worker()

    def start_run(self, resume: Optional[str] = None, *, confirmed: bool = False) -> None:
        if self._start("run", "Run"):
            self._run_resume = resume
            self._run_worker(resume, confirmed)

    def _ask_to_run_anyway(self, question: str, resume: Optional[str]) -> None:
        from tui.screens.confirm import ConfirmScreen

        def answered(yes: Optional[bool]) -> None:
            if yes:
                self.start_run(resume, confirmed=True)
            else:
                self.query_one("#activity", StepList).note("Not started.")

        self.app.push_screen(ConfirmScreen(question, confirm="Start"), answered)

    def start_stop(self) -> None:
        if self._start("stop", "Stop"):
            self._stop_worker()

    def start_download(self) -> None:
        if self._start("download", "Download"):
            self._download_worker()

    def start_deploy(self) -> None:
        if self._start("deploy", "Deploy"):
            self._deploy_worker()

    def start_teardown(self) -> None:
        if self._start("teardown", "Delete resources"):
            self._teardown_worker()

    @work(thread=True, exclusive=True, exit_on_error=False, group="sync")
    def _sync_worker(self) -> None:
        run_task(self, "sync", self.app.backend.sync, on_event=sink(self, "sync"))

    @work(thread=True, exclusive=True, exit_on_error=False, group="run")
    def _run_worker(self, resume: Optional[str], confirmed: bool) -> None:
        # the CLI's flow (usecases.runs): busy check, then sync + start; a busy project asks first
        from usecases import runs

        def confirm(names: list[str]) -> bool:
            if confirmed:
                return True
            raise runs.AskFirst(names)

        def start():
            try:
                return runs.start(self.app.backend, resume=resume, confirm=confirm, on_event=sink(self, "run"))
            except runs.AskFirst as ask:
                return ask

        run_task(self, "run", start)

    @work(thread=True, exclusive=True, exit_on_error=False, group="stop")
    def _stop_worker(self) -> None:
        run_task(self, "stop", self.app.backend.stop)

    @work(thread=True, exclusive=True, exit_on_error=False, group="download")
    def _download_worker(self) -> None:
        to = self.project.root / "outputs"  # the CLI's default (ftstudio download)
        run_task(self, "download", self.app.backend.download, None, to, on_event=sink(self, "download"))

    @work(thread=True, exclusive=True, exit_on_error=False, group="deploy")
    def _deploy_worker(self) -> None:
        run_task(self, "deploy", self.app.backend.deploy, on_event=sink(self, "deploy"))

    @work(thread=True, exclusive=True, exit_on_error=False, group="teardown")
    def _teardown_worker(self) -> None:
        run_task(self, "teardown", self.app.backend.teardown, on_event=sink(self, "teardown"))

    # -- results ---------------------------------------------------------------------------------------------------
    @on(BackendEvent)
    def _event(self, message: BackendEvent) -> None:
        self.query_one("#activity", StepList).handle(message.event)

    def _finish(self, group: str) -> None:
        self._busy.discard(group)
        self.update_buttons()

    @on(TaskDone)
    def _done(self, message: TaskDone) -> None:
        group, result = message.group, message.result
        activity = self.query_one("#activity", StepList)
        if group == "executions":
            self.executions = list(result or [])
            self.render_executions()
            return
        if group == "resources":
            self.resources = list(result or [])
            self.render_resources()
            return
        self._finish(group)
        if group == "sync":
            activity.note(f"Synced: {len(result.uploaded)} uploaded, {result.unchanged} unchanged, "
                          f"{len(result.deleted)} deleted.")
        elif group == "run" and isinstance(result, Exception):  # usecases.runs.AskFirst
            self._ask_to_run_anyway(str(result), self._run_resume)
        elif group == "run":
            activity.note(f"Started execution {result.name}.")
            self._load_executions()
            from tui.screens.logs import LogsScreen

            self.app.push_screen(LogsScreen(execution=result.name))
        elif group == "stop":
            activity.note(f"Execution {result.name}: {result.status}.")
            self._load_executions()
        elif group == "download":
            activity.note(f"Downloaded to {display_path(result)}.")
        elif group == "deploy":
            self.endpoint = result.url
            activity.note(f"Deployed: {result.url}" + (f" (revision {result.revision})" if result.revision else ""))
            self.render_endpoint()
        elif group == "teardown":
            activity.note(f"Deleted {len(result)} resource(s).")
            self.refresh_all()
            self.render_summary()

    @on(TaskFailed)
    def _failed(self, message: TaskFailed) -> None:
        if message.group not in ("executions", "resources"):
            self._finish(message.group)
            self.query_one("#activity", StepList).note(f"{message.group} failed: {message.error}", "warning")
            self.notify(message.error, title=f"{message.group} failed", severity="error", timeout=12)
        elif message.group == "executions":
            self._fill(self.query_one("#executions", DataTable),
                       [(None, "—", f"[red]{escape(message.error)}[/]", "", "", "")])
        else:
            self._fill(self.query_one("#resources", DataTable), [(None, "—", f"[red]{escape(message.error)}[/]", "")])

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        if event.button.id in actions.BY_ID:
            self.app.run_action(event.button.id)

    @on(DataTable.RowSelected, "#executions")
    def _open_logs(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            from tui.screens.logs import LogsScreen

            self.app.push_screen(LogsScreen(execution=str(event.row_key.value)))
