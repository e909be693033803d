"""The SDK calls behind the records of ``resources.py`` that are more than one line: how a resource
is created or updated without resetting what others set on it, and what apply learns from it.

Every function takes the provisioning ``Context``; ``want`` is the record's desired body and
``actual`` what Azure returned (wire form). SDKs are imported lazily.
"""
from __future__ import annotations

import secrets as _secrets
from typing import Callable, Optional

from core.errors import InputError
from infra.azure import bodies as B
from infra.azure.provision_context import STATE_CREATED_RG


# -- reading --------------------------------------------------------------------------------------------
def as_dict(obj) -> Optional[dict]:
    if obj is None:
        return None
    return obj.as_dict() if hasattr(obj, "as_dict") else dict(obj)


def get_or_none(fn: Callable, *args) -> Optional[dict]:
    """The resource in wire form, or None when it does not exist."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    try:
        return as_dict(fn(*args))
    except ResourceNotFoundError:
        return None
    except HttpResponseError as exc:
        if exc.status_code == 404:
            return None
        if exc.status_code == 409 and "MissingSubscriptionRegistration" in str(exc):
            return None  # nothing of an unregistered provider can exist
        raise


# -- helpers ------------------------------------------------------------------------------------------------
def with_tags(ctx, body: dict, actual: Optional[dict] = None) -> dict:
    """Our tags on creation; on an update, the tags the resource has (never reset someone's)."""
    out = dict(body)
    tags = (actual or {}).get("tags") if actual is not None else ctx.settings.tags
    if tags:
        out["tags"] = tags
    return out


def storage_key(ctx) -> str:
    result = ctx.session.storage.storage_accounts.list_keys(ctx.rg, ctx.names.storage)
    return result.keys_property[0].value


def workspace_key(ctx) -> str:
    return ctx.session.loganalytics.shared_keys.get_shared_keys(ctx.rg, ctx.names.workspace).primary_shared_key


# -- resource group ----------------------------------------------------------------------------------------
def create_resource_group(ctx, _want) -> None:
    ctx.session.resources.resource_groups.create_or_update(
        ctx.rg, {"location": ctx.settings.location, "tags": ctx.settings.tags})
    ctx.project.update_state(**{STATE_CREATED_RG: ctx.rg})


# -- storage -------------------------------------------------------------------------------------------------
def put_storage(ctx, want: dict, actual: Optional[dict] = None):
    # a PUT on an existing account updates it (the account keeps its location)
    body = {**want, "location": (actual or {}).get("location") or want["location"]}
    return ctx.session.storage.storage_accounts.begin_create(ctx.rg, ctx.names.storage,
                                                             with_tags(ctx, body, actual)).result()


def update_file_service(ctx, want: dict, actual: dict) -> None:
    """Share soft delete on the account's one file service. Other file-service settings (CORS,
    SMB protocol settings) are sent back as they are, so nobody's settings are reset."""
    kept = {k: v for k, v in (actual.get("properties") or {}).items() if k in ("cors", "protocolSettings") and v}
    ctx.session.storage.file_services.set_service_properties(
        ctx.rg, ctx.names.storage, {"properties": {**kept, **want["properties"]}})


# -- Log Analytics ------------------------------------------------------------------------------------------
def put_workspace(ctx, want: dict, actual: Optional[dict] = None):
    body = {**want, "location": (actual or {}).get("location") or want["location"]}
    return ctx.session.loganalytics.workspaces.begin_create_or_update(
        ctx.rg, ctx.names.workspace, with_tags(ctx, body, actual)).result()


def learn_customer_id(ctx, workspace: dict) -> None:
    """The environment's logs go to the workspace's customerId (known once the workspace exists)."""
    ctx.customer_id = (workspace.get("properties") or {}).get("customerId")


# -- Container Apps environment and its storage link ----------------------------------------------------
def check_environment_gpu(ctx, actual: Optional[dict]) -> None:
    """A GPU profile can only be given to an environment when it is created (workload-profiles docs)."""
    if not actual:
        return
    want = B.gpu_workload_profile(ctx.settings)
    have = {str(p.get("name")).lower(): p for p in (actual.get("properties") or {}).get("workloadProfiles") or []}
    got = have.get(want["name"].lower())
    if got is None or str(got.get("workloadProfileType")).lower() != want["workloadProfileType"].lower():
        now = got.get("workloadProfileType") if got else "no GPU profile"
        raise InputError(
            f"Environment {ctx.names.environment} exists with {now}, not the GPU workload profile "
            f"{want['workloadProfileType']}; a GPU profile can only be set when an environment is created.",
            field="acaEnvironmentName",
            fix="set acaEnvironmentName (and acaEnvironmentStorageName) in infra/provision/finetuning.parameters.json "
                "to a new name, or delete the environment (`ftstudio down`) and provision again",
            code="EnvironmentGpuProfileMismatch",
        )


def put_environment(ctx, want: dict, actual: Optional[dict] = None):
    body = dict(want)
    body["properties"] = dict(want["properties"])
    logs = dict(body["properties"]["appLogsConfiguration"]["logAnalyticsConfiguration"], sharedKey=workspace_key(ctx))
    body["properties"]["appLogsConfiguration"] = {"destination": "log-analytics", "logAnalyticsConfiguration": logs}
    if actual is not None:
        body["location"] = actual.get("location") or body["location"]
        # keep profiles someone added (a GPU profile cannot be removed/added after creation anyway)
        mine = {p["name"].lower() for p in body["properties"]["workloadProfiles"]}
        body["properties"]["workloadProfiles"] = body["properties"]["workloadProfiles"] + [
            p for p in (actual.get("properties") or {}).get("workloadProfiles") or [] if str(p.get("name")).lower() not in mine]
    return ctx.session.appcontainers.managed_environments.begin_create_or_update(
        ctx.rg, ctx.names.environment, with_tags(ctx, body, actual)).result()


def put_envstorage(ctx, want: dict, actual: Optional[dict] = None):
    body = {"properties": {"azureFile": {**want["properties"]["azureFile"], "accountKey": storage_key(ctx)}}}
    return ctx.session.appcontainers.managed_environments_storages.create_or_update(
        ctx.rg, ctx.names.environment, ctx.names.envstorage, body)


# -- the job and the app ----------------------------------------------------------------------------------
def _merge_template(want: dict, actual: dict) -> dict:
    """Our template over the existing one: env vars, containers and volumes others added (secret
    env vars set by `ftstudio secret set`) are kept."""
    have = (actual.get("properties") or {}).get("template") or {}
    tpl = dict(want)
    ours = want["containers"][0]
    theirs = {c.get("name"): c for c in have.get("containers") or []}
    old = theirs.get(ours["name"]) or {}
    mine_env = {e["name"] for e in ours.get("env") or []}
    merged = {**old, **ours, "env": list(ours.get("env") or []) + [e for e in old.get("env") or [] if e.get("name") not in mine_env]}
    tpl["containers"] = [merged] + [c for name, c in theirs.items() if name != ours["name"]]
    mine_vol = {v["name"] for v in want.get("volumes") or []}
    tpl["volumes"] = list(want.get("volumes") or []) + [v for v in have.get("volumes") or [] if v.get("name") not in mine_vol]
    return tpl


def patch_body(want: dict, actual: dict) -> dict:
    """PATCH (merge) body: no ``configuration.secrets``, so existing secrets stay as they are."""
    props = dict(want["properties"])
    props["configuration"] = {k: v for k, v in props["configuration"].items() if k != "secrets"}
    props["template"] = _merge_template(props["template"], actual)
    return {"properties": props}


def _secret_names(app: dict) -> set:
    return {str(x.get("name")) for x in ((app.get("properties") or {}).get("configuration") or {}).get("secrets") or []}


def create_app(ctx, _want):
    # the API key is made here, sent once, never printed or written anywhere
    body = B.app_body(ctx.settings, _secrets.token_urlsafe(32))
    return ctx.session.appcontainers.container_apps.begin_create_or_update(
        ctx.rg, ctx.names.app, with_tags(ctx, body)).result()


def update_app(ctx, want: dict, actual: dict):
    apps = ctx.session.appcontainers.container_apps
    body = patch_body(want, actual)
    if B.API_KEY_SECRET not in _secret_names(actual):
        # the key was removed: the secrets list is replaced as a whole, so send the existing values too
        existing = as_dict(apps.list_secrets(ctx.rg, ctx.names.app)) or {}
        kept = [{"name": x["name"], "value": x.get("value")} for x in existing.get("value") or []
                if x.get("name") != B.API_KEY_SECRET]
        body["properties"]["configuration"]["secrets"] = kept + [
            {"name": B.API_KEY_SECRET, "value": _secrets.token_urlsafe(32)}]
    return apps.begin_update(ctx.rg, ctx.names.app, body).result()


def app_key_missing(app: dict) -> dict:
    """A change the body diff cannot see (secrets are write-only): the API key secret is gone."""
    if B.API_KEY_SECRET in _secret_names(app):
        return {}
    return {f"properties.configuration.secrets[{B.API_KEY_SECRET}]": [None, "(generated)"]}


def learn_endpoint(ctx, app: dict) -> None:
    props = app.get("properties") or {}
    fqdn = ((props.get("configuration") or {}).get("ingress") or {}).get("fqdn") or props.get("latestRevisionFqdn")
    ctx.endpoint = f"https://{fqdn}" if fqdn else None
