"""Validation shared by jobs and container apps: environment reference, workload profile,
secrets (write-only, replaced as a whole list), containers, volumes and secretRefs."""
from __future__ import annotations

import copy
import re
from typing import Optional

from .arm_env import env_profiles, find_env
from .router import ArmError

NAME_RX = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
SECRET_RX = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$|^[a-z0-9]$")


def bad(message: str, code: str = "InvalidParameterValue") -> ArmError:
    return ArmError(400, code, message)


def check_name(name: str, kind: str) -> None:
    if not NAME_RX.match(name) or "--" in name:
        raise ArmError(400, "ContainerAppInvalidName" if kind == "app" else "JobInvalidName",
                       f"Invalid {'ContainerApp' if kind == 'app' else 'Job'} name '{name}'. A name must consist of lower "
                       "case alphanumeric characters or '-', start with an alphabetic character, and end with an "
                       "alphanumeric character and cannot have '--'. The length must not be more than 32 characters.")


def resolve_env(state, props: dict, location: str):
    env_id = props.get("environmentId") or props.get("managedEnvironmentId")
    if not env_id:
        raise bad("Property 'environmentId' is required.", "ManagedEnvironmentIdRequired")
    env = find_env(state, env_id)
    if env is None:
        raise ArmError(404, "ManagedEnvironmentNotFound", f"The managed environment '{env_id}' was not found.")
    if env.body["properties"].get("provisioningState") not in ("Succeeded", "InitializationInProgress"):
        raise bad(f"The managed environment '{env.body['name']}' is not in a valid state "
                  f"({env.body['properties'].get('provisioningState')}).", "ManagedEnvironmentNotReadyForAppCreation")
    from . import util

    if util.norm_location(location) != util.norm_location(env.body["location"]):
        raise bad(f"The location '{location}' must match the managed environment location '{env.body['location']}'.",
                  "LocationMismatch")
    return env


def check_profile(env, props: dict) -> Optional[str]:
    """-> the workload profile type used (None = consumption-only environment)."""
    name = props.get("workloadProfileName")
    profiles = env_profiles(env)
    if not name:
        return "Consumption" if profiles else None
    p = profiles.get(name.lower())
    if p is None:
        raise bad(f"Workload profile '{name}' does not exist in managed environment '{env.body['name']}'. "
                  f"Available: {', '.join(sorted(q['name'] for q in profiles.values())) or 'none'}.",
                  "WorkloadProfileNameNotFound")
    return p["workloadProfileType"]


def merge_secrets(new: Optional[list], old: dict) -> dict:
    """{name: secret dict with value}. ``new`` None keeps the old list; a list replaces it."""
    if new is None:
        return old
    out = {}
    for s in new:
        name = s.get("name") or ""
        if not SECRET_RX.match(name):
            raise bad(f"Invalid secret name '{name}'. Secret names must consist of lower case alphanumeric characters, "
                      "'-' or '.', and start and end with an alphanumeric character.", "ContainerAppSecretInvalid")
        if s.get("value") is None and not s.get("keyVaultUrl"):
            raise bad(f"Secret '{name}' must have a 'value' or a 'keyVaultUrl'. Secret values are write-only: "
                      "read them with listSecrets to send them again.", "ContainerAppSecretInvalid")
        if name in out:
            raise bad(f"Secret name '{name}' is duplicated.", "ContainerAppDuplicateSecretName")
        out[name] = copy.deepcopy(s)
    return out


def secrets_out(secrets: dict) -> list:
    return [{k: v for k, v in s.items() if k != "value"} for s in secrets.values()]


def check_template(env, template: dict, secrets: dict, *, kind: str) -> dict:
    t = copy.deepcopy(template or {})
    containers = t.get("containers") or []
    if not containers:
        raise bad("Property 'template.containers' must contain at least one container.", "ContainerAppContainersRequired"
                  if kind == "app" else "JobContainersRequired")
    storages = env.private.get("storages", {})
    volumes = {}
    for v in t.get("volumes") or []:
        if not v.get("name"):
            raise bad("Volume name is required.")
        st = v.get("storageType") or "AzureFile"
        if st in ("AzureFile", "NfsAzureFile"):
            if not v.get("storageName"):
                raise bad(f"Volume '{v['name']}' of type {st} requires 'storageName'.")
            if v["storageName"].lower() not in storages:
                raise bad(f"Storage '{v['storageName']}' referenced by volume '{v['name']}' was not found in managed "
                          f"environment '{env.body['name']}'.", "ManagedEnvironmentStorageNotFound")
        elif st == "Secret":
            for item in v.get("secrets") or []:
                if item.get("secretRef") not in secrets:
                    raise bad(f"SecretRef '{item.get('secretRef')}' defined for volume '{v['name']}' not found.",
                              "ContainerAppSecretRefNotFound")
        elif st != "EmptyDir":
            raise bad(f"Invalid storageType '{st}' for volume '{v['name']}'.")
        volumes[v["name"]] = v
    for c in list(containers) + list(t.get("initContainers") or []):
        if not c.get("name") or not c.get("image"):
            raise bad("Each container requires 'name' and 'image'.", "ContainerAppImageRequired" if not c.get("image") else "InvalidParameterValue")
        for e in c.get("env") or []:
            if e.get("secretRef") and e["secretRef"] not in secrets:
                raise bad(f"SecretRef '{e['secretRef']}' defined for container '{c['name']}' not found.",
                          "ContainerAppSecretRefNotFound")
            if not e.get("name"):
                raise bad(f"Environment variable in container '{c['name']}' requires a name.")
        for m in c.get("volumeMounts") or []:
            if m.get("volumeName") not in volumes:
                raise bad(f"Volume mount '{m.get('volumeName')}' of container '{c['name']}' does not match any volume in "
                          "template.volumes.", "ContainerAppVolumeMountNotFound")
        c.setdefault("resources", {"cpu": 0.5, "memory": "1Gi"})
        c["resources"].setdefault("ephemeralStorage", "2Gi")
    return t


def container_env(template: dict, secrets: dict) -> dict:
    """What the first container sees as its environment (secretRefs resolved)."""
    containers = template.get("containers") or [{}]
    out = {}
    for e in containers[0].get("env") or []:
        if e.get("secretRef"):
            out[e["name"]] = str((secrets.get(e["secretRef"]) or {}).get("value", ""))
        else:
            out[e["name"]] = str(e.get("value", ""))
    return out
