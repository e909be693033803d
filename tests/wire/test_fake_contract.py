"""Contract: for every official example in /work/shared/azure-rest-examples/, the fake answers
the same request with the same status and the same JSON shape (keys and types, recursively).

Rules of the comparison (``shape_problems``): every key of the example must be in the fake's
answer unless listed as not modelled; a key the fake adds must either appear at the same place
in the example's REQUEST (an echoed real field) or be listed as a real read-only field; types
must agree (int/float are both "number"; null in the example matches anything).
"""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest
import requests

from tests.fakeazure.seed import provision

EXAMPLES = Path("/work/shared/azure-rest-examples")
pytestmark = pytest.mark.wire


def load(rel: str) -> dict:
    return json.loads((EXAMPLES / rel).read_text())


def _kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    return "dict"


def _norm(path: str) -> str:
    return path.lstrip(".")


def shape_problems(fake, example, request=None, *, extra=(), missing=(), path="") -> list[str]:
    out: list[str] = []
    if example is None:
        return out
    if _kind(fake) != _kind(example):
        return [f"{_norm(path) or '<root>'}: type {_kind(fake)} != {_kind(example)}"]
    if isinstance(example, dict):
        req = request if isinstance(request, dict) else {}
        for k, v in example.items():
            p = f"{path}.{k}"
            if k not in fake:
                if _norm(p) not in missing:
                    out.append(f"{_norm(p)}: missing")
                continue
            out += shape_problems(fake[k], v, req.get(k), extra=extra, missing=missing, path=p)
        for k in fake:
            p = f"{path}.{k}"
            if k not in example and k not in req and _norm(p) not in extra:
                out.append(f"{_norm(p)}: extra key not in the example nor its request")
    elif isinstance(example, list) and example and fake:
        req0 = request[0] if isinstance(request, list) and request else None
        out += shape_problems(fake[0], example[0], req0, extra=extra, missing=missing, path=path + "[]")
    return out


@pytest.fixture
def arm(fake_azure):
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {fake_azure.token}"
    base = fake_azure.arm_endpoint

    def call(method, path, body=None, api="2026-07-01", **params):
        return s.request(method, base + path, params={"api-version": api, **params}, verify=fake_azure.ca_path,
                         data=None if body is None else json.dumps(body),
                         headers={"Content-Type": "application/json"} if body is not None else {})

    return call


@pytest.fixture
def base(fake_azure):
    fake_azure.state.set_gpu_locations({"westus3": ["A100", "T4"]})
    p = provision(fake_azure, location="westus3")
    return p


def _get_abs(fake, url):
    return requests.get(url, headers={"Authorization": f"Bearer {fake.token}"}, verify=fake.ca_path)


def finish_lro(fake, resp):
    """Follow Azure-AsyncOperation / Location like azure-mgmt-core does, return the last response."""
    if "Azure-AsyncOperation" in resp.headers:
        while True:
            r = _get_abs(fake, resp.headers["Azure-AsyncOperation"])
            assert r.status_code == 200
            if r.json()["status"] != "InProgress":
                return r
    if "Location" in resp.headers:
        while True:
            r = _get_abs(fake, resp.headers["Location"])
            if r.status_code != 202:
                return r
    return resp


def create_env_from_example(fake, arm, p):
    ex = load("app/2026-07-01/ManagedEnvironments_CreateOrUpdate.json")
    body = copy.deepcopy(ex["parameters"]["environmentEnvelope"])
    la = body["properties"]["appLogsConfiguration"]["logAnalyticsConfiguration"]
    la["customerId"] = p.customer_id
    from tests.fakeazure.seed import clients

    la["sharedKey"] = clients(fake)[2].shared_keys.get_shared_keys(p.resource_group, p.workspace).primary_shared_key
    body["location"] = "West US 3"
    r = arm("PUT", f"/subscriptions/{p.subscription_id}/resourceGroups/{p.resource_group}/providers/Microsoft.App/managedEnvironments/testcontainerenv", body)
    return ex, body, r


