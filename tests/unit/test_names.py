"""Resource names (derivation, Azure's rules), input resolution order, and the desired/actual diff."""
from __future__ import annotations

import json

import pytest

from infra.azure import names as N
from infra.azure.inputs import AzureInputs, resolve_inputs
from infra.azure.plan import changes_of, diff
from infra.errors import InputError, MissingInputs
from scaffolds import azure_spec
from scaffolds.project import Project


# -- names ---------------------------------------------------------------------------------------------
def test_derived_names_are_deterministic_prefixed_and_valid():
    a = N.resolve_names("sub-1", "rg-1", "demo")
    assert a == N.resolve_names("SUB-1", "RG-1", "demo")  # ARM ids are case-insensitive
    assert a != N.resolve_names("sub-1", "rg-2", "demo")
    assert a != N.resolve_names("sub-1", "rg-1", "other")
    sfx = N.suffix("sub-1", "rg-1", "demo")
    assert len(sfx) == azure_spec.RESOURCE_SUFFIX_LENGTH and sfx.isalnum() and sfx == sfx.lower()
    for param, prefix in azure_spec.NAME_PREFIXES.items():
        assert getattr(a, N.PARAMETER_FIELDS[param]) == prefix + sfx
    for fld, value in a.as_dict().items():
        N.validate(fld, value)  # raises when a derived name breaks Azure's rules


def test_parameters_win_over_saved_and_derived_names():
    got = N.resolve_names("s", "g", "p", parameters={"storageAccountName": "mystore01", "acaJobName": None},
                          saved={"storage": "oldstore", "job": "old-job"})
    assert got.storage == "mystore01"
    assert got.job == "old-job"
    assert got.environment == azure_spec.NAME_PREFIXES["acaEnvironmentName"] + N.suffix("s", "g", "p")


@pytest.mark.parametrize("fld,value", [
    ("storage", "abc"), ("storage", "a" * 24), ("share", "my-share-1"), ("share", "abc"),
    ("environment", "ab"), ("job", "a" + "b" * 31), ("app", "my-app-2"), ("workspace", "Log-1"),
    ("envstorage", "store-link"),
])
def test_valid_names(fld, value):
    assert N.validate(fld, value) == value


@pytest.mark.parametrize("fld,value,param", [
    ("storage", "ab", "storageAccountName"),
    ("storage", "a" * 25, "storageAccountName"),
    ("storage", "My_Store", "storageAccountName"),
    ("storage", "store-1", "storageAccountName"),
    ("share", "-share", "fileShareName"),
    ("share", "sha--re", "fileShareName"),
    ("share", "Share", "fileShareName"),
    ("share", "ab", "fileShareName"),
    ("environment", "1env", "acaEnvironmentName"),
    ("environment", "env--x", "acaEnvironmentName"),
    ("environment", "env-", "acaEnvironmentName"),
    ("job", "a" * 33, "acaJobName"),
    ("app", "My-App", "acaAppName"),
    ("envstorage", "a", "acaEnvironmentStorageName"),
    ("workspace", "abc", "acaLogAnalyticsName"),
    ("workspace", "-abcd", "acaLogAnalyticsName"),
])
def test_invalid_names_name_the_parameter(fld, value, param):
    with pytest.raises(InputError) as info:
        N.validate(fld, value)
    assert info.value.field == param
    assert param in info.value.one_line() and "parameters.json" in info.value.one_line()


def test_resolve_names_rejects_a_bad_parameter_before_anything():
    with pytest.raises(InputError) as info:
        N.resolve_names("s", "g", "p", parameters={"acaJobName": "Bad--Job"})
    assert info.value.field == "acaJobName"


# -- input resolution ------------------------------------------------------------------------------------
class FakeDirectory:
    def __init__(self, groups=None):
        self.calls = []
        self.groups = groups or {}

    def subscriptions(self):
        self.calls.append("subscriptions")
        return [("sub-a", "Alpha")]

    def resource_groups(self, sub):
        self.calls.append("resource_groups")
        return sorted(self.groups.items())

    def resource_group_location(self, sub, rg):
        self.calls.append("rg_location")
        return self.groups.get(rg)

    def gpu_locations(self, sub):
        self.calls.append("gpu_locations")
        return ["westus3", "swedencentral"]


