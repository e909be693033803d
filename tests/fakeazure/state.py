"""The in-memory Azure: subscriptions, providers, resources, operations, shares, log tables.

Every handler takes ``state.lock``; ``state.cond`` (same lock) is notified whenever a log
line, event or execution status changes so log streams can wake up.
"""
from __future__ import annotations

import copy
import hashlib
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Optional

from . import util

GPU_TYPES = {
    # workload profile type -> (gpu family, cores, memoryGiB, gpus, category, display)
    "Consumption-GPU-NC24-A100": ("A100", 24, 220, 1, "GPU-NC-A100", "Consumption - GPU NC24-A100"),
    "Consumption-GPU-NC8as-T4": ("T4", 8, 56, 1, "GPU-NC-T4", "Consumption - GPU NC8as-T4"),
    "NC24-A100": ("A100", 24, 220, 1, "GPU-NC-A100", "Dedicated-NC24-A100"),
    "NC48-A100": ("A100", 48, 440, 2, "GPU-NC-A100", "Dedicated-NC48-A100"),
    "NC96-A100": ("A100", 96, 880, 4, "GPU-NC-A100", "Dedicated-NC96-A100"),
}
CPU_TYPES = {
    # type -> (cores, memoryGiB, category, applicability)
    "Consumption": (4, 8, "Consumption", "LocationDefault"),
    "D4": (4, 16, "GeneralPurpose", "Custom"),
    "D8": (8, 32, "GeneralPurpose", "Custom"),
    "D16": (16, 64, "GeneralPurpose", "Custom"),
    "E4": (4, 32, "MemoryOptimized", "Custom"),
    "E8": (8, 64, "MemoryOptimized", "Custom"),
    "E16": (16, 128, "MemoryOptimized", "Custom"),
    "F4": (4, 8, "ComputeOptimized", "Custom"),
    "F8": (8, 16, "ComputeOptimized", "Custom"),
    "F16": (16, 32, "ComputeOptimized", "Custom"),
}
# older generic dedicated type names still accepted in environment definitions
LEGACY_TYPES = {"GeneralPurpose": "D4", "MemoryOptimized": "E4", "ComputeOptimized": "F4"}
# Regions offering serverless/dedicated GPUs (gpu-serverless-overview.md table); configurable.
DEFAULT_GPU_LOCATIONS = {
    "westus3": {"A100", "T4"},
    "westus": {"A100"},
    "australiaeast": {"A100", "T4"},
    "swedencentral": {"A100", "T4"},
    "westeurope": {"T4"},
}
DEFAULT_QUOTAS = {
    "ManagedEnvironmentCount": ("Managed Environment Count", 50),
    "ManagedEnvironmentConsumptionCores": ("Managed Environment Consumption Cores", 100),
    "SubscriptionConsumptionNCA100Gpus": ("Subscription Consumption NCA100 Gpus", 1),
    "SubscriptionConsumptionT4Gpus": ("Subscription Consumption T4 Gpus", 1),
    "SubscriptionNCA100Gpus": ("Subscription NCA100 Gpus", 0),
}
DEFAULT_PROVIDERS = [
    "Microsoft.App",
    "Microsoft.Storage",
    "Microsoft.OperationalInsights",
    "Microsoft.Resources",
    "Microsoft.ManagedIdentity",
]


@dataclass
class Resource:
    id: str
    type: str
    body: dict  # the wire form, without write-only values
    private: dict = field(default_factory=dict)  # write-only values and fake bookkeeping


@dataclass
class Operation:
    id: str
    kind: str  # "async" (Azure-AsyncOperation), "location" (Location), "body" (provisioningState)
    resource_id: Optional[str]
    pending_polls: int
    fail: Optional[tuple[str, str]]  # (code, message) when the LRO ends Failed
    on_success: Optional[Callable[[], None]] = None
    on_failure: Optional[Callable[[], None]] = None
    final: Optional[Callable[[], tuple[int, Any]]] = None  # Location result (status, json or None)
    status: str = "InProgress"
    started: datetime = field(default_factory=util.now)
    ended: Optional[datetime] = None

    @property
    def done(self) -> bool:
        return self.status != "InProgress"


