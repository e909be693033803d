"""What `ftstudio status` shows of the Azure resources: name, provisioning state and portal link."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional


def _state(body: dict) -> Optional[str]:
    props = body.get("properties") or {}
    return props.get("provisioningState") or body.get("provisioningState") or "Succeeded"


def _probe(getter: Callable[[], object]) -> tuple[str, Optional[str]]:
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    try:
        obj = getter()
    except ResourceNotFoundError:
        return "missing", None
    except HttpResponseError as err:
        return f"unknown ({getattr(err, 'error', None) and err.error.code or err.status_code})", None
    body = obj.as_dict() if hasattr(obj, "as_dict") else dict(obj)
    return _state(body), body.get("id")


def describe(backend) -> dict:
    """{resource kind: {name, state, link}} for the resources named in the project's config files."""
    ft = backend.project.finetuning_config()
    inf = backend.project.inference_config()
    rg = ft.get("RESOURCE_GROUP_NAME") or inf.get("RESOURCE_GROUP_NAME")
    s = backend.session
    if not rg or not s.subscription_id:
        return {}
    wanted: dict[str, tuple[str, Callable[[], object]]] = {}
    if ft.get("STORAGE_ACCOUNT_NAME"):
        wanted["storage account"] = (ft["STORAGE_ACCOUNT_NAME"], lambda: s.storage.storage_accounts.get_properties(rg, ft["STORAGE_ACCOUNT_NAME"]))
    if ft.get("LOG_ANALYTICS_NAME"):
        wanted["log analytics"] = (ft["LOG_ANALYTICS_NAME"], lambda: s.loganalytics.workspaces.get(rg, ft["LOG_ANALYTICS_NAME"]))
    env = ft.get("ACA_ENVIRONMENT_NAME") or inf.get("ACA_ENVIRONMENT_NAME")
    if env:
        wanted["environment"] = (env, lambda: s.appcontainers.managed_environments.get(rg, env))
    if ft.get("ACA_JOB_NAME"):
        wanted["fine-tuning job"] = (ft["ACA_JOB_NAME"], lambda: s.appcontainers.jobs.get(rg, ft["ACA_JOB_NAME"]))
    if inf.get("ACA_APP_NAME"):
        wanted["inference app"] = (inf["ACA_APP_NAME"], lambda: s.appcontainers.container_apps.get(rg, inf["ACA_APP_NAME"]))
    out: dict = {"subscription": s.subscription_id, "resource group": rg}
    with ThreadPoolExecutor(max_workers=5) as pool:
        futures = {kind: pool.submit(_probe, getter) for kind, (_, getter) in wanted.items()}
    for kind, (name, _) in wanted.items():
        state, rid = futures[kind].result()
        out[kind] = {"name": name, "state": state, "link": s.portal_link(rid) if rid else None}
    return out
