"""Fine-tuning provisioning through the real SDK clients against the fake Azure."""
from __future__ import annotations

import json

import pytest

from infra.azure import provision as P
from core.errors import InputError, OperationFailed
from core.events import Collector, Info, StepFailed, StepFinished, StepStarted
from core import azure_facts as spec
from tests.wire._provision_project import COMMANDS, backend_in, quiet_log, root, set_parameters, writes  # noqa: F401 - fixture

pytestmark = pytest.mark.wire
RG = "rg-prov"
LOC = "westus3"


def _backend(root, fake, rg=RG, location=LOC, sub=None):
    return backend_in(root, fake, rg, location, sub)


def _res(fake, type_):
    return {r["name"]: r for r in fake.state.list_resources(type_)}


def _names(result):
    return {r["resource"]: r["name"] for r in result["resources"]}


def test_first_provision_creates_every_resource_and_writes_the_config(fake_azure, root):
    ev = Collector()
    backend = _backend(root, fake_azure)
    result = P.provision(backend, "finetune", on_event=ev)
    names = _names(result)
    # the account's file service comes with the account: share soft delete is an update of it
    assert {r["resource"]: r["result"] for r in result["resources"]} == {"fileservice": "updated", **{
        s: "created" for s in ("resource_group", "storage", "share", "workspace", "environment", "envstorage", "job")}}
    by = {r["resource"]: r for r in result["resources"]}
    assert by["fileservice"]["name"] == "default"
    assert by["fileservice"]["changes"] == {"properties.shareDeleteRetentionPolicy.enabled": [False, True],
                                            "properties.shareDeleteRetentionPolicy.days": [0, spec.SHARE_SOFT_DELETE_DAYS]}
    fs = backend.session.storage.file_services.get_service_properties(RG, names["storage"]).as_dict()
    assert fs["properties"]["shareDeleteRetentionPolicy"] == {"enabled": True, "days": spec.SHARE_SOFT_DELETE_DAYS}

    acct = _res(fake_azure, "Microsoft.Storage/storageAccounts")[names["storage"]]
    assert acct["kind"] == "StorageV2" and acct["sku"]["name"] == "Standard_LRS"
    assert acct["properties"]["minimumTlsVersion"] == "TLS1_2"
    assert acct["properties"]["allowBlobPublicAccess"] is False
    env = _res(fake_azure, "Microsoft.App/managedEnvironments")[names["environment"]]
    profiles = {p["name"]: p["workloadProfileType"] for p in env["properties"]["workloadProfiles"]}
    assert profiles == {"Consumption": "Consumption", "GPU": "Consumption-GPU-NC8as-T4"}
    ws = _res(fake_azure, "Microsoft.OperationalInsights/workspaces")[names["workspace"]]
    assert env["properties"]["appLogsConfiguration"]["logAnalyticsConfiguration"]["customerId"] == ws["properties"]["customerId"]
    job = _res(fake_azure, "Microsoft.App/jobs")[names["job"]]["properties"]
    assert job["workloadProfileName"] == "GPU"
    assert job["configuration"]["replicaTimeout"] == 10800 and job["configuration"]["triggerType"] == "Manual"
    c = job["template"]["containers"][0]
    assert c["image"] == spec.DEFAULT_IMAGE
    assert c["command"] == ["/bin/bash", "-c", "set -euo pipefail; " + " && ".join(COMMANDS)]
    assert c["resources"] == {"cpu": 8, "memory": "56Gi"} or c["resources"]["memory"] == "56Gi"
    assert c["volumeMounts"] == [{"volumeName": "share", "mountPath": "/mount"}]
    assert {"name": "PIP_CACHE_DIR", "value": "/mount/.cache/pip"} in c["env"]
    assert job["template"]["volumes"][0]["storageName"] == names["envstorage"]
    assert fake_azure.state.files(names["storage"], names["share"]) == {}  # the share exists on the data plane

    cfg = json.loads((root / "infra" / "finetuning.config.json").read_text())
    assert cfg["SUBSCRIPTION_ID"] == fake_azure.subscription_id and cfg["RESOURCE_GROUP_NAME"] == RG
    assert cfg["STORAGE_ACCOUNT_NAME"] == names["storage"] and cfg["FILE_SHARE_NAME"] == names["share"]
    assert cfg["ACA_JOB_NAME"] == names["job"] and cfg["COMMANDS"] == COMMANDS and cfg["TARGET"] == "azure"
    assert cfg["LOCATION"] == LOC and cfg["ACA_ENVIRONMENT_NAME"] == names["environment"]
    assert cfg["ACA_ENVIRONMENT_STORAGE_NAME"] == names["envstorage"] and cfg["LOG_ANALYTICS_NAME"] == names["workspace"]

    started = [e.step for e in ev.events if isinstance(e, StepStarted)]
    finished = {e.step: e for e in ev.events if isinstance(e, StepFinished)}
    assert sorted(started) == sorted(finished)
    assert all(e.link.startswith("https://portal.azure.com/") for e in finished.values())
    assert all(e.detail == "created" for step, e in finished.items() if step != "fileservice")
    assert finished["fileservice"].title == f"File service {names['storage']}/default"
    # the environment waited for the workspace and the storage link for the share (dependency order)
    assert started.index("environment") > max(started.index("workspace"), started.index("share"))
    assert started.index("storage") < started.index("fileservice") < started.index("share")