def test_managed_environment_create_or_update(fake_azure, arm, base):
    ex, body, r = create_env_from_example(fake_azure, arm, base)
    assert r.status_code == 201, r.text
    assert "Azure-AsyncOperation" in r.headers
    probs = shape_problems(r.json(), ex["responses"]["201"]["body"], body,
                           extra={"properties.environmentMode", "properties.peerTrafficConfiguration"})
    assert probs == []
    assert "sharedKey" not in json.dumps(r.json()) and "certificatePassword" not in json.dumps(r.json())
    assert finish_lro(fake_azure, r).json()["status"] == "Succeeded"
    r2 = arm("PUT", r.json()["id"], body)  # the second PUT updates: 200 + Succeeded body
    assert r2.status_code == 200
    assert shape_problems(r2.json(), ex["responses"]["200"]["body"], body, extra={"properties.peerTrafficConfiguration"}) == []


def test_managed_environment_get_auth_token(arm, base):
    ex = load("app/2026-07-01/ManagedEnvironments_GetAuthToken.json")
    r = arm("POST", base.environment_id + "/getAuthtoken")
    assert r.status_code == 200
    assert shape_problems(r.json(), ex["responses"]["200"]["body"]) == []
    assert set(r.json()) == set(ex["responses"]["200"]["body"])


def test_environment_storage_create_or_update(fake_azure, arm, base):
    ex = load("app/2026-07-01/ManagedEnvironmentsStorages_CreateOrUpdate.json")
    body = copy.deepcopy(ex["parameters"]["storageEnvelope"])
    body["properties"]["azureFile"].update(accountName=base.account, accountKey=base.account_key, shareName=base.share)
    r = arm("PUT", base.environment_id + "/storages/jlaw-demo1", body)
    assert r.status_code == 201, r.text
    probs = shape_problems(r.json(), ex["responses"]["201"]["body"], body,
                           missing={"properties.azureFile.accountKeyVaultProperties"})
    assert probs == []
    assert "accountKey" not in r.json()["properties"]["azureFile"]


def test_available_workload_profiles(arm, base):
    ex = load("app/2026-07-01/AvailableWorkloadProfiles_Get.json")
    r = arm("GET", f"/subscriptions/{base.subscription_id}/providers/Microsoft.App/locations/westus3/availableManagedEnvironmentsWorkloadProfileTypes")
    assert r.status_code == 200
    body = r.json()
    assert shape_problems(body, ex["responses"]["200"]["body"], extra={"nextLink"}) == []
    gpu = [v for v in body["value"] if "gpus" in v["properties"]]
    exg = [v for v in ex["responses"]["200"]["body"]["value"] if "gpus" in v["properties"]][0]
    assert gpu and shape_problems(gpu[0], exg) == []


def make_job_from_example(fake, arm, base):
    ex = load("app/2026-07-01/Job_CreateorUpdate.json")
    body = copy.deepcopy(ex["parameters"]["JobEnvelope"])
    body["location"] = "West US 3"
    body["properties"]["environmentId"] = base.environment_id
    # the example mounts volumes it never declares; declare them (as its response shows)
    r = arm("PUT", base.environment_id + "/storages/nfsStorage",
            {"properties": {"nfsAzureFile": {"server": "acct.file.core.windows.net", "shareName": "/acct/nfs", "accessMode": "ReadWrite"}}})
    assert r.status_code == 201
    body["properties"]["template"]["volumes"] = [{"name": "azurefile", "storageName": base.storage, "storageType": "AzureFile"},
                                                 {"name": "nfsazurefile", "storageName": "nfsStorage", "storageType": "NfsAzureFile"}]
    path = f"/subscriptions/{base.subscription_id}/resourceGroups/{base.resource_group}/providers/Microsoft.App/jobs/testcontainerappsjob0"
    return ex, body, path


JOB_EXTRA = {"properties.runningState", "properties.outboundIpAddresses", "properties.template.containers[].resources.ephemeralStorage",
             "properties.template.initContainers[].resources.ephemeralStorage"}


