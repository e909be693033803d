"""`ftstudio stop` and `ftstudio down` on the local target."""
from __future__ import annotations

import json

from infra.local import supervisor as sv
from infra.local.backend import LocalBackend
from infra.local.layout import LocalLayout
from test_local_supervisor import wait_done
from test_local_support import cli, local_python, new_project  # noqa: F401 - fixtures


def test_stop_the_running_execution_then_nothing_to_stop(new_project, capsys):
    project = new_project(["sleep 300"])
    ex = LocalBackend(project).run()
    pgid = sv.read_status(LocalLayout.for_project(project).runs / ex.name)["pgid"]
    code, out, err = cli(capsys, "stop", "--project", str(project.root), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["name"] == ex.name and doc["status"] == "Stopped" and doc["stopped"] is True
    assert not sv.group_alive(pgid)
    code, out, _ = cli(capsys, "stop", ex.name, "--project", str(project.root))
    assert code == 0 and "already ended (Stopped)" in out


def test_stop_unknown_execution_is_exit_2(new_project, capsys):
    project = new_project(["true"])
    backend = LocalBackend(project)
    wait_done(backend, backend.run().name)
    code, _, err = cli(capsys, "stop", "demo-nothere", "--project", str(project.root))
    assert code == 2 and "demo-nothere" in err


def test_down_needs_yes_when_non_interactive(new_project, capsys):
    project = new_project(["sleep 300"])
    ex = LocalBackend(project).run()
    code, out, err = cli(capsys, "down", "--non-interactive", "--project", str(project.root))
    assert code == 2 and "--yes" in err
    assert LocalBackend(project).execution(ex.name).status == "Running"  # nothing was touched
    code, out, _ = cli(capsys, "down", "--yes", "--project", str(project.root), "--json")
    assert code == 0 and json.loads(out)["removed"] == [f"run {ex.name}"]
    assert LocalBackend(project).execution(ex.name).status == "Stopped"
    code, out, _ = cli(capsys, "down", "--yes", "--project", str(project.root))
    assert code == 0 and "Nothing to do." in out