def test_second_run_with_nothing_changed_sends_no_write(fake_azure, root):
    backend = _backend(root, fake_azure)
    P.provision(backend, "finetune")
    fake_azure.requests.clear()
    ev = Collector()
    result = P.provision(backend, "finetune", on_event=ev)
    assert writes(fake_azure) == []
    # not even the read-only key POSTs: nothing needed a key
    assert fake_azure.requests.count(method="POST") == 0
    assert {r["result"] for r in result["resources"]} == {"unchanged"}
    assert {e.detail for e in ev.events if isinstance(e, StepFinished)} == {"unchanged"}


def test_a_changed_parameter_updates_only_its_resource_and_keeps_job_secrets(fake_azure, root):
    backend = _backend(root, fake_azure)
    names = _names(P.provision(backend, "finetune"))
    # `ftstudio secret set HF_TOKEN` adds a secret and a secret env var to the job
    jobs = backend.session.appcontainers.jobs
    container = _res(fake_azure, "Microsoft.App/jobs")[names["job"]]["properties"]["template"]["containers"][0]
    container["env"].append({"name": "HF_TOKEN", "secretRef": "hf-token"})
    jobs.begin_update(RG, names["job"], {"properties": {
        "configuration": {"secrets": [{"name": "hf-token", "value": "hf_very_secret"}]},
        "template": {"containers": [container]}}}).result()
    set_parameters(root, timeout=3600)
    fake_azure.requests.clear()
    result = P.provision(backend, "finetune")
    w = writes(fake_azure)
    assert [(x.method, x.path.rsplit("/", 1)[-1]) for x in w] == [("PATCH", names["job"])]
    job_result = next(r for r in result["resources"] if r["resource"] == "job")
    assert job_result["result"] == "updated"
    assert job_result["changes"] == {"properties.configuration.replicaTimeout": [10800, 3600]}
    job = _res(fake_azure, "Microsoft.App/jobs")[names["job"]]["properties"]
    assert job["configuration"]["replicaTimeout"] == 3600
    env = {e["name"]: e for e in job["template"]["containers"][0]["env"]}
    assert env["HF_TOKEN"] == {"name": "HF_TOKEN", "secretRef": "hf-token"}
    assert "PIP_CACHE_DIR" in env
    secrets = jobs.list_secrets(RG, names["job"]).as_dict()["value"]
    assert secrets == [{"name": "hf-token", "value": "hf_very_secret"}]


