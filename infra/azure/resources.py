"""One record per Azure resource kind, in ``RECORDS``: its id (the step), title, which provisioning
kinds need it, its id and name, how to read it, its desired body, how to create / update / delete
it, what it depends on, the config key it fills and how ``ftstudio status`` shows it.

Plan, apply, teardown and status iterate ``RECORDS`` (``provision.py``, ``apply.py``,
``teardown.py``, ``describe.py``): adding a resource is one record here, plus its body in
``bodies.py`` (pure, shared with the bicep) and, when it needs more than one call, its writes in
``resource_writes.py``. Callables take the provisioning ``Context``; nothing here imports an SDK.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, Callable, Optional

from core.project_files import PROVISION_KINDS
from infra.azure import bodies as B
from infra.azure import resource_writes as W
from infra.azure.bodies import (  # noqa: F401 - the settings and bodies, for callers that see the resources as one module
    NOT_COMPARED, TAG_CREATED_BY, TAG_PROJECT, Settings, app_body, envstorage_body, environment_body,
    file_service_body, int_param, job_body, settings_from_parameters, share_body, storage_body, workspace_body,
)
from infra.azure.names import FIELD_PARAMETERS, ResourceNames
from infra.azure.plan import UNKNOWN

FT, INF = PROVISION_KINDS
BOTH = PROVISION_KINDS
# config keys that are not a resource's name (the resource group's record fills them)
SUBSCRIPTION_KEY = "SUBSCRIPTION_ID"
LOCATION_KEY = "LOCATION"
RESOURCE_GROUP_KEY = "RESOURCE_GROUP_NAME"


@dataclass(frozen=True)
class ResourceKind:
    step: str  # its id: events, plan rows, results, state
    title: str  # what messages call it: "<title> <name>"
    kinds: tuple  # the provisioning kinds (core.project_files.PROVISION_KINDS) that need it
    path: str  # its id below the resource group, a template over the names ("" for the group itself)
    name: str  # a template over the names and {resource_group}
    read: Callable[[Any], Optional[dict]]  # wire form, None when it does not exist
    desired: Optional[Callable[[Any], dict]] = None  # None: only its existence matters
    create: Optional[Callable[[Any, Optional[dict]], Any]] = None  # None: it comes with its parent, only updated
    update: Optional[Callable[[Any, dict, dict], Any]] = None  # (ctx, desired, actual)
    delete: Optional[Callable[[Any], Any]] = None  # None: it goes with its parent
    after: tuple = ()  # steps applied before it (apply runs the rest in parallel)
    parent: Optional[str] = None  # deleted with it; its portal blade shows this one
    config_key: Optional[str] = None  # where provision writes its name (infra/<kind>.config.json)
    outputs: tuple = ()  # other config keys it fills: (key, value(ctx))
    status: Optional[str] = None  # its row in `ftstudio status`
    write_only: frozenset = frozenset()  # sent, never returned: never compared
    check: Optional[Callable[[Any, Optional[dict]], None]] = None  # refuses an existing one apply cannot fix
    drift: Optional[Callable[[dict], dict]] = None  # changes the body diff cannot see
    learn: Optional[Callable[[Any, dict], None]] = None  # what later steps need of it (as read, as applied)
    shown_as: Optional[str] = None  # the name in titles, when the name alone says too little
    scope: bool = False  # the resource group: holds the others, deleted last and only when empty

    def _names(self, s: Settings) -> dict:
        return {**s.names.as_dict(), "resource_group": s.resource_group}

    def id_for(self, subscription_id: str, resource_group: str, **names: str) -> str:
        """Its id from the names its path needs (``job=...``): what is known outside a provision."""
        base = f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        return f"{base}/{self.path.format(**names)}" if self.path else base

    def resource_id(self, s: Settings) -> str:
        return self.id_for(s.subscription_id, s.resource_group, **s.names.as_dict())

    def name_of(self, s: Settings) -> str:
        return self.name.format(**self._names(s))

    @property
    def name_field(self) -> Optional[str]:
        """The ResourceNames field that names it, when its name is exactly one."""
        inner = self.name[1:-1]
        return inner if self.name == "{" + inner + "}" and inner in _NAME_FIELDS else None

    @property
    def parameter(self) -> Optional[str]:
        """The parameters-file key that names it (``storageAccountName``...), as names.py maps it."""
        return FIELD_PARAMETERS.get(self.name_field) if self.name_field else None

    def title_of(self, s: Settings) -> str:
        return f"{self.title} {(self.shown_as or self.name).format(**self._names(s))}"

    def portal_link(self, s: Settings) -> str:
        # children have no blade of their own: link their parent
        rid = (record(self.parent) if self.parent else self).resource_id(s)
        return f"https://portal.azure.com/#@/resource{rid}/overview"

    @property
    def ignore(self) -> set:
        return set(self.write_only) | NOT_COMPARED

    @property
    def config_keys(self) -> tuple:
        return ((self.config_key,) if self.config_key else ()) + tuple(k for k, _ in self.outputs)

    def config(self, ctx) -> dict:
        values = {self.config_key: self.name_of(ctx.settings)} if self.config_key else {}
        return {**values, **{k: fn(ctx) for k, fn in self.outputs}}


def _environment_body(ctx) -> dict:
    s = ctx.settings
    if "env_max_instances" in s.extra:  # inference: the environment's node count is fine-tuning's
        s = dataclasses.replace(s, max_instances=s.extra["env_max_instances"])
    return B.environment_body(s, ctx.customer_id or UNKNOWN, None)


_NAME_FIELDS = tuple(f.name for f in fields(ResourceNames))
_STORAGE = "providers/Microsoft.Storage/storageAccounts/{storage}"
_ENV = B.ENVIRONMENT_PATH

# In dependency order: apply starts a record once everything in its ``after`` is done; teardown
# goes backwards.
RECORDS: tuple = (
    ResourceKind(
        "resource_group", "Resource group", BOTH, "", "{resource_group}", scope=True,
        read=lambda c: W.get_or_none(c.session.resources.resource_groups.get, c.rg),
        create=W.create_resource_group,
        delete=lambda c: c.session.resources.resource_groups.begin_delete(c.rg).result(),
        config_key=RESOURCE_GROUP_KEY,
        outputs=((SUBSCRIPTION_KEY, lambda c: c.settings.subscription_id), (LOCATION_KEY, lambda c: c.settings.location)),
    ),
    ResourceKind(
        "storage", "Storage account", BOTH, _STORAGE, "{storage}", after=("resource_group",),
        read=lambda c: W.get_or_none(c.session.storage.storage_accounts.get_properties, c.rg, c.names.storage),
        desired=lambda c: B.storage_body(c.settings), create=W.put_storage, update=W.put_storage,
        delete=lambda c: c.session.storage.storage_accounts.delete(c.rg, c.names.storage),
        config_key="STORAGE_ACCOUNT_NAME", status="storage account",
    ),
    ResourceKind(
        # share soft delete; the file service exists with its account, so it is never "created"
        "fileservice", "File service", BOTH, _STORAGE + "/fileServices/default", B.FILE_SERVICE_NAME,
        shown_as="{storage}/" + B.FILE_SERVICE_NAME, after=("storage",), parent="storage",
        read=lambda c: W.get_or_none(c.session.storage.file_services.get_service_properties, c.rg, c.names.storage),
        desired=lambda c: B.file_service_body(c.settings), update=W.update_file_service,
    ),
    ResourceKind(
        "share", "File share", BOTH, _STORAGE + "/fileServices/default/shares/{share}", "{share}",
        after=("fileservice",), parent="storage",
        read=lambda c: W.get_or_none(c.session.storage.file_shares.get, c.rg, c.names.storage, c.names.share),
        desired=lambda c: B.share_body(c.settings),
        create=lambda c, want: c.session.storage.file_shares.create(c.rg, c.names.storage, c.names.share, want),
        update=lambda c, want, _: c.session.storage.file_shares.update(c.rg, c.names.storage, c.names.share, want),
        delete=lambda c: c.session.storage.file_shares.delete(c.rg, c.names.storage, c.names.share),
        config_key="FILE_SHARE_NAME",
    ),
    ResourceKind(
        "workspace", "Log Analytics workspace", BOTH, "providers/Microsoft.OperationalInsights/workspaces/{workspace}",
        "{workspace}", after=("resource_group",),
        read=lambda c: W.get_or_none(c.session.loganalytics.workspaces.get, c.rg, c.names.workspace),
        desired=lambda c: B.workspace_body(c.settings), create=W.put_workspace, update=W.put_workspace,
        delete=lambda c: c.session.loganalytics.workspaces.begin_delete(c.rg, c.names.workspace).result(),
        learn=W.learn_customer_id, config_key="LOG_ANALYTICS_NAME", status="log analytics",
    ),
    ResourceKind(
        # after the share too: a failed storage step stops before the environment is created
        "environment", "Container Apps environment", BOTH, _ENV, "{environment}", after=("workspace", "share"),
        read=lambda c: W.get_or_none(c.session.appcontainers.managed_environments.get, c.rg, c.names.environment),
        desired=_environment_body, create=W.put_environment, update=W.put_environment,
        check=W.check_environment_gpu,
        delete=lambda c: c.session.appcontainers.managed_environments.begin_delete(c.rg, c.names.environment).result(),
        write_only=frozenset({"properties.appLogsConfiguration.logAnalyticsConfiguration.sharedKey"}),
        config_key="ACA_ENVIRONMENT_NAME", status="environment",
    ),
    ResourceKind(
        "envstorage", "Environment storage", BOTH, _ENV + "/storages/{envstorage}", "{envstorage}",
        after=("environment", "share"), parent="environment",
        read=lambda c: W.get_or_none(c.session.appcontainers.managed_environments_storages.get, c.rg,
                                     c.names.environment, c.names.envstorage),
        desired=lambda c: B.envstorage_body(c.settings, None), create=W.put_envstorage, update=W.put_envstorage,
        delete=lambda c: c.session.appcontainers.managed_environments_storages.delete(
            c.rg, c.names.environment, c.names.envstorage),
        write_only=frozenset({"properties.azureFile.accountKey"}), config_key="ACA_ENVIRONMENT_STORAGE_NAME",
    ),
    ResourceKind(
        "job", "Fine-tuning job", (FT,), "providers/Microsoft.App/jobs/{job}", "{job}", after=("envstorage",),
        read=lambda c: W.get_or_none(c.session.appcontainers.jobs.get, c.rg, c.names.job),
        desired=lambda c: B.job_body(c.settings),
        create=lambda c, want: c.session.appcontainers.jobs.begin_create_or_update(
            c.rg, c.names.job, W.with_tags(c, want)).result(),
        update=lambda c, want, actual: c.session.appcontainers.jobs.begin_update(
            c.rg, c.names.job, W.patch_body(want, actual)).result(),
        delete=lambda c: c.session.appcontainers.jobs.begin_delete(c.rg, c.names.job).result(),
        write_only=frozenset({"properties.configuration.secrets"}), config_key="ACA_JOB_NAME",
        status="fine-tuning job",
    ),
    ResourceKind(
        "app", "Inference app", (INF,), "providers/Microsoft.App/containerApps/{app}", "{app}",
        after=("envstorage",),
        read=lambda c: W.get_or_none(c.session.appcontainers.container_apps.get, c.rg, c.names.app),
        desired=lambda c: B.app_body(c.settings, None), create=W.create_app, update=W.update_app,
        drift=W.app_key_missing, learn=W.learn_endpoint,
        delete=lambda c: c.session.appcontainers.container_apps.begin_delete(c.rg, c.names.app).result(),
        write_only=frozenset({"properties.configuration.secrets"}), config_key="ACA_APP_NAME",
        outputs=(("ACA_APP_ENDPOINT", lambda c: c.endpoint),), status="inference app",
    ),
)


# -- lookups (RECORDS is read at call time, so a test may add a record) ------------------------------------------
def record(step: str) -> ResourceKind:
    for rec in RECORDS:
        if rec.step == step:
            return rec
    raise KeyError(step)


def records_for(kind: str) -> tuple:
    return tuple(rec for rec in RECORDS if kind in rec.kinds)


def steps(kind: str) -> tuple:
    """The steps of a provisioning kind below its resource group (what the bicep declares)."""
    return tuple(rec.step for rec in records_for(kind) if not rec.scope)


def config_keys(kind: str) -> tuple:
    """The keys of infra/<kind>.config.json that provision fills and teardown clears."""
    return tuple(key for rec in records_for(kind) for key in rec.config_keys)


def names_in_configs(configs) -> dict:
    """{ResourceNames field: name} from config files, the first file naming a resource winning."""
    out: dict = {}
    for cfg in configs:
        for rec in RECORDS:
            value = cfg.get(rec.config_key) if rec.config_key and rec.name_field else None
            if value and rec.name_field not in out:
                out[rec.name_field] = value
    return out


def saved_names(project, subscription_id: str, resource_group: str) -> dict:
    """Names an earlier provision wrote, when they belong to this subscription and resource group."""
    same = [cfg for cfg in (project.finetuning_config(), project.inference_config())
            if cfg.get(SUBSCRIPTION_KEY) == subscription_id
            and (cfg.get(RESOURCE_GROUP_KEY) or "").lower() == resource_group.lower()]
    return names_in_configs(same)


def resource_id(s: Settings, step: str) -> str:
    return record(step).resource_id(s)


def resource_name(s: Settings, step: str) -> str:
    return record(step).name_of(s)


# the steps per provisioning kind (what the bicep declares)
FINETUNING_STEPS = steps(FT)
INFERENCE_STEPS = steps(INF)
