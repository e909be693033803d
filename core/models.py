"""Plain data returned by backends (no SDK types leak out of infra/)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

# Execution status values follow Azure's JobExecutionRunningState; the local backend uses the same.
RUNNING_STATES = {"Running", "Processing"}
TERMINAL_STATES = {"Succeeded", "Failed", "Stopped", "Degraded", "Unknown"}


@dataclass
class Execution:
    name: str
    status: str  # Queued | Running | Processing | Succeeded | Failed | Stopped | Degraded | Unknown
    run_id: Optional[str] = None
    start_time: Optional[str] = None  # ISO-8601
    end_time: Optional[str] = None
    exit_code: Optional[int] = None
    reason: Optional[str] = None  # why it failed, one line
    adapter_path: Optional[str] = None  # where the adapter of a succeeded run is (remote or local)
    links: dict = field(default_factory=dict)  # name -> portal URL

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATES

    @property
    def duration_s(self) -> Optional[float]:
        from datetime import datetime, timezone

        if not self.start_time:
            return None
        start = datetime.fromisoformat(self.start_time.replace("Z", "+00:00"))
        end = (
            datetime.fromisoformat(self.end_time.replace("Z", "+00:00"))
            if self.end_time
            else datetime.now(timezone.utc)
        )
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        if end.tzinfo is None:
            end = end.replace(tzinfo=timezone.utc)
        return max(0.0, (end - start).total_seconds())

    def to_json(self) -> dict:
        out = asdict(self)
        out["duration_s"] = self.duration_s
        return out


@dataclass
class Endpoint:
    url: str
    app: str = ""
    revision: Optional[str] = None
    detail: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class SyncResult:
    uploaded: list = field(default_factory=list)  # relative paths
    deleted: list = field(default_factory=list)
    unchanged: int = 0
    bytes_uploaded: int = 0
    dry_run: bool = False
    requests: int = 0  # requests sent (0 when not counted)
    held_back: dict = field(default_factory=dict)  # secret-shaped path -> the pattern that kept it local

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class PlannedChange:
    """One resource in a provisioning preview."""

    resource: str  # stable id: resource_group, storage, fileservice, share, workspace, environment, envstorage, job, app
    name: str
    action: str  # create | update | unchanged | delete
    changes: dict = field(default_factory=dict)  # property path -> [old, new]
    link: Optional[str] = None

    def to_json(self) -> dict:
        return asdict(self)
