"""The Azure resources the logs and secrets wire tests run against, made directly through the real
SDK clients on the fake (not through provision.py), plus the project config keys provision writes.

A Log Analytics workspace is connected to the environment, so every line a fake job or app prints
is also queryable from Log Analytics. The job and the app each start with two secrets (``hf-token``
referenced by ``HF_TOKEN``, and ``other-key`` not referenced), an init container and a volume, so
tests can check that a secret change leaves all of that alone.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

RG = "rg-logs"
LOCATION = "westus3"
WORKSPACE = "ft-logs-ws"
ENV = "ft-logs-env"
JOB = "ft-logs-job"
APP = "ft-logs-app"
IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04:latest"
HF_VALUE = "hf_Zq8sEcReTvAlUe1234567"
OTHER_VALUE = "other-Secret-Value-98765"


@dataclass
class Env:
    fake: object
    root: Path
    apps: object  # ContainerAppsAPIClient on the fake
    customer_id: str

    def backend(self):
        from infra.azure.backend import AzureBackend
        from scaffolds.project import Project

        return AzureBackend(Project(self.root))

    def start(self, job: str = JOB) -> str:
        """Start an execution of the job directly through the SDK; its name."""
        return self.apps.jobs.begin_start(RG, job).result().name

    def job(self) -> dict:
        return self.apps.jobs.get(RG, JOB).as_dict()

    def app(self) -> dict:
        return self.apps.container_apps.get(RG, APP).as_dict()

    def job_secrets(self) -> dict:
        return {s.name: s.value for s in self.apps.jobs.list_secrets(RG, JOB).value}

    def app_secrets(self) -> dict:
        return {s.name: s.value for s in self.apps.container_apps.list_secrets(RG, APP).value}


def _template(secret_env: bool = True) -> dict:
    env = [{"name": "HF_HOME", "value": "/mount/.cache/huggingface"}]
    if secret_env:
        env.append({"name": "HF_TOKEN", "secretRef": "hf-token"})
    return {
        "initContainers": [{"name": "fetch", "image": IMAGE, "command": ["true"], "env": list(env),
                            "resources": {"cpu": 0.5, "memory": "1Gi"}}],
        "containers": [{"name": "trainer", "image": IMAGE, "command": ["python3"], "args": ["train.py"],
                        "env": list(env), "resources": {"cpu": 24.0, "memory": "220Gi"},
                        "volumeMounts": [{"volumeName": "scratch", "mountPath": "/scratch"}]}],
        "volumes": [{"name": "scratch", "storageType": "EmptyDir"}],
    }


def make_env(fake, root: Path, *, workspace: bool = True, app: bool = True) -> Env:
    from azure.mgmt.appcontainers import ContainerAppsAPIClient
    from azure.mgmt.loganalytics import LogAnalyticsManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient

    cred, sub, kw = fake.credential(), fake.subscription_id, fake.client_kwargs()
    ResourceManagementClient(cred, sub, **kw).resource_groups.create_or_update(RG, {"location": LOCATION})
    apps = ContainerAppsAPIClient(cred, sub, **kw)
    env_props: dict = {"workloadProfiles": [{"name": "Consumption", "workloadProfileType": "Consumption"},
                                            {"name": "gpu", "workloadProfileType": "Consumption-GPU-NC24-A100"}]}
    customer_id = ""
    if workspace:
        la = LogAnalyticsManagementClient(cred, sub, **kw)
        ws = la.workspaces.begin_create_or_update(RG, WORKSPACE, {
            "location": LOCATION, "properties": {"sku": {"name": "PerGB2018"}, "retentionInDays": 30}}).result()
        customer_id = ws.properties.customer_id
        key = la.shared_keys.get_shared_keys(RG, WORKSPACE).primary_shared_key
        env_props["appLogsConfiguration"] = {"destination": "log-analytics", "logAnalyticsConfiguration": {
            "customerId": customer_id, "sharedKey": key}}
    env = apps.managed_environments.begin_create_or_update(RG, ENV, {"location": LOCATION,
                                                                     "properties": env_props}).result()
    secrets = [{"name": "hf-token", "value": HF_VALUE}, {"name": "other-key", "value": OTHER_VALUE}]
    apps.jobs.begin_create_or_update(RG, JOB, {"location": LOCATION, "properties": {
        "environmentId": env.id, "workloadProfileName": "gpu",
        "configuration": {"triggerType": "Manual", "replicaTimeout": 3600, "replicaRetryLimit": 0,
                          "manualTriggerConfig": {"parallelism": 1, "replicaCompletionCount": 1}, "secrets": secrets},
        "template": _template()}}).result()
    if app:
        apps.container_apps.begin_create_or_update(RG, APP, {"location": LOCATION, "properties": {
            "environmentId": env.id, "workloadProfileName": "Consumption",
            "configuration": {"ingress": {"external": True, "targetPort": 8000}, "secrets": secrets,
                              "activeRevisionsMode": "Single"},
            "template": {**_template(), "revisionSuffix": "v1", "scale": {"minReplicas": 1, "maxReplicas": 1}}}}).result()
    root.mkdir(parents=True, exist_ok=True)
    (root / "infra").mkdir(exist_ok=True)
    # the storage keys are there because every project has them (`ftstudio logs` resolves the
    # execution through jobs.py, which reads them); no storage account is needed here
    ft = {"SUBSCRIPTION_ID": sub, "RESOURCE_GROUP_NAME": RG, "ACA_JOB_NAME": JOB, "ACA_ENVIRONMENT_NAME": ENV,
          "LOCATION": LOCATION, "TARGET": "azure", "COMMANDS": ["python3 train.py"],
          "STORAGE_ACCOUNT_NAME": "ftlogsnostore", "FILE_SHARE_NAME": "ftshare"}
    if workspace:
        ft["LOG_ANALYTICS_NAME"] = WORKSPACE
    (root / "infra" / "finetuning.config.json").write_text(json.dumps(ft, indent=2))
    (root / "infra" / "inference.config.json").write_text(json.dumps(
        {"SUBSCRIPTION_ID": sub, "RESOURCE_GROUP_NAME": RG, "ACA_APP_NAME": APP, "TARGET": "azure"}, indent=2))
    return Env(fake, root, apps, customer_id)


@pytest.fixture
def logs_env(azure_env, tmp_path, monkeypatch):
    """The resources above and a project pointing at them; every wait of the log path 100x shorter."""
    monkeypatch.setenv("FTSTUDIO_LOG_POLL_SCALE", "0.01")
    return make_env(azure_env, tmp_path / "proj")


def test_environment_sends_job_and_app_lines_to_log_analytics(logs_env):
    """The fixture itself: an execution's lines reach the workspace the environment is connected to."""
    fake = logs_env.fake
    fake.jobs.script(JOB, lines=["alpha", "beta"], line_interval=0.001)
    name = logs_env.start()
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        rows = fake.state.table_rows(logs_env.customer_id, "ContainerAppConsoleLogs_CL") or []
        if len([r for r in rows if r["ContainerGroupName_s"].startswith(name)]) == 2:
            break
        time.sleep(0.02)
    assert [r["Log_s"] for r in rows if r["ContainerGroupName_s"].startswith(name)] == ["alpha", "beta"]
    assert logs_env.job()["properties"]["template"]["initContainers"][0]["name"] == "fetch"
