"""`ftstudio logs` end to end through tui.cli.main against the fake Azure."""
from __future__ import annotations

import json
import time

from tests.wire.test_logs_env import HF_VALUE, JOB, logs_env  # noqa: F401 - fixture
from tui.cli import main


def _run(capsys, logs_env, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["logs", "--project", str(logs_env.root), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_logs_prints_lines_on_stdout_states_on_stderr_and_exits_0(logs_env, capsys):
    lines = [f"epoch {i} loss {i / 10}" for i in range(25)] + [f"using {HF_VALUE}"]
    logs_env.fake.jobs.script(JOB, lines=lines, line_interval=0.002)
    logs_env.start()
    code, out, err = _run(capsys, logs_env)
    assert code == 0
    assert out.splitlines() == lines[:-1] + ["using ***"]
    assert "[ended]" in err and "succeeded" in err
    assert HF_VALUE not in out + err


def test_a_failed_run_exits_1(logs_env, capsys):
    logs_env.fake.jobs.script(JOB, lines=["boom"], exit_code=2, line_interval=0.001)
    name = logs_env.start()
    code, out, err = _run(capsys, logs_env, "--execution", name)
    assert code == 1
    assert out.splitlines() == ["boom"]
    assert "exit code 2" in err


def test_no_follow_on_a_queued_run_returns_at_once(logs_env, capsys):
    logs_env.fake.jobs.script(JOB, lines=["later"], queued_for=30)
    logs_env.start()
    start = time.monotonic()
    code, out, err = _run(capsys, logs_env, "--no-follow")
    assert time.monotonic() - start < 5
    assert code == 0 and out == "" and "[queued]" in err


def test_json_lines(logs_env, capsys):
    logs_env.fake.jobs.script(JOB, lines=["a", "b"], line_interval=0.001)
    logs_env.start()
    code, out, _ = _run(capsys, logs_env, "--json")
    docs = [json.loads(line) for line in out.splitlines()]
    assert [d["text"] for d in docs if d["type"] == "log"] == ["a", "b"]
    assert docs[-1]["type"] == "state" and docs[-1]["state"] == "ended" and docs[-1]["exit_code"] == 0
    assert code == 0


def test_since_history_and_a_bad_duration(logs_env, capsys):
    logs_env.fake.jobs.script(JOB, lines=["x1", "x2"], line_interval=0.001)
    name = logs_env.start()
    assert _run(capsys, logs_env, "--execution", name)[0] == 0
    code, out, _ = _run(capsys, logs_env, "--since", "1h", "--no-follow", "--execution", name)
    assert code == 0 and out.splitlines() == ["x1", "x2"]
    code, out, err = _run(capsys, logs_env, "--since", "soon")
    assert code == 2 and "--since" in err


def test_system_logs_of_a_run(logs_env, capsys):
    logs_env.fake.jobs.script(JOB, lines=["x"], line_interval=0.001)
    logs_env.start()
    code, out, _ = _run(capsys, logs_env, "--system")
    assert code == 0
    assert any(line.startswith("ContainerTerminated:") for line in out.splitlines())
