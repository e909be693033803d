"""Fixed data for snapshots: a project folder written by hand and a Backend double with fixed answers.

Snapshots must not change when the templates, the catalog or the clock change, so they run over
this data. The flows (test_flows_*.py) run over the REAL backends: local, and Azure against the fake.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Iterator, Optional

from core.events import LogLine, Progress, StepFailed, StepFinished, StepStarted, StreamState
from core.models import Endpoint, Execution, PlannedChange, SyncResult
from infra.logstream import AbortableStream
from scaffolds.project import Project

MODEL = {
    "id": "microsoft/Phi-3-mini-4k-instruct", "repo": "microsoft/Phi-3-mini-4k-instruct", "aliases": [],
    "family": "phi3", "architecture": "Phi3ForCausalLM", "params": 3821079552, "licence": "mit", "gated": False,
    "chat_format": "phi3", "context_length": 4096, "lora_target_modules": "all-linear",
    "min_gpu": "Consumption-GPU-NC8as-T4", "min_gpu_label": "T4 16GB", "gpu_quota": 1, "source": "hub",
    "origin": "catalog", "revision": "main", "path": None, "trust_remote_code": False, "verified": True,
    "local_dir": "model-cache/microsoft/Phi-3-mini-4k-instruct", "default_recipe": "qlora",
    "text_template": "<|user|>\n{phrase}<|end|>\n<|assistant|>\n{tone}<|end|>",
    "defaults": {"learning_rate": 0.0002, "lora_r": 32, "lora_alpha": 64, "lora_dropout": 0.1,
                 "num_train_epochs": 3, "max_steps": 100, "source_max_len": 1024},
}
MODELS = [
    MODEL,
    {**MODEL, "id": "meta-llama/Llama-3.2-1B-Instruct", "repo": "meta-llama/Llama-3.2-1B-Instruct",
     "family": "llama", "params": 1235814400, "licence": "llama3.2", "gated": True, "chat_format": "llama3"},
    {**MODEL, "id": "Qwen/Qwen2.5-7B-Instruct", "repo": "Qwen/Qwen2.5-7B-Instruct", "family": "qwen2",
     "params": 7615616512, "licence": "apache-2.0", "min_gpu": "Consumption-GPU-NC24-A100",
     "min_gpu_label": "A100 80GB", "chat_format": "qwen2_5"},
    {**MODEL, "id": "google/gemma-2-2b-it", "repo": "google/gemma-2-2b-it", "family": "gemma2",
     "params": 2614341888, "licence": "gemma", "gated": True, "chat_format": "gemma"},
]

EXECUTIONS = [
    Execution("demo-job-x7k2p", "Queued", run_id="20261123-101500"),  # no start: a duration would follow the clock
    Execution("demo-job-a1b2c", "Succeeded", run_id="20261122-090000", start_time="2026-11-22T09:00:00Z",
              end_time="2026-11-22T09:42:13Z", exit_code=0, adapter_path="outputs/20261122-090000"),
    Execution("demo-job-q9w8e", "Failed", run_id="20261121-170000", start_time="2026-11-21T17:00:00Z",
              end_time="2026-11-21T17:03:05Z", exit_code=1, reason="dataset line 12 is not JSON"),
]
PLAN = [
    PlannedChange("storage", "ftstdemo3f9a1c", "create", {"sku": [None, "Standard_LRS"]}),
    PlannedChange("share", "finetuning", "create"),
    PlannedChange("workspace", "ftlogs-demo-3f9a1c", "unchanged"),
    PlannedChange("environment", "ftenv-demo-3f9a1c", "update",
                  {"workloadProfiles[1].maximumCount": [1, 2]}),
    PlannedChange("envstorage", "ftstorage", "create"),
    PlannedChange("job", "demo-job", "create", {"timeout": [None, 10800]}),
]
PORTAL = "https://portal.azure.com/#@/resource/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-demo"
DESCRIBED = {  # AzureBackend.describe()'s shape: what `status` and the dashboard show
    "subscription": "00000000-0000-0000-0000-000000000000", "resource group": "rg-demo",
    "storage account": {"name": "ftstdemo3f9a1c", "state": "Succeeded", "link": PORTAL},
    "log analytics": {"name": "ftlogs-demo-3f9a1c", "state": "Succeeded", "link": PORTAL},
    "environment": {"name": "ftenv-demo-3f9a1c", "state": "Succeeded", "link": PORTAL},
    "fine-tuning job": {"name": "demo-job", "state": "missing", "link": None},
}
LOG_LINES = [
    "Collecting torch==2.13.0", "Installing collected packages", "Loading model-cache/microsoft/Phi-3-mini-4k-instruct",
    *[f"{{'loss': {2.5 - i * 0.05:.4f}, 'step': {i * 10}}}" for i in range(1, 21)],
    "Saved adapter to outputs/20261123-101500", "run 20261123-101500 succeeded",
]


def write_project(root: Path, *, target: str = "azure", provisioned: bool = True) -> Project:
    """A small project folder with fixed files and config (independent of the generator's templates)."""
    files = {
        "README.md": "# demo\n",
        ".gitignore": "outputs/\nmodel-cache/\n",
        "dataset/dataset-classification.jsonl": "".join(
            json.dumps({"phrase": f"I love my dog {i}", "tone": "happy"}) + "\n" for i in range(5)),
        "finetuning/train.py": "print('train')\n",
        "finetuning/train_config.json": "{}\n",
        "inference/app.py": "print('serve')\n",
        "setup/requirements.txt": "torch==2.13.0\n",
        "infra/provision/finetuning.bicep": "// bicep\n",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    project = Project(root)
    config = {"TARGET": target, "COMMANDS": ["cd /mount", "python3 ./finetuning/train.py"]}
    inference = {}
    if provisioned and target == "azure":
        config.update(SUBSCRIPTION_ID="00000000-0000-0000-0000-000000000001", RESOURCE_GROUP_NAME="rg-demo",
                      STORAGE_ACCOUNT_NAME="ftstdemo3f9a1c", FILE_SHARE_NAME="finetuning", ACA_JOB_NAME="demo-job")
        inference = {"ACA_APP_NAME": "demo-inference", "ACA_APP_ENDPOINT": "https://demo-inference.example.io"}
    project.save_finetuning_config(config)
    project.save_inference_config(inference)
    (root / ".ftstudio-answers.json").write_text(json.dumps(
        {"project_name": root.name, "model": {"id": MODEL["id"]}, "recipe": "qlora", "target": target}),
        encoding="utf-8")
    return project


class FixedBackend:
    """A Backend with fixed answers (records what it was asked)."""

    name = "azure"

    def __init__(self, project=None, *, executions=None, plan=None, secrets=None, log_lines=None):
        self.project = project
        self._executions = list(EXECUTIONS if executions is None else executions)
        self._plan = list(PLAN if plan is None else plan)
        self.secrets = dict.fromkeys(secrets if secrets is not None else ["HF_TOKEN", "WANDB_API_KEY"], "x")
        self.log_lines = LOG_LINES if log_lines is None else log_lines
        self.calls: list[tuple] = []

    def plan(self, kind, *, inputs=None, on_event=None):
        self.calls.append(("plan", kind))
        return list(self._plan)

    def describe(self):
        self.calls.append(("describe",))
        return dict(DESCRIBED)

    def provision(self, kind, *, inputs=None, on_event=lambda e: None):
        self.calls.append(("provision", kind))
        for change in self._plan:
            on_event(StepStarted(change.resource, f"{change.resource} {change.name}"))
            if change.resource == "job":
                on_event(StepFailed("job", f"Job {change.name}", "SubscriptionConsumptionT4Gpus quota is 0. "
                                    "Fix: request T4 quota in the portal, or pick another region"))
                from core.errors import OperationFailed

                raise OperationFailed("Job demo-job: quota exceeded.", fix="request T4 quota, then provision again")
            on_event(StepFinished(change.resource, f"{change.resource} {change.name}",
                                  "unchanged" if change.action == "unchanged" else change.action + "d"))
        return {}

    def teardown(self, *, on_event=lambda e: None):
        return []

    def sync(self, *, dry_run=False, force=False, delete=False, on_event=lambda e: None):
        on_event(Progress("upload", 3, 3, unit="files"))
        return SyncResult(uploaded=["a", "b", "c"], unchanged=10)

    def run(self, *, resume=None, on_event=lambda e: None):
        self.calls.append(("run", resume))
        return self._executions[0]

    def executions(self):
        return list(self._executions)

    def running_executions(self):
        return [e for e in self._executions if not e.finished]

    def execution(self, name=None):
        return self._executions[0]

    def stop(self, name=None):
        return self._executions[0]

    def download(self, remote_path, to, *, on_event=lambda e: None):
        return Path(to)

    def logs(self, *, execution=None, inference=False, follow=True, system=False, since=None):
        self.calls.append(("logs", execution, inference))
        return AbortableStream(self._log_events(), threading.Event())

    def _log_events(self) -> Iterator[object]:
        yield StreamState("running")
        for i, line in enumerate(self.log_lines):
            yield LogLine(line, timestamp=f"2026-11-23T10:15:{i % 60:02d}Z")
        yield StreamState("ended", status="Succeeded", exit_code=0)

    def secret_set(self, name, value, *, inference=False):
        self.calls.append(("secret_set", name, inference))
        self.secrets[name] = value

    def secret_list(self, *, inference=False):
        return sorted(self.secrets)

    def secret_get(self, name, *, inference=False):
        return self.secrets[name]

    def secret_remove(self, name, *, inference=False):
        self.secrets.pop(name)

    def deploy(self, *, on_event=lambda e: None):
        return Endpoint("https://demo-inference.example.io", app="demo-inference", revision="demo-inference--d1")


class FixedDirectory:
    """infra.azure.inputs.Directory with fixed answers."""

    def subscriptions(self):
        return [("00000000-0000-0000-0000-000000000001", "Contoso Research"),
                ("00000000-0000-0000-0000-000000000002", "Contoso Production")]

    def resource_groups(self, subscription_id):
        return [("rg-demo", "westus3"), ("rg-shared", "eastus")]

    def resource_group_location(self, subscription_id, resource_group):
        return dict(self.resource_groups(subscription_id)).get(resource_group)

    def gpu_locations(self, subscription_id):
        return ["australiaeast", "swedencentral", "westus3"]