def test_job_create_get_start_executions(fake_azure, arm, base):
    ex, body, path = make_job_from_example(fake_azure, arm, base)
    r = arm("PUT", path, body)
    assert r.status_code == 201, r.text
    assert "Azure-AsyncOperation" in r.headers
    assert shape_problems(r.json(), ex["responses"]["201"]["body"], body, extra=JOB_EXTRA) == []
    assert r.json()["properties"]["provisioningState"] == "InProgress"
    finish_lro(fake_azure, r)

    g = arm("GET", path)
    exg = load("app/2026-07-01/Job_Get.json")
    assert g.status_code == 200
    assert shape_problems(g.json(), exg["responses"]["200"]["body"], body, extra=JOB_EXTRA | {"properties.eventStreamEndpoint"}) == []
    assert g.json()["properties"]["provisioningState"] == "Succeeded"

    fake_azure.jobs.script(lines=["boom"], exit_code=1, line_interval=0.0)
    exs = load("app/2026-07-01/Job_Start.json")
    s = arm("POST", path + "/start", exs["parameters"]["template"])
    assert s.status_code == 200
    assert set(s.json()) == set(exs["responses"]["200"]["body"])
    assert shape_problems(s.json(), exs["responses"]["200"]["body"]) == []
    name = s.json()["name"]
    assert name.startswith("testcontainerappsjob0-") and len(name.rsplit("-", 1)[1]) == 7

    deadline = time.time() + 5
    while time.time() < deadline:
        e = arm("GET", f"{path}/executions/{name}")
        if e.json()["properties"]["status"] not in ("Processing", "Running"):
            break
        time.sleep(0.02)
    assert e.status_code == 200 and e.json()["properties"]["status"] == "Failed"
    exe = load("app/2026-07-01/Job_Execution_Get.json")
    assert shape_problems(e.json(), exe["responses"]["200"]["body"], extra={
        "properties.template.containers[].resources.ephemeralStorage"}) == []
    assert set(e.json()) == set(exe["responses"]["200"]["body"])

    lst = arm("GET", f"{path}/executions")
    exl = load("app/2026-07-01/Job_Executions_Get.json")
    assert lst.status_code == 200
    assert set(lst.json()) == {"value", "nextLink"}
    assert shape_problems(lst.json(), exl["responses"]["200"]["body"], extra={
        "value[].properties.detailedStatus", "value[].properties.reason", "value[].properties.message",
        "value[].properties.template.containers[].resources.ephemeralStorage"}) == []

    sec = arm("POST", path + "/listSecrets")
    exsec = load("app/2026-07-01/Job_ListSecrets.json")
    assert sec.status_code == 200 and shape_problems(sec.json(), exsec["responses"]["200"]["body"]) == []


def test_job_stop_execution(fake_azure, arm, base):
    ex, body, path = make_job_from_example(fake_azure, arm, base)
    finish_lro(fake_azure, arm("PUT", path, body))
    fake_azure.jobs.script(lines=["a"] * 100, line_interval=0.05)
    name = arm("POST", path + "/start").json()["name"]
    stop = load("app/2026-07-01/Job_Stop_Execution.json")
    r = arm("POST", f"{path}/executions/{name}/stop")
    assert r.status_code == 200 and "200" in stop["responses"] and r.content == b""
    assert arm("GET", f"{path}/executions/{name}").json()["properties"]["status"] == "Stopped"


def test_job_list_secrets_values(fake_azure, arm, base):
    body = {"location": base.location, "properties": {
        "environmentId": base.environment_id,
        "configuration": {"triggerType": "Manual", "replicaTimeout": 60, "secrets": [{"name": "secret1", "value": "v1"}, {"name": "secret2", "value": "v2"}]},
        "template": {"containers": [{"name": "c", "image": "i"}]}}}
    path = f"/subscriptions/{base.subscription_id}/resourceGroups/{base.resource_group}/providers/Microsoft.App/jobs/j2"
    finish_lro(fake_azure, arm("PUT", path, body))
    exsec = load("app/2026-07-01/Job_ListSecrets.json")
    r = arm("POST", path + "/listSecrets")
    assert [s["name"] for s in r.json()["value"]] == [s["name"] for s in exsec["responses"]["200"]["body"]["value"]]
    assert shape_problems(r.json(), exsec["responses"]["200"]["body"], extra={"value[].value"}) == []


