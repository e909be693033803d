"""The fake through the real ARM SDK clients: every operation ftstudio uses, and what Azure validates."""
from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest

from tests.fakeazure.seed import app_body, clients, job_body
from tests.waiting import wait_for

pytestmark = pytest.mark.wire


def code_of(err: HttpResponseError) -> str:
    return err.error.code if err.error else ""


@pytest.fixture
def ca(fake_azure):
    return clients(fake_azure)[3]


# -- ARM core --------------------------------------------------------------------------------------
def test_subscriptions_and_resource_groups(fake_azure):
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    sc = SubscriptionClient(fake_azure.credential(), **fake_azure.client_kwargs())
    subs = {s.subscription_id: s for s in sc.subscriptions.list()}
    assert fake_azure.subscription_id in subs and subs[fake_azure.subscription_id].state == "Enabled"
    assert sc.subscriptions.get(fake_azure.subscription_id).tenant_id == fake_azure.tenant_id
    rm = clients(fake_azure)[0]
    rm.resource_groups.create_or_update("Rg-One", {"location": "West US 3"})
    assert rm.resource_groups.get("rg-one").name == "Rg-One"  # case-insensitive, name casing kept
    assert [g.name for g in rm.resource_groups.list()] == ["Rg-One"]
    rm.resource_groups.begin_delete("rg-one").result()
    with pytest.raises(ResourceNotFoundError) as e:
        rm.resource_groups.get("Rg-One")
    assert code_of(e.value) == "ResourceGroupNotFound"


def test_arm_auth_and_api_version(fake_azure):
    from azure.mgmt.resource.resources import ResourceManagementClient

    from tests.fakeazure import FakeCredential

    bad = ResourceManagementClient(FakeCredential("wrong"), fake_azure.subscription_id, **fake_azure.client_kwargs())
    with pytest.raises(ClientAuthenticationError) as e:
        bad.resource_groups.create_or_update("rg", {"location": "eastus"})
    assert code_of(e.value) == "InvalidAuthenticationToken"
    import requests

    r = requests.get(f"{fake_azure.arm_endpoint}/subscriptions/{fake_azure.subscription_id}/resourcegroups",
                     verify=fake_azure.ca_path)
    assert r.status_code == 401 and r.json()["error"]["code"] == "AuthenticationFailed"
    r = requests.get(f"{fake_azure.arm_endpoint}/subscriptions/{fake_azure.subscription_id}/resourcegroups",
                     headers={"Authorization": f"Bearer {fake_azure.token}"}, verify=fake_azure.ca_path)
    assert r.status_code == 400 and r.json()["error"]["code"] == "MissingApiVersionParameter"


def test_provider_registration_on_fresh_subscription(fake_azure):
    from azure.mgmt.appcontainers import ContainerAppsAPIClient
    from azure.mgmt.resource.resources import ResourceManagementClient

    sub = fake_azure.fresh_subscription_id
    rm = ResourceManagementClient(fake_azure.credential(), sub, **fake_azure.client_kwargs())
    ca = ContainerAppsAPIClient(fake_azure.credential(), sub, **fake_azure.client_kwargs())
    rm.resource_groups.create_or_update("rg", {"location": "westus3"})
    assert rm.providers.get("Microsoft.App").registration_state == "NotRegistered"
    with pytest.raises(HttpResponseError) as e:
        ca.managed_environments.begin_create_or_update("rg", "env", {"location": "westus3", "properties": {}}).result()
    assert e.value.status_code == 409 and code_of(e.value) == "MissingSubscriptionRegistration"
    assert "'Microsoft.App'" in e.value.error.message
    assert rm.providers.register("Microsoft.App").registration_state == "Registering"
    wait_for(lambda: rm.providers.get("Microsoft.App").registration_state == "Registered")
    env = ca.managed_environments.begin_create_or_update("rg", "env", {"location": "westus3", "properties": {}}).result()
    assert env.properties.provisioning_state == "Succeeded"


