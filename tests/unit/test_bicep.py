"""The generated bicep: parses (pycep), describes the architecture's resources with azure_spec's facts,
matches the parameters files, and passes checkov with only reasoned skips."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core import azure_facts as spec
from scaffolds.generate import ProjectSpec
from usecases.projects import generate_project

CHECKOV = Path(sys.executable).with_name("checkov")
AITK_PARAMS = {"defaultCommands", "maximumInstanceCount", "location", "storageAccountName", "fileShareName",
               "acaEnvironmentName", "acaEnvironmentStorageName", "acaLogAnalyticsName", "gpuProfileType", "image"}


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    root = tmp_path_factory.mktemp("bicep")
    t4 = generate_project(ProjectSpec(name="t4", model="Qwen/Qwen2.5-0.5B-Instruct", parent=root))
    a100 = generate_project(ProjectSpec(name="a100", model="meta-llama/Meta-Llama-3-8B", parent=root, recipe="lora"))
    return {"t4": t4.path, "a100": a100.path}


def parse(path: Path) -> dict:
    from pycep import BicepParser

    return BicepParser().parse(file_path=path)


def _str(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@pytest.fixture(scope="module")
def parsed(projects):
    base = projects["t4"] / "infra/provision"
    return {kind: parse(base / f"{kind}.bicep") for kind in ("finetuning", "inference")}


def resources(doc: dict) -> dict:
    """{resource type: config} from pycep's output."""
    out = {}
    for name, res in doc["resources"].items():
        out[res["type"]] = res["config"]
    return out


def test_both_files_parse_with_the_architecture_resources(parsed):
    ft, inf = resources(parsed["finetuning"]), resources(parsed["inference"])
    common = {"Microsoft.Storage/storageAccounts", "Microsoft.Storage/storageAccounts/fileServices",
              "Microsoft.Storage/storageAccounts/fileServices/shares", "Microsoft.OperationalInsights/workspaces",
              "Microsoft.App/managedEnvironments", "Microsoft.App/managedEnvironments/storages"}
    assert set(ft) == common | {"Microsoft.App/jobs"}
    assert set(inf) == common | {"Microsoft.App/containerApps"}
    for doc in parsed.values():
        for res in doc["resources"].values():
            namespace = res["type"].split("/")[0]
            assert res["api_version"] == spec.API_VERSIONS[namespace]


def test_storage_is_locked_down(parsed):
    for doc in parsed.values():
        acct = resources(doc)["Microsoft.Storage/storageAccounts"]
        assert acct["kind"] == spec.STORAGE_KIND and acct["sku"]["name"] == spec.STORAGE_SKU
        props = acct["properties"]
        assert props["minimumTlsVersion"] == "TLS1_2" and props["supportsHttpsTrafficOnly"] is True
        assert props["allowBlobPublicAccess"] is False
        share = resources(doc)["Microsoft.Storage/storageAccounts/fileServices/shares"]
        assert share["properties"]["shareQuota"] == spec.SHARE_QUOTA_GIB


def test_environment_has_consumption_and_gpu_profiles(parsed):
    doc = parsed["finetuning"]
    env = resources(doc)["Microsoft.App/managedEnvironments"]
    profiles = env["properties"]["workloadProfiles"]
    assert profiles[0] == {"name": "Consumption", "workloadProfileType": "Consumption"}
    assert profiles[1] == "gpuWorkloadProfile"
    text = _str(doc["variables"]["gpuWorkloadProfile"])
    assert "gpuProfileType" in text and spec.GPU_PROFILE_NAME in text and "maximumInstanceCount" in text
    gpu = {k.strip("'"): v for k, v in doc["variables"]["gpuResources"]["value"].items()}  # pycep keeps quotes
    for profile, facts in spec.GPU_PROFILES.items():
        assert gpu[profile] == {"cpu": facts["cpu"], "memory": facts["memory"]}
    storage = resources(doc)["Microsoft.App/managedEnvironments/storages"]["properties"]["azureFile"]
    assert storage["accessMode"] == "ReadWrite"


def test_job_fails_fast_and_mounts_the_share(parsed):
    job = resources(parsed["finetuning"])["Microsoft.App/jobs"]["properties"]
    cfg = job["configuration"]
    assert cfg["triggerType"] == "Manual" and cfg["replicaTimeout"] == "timeout" and cfg["replicaRetryLimit"] == 0
    assert "secrets" not in cfg and job["workloadProfileName"] == spec.GPU_PROFILE_NAME
    container = job["template"]["containers"][0]
    command = container["command"]
    assert command[:2] == ["/bin/bash", "-c"]
    assert command[2] == "set -euo pipefail; ${join(defaultCommands, ' && ')}"
    assert container["volumeMounts"] == [{"volumeName": spec.VOLUME_NAME, "mountPath": "/mount"}]
    assert {"name": "PIP_CACHE_DIR", "value": "/mount/.cache/pip"} in container["env"]
    assert job["template"]["volumes"][0]["storageType"] == "AzureFile"


