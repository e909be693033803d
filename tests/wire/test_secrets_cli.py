"""`ftstudio secret ...` through tui.cli.main, and the leak check: after a session of CLI runs that
set, list, use and misuse a secret, its value is in no file of the project, no state file, nothing
under FTSTUDIO_HOME, no captured stdout/stderr (except `secret get`, which is asked for it) and no
log record."""
from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

from tests.wire.test_logs_env import HF_VALUE, JOB, OTHER_VALUE, logs_env  # noqa: F401 - fixture
from tui.cli import main

SECRET = "hf_CliLeakCheck_7f3a9b2c4d5e"
STDIN_SECRET = "sk-from-stdin-0a1b2c3d4e5f"


def _cli(capsys, root: Path, *args, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    capsys.readouterr()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main([*args, "--project", str(root)])
    out, err = capsys.readouterr()
    return code, out, err


def test_secret_commands(logs_env, capsys, monkeypatch):
    root = logs_env.root
    monkeypatch.setenv("MY_TOKEN", SECRET)
    code, out, err = _cli(capsys, root, "secret", "set", "WANDB_API_KEY", "--from-env", "MY_TOKEN")
    assert code == 0, err
    assert logs_env.job_secrets()["wandb-api-key"] == SECRET
    code, out, _ = _cli(capsys, root, "secret", "list")
    assert code == 0 and out.split() == ["HF_TOKEN", "WANDB_API_KEY", "other-key"]
    code, out, _ = _cli(capsys, root, "--json", "secret", "list", "--inference")
    assert code == 0 and json.loads(out)["names"] == ["HF_TOKEN", "other-key"]
    code, out, _ = _cli(capsys, root, "secret", "get", "WANDB_API_KEY")
    assert code == 0 and out == SECRET + "\n"
    code, out, _ = _cli(capsys, root, "secret", "set", "API_KEY", "--stdin", "--inference", stdin=STDIN_SECRET + "\n",
                        monkeypatch=monkeypatch)
    assert code == 0 and logs_env.app_secrets()["api-key"] == STDIN_SECRET
    code, _, _ = _cli(capsys, root, "secret", "remove", "WANDB_API_KEY")
    assert code == 0 and "wandb-api-key" not in logs_env.job_secrets()
    code, _, err = _cli(capsys, root, "secret", "remove", "WANDB_API_KEY")
    assert code == 2 and "WANDB_API_KEY" in err


def test_no_secret_value_leaks_anywhere(logs_env, capsys, monkeypatch, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    root, fake = logs_env.root, logs_env.fake
    monkeypatch.setenv("MY_TOKEN", SECRET)
    outputs: list[str] = []

    def cli(*args, stdin=None):
        code, out, err = _cli(capsys, root, *args, stdin=stdin, monkeypatch=monkeypatch)
        outputs.extend([out, err])
        return code

    assert cli("secret", "set", "HF_TOKEN", "--from-env", "MY_TOKEN") == 0
    assert cli("--json", "secret", "set", "API_KEY", "--stdin", "--inference", stdin=STDIN_SECRET) == 0
    assert cli("secret", "list") == 0
    assert cli("--json", "secret", "list", "--inference") == 0
    # the job prints both values; the logs commands must not
    fake.jobs.script(JOB, lines=lambda env: [f"HF_TOKEN={env.get('HF_TOKEN')}", f"echo {SECRET} {OTHER_VALUE}"],
                     line_interval=0.001)
    name = logs_env.start()
    assert cli("logs") == 0
    assert cli("--json", "logs", "--execution", name) == 0
    assert cli("logs", "--system", "--no-follow", "--execution", name) == 0
    # Azure refuses the update and echoes the value back in its error body
    fake.faults.add("PATCH", rf"/jobs/{JOB}$", 400, code="InvalidSecret", message=f"bad value {SECRET}", times=1)
    assert cli("secret", "set", "HF_TOKEN", "--from-env", "MY_TOKEN") == 0  # unchanged value: no PATCH at all
    monkeypatch.setenv("MY_TOKEN2", SECRET + "-v2")
    fake.faults.add("PATCH", rf"/jobs/{JOB}$", 400, code="InvalidSecret", message=f"bad value {SECRET}-v2 {SECRET}",
                    times=1)
    assert cli("--json", "secret", "set", "HF_TOKEN", "--from-env", "MY_TOKEN2") == 1
    assert cli("secret", "set", "hf token", "--from-env", "MY_TOKEN") == 2
    # asked for explicitly: the one place the value may appear
    code, got, _ = _cli(capsys, root, "secret", "get", "HF_TOKEN")
    assert code == 0 and got.strip() == SECRET

    assert "InvalidSecret" in "".join(outputs)  # the failure was reported...
    values = (SECRET, STDIN_SECRET, HF_VALUE, OTHER_VALUE)
    for text in outputs + [caplog.text]:
        for value in values:
            assert value not in text  # ...without the value
    home = Path(os.environ["FTSTUDIO_HOME"])
    scanned = 0
    for base in (root, home):
        for path in base.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                scanned += 1
                for value in values:
                    assert value.encode() not in data, f"{value[:6]}… found in {path}"
    assert scanned >= 2  # the config files at least (state files too, when anything wrote them)