# -- storage / log analytics ---------------------------------------------------------------------------
def test_storage_accounts(fake_azure, p):
    st = clients(fake_azure)[1]
    chk = st.storage_accounts.check_name_availability({"name": "Bad_Name", "type": "Microsoft.Storage/storageAccounts"})
    assert chk.name_available is False and chk.reason == "AccountNameInvalid"
    fake_azure.state.take_storage_name("someoneelses")
    chk = st.storage_accounts.check_name_availability({"name": "someoneelses", "type": "Microsoft.Storage/storageAccounts"})
    assert chk.name_available is False and chk.reason == "AlreadyExists"
    assert st.storage_accounts.check_name_availability({"name": "freename1", "type": "Microsoft.Storage/storageAccounts"}).name_available
    body = {"sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "location": "westus3"}
    with pytest.raises(HttpResponseError) as e:
        st.storage_accounts.begin_create(p.resource_group, "UPPER", body).result()
    assert code_of(e.value) == "AccountNameInvalid"
    with pytest.raises(HttpResponseError) as e:
        st.storage_accounts.begin_create(p.resource_group, "someoneelses", body).result()
    assert code_of(e.value) == "StorageAccountAlreadyTaken"
    acct = st.storage_accounts.get_properties(p.resource_group, p.account)
    assert acct.properties.provisioning_state == "Succeeded" and acct.properties.primary_endpoints.file
    keys = st.storage_accounts.list_keys(p.resource_group, p.account).keys_property
    assert [k.key_name for k in keys] == ["key1", "key2"] and keys[0].value == p.account_key
    assert fake_azure.requests.filter("POST", r"/listKeys$")[-1].query.get("$expand") == "kerb"
    share = st.file_shares.get(p.resource_group, p.account, p.share)
    assert share.file_share_properties.share_quota == 1024
    st.file_shares.delete(p.resource_group, p.account, p.share)
    with pytest.raises(ResourceNotFoundError):
        st.file_shares.get(p.resource_group, p.account, p.share)
    st.storage_accounts.delete(p.resource_group, p.account)
    with pytest.raises(ResourceNotFoundError):
        st.storage_accounts.get_properties(p.resource_group, p.account)


def test_file_service_share_soft_delete(fake_azure, p):
    """fileServices/default through FileServicesOperations: GET, PUT (settings given replace, others
    stay), list, validation, and a missing account."""
    from azure.mgmt.storage.models import CorsRule, CorsRules, DeleteRetentionPolicy, FileServiceProperties

    st = clients(fake_azure)[1]
    fs = st.file_services.get_service_properties(p.resource_group, p.account)
    assert fs.name == "default" and fs.type == "Microsoft.Storage/storageAccounts/fileServices"
    assert fs.id.endswith(f"/storageAccounts/{p.account}/fileServices/default")
    assert fs.file_service_properties.share_delete_retention_policy.enabled is False
    cors = CorsRules(cors_rules=[CorsRule(allowed_origins=["https://a.example"], allowed_methods=["GET"],
                                          max_age_in_seconds=60, exposed_headers=["*"], allowed_headers=["*"])])
    st.file_services.set_service_properties(p.resource_group, p.account, FileServiceProperties(cors=cors))
    got = st.file_services.set_service_properties(p.resource_group, p.account, {
        "properties": {"shareDeleteRetentionPolicy": {"enabled": True, "days": 7}}})
    assert got.file_service_properties.share_delete_retention_policy.as_dict() == {"enabled": True, "days": 7}
    again = st.file_services.get_service_properties(p.resource_group, p.account)
    assert again.file_service_properties.share_delete_retention_policy.days == 7
    assert again.file_service_properties.cors.cors_rules[0].allowed_origins == ["https://a.example"]  # kept
    assert [f.name for f in st.file_services.list(p.resource_group, p.account).value] == ["default"]
    put = fake_azure.requests.filter("PUT", r"/fileServices/default$")[-1]
    assert put.query.get("api-version") == "2026-09-01"
    with pytest.raises(HttpResponseError) as e:
        st.file_services.set_service_properties(p.resource_group, p.account, FileServiceProperties(
            share_delete_retention_policy=DeleteRetentionPolicy(enabled=True, days=366)))
    assert e.value.status_code == 400 and "365" in str(e.value)
    assert st.file_services.get_service_properties(p.resource_group, p.account).file_service_properties \
        .share_delete_retention_policy.days == 7  # a rejected PUT changes nothing
    with pytest.raises(ResourceNotFoundError):
        st.file_services.get_service_properties(p.resource_group, "nosuchaccount1")


def test_workspace(fake_azure, p):
    la = clients(fake_azure)[2]
    ws = la.workspaces.get(p.resource_group, p.workspace)
    assert ws.provisioning_state == "Succeeded" and len(ws.customer_id) == 36
    keys = la.shared_keys.get_shared_keys(p.resource_group, p.workspace)
    assert keys.primary_shared_key and keys.secondary_shared_key


# -- managed environments ----------------------------------------------------------------------------------
def test_environment_reads_and_gpu_regions(fake_azure, p, ca):
    env = ca.managed_environments.get(p.resource_group, p.environment)
    props = env.properties
    assert props.event_stream_endpoint.startswith(fake_azure.arm_endpoint + "/subscriptions/")
    assert props.default_domain and props.app_logs_configuration.log_analytics_configuration.customer_id == p.customer_id
    assert "sharedKey" not in str(env.as_dict())
    tok = ca.managed_environments.get_auth_token(p.resource_group, p.environment)
    assert tok.properties.token and tok.properties.expires
    names = [x.name for x in ca.available_workload_profiles.get("westus3")]
    assert "Consumption-GPU-NC24-A100" in names
    assert "Consumption-GPU-NC24-A100" not in [x.name for x in ca.available_workload_profiles.get("eastus")]
    gpu_env = {"location": "eastus", "properties": {"workloadProfiles": [
        {"name": "Consumption", "workloadProfileType": "Consumption"},
        {"name": "gpu", "workloadProfileType": "Consumption-GPU-NC24-A100"}]}}
    with pytest.raises(HttpResponseError) as e:
        ca.managed_environments.begin_create_or_update(p.resource_group, "env-east", gpu_env).result()
    assert e.value.status_code == 400 and code_of(e.value) == "WorkloadProfileTypeNotSupportedInRegion"
    fake_azure.state.set_gpu_locations({"eastus": ["A100"]})
    assert ca.managed_environments.begin_create_or_update(p.resource_group, "env-east", gpu_env).result().properties.provisioning_state == "Succeeded"
    # a GPU profile can only be added when the environment is created
    add = {"location": "westus3", "properties": {"workloadProfiles": [
        {"name": "Consumption", "workloadProfileType": "Consumption"}, {"name": "t4", "workloadProfileType": "Consumption-GPU-NC8as-T4"}]}}
    fake_azure.state.set_gpu_locations({"westus3": ["A100", "T4"]})
    ca.managed_environments.begin_create_or_update(p.resource_group, "plain", {"location": "westus3", "properties": {
        "workloadProfiles": [{"name": "Consumption", "workloadProfileType": "Consumption"}]}}).result()
    with pytest.raises(HttpResponseError):
        ca.managed_environments.begin_create_or_update(p.resource_group, "plain", add).result()


def test_environment_log_analytics_key_is_checked(fake_azure, p, ca):
    body = {"location": "westus3", "properties": {"appLogsConfiguration": {"destination": "log-analytics",
            "logAnalyticsConfiguration": {"customerId": p.customer_id, "sharedKey": "d3Jvbmc="}}}}
    with pytest.raises(HttpResponseError) as e:
        ca.managed_environments.begin_create_or_update(p.resource_group, "env2", body).result()
    assert e.value.status_code == 400


def test_usages_and_quota(fake_azure, p, ca):
    fake_azure.state.set_quota("SubscriptionConsumptionNCA100Gpus", 4, location="westus3")
    use = {u.name.value: u for u in ca.usages.list("westus3")}
    assert use["SubscriptionConsumptionNCA100Gpus"].limit == 4
    assert use["ManagedEnvironmentCount"].current_value == 1
    assert {u.name.value: u.limit for u in ca.usages.list("eastus")}["SubscriptionConsumptionNCA100Gpus"] == 1
    env_use = list(ca.managed_environment_usages.list(p.resource_group, p.environment))
    assert env_use and env_use[0].unit == "Count"


def test_environment_storage_validation(fake_azure, p, ca):
    def put(**af):
        props = {"accountName": p.account, "accountKey": p.account_key, "shareName": p.share, "accessMode": "ReadWrite"}
        props.update(af)
        return ca.managed_environments_storages.create_or_update(p.resource_group, p.environment, "s2", {"properties": {"azureFile": props}})

    with pytest.raises(HttpResponseError) as e:
        put(accountKey="d3Jvbmc=")
    assert code_of(e.value) == "ManagedEnvironmentStorageAccountKeyInvalid"
    with pytest.raises(HttpResponseError) as e:
        put(shareName="nope")
    assert code_of(e.value) == "ManagedEnvironmentStorageShareNotFound"
    with pytest.raises(HttpResponseError):
        put(accountName="missingacct")
    s = put(accessMode="ReadOnly")
    assert s.properties.azure_file.access_mode == "ReadOnly" and "accountKey" not in str(s.as_dict())
    got = ca.managed_environments_storages.get(p.resource_group, p.environment, "s2")
    assert got.properties.azure_file.account_key is None


# -- jobs -----------------------------------------------------------------------------------------------
def test_job_validation_errors(fake_azure, p, ca):
    def put(mutate):
        b = job_body(p)
        mutate(b)
        return ca.jobs.begin_create_or_update(p.resource_group, "badjob", b).result()

    cases = [
        (lambda b: b["properties"]["configuration"].pop("replicaTimeout"), "JobInvalidReplicaTimeout"),
        (lambda b: b["properties"]["template"]["containers"][0]["env"].append({"name": "T", "secretRef": "nope"}),
         "ContainerAppSecretRefNotFound"),
        (lambda b: b["properties"]["template"]["volumes"][0].update(storageName="nostorage"), "ManagedEnvironmentStorageNotFound"),
        (lambda b: b["properties"].update(workloadProfileName="nogpu"), "WorkloadProfileNameNotFound"),
        (lambda b: b["properties"].update(environmentId=p.environment_id + "x"), "ManagedEnvironmentNotFound"),
    ]
    for mutate, code in cases:
        with pytest.raises(HttpResponseError) as e:
            put(mutate)
        assert code_of(e.value) == code, code
    with pytest.raises(HttpResponseError) as e:
        ca.jobs.begin_create_or_update(p.resource_group, "Bad--Name", job_body(p)).result()
    assert e.value.status_code == 400


def test_job_lifecycle_secrets_and_update(fake_azure, p, ca):
    rg = p.resource_group
    body = job_body(p, secrets=[{"name": "hf-token", "value": "s3cr3t"}],
                    env=[{"name": "HF_TOKEN", "secretRef": "hf-token"}, {"name": "RUN_ID", "value": "r1"}])
    job = ca.jobs.begin_create_or_update(rg, "ftjob", body).result()
    assert job.properties.provisioning_state == "Succeeded"
    assert job.properties.configuration.secrets[0].name == "hf-token" and job.properties.configuration.secrets[0].value is None
    assert job.properties.event_stream_endpoint.endswith("/jobs/ftjob/eventstream")
    assert {s.name: s.value for s in ca.jobs.list_secrets(rg, "ftjob").value} == {"hf-token": "s3cr3t"}
    # a name-only secret (what a GET gives back) is refused: values must be re-sent
    body2 = job_body(p, secrets=[{"name": "hf-token"}], env=[{"name": "HF_TOKEN", "secretRef": "hf-token"}])
    with pytest.raises(HttpResponseError) as e:
        ca.jobs.begin_create_or_update(rg, "ftjob", body2).result()
    assert code_of(e.value) == "ContainerAppSecretInvalid"
    # a PUT with secrets replaces the whole list
    body3 = job_body(p, secrets=[{"name": "other", "value": "x"}])
    ca.jobs.begin_create_or_update(rg, "ftjob", body3).result()
    assert [s.name for s in ca.jobs.list_secrets(rg, "ftjob").value] == ["other"]
    # PATCH (202 + Location) keeps secrets not mentioned
    upd = ca.jobs.begin_update(rg, "ftjob", {"properties": {"configuration": {"replicaTimeout": 7200}}}).result()
    assert upd.properties.configuration.replica_timeout == 7200
    assert [s.name for s in ca.jobs.list_secrets(rg, "ftjob").value] == ["other"]
    assert fake_azure.requests.filter("PATCH", r"/jobs/ftjob$")[-1].status == 202
    ca.jobs.begin_delete(rg, "ftjob").result()
    with pytest.raises(ResourceNotFoundError):
        ca.jobs.get(rg, "ftjob")


def test_job_executions_start_override_paging_stop(fake_azure, p, ca):
    rg = p.resource_group
    ca.jobs.begin_create_or_update(rg, "ftjob", job_body(p)).result()
    fake_azure.jobs.script(job="ftjob", lines=["x"] * 200, line_interval=0.05)
    override = {"containers": [{"name": "trainer", "image": "myreg.azurecr.io/ft:2", "command": ["bash", "-c"],
                                "args": ["python train.py --resume"], "env": [{"name": "RUN_ID", "value": "run42"}],
                                "resources": {"cpu": 24.0, "memory": "220Gi"}}]}
    names = [ca.jobs.begin_start(rg, "ftjob", override if i == 0 else None).result().name for i in range(5)]
    assert all(n.startswith("ftjob-") and len(n) == len("ftjob-") + 7 for n in names)
    first = ca.job_execution(rg, "ftjob", names[0])
    c = first.properties.template.containers[0]
    assert c.image == "myreg.azurecr.io/ft:2" and c.args == ["python train.py --resume"] and c.env[0].value == "run42"
    listed = [e.name for e in ca.jobs_executions.list(rg, "ftjob")]
    assert listed == list(reversed(names))  # newest first, across pages
    assert fake_azure.requests.count("GET", r"/jobs/ftjob/executions$") >= 2  # nextLink was followed
    # stop: SDK path, legacy path, and stop-all
    ca.jobs.begin_stop_execution(rg, "ftjob", names[0]).result()
    ca.send_request(HttpRequest("POST", f"/subscriptions/{p.subscription_id}/resourceGroups/{rg}/providers/Microsoft.App/jobs/ftjob/stop/{names[1]}",
                                params={"api-version": "2025-07-01"})).raise_for_status()
    assert ca.job_execution(rg, "ftjob", names[0]).properties.status == "Stopped"
    assert ca.job_execution(rg, "ftjob", names[1]).properties.status == "Stopped"
    stopped = ca.jobs.begin_stop_multiple_executions(rg, "ftjob").result()
    assert sorted(e.name for e in stopped.value) == sorted(names[2:])
    assert all(e.properties.status == "Stopped" for e in ca.jobs_executions.list(rg, "ftjob"))


def test_job_simulator_statuses_outputs_and_raw_paths(fake_azure, p, ca):
    rg = p.resource_group
    ca.jobs.begin_create_or_update(rg, "ftjob", job_body(p, env=[{"name": "RUN_ID", "value": "20240101-000000"}])).result()
    fake_azure.jobs.script(job="ftjob", lines=["a", "b"], queued_for=0.3, line_interval=0.01, times=1,
                           writes={"/mount/outputs/{RUN_ID}/adapter_model.safetensors": b"W"})
    fake_azure.jobs.script(job="ftjob", lines=["bad"], exit_code=1, line_interval=0.0, times=1)
    # scripts are picked newest first: the failing one runs first
    fail = ca.jobs.begin_start(rg, "ftjob").result().name
    ex = wait_for(lambda: (e := ca.job_execution(rg, "ftjob", fail)).properties.status == "Failed" and e)
    assert ex.properties.reason == "BackoffLimitExceeded" and ex.properties.end_time is not None
    assert ex.properties.detailed_status.replicas[0].containers[0].code == 1
    ok = ca.jobs.begin_start(rg, "ftjob").result().name
    e = ca.job_execution(rg, "ftjob", ok)
    assert e.properties.status == "Processing"
    base = f"/subscriptions/{p.subscription_id}/resourceGroups/{rg}/providers/Microsoft.App/jobs/ftjob"
    reps = ca.send_request(HttpRequest("GET", f"{base}/executions/{ok}/replicas", params={"api-version": "2023-11-02-preview"})).json()
    assert reps["value"] == []  # queued: no replica yet
    wait_for(lambda: ca.job_execution(rg, "ftjob", ok).properties.status == "Succeeded")
    assert fake_azure.state.files(p.account, p.share)["outputs/20240101-000000/adapter_model.safetensors"] == b"W"
    reps = ca.send_request(HttpRequest("GET", f"{base}/executions/{ok}/replicas", params={"api-version": "2023-11-02-preview"})).json()
    assert reps["value"][0]["name"].startswith(ok + "-")
    assert reps["value"][0]["properties"]["containers"][0]["logStreamEndpoint"].endswith("/containers/trainer/logstream")
    tok = ca.send_request(HttpRequest("POST", f"{base}/getAuthToken", params={"api-version": "2023-11-02-preview"})).json()
    assert tok["type"] == "Microsoft.App/jobs/accesstoken" and tok["properties"]["token"]


# -- container apps ----------------------------------------------------------------------------------------
def test_container_app_revisions_and_readiness(fake_azure, p, ca):
    rg = p.resource_group
    fake_azure.apps.script(app="ftapi", ready_after=0.05, lines=["Uvicorn running"])
    app = ca.container_apps.begin_create_or_update(rg, "ftapi", app_body(p, suffix="v1", secrets=[{"name": "api-key", "value": "k"}],
                                                                         env=[{"name": "INFERENCE_API_KEY", "secretRef": "api-key"}])).result()
    assert app.properties.latest_revision_name == "ftapi--v1"
    assert app.properties.configuration.ingress.fqdn.startswith("ftapi.")
    assert app.properties.latest_revision_fqdn.startswith("ftapi--v1.")
    wait_for(lambda: ca.container_apps.get(rg, "ftapi").properties.latest_ready_revision_name == "ftapi--v1")
    assert {s.name: s.value for s in ca.container_apps.list_secrets(rg, "ftapi").value} == {"api-key": "k"}
    # same suffix again with a changed template: refused
    b = app_body(p, suffix="v1", env=[{"name": "X", "value": "2"}])
    with pytest.raises(HttpResponseError) as e:
        ca.container_apps.begin_create_or_update(rg, "ftapi", b).result()
    assert e.value.status_code == 400
    # PATCH merges: the stored revisionSuffix stays and a changed template is refused (the trap)
    b = app_body(p, env=[{"name": "X", "value": "3"}])
    with pytest.raises(HttpResponseError):
        ca.container_apps.begin_update(rg, "ftapi", {"properties": {"template": b["properties"]["template"]}}).result()
    # an empty suffix rolls a random-suffix revision
    b["properties"]["template"]["revisionSuffix"] = ""
    app = ca.container_apps.begin_update(rg, "ftapi", {"properties": {"template": b["properties"]["template"]}}).result()
    new = app.properties.latest_revision_name
    assert new.startswith("ftapi--") and new != "ftapi--v1"
    revs = {r.name: r for r in ca.container_apps_revisions.list_revisions(rg, "ftapi")}
    assert set(revs) == {"ftapi--v1", new} and revs["ftapi--v1"].properties.active is False
    wait_for(lambda: ca.container_apps_revisions.get_revision(rg, "ftapi", new).properties.health_state == "Healthy")
    reps = ca.container_apps_revision_replicas.list_replicas(rg, "ftapi", new).value
    assert reps[0].name.startswith(new + "-") and reps[0].properties.containers[0].log_stream_endpoint.endswith("/containers/server/logstream")
    ca.container_apps_revisions.restart_revision(rg, "ftapi", new)
    assert ca.container_apps.get_auth_token(rg, "ftapi").properties.token
    ca.container_apps.begin_delete(rg, "ftapi").result()
    with pytest.raises(ResourceNotFoundError):
        ca.container_apps.get(rg, "ftapi")


def test_container_app_never_ready(fake_azure, p, ca):
    fake_azure.apps.script(app="ftapi", ready=False, ready_after=0.0, events=[("ContainerCrashing", None), "ProbeFailed"])
    app = ca.container_apps.begin_create_or_update(p.resource_group, "ftapi", app_body(p)).result()
    rev = app.properties.latest_revision_name
    wait_for(lambda: ca.container_apps_revisions.get_revision(p.resource_group, "ftapi", rev).properties.health_state == "Unhealthy")
    assert ca.container_apps.get(p.resource_group, "ftapi").properties.latest_ready_revision_name is None
    reasons = [e["reason"] for e in fake_azure.state.revisions[app.id.lower()][rev.lower()].events]
    assert "ContainerCrashing" in reasons and "ProbeFailed" in reasons


def test_container_app_secret_ref_and_profile_checked(fake_azure, p, ca):
    with pytest.raises(HttpResponseError) as e:
        ca.container_apps.begin_create_or_update(p.resource_group, "ftapi", app_body(p, env=[{"name": "K", "secretRef": "missing"}])).result()
    assert code_of(e.value) == "ContainerAppSecretRefNotFound"
