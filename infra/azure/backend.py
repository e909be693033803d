"""AzureBackend: the Backend interface over Azure, delegating each concern to its own module.

provision.py (plan/provision/teardown), sync.py (workspace → Azure Files, download), jobs.py (run,
executions, stop), logs.py (log streams, Log Analytics history), secrets.py (job/app secrets),
deploy.py (inference revisions). Modules import the SDKs lazily.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from dataclasses import dataclass
from core.events import EventSink, ignore
from core.models import Endpoint, Execution, PlannedChange, SyncResult

if TYPE_CHECKING:  # pragma: no cover
    from infra.backend import LogStream


@dataclass
class LogCaches:
    """What the log streams keep between calls: one HTTP session, the workspace's customer id."""

    http: object = None  # requests.Session
    customer_id: Optional[str] = None


class AzureBackend:
    name = "azure"

    def __init__(self, project, session=None, inputs=None):
        self.project = project
        self._session = session  # given (tests, the provision wizard), else built on first use
        # infra.azure.inputs.AzureInputs for provisioning when the caller resolved them up front; a
        # plan/provision call's own ``inputs`` wins, and without either the saved ones are resolved
        self.inputs = inputs
        self.log_caches = LogCaches()

    @property
    def session(self):
        if self._session is None:
            from infra.azure.session import AzureSession

            self._session = AzureSession(subscription_id=self.subscription_id)
        return self._session

    def session_for(self, subscription_id: Optional[str]):
        """A session on another subscription (the provision inputs' choices), sharing this one's login."""
        from infra.azure.provision_context import session_for

        return session_for(self, subscription_id)

    @property
    def subscription_id(self) -> Optional[str]:
        """Saved in the project by provision (flag/env at provision time win; see provision.py)."""
        return (
            self.project.finetuning_config().get("SUBSCRIPTION_ID")
            or self.project.inference_config().get("SUBSCRIPTION_ID")
            or self.project.state().get("subscription_id")
            or os.environ.get("AZURE_SUBSCRIPTION_ID")
        )

    def describe(self) -> dict:
        """The provisioned resources with their state (for `ftstudio status`)."""
        from infra.azure import describe

        return describe.describe(self)

    # -- provisioning ------------------------------------------------------------------------------
    def plan(self, kind: str, *, inputs=None, on_event: EventSink = ignore) -> list[PlannedChange]:
        from infra.azure import provision

        return provision.plan(self, kind, on_event=on_event, inputs=inputs)

    def provision(self, kind: str, *, inputs=None, on_event: EventSink = ignore) -> dict:
        from infra.azure import provision

        return provision.provision(self, kind, on_event=on_event, inputs=inputs)

    def teardown(self, *, on_event: EventSink = ignore) -> list[str]:
        from infra.azure import provision

        return provision.teardown(self, on_event=on_event)

    # -- fine-tuning ---------------------------------------------------------------------------------
    def sync(self, *, dry_run: bool = False, force: bool = False, delete: bool = False,
             on_event: EventSink = ignore) -> SyncResult:
        from infra.azure import sync

        return sync.sync(self, dry_run=dry_run, force=force, delete=delete, on_event=on_event)

    def run(self, *, resume: Optional[str] = None, on_event: EventSink = ignore) -> Execution:
        from infra.azure import jobs

        return jobs.run(self, resume=resume, on_event=on_event)

    def executions(self) -> list[Execution]:
        from infra.azure import jobs

        return jobs.executions(self)

    def running_executions(self) -> list[Execution]:
        """Executions still running: a front end asks before ``run`` starts another one."""
        from infra.azure import jobs

        return jobs.running_executions(self)

    def execution(self, name: Optional[str] = None) -> Execution:
        from infra.azure import jobs

        return jobs.execution(self, name)

    def stop(self, name: Optional[str] = None) -> Execution:
        from infra.azure import jobs

        return jobs.stop(self, name)

    def download(self, remote_path: Optional[str], to: Path, *, on_event: EventSink = ignore) -> Path:
        from infra.azure.download import download

        return download(self, remote_path, to, on_event=on_event)

    # -- logs ------------------------------------------------------------------------------------------
    def logs(self, *, execution: Optional[str] = None, inference: bool = False, follow: bool = True,
             system: bool = False, since: Optional[float] = None) -> "LogStream":
        from infra.azure import logs

        return logs.logs(self, execution=execution, inference=inference, follow=follow, system=system, since=since)

    # -- secrets ---------------------------------------------------------------------------------------
    def secret_set(self, name: str, value: str, *, inference: bool = False) -> None:
        from infra.azure import secrets

        secrets.secret_set(self, name, value, inference=inference)

    def secret_list(self, *, inference: bool = False) -> list[str]:
        from infra.azure import secrets

        return secrets.secret_list(self, inference=inference)

    def secret_get(self, name: str, *, inference: bool = False) -> str:
        from infra.azure import secrets

        return secrets.secret_get(self, name, inference=inference)

    def secret_remove(self, name: str, *, inference: bool = False) -> None:
        from infra.azure import secrets

        secrets.secret_remove(self, name, inference=inference)

    # -- inference ----------------------------------------------------------------------------------------
    def deploy(self, *, on_event: EventSink = ignore) -> Endpoint:
        from infra.azure import deploy

        return deploy.deploy(self, on_event=on_event)
