"""Pytest fixtures for the fake Azure (registered through ``pytest_plugins`` in tests/conftest.py).

- ``fake_azure``: a running FakeAzure with fresh state for every test (one server per session,
  ``reset()`` before each test).
- ``azure_env``: ``fake_azure`` plus every variable of ``fake_azure.env()`` set with monkeypatch,
  so ``AzureSession()`` talks to the fake with no arguments.
"""
from __future__ import annotations

import pytest

from .server import FakeAzure


@pytest.fixture(scope="session")
def _fake_azure_server():
    fake = FakeAzure().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake_azure(_fake_azure_server):
    fake = _fake_azure_server
    fake.reset()
    yield fake
    fake.jobs.stop_all()
    fake.reset()


@pytest.fixture
def azure_env(fake_azure, monkeypatch):
    for key, value in fake_azure.env().items():
        monkeypatch.setenv(key, value)
    yield fake_azure
