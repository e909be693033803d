"""The supervisor of local runs: status lifecycle, log capture, failure reasons, stop of a process group."""
from __future__ import annotations

import json
import os
import signal
import time

import pytest

from infra.local import runs
from infra.local import supervisor as sv
from infra.local.layout import LocalLayout
from core.models import TERMINAL_STATES
from test_local_support import local_python, new_project, step  # noqa: F401 - fixtures


def wait_done(backend, name, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ex = backend.execution(name)
        if ex.finished:
            return ex
        time.sleep(0.05)
    raise AssertionError(f"{name} did not finish")


def log_records(backend, name):
    path = LocalLayout.for_project(backend.project).runs / name / sv.LOG
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_split_lines_handles_progress_redraws_and_blank_lines():
    lines, rest = sv.split_lines(b"a\n\nb\r\n 10%\r 50%\r100%\ntail")
    assert lines == [b"a", b"", b"b", b" 10%", b" 50%", b"100%"] and rest == b"tail"
    lines, rest = sv.split_lines(b"x" * (sv.MAX_LINE + 1))
    assert len(lines) == 1 and rest == b""


def test_success_records_lines_in_order_with_streams_and_timestamps(new_project):
    from infra.local.backend import LocalBackend

    project = new_project(step("job.py"), {"job.py": """
        import sys
        for i in range(300):
            print(f"line {i}")
        print("to stderr", file=sys.stderr)
    """})
    backend = LocalBackend(project)
    ex = backend.run()
    assert ex.status in ("Running", "Succeeded") and ex.start_time  # run() returns once it started
    done = wait_done(backend, ex.name)
    assert (done.status, done.exit_code, done.reason) == ("Succeeded", 0, None)
    recs = log_records(backend, ex.name)
    assert [r["m"] for r in recs if r["s"] == "out"] == [f"line {i}" for i in range(300)]
    assert [r["m"] for r in recs if r["s"] == "err"] == ["to stderr"]
    assert all(r["t"].endswith("Z") for r in recs)
    status = sv.read_status(LocalLayout.for_project(project).runs / ex.name)
    assert status["end_time"] >= status["start_time"]


def test_failure_surfaces_exit_code_and_last_stderr_line(new_project):
    from infra.local.backend import LocalBackend

    project = new_project(step("job.py"), {"job.py": """
        import sys
        print("working")
        raise SystemExit("dataset line 7 is not JSON")
    """})
    backend = LocalBackend(project)
    done = wait_done(backend, backend.run().name)
    assert done.status == "Failed" and done.exit_code == 1
    assert done.reason == "dataset line 7 is not JSON (exit code 1)"


def test_a_failing_step_stops_the_chain(new_project):
    from infra.local.backend import LocalBackend

    project = new_project(["cd /mount", "echo first", "exit 4", "touch should-not-exist"])
    backend = LocalBackend(project)
    done = wait_done(backend, backend.run().name)
    assert (done.status, done.exit_code) == ("Failed", 4)
    assert not (LocalLayout.for_project(project).share / "should-not-exist").exists()


def test_stop_ends_the_whole_process_group(new_project, monkeypatch):
    from infra.local.backend import LocalBackend

    monkeypatch.setenv(runs.STOP_GRACE_ENV, "5")
    project = new_project(["cd /mount", "sleep 300 & echo $! > bg.pid; sleep 300"])
    backend = LocalBackend(project)
    ex = backend.run()
    share = LocalLayout.for_project(project).share
    deadline = time.monotonic() + 10
    while not (share / "bg.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    bg = int((share / "bg.pid").read_text())
    status = sv.read_status(LocalLayout.for_project(project).runs / ex.name)
    assert sv.group_alive(status["pgid"]) and sv.pid_alive(bg)
    assert os.getpgid(bg) == status["pgid"] != os.getpgid(0)  # its own group, not ours

    started = time.monotonic()
    stopped = backend.stop(ex.name)
    assert stopped.status == "Stopped" and stopped.end_time
    assert time.monotonic() - started < 5  # SIGTERM was enough: no wait for the grace period
    assert not sv.group_alive(status["pgid"]) and not sv.pid_alive(bg)
    assert backend.execution(ex.name).status == "Stopped"
    assert backend.stop(ex.name).status == "Stopped"  # stopping a finished run changes nothing


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(new_project):
    from infra.local.backend import LocalBackend

    project = new_project(["cd /mount", "trap '' TERM; echo armed; sleep 300; true"])
    backend = LocalBackend(project)
    ex = backend.run()
    run_dir = LocalLayout.for_project(project).runs / ex.name
    deadline = time.monotonic() + 10
    while "armed" not in (run_dir / sv.LOG).read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    pgid = sv.read_status(run_dir)["pgid"]
    st = runs.stop(run_dir, grace=0.5)
    assert st["status"] == "Stopped"
    assert not sv.group_alive(pgid)


def test_a_dead_supervisor_is_reported_not_left_running(new_project):
    from infra.local.backend import LocalBackend

    project = new_project(["sleep 300"])
    backend = LocalBackend(project)
    ex = backend.run()
    run_dir = LocalLayout.for_project(project).runs / ex.name
    st = sv.read_status(run_dir)
    os.killpg(st["pgid"], signal.SIGKILL)
    os.kill(st["supervisor_pid"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while sv.pid_alive(st["supervisor_pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    ex = backend.execution(ex.name)
    assert ex.status == "Failed" and "supervisor ended unexpectedly" in ex.reason
    assert ex.status in TERMINAL_STATES


@pytest.mark.parametrize("secret", ["hf_abcdefSECRET123"])
def test_secrets_reach_the_job_as_env_but_never_its_log(new_project, secret):
    from infra.local.backend import LocalBackend

    project = new_project(step("job.py"), {"job.py": """
        import os
        print("token is", os.environ["HF_TOKEN"])
        print("length", len(os.environ["HF_TOKEN"]))
    """})
    backend = LocalBackend(project)
    backend.secret_set("HF_TOKEN", secret)
    done = wait_done(backend, backend.run().name)
    assert done.status == "Succeeded"
    texts = [r["m"] for r in log_records(backend, done.name)]
    assert texts == ["token is ***", f"length {len(secret)}"]
    run_dir = LocalLayout.for_project(project).runs / done.name
    for f in run_dir.iterdir():
        assert secret not in f.read_text(errors="replace"), f
