"""Inference deploy against the fake Azure: sync, a new revision, wait ready, endpoint written."""
from __future__ import annotations

import json

import pytest

from infra.azure import provision as P
from infra.azure.deploy import deploy, new_revision_suffix
from core.errors import OperationFailed
from core.events import Collector, StepFailed, StepFinished
from tests.wire._provision_project import backend_in, write_project

pytestmark = pytest.mark.wire
RG = "rg-deploy"
LOC = "swedencentral"


@pytest.fixture
def provisioned(fake_azure, tmp_path):
    root = write_project(tmp_path / "demo")
    (root / "inference").mkdir()
    (root / "inference" / "app.py").write_text("print('serving')\n")
    backend = backend_in(root, fake_azure, RG, LOC)
    P.provision(backend, "inference")
    return backend


def _revisions(backend, app):
    client = backend.session.appcontainers
    return [r.name for r in client.container_apps_revisions.list_revisions(RG, app)]


def test_deploy_rolls_a_new_revision_waits_ready_and_writes_the_endpoint(fake_azure, provisioned):
    backend = provisioned
    app = backend.project.inference_config()["ACA_APP_NAME"]
    before = _revisions(backend, app)
    fake_azure.apps.script(app=app, ready_after=0.2)
    events = Collector()
    endpoint = deploy(backend, on_event=events)

    after = _revisions(backend, app)
    new = [r for r in after if r not in before]
    assert new == [endpoint.revision] and endpoint.revision.startswith(f"{app}--")
    rev = backend.session.appcontainers.container_apps_revisions.get_revision(RG, app, endpoint.revision)
    assert rev.properties.health_state == "Healthy"
    assert endpoint.url.startswith("https://") and app.lower() in endpoint.url.lower()
    saved = json.loads((backend.project.root / "infra" / "inference.config.json").read_text())
    assert saved["ACA_APP_ENDPOINT"] == endpoint.url
    # the inference code reached the share before the revision was rolled
    account = saved["STORAGE_ACCOUNT_NAME"]
    assert b"serving" in fake_azure.state.files(account, saved["FILE_SHARE_NAME"])["inference/app.py"]
    assert any(isinstance(e, StepFinished) and e.step == "revision" for e in events.events)
    # the secret and its env var survive a deploy
    names = [s.name for s in backend.session.appcontainers.container_apps.list_secrets(RG, app).value]
    assert "inference-api-key" in names

    second = deploy(backend)
    assert second.revision != endpoint.revision and second.revision in _revisions(backend, app)


def test_a_revision_that_never_becomes_ready_is_reported_with_its_events(fake_azure, provisioned, monkeypatch):
    backend = provisioned
    app = backend.project.inference_config()["ACA_APP_NAME"]
    monkeypatch.setenv("FTSTUDIO_DEPLOY_TIMEOUT", "1.5")
    fake_azure.apps.script(app=app, ready=False, events=[("ContainerCrashing", "Container 'app' crashed: exit code 1")])
    events = Collector()
    with pytest.raises(OperationFailed) as exc:
        deploy(backend, on_event=events)
    message = exc.value.one_line()
    assert "did not become ready" in message and "ftstudio logs --inference" in message
    assert any(isinstance(e, StepFailed) and e.step == "ready" for e in events.events)


def test_deploy_before_provision_is_a_clear_input_error(fake_azure, tmp_path):
    root = write_project(tmp_path / "fresh")
    backend = backend_in(root, fake_azure, RG, LOC)
    with pytest.raises(Exception) as exc:
        deploy(backend)
    assert getattr(exc.value, "exit_code", None) == 2 and "provision inference" in exc.value.one_line()


def test_revision_suffixes_are_valid_and_unique():
    # a fixed clock is the worst case: every call in one millisecond must still differ
    suffixes = {new_revision_suffix(1_700_000_000) for _ in range(5000)}
    assert len(suffixes) == 5000
    assert all(s[0].isalpha() and s.isalnum() and s == s.lower() and len(s) <= 12 for s in suffixes)


def test_status_describes_the_azure_resources_with_their_state(fake_azure, provisioned):
    described = provisioned.describe()
    assert described["resource group"] == RG
    app = described["inference app"]
    assert app["name"] == provisioned.project.inference_config()["ACA_APP_NAME"]
    assert app["state"] == "Succeeded" and app["link"].startswith("https://portal.azure.com/")
    assert described["environment"]["state"] == "Succeeded"
    # a resource deleted behind our back shows as missing, not as an error
    provisioned.session.appcontainers.container_apps.begin_delete(RG, app["name"]).result()
    assert provisioned.describe()["inference app"]["state"] == "missing"
