"""`ftstudio provision` / `ftstudio down` end to end, in-process, against the fake Azure."""
from __future__ import annotations

import json

import pytest

from tests.wire._provision_project import quiet_log, root, set_parameters, writes  # noqa: F401 - fixture
from tui.cli import main

pytestmark = pytest.mark.wire


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_provision_then_preview_then_down(azure_env, root, capsys):
    fake = azure_env
    code, out, err = _run(capsys, "provision", "finetune", "--project", str(root), "--resource-group", "rg-cli",
                          "--location", "westus3", "--non-interactive", "--json")
    assert code == 0, err
    doc = json.loads(out)  # one JSON document on stdout
    assert doc["target"] == "azure" and doc["subscription_id"] == fake.subscription_id  # from AZURE_SUBSCRIPTION_ID
    assert {r["result"] for r in doc["resources"] if r["resource"] != "fileservice"} == {"created"}
    assert {r["result"] for r in doc["resources"] if r["resource"] == "fileservice"} == {"updated"}  # soft delete on
    assert "✓ Container Apps environment" in err  # progress on stderr
    state = json.loads((root / ".ftstudio" / "state.json").read_text())
    assert (state["subscription_id"], state["resource_group"], state["location"]) == (
        fake.subscription_id, "rg-cli", "westus3")

    # the saved inputs are enough next time; a preview changes nothing
    set_parameters(root, timeout=600)
    fake.requests.clear()
    code, out, err = _run(capsys, "provision", "--project", str(root), "--preview", "--non-interactive", "--json")
    assert code == 0, err
    changes = {c["resource"]: c for c in json.loads(out)["changes"]}
    assert changes["job"]["action"] == "update"
    assert changes["job"]["changes"] == {"properties.configuration.replicaTimeout": [10800, 600]}
    assert writes(fake) == []

    code, out, err = _run(capsys, "provision", "--project", str(root), "--preview")
    assert code == 0 and "replicaTimeout: 10800 -> 600" in out and "Preview only, nothing changed" in out

    code, out, err = _run(capsys, "down", "--project", str(root), "--yes", "--non-interactive", "--json")
    assert code == 0, err
    assert "rg-cli" in json.loads(out)["removed"]
    assert fake.state.list_resources() == []


def test_missing_inputs_are_all_named_with_exit_2(azure_env, root, capsys, monkeypatch):
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID")
    quiet_log(azure_env)
    code, out, err = _run(capsys, "provision", "finetune", "--project", str(root), "--non-interactive", "--json")
    assert code == 2
    error = json.loads(out)["error"]
    assert error["code"] == "MissingInput"
    assert [m["name"] for m in error["missing_inputs"]] == ["subscription", "resource group", "location"]
    assert {m["source"] for m in error["missing_inputs"]} == {
        "--subscription or AZURE_SUBSCRIPTION_ID", "--resource-group or AZURE_RESOURCE_GROUP", "--location or AZURE_LOCATION"}
    assert err.count("\n") == 1 and err.startswith("error: Missing required input")
    assert len(azure_env.requests) == 0


def test_env_vars_supply_the_inputs_and_inference_prints_its_endpoint(azure_env, root, capsys, monkeypatch):
    monkeypatch.setenv("AZURE_RESOURCE_GROUP", "rg-env")
    monkeypatch.setenv("AZURE_LOCATION", "australiaeast")
    code, out, err = _run(capsys, "provision", "inference", "--project", str(root), "--non-interactive")
    assert code == 0, err
    cfg = json.loads((root / "infra" / "inference.config.json").read_text())
    assert cfg["RESOURCE_GROUP_NAME"] == "rg-env" and cfg["ACA_APP_ENDPOINT"].startswith("https://")
    assert f"Endpoint: {cfg['ACA_APP_ENDPOINT']}" in out


def test_an_invalid_name_exits_2_without_a_request(azure_env, root, capsys):
    set_parameters(root, storageAccountName="Not-Valid")
    quiet_log(azure_env)
    code, out, err = _run(capsys, "provision", "--project", str(root), "--resource-group", "rg", "--location",
                          "westus3", "--non-interactive")
    assert code == 2
    assert "storageAccountName" in err and "Not-Valid" in err
    assert len(azure_env.requests) == 0


def test_a_failing_step_exits_1_with_the_azure_error(azure_env, root, capsys):
    azure_env.faults.fail_lro("ManagedEnvironmentProvisioningError", "Subnet is full.", method="PUT",
                              path=r"/managedEnvironments/[^/]+$")
    code, out, err = _run(capsys, "provision", "--project", str(root), "--resource-group", "rg", "--location",
                          "westus3", "--non-interactive", "--json")
    assert code == 1
    error = json.loads(out)["error"]
    assert error["code"] == "ManagedEnvironmentProvisioningError" and "Subnet is full." in error["message"]
    assert "✗ Container Apps environment" in err


def test_not_logged_in_is_one_clear_line(root, capsys, monkeypatch, tmp_path):
    # no static token, and a DefaultAzureCredential that can only try the (absent) Azure CLI
    for var in ("FTSTUDIO_ACCESS_TOKEN", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET",
                "AZURE_USERNAME", "IDENTITY_ENDPOINT", "MSI_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    monkeypatch.setenv("PATH", str(tmp_path))
    code, out, err = _run(capsys, "provision", "--project", str(root), "--subscription", "sub-1",
                          "--resource-group", "rg", "--location", "westus3", "--non-interactive")
    assert code == 1
    assert err.startswith("error: Not logged in to Azure: run `az login`")
    assert err.count("\n") == 1 and "Traceback" not in err