APP_EXTRA = {"properties.latestRevisionName", "properties.outboundIpAddresses", "properties.customDomainVerificationId",
             "properties.template.containers[].resources.ephemeralStorage",
             "properties.template.initContainers[].resources.ephemeralStorage", "properties.template.scale.rules[].custom",
             "properties.configuration.activeRevisionsMode", "properties.configuration.ingress.allowInsecure"}
APP_MISSING = {"properties.template.scale.rules[].http"}


def make_app_from_example(fake, arm, base):
    create_env = create_env_from_example(fake, arm, base)
    env_body = create_env[2].json()
    finish_lro(fake, create_env[2])
    env_id = env_body["id"]
    for name, props in (("storage", {"azureFile": {"accountName": base.account, "accountKey": base.account_key,
                                                   "shareName": base.share, "accessMode": "ReadWrite"}}),
                        ("nfsStorage", {"nfsAzureFile": {"server": "x", "shareName": "/x/y", "accessMode": "ReadWrite"}})):
        assert arm("PUT", f"{env_id}/storages/{name}", {"properties": props}).status_code == 201
    ex = load("app/2026-07-01/ContainerApps_CreateOrUpdate.json")
    body = copy.deepcopy(ex["parameters"]["containerAppEnvelope"])
    body["location"] = "West US 3"
    body["properties"]["environmentId"] = env_id
    path = f"/subscriptions/{base.subscription_id}/resourceGroups/{base.resource_group}/providers/Microsoft.App/containerApps/testcontainerapp0"
    return ex, body, path


def test_container_app_create_get_token_restart_replica(fake_azure, arm, base):
    fake_azure.apps.script(ready_after=0.0)
    ex, body, path = make_app_from_example(fake_azure, arm, base)
    r = arm("PUT", path, body)
    assert r.status_code == 201, r.text
    assert shape_problems(r.json(), ex["responses"]["201"]["body"], body, extra=APP_EXTRA, missing=APP_MISSING) == []
    finish_lro(fake_azure, r)
    deadline = time.time() + 5
    while time.time() < deadline and "latestReadyRevisionName" not in arm("GET", path).json()["properties"]:
        time.sleep(0.02)
    g = arm("GET", path)
    exg = load("app/2026-07-01/ContainerApps_Get.json")
    assert g.status_code == 200
    assert shape_problems(g.json(), exg["responses"]["200"]["body"], body, extra=APP_EXTRA, missing=APP_MISSING) == []

    t = arm("POST", path + "/getAuthtoken")
    ext = load("app/2026-07-01/ContainerApps_GetAuthToken.json")
    assert t.status_code == 200 and set(t.json()) == set(ext["responses"]["200"]["body"])
    assert shape_problems(t.json(), ext["responses"]["200"]["body"]) == []

    rev = g.json()["properties"]["latestRevisionName"]
    assert rev.startswith("testcontainerapp0--")
    reps = arm("GET", f"{path}/revisions/{rev}/replicas").json()["value"]
    one = arm("GET", f"{path}/revisions/{rev}/replicas/{reps[0]['name']}")
    exr = load("app/2026-07-01/Replicas_Get.json")
    assert one.status_code == 200
    assert shape_problems(one.json(), exr["responses"]["200"]["body"]) == []

    rr = arm("POST", f"{path}/revisions/{rev}/restart")
    assert rr.status_code == 200 and rr.content == b""
    assert "200" in load("app/2026-07-01/Revisions_Restart.json")["responses"]


