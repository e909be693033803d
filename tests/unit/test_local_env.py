"""The local Python environment: a real venv built from setup/requirements.txt, reused, resumed."""
from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from core.errors import InputError, OperationFailed
from core.events import Collector, StepFinished, StepStarted
from infra.local.backend import LocalBackend
from infra.local.pyenv import COMPLETE, ENV_VAR, ensure_env, env_status
from test_local_support import make_local_project


def tiny_wheel(folder, name="ftdemo_pkg", version="1.0"):
    """A minimal pure-Python wheel built by hand (no network, no build backend)."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    files = {
        f"{name}.py": "VALUE = 42\n",
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{name}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(path, "w") as zf:
        for arc, text in files.items():
            data = text.encode()
            zf.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arc},sha256={digest},{len(data)}")
        record.append(f"{name}-{version}.dist-info/RECORD,,")
        zf.writestr(f"{name}-{version}.dist-info/RECORD", "\n".join(record) + "\n")
    return path


@pytest.fixture
def no_override(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def test_venv_is_created_reused_and_resumed(tmp_path, no_override):
    req = tmp_path / "setup" / "requirements.txt"
    req.parent.mkdir()
    req.write_text(f"{tiny_wheel(tmp_path)}\n")
    assert env_status(req)[0] == "missing"

    events = Collector()
    env = ensure_env(req, on_event=events)
    assert env.source == "venv" and (env.root / COMPLETE).is_file()
    assert [type(e) for e in events.events if isinstance(e, (StepStarted, StepFinished))] == [StepStarted, StepFinished]
    assert events.events[-1].detail == "created"
    out = subprocess.run([str(env.python), "-c", "import ftdemo_pkg; print(ftdemo_pkg.VALUE)"],
                         capture_output=True, text=True, check=True).stdout
    assert out == "42\n"

    again = Collector()
    assert ensure_env(req, on_event=again) == env
    assert [e.detail for e in again.events] == ["unchanged"]  # reused: nothing started

    # A half-built env (no completion marker) is never used as it is: it is resumed, not rebuilt.
    (env.root / COMPLETE).unlink()
    assert env_status(req)[0] == "partial"
    inode = os.stat(env.root / "pyvenv.cfg").st_ino
    resumed = Collector()
    assert ensure_env(req, on_event=resumed).python == env.python
    assert resumed.events[0].title.startswith("Resuming")
    assert os.stat(env.root / "pyvenv.cfg").st_ino == inode and (env.root / COMPLETE).is_file()

    # Other requirements → another env (keyed by their hash).
    req.write_text("")
    assert env_status(req)[0] == "missing" and env_status(req)[1] != env.root


def test_a_failed_install_reports_pips_error_and_stays_unfinished(tmp_path, no_override):
    req = tmp_path / "setup" / "requirements.txt"
    req.parent.mkdir()
    req.write_text(f"{tmp_path / 'missing-1.0-py3-none-any.whl'}\n")
    with pytest.raises(OperationFailed) as err:
        ensure_env(req)
    assert "pip install -r requirements.txt failed: ERROR" in err.value.message
    assert env_status(req)[0] == "partial"


def test_override_must_be_an_interpreter(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nope"))
    with pytest.raises(InputError) as err:
        ensure_env(tmp_path / "req.txt")
    assert err.value.field == ENV_VAR


def test_provision_prepares_share_env_and_state(tmp_path, no_override):
    project = make_local_project(tmp_path / "demo", ["true"])
    backend = LocalBackend(project)
    assert {c.resource: c.action for c in backend.plan("finetuning")} == {"share": "create", "python": "create"}
    out = backend.provision("finetuning")
    assert out["python_source"] == "venv" and os.path.isdir(out["share"])
    assert {c.resource: c.action for c in backend.plan("inference")} == {"share": "unchanged", "python": "unchanged"}
    state = project.state()
    assert state["local_share"] == out["share"] and state["local_python"] == out["python"]
    prefix = subprocess.run([str(backend.layout.shims / "python3"), "-c", "import sys; print(sys.prefix)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert prefix == str(Path(out["python"]).parent.parent)  # the shim runs the venv, not its base python
    assert backend.provision("inference")["endpoint"] is None
    with pytest.raises(InputError):
        backend.provision("gpu")
