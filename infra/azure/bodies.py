"""The desired Azure resources, as wire-form request bodies built from ``core.azure_facts`` (the
same facts the bicep templates render from) plus the project's parameters and resolved names.

Pure functions (no SDK import): the records in ``resources.py`` name these bodies; apply sends them
and plan diffs them against what Azure returns.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from core.errors import InputError
from core import azure_facts as spec
from core.run_rules import container_command

if TYPE_CHECKING:
    from infra.azure.names import ResourceNames

FILE_SERVICE_NAME = "default"  # a storage account's one file service
API_KEY_SECRET = spec.INFERENCE_API_KEY_SECRET
API_KEY_ENV = spec.INFERENCE_API_KEY_ENV
TAG_CREATED_BY = "created-by"
TAG_PROJECT = "ftstudio-project"
# Never compared: where a resource lives, and the tags (set on creation only).
NOT_COMPARED = {"location", "tags"}


@dataclass(frozen=True)
class Settings:
    """Everything the request bodies depend on."""

    kind: str  # finetuning | inference
    subscription_id: str
    resource_group: str
    location: str
    names: ResourceNames
    project: str
    gpu_profile: str = spec.DEFAULT_GPU_PROFILE
    max_instances: int = spec.DEFAULT_MAXIMUM_INSTANCE_COUNT
    timeout: int = spec.DEFAULT_TIMEOUT_S
    commands: tuple = ()  # the container's default command steps (defaultCommands)
    image: str = spec.DEFAULT_IMAGE
    extra: dict = field(default_factory=dict)

    @property
    def tags(self) -> dict:
        """Set on creation only (never compared): how teardown knows what ftstudio created."""
        return {TAG_CREATED_BY: "ftstudio", TAG_PROJECT: self.project}


def settings_from_parameters(kind: str, params: dict, *, subscription_id: str, resource_group: str, location: str,
                             names: ResourceNames, project: str, param_file: str) -> Settings:
    """Validate the parameters this module uses; InputError names the parameter and the fix."""
    gpu = params.get("gpuProfileType") or spec.DEFAULT_GPU_PROFILE
    if gpu not in spec.GPU_PROFILES:
        raise InputError(f"gpuProfileType {gpu!r} in {param_file} is not a GPU workload profile ftstudio knows.",
                         field="gpuProfileType", fix=f"use one of {', '.join(spec.GPU_PROFILES)}")
    max_instances = int_param(params, "maximumInstanceCount", spec.DEFAULT_MAXIMUM_INSTANCE_COUNT, 1, 1000, param_file)
    timeout = int_param(params, "timeout", spec.DEFAULT_TIMEOUT_S, spec.MIN_TIMEOUT_S, 7 * 24 * 3600, param_file)
    commands = params.get("defaultCommands")
    if not isinstance(commands, list) or not commands or not all(isinstance(c, str) and c.strip() for c in commands):
        raise InputError(f"defaultCommands in {param_file} must be a non-empty list of shell steps.",
                         field="defaultCommands",
                         fix='e.g. ["cd /mount", "pip install -r ./setup/requirements.txt", "python3 ./finetuning/train.py"]')
    image = params.get("image") or spec.DEFAULT_IMAGE
    if not isinstance(image, str) or not image.strip() or any(ch.isspace() for ch in image.strip()):
        raise InputError(f"image in {param_file} must be a container image reference, not {image!r}.",
                         field="image", fix=f"e.g. {spec.DEFAULT_IMAGE}")
    return Settings(kind=kind, subscription_id=subscription_id, resource_group=resource_group, location=location,
                    names=names, project=project, gpu_profile=gpu, max_instances=max_instances, timeout=timeout,
                    commands=tuple(c.strip() for c in commands), image=image.strip())


def int_param(params: dict, name: str, default: int, lo: int, hi: int, param_file: str) -> int:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or not lo <= value <= hi:
        raise InputError(f"{name} in {param_file} must be a whole number from {lo} to {hi}, not {value!r}.",
                         field=name, fix=f"set {name} to e.g. {default}")
    return int(value)


# The environment's id below its resource group: its record's path, and what the job and the app
# reference (they run in it).
ENVIRONMENT_PATH = "providers/Microsoft.App/managedEnvironments/{environment}"


def environment_id(s: Settings) -> str:
    rg = f"/subscriptions/{s.subscription_id}/resourceGroups/{s.resource_group}"
    return f"{rg}/{ENVIRONMENT_PATH.format(environment=s.names.environment)}"


# -- bodies ---------------------------------------------------------------------------------------------
def storage_body(s: Settings) -> dict:
    return {
        "location": s.location,
        "sku": {"name": spec.STORAGE_SKU},
        "kind": spec.STORAGE_KIND,
        "properties": {
            "minimumTlsVersion": spec.STORAGE_MIN_TLS,
            "supportsHttpsTrafficOnly": True,
            "allowBlobPublicAccess": False,
            "largeFileSharesState": "Enabled",
        },
    }


def file_service_body(s: Settings) -> dict:
    """fileServices/default: share soft delete, as the bicep's ``fileService`` resource sets it."""
    return {"properties": {"shareDeleteRetentionPolicy": {"enabled": True, "days": spec.SHARE_SOFT_DELETE_DAYS}}}


