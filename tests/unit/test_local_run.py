"""LocalBackend.run: the job's environment, /mount, RUN_IDs, resume, execution names and listing."""
from __future__ import annotations

import json
import os
import re
import sys

import pytest

from core.errors import InputError
from core.events import Collector, Info
from infra.local.backend import LocalBackend
from infra.local.layout import LocalLayout
from test_local_supervisor import wait_done
from test_local_support import local_python, new_project, step  # noqa: F401 - fixtures

ENV_DUMP = {"job.py": """
    import json, os, shutil, sys
    json.dump({"cwd": os.getcwd(), "run_id": os.environ["RUN_ID"], "path": os.environ["PATH"],
               "pip_cache": os.environ.get("PIP_CACHE_DIR"), "python3": shutil.which("python3"),
               "prefix": sys.prefix, "pythonpath": os.environ.get("PYTHONPATH")},
              open(f"env-{os.environ['RUN_ID']}.json", "w"))
"""}


def test_run_maps_mount_sets_env_and_puts_the_env_first_on_path(new_project, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    project = new_project(["cd /mount", "pip install -r ./setup/requirements.txt", "python3 /mount/job.py"], ENV_DUMP)
    backend = LocalBackend(project)
    events = Collector()
    done = wait_done(backend, backend.run(on_event=events).name)
    assert done.status == "Succeeded", done.reason
    share = LocalLayout.for_project(project).share
    env = json.loads((share / f"env-{done.run_id}.json").read_text())
    assert env["cwd"] == str(share)
    assert env["run_id"] == done.run_id and re.fullmatch(r"\d{8}-\d{6}", done.run_id)
    assert env["path"].split(os.pathsep)[0] == str(LocalLayout.for_project(project).shims)
    assert env["python3"] == str(LocalLayout.for_project(project).shims / "python3")
    assert env["prefix"] == sys.prefix  # the chosen interpreter's environment (a venv here), not its base
    assert env["pip_cache"] and str(project.root) not in env["pip_cache"]
    assert env["pythonpath"] is None  # ftstudio's own PYTHONPATH does not leak into the job
    # the setup install is skipped (the env is built from that file), and said so
    assert any(isinstance(e, Info) and "Skipping `pip install" in e.text for e in events.events)


def test_execution_names_and_new_run_ids(new_project):
    project = new_project(["true"], name="My Project_2")
    backend = LocalBackend(project)
    first = wait_done(backend, backend.run().name)
    second = wait_done(backend, backend.run().name)
    for ex in (first, second):
        assert re.fullmatch(r"my-project-2-[a-z0-9]{7}", ex.name)
    assert first.name != second.name and first.run_id != second.run_id
    assert [e.name for e in backend.executions()] == [second.name, first.name]  # newest first
    assert backend.execution().name == second.name


def test_resume_reuses_the_run_id_of_the_latest_unfinished_run(new_project):
    # Fails the first time, succeeds when it finds its own checkpoint: like train.py resuming.
    project = new_project(step("job.py"), {"job.py": """
        import os, sys
        ckpt = f"outputs/{os.environ['RUN_ID']}/checkpoint"
        if os.path.exists(ckpt):
            print("resumed from", ckpt)
            sys.exit(0)
        os.makedirs(os.path.dirname(ckpt), exist_ok=True)
        open(ckpt, "w").write("step 5")
        sys.exit("interrupted at step 5")
    """})
    backend = LocalBackend(project)
    failed = wait_done(backend, backend.run().name)
    assert failed.status == "Failed" and failed.reason.startswith("interrupted at step 5")
    fresh = wait_done(backend, backend.run().name)  # a plain run starts over with a new RUN_ID
    assert fresh.status == "Failed" and fresh.run_id != failed.run_id

    resumed = wait_done(backend, backend.run(resume=failed.name).name)
    assert resumed.status == "Succeeded" and resumed.run_id == failed.run_id
    latest = wait_done(backend, backend.run(resume="latest").name)  # the latest unfinished: `fresh`
    assert latest.status == "Succeeded" and latest.run_id == fresh.run_id
    with pytest.raises(InputError, match="already succeeded"):
        backend.run(resume=resumed.run_id)
    with pytest.raises(InputError, match="no unfinished run"):
        backend.run(resume="latest")
    with pytest.raises(InputError, match="No local run"):
        backend.run(resume="nope")


def test_empty_commands_is_a_clear_input_error(new_project):
    project = new_project([])
    with pytest.raises(InputError) as err:
        LocalBackend(project).run()
    assert err.value.field == "COMMANDS"


def test_unknown_execution_is_an_input_error(new_project):
    backend = LocalBackend(new_project(["true"]))
    with pytest.raises(InputError, match="No local run yet"):
        backend.execution()
    with pytest.raises(InputError, match="No local execution named"):
        backend.execution("demo-zzzzzzz")
