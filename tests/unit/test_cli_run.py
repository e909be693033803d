"""`ftstudio run` and `ftstudio logs` on the local target: exit codes, output streams, detaching."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from infra.local.backend import LocalBackend
from test_local_supervisor import wait_done
from test_local_support import cli, local_python, new_project, step  # noqa: F401 - fixtures

FTSTUDIO = [sys.executable, "-m", "tui"]
OK_JOB = {"job.py": """
    import sys
    print("loss 2.0")
    print("loss 0.5")
    print("a warning", file=sys.stderr)
"""}


def test_run_without_follow_returns_the_execution_at_once(new_project, capsys):
    project = new_project(["sleep 300"])
    began = time.monotonic()
    code, out, err = cli(capsys, "run", "--project", str(project.root), "--json")
    assert code == 0 and time.monotonic() - began < 10
    doc = json.loads(out)
    assert doc["status"] == "Running" and doc["name"].startswith("demo-")
    assert doc["links"]["logs"].endswith("log.jsonl") and doc["links"]["outputs"].endswith(doc["run_id"])
    code, out, err = cli(capsys, "run", "--project", str(project.root))
    assert code == 0 and "already running; starting another anyway" in err
    assert "logs:" in out and "outputs:" in out and "ftstudio logs --execution demo-" in out


def test_run_follow_streams_and_exits_0_on_success(new_project, capsys):
    project = new_project(step("job.py"), OK_JOB)
    code, out, err = cli(capsys, "run", "--follow", "--project", str(project.root))
    assert code == 0
    assert [line for line in out.splitlines() if line.startswith("loss")] == ["loss 2.0", "loss 0.5"]
    assert "a warning" in out  # stderr lines too (their order against stdout is the OS's)
    assert "Succeeded" in out and "[ended]" in err


def test_run_follow_exits_1_on_failure_with_the_reason(new_project, capsys):
    project = new_project(["echo 'bad row at line 3' >&2", "exit 5"])
    code, out, err = cli(capsys, "run", "--follow", "--project", str(project.root))
    assert code == 1
    assert "reason: bad row at line 3 (exit code 5)" in out


def test_run_follow_json_keeps_stdout_one_document(new_project, capsys):
    project = new_project(step("job.py"), OK_JOB)
    code, out, err = cli(capsys, "run", "--follow", "--json", "--project", str(project.root))
    doc = json.loads(out)  # one document: the log lines went to stderr
    assert code == 0 and doc["status"] == "Succeeded" and doc["exit_code"] == 0
    assert "loss 0.5" in err


def test_logs_follow_and_no_follow_exit_codes(new_project, capsys):
    ok = new_project(step("job.py"), OK_JOB)
    bad = new_project(["exit 2"])
    for project in (ok, bad):
        backend = LocalBackend(project)
        wait_done(backend, backend.run().name)
    assert cli(capsys, "logs", "--project", str(ok.root))[0] == 0
    assert cli(capsys, "logs", "--follow", "--project", str(bad.root))[0] == 1
    code, out, _ = cli(capsys, "logs", "--no-follow", "--project", str(ok.root))
    assert code == 0 and sorted(out.splitlines()) == ["a warning", "loss 0.5", "loss 2.0"]


def test_logs_json_is_one_object_per_line(new_project, capsys):
    project = new_project(step("job.py"), OK_JOB)
    backend = LocalBackend(project)
    ex = wait_done(backend, backend.run().name)
    code, out, _ = cli(capsys, "logs", "--execution", ex.name, "--json", "--project", str(project.root))
    docs = [json.loads(line) for line in out.splitlines()]
    assert sorted(d["text"] for d in docs if d["type"] == "log") == ["a warning", "loss 0.5", "loss 2.0"]
    assert all(d["timestamp"] for d in docs if d["type"] == "log")
    assert docs[-1] == {"type": "state", "state": "ended", "detail": f"{ex.name}: Succeeded (exit code 0)",
                        "status": "Succeeded", "exit_code": 0}


def test_logs_since_must_be_a_duration(new_project, capsys):
    project = new_project(["true"])
    backend = LocalBackend(project)
    wait_done(backend, backend.run().name)
    code, _, err = cli(capsys, "logs", "--since", "yesterday-ish", "--project", str(project.root))
    assert code == 2 and "--since" in err


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


def test_ctrl_c_detaches_and_leaves_the_run_going(new_project):
    project = new_project(["echo started", "sleep 300"])
    proc = subprocess.Popen([*FTSTUDIO, "run", "--follow", "--project", str(project.root)], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "started\n"
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the CLI (the job has its own session)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    ex = LocalBackend(project).execution()
    assert ex.status == "Running"
    assert f"Detached; {ex.name} keeps running. Re-attach: ftstudio logs --execution {ex.name} --follow" in err
    assert "Traceback" not in err


def test_a_closed_pipe_ends_quietly(new_project):
    project = new_project(step("job.py"), {"job.py": "for i in range(20000): print('line', i)\n"})
    backend = LocalBackend(project)
    wait_done(backend, backend.run().name)
    done = subprocess.run(f"{' '.join(FTSTUDIO)} logs --no-follow --project {project.root} | head -n 2",
                          shell=True, env=_env(), capture_output=True, text=True, timeout=60)
    assert done.stdout == "line 0\nline 1\n"
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