def share_body(s: Settings) -> dict:
    return {"properties": {"shareQuota": spec.SHARE_QUOTA_GIB, "enabledProtocols": "SMB"}}


def workspace_body(s: Settings) -> dict:
    return {"location": s.location,
            "properties": {"sku": {"name": spec.LOG_ANALYTICS_SKU}, "retentionInDays": spec.LOG_RETENTION_DAYS}}


def gpu_workload_profile(s: Settings) -> dict:
    profile = {"name": spec.GPU_PROFILE_NAME, "workloadProfileType": s.gpu_profile}
    if not spec.GPU_PROFILES[s.gpu_profile]["serverless"]:
        profile.update(minimumCount=spec.DEDICATED_MINIMUM_COUNT, maximumCount=s.max_instances)
    return profile


def environment_body(s: Settings, customer_id: Optional[str], shared_key: Optional[str]) -> dict:
    logs: dict = {"customerId": customer_id}
    if shared_key is not None:
        logs["sharedKey"] = shared_key
    return {
        "location": s.location,
        "properties": {
            "appLogsConfiguration": {"destination": "log-analytics", "logAnalyticsConfiguration": logs},
            "workloadProfiles": [
                {"name": spec.CONSUMPTION_PROFILE_NAME, "workloadProfileType": "Consumption"},
                gpu_workload_profile(s),
            ],
            "zoneRedundant": False,
        },
    }


def envstorage_body(s: Settings, account_key: Optional[str]) -> dict:
    azure_file: dict = {"accountName": s.names.storage, "shareName": s.names.share, "accessMode": spec.SHARE_ACCESS_MODE}
    if account_key is not None:
        azure_file["accountKey"] = account_key
    return {"properties": {"azureFile": azure_file}}


def shell_command(commands) -> list:
    """defaultCommands joined fail-fast (core.run_rules, the same join a run's COMMANDS get)."""
    return container_command(commands)


def _container(s: Settings, name: str, extra_env: Optional[list] = None) -> dict:
    profile = spec.GPU_PROFILES[s.gpu_profile]
    env = [{"name": k, "value": v} for k, v in spec.ENV.items()] + list(extra_env or [])
    return {
        "name": name,
        "image": s.image,
        "command": shell_command(s.commands),
        "env": env,
        "resources": {"cpu": profile["cpu"], "memory": profile["memory"]},
        "volumeMounts": [{"volumeName": spec.VOLUME_NAME, "mountPath": spec.MOUNT_PATH}],
    }


def _volumes(s: Settings) -> list:
    return [{"name": spec.VOLUME_NAME, "storageType": "AzureFile", "storageName": s.names.envstorage}]


def job_body(s: Settings) -> dict:
    return {
        "location": s.location,
        "properties": {
            "environmentId": environment_id(s),
            "workloadProfileName": spec.GPU_PROFILE_NAME,
            "configuration": {
                "triggerType": "Manual",
                "replicaTimeout": s.timeout,
                "replicaRetryLimit": spec.JOB_RETRY_LIMIT,
                "manualTriggerConfig": {"parallelism": 1, "replicaCompletionCount": 1},
            },
            "template": {"containers": [_container(s, spec.JOB_CONTAINER_NAME)], "volumes": _volumes(s)},
        },
    }


def probes() -> list:
    http = {"path": spec.HEALTH_PATH, "port": spec.INFERENCE_PORT}
    return [
        {"type": "Startup", "httpGet": dict(http), "initialDelaySeconds": spec.STARTUP_DELAY_S,
         "periodSeconds": spec.STARTUP_PERIOD_S, "failureThreshold": spec.STARTUP_FAILURES},
        {"type": "Readiness", "httpGet": dict(http), "periodSeconds": spec.PROBE_PERIOD_S,
         "failureThreshold": spec.PROBE_FAILURES},
        {"type": "Liveness", "httpGet": dict(http), "periodSeconds": spec.PROBE_PERIOD_S,
         "failureThreshold": spec.PROBE_FAILURES},
    ]


def app_body(s: Settings, api_key: Optional[str]) -> dict:
    """``api_key`` None leaves secrets out (an update keeps the ones the app has)."""
    container = _container(s, spec.APP_CONTAINER_NAME, [{"name": API_KEY_ENV, "secretRef": API_KEY_SECRET}])
    container["probes"] = probes()
    configuration: dict = {
        "activeRevisionsMode": "Single",
        "ingress": {"external": True, "targetPort": spec.INFERENCE_PORT, "transport": "auto", "allowInsecure": False,
                    "traffic": [{"latestRevision": True, "weight": 100}]},
    }
    if api_key is not None:
        configuration["secrets"] = [{"name": API_KEY_SECRET, "value": api_key}]
    return {
        "location": s.location,
        "properties": {
            "environmentId": environment_id(s),
            "workloadProfileName": spec.GPU_PROFILE_NAME,
            "configuration": configuration,
            "template": {
                "containers": [container],
                "scale": {"minReplicas": spec.INFERENCE_MIN_REPLICAS, "maxReplicas": s.max_instances},
                "volumes": _volumes(s),
            },
        },
    }
