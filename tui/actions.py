"""THE action registry: one list feeds the key bindings, the command palette and the help screen.

Each action names an ``App.action_<id>`` method. ``when`` says in which context it is offered
(Posting-style context-aware palette): no project, any project, an Azure project, a provisioned one...
The palette provider and ``App.check_action`` both ask ``available()``, so a command the palette
hides is also a key that does nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Callable, Iterable, Optional

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:  # pragma: no cover
    from tui.app import FtStudioApp


# -- contexts ---------------------------------------------------------------------------------------
def always(app: "FtStudioApp") -> bool:
    return True


def has_project(app: "FtStudioApp") -> bool:
    return app.project is not None


def azure_project(app: "FtStudioApp") -> bool:
    return app.project is not None and app.project.target == "azure"


def finetuning_ready(app: "FtStudioApp") -> bool:
    """Runs need the job (Azure: provisioned; local: always there)."""
    if app.project is None:
        return False
    if app.project.target == "local":
        return True
    return bool(app.project.finetuning_config().get("ACA_JOB_NAME"))


def inference_ready(app: "FtStudioApp") -> bool:
    if app.project is None:
        return False
    if app.project.target == "local":
        return True
    return bool(app.project.inference_config().get("ACA_APP_NAME"))


def has_resources(app: "FtStudioApp") -> bool:
    return azure_project(app) and (finetuning_ready(app) or inference_ready(app))


@dataclass(frozen=True)
class Action:
    id: str  # the App method is action_<id>
    title: str  # "category: Action", as the palette shows it
    help: str  # one line for the palette and the help screen
    key: Optional[str] = None  # key binding, when it has one
    when: Callable[["FtStudioApp"], bool] = always
    show: bool = False  # shown in the footer

    @property
    def category(self) -> str:
        return self.title.split(":", 1)[0]

    def available(self, app: "FtStudioApp") -> bool:
        try:
            return bool(self.when(app))
        except Exception:  # a broken config file must not break the palette
            return False


ACTIONS: tuple[Action, ...] = (
    # app
    Action("home", "app: Home", "Recent projects, new project, open folder", "ctrl+o"),
    Action("help", "app: Keys and commands", "Every command, its key and when it is offered", "f1", show=True),
    Action("change_theme", "app: Change theme", "Pick a colour theme"),
    Action("quit", "app: Quit", "Leave ftstudio", "ctrl+q", show=True),
    # project
    Action("new_project", "project: New fine-tuning project", "Pick a model in the catalog and configure a project", "ctrl+n"),
    Action("open_folder", "project: Open folder", "Open an existing ftstudio project folder"),
    Action("dashboard", "project: Show dashboard", "Files, resources, executions and endpoint", "ctrl+d", when=has_project),
    Action("refresh", "project: Refresh", "Reload resources and executions", "f5", when=has_project),
    # fine-tuning
    Action("provision_finetuning", "fine-tuning: Provision Azure Container Apps job",
           "Subscription, resource group, GPU location, preview, apply", when=azure_project),
    Action("sync", "fine-tuning: Sync workspace", "Upload changed project files to the share", when=finetuning_ready),
    Action("run_job", "fine-tuning: Run", "Sync, start the fine-tuning job and follow its logs", "ctrl+r", when=finetuning_ready),
    Action("resume_job", "fine-tuning: Resume latest run", "Re-run the latest unfinished run from its last checkpoint",
           when=finetuning_ready),
    Action("stop_job", "fine-tuning: Stop execution", "Stop the running execution", when=finetuning_ready),
    Action("download", "fine-tuning: Download outputs", "Download the latest succeeded run's adapter", when=finetuning_ready),
    # logs
    Action("logs", "logs: Show streaming logs", "Live console logs of the latest execution", "ctrl+l", when=finetuning_ready),
    Action("inference_logs", "logs: Show inference logs", "Live console logs of the inference app", when=inference_ready),
    # secrets
    Action("add_secret", "secrets: Add job secret", "Add a secret env var to the fine-tuning job", when=finetuning_ready),
    Action("secrets", "secrets: Manage job secrets", "List and remove the job's secrets", when=finetuning_ready),
    Action("add_inference_secret", "secrets: Add inference secret", "Add a secret env var to the inference app",
           when=inference_ready),
    Action("inference_secrets", "secrets: Manage inference secrets", "List and remove the inference app's secrets",
           when=inference_ready),
    # inference
    Action("provision_inference", "inference: Provision Azure Container App", "Create the inference app", when=azure_project),
    Action("deploy", "inference: Deploy", "Sync the code, roll a new revision, wait until ready", when=inference_ready),
    # azure
    Action("teardown", "azure: Delete provisioned resources", "Delete what provision created", when=has_resources),
)

BY_ID = {a.id: a for a in ACTIONS}


def bindings() -> list[Binding]:
    return [
        Binding(a.key, a.id, a.title.split(": ", 1)[1], show=a.show, priority=a.key.startswith("ctrl"))
        for a in ACTIONS
        if a.key
    ]


def available(app: "FtStudioApp") -> list[Action]:
    return [a for a in ACTIONS if a.available(app)]


class ActionsProvider(Provider):
    """The command palette's provider over the registry, filtered by the app's context."""

    def _actions(self) -> Iterable[Action]:
        return available(self.app)  # type: ignore[arg-type]

    async def discover(self) -> Hits:
        for action in self._actions():
            yield DiscoveryHit(action.title, partial(self.app.run_action, action.id), help=action.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action in self._actions():
            score = matcher.match(action.title)
            if score > 0:
                yield Hit(score, matcher.highlight(action.title), partial(self.app.run_action, action.id),
                          help=action.help)
