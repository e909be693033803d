"""Which subscription, resource group and location to provision into.

Order (azd's, without its silent defaults): flag > ``AZURE_SUBSCRIPTION_ID`` /
``AZURE_RESOURCE_GROUP`` / ``AZURE_LOCATION`` > the project (location also from the parameters
file) > an interactive choice > ``MissingInputs`` naming every missing input and how to give it.
A subscription is never assumed, not even when there is only one. Used by the CLI and the TUI
wizard alike: the wizard passes its own ``ask``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Protocol

from core.errors import MissingInputs

HOW = {
    "subscription": "--subscription or AZURE_SUBSCRIPTION_ID",
    "resource group": "--resource-group or AZURE_RESOURCE_GROUP",
    "location": "--location or AZURE_LOCATION",
}
NEW_GROUP = "(create a new resource group)"


@dataclass
class AzureInputs:
    subscription_id: str
    resource_group: str
    location: Optional[str]
    sources: dict = field(default_factory=dict)  # input -> flag | env | parameters | project | prompt | resource group

    def to_json(self) -> dict:
        return {"subscription_id": self.subscription_id, "resource_group": self.resource_group,
                "location": self.location, "sources": dict(self.sources)}


class Directory(Protocol):
    """What resolution needs to look up in Azure (only called when a value is not given)."""

    def subscriptions(self) -> list[tuple[str, str]]: ...  # (id, display name)

    def resource_groups(self, subscription_id: str) -> list[tuple[str, str]]: ...  # (name, location)

    def resource_group_location(self, subscription_id: str, resource_group: str) -> Optional[str]: ...

    def gpu_locations(self, subscription_id: str) -> list[str]: ...


# ask(question, *, name, how, default=None, choices=None) -> str; raises MissingInputs when it may not ask
Ask = Callable[..., str]


def saved_inputs(project) -> dict:
    """What an earlier run saved: .ftstudio/state.json first, then the config files' keys."""
    state = project.state()
    cfg = project.finetuning_config()
    return {
        "subscription": state.get("subscription_id") or cfg.get("SUBSCRIPTION_ID"),
        "resource group": state.get("resource_group") or cfg.get("RESOURCE_GROUP_NAME"),
        "location": state.get("location") or cfg.get("LOCATION"),
    }


def save_inputs(project, inputs: AzureInputs) -> None:
    project.update_state(subscription_id=inputs.subscription_id, resource_group=inputs.resource_group,
                         location=inputs.location)


def resolve_inputs(
    project,
    *,
    subscription: Optional[str] = None,
    resource_group: Optional[str] = None,
    location: Optional[str] = None,
    parameters: Optional[dict] = None,
    env: Optional[Mapping[str, str]] = None,
    ask: Optional[Ask] = None,
    directory: Optional[Callable[[], Directory]] = None,
) -> AzureInputs:
    """Resolve the three inputs. ``ask`` None means non-interactive; ``directory`` builds the
    Azure look-ups lazily (only when something must be looked up)."""
    env = os.environ if env is None else env
    saved = saved_inputs(project)
    params = parameters or {}
    sources: dict = {}
    values: dict = {}
    candidates = {
        "subscription": [("flag", subscription), ("env", env.get("AZURE_SUBSCRIPTION_ID")), ("project", saved["subscription"])],
        "resource group": [("flag", resource_group), ("env", env.get("AZURE_RESOURCE_GROUP")), ("project", saved["resource group"])],
        "location": [("flag", location), ("env", env.get("AZURE_LOCATION")), ("parameters", params.get("location")),
                     ("project", saved["location"])],
    }
    for name, options in candidates.items():
        for source, value in options:
            if isinstance(value, str) and value.strip():
                values[name], sources[name] = value.strip(), source
                break

    looked_up: dict = {}

    def lookup() -> Directory:
        if "d" not in looked_up:
            if directory is None:
                raise RuntimeError("no Azure directory to look up inputs")
            looked_up["d"] = directory()
        return looked_up["d"]

    if ask is None:
        # non-interactive: an existing resource group's location is a fine default (bicep's too)
        if "location" not in values and "subscription" in values and "resource group" in values and directory:
            loc = lookup().resource_group_location(values["subscription"], values["resource group"])
            if loc:
                values["location"], sources["location"] = loc, "resource group"
        missing = [(n, HOW[n]) for n in HOW if n not in values]
        if missing:
            raise MissingInputs(missing)
    else:
        if "subscription" not in values:
            subs = lookup().subscriptions()
            labels = {f"{sid}  {display}".strip(): sid for sid, display in subs}
            if not labels:
                raise MissingInputs([("subscription", HOW["subscription"] + " (no subscription is visible to this login)")])
            pick = ask("Subscription", name="subscription", how=HOW["subscription"], choices=list(labels))
            values["subscription"], sources["subscription"] = labels.get(pick, pick), "prompt"
        if "resource group" not in values:
            groups = lookup().resource_groups(values["subscription"])
            labels = {f"{rg}  ({loc})": rg for rg, loc in groups}
            pick = ask("Resource group", name="resource group", how=HOW["resource group"],
                       choices=[*labels, NEW_GROUP])
            if pick == NEW_GROUP:
                pick = ask("Name of the new resource group", name="resource group", how=HOW["resource group"])
            values["resource group"], sources["resource group"] = labels.get(pick, pick).strip(), "prompt"
        if "location" not in values:
            loc = lookup().resource_group_location(values["subscription"], values["resource group"])
            if loc:
                values["location"], sources["location"] = loc, "resource group"
            else:
                offered = lookup().gpu_locations(values["subscription"])
                pick = ask("Location (regions offering the GPU workload profile)", name="location",
                           how=HOW["location"], choices=offered or None)
                values["location"], sources["location"] = pick.strip(), "prompt"
    from infra.azure.names import validate_resource_group

    validate_resource_group(values["resource group"], "--resource-group" if sources["resource group"] == "flag"
                            else "AZURE_RESOURCE_GROUP" if sources["resource group"] == "env" else "resource group")
    return AzureInputs(values["subscription"], values["resource group"], _norm_location(values.get("location")), sources)


def _norm_location(value: Optional[str]) -> Optional[str]:
    """'West US 3' -> 'westus3' (ARM's name form)."""
    return value.replace(" ", "").lower() if value else value


class SessionDirectory:
    """``Directory`` over the Azure SDKs. ``session_for(subscription_id)`` gives an AzureSession."""

    def __init__(self, session_for: Callable, gpu_profile: Optional[str] = None):
        self._session_for = session_for
        self._gpu_profile = gpu_profile

    def subscriptions(self) -> list[tuple[str, str]]:
        session = self._session_for(None)
        return [(s.subscription_id, s.display_name or "") for s in session.subscriptions.subscriptions.list()
                if str(getattr(s.state, "value", s.state) or "Enabled") == "Enabled"]

    def resource_groups(self, subscription_id: str) -> list[tuple[str, str]]:
        session = self._session_for(subscription_id)
        return sorted((g.name, g.location) for g in session.resources.resource_groups.list())

    def resource_group_location(self, subscription_id: str, resource_group: str) -> Optional[str]:
        from azure.core.exceptions import ResourceNotFoundError

        session = self._session_for(subscription_id)
        try:
            return session.resources.resource_groups.get(resource_group).location
        except ResourceNotFoundError:
            return None

    def gpu_locations(self, subscription_id: str) -> list[str]:
        from infra.azure.preflight import locations_offering
        from core import azure_facts as azure_spec

        session = self._session_for(subscription_id)
        return locations_offering(session, self._gpu_profile or azure_spec.DEFAULT_GPU_PROFILE)
