"""Provision a baseline through the REAL SDK clients (RG, storage account + share, Log Analytics
workspace, managed environment with a GPU profile, its Azure Files storage link, optionally a
job and an app) so tests that need "an existing deployment" start from one quickly.

    names = provision(fake_azure, job="ftjob")
    fake_azure.jobs.script(lines=["hi"])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Provisioned:
    subscription_id: str
    resource_group: str
    location: str
    account: str
    account_key: str
    share: str
    workspace: str
    customer_id: str
    environment: str
    environment_id: str
    storage: str
    gpu_profile: str
    job: Optional[str] = None
    app: Optional[str] = None
    extra: dict = field(default_factory=dict)


def clients(fake):
    from azure.mgmt.appcontainers import ContainerAppsAPIClient
    from azure.mgmt.loganalytics import LogAnalyticsManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.storage import StorageManagementClient

    cred, sub, kw = fake.credential(), fake.subscription_id, fake.client_kwargs()
    return (ResourceManagementClient(cred, sub, **kw), StorageManagementClient(cred, sub, **kw),
            LogAnalyticsManagementClient(cred, sub, **kw), ContainerAppsAPIClient(cred, sub, **kw))


def job_body(p: Provisioned, *, image: str = "myreg.azurecr.io/ft:1", secrets: Optional[list] = None,
             env: Optional[list] = None, replica_timeout: int = 3600) -> dict:
    return {"location": p.location, "properties": {
        "environmentId": p.environment_id, "workloadProfileName": p.gpu_profile,
        "configuration": {"triggerType": "Manual", "replicaTimeout": replica_timeout, "replicaRetryLimit": 0,
                          "manualTriggerConfig": {"parallelism": 1, "replicaCompletionCount": 1},
                          **({"secrets": secrets} if secrets is not None else {})},
        "template": {"containers": [{"name": "trainer", "image": image, "command": ["bash", "-c"], "args": ["python train.py"],
                                     "env": env or [{"name": "RUN_ID", "value": "run1"}],
                                     "resources": {"cpu": 24.0, "memory": "220Gi"},
                                     "volumeMounts": [{"volumeName": "data", "mountPath": "/mount"}]}],
                     "volumes": [{"name": "data", "storageType": "AzureFile", "storageName": p.storage}]}}}


def app_body(p: Provisioned, *, suffix: Optional[str] = None, secrets: Optional[list] = None, env: Optional[list] = None) -> dict:
    t = {"containers": [{"name": "server", "image": "myreg.azurecr.io/serve:1", "args": ["python3", "inference/app.py"],
                         "env": env or [], "resources": {"cpu": 24.0, "memory": "220Gi"},
                         "volumeMounts": [{"volumeName": "data", "mountPath": "/mount"}]}],
         "scale": {"minReplicas": 1, "maxReplicas": 1},
         "volumes": [{"name": "data", "storageType": "AzureFile", "storageName": p.storage}]}
    if suffix:
        t["revisionSuffix"] = suffix
    cfg = {"ingress": {"external": True, "targetPort": 7860, "transport": "auto"}, "activeRevisionsMode": "Single"}
    if secrets is not None:
        cfg["secrets"] = secrets
    return {"location": p.location, "properties": {"environmentId": p.environment_id, "workloadProfileName": p.gpu_profile,
                                                   "configuration": cfg, "template": t}}


def provision(fake, *, rg: str = "rg-ft", location: str = "westus3", account: str = "ftstore01", share: str = "ftshare",
              workspace: str = "ft-logs", env: str = "ft-env", storage: str = "ftstore",
              gpu_type: str = "Consumption-GPU-NC24-A100", gpu_profile: str = "gpu-a100",
              job: Optional[str] = None, app: Optional[str] = None) -> Provisioned:
    from azure.mgmt.storage.models import FileShare, FileShareProperties

    rm, st, la, ca = clients(fake)
    rm.resource_groups.create_or_update(rg, {"location": location})
    st.storage_accounts.begin_create(rg, account, {"sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "location": location,
                                                   "properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False}}).result()
    key = st.storage_accounts.list_keys(rg, account).keys_property[0].value
    st.file_shares.create(rg, account, share, FileShare(file_share_properties=FileShareProperties(share_quota=1024)))
    ws = la.workspaces.begin_create_or_update(rg, workspace, {"location": location, "properties": {"sku": {"name": "PerGB2018"},
                                                                                                   "retentionInDays": 30}}).result()
    shared = la.shared_keys.get_shared_keys(rg, workspace).primary_shared_key
    e = ca.managed_environments.begin_create_or_update(rg, env, {"location": location, "properties": {
        "appLogsConfiguration": {"destination": "log-analytics",
                                 "logAnalyticsConfiguration": {"customerId": ws.customer_id, "sharedKey": shared}},
        "workloadProfiles": [{"name": "Consumption", "workloadProfileType": "Consumption"},
                             {"name": gpu_profile, "workloadProfileType": gpu_type}]}}).result()
    ca.managed_environments_storages.create_or_update(rg, env, storage, {"properties": {"azureFile": {
        "accountName": account, "accountKey": key, "shareName": share, "accessMode": "ReadWrite"}}})
    p = Provisioned(fake.subscription_id, rg, location, account, key, share, workspace, ws.customer_id, env, e.id, storage,
                    gpu_profile)
    if job:
        ca.jobs.begin_create_or_update(rg, job, job_body(p)).result()
        p.job = job
    if app:
        ca.container_apps.begin_create_or_update(rg, app, app_body(p)).result()
        p.app = app
    return p
