"""Shared pytest setup: every test gets its own FTSTUDIO_HOME so nothing touches the real user dirs."""
from __future__ import annotations

import os

import pytest

pytest_plugins = ["tests.fakeazure.fixtures"]

# Never reach real Azure or the hub from a test, and never prompt.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ["FTSTUDIO_NON_INTERACTIVE"] = "1"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("ftstudio-home")
    monkeypatch.setenv("FTSTUDIO_HOME", str(home))
    for var in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_LOCATION", "FTSTUDIO_ACCESS_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    yield home
