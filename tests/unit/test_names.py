"""Resource names (derivation, Azure's rules), input resolution order, and the desired/actual diff."""
from __future__ import annotations

import json

import pytest

from infra.azure import names as N
from infra.azure.inputs import AzureInputs, resolve_inputs
from infra.azure.plan import changes_of, diff
from infra.azure.uniquestring import murmur64, unique_string
from core.errors import MissingInputs
from core import azure_facts as azure_spec
from scaffolds.project import Project
from tests.refusals import refusal


# -- ARM's uniqueString -------------------------------------------------------------------------------
# Known input -> output pairs published by people who ran ARM (or Microsoft's own ARM expression
# library); none of them was produced with this code. Between them they cover inputs of 3-150 bytes,
# 0/3/4/5/6-byte tails after the 8-byte blocks, one and several arguments, and the raw 64-bit hash.
UNIQUE_STRING_VECTORS = [
    # KingslandConsulting/Kingsland.ArmLinter, src/Kingsland.ArmLinter/Functions/ArmFunctions_UniqueString.cs:
    # a comment lists the outputs of a real `New-AzResourceGroupDeployment` of a template whose
    # output is [uniqueString(...)] (the project itself left the function unimplemented).
    (("aaa",), "zavj67f3en4hc"),
    (("bbb",), "w5eragfxe33cy"),
    (("zzz",), "cryksdzzzawae"),
    (("xxx", "yyy", "zzz"), "lghi7k5js7itq"),
    # takekazuomi/arm-uniquestring, README.md: `uniqueString test` prints this, evaluated by Microsoft's
    # Azure.Deployments.Expression NuGet package (ExpressionBuiltInFunctions.Functions.EvaluateFunction).
    (("test",), "rbgf3xv4ufgzg"),
    # Stack Overflow question 43295720 "Azure ARM uniqueString function mimic", accepted answer: "tyeth"
    # through the ARM DLLs of the Azure Stack Hub Development Kit, and again through Azure.Deployments.Expression.
    (("tyeth",), "zcztcwvu6iyg6"),
    # JasonWhall/go-azure-uniquestring, README.md: hello world -> "hello-world" -> 571013382255652050 -> this.
    (("hello", "world"), "a7wkljktk6wne"),
    # microsoft/commercial-marketplace-offer-deploy, test/Tests/UnitTests ArmFunctionsTests.cs
    # (UniqueStringShouldEqualValueCreatedFromArmTemplate, "valueFromArmTemplate"; its test calls
    # Azure.Deployments.Expression). An older copy of that test in test/Tests/ expects "yeygmhukyx3qg",
    # which no casing of this id gives; the later copy is the one kept.
    (("/subscriptions/31e9f9a0-9fd2-4294-a0a3-0101246d9700/resourceGroups/rg-modm201-20230913120256/providers/"
      "Microsoft.Compute/virtualMachines/bobjacmodm201",), "yvjxno3je5on2"),
    # philsphicas/aztunnel, e2e/infra/uniquestring.sh, self-test ("verified against Bicep uniqueString() output"):
    # a resource group id, the very shape AI Toolkit's templates hash.
    (("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg",), "bmg7c6xu4tw46"),
    (("foo", "bar", "baz"), "xzi4ioaxtmth4"),
]


@pytest.mark.parametrize("values,expected", UNIQUE_STRING_VECTORS)
def test_unique_string_matches_published_arm_outputs(values, expected):
    assert unique_string(*values) == expected


def test_unique_string_hash_encoding_and_arguments():
    assert murmur64(b"hello-world") == 571013382255652050  # go-azure-uniquestring's README, the raw hash
    assert unique_string("hello-world") == unique_string("hello", "world")  # arguments joined with '-'
    assert unique_string("A") != unique_string("a")  # case-sensitive, as in ARM
    for n in range(0, 40):  # every tail length: 13 characters of lowercase base32
        out = unique_string("x" * n)
        assert len(out) == 13 and set(out) <= set("abcdefghijklmnopqrstuvwxyz234567")
    with pytest.raises(ValueError):
        unique_string()
    with pytest.raises(TypeError):
        unique_string("a", 1)  # type: ignore[arg-type]


# -- names ---------------------------------------------------------------------------------------------
def test_suffix_is_the_bicep_expression():
    # substring(uniqueString(toLower(subscription().subscriptionId), toLower(resourceGroup().name),
    #                        toLower(projectName)), 0, 5)
    assert N.suffix("SUB-1", "Rg-1", "Demo") == unique_string("sub-1", "rg-1", "demo")[:5]
    assert N.suffix("sub-1", "rg-1", "demo") != unique_string("/subscriptions/sub-1/resourceGroups/rg-1")[:5]


def test_the_parameters_files_project_name_is_what_is_hashed():
    by_folder = N.resolve_names("s", "g", "folder-name")
    by_param = N.resolve_names("s", "g", "folder-name", parameters={"projectName": "demo"})
    assert by_param == N.resolve_names("s", "g", "demo") != by_folder
    assert N.resolve_names("s", "g", "folder-name", parameters={"projectName": None}) == by_folder
    err = refusal(N.resolve_names, "s", "g", "p", parameters={"projectName": 7})
    assert err.field == "projectName"


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
    err = refusal(N.validate, fld, value)
    assert err.field == param
    assert param in err.one_line() and "parameters.json" in err.one_line()


def test_resolve_names_rejects_a_bad_parameter_before_anything():
    err = refusal(N.resolve_names, "s", "g", "p", parameters={"acaJobName": "Bad--Job"})
    assert err.field == "acaJobName"


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


@pytest.mark.parametrize("name", ["rg1", "rg-ftstudio", "My_RG.(prod)", "a" * 90])
def test_valid_resource_group_names_pass(name):
    assert N.validate_resource_group(name) == name


@pytest.mark.parametrize("name", ["", "ends.", "has space", "a" * 91, "bad/slash"])
def test_invalid_resource_group_names_are_refused_before_any_call(name):
    err = refusal(N.validate_resource_group, name)
    assert err.exit_code == 2 and err.field == "--resource-group"


def test_a_bad_resource_group_from_the_environment_names_the_variable(tmp_path):
    err = refusal(resolve_inputs, Project(tmp_path), subscription="s", location="westus3",
                  env={"AZURE_RESOURCE_GROUP": "bad name"})
    assert err.field == "AZURE_RESOURCE_GROUP"
