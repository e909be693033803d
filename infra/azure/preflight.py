"""Checks before anything is created; each failure is ONE message with the fix.

- resource providers registered (registered here and waited for: azure-mgmt-core's automatic
  registration cannot read the 409 of appcontainers 5.x long-running PUTs, azure-wire-facts §11),
- the GPU workload profile offered in the location (else the locations that offer it),
- GPU quota (Microsoft.App usages) enough for the model,
- the storage account name free, or already ours,
- access to a gated model with HF_TOKEN (offline: a warning, not a failure).
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional

from core.errors import InputError, OperationFailed
from core.events import EventSink, Info, ignore

PROVIDERS = ("Microsoft.App", "Microsoft.Storage", "Microsoft.OperationalInsights")
# Microsoft.App usage (quota) names per GPU workload profile type
GPU_QUOTAS = {
    "Consumption-GPU-NC24-A100": "SubscriptionConsumptionNCA100Gpus",
    "Consumption-GPU-NC8as-T4": "SubscriptionConsumptionT4Gpus",
    "NC24-A100": "SubscriptionNCA100Gpus",
    "NC48-A100": "SubscriptionNCA100Gpus",
    "NC96-A100": "SubscriptionNCA100Gpus",
}
# where serverless/dedicated GPUs usually are; probed first (the API decides, this only orders probes)
USUAL_GPU_LOCATIONS = ("westus3", "westus", "australiaeast", "swedencentral", "westeurope", "northeurope",
                       "eastus", "eastus2", "northcentralus", "southcentralus", "canadacentral", "uksouth")
QUOTA_LINK = "https://portal.azure.com/#view/Microsoft_Azure_Capacity/QuotaMenuBlade/~/myQuotas"
REGISTRATION_TIMEOUT_S = 600


def _state(value) -> str:
    """An SDK enum or a plain string, as the wire string."""
    return str(getattr(value, "value", value) or "")


def _sleep(session) -> None:
    interval = session.polling_interval
    time.sleep(2.0 if interval is None else max(0.02, interval))


# -- resource providers ------------------------------------------------------------------------------
def unregistered_providers(session) -> list[str]:
    client = session.resources
    out = []
    for ns in PROVIDERS:
        if _state(client.providers.get(ns).registration_state) != "Registered":
            out.append(ns)
    return out


def register_providers(session, namespaces: list[str], *, on_event: EventSink = ignore,
                       timeout_s: float = REGISTRATION_TIMEOUT_S) -> None:
    client = session.resources
    for ns in namespaces:
        on_event(Info(f"registering resource provider {ns} (once per subscription, can take minutes)"))
        client.providers.register(ns)
    deadline = time.monotonic() + timeout_s
    pending = list(namespaces)
    while pending:
        pending = [ns for ns in pending if _state(client.providers.get(ns).registration_state) != "Registered"]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise OperationFailed(
                f"Resource provider registration did not finish in {int(timeout_s)} s: {', '.join(pending)}.",
                fix="check `az provider show -n " + pending[0] + "` and run provision again",
                code="ProviderRegistrationTimeout",
            )
        _sleep(session)


# -- GPU workload profile ----------------------------------------------------------------------------
def offers_profile(session, location: str, profile_type: str) -> bool:
    from azure.core.exceptions import HttpResponseError

    try:
        profiles = list(session.appcontainers.available_workload_profiles.get(location))
    except HttpResponseError as exc:
        if exc.status_code in (400, 404):  # not a region Container Apps knows
            return False
        raise
    return any(str(p.get("name") or "").lower() == profile_type.lower()
               or str((p.get("properties") or {}).get("workloadProfileType") or "").lower() == profile_type.lower()
               for p in (x.as_dict() if hasattr(x, "as_dict") else x for x in profiles))


def locations_offering(session, profile_type: str, *, exclude: Optional[str] = None) -> list[str]:
    """The subscription's locations whose available workload profiles include ``profile_type``."""
    from azure.core.exceptions import HttpResponseError

    candidates = list(USUAL_GPU_LOCATIONS)
    try:
        sub = session.require_subscription()
        for loc in session.subscriptions.subscriptions.list_locations(sub):
            name = loc.get("name") if hasattr(loc, "get") else getattr(loc, "name", None)
            if name and name not in candidates:
                candidates.append(name)
    except HttpResponseError:
        pass
    if exclude:
        candidates = [c for c in candidates if c != exclude]

    def probe(loc: str) -> Optional[str]:
        try:
            return loc if offers_profile(session, loc, profile_type) else None
        except HttpResponseError:
            return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        return [loc for loc in pool.map(probe, candidates) if loc]


def check_gpu_profile(session, location: str, profile_type: str) -> None:
    if offers_profile(session, location, profile_type):
        return
    offered = locations_offering(session, profile_type, exclude=location)
    where = ", ".join(offered) if offered else "none of this subscription's locations"
    raise InputError(
        f"Location {location} does not offer the GPU workload profile {profile_type}; it is offered in: {where}.",
        field="location",
        fix=(f"use --location {offered[0]} (or set location in infra/provision/finetuning.parameters.json)"
             if offered else "choose another gpuProfileType in infra/provision/finetuning.parameters.json"),
        code="GpuProfileNotOffered",
    )