@dataclass
class FileObj:
    data: bytearray
    md5: Optional[bytes] = None
    content_type: Optional[str] = None
    created: datetime = field(default_factory=util.now)
    modified: datetime = field(default_factory=util.now)
    etag: str = ""
    file_id: str = ""

    def touch(self) -> None:
        self.modified = util.now()
        self.etag = '"0x8D%s"' % hashlib.md5(str(time.time_ns()).encode()).hexdigest()[:13].upper()


@dataclass
class DirObj:
    created: datetime = field(default_factory=util.now)
    etag: str = '"0x8DC0000000000000"'
    file_id: str = ""


class ShareFS:
    """One Azure Files share: directories and files keyed by '/'-joined relative paths."""

    def __init__(self, quota: int = 5120):
        self.quota = quota
        self.dirs: dict[str, DirObj] = {"": DirObj()}
        self.files: dict[str, FileObj] = {}
        self.created = util.now()
        self._next_id = 1

    def next_id(self) -> str:
        self._next_id += 1
        return str(11529285414812647424 + self._next_id)

    def snapshot(self) -> dict[str, bytes]:
        return {p: bytes(f.data) for p, f in sorted(self.files.items())}


@dataclass
class LogRecord:
    ts: datetime
    text: str
    stream: str = "stdout"


