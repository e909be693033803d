"""Job executions (start, list, inspect, stop, resume) through the real azure-mgmt-appcontainers
client against the fake Azure, whose job simulator runs scripted executions."""
from __future__ import annotations

import json
import time

import pytest

from core.errors import InputError, OperationFailed
from core.events import Collector, StepFinished
from core.models import RUNNING_STATES
from tests.wire._finetune_project import (
    COMMANDS, IMAGE, JOB, backend_for, ft_azure, share_files, write_project,  # noqa: F401
)

pytestmark = pytest.mark.wire


def _recorded(fake, name):
    for execs in fake.state.executions.values():
        for ex in execs:
            if ex.name == name:
                return ex
    raise AssertionError(f"the fake has no execution {name}")


def _wait_finished(backend, name, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        ex = backend.execution(name)
        if ex.finished:
            return ex
        assert time.monotonic() < deadline, f"{name} still {ex.status}"
        time.sleep(0.05)


@pytest.fixture
def project(ft_azure, tmp_path):
    return write_project(tmp_path / "proj", ft_azure, {
        "finetuning/train.py": "print('train')\n", "setup/requirements.txt": "torch==2.13.0\n"})


def test_run_syncs_then_starts_with_the_commands_and_the_jobs_env(ft_azure, project):
    backend = backend_for(project)
    events = Collector()
    ex = backend.run(on_event=events)

    assert "finetuning/train.py" in share_files(ft_azure)  # synced first
    rec = _recorded(ft_azure, ex.name)
    (container,) = rec.template["containers"]
    assert container["name"] == "trainer" and container["image"] == IMAGE
    assert container["resources"]["cpu"] == 24.0 and container["resources"]["memory"] == "220Gi"
    assert container["command"] == ["/bin/bash", "-c", "set -euo pipefail; " + " && ".join(COMMANDS)]
    assert not container.get("args")
    env = {e["name"]: e for e in container["env"]}
    assert env["HF_TOKEN"] == {"name": "HF_TOKEN", "secretRef": "hf-token"}  # secret kept by reference
    assert env["HF_HOME"]["value"] == "/mount/.cache/huggingface"
    assert env["RUN_ID"]["value"] == ex.run_id
    assert env["PIP_CACHE_DIR"]["value"] == "/mount/.cache/pip"
    assert rec.env["HF_TOKEN"] == "hf_s3cr3t_value"  # the fake resolved the secretRef: the job really gets it
    # the start request carried the template (not an empty body)
    starts = ft_azure.requests.filter("POST", r"/jobs/ft-job/start$")
    assert len(starts) == 1

    assert ex.name.startswith(f"{JOB}-") and ex.status in RUNNING_STATES | {"Succeeded"}
    assert set(ex.links) == {"job", "executions", "logs"}
    assert all(link.startswith("https://portal.azure.com/") and f"/jobs/{JOB}/" in link for link in ex.links.values())
    state = json.loads((project / ".ftstudio" / "state.json").read_text())
    assert state["runs"][ex.name]["run_id"] == ex.run_id and state["last_run_id"] == ex.run_id
    assert any(isinstance(e, StepFinished) and e.step == "start" for e in events.events)
    assert "hf_s3cr3t_value" not in json.dumps(ex.to_json())


def test_run_id_is_recoverable_from_azure_without_local_state(ft_azure, project):
    ex = backend_for(project).run()
    _wait_finished(backend_for(project), ex.name)
    (project / ".ftstudio" / "state.json").unlink()
    listed = backend_for(project).executions()
    assert [e.run_id for e in listed] == [ex.run_id]
    assert backend_for(project).execution(ex.name).run_id == ex.run_id


def test_already_running_is_visible_and_a_new_run_asks_first(ft_azure, project):
    from usecases import runs

    ft_azure.jobs.script(JOB, lines=["working"] * 400, line_interval=0.05)
    backend = backend_for(project)
    first = backend.run()
    running = backend.running_executions()
    assert [e.name for e in running] == [first.name]

    asked: list = []  # the flow both front ends share asks before a run that may queue behind another
    second = runs.start(backend, confirm=lambda names: asked.append(names) or True)
    assert second.name != first.name and second.run_id != first.run_id
    assert asked == [[first.name]]
    backend.stop(first.name)
    backend.stop(second.name)
    assert backend.running_executions() == []


def test_status_of_succeeded_and_failed_runs(ft_azure, project):
    backend = backend_for(project)
    ft_azure.jobs.script(JOB, lines=["ok"], writes={
        "outputs/{RUN_ID}/adapter_config.json": b'{"r": 8}',
        "outputs/{RUN_ID}/adapter_model.safetensors": b"\x00" * 32}, times=1)
    good = backend.run()
    _wait_finished(backend, good.name)
    ft_azure.jobs.script(JOB, lines=["loading", ("stderr", "ValueError: dataset line 7 is not JSON")],
                         exit_code=1, times=1)
    bad = backend.run()
    _wait_finished(backend, bad.name)
    ft_azure.jobs.script(JOB, lines=["ok"], times=1)  # succeeded, but wrote no adapter
    empty = backend.run()
    _wait_finished(backend, empty.name)

    listed = backend.executions()
    assert [e.name for e in listed] == [empty.name, bad.name, good.name]  # newest first
    by_name = {e.name: e for e in listed}
    ok = by_name[good.name]
    assert ok.status == "Succeeded" and ok.exit_code == 0 and ok.reason is None
    assert ok.adapter_path == f"outputs/{good.run_id}/"
    assert ok.start_time and ok.end_time and ok.duration_s is not None and ok.duration_s >= 0
    failed = by_name[bad.name]
    assert failed.status == "Failed" and failed.exit_code == 1
    assert "BackoffLimitExceeded" in failed.reason and "code 1" in failed.reason
    assert failed.adapter_path is None
    assert by_name[empty.name].status == "Succeeded" and by_name[empty.name].adapter_path is None

    one = backend.execution(bad.name)
    assert one.status == "Failed" and one.exit_code == 1 and one.reason == failed.reason
    assert backend.execution().name == empty.name  # default: the newest when none is running


def test_executions_follow_next_link(ft_azure, project):
    ft_azure.state.executions_page_size = 2
    backend = backend_for(project)
    names = []
    for _ in range(5):
        ex = backend.run()
        _wait_finished(backend, ex.name)
        names.append(ex.name)
    ft_azure.requests.clear()
    listed = backend.executions()
    assert [e.name for e in listed] == list(reversed(names))
    assert ft_azure.requests.count("GET", r"/jobs/ft-job/executions$") == 3  # 2 + 2 + 1


def test_stop_the_running_execution(ft_azure, project):
    ft_azure.jobs.script(JOB, lines=["working"] * 400, line_interval=0.05)
    backend = backend_for(project)
    ex = backend.run()
    assert backend.execution().name == ex.name  # default: the running one
    stopped = backend.stop()
    assert stopped.name == ex.name and stopped.status == "Stopped" and stopped.finished
    assert ft_azure.requests.count("POST", rf"/executions/{ex.name}/stop$") == 1
    # stopping a finished execution changes nothing and does not call Azure
    ft_azure.requests.clear()
    assert backend.stop(ex.name).status == "Stopped"
    assert ft_azure.requests.count("POST") == 0
    with pytest.raises(OperationFailed, match="No execution"):
        backend.stop()


def test_resume_reuses_the_latest_unfinished_run_id(ft_azure, project):
    backend = backend_for(project)
    ft_azure.jobs.script(JOB, lines=["step 10", ("stderr", "CUDA out of memory")], exit_code=1, times=1)
    failed = backend.run()
    _wait_finished(backend, failed.name)

    resumed = backend.run(resume="latest")
    assert resumed.run_id == failed.run_id
    env = {e["name"]: e.get("value") for e in _recorded(ft_azure, resumed.name).template["containers"][0]["env"]}
    assert env["RUN_ID"] == failed.run_id
    _wait_finished(backend, resumed.name)
    # that run has now succeeded: nothing is left to resume
    with pytest.raises(InputError, match="no unfinished run"):
        backend.run(resume="latest")

    explicit = backend.run(resume="20250101-120000")
    assert explicit.run_id == "20250101-120000"
    with pytest.raises(InputError) as err:
        backend.run(resume="../../etc")
    assert err.value.field == "--resume"


def test_unknown_execution_and_missing_job(ft_azure, project):
    backend = backend_for(project)
    with pytest.raises(InputError) as err:
        backend.execution("ft-job-nope123")
    assert err.value.field == "EXECUTION"
    with pytest.raises(OperationFailed, match="no execution yet"):
        backend.execution()
    cfg = project / "infra" / "finetuning.config.json"
    data = json.loads(cfg.read_text())
    data["ACA_JOB_NAME"] = "missing-job"
    cfg.write_text(json.dumps(data))
    ft_azure.requests.clear()
    with pytest.raises(InputError) as err:
        backend_for(project).run()
    assert err.value.field == "ACA_JOB_NAME"
    assert ft_azure.requests.count("PUT") == 0  # refused before any upload


def test_empty_commands_are_refused(ft_azure, project):
    cfg = project / "infra" / "finetuning.config.json"
    data = json.loads(cfg.read_text())
    data["COMMANDS"] = []
    cfg.write_text(json.dumps(data))
    with pytest.raises(InputError) as err:
        backend_for(project).run()
    assert err.value.field == "COMMANDS"


def test_run_refused_by_the_size_guard_says_how_to_force(ft_azure, project, monkeypatch):
    from infra import workspace

    monkeypatch.setattr(workspace, "MAX_WEIGHT_FILE_BYTES", 1024)
    (project / "model.safetensors").write_bytes(b"\x00" * 4096)
    with pytest.raises(InputError) as err:
        backend_for(project).run()
    assert "ftstudio sync --force" in err.value.one_line()
    assert ft_azure.requests.count("POST", r"/start$") == 0
    backend_for(project).sync(force=True)
    assert backend_for(project).run().run_id  # the big file is on the share now: run goes ahead
