"""Inference provisioning: a GPU Container App in the fine-tuning environment, against the fake Azure."""
from __future__ import annotations

import json

import pytest

from infra.azure import provision as P
from core.events import Collector
from core import azure_facts as spec
from tests.wire._provision_project import INFERENCE_COMMANDS, backend_in, root, set_parameters, writes  # noqa: F401 - fixture

pytestmark = pytest.mark.wire
RG = "rg-inf"
LOC = "swedencentral"


def _backend(root, fake):
    return backend_in(root, fake, RG, LOC)


def _app(fake, name):
    return next(r for r in fake.state.list_resources("Microsoft.App/containerApps") if r["name"] == name)


def _api_key(backend, app):
    values = backend.session.appcontainers.container_apps.list_secrets(RG, app).as_dict()["value"]
    return {s["name"]: s["value"] for s in values}["inference-api-key"]


def test_fresh_inference_creates_the_shared_resources_and_a_gpu_app(fake_azure, root):
    backend = _backend(root, fake_azure)
    ev = Collector()
    result = P.provision(backend, "inference", on_event=ev)
    by = {r["resource"]: r for r in result["resources"]}
    assert {k: r["result"] for k, r in by.items()} == {"fileservice": "updated", **{k: "created" for k in (
        "resource_group", "storage", "share", "workspace", "environment", "envstorage", "app")}}
    assert "job" not in by
    app = _app(fake_azure, by["app"]["name"])
    props = app["properties"]
    assert props["workloadProfileName"] == "GPU"
    assert props["environmentId"].endswith("/managedEnvironments/" + by["environment"]["name"])
    ingress = props["configuration"]["ingress"]
    assert ingress["external"] is True and ingress["targetPort"] == 7860
    assert props["template"]["scale"]["minReplicas"] == 0 and props["template"]["scale"]["maxReplicas"] == 1
    c = props["template"]["containers"][0]
    assert c["command"] == ["/bin/bash", "-c", "set -euo pipefail; " + " && ".join(INFERENCE_COMMANDS)]
    assert c["volumeMounts"] == [{"volumeName": "share", "mountPath": "/mount"}]
    env = {e["name"]: e for e in c["env"]}
    assert env["PIP_CACHE_DIR"]["value"] == "/mount/.cache/pip"
    assert env["INFERENCE_API_KEY"] == {"name": "INFERENCE_API_KEY", "secretRef": "inference-api-key"}
    probes = {p["type"]: p for p in c["probes"]}
    assert set(probes) == {"Startup", "Readiness", "Liveness"}
    assert {p["httpGet"]["path"] for p in probes.values()} == {"/health"}
    assert {p["httpGet"]["port"] for p in probes.values()} == {7860}
    assert probes["Startup"]["failureThreshold"] == spec.STARTUP_FAILURES

    key = _api_key(backend, by["app"]["name"])
    assert len(key) >= 32
    cfg_text = (root / "infra" / "inference.config.json").read_text()
    cfg = json.loads(cfg_text)
    assert cfg["ACA_APP_NAME"] == by["app"]["name"]
    assert cfg["ACA_APP_ENDPOINT"] == result["endpoint"] == "https://" + ingress["fqdn"]
    assert (cfg["STORAGE_ACCOUNT_NAME"], cfg["FILE_SHARE_NAME"]) == (by["storage"]["name"], by["share"]["name"])
    # the key is never printed, written or reported
    everything = cfg_text + json.dumps(result) + repr(ev.events) + "".join(
        p.read_text(errors="ignore") for p in root.rglob("*") if p.is_file())
    assert key not in everything


def test_inference_reuses_the_finetuning_environment_and_is_idempotent(fake_azure, root):
    backend = _backend(root, fake_azure)
    ft = {r["resource"]: r["name"] for r in P.provision(backend, "finetune")["resources"]}
    fake_azure.requests.clear()
    result = P.provision(backend, "inference")
    by = {r["resource"]: r for r in result["resources"]}
    for shared in ("storage", "fileservice", "share", "workspace", "environment", "envstorage"):
        assert by[shared]["name"] == ft[shared] and by[shared]["result"] == "unchanged"
    assert [(w.method, w.path.rsplit("/", 2)[-2]) for w in writes(fake_azure)] == [("PUT", "containerApps")]
    assert len(fake_azure.state.list_resources("Microsoft.App/managedEnvironments")) == 1
    key = _api_key(backend, by["app"]["name"])

    fake_azure.requests.clear()
    again = P.provision(backend, "inference")
    assert writes(fake_azure) == []
    assert {r["result"] for r in again["resources"]} == {"unchanged"}
    assert again["endpoint"] == result["endpoint"]

    # a change (more replicas) is a PATCH that keeps the API key
    set_parameters(root, "inference", maximumInstanceCount=3)
    fake_azure.requests.clear()
    updated = {r["resource"]: r for r in P.provision(backend, "inference")["resources"]}
    assert updated["app"]["result"] == "updated"
    assert updated["app"]["changes"] == {"properties.template.scale.maxReplicas": [1, 3]}
    assert [w.method for w in writes(fake_azure)] == ["PATCH"]
    assert _api_key(backend, by["app"]["name"]) == key
    # the fine-tuning job is still there and untouched
    assert len(fake_azure.state.list_resources("Microsoft.App/jobs")) == 1


def test_inference_parameters_may_name_other_resources(fake_azure, root):
    backend = _backend(root, fake_azure)
    P.provision(backend, "finetune")
    set_parameters(root, "inference", acaAppName="chat-app", fileShareName="inference-share")
    result = P.provision(backend, "inference")
    by = {r["resource"]: r for r in result["resources"]}
    assert by["app"]["name"] == "chat-app" and by["share"]["result"] == "created"
    assert by["environment"]["result"] == "unchanged"
    cfg = json.loads((root / "infra" / "inference.config.json").read_text())
    assert cfg["FILE_SHARE_NAME"] == "inference-share" and cfg["ACA_APP_NAME"] == "chat-app"


def test_down_removes_the_app_too(fake_azure, root):
    backend = _backend(root, fake_azure)
    P.provision(backend, "finetune")
    app = {r["resource"]: r["name"] for r in P.provision(backend, "inference")["resources"]}["app"]
    assert app in P.teardown(backend)
    assert fake_azure.state.list_resources() == []
    cfg = json.loads((root / "infra" / "inference.config.json").read_text())
    assert cfg["ACA_APP_NAME"] is None and cfg["ACA_APP_ENDPOINT"] is None
