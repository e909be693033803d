"""Local deploy: the project's inference/app.py in the background, health wait, port, key, down."""
from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from core.errors import OperationFailed
from core.events import Collector, Info, LogLine
from infra.local import supervisor as sv
from infra.local.backend import LocalBackend
from infra.local.inference import localize_server_step
from infra.local.layout import LocalLayout
from test_local_support import cli, local_python, new_project  # noqa: F401 - fixtures

# A stand-in for the generated inference/app.py (the real one is exercised by the e2e test):
# same command line, /health 503 while "loading", bearer key from INFERENCE_API_KEY.
FAKE_APP = {"inference/app.py": """
    import argparse, json, os, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    p = argparse.ArgumentParser()
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=7860)
    args = p.parse_args()
    ready_at = time.time() + 0.5
    key = os.environ["INFERENCE_API_KEY"]

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _send(self, code, doc):
            body = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/health":
                self._send(200 if time.time() > ready_at else 503, {"cwd": os.getcwd()})
            else:
                self._send(404, {})

        def do_POST(self):
            if self.headers.get("Authorization") != f"Bearer {key}":
                return self._send(401, {"error": "bad key"})
            n = int(self.headers.get("Content-Length", 0))
            msg = json.loads(self.rfile.read(n))["messages"][-1]["content"]
            self._send(200, {"choices": [{"message": {"role": "assistant", "content": msg.upper()}}]})

    print(f"serving on {args.host}:{args.port} with key {key}", flush=True)
    ThreadingHTTPServer((args.host, args.port), H).serve_forever()
"""}
BROKEN_APP = {"inference/app.py": """
    import sys
    print("loading model from model-cache/x")
    sys.exit("OSError: model-cache/x does not appear to have a file named config.json")
"""}


def get(url, key=None, body=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"} if key else {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


def test_server_step_is_moved_to_loopback_and_our_port():
    assert localize_server_step("python3 ./inference/app.py --host 0.0.0.0 --port 7860", 9001) == (
        "python3 ./inference/app.py --host 127.0.0.1 --port 9001")
    assert localize_server_step("python3 inference/app.py", 9001) == (
        "python3 inference/app.py --host 127.0.0.1 --port 9001")
    assert localize_server_step("python3 inference/app.py --port=80", 9001) == (
        "python3 inference/app.py --port 9001 --host 127.0.0.1")
    assert localize_server_step("echo hi --port 3", 9001) == "echo hi --port 3"


def test_deploy_serves_in_the_background_with_a_generated_key(new_project):
    project = new_project(["true"], FAKE_APP)
    project.update_inference_config(COMMANDS=["cd /mount", "pip install -r ./setup/requirements.txt",
                                              "python3 ./inference/app.py --host 0.0.0.0 --port 7860"])
    backend = LocalBackend(project)
    events = Collector()
    endpoint = backend.deploy(on_event=events)
    assert endpoint.url.startswith("http://127.0.0.1:")
    key = backend.secret_get("INFERENCE_API_KEY", inference=True)
    assert len(key) >= 32
    code, health = get(f"{endpoint.url}/health")
    assert code == 200 and health["cwd"] == str(LocalLayout.for_project(project).share)
    assert get(f"{endpoint.url}/v1/chat/completions", key, {"messages": [{"role": "user", "content": "hi"}]})[1][
        "choices"][0]["message"]["content"] == "HI"
    assert project.inference_config()["ACA_APP_ENDPOINT"] == endpoint.url
    assert project.inference_config()["TARGET"] == "local"
    assert any(isinstance(e, Info) and "Generated INFERENCE_API_KEY" in e.text for e in events.events)
    # the key never reaches a file of the project, nor the server's log
    log_lines = [e.text for e in backend.logs(inference=True, follow=False) if isinstance(e, LogLine)]
    assert log_lines[0].startswith("serving on 127.0.0.1:") and key not in log_lines[0] and "***" in log_lines[0]
    for f in project.root.rglob("*"):
        if f.is_file():
            assert key not in f.read_text(errors="replace")

    # redeploy: same port, same key, the old server replaced
    old_pgid = sv.read_status(LocalLayout.for_project(project).inference)["pgid"]
    again = backend.deploy()
    assert again.url == endpoint.url and backend.secret_get("INFERENCE_API_KEY", inference=True) == key
    assert not sv.group_alive(old_pgid)

    stopped = backend.teardown()
    assert stopped == ["local inference server"]
    with pytest.raises(OSError):
        get(f"{endpoint.url}/health")
    assert project.inference_config()["ACA_APP_ENDPOINT"] == ""


def test_deploy_takes_another_port_when_the_saved_one_is_busy(new_project):
    project = new_project(["true"], FAKE_APP)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        project.update_state(local_inference_port=port)
        endpoint = LocalBackend(project).deploy()
        assert endpoint.url != f"http://127.0.0.1:{port}"
    assert project.state()["local_inference_port"] == endpoint.detail["port"]


def test_a_server_that_dies_is_reported_with_its_last_log_lines(new_project):
    project = new_project(["true"], BROKEN_APP)
    events = Collector()
    with pytest.raises(OperationFailed) as err:
        LocalBackend(project).deploy(on_event=events)
    assert "does not appear to have a file named config.json" in err.value.message
    shown = "\n".join(e.text for e in events.events if isinstance(e, Info))
    assert "loading model from model-cache/x" in shown
    assert not project.inference_config().get("ACA_APP_ENDPOINT")


def test_cli_deploy_prints_examples_that_read_the_key_but_never_the_key(new_project, capsys):
    project = new_project(["true"], FAKE_APP)
    code, out, err = cli(capsys, "deploy", "--project", str(project.root))
    key = LocalBackend(project).secret_get("INFERENCE_API_KEY", inference=True)
    assert code == 0 and key not in out + err
    url = project.inference_config()["ACA_APP_ENDPOINT"]
    assert f"Endpoint: {url}" in out
    assert "$(ftstudio secret get INFERENCE_API_KEY --inference --project " in out
    assert "from openai import OpenAI" in out
    code, out, _ = cli(capsys, "deploy", "--project", str(project.root), "--json")
    doc = json.loads(out)
    assert doc["url"] == url and "curl" in doc["examples"] and key not in out
    code, out, _ = cli(capsys, "down", "--yes", "--project", str(project.root), "--json")
    assert code == 0 and json.loads(out)["removed"] == ["local inference server"]
