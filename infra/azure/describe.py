"""What `ftstudio status` shows of the Azure resources: name, provisioning state and portal link,
for each record of ``resources.py`` with a ``status`` row whose name the config files hold."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from typing import Optional

from core.events import ignore
from infra.azure import resources as R
from infra.azure.names import ResourceNames
from infra.azure.provision_context import Context


def _state(body: dict) -> Optional[str]:
    props = body.get("properties") or {}
    return props.get("provisioningState") or body.get("provisioningState") or "Succeeded"


def _probe(rec: R.ResourceKind, ctx: Context) -> tuple[str, Optional[str]]:
    from azure.core.exceptions import HttpResponseError

    try:
        body = rec.read(ctx)
    except HttpResponseError as err:
        return f"unknown ({getattr(err, 'error', None) and err.error.code or err.status_code})", None
    if body is None:
        return "missing", None
    return _state(body), body.get("id")


def describe(backend) -> dict:
    """{status row: {name, state, link}} for the resources named in the project's config files."""
    configs = (backend.project.finetuning_config(), backend.project.inference_config())
    rg = next((cfg[R.RESOURCE_GROUP_KEY] for cfg in configs if cfg.get(R.RESOURCE_GROUP_KEY)), None)
    s = backend.session
    if not rg or not s.subscription_id:
        return {}
    named = R.names_in_configs(configs)
    names = ResourceNames(**{f.name: named.get(f.name, "") for f in fields(ResourceNames)})
    settings = R.Settings(kind="finetuning", subscription_id=s.subscription_id, resource_group=rg, location="",
                          names=names, project=backend.project.name)
    ctx = Context(backend=backend, session=s, settings=settings, emit=ignore)
    wanted: dict = {}  # record -> name, for each record with a row whose name a config file holds
    for rec in R.RECORDS:
        name = next((cfg[rec.config_key] for cfg in configs if rec.config_key and cfg.get(rec.config_key)), None)
        if rec.status and name:
            wanted[rec] = name
    out: dict = {"subscription": s.subscription_id, "resource group": rg}
    with ThreadPoolExecutor(max_workers=5) as pool:
        futures = {rec: pool.submit(_probe, rec, ctx) for rec in wanted}
    for rec, name in wanted.items():
        state, rid = futures[rec].result()
        out[rec.status] = {"name": name, "state": state, "link": s.portal_link(rid) if rid else None}
    return out