def test_existing_resources_named_in_the_parameters_are_reused_and_kept_on_down(fake_azure, root):
    backend = _backend(root, fake_azure)
    s = backend.session
    s.resources.resource_groups.create_or_update(RG, {"location": LOC})
    s.storage.storage_accounts.begin_create(RG, "mystore01", {
        "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "location": LOC, "properties": {}}).result()
    s.storage.file_shares.create(RG, "mystore01", "data", {"properties": {"shareQuota": 100}})
    set_parameters(root, storageAccountName="mystore01", fileShareName="data")
    fake_azure.requests.clear()
    result = P.provision(backend, "finetune")
    by = {r["resource"]: r for r in result["resources"]}
    assert by["storage"]["name"] == "mystore01" and by["storage"]["result"] == "updated"
    assert by["storage"]["changes"]["properties.minimumTlsVersion"][1] == "TLS1_2"
    assert by["share"]["result"] == "updated" and by["share"]["changes"] == {"properties.shareQuota": [100, 1024]}
    assert by["resource_group"]["result"] == "unchanged"
    assert fake_azure.requests.count(method="POST", path="checkNameAvailability") == 0  # ours: no availability check
    cfg = json.loads((root / "infra" / "finetuning.config.json").read_text())
    assert (cfg["STORAGE_ACCOUNT_NAME"], cfg["FILE_SHARE_NAME"]) == ("mystore01", "data")

    ev = Collector()
    deleted = P.teardown(backend, on_event=ev)
    assert "mystore01" not in deleted and by["job"]["name"] in deleted
    notes = " ".join(e.text for e in ev.events if isinstance(e, Info))
    assert "kept Storage account mystore01" in notes and f"kept Resource group {RG}" in notes
    assert "mystore01" in _res(fake_azure, "Microsoft.Storage/storageAccounts")
    assert fake_azure.state.resource_groups  # not created by ftstudio: kept


def test_unregistered_providers_are_registered_and_waited_for(fake_azure, root):
    sub = fake_azure.fresh_subscription_id
    backend = _backend(root, fake_azure, sub=sub)
    ev = Collector()
    P.provision(backend, "finetune", on_event=ev)
    registered = {r.path.split("/")[-2] for r in fake_azure.requests.filter(method="POST", path=r"/register$")}
    assert registered == {"Microsoft.App", "Microsoft.OperationalInsights"}
    for ns in ("Microsoft.App", "Microsoft.OperationalInsights", "Microsoft.Storage"):
        assert fake_azure.state.provider_state(sub, ns) == "Registered"
    assert any("registering resource provider Microsoft.App" in e.text for e in ev.events if isinstance(e, Info))
    # registration came before the first write under the namespace
    log = fake_azure.requests.entries
    first_app_put = next(i for i, r in enumerate(log) if r.method == "PUT" and "Microsoft.App" in r.path)
    last_register = max(i for i, r in enumerate(log) if r.path.endswith("/register"))
    assert last_register < first_app_put


def test_a_region_without_the_gpu_profile_lists_the_regions_that_have_it(fake_azure, root):
    backend = _backend(root, fake_azure, location="eastus")
    with pytest.raises(InputError) as info:
        P.provision(backend, "finetune")
    msg = info.value.one_line()
    assert info.value.field == "location" and "eastus" in msg and "Consumption-GPU-NC8as-T4" in msg
    for region in ("westus3", "australiaeast", "swedencentral", "westeurope"):
        assert region in msg
    assert "westus," not in msg + "," or "westus3" in msg  # westus offers A100 only, not T4
    assert " westus," not in msg and not msg.rstrip(".").endswith(" westus")
    assert writes(fake_azure) == []


def test_insufficient_gpu_quota_is_one_clear_error(fake_azure, root):
    fake_azure.state.set_quota("SubscriptionConsumptionT4Gpus", 0)
    with pytest.raises(OperationFailed) as info:
        P.provision(_backend(root, fake_azure), "finetune")
    msg = info.value.one_line()
    assert info.value.code == "InsufficientQuota"
    assert "SubscriptionConsumptionT4Gpus" in msg and LOC in msg and "portal.azure.com" in msg
    assert writes(fake_azure) == []


def test_an_invalid_name_fails_before_any_call(fake_azure, root):
    set_parameters(root, acaEnvironmentName="Env_1")
    quiet_log(fake_azure)
    with pytest.raises(InputError) as info:
        P.provision(_backend(root, fake_azure), "finetune")
    assert info.value.field == "acaEnvironmentName" and "Env_1" in info.value.one_line()
    assert [(r.method, r.path) for r in fake_azure.requests] == []


def test_a_taken_storage_name_is_reported_before_creating_anything(fake_azure, root):
    fake_azure.state.take_storage_name("takenstore1")
    set_parameters(root, storageAccountName="takenstore1")
    with pytest.raises(InputError) as info:
        P.provision(_backend(root, fake_azure), "finetune")
    assert info.value.field == "storageAccountName" and "takenstore1" in info.value.one_line()
    assert writes(fake_azure) == []


def test_throttling_and_5xx_during_apply_still_succeed(fake_azure, root):
    faults = fake_azure.faults
    # more 429s than azure-core retries on its own: the whole step is retried
    faults.throttle("PUT", r"/managedEnvironments/[^/]+$", times=14)
    faults.add("PUT", r"/storages/[^/]+$", 503, times=12)
    faults.add("PUT", r"/storageAccounts/[^/]+$", 502, times=1)
    faults.add("GET", r"/jobs/[^/]+$", 500, times=1)
    ev = Collector()
    result = P.provision(_backend(root, fake_azure), "finetune", on_event=ev)
    assert {r["result"] for r in result["resources"] if r["resource"] != "fileservice"} == {"created"}
    fired = {kind for kind, _, _ in faults.fired}
    assert fired == {"status"} and len(faults.fired) == 14 + 12 + 1 + 1
    assert any("retrying" in e.text for e in ev.events if isinstance(e, Info))
    assert not [e for e in ev.events if isinstance(e, StepFailed)]


def test_a_failed_lro_is_a_clear_error_and_the_next_run_resumes(fake_azure, root):
    fake_azure.faults.fail_lro("ContainerAppJobProvisioningFailed", "Image pull backoff.", method="PUT",
                               path=r"/jobs/[^/]+$")
    backend = _backend(root, fake_azure)
    ev = Collector()
    with pytest.raises(OperationFailed) as info:
        P.provision(backend, "finetune", on_event=ev)
    msg = info.value.one_line()
    job_name = backend.session and P.prepare(backend, "finetune").names.job
    assert job_name in msg and "ContainerAppJobProvisioningFailed" in msg and "Image pull backoff" in msg
    assert info.value.exit_code == 1
    failed = [e for e in ev.events if isinstance(e, StepFailed)]
    assert [e.step for e in failed] == ["job"]
    fake_azure.requests.clear()
    result = P.provision(backend, "finetune")
    assert {r["resource"]: r["result"] for r in result["resources"]}["job"] == "updated"
    assert {r["result"] for r in result["resources"] if r["resource"] != "job"} == {"unchanged"}
    assert [(w.method, w.path.rsplit("/", 1)[-1]) for w in writes(fake_azure)] == [("PATCH", job_name)]
    assert _res(fake_azure, "Microsoft.App/jobs")[job_name]["properties"]["provisioningState"] == "Succeeded"


def test_preview_changes_nothing_and_shows_property_changes(fake_azure, root):
    backend = _backend(root, fake_azure)
    changes = P.plan(backend, "finetune")
    assert {c.resource: c.action for c in changes} == {s: "create" for s in (
        "resource_group", "storage", "fileservice", "share", "workspace", "environment", "envstorage", "job")}
    assert writes(fake_azure) == [] and fake_azure.state.list_resources() == []
    assert not fake_azure.state.resource_groups
    P.provision(backend, "finetune")
    set_parameters(root, timeout=7200, maximumInstanceCount=3)
    fake_azure.requests.clear()
    changes = {c.resource: c for c in P.plan(backend, "finetune")}
    assert writes(fake_azure) == []
    assert changes["job"].action == "update"
    assert changes["job"].changes == {"properties.configuration.replicaTimeout": [10800, 7200]}
    assert {c.action for k, c in changes.items() if k != "job"} == {"unchanged"}


def test_share_soft_delete_drift_is_previewed_then_fixed_keeping_other_file_service_settings(fake_azure, root):
    backend = _backend(root, fake_azure)
    names = _names(P.provision(backend, "finetune"))
    fs = backend.session.storage.file_services
    # someone shortens soft delete and adds a CORS rule (in the portal, say)
    cors = {"corsRules": [{"allowedOrigins": ["https://a.example"], "allowedMethods": ["GET"], "maxAgeInSeconds": 60,
                           "exposedHeaders": ["*"], "allowedHeaders": ["*"]}]}
    fs.set_service_properties(RG, names["storage"], {"properties": {
        "shareDeleteRetentionPolicy": {"enabled": True, "days": 2}, "cors": cors}})
    fake_azure.requests.clear()
    changes = {c.resource: c for c in P.plan(backend, "finetune")}
    assert writes(fake_azure) == []
    assert changes["fileservice"].action == "update"
    assert changes["fileservice"].changes == {"properties.shareDeleteRetentionPolicy.days": [2, spec.SHARE_SOFT_DELETE_DAYS]}
    assert {c.action for k, c in changes.items() if k != "fileservice"} == {"unchanged"}
    result = P.provision(backend, "finetune")
    assert [(w.method, w.path.rsplit("/", 2)[-2:]) for w in writes(fake_azure)] == [("PUT", ["fileServices", "default"])]
    assert {r["resource"]: r["result"] for r in result["resources"]}["fileservice"] == "updated"
    got = fs.get_service_properties(RG, names["storage"]).as_dict()["properties"]
    assert got["shareDeleteRetentionPolicy"] == {"enabled": True, "days": spec.SHARE_SOFT_DELETE_DAYS}
    assert got["cors"] == cors  # settings ftstudio does not own are sent back as they were
    fake_azure.requests.clear()
    assert {r["result"] for r in P.provision(backend, "finetune")["resources"]} == {"unchanged"}
    assert writes(fake_azure) == []


def test_down_deletes_what_provision_created_and_clears_the_config(fake_azure, root):
    backend = _backend(root, fake_azure)
    names = _names(P.provision(backend, "finetune"))
    ev = Collector()
    deleted = P.teardown(backend, on_event=ev)
    assert set(deleted) == {names[s] for s in ("job", "environment", "workspace", "storage", "resource_group")}
    assert fake_azure.state.list_resources() == [] and not fake_azure.state.resource_groups
    assert {e.step for e in ev.events if isinstance(e, StepFinished)} == {
        "job", "environment", "workspace", "storage", "resource_group"}
    cfg = json.loads((root / "infra" / "finetuning.config.json").read_text())
    for key in ("SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME", "ACA_JOB_NAME",
                "ACA_ENVIRONMENT_NAME", "LOG_ANALYTICS_NAME"):
        assert cfg[key] is None
    assert cfg["COMMANDS"] == COMMANDS
    assert P.teardown(backend) == []  # nothing left: a second down is a no-op


def test_down_keeps_a_resource_group_that_still_holds_other_resources(fake_azure, root):
    backend = _backend(root, fake_azure)
    P.provision(backend, "finetune")
    backend.session.storage.storage_accounts.begin_create(RG, "someoneelse1", {
        "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "location": LOC}).result()
    ev = Collector()
    P.teardown(backend, on_event=ev)
    assert [r["name"] for r in fake_azure.state.list_resources()] == ["someoneelse1"]
    assert any("kept Resource group" in e.text and "1 resource" in e.text for e in ev.events if isinstance(e, Info))


def test_preview_on_a_new_subscription_lists_registrations_without_registering(fake_azure, root):
    sub = fake_azure.fresh_subscription_id
    changes = P.plan(_backend(root, fake_azure, sub=sub), "finetune")
    assert [(c.resource, c.name, c.action) for c in changes if c.resource == "provider"] == [
        ("provider", "Microsoft.App", "register"), ("provider", "Microsoft.OperationalInsights", "register")]
    assert writes(fake_azure) == [] and fake_azure.state.provider_state(sub, "Microsoft.App") == "NotRegistered"


def test_the_interactive_lookups_read_azure(fake_azure, root):
    from infra.azure.inputs import SessionDirectory

    backend = _backend(root, fake_azure)
    backend.session.resources.resource_groups.create_or_update("rg-a", {"location": "australiaeast"})
    d = SessionDirectory(backend.session_for, "Consumption-GPU-NC24-A100")
    subs = dict(d.subscriptions())
    assert set(subs) == {fake_azure.subscription_id, fake_azure.fresh_subscription_id}
    assert d.resource_groups(fake_azure.subscription_id) == [("rg-a", "australiaeast")]
    assert d.resource_group_location(fake_azure.subscription_id, "rg-a") == "australiaeast"
    assert d.resource_group_location(fake_azure.subscription_id, "nope") is None
    assert sorted(d.gpu_locations(fake_azure.subscription_id)) == ["australiaeast", "swedencentral", "westus", "westus3"]
    assert [(w.method, w.path.rsplit("/", 1)[-1]) for w in writes(fake_azure)] == [("PUT", "rg-a")]