class AzureState:
    def __init__(self, tenant_id: str, subscription_id: str, fresh_subscription_id: str):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.tenant_id = tenant_id
        self.subscription_id = subscription_id
        self.fresh_subscription_id = fresh_subscription_id
        self.base_url = ""
        self.generation = 0  # bumped by reset(): stale simulator threads stop
        self._init()

    # -- lifecycle -----------------------------------------------------------------------------
    def _init(self) -> None:
        self.subscriptions: dict[str, dict] = {
            self.subscription_id: {"displayName": "Fake Subscription", "state": "Enabled"},
            self.fresh_subscription_id: {"displayName": "Fresh Subscription", "state": "Enabled"},
        }
        self.providers: dict[str, dict[str, dict]] = {}
        for sub in self.subscriptions:
            self.providers[sub] = {ns.lower(): {"namespace": ns, "state": "Registered", "at": 0.0} for ns in DEFAULT_PROVIDERS}
        # a brand-new subscription: Microsoft.App (and friends) not registered yet
        for ns in ("Microsoft.App", "Microsoft.OperationalInsights"):
            self.providers[self.fresh_subscription_id][ns.lower()]["state"] = "NotRegistered"
        self.resource_groups: dict[tuple[str, str], dict] = {}
        self.resources: dict[str, Resource] = {}
        self.ops: dict[str, Operation] = {}
        self.tokens: dict[str, tuple[str, float]] = {}
        self.taken_storage_names: set[str] = {"taken", "storage", "ftstudiotaken"}
        self.gpu_locations: dict[str, set[str]] = {k: set(v) for k, v in DEFAULT_GPU_LOCATIONS.items()}
        self.quotas: dict[str, dict[str, tuple[str, float]]] = {"*": dict(DEFAULT_QUOTAS)}
        self.shares: dict[tuple[str, str], ShareFS] = {}
        self.log_tables: dict[str, dict[str, list[dict]]] = {}  # customerId -> table -> rows
        self.executions: dict[str, list] = {}  # job id (lower) -> [Execution], oldest first
        self.revisions: dict[str, dict] = {}  # app id (lower) -> {name: Revision}
        self.env_events: dict[str, list] = {}  # env id (lower) -> [event dict]
        # knobs
        self.registration_delay = 0.05
        self.lro_default_polls = 0
        self.executions_page_size = 3
        self.log_ingestion_delay = 0.0
        self.strict_log_tables = True
        self.stream_banner = True
        self.auth_token_ttl = 6 * 3600

    def reset(self) -> None:
        with self.lock:
            self.generation += 1
            self._init()
            self.cond.notify_all()

    # -- lookups used by tests -------------------------------------------------------------------
    def get_resource(self, resource_id: str) -> Optional[dict]:
        with self.lock:
            r = self.resources.get(resource_id.lower().rstrip("/"))
            return copy.deepcopy(r.body) if r else None

    def resource(self, resource_id: str) -> Optional[Resource]:
        return self.resources.get(resource_id.lower().rstrip("/"))

    def list_resources(self, type_: Optional[str] = None) -> list[dict]:
        with self.lock:
            return [copy.deepcopy(r.body) for r in self.resources.values() if type_ is None or r.type.lower() == type_.lower()]

    def files(self, account: str, share: str) -> dict[str, bytes]:
        with self.lock:
            fs = self.shares.get((account.lower(), share.lower()))
            if fs is None:
                raise KeyError(f"share {account}/{share} does not exist")
            return fs.snapshot()

    def dirs(self, account: str, share: str) -> list[str]:
        with self.lock:
            return sorted(d for d in self.shares[(account.lower(), share.lower())].dirs if d)

    def put_file(self, account: str, share: str, path: str, data: bytes) -> None:
        """Seed a file on a share (creating parent directories), as if a job had written it."""
        with self.lock:
            fs = self.shares[(account.lower(), share.lower())]
            write_share_file(fs, path, data)

    def account_keys(self, account: str) -> list[str]:
        with self.lock:
            for r in self.resources.values():
                if r.type == "Microsoft.Storage/storageAccounts" and r.body["name"].lower() == account.lower():
                    return [k["value"] for k in r.private["keys"]]
        return []

    # -- providers --------------------------------------------------------------------------------
    def provider_state(self, sub: str, namespace: str) -> str:
        with self.lock:
            p = self.providers.get(sub, {}).get(namespace.lower())
            if p is None:
                return "NotRegistered"
            if p["state"] == "Registering" and time.monotonic() >= p["at"]:
                p["state"] = "Registered"
            return p["state"]

    def set_provider_state(self, namespace: str, state: str, subscription_id: Optional[str] = None) -> None:
        with self.lock:
            sub = subscription_id or self.subscription_id
            self.providers.setdefault(sub, {})[namespace.lower()] = {"namespace": namespace, "state": state, "at": 0.0}

    # -- GPU regions and quota -----------------------------------------------------------------------
    def set_gpu_locations(self, mapping: dict[str, Any]) -> None:
        """{"westus3": ["A100", "T4"], ...}: exactly these regions offer GPU workload profiles."""
        with self.lock:
            self.gpu_locations = {util.norm_location(k): set(v) for k, v in mapping.items()}

    def set_quota(self, name: str, limit: float, location: Optional[str] = None, localized: Optional[str] = None) -> None:
        with self.lock:
            loc = util.norm_location(location) if location else "*"
            bucket = self.quotas.setdefault(loc, {})
            bucket[name] = (localized or DEFAULT_QUOTAS.get(name, (name, 0))[0], limit)

    def quota_for(self, location: str) -> dict[str, tuple[str, float]]:
        q = dict(self.quotas.get("*", {}))
        q.update(self.quotas.get(util.norm_location(location), {}))
        return q

    def take_storage_name(self, name: str) -> None:
        """Mark a storage account name as used by someone else (globally unique names)."""
        with self.lock:
            self.taken_storage_names.add(name.lower())

    # -- log tables -----------------------------------------------------------------------------------
    def ingest(self, customer_id: Optional[str], table: str, row: dict) -> None:
        if not customer_id:
            return
        self.log_tables.setdefault(customer_id.lower(), {}).setdefault(table, []).append(row)

    def table_rows(self, customer_id: str, table: str) -> Optional[list[dict]]:
        with self.lock:
            t = self.log_tables.get(customer_id.lower(), {}).get(table)
            return list(t) if t is not None else None


def write_share_file(fs: ShareFS, path: str, data: bytes) -> None:
    path = path.strip("/")
    parts = path.split("/")
    for i in range(1, len(parts)):
        d = "/".join(parts[:i])
        if d not in fs.dirs:
            fs.dirs[d] = DirObj(file_id=fs.next_id())
    f = FileObj(bytearray(data), file_id=fs.next_id())
    f.touch()
    fs.files[path] = f
