"""The local inference server: the project's ``inference/app.py`` on 127.0.0.1, in the background.

It runs from the local share (where the runs' adapters and the model cache are), under the same
supervisor as runs (own session, logs in ``inference/log.jsonl``), until ``ftstudio down`` or the
next deploy replaces it. The port is remembered in ``.ftstudio/state.json`` and reused when free.
"""
from __future__ import annotations

import json
import os
import re
import socket
import time
import urllib.error
import urllib.request
from typing import Optional

from core.errors import OperationFailed
from core.events import EventSink, Info, Progress, StepFailed, StepFinished, StepStarted, ignore
from infra.local import supervisor as sv
from infra.local.commands import local_script
from core.models import TERMINAL_STATES

HOST = "127.0.0.1"
DEFAULT_PORT = 7860  # AI Toolkit's
API_KEY = "INFERENCE_API_KEY"
TIMEOUT_ENV = "FTSTUDIO_LOCAL_DEPLOY_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 900.0
APP_STEP = "python3 ./inference/app.py --host 0.0.0.0 --port 7860"


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as servers do (uvicorn too): a port in TIME_WAIT after the previous server is still usable
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def choose_port(saved: Optional[int]) -> int:
    for candidate in (saved, DEFAULT_PORT):
        if candidate and port_free(int(candidate)):
            return int(candidate)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def localize_server_step(step: str, port: int) -> str:
    """The app's step on loopback and our port (``--host``/``--port`` replaced or added)."""
    if "inference/app.py" not in step:
        return step
    step = re.sub(r"--host(?:=|\s+)\S+", f"--host {HOST}", step)
    step = re.sub(r"--port(?:=|\s+)\S+", f"--port {port}", step)
    if "--host" not in step:
        step += f" --host {HOST}"
    if "--port" not in step:
        step += f" --port {port}"
    return step


def server_script(commands: list[str], share, port: int) -> tuple[str, list[str]]:
    steps = list(commands) or ["cd /mount", APP_STEP]
    if not any("inference/app.py" in s for s in steps):
        steps.append(APP_STEP)
    return local_script([localize_server_step(s, port) for s in steps], share)


def health(url: str, timeout: float = 5.0) -> tuple[Optional[int], dict]:
    """(HTTP status of ``url``/health or None when nothing answers, its JSON body); proxies bypassed."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/health", timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {}
    except (urllib.error.URLError, OSError):
        return None, {}
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    return status, body if isinstance(body, dict) else {}


def deploy_timeout() -> float:
    try:
        return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S


def wait_healthy(url: str, run_dir, status_of, *, on_event: EventSink = ignore, timeout: Optional[float] = None) -> dict:
    """Poll /health until 200 (returns its body); fail with the server log's last lines if it exits or times out."""
    timeout = deploy_timeout() if timeout is None else timeout
    on_event(StepStarted("health", f"Waiting for {url}/health (the model loads first)"))
    start = time.monotonic()
    last_note = 0.0
    while True:
        code, body = health(url)
        if code == 200:
            on_event(StepFinished("health", f"Inference server ready at {url}", f"{time.monotonic() - start:.0f} s"))
            return body
        st = status_of(run_dir)
        elapsed = time.monotonic() - start
        if st.get("status") in TERMINAL_STATES:
            _fail(run_dir, f"The inference server exited ({st.get('reason') or st.get('status')})", on_event)
        if elapsed > timeout:
            _fail(run_dir, f"The inference server did not become healthy within {timeout:.0f} s", on_event)
        if elapsed - last_note >= 5:
            last_note = elapsed
            on_event(Progress("health", int(elapsed), int(timeout), unit="s"))
        time.sleep(0.5)


def last_log_lines(run_dir, n: int = 15) -> list[str]:
    try:
        raw = (run_dir / sv.LOG).read_text(encoding="utf-8", errors="replace").splitlines()[-n:]
    except OSError:
        return []
    out = []
    for line in raw:
        try:
            out.append(json.loads(line).get("m", ""))
        except ValueError:
            continue
    return out


def _fail(run_dir, message: str, on_event: EventSink) -> None:
    lines = last_log_lines(run_dir)
    if lines:
        on_event(Info("Last lines of the inference server log:\n  " + "\n  ".join(lines), level="warning"))
    tail = next((line.strip() for line in reversed(lines) if line.strip()), "")
    on_event(StepFailed("health", "Inference server", message))
    raise OperationFailed(f"{message}{': ' + tail if tail else ''}.",
                          fix="see `ftstudio logs --inference --no-follow`, fix the cause, then `ftstudio deploy` again")
