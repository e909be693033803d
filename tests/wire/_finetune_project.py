"""Fine-tuning resources and a project for the sync/jobs/download wire tests.

Resources are created directly through the real SDK clients against the fake Azure (not through
provision.py), and the config keys provision would write are written here, so these tests do not
depend on the provisioning engineer's work.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

RG = "rg-ft"
ACCOUNT = "ftstore1a2b3c"
SHARE = "ftshare"
ENV = "ft-env"
JOB = "ft-job"
LOCATION = "westus3"
STORAGE_LINK = "ftstorage"
IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04:latest"
COMMANDS = [
    "cd /mount",
    "pip install -r ./setup/requirements.txt",
    "python3 ./finetuning/fetch_model.py --config ./finetuning/train_config.json",
    "python3 ./finetuning/train.py --config ./finetuning/train_config.json",
]


@dataclass
class Clients:
    resources: object
    storage: object
    apps: object


def clients(fake) -> Clients:
    from azure.mgmt.appcontainers import ContainerAppsAPIClient
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.storage import StorageManagementClient

    cred, sub, kw = fake.credential(), fake.subscription_id, fake.client_kwargs()
    return Clients(
        ResourceManagementClient(cred, sub, **kw),
        StorageManagementClient(cred, sub, **kw),
        ContainerAppsAPIClient(cred, sub, **kw),
    )


def create_resources(fake, *, secret_env: bool = True) -> Clients:
    """Resource group, storage account + share, environment + storage link, manual GPU job."""
    c = clients(fake)
    c.resources.resource_groups.create_or_update(RG, {"location": LOCATION})
    c.storage.storage_accounts.begin_create(
        RG, ACCOUNT, {"sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "location": LOCATION,
                      "properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False}}).result()
    c.storage.file_shares.create(RG, ACCOUNT, SHARE, {"properties": {"shareQuota": 1024}})
    key = c.storage.storage_accounts.list_keys(RG, ACCOUNT).keys_property[0].value
    env = c.apps.managed_environments.begin_create_or_update(RG, ENV, {
        "location": LOCATION,
        "properties": {"workloadProfiles": [
            {"name": "Consumption", "workloadProfileType": "Consumption"},
            {"name": "gpu", "workloadProfileType": "Consumption-GPU-NC24-A100"}]}}).result()
    c.apps.managed_environments_storages.create_or_update(RG, ENV, STORAGE_LINK, {"properties": {"azureFile": {
        "accountName": ACCOUNT, "accountKey": key, "shareName": SHARE, "accessMode": "ReadWrite"}}})
    env_vars = [{"name": "HF_HOME", "value": "/mount/.cache/huggingface"}]
    secrets = []
    if secret_env:
        secrets = [{"name": "hf-token", "value": "hf_s3cr3t_value"}]
        env_vars.append({"name": "HF_TOKEN", "secretRef": "hf-token"})
    c.apps.jobs.begin_create_or_update(RG, JOB, {
        "location": LOCATION,
        "properties": {
            "environmentId": env.id,
            "workloadProfileName": "gpu",
            "configuration": {"triggerType": "Manual", "replicaTimeout": 86400, "replicaRetryLimit": 0,
                              "manualTriggerConfig": {"parallelism": 1, "replicaCompletionCount": 1},
                              "secrets": secrets},
            "template": {
                "containers": [{"name": "trainer", "image": IMAGE, "command": ["sleep"], "args": ["1"],
                                "env": env_vars, "resources": {"cpu": 24.0, "memory": "220Gi"},
                                "volumeMounts": [{"volumeName": "share", "mountPath": "/mount"}]}],
                "volumes": [{"name": "share", "storageType": "AzureFile", "storageName": STORAGE_LINK}]},
        }}).result()
    return c


def write_project(root: Path, fake, files: dict | None = None) -> Path:
    """A minimal project: the config keys provision writes, plus ``files`` (path -> bytes/str)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "infra").mkdir(exist_ok=True)
    (root / "infra" / "finetuning.config.json").write_text(json.dumps({
        "SUBSCRIPTION_ID": fake.subscription_id, "RESOURCE_GROUP_NAME": RG, "STORAGE_ACCOUNT_NAME": ACCOUNT,
        "FILE_SHARE_NAME": SHARE, "ACA_JOB_NAME": JOB, "COMMANDS": COMMANDS, "LOCATION": LOCATION,
        "ACA_ENVIRONMENT_NAME": ENV, "ACA_ENVIRONMENT_STORAGE_NAME": STORAGE_LINK, "TARGET": "azure",
    }, indent=2))
    for rel, data in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data)
        else:
            path.write_bytes(data)
    return root


def backend_for(root: Path):
    from infra.azure.backend import AzureBackend
    from scaffolds.project import Project

    return AzureBackend(Project(root))


def share_files(fake) -> dict[str, bytes]:
    return fake.state.files(ACCOUNT, SHARE)


def md5_b64(data: bytes) -> str:
    import base64
    import hashlib

    return base64.b64encode(hashlib.md5(data).digest()).decode()


def share_manifest(fake) -> dict:
    raw = share_files(fake).get(".ftstudio-manifest.json")
    return json.loads(raw) if raw else {}


import pytest  # noqa: E402


@pytest.fixture
def ft_azure(azure_env, monkeypatch):
    """The fake Azure with the fine-tuning resources created; storage retries without back-off."""
    monkeypatch.setenv("FTSTUDIO_RETRY_BACKOFF_S", "0")
    create_resources(azure_env)
    return azure_env
