"""A minimal project for the provisioning wire tests (the files provision reads), and helpers.

Written by hand so the tests do not depend on the generator: AI Toolkit's config keys (null until
provisioned), the parameters files, the answers file and the model part of train_config.json.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pytest

COMMANDS = [
    "cd /mount",
    "pip install -r ./setup/requirements.txt",
    "python3 ./finetuning/fetch_model.py --config ./finetuning/train_config.json",
    "python3 ./finetuning/train.py --config ./finetuning/train_config.json",
]
INFERENCE_COMMANDS = ["cd /mount", "pip install -r ./setup/requirements.txt",
                      "python3 ./inference/app.py --host 0.0.0.0 --port 7860"]
WRITE_METHODS = ("PUT", "PATCH", "DELETE")


def _params(values: dict) -> dict:
    return {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
            "contentVersion": "1.0.0.0", "parameters": {k: {"value": v} for k, v in values.items()}}


def write_project(root: Path, *, name: str = "demo", finetuning: Optional[dict] = None,
                  inference: Optional[dict] = None, model: Optional[dict] = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "infra" / "provision").mkdir(parents=True, exist_ok=True)
    (root / "finetuning").mkdir(exist_ok=True)
    (root / "infra" / "finetuning.config.json").write_text(json.dumps({
        "SUBSCRIPTION_ID": None, "RESOURCE_GROUP_NAME": None, "STORAGE_ACCOUNT_NAME": None,
        "FILE_SHARE_NAME": None, "ACA_JOB_NAME": None, "COMMANDS": COMMANDS, "TARGET": "azure"}, indent=2))
    (root / "infra" / "inference.config.json").write_text(json.dumps({
        "SUBSCRIPTION_ID": None, "RESOURCE_GROUP_NAME": None, "STORAGE_ACCOUNT_NAME": None,
        "FILE_SHARE_NAME": None, "ACA_APP_NAME": None, "ACA_APP_ENDPOINT": None}, indent=2))
    ft = {"defaultCommands": COMMANDS, "maximumInstanceCount": 2, "timeout": 10800, "location": None,
          "gpuProfileType": "Consumption-GPU-NC8as-T4", "storageAccountName": None, "fileShareName": None,
          "acaEnvironmentName": None, "acaEnvironmentStorageName": None, "acaJobName": None,
          "acaLogAnalyticsName": None}
    ft.update(finetuning or {})
    inf = {"defaultCommands": INFERENCE_COMMANDS, "maximumInstanceCount": 1, "location": None, "acaAppName": None}
    inf.update(inference or {})
    (root / "infra" / "provision" / "finetuning.parameters.json").write_text(json.dumps(_params(ft), indent=2))
    (root / "infra" / "provision" / "inference.parameters.json").write_text(json.dumps(_params(inf), indent=2))
    m = {"id": "Qwen/Qwen2.5-0.5B-Instruct", "source": "hub", "repo": "Qwen/Qwen2.5-0.5B-Instruct", "gated": False}
    m.update(model or {})
    (root / ".ftstudio-answers.json").write_text(json.dumps({"project_name": name, "model": m}, indent=2))
    (root / "finetuning" / "train_config.json").write_text(json.dumps({"schema_version": 1, "model": m}, indent=2))
    return root


@pytest.fixture
def root(tmp_path):
    """A fresh minimal project (write_project's defaults) in tmp_path/demo."""
    return write_project(tmp_path / "demo")


def set_parameters(root: Path, kind: str = "finetuning", **values) -> None:
    path = root / "infra" / "provision" / f"{kind}.parameters.json"
    doc = json.loads(path.read_text())
    for k, v in values.items():
        doc["parameters"][k] = {"value": v}
    path.write_text(json.dumps(doc, indent=2))


def backend_for(root: Path, fake, inputs=None):
    """An AzureBackend whose session talks to the fake (credential and endpoints from the fake)."""
    from infra.azure.backend import AzureBackend
    from infra.azure.session import AzureSession
    from scaffolds.project import Project

    session = AzureSession(subscription_id=fake.subscription_id, credential=fake.credential(),
                           arm_endpoint=fake.arm_endpoint, file_endpoint=fake.file_endpoint,
                           logs_endpoint=fake.logs_endpoint, verify=fake.ca_path, polling_interval=0)
    return AzureBackend(Project(root), session=session, inputs=inputs)


def backend_in(root: Path, fake, rg: str, location: str, sub: Optional[str] = None):
    """backend_for with the inputs a user gives: resource group `rg` in `location`, in subscription
    `sub` (default: the fake's)."""
    from infra.azure.inputs import AzureInputs

    return backend_for(root, fake, AzureInputs(sub or fake.subscription_id, rg, location))


def writes(fake, surface: str = "arm") -> list:
    """Requests that change something: PUT/PATCH/DELETE and POSTs other than read-only ones."""
    read_only_posts = ("/listkeys", "/sharedkeys", "/checknameavailability", "/listsecrets", "/getauthtoken")
    return [r for r in fake.requests.filter(surface=surface)
            if r.method in WRITE_METHODS or (r.method == "POST" and not r.path.lower().endswith(read_only_posts))]


def quiet_log(fake) -> None:
    """Start from an empty request log: the fake records a request after answering it, so the
    last request of the previous test can land just after the fixture's reset."""
    import time

    time.sleep(0.05)
    fake.requests.clear()
