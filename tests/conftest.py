"""Shared pytest setup: every test gets its own FTSTUDIO_HOME so nothing touches the real user dirs."""
from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import pytest

pytest_plugins = ["tests.fakeazure.fixtures"]

# Never reach real Azure or the hub from a test, and never prompt.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ["FTSTUDIO_NON_INTERACTIVE"] = "1"
# Every process this test session starts inherits the marker, so the end-of-session check finds the
# servers and supervisors it left behind (and not those of another run on the same machine).
SESSION_MARKER = f"FTSTUDIO_TEST_SESSION={uuid.uuid4().hex}".encode()
os.environ["FTSTUDIO_TEST_SESSION"] = SESSION_MARKER.split(b"=", 1)[1].decode()
LONG_LIVED = (b"inference/app.py", b"supervisor", b"uvicorn")


def _leftovers() -> dict[int, str]:
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if SESSION_MARKER not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue  # gone, or not ours to read
        if any(name in cmdline for name in LONG_LIVED):
            found[int(proc.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


@pytest.fixture(scope="session", autouse=True)
def _no_server_left_running():
    """The suite ends with no inference server or supervisor of its own still running."""
    yield
    deadline = time.monotonic() + 10  # `down` and the supervisor's reap grace may still be finishing
    while (left := _leftovers()) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    assert not left, "tests left these running (now killed): " + "; ".join(f"{p}: {c[:160]}" for p, c in left.items())


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("ftstudio-home")
    monkeypatch.setenv("FTSTUDIO_HOME", str(home))
    for var in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_LOCATION", "FTSTUDIO_ACCESS_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    yield home
