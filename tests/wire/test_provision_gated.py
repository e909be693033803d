"""Gated-model access is checked with HF_TOKEN before anything is created (a tiny local Hub stands
in for huggingface.co; offline is a warning, not a failure)."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.azure import preflight
from infra.azure import provision as P
from core.errors import InputError
from core.events import Collector, Info
from tests.wire._provision_project import backend_in, write_project, writes

REPO = "meta-llama/Llama-3.2-1B-Instruct"


class _Hub(BaseHTTPRequestHandler):
    allowed_token = "hf_good"
    seen: list = []

    def do_GET(self):  # noqa: N802
        _Hub.seen.append((self.path, self.headers.get("Authorization")))
        ok = self.headers.get("Authorization") == f"Bearer {self.allowed_token}"
        self.send_response(200 if ok else 403)
        if not ok:
            self.send_header("X-Error-Code", "GatedRepo")
            self.send_header("X-Error-Message", "Access to model is restricted.")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def hub(monkeypatch):
    from huggingface_hub import constants

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hub.seen = []
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    yield _Hub
    server.shutdown()
    server.server_close()


def test_no_access_to_a_gated_model_fails_before_any_azure_write(fake_azure, hub, tmp_path, monkeypatch):
    root = write_project(tmp_path / "demo", model={"id": REPO, "repo": REPO, "gated": True})
    monkeypatch.setenv("HF_TOKEN", "hf_without_licence")
    backend = backend_in(root, fake_azure, "rg-g", "westus3")
    with pytest.raises(InputError) as info:
        P.provision(backend, "finetune")
    msg = info.value.one_line()
    assert info.value.field == "HF_TOKEN" and REPO in msg and f"https://huggingface.co/{REPO}" in msg
    assert "hf_without_licence" not in msg
    assert hub.seen and hub.seen[0][0] == f"/api/models/{REPO}/auth-check"
    assert writes(fake_azure) == []


def test_a_token_with_access_passes(hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_good")
    ev = Collector()
    preflight.check_model_access(preflight.ModelNeeds(repo=REPO, gated=True), on_event=ev)
    assert ev.events == [] and hub.seen[0][1] == "Bearer hf_good"


def test_offline_or_no_token_is_a_warning_not_a_failure(monkeypatch):
    needs = preflight.ModelNeeds(repo=REPO, gated=True)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    ev = Collector()
    preflight.check_model_access(needs, on_event=ev)
    assert [e.level for e in ev.events] == ["warning"] and "HF_TOKEN" in ev.events[0].text
    monkeypatch.setenv("HF_TOKEN", "hf_x")  # conftest keeps the Hub offline
    ev = Collector()
    preflight.check_model_access(needs, on_event=ev)
    assert len(ev.events) == 1 and isinstance(ev.events[0], Info) and "offline" in ev.events[0].text


def test_a_non_gated_model_is_not_checked(hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    preflight.check_model_access(preflight.ModelNeeds(repo="Qwen/Qwen2.5-0.5B-Instruct", gated=False))
    assert hub.seen == []