# -- quota ---------------------------------------------------------------------------------------------
def check_quota(session, location: str, profile_type: str, need: int, *, on_event: EventSink = ignore) -> None:
    quota = GPU_QUOTAS.get(profile_type)
    if not quota or need <= 0:
        return
    usage = None
    for item in session.appcontainers.usages.list(location):
        d = item.as_dict() if hasattr(item, "as_dict") else dict(item)
        if str((d.get("name") or {}).get("value") or "").lower() == quota.lower():
            usage = d
            break
    if usage is None:
        on_event(Info(f"could not read the {quota} quota in {location}; continuing without a quota check", level="warning"))
        return
    limit = int(usage.get("limit") or 0)
    current = int(usage.get("currentValue") or 0)
    if limit < need:
        raise OperationFailed(
            f"GPU quota {quota} in {location} is {limit}; this model needs {need} GPU(s) ({profile_type}).",
            fix=f"request a quota increase for Azure Container Apps / {quota} in {location} at {QUOTA_LINK}",
            code="InsufficientQuota",
        )
    if limit - current < need:
        on_event(Info(f"{quota} in {location}: {current} of {limit} GPU(s) in use now; runs will wait for a free GPU",
                      level="warning"))


# -- storage account name ---------------------------------------------------------------------------------
def check_storage_name(session, name: str, *, ours: bool) -> None:
    """``ours``: the account already exists in our resource group (then it is reused)."""
    if ours:
        return
    result = session.storage.storage_accounts.check_name_availability(
        {"name": name, "type": "Microsoft.Storage/storageAccounts"})
    if result.name_available is False:
        raise InputError(
            f"Storage account name {name!r} is not available ({result.reason or 'taken'}): {result.message or 'names are global'}.",
            field="storageAccountName",
            fix="set another storageAccountName in infra/provision/finetuning.parameters.json",
            code="StorageNameTaken",
        )


# -- model access ----------------------------------------------------------------------------------------------
@dataclass
class ModelNeeds:
    repo: Optional[str] = None  # hub repo id, None for a local model
    gated: bool = False
    licence_url: Optional[str] = None
    gpus: int = 1


def model_needs(project) -> ModelNeeds:
    """What the project's model needs: ``finetuning/train_config.json``'s model, and what generation
    recorded of its catalog entry in the answers file (``model_gated``, ``model_gpu_quota``)."""
    needs = ModelNeeds()
    model = project.train_config().get("model") or {}
    answers = project.answers()
    source = model.get("source") or answers.get("model_source") or "hub"
    needs.repo = (model.get("repo") or answers.get("model_repo")) if source == "hub" else None
    needs.gated = bool(model.get("gated") if "gated" in model else answers.get("model_gated"))
    needs.licence_url = f"https://huggingface.co/{needs.repo}" if needs.repo else None
    needs.gpus = max(1, answers.get("model_gpu_quota") or 1)
    return needs


def check_model_access(needs: ModelNeeds, *, on_event: EventSink = ignore, timeout_s: float = 10.0) -> None:
    if not needs.gated or not needs.repo:
        return
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    licence = needs.licence_url or f"https://huggingface.co/{needs.repo}"
    if not token:
        on_event(Info(f"{needs.repo} is gated: set HF_TOKEN (and `ftstudio secret set HF_TOKEN --from-env HF_TOKEN`) "
                      f"after accepting the licence at {licence}", level="warning"))
        return
    try:
        from huggingface_hub import constants
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status
        from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return
    url = f"{constants.ENDPOINT}/api/models/{needs.repo}/auth-check"
    try:
        response = get_session().get(url, headers=build_hf_headers(token=token), timeout=timeout_s)
        hf_raise_for_status(response)
    except (GatedRepoError, RepositoryNotFoundError) as exc:
        raise _gated(needs.repo, licence, getattr(getattr(exc, "response", None), "status_code", None))
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise _gated(needs.repo, licence, status)
        on_event(Info(f"could not check access to {needs.repo} (HTTP {status}); continuing", level="warning"))
    except OfflineModeIsEnabled:
        on_event(Info(f"offline: access to the gated model {needs.repo} was not checked", level="warning"))
    except Exception as exc:  # noqa: BLE001 - network errors of any transport: a warning, not a failure
        on_event(Info(f"could not reach the Hugging Face Hub to check access to {needs.repo} "
                      f"({type(exc).__name__}); continuing", level="warning"))


def _gated(repo: str, licence: str, status) -> InputError:
    return InputError(
        f"HF_TOKEN has no access to the gated model {repo} (HTTP {status}).",
        field="HF_TOKEN",
        fix=f"accept the licence at {licence} with the account of HF_TOKEN, or use a token of an account that did",
        code="GatedModel",
    )
