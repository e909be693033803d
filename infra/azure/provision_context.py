"""What one provision, preview or teardown works in: the session, the settings, the event sink, and
what earlier steps learnt (the workspace's customerId, the app's endpoint, each step's result)."""
from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

from core.events import EventSink
from infra.azure.bodies import Settings
from infra.azure.names import ResourceNames

# .ftstudio/state.json: what provision created, so teardown deletes only that
STATE_CREATED = "created_resources"  # resource id (lower) -> step
STATE_CREATED_RG = "created_resource_group"


@dataclass
class Context:
    backend: Any
    session: Any
    settings: Settings
    emit: EventSink
    lock: threading.Lock = field(default_factory=threading.Lock)
    customer_id: Optional[str] = None
    results: dict = field(default_factory=dict)  # step -> {"result", "changes"}
    endpoint: Optional[str] = None

    @property
    def project(self):
        return self.backend.project

    @property
    def rg(self) -> str:
        return self.settings.resource_group

    @property
    def names(self) -> ResourceNames:
        return self.settings.names


def serialized(on_event: EventSink) -> EventSink:
    """Steps run in parallel threads: one event at a time reaches the front end."""
    lock = threading.Lock()

    def emit(event) -> None:
        with lock:
            on_event(event)

    return emit


def session_for(backend, subscription_id: str):
    session = backend.session
    if session.subscription_id != subscription_id:
        session = dataclasses.replace(session, subscription_id=subscription_id)
    return session


def config_of(project, kind: str) -> tuple:
    """(read, update) of infra/<kind>.config.json."""
    if kind == "finetuning":
        return project.finetuning_config, project.update_finetuning_config
    return project.inference_config, project.update_inference_config
