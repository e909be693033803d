"""Adding an Azure resource is one record: plan, apply, teardown and status follow ``resources.RECORDS``.

One record is added at test time (a second file share, with its own read, body, writes, config key
and status row); through the real SDK clients against the fake Azure, the preview reports it,
provision creates it (and a re-run leaves it), status lists it, and down deletes it. The modules
that loop over the records name no step of their own.
"""
from __future__ import annotations

import ast
import inspect
import json

import pytest

from core.azure_facts import NAME_PREFIXES
from core.errors import OperationFailed
from core.events import Collector, StepFailed, StepFinished, StepStarted
from core.project_files import PROVISION_KINDS, STATE
from infra.azure import apply, describe, provision as P, resources as R, teardown
from infra.azure.resource_writes import get_or_none
from tests.wire._provision_project import backend_in, write_project, writes

pytestmark = pytest.mark.wire
RG, LOC = "rg-records", "westus3"
EXTRA = R.ResourceKind(
    "outputshare", "Outputs share", ("finetuning",),
    R.record("share").path + "-out", "{share}-out", after=("share",),
    read=lambda c: get_or_none(c.session.storage.file_shares.get, c.rg, c.names.storage, c.names.share + "-out"),
    desired=lambda c: {"properties": {"shareQuota": 100, "enabledProtocols": "SMB"}},
    create=lambda c, want: c.session.storage.file_shares.create(c.rg, c.names.storage, c.names.share + "-out", want),
    update=lambda c, want, _: c.session.storage.file_shares.update(c.rg, c.names.storage, c.names.share + "-out", want),
    delete=lambda c: c.session.storage.file_shares.delete(c.rg, c.names.storage, c.names.share + "-out"),
    config_key="OUTPUT_SHARE_NAME", status="outputs share",
)


@pytest.fixture
def backend(tmp_path, fake_azure, monkeypatch):
    monkeypatch.setattr(R, "RECORDS", R.RECORDS + (EXTRA,))
    root = write_project(tmp_path / "demo")
    return backend_in(root, fake_azure, RG, LOC)


def test_a_new_record_is_planned_applied_listed_and_torn_down(fake_azure, backend):
    preview = {c.resource: c for c in P.plan(backend, "finetune")}
    assert preview["outputshare"].action == "create" and preview["outputshare"].name.endswith("-out")

    ev = Collector()
    result = P.provision(backend, "finetune", on_event=ev)
    by = {r["resource"]: r for r in result["resources"]}
    out_name = by["outputshare"]["name"]
    assert by["outputshare"]["result"] == "created" and out_name == by["share"]["name"] + "-out"
    assert fake_azure.state.files(by["storage"]["name"], out_name) == {}  # it exists in the fake
    started = [e.step for e in ev.events if isinstance(e, StepStarted)]
    assert started.index("outputshare") > started.index("share")  # its `after`
    finished = {e.step: e for e in ev.events if isinstance(e, StepFinished)}
    assert finished["outputshare"].title == f"Outputs share {out_name}"
    config = json.loads((backend.project.root / "infra" / "finetuning.config.json").read_text())
    assert config["OUTPUT_SHARE_NAME"] == out_name

    fake_azure.requests.clear()  # read-diff-write holds for it too
    assert {r["result"] for r in P.provision(backend, "finetune")["resources"]} == {"unchanged"}
    assert writes(fake_azure) == []

    row = backend.describe()["outputs share"]
    assert row["name"] == out_name and row["state"] == "Succeeded"

    ev = Collector()
    deleted = P.teardown(backend, on_event=ev)
    assert out_name in deleted
    assert "outputshare" in {e.step for e in ev.events if isinstance(e, StepFinished)}
    with pytest.raises(KeyError):
        fake_azure.state.files(by["storage"]["name"], out_name)
    config = json.loads((backend.project.root / "infra" / "finetuning.config.json").read_text())
    assert config["OUTPUT_SHARE_NAME"] is None


def test_a_failed_record_stops_only_what_depends_on_it(fake_azure, backend):
    fake_azure.faults.add("PUT", r"/storageAccounts/[^/]+$", 400, times=None, code="InvalidRequest",
                          message="Bad account.")
    ev = Collector()
    with pytest.raises(OperationFailed) as info:
        P.provision(backend, "finetune", on_event=ev)
    assert info.value.exit_code == 1 and "Storage account" in info.value.one_line()
    assert [e.step for e in ev.events if isinstance(e, StepFailed)] == ["storage"]
    # the workspace does not wait on storage: it was applied; nothing after the storage chain started
    assert {e.step for e in ev.events if isinstance(e, StepFinished)} == {"resource_group", "workspace"}
    started = {e.step for e in ev.events if isinstance(e, StepStarted)}
    assert started == {"resource_group", "storage", "workspace"}


def _string_constants(source: str) -> set:
    return {n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_the_loops_name_no_step_of_their_own():
    """Plan, apply, teardown and status read the steps from the records, never spell them."""
    steps = {rec.step for rec in R.RECORDS} - set(STATE.keys)  # state.json's "resource_group" is a key, not a step
    sources = [inspect.getsource(m) for m in (apply, teardown, describe)]
    sources += [inspect.getsource(f) for f in (P.plan, P.provision, P._write_config)]
    for source in sources:
        assert not steps & _string_constants(source)


def test_every_record_is_complete_and_the_tables_derive_from_it():
    steps = [rec.step for rec in R.RECORDS]
    assert len(set(steps)) == len(steps)
    assert [rec.step for rec in R.RECORDS if rec.scope] == ["resource_group"]
    for i, rec in enumerate(R.RECORDS):
        assert rec.kinds and set(rec.kinds) <= set(PROVISION_KINDS)
        assert all(dep in steps[:i] for dep in rec.after), rec.step  # dependency order
        assert rec.parent is None or rec.parent in steps[:i]
        assert rec.create or rec.parent, rec.step  # only a child may come with its parent
        assert rec.delete or rec.parent, rec.step
    assert R.FINETUNING_STEPS == tuple(s for s in steps if s not in ("resource_group", "app"))
    assert R.INFERENCE_STEPS == tuple(s for s in steps if s not in ("resource_group", "job"))
    # the config keys provision writes and teardown clears are AI Toolkit's
    assert set(R.config_keys("finetuning")) == {
        "SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME", "ACA_JOB_NAME",
        "LOCATION", "ACA_ENVIRONMENT_NAME", "ACA_ENVIRONMENT_STORAGE_NAME", "LOG_ANALYTICS_NAME"}
    assert set(R.config_keys("inference")) - set(R.config_keys("finetuning")) == {"ACA_APP_NAME", "ACA_APP_ENDPOINT"}
    # every resource with a name of its own has a parameter, and the bicep a default name for it
    assert {rec.parameter for rec in R.RECORDS if rec.parameter} == set(NAME_PREFIXES)
    assert {rec.status for rec in R.RECORDS if rec.status} == {
        "storage account", "log analytics", "environment", "fine-tuning job", "inference app"}


@pytest.mark.parametrize("given,kind", [("finetune", "finetuning"), ("Fine-Tuning", "finetuning"),
                                        (None, "finetuning"), ("inference", "inference")])
def test_the_provisioning_kind_is_normalised_once(given, kind):
    assert P.normalize_kind(given) == kind


def test_an_unknown_provisioning_kind_is_bad_input():
    from core.errors import InputError

    with pytest.raises(InputError) as info:
        P.normalize_kind("training")
    assert info.value.exit_code == 2 and info.value.field == "kind"