def test_storage_account_create_and_list_keys(fake_azure, arm, base):
    ex = load("storage/2026-06-01/StorageAccountCreate.json")
    body = copy.deepcopy(ex["parameters"]["parameters"])
    path = f"/subscriptions/{base.subscription_id}/resourceGroups/{base.resource_group}/providers/Microsoft.Storage/storageAccounts/sto4445"
    r = arm("PUT", path, body, api="2026-09-01")
    assert r.status_code == 202 and r.content == b"" and "Location" in r.headers
    done = finish_lro(fake_azure, r)
    assert done.status_code == 200
    assert shape_problems(done.json(), ex["responses"]["200"]["body"], body) == []
    assert set(done.json()) == set(ex["responses"]["200"]["body"])

    exk = load("storage/2025-06-01/StorageAccountListKeys.json")
    k = arm("POST", path + "/listKeys", api="2026-09-01", **{"$expand": "kerb"})
    assert k.status_code == 200 and shape_problems(k.json(), exk["responses"]["200"]["body"], extra={"keys[].creationTime"}) == []


def test_file_share_put(arm, base):
    ex = load("storage/2025-06-01/FileSharesPut.json")
    path = f"/subscriptions/{base.subscription_id}/resourceGroups/{base.resource_group}/providers/Microsoft.Storage/storageAccounts/{base.account}/fileServices/default/shares/share6185"
    r = arm("PUT", path, ex["parameters"]["fileShare"], api="2026-09-01")
    assert r.status_code == 201
    assert set(r.json()) == set(ex["responses"]["201"]["body"])
    assert shape_problems(r.json(), ex["responses"]["201"]["body"]) == []


def test_workspace_create_and_shared_keys(fake_azure, arm, base):
    ex = load("operationalinsights/2025-07-01/WorkspacesCreate.json")
    body = ex["parameters"]["parameters"]
    path = f"/subscriptions/{base.subscription_id}/resourceGroups/{base.resource_group}/providers/Microsoft.OperationalInsights/workspaces/oiautorest6685"
    r = arm("PUT", path, body, api="2025-07-01")
    assert r.status_code == 201
    assert set(r.json()) == set(ex["responses"]["201"]["body"])
    assert shape_problems(r.json(), ex["responses"]["201"]["body"], body,
                          extra={"properties.createdDate", "properties.modifiedDate", "properties.features"}) == []
    assert r.json()["properties"]["provisioningState"] == "Creating"
    assert arm("GET", path, api="2025-07-01").json()["properties"]["provisioningState"] == "Succeeded"
    exk = load("operationalinsights/2025-07-01/WorkspacesGetSharedKeys.json")
    k = arm("POST", path + "/sharedKeys", api="2025-07-01")
    assert k.status_code == 200 and set(k.json()) == set(exk["responses"]["200"]["body"])


def test_logs_query_shape(fake_azure, base):
    from tests.fakeazure.seed import clients

    ca = clients(fake_azure)[3]
    from tests.fakeazure.seed import job_body

    ca.jobs.begin_create_or_update(base.resource_group, "qjob", job_body(base)).result()
    fake_azure.jobs.script(lines=["one", "two"], line_interval=0.0)
    name = ca.jobs.begin_start(base.resource_group, "qjob").result().name
    deadline = time.time() + 5
    while time.time() < deadline and ca.job_execution(base.resource_group, "qjob", name).properties.status == "Running":
        time.sleep(0.02)
    ex = load("loganalytics-query/v1/oms-post-example.json")
    r = requests.post(f"{fake_azure.logs_endpoint}/v1/workspaces/{base.customer_id}/query",
                      json={"query": "ContainerAppConsoleLogs_CL | take 10", "timespan": "PT12H"},
                      headers={"Authorization": f"Bearer {fake_azure.token}"}, verify=fake_azure.ca_path)
    assert r.status_code == 200
    body, exb = r.json(), ex["responses"]["200"]["body"]
    assert set(body) == set(exb) and set(body["tables"][0]) == set(exb["tables"][0])
    assert shape_problems(body["tables"][0]["columns"], exb["tables"][0]["columns"]) == []
    assert body["tables"][0]["name"] == "PrimaryResult"
    assert [len(row) for row in body["tables"][0]["rows"]] == [len(body["tables"][0]["columns"])] * 2
