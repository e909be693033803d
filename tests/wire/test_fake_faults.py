"""Fault injection through the real SDK clients: throttling retried by azure-core, dropped
uploads, slow and failed LROs, seeded chaos."""
from __future__ import annotations

import time

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.fileshare import ExponentialRetry, ShareClient

from tests.fakeazure.seed import clients, job_body

pytestmark = pytest.mark.wire


def test_429_is_retried_by_azure_core(fake_azure, p):
    ca = clients(fake_azure)[3]
    fake_azure.requests.clear()
    fake_azure.faults.add("GET", r"/managedEnvironments/ft-env$", status=429, times=2)
    t0 = time.time()
    env = ca.managed_environments.get(p.resource_group, p.environment)
    assert env.name == p.environment and time.time() - t0 < 2
    assert [r.status for r in fake_azure.requests.filter("GET", r"/managedEnvironments/ft-env$")] == [429, 429, 200]


def test_503_with_retry_after_seconds(fake_azure, p):
    st = clients(fake_azure)[1]
    fake_azure.faults.add("POST", r"/listKeys$", status=503, retry_after=0, times=1)
    assert st.storage_accounts.list_keys(p.resource_group, p.account).keys_property
    assert fake_azure.requests.filter("POST", r"/listKeys$")[-2].fault == "status"


def test_dropped_upload_is_retried_and_file_is_complete(fake_azure, p):
    sc = ShareClient(account_url=fake_azure.file_account_url(p.account), share_name=p.share,
                     credential={"account_name": p.account, "account_key": p.account_key}, connection_verify=fake_azure.ca_path,
                     retry_policy=ExponentialRetry(initial_backoff=0, increment_base=1, random_jitter_range=0))
    fake_azure.faults.drop_upload(times=1)
    data = b"z" * (5 * 1024 * 1024)
    sc.get_file_client("big.bin").upload_file(data)
    assert fake_azure.state.files(p.account, p.share)["big.bin"] == data
    ranges = fake_azure.requests.filter("PUT", r"big\.bin$", surface="files")
    assert [r.status for r in ranges if r.query.get("comp") == "range"] == [0, 201, 201]  # 0 = dropped


def test_slow_and_failed_lro(fake_azure, p):
    ca = clients(fake_azure)[3]
    fake_azure.requests.clear()
    fake_azure.faults.slow_lro(polls=3, method="PUT", path=r"/jobs/slowjob$")
    job = ca.jobs.begin_create_or_update(p.resource_group, "slowjob", job_body(p)).result()
    assert job.properties.provisioning_state == "Succeeded"
    polls = fake_azure.requests.filter("GET", r"OperationStatuses/")
    assert len(polls) == 4  # 3 x InProgress, then Succeeded
    fake_azure.faults.fail_lro("JobProvisioningFailed", "The job could not be provisioned.", method="PUT", path=r"/jobs/badjob$")
    with pytest.raises(HttpResponseError) as e:
        ca.jobs.begin_create_or_update(p.resource_group, "badjob", job_body(p)).result()
    assert e.value.error.code == "JobProvisioningFailed"
    assert ca.jobs.get(p.resource_group, "badjob").properties.provisioning_state == "Failed"


def test_chaos_is_deterministic_per_seed(fake_azure, p):
    def run():
        fake_azure.faults.clear()
        fake_azure.requests.clear()
        fake_azure.faults.chaos(seed=7, rate=0.5, statuses=(429, 503), method="GET", path=r"/managedEnvironments/")
        ca = clients(fake_azure)[3]
        for _ in range(4):
            try:
                ca.managed_environments.get(p.resource_group, p.environment)
            except HttpResponseError as e:  # retries can run out under heavy chaos
                assert e.status_code in (429, 503)
        return [r.status for r in fake_azure.requests.filter("GET", r"/managedEnvironments/")]

    first = run()
    assert any(s in (429, 503) for s in first) and first == run()