@pytest.fixture
def project(tmp_path):
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "finetuning.config.json").write_text(json.dumps({"COMMANDS": []}))
    return Project(tmp_path)


def test_flag_beats_env_beats_project(project):
    project.update_state(subscription_id="sub-state", resource_group="rg-state", location="eastus")
    env = {"AZURE_SUBSCRIPTION_ID": "sub-env", "AZURE_RESOURCE_GROUP": "rg-env"}
    got = resolve_inputs(project, subscription="sub-flag", env=env)
    assert (got.subscription_id, got.resource_group, got.location) == ("sub-flag", "rg-env", "eastus")
    assert got.sources == {"subscription": "flag", "resource group": "env", "location": "project"}


def test_parameters_location_beats_saved_location(project):
    project.update_state(location="eastus")
    got = resolve_inputs(project, subscription="s", resource_group="g", env={}, parameters={"location": "West US 3"})
    assert got.location == "westus3" and got.sources["location"] == "parameters"


def test_non_interactive_names_every_missing_input(project):
    with pytest.raises(MissingInputs) as info:
        resolve_inputs(project, env={})
    names = [n for n, _ in info.value.missing]
    assert names == ["subscription", "resource group", "location"]
    text = info.value.one_line()
    for how in ("--subscription", "AZURE_SUBSCRIPTION_ID", "--resource-group", "AZURE_RESOURCE_GROUP",
                "--location", "AZURE_LOCATION"):
        assert how in text
    assert info.value.exit_code == 2


def test_non_interactive_takes_an_existing_groups_location(project):
    d = FakeDirectory({"rg1": "swedencentral"})
    got = resolve_inputs(project, subscription="s", resource_group="rg1", env={}, directory=lambda: d)
    assert got.location == "swedencentral" and got.sources["location"] == "resource group"
    with pytest.raises(MissingInputs) as info:
        resolve_inputs(project, subscription="s", resource_group="new-rg", env={}, directory=lambda: d)
    assert [n for n, _ in info.value.missing] == ["location"]


def test_interactive_never_assumes_the_only_subscription(project):
    asked = []

    def ask(question, *, name, how, default=None, choices=None):
        asked.append((name, choices))
        if name == "subscription":
            return choices[0]
        if name == "resource group":
            return "(create a new resource group)" if choices else "rg-new"
        return "westus3"

    d = FakeDirectory({"rg-old": "eastus"})
    got = resolve_inputs(project, env={}, ask=ask, directory=lambda: d)
    assert got == AzureInputs("sub-a", "rg-new", "westus3", got.sources)
    assert [n for n, _ in asked] == ["subscription", "resource group", "resource group", "location"]
    assert asked[0][1] == ["sub-a  Alpha"]  # asked even with one subscription
    assert asked[3][1] == ["westus3", "swedencentral"]  # locations that offer the GPU profile


# -- diff ------------------------------------------------------------------------------------------------------
def test_diff_compares_only_what_we_set_and_matches_lists_by_key():
    desired = {"properties": {"template": {"containers": [{"name": "c", "image": "img:2",
                                                          "env": [{"name": "A", "value": "1"}],
                                                          "resources": {"cpu": 8, "memory": "56Gi"}}]},
                              "configuration": {"triggerType": "Manual", "secrets": [{"name": "k", "value": "v"}]}}}
    actual = {"properties": {"provisioningState": "Succeeded",
                             "template": {"containers": [{"name": "c", "image": "img:1", "probes": [],
                                                          "env": [{"name": "HF_TOKEN", "secretRef": "hf"},
                                                                  {"name": "A", "value": "1"}],
                                                          "resources": {"cpu": 8.0, "memory": "56Gi",
                                                                        "ephemeralStorage": "8Gi"}}]},
                             "configuration": {"triggerType": "manual", "secrets": [{"name": "k"}]}}}
    got = diff(desired, actual, ignore={"properties.configuration.secrets"})
    assert got == {"properties.template.containers[c].image": ["img:1", "img:2"]}


def test_a_failed_resource_is_applied_again():
    actual = {"properties": {"provisioningState": "Failed", "x": 1}}
    assert changes_of({"properties": {"x": 1}}, actual, ignore=set()) == {
        "properties.provisioningState": ["Failed", "Succeeded"]}
