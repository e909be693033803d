"""The one interface every cloud implements: ``infra/azure`` (real Azure) and ``infra/local``.

Front ends call ``open_backend(project)`` and then these methods; long operations report events
(``core.events``) through ``on_event`` and return plain data (``core.models``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional, Protocol

from core.events import EventSink, ignore
from core.models import Endpoint, Execution, PlannedChange, SyncResult


class Backend(Protocol):
    name: str  # "azure" | "local"

    def describe(self) -> dict: ...  # where things are / resource states, for `status`

    # provisioning: kind is "finetuning" or "inference"
    def plan(self, kind: str, *, on_event: EventSink = ignore) -> list[PlannedChange]: ...

    def provision(self, kind: str, *, on_event: EventSink = ignore) -> dict: ...

    def teardown(self, *, on_event: EventSink = ignore) -> list[str]: ...

    # fine-tuning
    def sync(
        self, *, dry_run: bool = False, force: bool = False, delete: bool = False, on_event: EventSink = ignore
    ) -> SyncResult: ...

    def run(self, *, resume: Optional[str] = None, on_event: EventSink = ignore) -> Execution: ...

    def executions(self) -> list[Execution]: ...

    def execution(self, name: Optional[str] = None) -> Execution: ...

    def stop(self, name: Optional[str] = None) -> Execution: ...

    def download(self, remote_path: Optional[str], to: Path, *, on_event: EventSink = ignore) -> Path: ...

    # logs: yields core.events.LogLine and core.events.StreamState
    def logs(
        self,
        *,
        execution: Optional[str] = None,
        inference: bool = False,
        follow: bool = True,
        system: bool = False,
        since: Optional[float] = None,  # seconds
    ) -> Iterator[object]: ...

    # secrets: values never returned by list
    def secret_set(self, name: str, value: str, *, inference: bool = False) -> None: ...

    def secret_list(self, *, inference: bool = False) -> list[str]: ...

    def secret_get(self, name: str, *, inference: bool = False) -> str: ...

    def secret_remove(self, name: str, *, inference: bool = False) -> None: ...

    # inference
    def deploy(self, *, on_event: EventSink = ignore) -> Endpoint: ...


def open_backend(project, target: Optional[str] = None) -> Backend:
    """The backend for a project: ``target`` overrides the project's TARGET."""
    chosen = (target or project.target).lower()
    if chosen == "local":
        from infra.local.backend import LocalBackend

        return LocalBackend(project)
    if chosen == "azure":
        from infra.azure.backend import AzureBackend

        return AzureBackend(project)
    from core.errors import InputError

    raise InputError(f"Unknown target {chosen!r}.", field="--target", fix="use --target azure or --target local")
