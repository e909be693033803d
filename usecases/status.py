"""What a project's status is, one flow for ``ftstudio status`` and the dashboard: where its resources
are and their state (the backend's ``describe``: reads, never the provisioning preflight), the
executions, and the inference endpoint."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from core.errors import FtError


@dataclass(frozen=True)
class ResourceRow:
    kind: str  # "storage account", "fine-tuning job", "share"...
    name: str
    state: str = ""  # the resource's provisioning state ("Succeeded", "missing"...); "" for a place
    link: Optional[str] = None  # portal link


@dataclass
class Status:
    target: str
    resources: dict  # as the backend described them (the `--json` document's shape)
    executions: list = field(default_factory=list)
    executions_error: Optional[str] = None  # why the executions could not be listed
    endpoint: Optional[str] = None

    @property
    def rows(self) -> list[ResourceRow]:
        return resource_rows(self.resources)


def resource_rows(described: dict) -> list[ResourceRow]:
    """The rows of a backend's ``describe()``: {kind: {name, state, link}} for Azure resources,
    {kind: "where"} for places (the subscription, the local share...)."""
    rows = []
    for kind, value in described.items():
        if isinstance(value, dict):
            rows.append(ResourceRow(kind, str(value.get("name") or ""), str(value.get("state") or ""), value.get("link")))
        elif value not in (None, ""):
            rows.append(ResourceRow(kind, str(value)))
    return rows


def resources(backend) -> list[ResourceRow]:
    return resource_rows(backend.describe())


def endpoint(project) -> Optional[str]:
    return project.inference_config().get("ACA_APP_ENDPOINT") or project.state().get("endpoint") or None


def status(project, backend) -> Status:
    """Everything ``status`` shows; executions that cannot be listed (not provisioned yet, no
    access...) are reported, not raised, so the rest still shows."""
    result = Status(target=backend.name, resources=backend.describe(), endpoint=endpoint(project))
    try:
        result.executions = backend.executions()
    except FtError as err:
        result.executions_error = err.one_line()
    return result
