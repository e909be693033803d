"""Both backends answer the run rules alike on the same history (core/run_rules.py): the Azure
backend through the real SDK against executions seeded into the fake, the local backend from run
folders written as its supervisor writes them."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from core.errors import InputError
from core.run_rules import is_run_id
from infra.local import supervisor as sv
from infra.local.layout import LocalLayout
from tests.fakeazure.simulator import Execution as FakeExecution
from tests.wire.test_logs_env import JOB, RG, make_env

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=timezone.utc)

HISTORIES = {  # oldest first: (execution, status, run id)
    "running last": [("ex-a", "Failed", "r1"), ("ex-b", "Succeeded", "r2"), ("ex-c", "Running", "r3")],
    "all failed": [("ex-a", "Failed", "r1"), ("ex-b", "Failed", "r2")],
    "resumed to success": [("ex-a", "Failed", "r1"), ("ex-b", "Succeeded", "r1"), ("ex-c", "Stopped", "r2")],
    "queued behind a running one": [("ex-a", "Running", "r1"), ("ex-b", "Processing", "r2"),
                                    ("ex-c", "Failed", "r3")],
    "one started elsewhere": [("ex-a", "Failed", "r1"), ("ex-b", "Failed", None)],
}
REQUESTS = ["latest", "r1", "r2", "r3", "ex-a", "ex-b", "../x"]


def _seed_azure(fake, job_id: str, history) -> None:
    items = fake.state.executions.setdefault(job_id.lower(), [])
    for i, (name, status, run_id) in enumerate(history):
        env = [{"name": "RUN_ID", "value": run_id}] if run_id else []
        items.append(FakeExecution(
            name=name, job_id=job_id, job_name=JOB, sub=fake.subscription_id, rg=RG, env_id="env", env={},
            template={"containers": [{"name": "trainer", "image": "img", "env": env}]}, profile_type=None,
            status=status, start=T0 + timedelta(minutes=i), end=None if status in ("Running", "Processing") else
            T0 + timedelta(minutes=i, seconds=30)))


def _seed_local(project, history) -> None:
    runs = LocalLayout.for_project(project).runs
    for i, (name, status, run_id) in enumerate(history):
        run_dir = runs / name
        run_dir.mkdir(parents=True)
        start = (T0 + timedelta(minutes=i)).isoformat()
        alive = {"supervisor_pid": os.getpid()} if status in ("Running", "Processing") else {}  # a live supervisor
        sv.write_status(run_dir, {"name": name, "run_id": run_id, "status": status, "created": start,
                                  "created_epoch": (T0 + timedelta(minutes=i)).timestamp(), "start_time": start,
                                  **alive})


def _answer(fn, *args):
    try:
        return fn(*args)
    except InputError as err:
        return err.one_line()


@pytest.mark.parametrize("case", sorted(HISTORIES))
def test_both_backends_pick_the_same_execution_and_run_to_resume(case, azure_env, tmp_path):
    from infra.azure import jobs
    from infra.azure.backend import AzureBackend
    from infra.local import runs
    from infra.local.backend import LocalBackend
    from scaffolds.project import Project

    env = make_env(azure_env, tmp_path / "proj", workspace=False, app=False)
    _seed_azure(azure_env, env.job()["id"], HISTORIES[case])
    project = Project(env.root)
    _seed_local(project, HISTORIES[case])
    azure, local = AzureBackend(project), LocalBackend(project)

    azure_history, local_history = jobs.executions(azure, check_outputs=False), local.executions()
    assert [(e.name, e.status, e.run_id) for e in azure_history] == \
        [(e.name, e.status, e.run_id) for e in local_history] == list(reversed(HISTORIES[case]))
    assert azure.execution().name == local.execution().name
    known = {x for name, _, run_id in HISTORIES[case] for x in (name, run_id)}
    for requested in REQUESTS:
        if is_run_id(requested) and requested not in known and requested != "latest":
            continue  # a run id neither history holds: Azure's is pruned, so only local calls it a typo
        assert _answer(jobs.resume_run_id, requested, azure_history) == \
            _answer(runs.resume_run_id, requested, local_history), requested
