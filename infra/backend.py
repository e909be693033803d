"""The one interface every cloud implements: ``infra/azure`` (real Azure) and ``infra/local``.

Front ends call ``open_backend(project)`` and then these methods; long operations report events
(``core.events``) through ``on_event`` and return plain data (``core.models``). Everything a call
needs is an argument (the provisioning ``inputs`` too): nobody sets attributes on a backend from
outside, and nobody reaches into one's private state.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional, Protocol, runtime_checkable

from core.events import EventSink, ignore
from core.models import Endpoint, Execution, PlannedChange, SyncResult


@runtime_checkable
class LogStream(Protocol):
    """Log events (``core.events.LogLine`` / ``StreamState``) that can be stopped from ANY thread:
    ``abort()`` ends the iteration at once, even while a read is blocked on a quiet stream."""

    def __iter__(self) -> Iterator[object]: ...

    def __next__(self) -> object: ...

    def abort(self) -> None: ...

    def close(self) -> None: ...


class Backend(Protocol):
    name: str  # "azure" | "local"

    def describe(self) -> dict: ...  # where things are / resource states, for `status`

    # provisioning: kind is "finetuning" or "inference"; ``inputs``: the resolved Azure inputs
    # (infra.azure.inputs.AzureInputs) when the front end resolved them, else the saved ones are used
    def plan(self, kind: str, *, inputs=None, on_event: EventSink = ignore) -> list[PlannedChange]: ...

    def provision(self, kind: str, *, inputs=None, on_event: EventSink = ignore) -> dict: ...

    def teardown(self, *, on_event: EventSink = ignore) -> list[str]: ...

    # fine-tuning
    def sync(
        self, *, dry_run: bool = False, force: bool = False, delete: bool = False, on_event: EventSink = ignore
    ) -> SyncResult: ...

    def run(self, *, resume: Optional[str] = None, on_event: EventSink = ignore) -> Execution: ...

    def executions(self) -> list[Execution]: ...

    def running_executions(self) -> list[Execution]: ...  # queued or running: not ended

    def execution(self, name: Optional[str] = None) -> Execution: ...

    def stop(self, name: Optional[str] = None) -> Execution: ...

    def download(self, remote_path: Optional[str], to: Path, *, on_event: EventSink = ignore) -> Path: ...

    def logs(
        self,
        *,
        execution: Optional[str] = None,
        inference: bool = False,
        follow: bool = True,
        system: bool = False,
        since: Optional[float] = None,  # seconds
    ) -> LogStream: ...

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