def test_inference_app_ingress_probes_scale(parsed):
    app = resources(parsed["inference"])["Microsoft.App/containerApps"]["properties"]
    ingress = app["configuration"]["ingress"]
    assert ingress["external"] is True and ingress["targetPort"] == 7860 and ingress["allowInsecure"] is False
    container = app["template"]["containers"][0]
    assert {p["type"] for p in container["probes"]} == {"Startup", "Readiness", "Liveness"}
    assert all(p["httpGet"] == {"path": "/health", "port": 7860} for p in container["probes"])
    assert app["template"]["scale"] == {"minReplicas": 0, "maxReplicas": "maximumInstanceCount"}
    env = container["env"]["function"]  # concat(the fixed env, the API key's env when a key is given)
    assert env["type"] == "concat" and env["parameters"]["arg_2"] == "apiKeyEnv"
    assert {"name": "PIP_CACHE_DIR", "value": "/mount/.cache/pip"} in env["parameters"]["arg_1"]
    doc = parsed["inference"]
    assert doc["parameters"]["inferenceApiKey"]["default"] == ""
    assert any(d["type"] == "secure" for d in doc["parameters"]["inferenceApiKey"]["decorators"])
    key_env = doc["variables"]["apiKeyEnv"]["value"]["operator"]["operands"]
    assert key_env["true_value"] == [] and key_env["false_value"] == [
        {"name": spec.INFERENCE_API_KEY_ENV, "secretRef": spec.INFERENCE_API_KEY_SECRET}]
    assert app["configuration"]["secrets"] == "apiKeySecrets"
    assert container["command"][2] == "set -euo pipefail; ${join(defaultCommands, ' && ')}"
    assert container["volumeMounts"][0]["mountPath"] == "/mount"


def test_parameters_and_outputs_follow_ai_toolkit(parsed, projects):
    ft, inf = parsed["finetuning"], parsed["inference"]
    assert AITK_PARAMS | {"timeout", "acaJobName"} <= set(ft["parameters"])
    assert AITK_PARAMS | {"acaAppName"} <= set(inf["parameters"])
    assert {"SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME", "ACA_JOB_NAME",
            "COMMANDS"} <= set(ft["outputs"])
    assert {"SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME", "ACA_APP_NAME",
            "ACA_APP_ENDPOINT"} <= set(inf["outputs"])
    suffix = ft["parameters"]["resourceSuffix"]["default"]["function"]
    assert suffix["type"] == "substring" and suffix["parameters"]["length"] == spec.RESOURCE_SUFFIX_LENGTH
    assert suffix["parameters"]["string_to_parse"]["function"]["type"] == "unique_string"
    # uniqueString(toLower(subscription().subscriptionId), toLower(resourceGroup().name), toLower(projectName)):
    # what infra/azure/names.py computes (tests/wire/test_provision_bicep.py evaluates both)
    hashed = suffix["parameters"]["string_to_parse"]["function"]["parameters"]
    inputs = [hashed[k]["function"]["parameters"]["string_to_change"] for k in ("base_string", "extra_string_1",
                                                                               "extra_string_2")]
    assert [inputs[0]["function"]["property_name"], inputs[1]["function"]["property_name"], inputs[2]] == [
        "subscriptionId", "name", spec.PROJECT_NAME_PARAMETER]
    for kind in ("finetuning", "inference"):
        values = json.loads((projects["t4"] / f"infra/provision/{kind}.parameters.json").read_text())["parameters"]
        assert values[spec.PROJECT_NAME_PARAMETER] == {"value": "t4"}
    for key, prefix in spec.NAME_PREFIXES.items():
        doc = ft if key in ft["parameters"] else inf
        assert prefix in _str(doc["parameters"][key]["default"]), key
    # every value in the parameters files names a bicep parameter, and every required one is given
    for kind, doc in parsed.items():
        values = json.loads((projects["t4"] / f"infra/provision/{kind}.parameters.json").read_text())["parameters"]
        assert set(values) <= set(doc["parameters"])
        required = {n for n, p in doc["parameters"].items() if "default" not in p}
        assert required <= set(values)


def test_gpu_profile_default_follows_the_model(projects):
    t4 = parse(projects["t4"] / "infra/provision/finetuning.bicep")["parameters"]["gpuProfileType"]
    a100 = parse(projects["a100"] / "infra/provision/finetuning.bicep")["parameters"]["gpuProfileType"]
    assert t4["default"] == "Consumption-GPU-NC8as-T4" and a100["default"] == "Consumption-GPU-NC24-A100"
    allowed = next(d["argument"] for d in t4["decorators"] if d["type"] == "allowed")
    assert allowed == list(spec.GPU_PROFILES)


def test_checkov_finds_no_failed_check(projects, tmp_path):
    assert CHECKOV.is_file(), "checkov is part of the test extra"
    dirs = [arg for project in projects.values() for arg in ("-d", str(project / "infra/provision"))]
    out = subprocess.run([str(CHECKOV), "--framework", "bicep", *dirs, "--skip-download", "-o", "json"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    reports = _json_documents(out.stdout)  # checkov prints one report per -d
    assert len(reports) >= 2
    skipped = []
    for report in reports:
        summary = report["summary"]
        assert summary["parsing_errors"] == 0 and summary["failed"] == 0, report["results"].get("failed_checks")
        assert summary["passed"] > 0 and summary["resource_count"] >= 14
        skipped += report["results"]["skipped_checks"]
    assert {c["file_path"].rsplit("/", 1)[-1] for c in skipped} == {"finetuning.bicep", "inference.bicep"}
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "").strip()
        assert len(reason) > 20, check["check_id"]  # a written reason, not a bare skip


def _json_documents(text: str) -> list:
    decoder, docs, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        doc, i = decoder.raw_decode(text, i)
        docs.extend(doc if isinstance(doc, list) else [doc])
    return docs


def test_azure_spec_is_data_only():
    # The SDK path imports it too: values only, no logic, no SDK imports.
    import ast

    tree = ast.parse(Path(spec.__file__).read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda))]
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert all(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in imports)
    for name in dir(spec):
        if name.isupper():
            assert isinstance(getattr(spec, name), (str, int, dict, tuple, list)), name
