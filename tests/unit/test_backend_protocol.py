"""Both backends implement the typed protocol (infra/backend.py) with the same parameters, so a front
end can call either the same way; the test double the TUI tests use does too."""
from __future__ import annotations

import inspect

import pytest

from infra.azure.backend import AzureBackend
from infra.backend import Backend, LogStream
from infra.local.backend import LocalBackend
from infra.logstream import AbortableStream
from tests.tui.doubles import FixedBackend

PROTOCOL_METHODS = {name: member for name, member in vars(Backend).items()
                    if callable(member) and not name.startswith("_")}


@pytest.mark.parametrize("cls", [AzureBackend, LocalBackend, FixedBackend])
def test_every_protocol_method_is_there_with_its_parameters(cls):
    assert {"running_executions", "logs", "plan", "provision"} <= set(PROTOCOL_METHODS)
    for name, member in PROTOCOL_METHODS.items():
        impl = getattr(cls, name, None)
        assert callable(impl), f"{cls.__name__}.{name} is missing"
        want = [p for p in inspect.signature(member).parameters if p != "self"]
        have = inspect.signature(impl).parameters
        for param in want:
            assert param in have, f"{cls.__name__}.{name} lacks {param!r}"


def test_log_streams_are_abortable():
    assert issubclass(AbortableStream, LogStream)


def test_backends_hold_no_state_set_from_outside(tmp_path):
    from tests.unit.test_local_support import make_local_project

    project = make_local_project(tmp_path / "p", ["true"])
    azure = AzureBackend(project, session=object())
    assert azure.session is not None and azure.log_caches.http is None and azure.inputs is None  # declared, not set later
