"""ftstudio's AzureSession() with no arguments against the fake (through the azure_env fixture),
and the standalone entry point."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakeazure.seed import provision

pytestmark = pytest.mark.wire
ROOT = Path(__file__).resolve().parents[2]


def test_azure_session_clients_reach_the_fake(azure_env):
    from infra.azure.session import AzureSession

    p = provision(azure_env)
    s = AzureSession(subscription_id=os.environ["AZURE_SUBSCRIPTION_ID"])
    assert s.appcontainers.managed_environments.get(p.resource_group, p.environment).name == p.environment
    assert s.storage.storage_accounts.list_keys(p.resource_group, p.account).keys_property[0].value == p.account_key
    assert s.loganalytics.workspaces.get(p.resource_group, p.workspace).customer_id == p.customer_id
    s.share_client(p.account, p.share, p.account_key).get_file_client("x.txt").upload_file(b"x")
    assert azure_env.state.files(p.account, p.share) == {"x.txt": b"x"}
    assert [sub.subscription_id for sub in s.subscriptions.subscriptions.list()][0] == azure_env.subscription_id
    assert s.polling_interval == 0


def test_azure_session_subscription_from_env(azure_env):
    from infra.azure.session import AzureSession

    assert AzureSession().subscription_id == azure_env.subscription_id


def test_azure_session_resources_client(azure_env):
    from infra.azure.session import AzureSession

    s = AzureSession(subscription_id=azure_env.subscription_id)
    assert s.resources.resource_groups.create_or_update("rg", {"location": "westus3"}).name == "rg"


def test_standalone_prints_exports():
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakeazure"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        lines = [proc.stdout.readline().strip() for _ in range(6)]
        names = {l.split("=", 1)[0] for l in lines}
        assert names == {f"export {k}" for k in ("FTSTUDIO_ARM_ENDPOINT", "FTSTUDIO_FILE_ENDPOINT", "FTSTUDIO_LOGS_ENDPOINT",
                                                 "FTSTUDIO_ACCESS_TOKEN", "REQUESTS_CA_BUNDLE", "AZURE_SUBSCRIPTION_ID")}
        env = dict(l[len("export "):].split("=", 1) for l in lines)
        import requests

        r = requests.get(env["FTSTUDIO_ARM_ENDPOINT"] + "/subscriptions", params={"api-version": "2022-12-01"},
                         headers={"Authorization": "Bearer " + env["FTSTUDIO_ACCESS_TOKEN"]}, verify=env["REQUESTS_CA_BUNDLE"])
        assert r.json()["value"][0]["subscriptionId"] == env["AZURE_SUBSCRIPTION_ID"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
